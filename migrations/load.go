package migrations

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/Masterminds/semver/v3"

	"github.com/schema-ledger/ledger/internal/sqllex"
	"github.com/schema-ledger/ledger/projector"
)

// Script is one file of a migration as it runs — its up or its down — or
// down SQL recorded in the ledger. It is immutable once loaded.
type Script struct {
	File string // path in the fs (with the directory for LoadDir), or a description of recorded SQL
	Text string // the file's text as read
	// Body is the SQL to execute: the text or, for a file wholly wrapped in
	// BEGIN; … COMMIT; (Wrapped), the text between them.
	Body string
	// Statements is Body split into statements, with their lines in the
	// file. None: the file holds only comments, and runs as a no-op.
	Statements    []Statement
	Wrapped       bool
	NoTransaction bool   // "-- ledger:no-transaction" in its header
	Checksum      string // lower-case hex sha256 of the file's bytes

	bodyOffset int // byte offset of Body in Text
	// changesSession: a statement may change the session's state beyond
	// its transaction (SET without LOCAL, RESET, set_config, or SQL hidden
	// in a string or dollar quote, such as a DO block): the runner resets
	// the session after it. Decided conservatively at load.
	changesSession bool
	goFn           *goFunc // a Go migration's function (gomigration.go): no SQL
}

// Empty reports whether the script holds no statement (only blank lines and
// comments): it runs as a no-op, and is recorded like any other.
func (s *Script) Empty() bool { return len(s.Statements) == 0 && s.goFn == nil }

// Go reports whether the script is a Go migration's function, not SQL.
func (s *Script) Go() bool { return s.goFn != nil }

// Migration is one migration of a set: an up script and, optionally, a down.
type Migration struct {
	ID, Number, Name string // ID = "<number>_<name>", from the file name; Number and Name via projector.ParseID
	Checksum         string // the up file's checksum (Up.Checksum): what the ledger records
	Compatible       string // from "-- ledger:compatible <constraint>", trimmed ("" if none)
	Up               Script
	Down             *Script // nil: no down (file, section or function)
	// Format is the kind of file (or function) the migration comes from.
	Format Format
	// Version is the version as the source tool writes it, where it is not
	// Number: Flyway's "1.1" of V1.1__add.sql.
	Version string
}

// Format is the kind of source a migration was loaded from.
type Format string

const (
	FormatPair   Format = ""       // <id>.up.sql and optional <id>.down.sql (ledger, golang-migrate)
	FormatGoose  Format = "goose"  // <version>_<name>.sql with -- +goose Up / Down
	FormatFlyway Format = "flyway" // V<version>__<name>.sql and optional U<version>__<name>.sql
	FormatTern   Format = "tern"   // <number>_<name>.sql, down below ---- create above / drop below ----
	FormatGo     Format = "go"     // a Go function registered with the set (GoMigration)
)

// NoDown says, in the words of its format, that a migration has no down:
// "has no down file", "has no down: its file has no -- +goose Down
// section", …
func (m Migration) NoDown() string {
	switch m.Format {
	case FormatGoose:
		return "has no down: its file has no -- +goose Down section"
	case FormatFlyway:
		return "has no down: there is no undo file U" + m.Version + "__….sql"
	case FormatTern:
		return "has no down: its file has nothing below ---- create above / drop below ----"
	case FormatGo:
		return "has no down: it has no Down function"
	}
	return "has no down file"
}

// Transactional reports whether the up migration runs in one transaction
// together with its ledger event.
func (m Migration) Transactional() bool { return !m.Up.NoTransaction }

// Set is a loaded migration directory.
type Set struct {
	Migrations []Migration // ordered by projector.CompareIDs
	Ignored    []string    // other entries of the directory (subdirectories end in "/")
	Warnings   []string    // problems that do not stop the set from loading

	warnings []warning // Warnings, with their files
	byID     map[string]int
}

// Lookup returns the migration with this id.
func (s *Set) Lookup(id string) (Migration, bool) {
	if len(s.byID) != len(s.Migrations) {
		s.index()
	}
	i, ok := s.byID[id]
	if !ok {
		return Migration{}, false
	}
	return s.Migrations[i], true
}

// index maps ids to positions, so planning over a long set stays linear.
func (s *Set) index() {
	s.byID = make(map[string]int, len(s.Migrations))
	for i, m := range s.Migrations {
		s.byID[m.ID] = i
	}
}

