package migrations

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/schema-ledger/ledger/ledger"
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
	return fmt.Sprintf("migrations directory %s %s", e.Dir, e.Msg)
}

// Fix is what to do about an error, as data: the library says which action
// and on what; a caller words it for its users (the CLI as ledger commands
// and flags — a server calling Check should not log shell advice). It is
// policy.Fix: one type for a verdict's fixes and an error's.
type Fix = policy.Fix

// FixAction names a fix (policy.FixAction).
type FixAction = policy.FixAction

// The fixes errors suggest.
const (
	FixChooseDir      FixAction = "choose-dir"       // name the migrations directory
	FixWaitForLock    FixAction = "wait-for-lock"    // another migrator holds the lock: wait for it, or wait longer
	FixDDLLockTimeout FixAction = "ddl-lock-timeout" // a statement waited too long for its locks: retry when traffic is lower, or wait longer
	FixSettle                   = policy.FixSettle   // a migration in doubt: resume it, or record it as applied or failed
	FixUseRecorded    FixAction = "use-recorded"     // revert migrations the set does not know with their recorded down SQL

	// The ledger itself (errors of package ledger).
	FixInit         FixAction = "init"           // no ledger in the schema yet: initialize it as the migrator (Store.Init; Runner.Up does it too)
	FixUpgrade      FixAction = "upgrade"        // the ledger is in an older format: initialize it once with this release, which upgrades it in place
	FixNewerRelease FixAction = "newer-release"  // the ledger is in a newer format than this release reads: use a newer release
	FixVerify                 = policy.FixVerify // the ledger cannot be trusted: verify it to see every difference, then restore it from a backup
	FixSuperuser    FixAction = "superuser"      // DDL capture needs a superuser: install it once as one, or go without it

	FixAdopt         FixAction = "adopt"          // another tool's history and no ledger: adopt that history (Tool, Table)
	FixWriteManifest FixAction = "write-manifest" // a manifest that cannot be used: write it again from the release's files
	FixDeployFirst   FixAction = "deploy-first"   // a migration would make a running release refuse: deploy a release that ships it first, or declare it compatible
)

// Advice words a Fix as the whole "to fix" line of a message (policy.Advice).
type Advice = policy.Advice

// Worded is an error that words its fixes in its own message, in the
// library's words (Error) or a caller's (ErrorWith): a refused plan, a
// foreign history. The migrations package returns them unwrapped, so a
// caller that words fixes its own way renders the whole message with
// ErrorWith instead of rewriting Error's text.
type Worded interface {
	error
	ErrorWith(advise Advice) string
}

// Fixes lists the fixes err, or an error it wraps, suggests: this
// package's errors and the ledger's (package ledger holds no fixes of its
// own, being below this one).
func Fixes(err error) []Fix {
	var (
		dir      *DirError
		lock     *LockTimeoutError
		merr     *MigrationError
		perr     *PlanError
		foreign  *ForeignHistoryError
		manifest *ManifestError
		notInit  *ledger.NotInitializedError
		format   *ledger.FormatError
		corrupt  *ledger.CorruptHeadError
		capture  *ledger.CaptureDDLError
	)
	switch {
	case errors.As(err, &perr):
		return perr.Fixes
	case errors.As(err, &dir):
		return []Fix{{Action: FixChooseDir}}
	case errors.As(err, &lock):
		return []Fix{{Action: FixWaitForLock}}
	case errors.As(err, &merr):
		return merr.Fixes()
	case errors.As(err, &foreign):
		return foreign.Fixes()
	case errors.As(err, &manifest):
		if manifest.Regenerate {
			return []Fix{{Action: FixWriteManifest, File: manifest.Source}}
		}
	case errors.As(err, &notInit):
		return []Fix{{Action: FixInit, Schema: notInit.Schema}}
	case errors.As(err, &format) && format.Older():
		return []Fix{{Action: FixUpgrade, Schema: format.Schema}}
	case errors.As(err, &format):
		return []Fix{{Action: FixNewerRelease, Schema: format.Schema}}
	case errors.As(err, &corrupt):
		return []Fix{{Action: FixVerify, Schema: corrupt.Schema}}
	case errors.As(err, &capture) && capture.NeedsSuperuser():
		return []Fix{{Action: FixSuperuser, Schema: capture.Schema}}
	}
	return nil
}

func (e *DirError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNoDirectory) true.
func (e *DirError) Is(target error) bool { return target == ErrNoDirectory }

