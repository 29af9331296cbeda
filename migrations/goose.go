package migrations

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"strings"

	"github.com/schema-ledger/ledger/projector"
)

// Other tools' files, read unchanged.
//
// goose (pressly/goose v3, internal/sqlparser/parser.go) keeps a migration
// in one file, <version>_<name>.sql, its sections introduced by annotation
// lines beginning with "--": "+goose Up", "+goose Down",
// "+goose StatementBegin" / "+goose StatementEnd" around a statement with
// semicolons inside, "+goose NO TRANSACTION" for the whole file. Such a file
// loads as a migration whose id is the file name without ".sql", whose
// checksum is over the file's bytes (as for any migration), and whose up
// and down SQL are the file's two sections, at their own lines, so every
// problem is reported at the file's line. ledger's lexer splits statements
// itself (dollar quotes, strings, comments), so StatementBegin/End are
// read as the comments they are.
//
// Other tools' no-transaction markers are synonyms of
// "-- ledger:no-transaction" in a file's header: goose's
// "-- +goose NO TRANSACTION" and morph's "-- morph:nontransactional"
// (which Mattermost's migrations put above every CREATE INDEX
// CONCURRENTLY).

// noTxSynonym reports whether the text of a header comment (after "--",
// trimmed) is another tool's no-transaction marker.
func noTxSynonym(comment string) bool {
	return strings.EqualFold(comment, "+goose NO TRANSACTION") || comment == "morph:nontransactional"
}

const gooseSuffix = ".sql"

var gooseName = lazyRegexp(`^[0-9]+_.+\.sql$`)

// gooseAnnotation returns the annotation a line holds ("Up", "Down",
// "StatementBegin", "StatementEnd", "NO TRANSACTION", "ENVSUBST ON", …),
// or "" if it holds none. goose reads a line as an annotation when it
// begins with "--"; so does ledger.
func gooseAnnotation(line string) string {
	rest, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), "--")
	if !ok {
		return ""
	}
	rest = strings.TrimSpace(rest)
	a, ok := strings.CutPrefix(rest, "+goose ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(a)
}

// isGooseFile reports whether name, a file that is not <id>.up.sql or
// <id>.down.sql, is a goose migration: <number>_<name>.sql holding a
// "-- +goose Up" line.
func isGooseFile(fsys fs.FS, name string) bool {
	if !gooseName().MatchString(name) {
		return false
	}
	data, err := fs.ReadFile(fsys, name)
	return err == nil && hasGooseUp(data)
}

// hasGooseUp reports whether a file holds a "-- +goose Up" line.
func hasGooseUp(data []byte) bool {
	for line := range bytes.Lines(data) {
		if strings.EqualFold(gooseAnnotation(string(line)), "Up") {
			return true
		}
	}
	return false
}

// gooseFile is what gooseSections reads from a goose file.
type gooseFile struct {
	up, down string // the sections' texts, at the file's lines
	hasDown  bool   // a -- +goose Down line: an explicit down, empty or not
	// noTx: "-- +goose NO TRANSACTION" somewhere in the file. goose reads it
	// wherever it is (useTx = false for the whole file, up and down), and so
	// does ledger.
	noTx bool
}