// IDs returns the migration ids in order.
func (s *Set) IDs() []string {
	ids := make([]string, len(s.Migrations))
	for i, m := range s.Migrations {
		ids[i] = m.ID
	}
	return ids
}

const (
	upSuffix   = ".up.sql"
	downSuffix = ".down.sql"
)

// LoadDir loads the migration set in directory dir. Errors name files by
// their path including dir.
func LoadDir(dir string, opts ...LoadOption) (*Set, error) {
	if err := statDir(dir); err != nil {
		return nil, err
	}
	return load(newDiskFS(dir), dir, opts...)
}

// statDir says what is wrong with dir as a migrations directory, if anything.
func statDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &DirError{Dir: dir, Msg: "does not exist", Err: err}
	case err != nil:
		return fmt.Errorf("migrations directory %s cannot be read: %w", dir, err)
	case !fi.IsDir():
		return &DirError{Dir: dir, Msg: "is a file, not a directory"}
	}
	return nil
}

// Load loads the migration set at the root of fsys (not recursively): an
// embed.FS (through fs.Sub) in a server, os.DirFS for the CLI. Every problem
// of every file is reported at once: the error joins one *FileError per
// problem (errors.Join), so an operator fixes the directory in one pass.
func Load(fsys fs.FS, opts ...LoadOption) (*Set, error) { return load(fsys, "", opts...) }

type filePair struct {
	up, down string
	format   Format
	version  string // Flyway's version as written
	id       string // Flyway: the id (pairs are keyed by version until all are read)
}

// LoadOption configures Load and LoadDir.
type LoadOption func(*loadConfig)

type loadConfig struct {
	env func(string) (string, bool) // goose's ENVSUBST
	gos []GoMigration
}

// WithEnv sets what goose's "-- +goose ENVSUBST ON" expands variables
// from (default: the process environment, os.LookupEnv, as goose does).
func WithEnv(lookup func(name string) (string, bool)) LoadOption {
	return func(c *loadConfig) { c.env = lookup }
}

func newLoadConfig(opts []LoadOption) *loadConfig {
	c := &loadConfig{env: os.LookupEnv}
	for _, o := range opts {
		o(c)
	}
	return c
}

func load(fsys fs.FS, dir string, opts ...LoadOption) (*Set, error) {
	set, errs, err := loadSet(fsys, dir, newLoadConfig(opts))
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		joined := make([]error, len(errs))
		for i, e := range errs {
			joined[i] = e
		}
		return nil, errors.Join(joined...)
	}
	return set, nil
}

// warning is a problem that does not stop a set from loading.
type warning struct {
	file, msg string
	text      string // as Set.Warnings words it
}