// ErrAutoMigrateNeedsFiles: WithAutoMigrate was given to a checker that
// knows the set only by ids and checksums (a manifest); running up needs the
// files — use NewChecker with a loaded set.
var ErrAutoMigrateNeedsFiles = errors.New("WithAutoMigrate needs the migration files: use NewChecker with a loaded set")

// ErrLockTimeout: another migrator held the ledger's migration lock for
// longer than the lock timeout.
var ErrLockTimeout = errors.New("timed out waiting for the migration lock")

// PlanError: the state does not allow the plan. It names every reason.
type PlanError struct {
	Direction Direction
	Verdict   *policy.Verdict // up: the policy's refusal
	Reasons   []string
	Unknown   []string // down: migrations to revert that the set does not know
	// BadTarget: the target is neither applied nor a migration of the set
	// (bad input, not a state the plan refuses).
	BadTarget bool
	// Integrity: a reason is about the ledger's integrity (a migration in
	// doubt, a checksum mismatch), not about what this release knows.
	Integrity bool
	Fixes     []Fix // what to do about the reasons
}

func (e *PlanError) Error() string { return e.ErrorWith(policy.LibraryAdvice) }

// ErrorWith is Error with the verdict's fixes worded by advise (see
// policy.Verdict.MessageWith).
func (e *PlanError) ErrorWith(advise Advice) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s refused", e.Direction)
	if e.Verdict != nil {
		b.WriteString(": ")
		b.WriteString(e.Verdict.MessageWith(advise))
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
	return msg
}

func (e *LockTimeoutError) Unwrap() error { return ErrLockTimeout }

// MigrationError: a migration failed, up or down. It names the migration,
// the file, the statement and the PostgreSQL error (with its SQLSTATE), and
// says exactly what was recorded and what the database may hold.
type MigrationError struct {
	ID        string
	Direction Direction
	File      string
	Line      int    // line of the failing statement (or of the error's position) in File, when known
	Column    int    // column of the error's position, when the server gave one
	LineText  string // the line of File the position points at
	Statement string // the failing statement, when known
	SQLState  string
	Err       error
	// InDoubt: a no-transaction migration may be partly applied, or its
	// failing statement may have left something behind; it is in doubt
	// until an operator settles it.
	InDoubt        bool
	StatementsDone int      // no-transaction: statements that completed (and are recorded as done)
	LeftBehind     bool     // the failing statement may have left something behind (an invalid index)
	InvalidIndexes []string // invalid indexes found after it, "schema.index on schema.table"
	Recorded       bool     // the failure is recorded as migration.failed
	RecordErr      error    // why recording the failure failed, if it did
	RolledBack     bool     // a transactional step: its transaction was rolled back
	// NotRun: none of its SQL ran and nothing of it was recorded — the
	// server refused to open its transaction (a hot standby), or to record
	// the migration.started a no-transaction step begins with.
	NotRun bool
	// Committed: the connection was lost before the server acknowledged
	// the transaction's COMMIT, and the ledger shows that it committed:
	// the step is done and recorded; the run stopped there.
	Committed bool
	// Interrupted: the run was stopped (its context cancelled: Ctrl-C,
	// SIGTERM) while the step ran, and that is why it failed.
	Interrupted    bool
	Rehearsal      bool          // it failed in a rehearsal, which records and keeps nothing
	DDLLockTimeout time.Duration // the statement ran out of the DDL lock timeout (55P03), this one
}

// Fixes is what to do about the failure, as data (see Fix).
func (e *MigrationError) Fixes() []Fix {
	var fixes []Fix
	if e.DDLLockTimeout > 0 {
		fixes = append(fixes, Fix{Action: FixDDLLockTimeout, ID: e.ID})
	}
	if e.InDoubt && !e.Rehearsal {
		f := Fix{Action: FixSettle, ID: e.ID, From: e.StatementsDone + 1}
		for _, ix := range e.InvalidIndexes {
			f.SQL = append(f.SQL, "DROP INDEX CONCURRENTLY "+strings.SplitN(ix, " on ", 2)[0]+";")
		}
		fixes = append(fixes, f)
	}
	return fixes
}

