package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// numbering is how a directory numbers its migrations.
type numbering struct {
	timestamp bool   // UTC YYYYMMDDhhmmss
	width     int    // sequential: zero-padded to this width
	last      string // the newest number, as written ("" none)
	goose     bool   // goose-format single files
}

var (
	numberedFile = regexp.MustCompile(`^([0-9]+)_.+\.sql$`)
	tsLayout     = "20060102150405"
)

// readNumbering looks at the directory's migration file names (not their
// content, which may be broken: new must still work) and says how the
// next one is numbered.
func readNumbering(dir string) (numbering, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return numbering{}, err
	}
	n := numbering{width: 4}
	var ups, gooses int
	for _, e := range entries {
		m := numberedFile.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			continue
		}
		switch {
		case strings.HasSuffix(e.Name(), ".up.sql"):
			ups++
		case strings.HasSuffix(e.Name(), ".down.sql"):
		default:
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil || !strings.Contains(string(data), "+goose Up") {
				continue
			}
			gooses++
		}
		if n.last == "" || decimalLess(strings.TrimLeft(n.last, "0"), strings.TrimLeft(m[1], "0")) {
			n.last = m[1]
		}
	}
	n.goose = gooses > 0 && ups == 0
	if n.last != "" {
		_, err := time.Parse(tsLayout, n.last)
		n.timestamp = len(n.last) == len(tsLayout) && err == nil
		n.width = len(n.last)
	}
	return n, nil
}

func decimalLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// next is the number of the next migration: a sequence continues at the
// same width; a timestamp directory gets now (UTC), or one past the newest
// if the clock is behind it.
func (n numbering) next(now time.Time) (string, error) {
	if n.timestamp {
		ts := now.UTC().Format(tsLayout)
		if !decimalLess(n.last, ts) {
			last, _ := time.Parse(tsLayout, n.last) // readNumbering checked it parses
			ts = last.Add(time.Second).Format(tsLayout)
		}
		return ts, nil
	}
	last := uint64(0)
	if n.last != "" {
		v, err := strconv.ParseUint(n.last, 10, 64)
		if err != nil {
			return "", fmt.Errorf("the newest migration number %s is too large to continue", n.last)
		}
		last = v
	}
	return fmt.Sprintf("%0*d", n.width, last+1), nil
}

// migrationName turns what the user typed into a file-name-safe name.
func migrationName(s string) (string, error) {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		switch {
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) || r == '.':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '_':
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
				b.WriteByte('_')
			}
		default:
			return "", fmt.Errorf("name %q: %q is not allowed; use letters, digits, '.', '_', '-' or spaces", s, r)
		}
	}
	name := strings.Trim(b.String(), "_")
	if name == "" {
		return "", fmt.Errorf("name %q is empty; e.g. ledger new add_orders_status", s)
	}
	return name, nil
}

func cmdNew() *command { return newCommandNamed("new") }

// cmdCreate is new under the name goose and golang-migrate users type.
func cmdCreate() *command {
	c := newCommandNamed("create")
	c.short = "same as new (the name goose and migrate use)"
	return c
}

func newCommandNamed(name string) *command {
	return &command{
		name: name, args: "NAME [--no-transaction]",
		short: "write the next migration's files, continuing the directory's numbering",
		long: `Writes <id>.up.sql and <id>.down.sql in --dir (created if it does not
exist yet), where id is the next number
and NAME: a zero-padded sequence of the same width as the newest migration's
(0007 after 0006), or the current UTC time (YYYYMMDDhhmmss) when the
directory numbers by timestamp. In a directory of goose-format files it
writes one goose file (<id>.sql with -- +goose Up and -- +goose Down).
--no-transaction starts the up file with -- ledger:no-transaction (goose:
-- +goose NO TRANSACTION). Existing files are never overwritten.`,
		example: `  ledger new add_orders_status
  ledger create orders_email_idx --no-transaction`,
		nargs: 1, argsWant: "one NAME, e.g. ledger " + name + " add_orders_status", newFlags: func() runnable { return &newCmd{} },
	}
}

type newCmd struct {
	dir           dirFlags
	out           outputFlags
	noTransaction bool
}

func (c *newCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.dir, &c.out)
	fs.BoolVar(&c.noTransaction, "no-transaction", false, "the migration runs outside a transaction (CREATE INDEX CONCURRENTLY …)")
}

func (c *newCmd) run(ctx context.Context, e *env, args []string) int {
	mname, err := migrationName(args[0])
	if err != nil {
		return e.usageErr("%v", err)
	}
	var made string
	switch fi, err := os.Stat(c.dir.path); {
	case errors.Is(err, fs.ErrNotExist):
		// The first migration of a project: the directory comes with it.
		if err := os.MkdirAll(c.dir.path, 0o755); err != nil {
			return e.fail(fmt.Errorf("create the migrations directory: %w", err))
		}
		made = c.dir.path
	case err != nil:
		return e.fail(fmt.Errorf("migrations directory %s: %w", c.dir.path, err))
	case !fi.IsDir():
		return e.fail(fmt.Errorf("migrations directory %s is a file, not a directory: pass --dir", c.dir.path))
	}
	n, err := readNumbering(c.dir.path)
	if err != nil {
		return e.fail(err)
	}
	num, err := n.next(time.Now())
	if err != nil {
		return e.fail(err)
	}
	id := num + "_" + mname
	files := newFiles(id, n.goose, c.noTransaction)
	var written []string
	for _, f := range files {
		path := filepath.Join(c.dir.path, f.name)
		fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, err = fh.WriteString(f.text)
			err = errors.Join(err, fh.Close())
		}
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				err = fmt.Errorf("%s exists already; nothing overwritten", path)
			}
			for _, w := range written {
				_ = os.Remove(w)
			}
			return e.fail(err)
		}
		written = append(written, path)
	}
	if c.out.json {
		out := map[string]any{"id": id, "files": written}
		if made != "" {
			out["created_dir"] = made
		}
		return e.printJSON(out)
	}
	if made != "" {
		fmt.Fprintf(e.stdout, "created directory %s\n", made)
	}
	for _, w := range written {
		fmt.Fprintf(e.stdout, "created %s\n", w)
	}
	return exitOK
}

type newFile struct{ name, text string }

// newFiles are the files of a new migration: until their SQL is written
// lint warns about them (lint --strict fails), and a goose file's empty up
// section is refused.
func newFiles(id string, goose, noTx bool) []newFile {
	if goose {
		text := "-- +goose Up\n-- write the migration's SQL here\n\n-- +goose Down\n-- write the SQL that reverts it here\n"
		if noTx {
			text = "-- +goose NO TRANSACTION\n" + text
		}
		return []newFile{{id + ".sql", text}}
	}
	up := "-- " + id + ": write the migration's SQL here\n"
	down := "-- " + id + ": write the SQL that reverts it here (or delete this file if it cannot be reverted)\n"
	if noTx {
		up = "-- ledger:no-transaction\n" + up
		down = "-- ledger:no-transaction\n" + down
	}
	return []newFile{{id + ".up.sql", up}, {id + ".down.sql", down}}
}
