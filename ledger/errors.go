package ledger

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ErrNotInitialized: the ledger schema or its tables do not exist.
var ErrNotInitialized = errors.New("ledger not initialized")

// ErrNotInTransaction: Append was given a transaction that is not open.
var ErrNotInTransaction = errors.New("append needs an open transaction")

// NotInitializedError says which schema is missing and what to do, in the
// library's words (a caller words the fix for its users: cmd/ledger names
// its commands).
type NotInitializedError struct{ Schema string }

func (e *NotInitializedError) Error() string {
	return fmt.Sprintf("ledger schema %q is not initialized in this database: initialize it as the migrator (Store.Init; a migration runner's first Up does it too)", e.Schema)
}

func (e *NotInitializedError) Unwrap() error { return ErrNotInitialized }

// FormatError: the ledger in the database is in a format this binary does
// not understand (newer), or one it must first upgrade (older). The ledger
// applies its own rule to itself: refuse, never guess.
type FormatError struct {
	Schema    string
	Found     int
	Supported int
}

// Older reports whether the ledger is in an older format, which Init
// upgrades; otherwise it is newer, and only a newer release reads it.
func (e *FormatError) Older() bool { return e.Found < e.Supported }

func (e *FormatError) Error() string {
	if e.Older() {
		return fmt.Sprintf("ledger schema %q has ledger format %d, older than format %d that this binary reads and writes: initialize it once with this release (Store.Init, or a migration runner's Up) to upgrade it in place (one transaction, recorded as ledger.upgraded); releases before the upgrade then refuse it", e.Schema, e.Found, e.Supported)
	}
	return fmt.Sprintf("ledger schema %q has ledger format %d, newer than format %d that this binary understands: use a newer ledger release (this one changes nothing)", e.Schema, e.Found, e.Supported)
}

// CorruptHeadError: the head row does not match the newest event (its seq,
// hash or the state it committed), the newest event does not match its own
// hash or link, the projection tables do not add up to the head, or the
// head holds values that cannot be right. The ledger cannot be trusted
// until verified; no writer builds on it.
type CorruptHeadError struct {
	Schema string
	Reason string
}

func (e *CorruptHeadError) Error() string {
	return fmt.Sprintf("ledger schema %q cannot be trusted: %s; verify it (Store.Verify) to see every difference, and restore the ledger from a backup", e.Schema, e.Reason)
}

// SchemaNameError: an unusable name for the ledger schema.
type SchemaNameError struct {
	Name   string
	Reason string
}

func (e *SchemaNameError) Error() string {
	return fmt.Sprintf("invalid ledger schema name %q: %s", e.Name, e.Reason)
}

// UpgradeError: a ledger in an older format does not verify, so it is not
// upgraded (nothing was changed). Report says what is wrong.
type UpgradeError struct {
	Schema string
	From   int
	Report VerifyReport
}

func (e *UpgradeError) Error() string {
	return fmt.Sprintf("ledger schema %q (format %d) does not verify, so it was not upgraded to format %d and nothing was changed:\n%s\nrestore the ledger from a backup taken before it broke", e.Schema, e.From, Format, e.Report)
}

// PermissionError: the database user may not read (or write) the ledger.
// It names the grants an application role needs; writing the ledger is
// the migrator's, the role that created and owns it.
type PermissionError struct {
	Schema string
	Err    error
	// Write: the role was refused a write of the ledger (an append), which
	// only the migrator may do; the message then names no application grants.
	Write bool
}

// writeAdvice is what a role refused a write of the ledger is told.
const writeAdvice = "up, down, resolve and init write the ledger: run them as the migrator role that owns it (README: Roles)"

func (e *PermissionError) Error() string {
	return fmt.Sprintf("ledger schema %q: %v\n  %s", e.Schema, e.Err, e.Advice())
}

// Advice is what to do about it: for a write, whose role it is; for a
// read, the grants an application role needs too.
func (e *PermissionError) Advice() string {
	if e.Write {
		return writeAdvice
	}
	q := e.Schema
	if strings.ToLower(q) != q {
		q = pgx.Identifier{e.Schema}.Sanitize()
	}
	return fmt.Sprintf("an application role (check, status, history, check-ins) needs, granted by the ledger's owner:\n"+
		"    GRANT USAGE ON SCHEMA %s TO <role>;\n    GRANT SELECT ON ALL TABLES IN SCHEMA %s TO <role>;\n"+
		"    GRANT INSERT, UPDATE ON %s.sightings TO <role>; GRANT INSERT ON %s.releases TO <role>;  -- check-ins only\n"+
		"  %s", q, q, q, q, writeAdvice)
}

func (e *PermissionError) Unwrap() error { return e.Err }

// IsIntegrityError reports whether err says the ledger cannot be trusted:
// a head or projection that does not match the state committed in the
// newest event, a newest event that does not match its hash, or an older
// format that does not verify.
func IsIntegrityError(err error) bool {
	var corrupt *CorruptHeadError
	var upgrade *UpgradeError
	return errors.As(err, &corrupt) || errors.As(err, &upgrade)
}