func (e *MigrationError) Error() string {
	var b strings.Builder
	verb, done := "apply", "applied"
	if e.Direction == DirDown {
		verb, done = "revert", "reverted"
	}
	if e.Committed {
		fmt.Fprintf(&b, "%s %s (%s): the connection was lost before the server acknowledged its COMMIT: %v", verb, e.ID, e.File, e.Err)
		fmt.Fprintf(&b, "\n  it committed all the same: the ledger records it as %s; the run stopped there", done)
		return b.String()
	}
	fmt.Fprintf(&b, "%s %s failed", verb, e.ID)
	if e.File != "" {
		switch {
		case e.Line > 0 && e.Column > 0:
			fmt.Fprintf(&b, " at %s:%d:%d", e.File, e.Line, e.Column)
		case e.Line > 0:
			fmt.Fprintf(&b, " at %s:%d", e.File, e.Line)
		default:
			fmt.Fprintf(&b, " (%s)", e.File)
		}
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	if e.SQLState != "" && !strings.Contains(e.Err.Error(), e.SQLState) {
		fmt.Fprintf(&b, " (SQLSTATE %s)", e.SQLState)
	}
	if e.LineText != "" {
		fmt.Fprintf(&b, "\n  %d | %s\n  %s | %s^", e.Line, e.LineText, strings.Repeat(" ", len(strconv.Itoa(e.Line))), caretPad(e.LineText, e.Column))
	} else if e.Statement != "" {
		fmt.Fprintf(&b, "\n  statement: %s", oneLine(e.Statement, 200))
	}
	switch {
	case e.Rehearsal:
		b.WriteString("\n  rehearsal: everything was rolled back and nothing was recorded")
	case e.NotRun:
		b.WriteString("\n  none of it ran, and nothing was recorded")
	case e.InDoubt:
		what := "migration"
		if e.Direction == DirDown {
			what = "revert"
		}
		fmt.Fprintf(&b, "\n  %s is a no-transaction %s: %d of its statements completed", e.ID, what, e.StatementsDone)
		if e.LeftBehind {
			b.WriteString(", and the failing statement may have left something behind")
		}
		b.WriteString("; it is now in doubt")
		if len(e.InvalidIndexes) > 0 {
			fmt.Fprintf(&b, "\n  invalid indexes: %s", strings.Join(e.InvalidIndexes, ", "))
			fmt.Fprintf(&b, "\n  drop them (%s), then settle it: resume it (statement %d runs again), or record it as failed", strings.Join(e.Fixes()[len(e.Fixes())-1].SQL, " "), e.StatementsDone+1)
		} else {
			fmt.Fprintf(&b, "\n  check the database, then settle it: resume it from statement %d, or record it as applied or as failed", e.StatementsDone+1)
		}
		if e.RecordErr != nil {
			fmt.Fprintf(&b, "\n  recording the failure failed too (it stays in doubt as migration.started left it): %v", e.RecordErr)
		}
	case e.RecordErr != nil && sameFailure(e.Err, e.RecordErr):
		fmt.Fprintf(&b, "\n  %s, and recording the failure failed the same way, so nothing was recorded", e.undone())
		if perr := (*ledger.PermissionError)(nil); errors.As(e.RecordErr, &perr) {
			b.WriteString("\n  " + perr.Advice())
		}
	case e.RecordErr != nil:
		fmt.Fprintf(&b, "\n  %s, but recording the failure failed, so nothing was recorded: %v", e.undone(), e.RecordErr)
	case e.Recorded && e.Direction == DirUp && e.Interrupted:
		fmt.Fprintf(&b, "\n  interrupted: %s and recorded as migration.failed; run up again to apply it", e.undone())
	case e.Recorded && e.Direction == DirUp:
		fmt.Fprintf(&b, "\n  %s and recorded as migration.failed; fix it and run up again", e.undone())
	case e.Recorded:
		fmt.Fprintf(&b, "\n  %s and recorded as migration.failed; the migration stays applied", e.undone())
	}
	if e.DDLLockTimeout > 0 {
		fmt.Fprintf(&b, "\n  a lock it needs was held by other sessions for longer than the DDL lock timeout (%s)", e.DDLLockTimeout)
	}
	return b.String()
}

// sameFailure reports whether two errors are the server's same error (the
// record of a failure refused as the step's own record was).
func sameFailure(a, b error) bool {
	var pa, pb *pgconn.PgError
	return errors.As(a, &pa) && errors.As(b, &pb) && pa.Code == pb.Code && pa.Message == pb.Message
}

func (e *MigrationError) undone() string {
	if e.RolledBack {
		return "it was rolled back"
	}
	return "it took no effect" // a no-transaction statement that failed cleanly
}

// caretPad is the indentation that puts a caret under column col of line.
func caretPad(line string, col int) string {
	var b strings.Builder
	for i, r := range []rune(line) {
		if i >= col-1 {
			break
		}
		if r == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteByte(' ')
		}
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