// loadSet loads what it can of a set: the migrations whose files load, the
// warnings, and every problem (sorted by file and line). err is for a
// directory that cannot be read at all.
func loadSet(fsys fs.FS, dir string, cfg *loadConfig) (*Set, []*FileError, error) {
	shown := func(name string) string {
		if dir == "" {
			return name
		}
		return filepath.Join(dir, name)
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		where := dir
		if where == "" {
			where = "."
		}
		return nil, nil, fmt.Errorf("read migrations directory %s: %w", where, err)
	}
	set := &Set{}
	var errs []*FileError
	pairs := map[string]*filePair{}
	tern := ternDir(fsys, entries)
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			set.Ignored = append(set.Ignored, name+"/")
			continue
		}
		var id string
		var isUp bool
		format := FormatPair
		switch {
		case strings.HasSuffix(name, upSuffix):
			id, isUp = strings.TrimSuffix(name, upSuffix), true
		case strings.HasSuffix(name, downSuffix):
			id = strings.TrimSuffix(name, downSuffix)
		case isGooseFile(fsys, name):
			id, isUp, format = strings.TrimSuffix(name, gooseSuffix), true, FormatGoose
		case tern && gooseName().MatchString(name):
			id, isUp, format = strings.TrimSuffix(name, gooseSuffix), true, FormatTern
		case flywayName().MatchString(name):
			f, err := parseFlywayName(name)
			if err != nil {
				errs = append(errs, &FileError{File: shown(name), Msg: err.Error(), Hint: f.hint})
				continue
			}
			// An undo file pairs with its migration by version, whatever
			// their descriptions.
			key := "flyway:" + f.number
			p := pairs[key]
			if p == nil {
				p = &filePair{format: FormatFlyway, version: f.version}
				pairs[key] = p
			}
			if other := map[bool]string{true: p.up, false: p.down}[f.up]; other != "" {
				errs = append(errs, &FileError{File: shown(name),
					Msg:  fmt.Sprintf("Flyway version %s is also %s: Flyway refuses two files of one version, and so does ledger", f.version, shown(other)),
					Hint: "give one of them another version"})
				continue
			}
			if f.up {
				p.up, p.id = name, f.id
			} else {
				p.down = name
				if p.id == "" {
					p.id = f.id
				}
			}
			continue
		default:
			set.Ignored = append(set.Ignored, name)
			if w := nearMiss(name); w != "" {
				set.warn(warning{file: shown(name), msg: w, text: shown(name) + ": " + w})
			}
			continue
		}
		if _, _, err := projector.ParseID(id); err != nil {
			errs = append(errs, &FileError{
				File: shown(name),
				Msg:  fmt.Sprintf("file name does not hold a migration id: %v", err),
				Hint: "name migration files <number>_<name>.up.sql and <number>_<name>.down.sql, e.g. 0007_add_orders.up.sql; rename the file or move it out of the directory",
			})
			continue
		}
		p := pairs[id]
		if p == nil {
			p = &filePair{}
			pairs[id] = p
		}
		if isUp {
			p.up = name
		} else {
			p.down = name
		}
		if format != FormatPair {
			p.format = format
		}
	}
	for key, p := range pairs {
		if strings.HasPrefix(key, "flyway:") {
			delete(pairs, key)
			if q := pairs[p.id]; q != nil {
				errs = append(errs, &FileError{File: shown(p.up), Msg: fmt.Sprintf("migration id %s is used by two files (%s and %s)", p.id, p.up, q.up),
					Hint: "rename one of them"})
				continue
			}
			pairs[p.id] = p
		}
	}
	for _, g := range cfg.gos {
		if err := addGoPair(pairs, g); err != nil {
			errs = append(errs, err)
		}
	}
	if len(pairs) == 0 && len(errs) == 0 {
		msg := fmt.Sprintf("no migration files (<number>_<name>.up.sql) in %s", cmp.Or(dir, "the migration set"))
		set.warn(warning{file: cmp.Or(dir, "."), msg: msg, text: msg})
	}

	ids := make([]string, 0, len(pairs))
	for id := range pairs {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, projector.CompareIDs)

	// One number, one migration: "7_a" and "0007_b" would be ordered by name,
	// which is never what their authors meant.
	byNumber := map[string][]string{}
	for _, id := range ids {
		num, _, _ := projector.ParseID(id)
		v := cmp.Or(strings.TrimLeft(num, "0"), "0")
		byNumber[v] = append(byNumber[v], id)
	}
	reported := map[string]bool{}
	for _, id := range ids {
		num, _, _ := projector.ParseID(id)
		v := cmp.Or(strings.TrimLeft(num, "0"), "0")
		same := byNumber[v]
		if len(same) < 2 || reported[v] {
			continue
		}
		reported[v] = true
		var files []string
		for _, other := range same {
			p := pairs[other]
			for _, f := range []string{p.up, p.down} {
				if f != "" {
					files = append(files, shown(f))
				}
			}
		}
		errs = append(errs, &FileError{
			File: files[0],
			Msg:  fmt.Sprintf("migration number %s is used by %d different migrations (%s): each number may be used once, because the number orders the migrations", v, len(same), strings.Join(files, ", ")),
			Hint: "give all but one of them a new number, after the newest migration",
		})
	}

	type loaded struct {
		m     Migration
		errs  []*FileError
		warns []warning
	}
	all := make([]loaded, len(ids))
	parallel(len(ids), func(i int) {
		if p := pairs[ids[i]]; p.up != "" {
			all[i].m, all[i].errs, all[i].warns = loadMigration(fsys, ids[i], p, shown, cfg)
		}
	})
	for i, id := range ids {
		p := pairs[id]
		if p.up == "" && p.format == FormatFlyway {
			errs = append(errs, &FileError{
				File: shown(p.down),
				Msg:  fmt.Sprintf("undo file without a versioned migration: there is no V%s__….sql", p.version),
				Hint: "every undo file needs its versioned migration; add it, fix the file name, or delete the undo file",
			})
			continue
		}
		if p.up == "" {
			errs = append(errs, &FileError{
				File: shown(p.down),
				Msg:  fmt.Sprintf("down file without an up file: there is no %s%s", id, upSuffix),
				Hint: "every migration needs an up file; add it, fix the file name, or delete the down file",
			})
			continue
		}
		errs = append(errs, all[i].errs...)
		for _, w := range all[i].warns {
			set.warn(w)
		}
		if len(all[i].errs) == 0 {
			set.Migrations = append(set.Migrations, all[i].m)
		}
	}
	slices.SortStableFunc(errs, func(a, b *FileError) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	set.index()
	return set, errs, nil
}