// gooseSections splits a goose file into the text of its up and of its
// down section. Each keeps the file's line numbers: lines of the other
// section (and, in the down text, the lines before "+goose Up") are
// blanked; annotations stay, as comments. Lines between
// "-- +goose ENVSUBST ON" and "OFF" are expanded as goose expands them
// (envsubst.go), with env. It also reports what goose would refuse.
func gooseSections(file, text string, env func(string) (string, bool)) (g gooseFile, errs []*FileError) {
	lines := strings.SplitAfter(text, "\n")
	upB, downB := make([]string, len(lines)), make([]string, len(lines))
	const (
		before = iota
		inUp
		inDown
	)
	state, upLine := before, 0
	inStatement := 0
	envsubst := false
	blank := func(l string) string {
		if strings.HasSuffix(l, "\r\n") {
			return "\r\n"
		}
		if strings.HasSuffix(l, "\n") {
			return "\n"
		}
		return ""
	}
	fail := func(line int, hint, format string, args ...any) {
		errs = append(errs, &FileError{File: file, Line: line, Msg: fmt.Sprintf(format, args...), Hint: hint})
	}
	for i, l := range lines {
		n := i + 1
		ann := gooseAnnotation(l)
		switch {
		case strings.EqualFold(ann, "Up"):
			if state != before {
				fail(n, "keep one -- +goose Up, at the start of the up section", "a second -- +goose Up annotation (goose refuses it too)")
			}
			state, upLine = inUp, n
			upB[i], downB[i] = l, blank(l)
			continue
		case strings.EqualFold(ann, "Down"):
			if state != inUp {
				fail(n, "put -- +goose Up before the up SQL and -- +goose Down after it", "-- +goose Down before -- +goose Up (goose refuses it too)")
			}
			state, g.hasDown = inDown, true
			upB[i], downB[i] = blank(l), l
			continue
		case strings.EqualFold(ann, "NO TRANSACTION"):
			g.noTx = true
			upB[i], downB[i] = blank(l), blank(l)
			continue
		case strings.EqualFold(ann, "ENVSUBST ON"):
			envsubst = true
		case strings.EqualFold(ann, "ENVSUBST OFF"):
			envsubst = false
		case strings.EqualFold(ann, "StatementBegin"):
			inStatement = n
		case strings.EqualFold(ann, "StatementEnd"):
			inStatement = 0
		case strings.HasPrefix(strings.ToUpper(ann), "ENVSUBST"):
			fail(n, "write -- +goose ENVSUBST ON or -- +goose ENVSUBST OFF", "-- +goose %s: goose knows ENVSUBST ON and ENVSUBST OFF only", ann)
		}
		if envsubst && ann == "" && !strings.HasPrefix(strings.TrimSpace(l), "--") {
			x, err := expandEnv(l, env)
			if err != nil {
				fail(n, "set the variable, give it a default (${NAME:-default}), or write $$ for a literal $ between -- +goose ENVSUBST ON and OFF",
					"-- +goose ENVSUBST ON: %v", err)
			} else {
				l = x
			}
		}
		switch state {
		case before:
			// Header: comments and blank lines (goose ignores anything else
			// here, and so refuses the file; so does ledger).
			if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--") {
				fail(n, "start the file with -- +goose Up", "SQL before -- +goose Up: goose requires the file to start with its up annotation")
			}
			upB[i], downB[i] = l, blank(l)
		case inUp:
			upB[i], downB[i] = l, blank(l)
		case inDown:
			upB[i], downB[i] = blank(l), l
		}
	}
	switch {
	case upLine == 0:
		fail(1, "start the file with -- +goose Up", "no -- +goose Up annotation")
	case inStatement != 0:
		fail(inStatement, "close it with -- +goose StatementEnd", "-- +goose StatementBegin without -- +goose StatementEnd")
	}
	if g.noTx && len(lines) > 0 {
		// The down SQL is recorded when the migration is applied, to be run
		// by a binary that may not have the file: it carries the marker in
		// its header. Line 1 of the down text is always blank (it is the
		// up annotation, a header line or a NO TRANSACTION line).
		downB[0] = "-- +goose NO TRANSACTION" + blank(lines[0])
	}
	g.up, g.down = strings.Join(upB, ""), strings.Join(downB, "")
	return g, errs
}

// loadGoose loads one goose-format migration file.
func loadGoose(fsys fs.FS, id string, p *filePair, shown func(string) string, cfg *loadConfig) (Migration, []*FileError, []warning) {
	num, name, _ := projector.ParseID(id)
	m := Migration{ID: id, Number: num, Name: name, Format: FormatGoose, Up: Script{File: shown(p.up)}}
	data, err := fs.ReadFile(fsys, p.up)
	if err != nil {
		return m, []*FileError{{File: shown(p.up), Msg: fmt.Sprintf("cannot read: %v", err)}}, nil
	}
	file := shown(p.up)
	if _, _, bad := invalidUTF8(data); bad {
		_, ferrs := analyzeFile(file, data, fileOptions{}) // says where, and nothing else
		return m, ferrs, nil
	}
	// The checksum is over the file's bytes, as written (annotations and
	// ${VAR} references included, not the values substituted), as for any
	// migration file.
	sum := checksum(fsys, p.up, data)
	g, errs := gooseSections(file, string(data), cfg.env)
	a, ferrs := analyzeFile(file, []byte(g.up), fileOptions{sum: sum, noTx: g.noTx})
	errs = append(errs, ferrs...)
	if a.script.Empty() {
		errs = append(errs, &FileError{File: file,
			Msg:  "the -- +goose Up section holds no SQL statement: it would be recorded as applied without changing anything",
			Hint: "write the migration's SQL, or delete the file"})
	}
	m.Up, m.Checksum, m.Compatible = a.script, sum, a.compatible
	if !g.hasDown {
		return m, errs, nil
	}
	// A -- +goose Down section is an explicit down, even empty or holding
	// only comments: reverting the migration changes nothing, as in goose.
	d, ferrs := analyzeFile(file, []byte(g.down), fileOptions{isDown: true, sum: sha256hex([]byte(g.down)), noTx: g.noTx})
	errs = append(errs, ferrs...)
	m.Down = &d.script
	return m, errs, nil
}

func sha256hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
