package migrations

import (
	"bytes"
	"fmt"
	"io/fs"
	"strings"

	"github.com/schema-ledger/ledger/projector"
)

// tern (jackc/tern) keeps a migration in one file, <number>_<name>.sql,
// numbered 1..n: the SQL above the line "---- create above / drop below ----"
// migrates up, the SQL below it down (nothing below: tern cannot revert
// it). "---- tern: disable-tx ----" runs it outside a transaction. A
// directory is read as tern's when one of its <number>_<name>.sql files
// holds the separator line; then every such file that is not a goose file
// is a tern migration, its id the file name without ".sql". tern runs each
// file as a Go text/template; ledger runs SQL as written, so a file using
// one ({{ … }}) is refused.

const (
	ternSeparator = "---- create above / drop below ----"
	ternNoTx      = "---- tern: disable-tx ----"
)

// ternDir reports whether a directory's <number>_<name>.sql files are tern's.
func ternDir(fsys fs.FS, entries []fs.DirEntry) bool {
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !gooseName().MatchString(name) || strings.HasSuffix(name, upSuffix) || strings.HasSuffix(name, downSuffix) {
			continue
		}
		data, err := fs.ReadFile(fsys, name)
		if err == nil && hasTernSeparator(data) && !hasGooseUp(data) {
			return true
		}
	}
	return false
}

func hasTernSeparator(data []byte) bool {
	for line := range bytes.Lines(data) {
		if strings.TrimSpace(string(line)) == ternSeparator {
			return true
		}
	}
	return false
}

// loadTern loads one tern migration file.
func loadTern(fsys fs.FS, id string, p *filePair, shown func(string) string) (Migration, []*FileError, []warning) {
	num, name, _ := projector.ParseID(id)
	file := shown(p.up)
	m := Migration{ID: id, Number: num, Name: name, Format: FormatTern, Up: Script{File: file}}
	data, err := fs.ReadFile(fsys, p.up)
	if err != nil {
		return m, []*FileError{{File: file, Msg: fmt.Sprintf("cannot read: %v", err)}}, nil
	}
	if _, _, bad := invalidUTF8(data); bad {
		_, ferrs := analyzeFile(file, data, fileOptions{})
		return m, ferrs, nil
	}
	var errs []*FileError
	lines := strings.SplitAfter(string(data), "\n")
	upB, downB := make([]string, len(lines)), make([]string, len(lines))
	below, noTx, sep := false, false, 0
	for i, l := range lines {
		eol := l[len(strings.TrimRight(l, "\r\n")):]
		t := strings.TrimSpace(l)
		switch {
		case t == ternSeparator && !below:
			below, sep = true, i+1
			upB[i], downB[i] = eol, eol
			continue
		case t == ternNoTx:
			noTx = true
			upB[i], downB[i] = eol, eol
			continue
		}
		if strings.Contains(l, "{{") && strings.Contains(l, "}}") {
			errs = append(errs, &FileError{File: file, Line: i + 1,
				Msg:  "a Go template action ({{ … }}): tern runs its migrations as text/template, ledger runs SQL as written",
				Hint: "write the SQL the template produces into the file"})
		}
		if below {
			upB[i], downB[i] = eol, l
		} else {
			upB[i], downB[i] = l, eol
		}
	}
	if noTx && len(lines) > 0 && strings.TrimSpace(downB[0]) == "" {
		// Recorded with the migration, the down SQL carries the marker.
		downB[0] = "-- ledger:no-transaction" + lines[0][len(strings.TrimRight(lines[0], "\r\n")):]
	}
	sum := checksum(fsys, p.up, data)
	a, ferrs := analyzeFile(file, []byte(strings.Join(upB, "")), fileOptions{sum: sum, noTx: noTx})
	errs = append(errs, ferrs...)
	m.Up, m.Checksum, m.Compatible = a.script, sum, a.compatible
	var warns []warning
	if m.Up.Empty() && len(ferrs) == 0 {
		msg := fmt.Sprintf("holds no SQL statement above %s: %s will be recorded as applied without changing anything", ternSeparator, id)
		warns = append(warns, warning{file: file, msg: msg, text: file + " " + msg})
	}
	if sep == 0 {
		return m, errs, warns
	}
	down := strings.Join(downB, "")
	d, ferrs := analyzeFile(file, []byte(down), fileOptions{isDown: true, sum: sha256hex([]byte(down)), noTx: noTx})
	errs = append(errs, ferrs...)
	if !d.script.Empty() {
		m.Down = &d.script // nothing below the line: tern cannot revert it either
	}
	return m, errs, warns
}