func (s *Set) warn(w warning) {
	s.Warnings = append(s.Warnings, w.text)
	s.warnings = append(s.warnings, w)
}

// lazyRegexp compiles expr when first used: a package-level
// regexp.MustCompile runs at every start of every program that links
// migrations — `ledger check` included, which needs none of them.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

var looksNumbered = lazyRegexp(`^[0-9]+_`)

// nearMiss explains why a file that looks like a migration is not one.
func nearMiss(name string) string {
	lower := strings.ToLower(name)
	switch {
	case strings.HasSuffix(lower, upSuffix) || strings.HasSuffix(lower, downSuffix):
		return "ignored: looks like a migration, but migration files must end in lower-case .up.sql or .down.sql"
	case looksNumbered().MatchString(name) && strings.HasSuffix(lower, ".sql"):
		return "ignored: looks like a migration, but migration files must end in .up.sql (and optionally .down.sql), e.g. " + strings.TrimSuffix(name, filepath.Ext(name)) + upSuffix
	}
	return ""
}

func loadMigration(fsys fs.FS, id string, p *filePair, shown func(string) string, cfg *loadConfig) (Migration, []*FileError, []warning) {
	switch p.format {
	case FormatGoose:
		return loadGoose(fsys, id, p, shown, cfg)
	case FormatTern:
		return loadTern(fsys, id, p, shown)
	case FormatGo:
		return loadGo(id, cfg)
	}
	num, name, _ := projector.ParseID(id)
	m := Migration{ID: id, Number: num, Name: name, Format: p.format, Version: p.version, Up: Script{File: shown(p.up)}}
	var errs []*FileError
	var warns []warning

	up, err := fs.ReadFile(fsys, p.up)
	if err != nil {
		errs = append(errs, &FileError{File: shown(p.up), Msg: fmt.Sprintf("cannot read: %v", err)})
	} else {
		a, ferrs := analyzeSum(shown(p.up), up, false, checksum(fsys, p.up, up))
		errs = append(errs, ferrs...)
		m.Up, m.Checksum, m.Compatible = a.script, a.script.Checksum, a.compatible
		if m.Up.Empty() && len(ferrs) == 0 {
			msg := fmt.Sprintf("holds no SQL statement (only blank lines and comments): %s will be recorded as applied without changing anything", id)
			warns = append(warns, warning{file: shown(p.up), msg: msg, text: shown(p.up) + " " + msg})
		}
	}

	if p.down == "" {
		return m, errs, warns
	}
	down, err := fs.ReadFile(fsys, p.down)
	if err != nil {
		errs = append(errs, &FileError{File: shown(p.down), Msg: fmt.Sprintf("cannot read: %v", err)})
		return m, errs, warns
	}
	a, ferrs := analyzeSum(shown(p.down), down, true, checksum(fsys, p.down, down))
	errs = append(errs, ferrs...)
	m.Down = &a.script
	return m, errs, warns
}

// analysis is what one file says.
type analysis struct {
	script     Script
	compatible string
}

const noTxHint = `put "-- ledger:no-transaction" in the file header, ideally in a migration of its own: its statements then run one by one, each on its own`

// analyze checks one migration file and extracts its directives, body and
// statements. file is the name used in errors.
func analyze(file string, data []byte, isDown bool) (analysis, []*FileError) {
	sum := sha256.Sum256(data)
	return analyzeSum(file, data, isDown, hex.EncodeToString(sum[:]))
}

// analyzeSum is analyze of data whose checksum is known.
func analyzeSum(file string, data []byte, isDown bool, sum string) (analysis, []*FileError) {
	return analyzeFile(file, data, fileOptions{isDown: isDown, sum: sum})
}

// fileOptions say how to read one script.
type fileOptions struct {
	isDown bool
	sum    string // the checksum to record
	// noTx: the script runs without a transaction whatever its header says
	// (goose's NO TRANSACTION, which holds for the whole file wherever it is).
	noTx bool
}

