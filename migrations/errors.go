package migrations

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/schema-ledger/ledger/policy"
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

// ErrLockTimeout: another migrator held the ledger's migration lock for
// longer than the lock timeout.
var ErrLockTimeout = errors.New("timed out waiting for the migration lock")

// PlanError: the state does not allow the plan. It names every reason.
type PlanError struct {
	Direction Direction
	Verdict   *policy.Verdict // up: the policy's refusal
	Reasons   []string
	Unknown   []string // down: migrations to revert that the set does not know
}

func (e *PlanError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s refused", e.Direction)
	if e.Verdict != nil {
		b.WriteString(": ")
		b.WriteString(e.Verdict.Message())
	}
	for _, r := range e.Reasons {
		b.WriteString("\n  - ")
		b.WriteString(r)
	}
	return b.String()
}

// LockTimeoutError: the migration lock was held by another session.
type LockTimeoutError struct {
	Schema  string
	Waited  time.Duration
	Holders string // who holds it, from pg_stat_activity, if known
}

func (e *LockTimeoutError) Error() string {
	msg := fmt.Sprintf("another migrator has held the migration lock of ledger schema %q for longer than %s", e.Schema, e.Waited)
	if e.Holders != "" {
		msg += " (held by " + e.Holders + ")"
	}
	return msg + "; wait for it to finish, or raise --lock-timeout"
}

func (e *LockTimeoutError) Unwrap() error { return ErrLockTimeout }

// MigrationError: a migration failed. It names the migration, the file, the
// statement and the PostgreSQL error (with its SQLSTATE).
type MigrationError struct {
	ID        string
	Direction Direction
	File      string
	Line      int    // line of the failing statement in File, when known
	Statement string // the failing statement, when known
	SQLState  string
	Err       error
	InDoubt   bool // a no-transaction migration was left partly applied
	Rehearsal bool // it failed in a rehearsal, which records and keeps nothing
	Hint      string
}

func (e *MigrationError) Error() string {
	var b strings.Builder
	verb := "apply"
	if e.Direction == DirDown {
		verb = "revert"
	}
	fmt.Fprintf(&b, "%s %s failed", verb, e.ID)
	if e.File != "" {
		if e.Line > 0 {
			fmt.Fprintf(&b, " at %s:%d", e.File, e.Line)
		} else {
			fmt.Fprintf(&b, " (%s)", e.File)
		}
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	if e.SQLState != "" && !strings.Contains(e.Err.Error(), e.SQLState) {
		fmt.Fprintf(&b, " (SQLSTATE %s)", e.SQLState)
	}
	if e.Statement != "" {
		fmt.Fprintf(&b, "\n  statement: %s", oneLine(e.Statement, 200))
	}
	if e.Rehearsal {
		b.WriteString("\n  rehearsal: everything was rolled back and nothing was recorded")
	} else if e.InDoubt {
		fmt.Fprintf(&b, "\n  %s is a no-transaction migration and may be partly applied: it is now in doubt. Check the database, then record your decision with `ledger resolve %s --applied|--failed --reason TEXT`", e.ID, e.ID)
	} else if e.Direction == DirUp {
		b.WriteString("\n  it was rolled back and recorded as migration.failed; fix it and run up again")
	}
	if e.Hint != "" {
		b.WriteString("\n  hint: " + e.Hint)
	}
	return b.String()
}

func (e *MigrationError) Unwrap() error { return e.Err }

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + " …"
	}
	return s
}
