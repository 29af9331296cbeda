package migrations

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrNoDirectory is matched (errors.Is) by the error LoadDir returns when the
// migrations directory is missing or is not a directory.
var ErrNoDirectory = errors.New("no migrations directory")

// FileError is one problem with one migration file. Load returns every
// problem of a directory at once, joined with errors.Join; use errors.As on
// the result to reach them.
type FileError struct {
	File string // path in the fs given to Load, or joined with the directory for LoadDir; "" from Split
	Line int    // 1-based; 0 when the problem is the file as a whole
	Msg  string // what is wrong
	Hint string // what to do about it ("" if obvious)
}

func (e *FileError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		b.WriteString(e.File + ":" + strconv.Itoa(e.Line) + ": ")
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (hint: " + e.Hint + ")")
	}
	return b.String()
}

// DirError reports a migrations directory that cannot be used at all.
type DirError struct {
	Dir string
	Msg string // e.g. "does not exist"
	Err error  // the underlying error, if any
}

func (e *DirError) Error() string {
	return fmt.Sprintf("migrations directory %s %s; pass --dir or set LEDGER_DIR", e.Dir, e.Msg)
}

func (e *DirError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNoDirectory) true.
func (e *DirError) Is(target error) bool { return target == ErrNoDirectory }