// analyzeFile is analyze with options.
func analyzeFile(file string, data []byte, o fileOptions) (analysis, []*FileError) {
	isDown := o.isDown
	a := analysis{script: Script{File: file, Text: string(data), Checksum: o.sum, NoTransaction: o.noTx}}
	var errs []*FileError
	fail := func(line int, hint, format string, args ...any) {
		errs = append(errs, &FileError{File: file, Line: line, Msg: fmt.Sprintf(format, args...), Hint: hint})
	}
	if line, col, ok := invalidUTF8(data); ok {
		// PostgreSQL rejects the statement holding it (invalid byte sequence
		// for encoding "UTF8") only when it runs, after the statements before
		// it; found here, nothing runs.
		fail(line, "save the file as UTF-8 (an editor's \"re-open with encoding\" then \"save as UTF-8\" converts it; Latin-1 or Windows-1252 text is the usual cause)",
			"invalid UTF-8 at column %d (byte 0x%02x): PostgreSQL would reject the statement holding it, after running the ones before it", col, data[lineStart(data, line)+col-1])
		return a, errs
	}
	text := string(data)
	if strings.HasPrefix(text, "\uFEFF") {
		fail(1, "save the file as UTF-8 without a byte order mark", "the file starts with a UTF-8 byte order mark, which PostgreSQL rejects as a syntax error")
		text = " " + text[len("\uFEFF"):] // keep offsets stable enough; analysis goes on
	}

	headerEnd, directiveErrs := parseHeader(text, isDown, &a)
	for _, e := range directiveErrs {
		e.File = file
	}
	errs = append(errs, directiveErrs...)

	lx, err := sqllex.Lex(text)
	if err != nil {
		var fe *FileError
		if errors.As(fileError(err), &fe) {
			fe.File = file
			errs = append(errs, fe)
		} else {
			fail(0, "", "%v", err)
		}
		// Meta-commands found before the error still deserve their report;
		// an unbalanced quote in one is often the cause of the error.
		if lx != nil {
			errs = append(errs, metaErrors(file, lx.MetaLines)...)
		}
		return a, errs
	}
	for _, t := range lx.Tokens {
		if t.Kind != sqllex.LineComment || t.Line <= headerEnd {
			continue
		}
		if c := strings.Trim(text[t.Start+2:t.End], sqllex.Space); strings.HasPrefix(c, "ledger:") {
			fail(t.Line, "move it up into the header: the leading lines of the file that are blank or -- comments, before any SQL or /* comment */",
				"%q: directives belong in the header, this one would be ignored here", "--"+text[t.Start+2:t.End])
		}
	}
	errs = append(errs, metaErrors(file, lx.MetaLines)...)

	raw := sqllex.SplitTokens(text, lx.Tokens)
	body := raw
	sc := &a.script
	sc.Body = text
	if n := len(raw); n >= 2 &&
		sqllex.ClassifyTx(sqllex.Words(text, raw[0].Tokens)) == sqllex.TxBeginPlain &&
		sqllex.ClassifyTx(sqllex.Words(text, raw[n-1].Tokens)) == sqllex.TxCommitPlain {
		sc.Wrapped = true
		body = raw[1 : n-1]
		inner := text[raw[0].After:raw[n-1].Start]
		sc.Body = strings.Trim(inner, sqllex.Space)
		sc.bodyOffset = raw[0].After + strings.Index(inner, sc.Body)
		if sc.NoTransaction {
			fail(raw[0].Line, `remove "-- ledger:no-transaction" to run the file in one transaction, or remove the BEGIN and COMMIT to run its statements one by one`,
				"the file is wrapped in %s … %s but its header says -- ledger:no-transaction: it cannot be both",
				text[raw[0].Start:raw[0].End], text[raw[n-1].Start:raw[n-1].End])
		}
	}
	if len(body) > 0 {
		sc.Statements = make([]Statement, len(body))
		for i, r := range body {
			sc.Statements[i] = Statement{Text: text[r.Start:r.End], Line: r.Line, Offset: r.Start}
		}
	}

	for i, r := range body {
		w := sqllex.Words(text, r.Tokens)
		stmt := text[r.Start:r.End]
		sc.changesSession = sc.changesSession || changesSession(w)
		if kind := sqllex.ClassifyTx(w); kind != sqllex.TxNone {
			first, last := !sc.Wrapped && i == 0, !sc.Wrapped && i == len(body)-1
			if msg, hint := txControlProblem(kind, stmt, sc.NoTransaction, first, last); msg != "" {
				fail(r.Line, hint, "%s", msg)
			}
			continue
		}
		if sqllex.CopyFromClient(w) {
			fail(r.Line, "load the rows with INSERT … VALUES, or COPY them from a file on the database server",
				"COPY … FROM STDIN reads rows the client sends, and a migration has no client to send them")
		}
		if !sc.NoTransaction {
			if what := sqllex.OutsideTxOnly(w); what != "" {
				hint := noTxHint
				if sc.Wrapped {
					hint = "remove the BEGIN; and COMMIT; around the file and " + noTxHint
				}
				fail(r.Line, hint, "%s cannot run inside a transaction block, and this migration runs in one", what)
			}
		}
	}
	return a, errs
}

// changesSession reports whether a statement (its words, see sqllex.Words)
// may change the session's state beyond its transaction. It errs on the
// side of yes: any string or dollar quote that mentions SET does.
func changesSession(w []string) bool {
	switch sqllex.At(w, 0) {
	case "SET":
		switch sqllex.At(w, 1) {
		case "LOCAL", "CONSTRAINTS", "TRANSACTION":
			return false
		}
		return true
	case "RESET", "DISCARD":
		return true
	}
	for _, x := range w {
		if x == "SET_CONFIG" {
			return true
		}
		if len(x) > 0 && (x[0] == '\'' || x[0] == '$' || x[0] == 'E' || x[0] == 'e') {
			if l := strings.ToLower(x); strings.Contains(l, "set") {
				return true
			}
		}
	}
	return false
}

func metaErrors(file string, lines []int) []*FileError {
	var errs []*FileError
	for _, l := range lines {
		errs = append(errs, &FileError{
			File: file, Line: l,
			Msg:  "psql meta-commands (lines starting with a backslash, such as \\connect, \\set, \\i) are not SQL; the server cannot run them",
			Hint: "replace it with SQL, or run it outside the migration",
		})
	}
	return errs
}

// txControlProblem explains why a transaction control statement is refused;
// "" if it is fine (savepoints inside a transaction).
func txControlProblem(kind sqllex.TxKind, stmt string, noTx, first, last bool) (msg, hint string) {
	shown := firstLine(stmt)
	if noTx {
		if kind == sqllex.TxSavepoint {
			return fmt.Sprintf("%s in a no-transaction migration: its statements run one by one outside any transaction block, where savepoints do not exist", shown),
				`remove it, or remove "-- ledger:no-transaction" so that the file runs in one transaction`
		}
		return fmt.Sprintf("%s in a no-transaction migration: its statements run one by one, each on its own, and transaction control would leave the runner's connection in a transaction or end one it does not know about", shown),
			`remove it; to run statements together in one transaction, remove "-- ledger:no-transaction" (the runner then wraps the file in one transaction)`
	}
	const intro = "in a transactional migration: the runner already runs the file in one transaction, together with its ledger event"
	const ownTx = `statements that must not run in a transaction belong in a migration of their own with "-- ledger:no-transaction" in its header`
	wrapHint := "remove it: the runner opens the transaction itself, and accepts BEGIN; only as the very first statement with COMMIT; as the very last; " + ownTx
	switch kind {
	case sqllex.TxSavepoint:
		return "", ""
	case sqllex.TxBeginPlain:
		if first {
			return fmt.Sprintf("%s %s; a file wrapped in BEGIN; … COMMIT; must end with COMMIT;, but its last statement is not one", shown, intro),
				"end the file with COMMIT;, or remove the BEGIN;"
		}
		return fmt.Sprintf("%s %s, and a nested BEGIN would make a later COMMIT end that transaction early", shown, intro), wrapHint
	case sqllex.TxBeginOpts:
		return fmt.Sprintf("%s %s; only a plain BEGIN; … COMMIT; around the whole file is accepted, transaction options are not", shown, intro),
			"remove the BEGIN and COMMIT: the runner opens and commits the transaction itself; " + ownTx
	case sqllex.TxCommitPlain, sqllex.TxCommitOther:
		if last && kind == sqllex.TxCommitPlain {
			return fmt.Sprintf("%s in a transactional migration would commit the runner's transaction early, leaving DDL without its ledger event; a file may end with COMMIT; only if it starts with BEGIN;", shown),
				"start the file with BEGIN;, or remove the COMMIT"
		}
		return fmt.Sprintf("%s in a transactional migration would commit the runner's transaction early, leaving DDL without its ledger event", shown),
			"remove the COMMIT: the runner commits the migration itself; " + ownTx
	case sqllex.TxRollback:
		return fmt.Sprintf("%s in a transactional migration would roll back the runner's transaction, discarding the migration and its ledger event, and run the rest of the file outside any transaction", shown),
			"remove it: a failing statement already rolls the whole migration back; to undo a migration, write a down file"
	case sqllex.TxPrepare:
		return fmt.Sprintf("%s in a transactional migration would hand the runner's transaction to two-phase commit, where the ledger cannot finish it", shown),
			"remove it"
	case sqllex.TxPrepared:
		return fmt.Sprintf("%s cannot run inside a transaction block, and this migration runs in one", shown),
			`put "-- ledger:no-transaction" in the file header, or run it outside the migration`
	}
	return "", ""
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

var knownDirectives = []string{"compatible", "no-transaction"}

// parseHeader reads the directives of the header (the leading run of blank
// lines and -- comment lines) into a and returns the header's last line.
func parseHeader(text string, isDown bool, a *analysis) (int, []*FileError) {
	var errs []*FileError
	fail := func(line int, hint, format string, args ...any) {
		errs = append(errs, &FileError{Line: line, Msg: fmt.Sprintf(format, args...), Hint: hint})
	}
	headerEnd, compatLine := 0, 0
	for i, ln := range strings.Split(text, "\n") {
		t := strings.Trim(ln, sqllex.Space)
		if t != "" && !strings.HasPrefix(t, "--") {
			break
		}
		line := i + 1
		headerEnd = line
		c := strings.Trim(strings.TrimPrefix(t, "--"), sqllex.Space)
		if noTxSynonym(c) {
			a.script.NoTransaction = true
			continue
		}
		rest, ok := strings.CutPrefix(c, "ledger:")
		if !ok {
			continue
		}
		rest = strings.Trim(rest, sqllex.Space)
		word, args := rest, ""
		if j := strings.IndexAny(rest, sqllex.Space); j >= 0 {
			word, args = rest[:j], strings.Trim(rest[j:], sqllex.Space)
		}
		switch word {
		case "compatible":
			switch {
			case isDown:
				fail(line, "move it to the up file: it says which releases may run with the migration applied",
					"-- ledger:compatible in a down file: compatibility is a property of the up migration")
			case compatLine > 0:
				fail(line, "keep one -- ledger:compatible line; a constraint can hold several conditions, e.g. \">=1.2.0 <2.0.0\"",
					"second -- ledger:compatible directive (the first is on line %d)", compatLine)
			case args == "":
				fail(line, `give the releases that may run with this migration applied, e.g. "-- ledger:compatible >=1.2.0 <2.0.0"`,
					"-- ledger:compatible needs a semver constraint")
			default:
				compatLine = line
				if _, err := semver.NewConstraint(args); err != nil {
					fail(line, `use a semver constraint, e.g. ">=1.2.0 <2.0.0" or "^1.2"`,
						"invalid compatibility constraint %q: %v", args, err)
				} else {
					a.compatible = args
				}
			}
		case "no-transaction":
			if args != "" {
				fail(line, `write the directive alone: "-- ledger:no-transaction"`,
					"-- ledger:no-transaction takes no argument, found %q", args)
			}
			a.script.NoTransaction = true
		default:
			fail(line, "check the spelling, or remove the line",
				"unknown directive %q: the known directives are %s", "ledger:"+word, "ledger:"+strings.Join(knownDirectives, ", ledger:"))
		}
	}
	return headerEnd, errs
}

// invalidUTF8 finds the first byte of data that is not valid UTF-8: its
// line and column (in bytes, 1-based).
func invalidUTF8(data []byte) (line, col int, found bool) {
	if utf8.Valid(data) {
		return 0, 0, false
	}
	line, start := 1, 0
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return line, i - start + 1, true
		}
		if data[i] == '\n' {
			line, start = line+1, i+1
		}
		i += size
	}
	return 0, 0, false
}

// lineStart is the byte offset of line (1-based) in data.
func lineStart(data []byte, line int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return off
		}
		off += i + 1
	}
	return off
}
