package ledger

import (
	"errors"
	"fmt"
)

// ErrNotInitialized: the ledger schema or its tables do not exist.
var ErrNotInitialized = errors.New("ledger not initialized")

// ErrNotInTransaction: Append was given a transaction that is not open.
var ErrNotInTransaction = errors.New("append needs an open transaction")

// NotInitializedError says which schema is missing and what to do.
type NotInitializedError struct{ Schema string }

func (e *NotInitializedError) Error() string {
	return fmt.Sprintf("ledger schema %q is not initialized in this database: run `ledger init` (or `ledger up`, which creates it)", e.Schema)
}

func (e *NotInitializedError) Unwrap() error { return ErrNotInitialized }

// FormatError: the ledger in the database is in a format this binary does
// not understand. The ledger applies its own rule to itself: refuse, never guess.
type FormatError struct {
	Schema    string
	Found     int
	Supported int
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("ledger schema %q has ledger format %d, newer than format %d that this binary understands: use a newer ledger release (this one changes nothing)", e.Schema, e.Found, e.Supported)
}

// CorruptHeadError: the head row does not match the newest event, or holds
// values that cannot be right. The ledger cannot be trusted until verified.
type CorruptHeadError struct {
	Schema string
	Reason string
}

func (e *CorruptHeadError) Error() string {
	return fmt.Sprintf("ledger schema %q: head row is corrupt: %s; run `ledger verify` and restore the ledger from a backup", e.Schema, e.Reason)
}

// SchemaNameError: an unusable name for the ledger schema.
type SchemaNameError struct {
	Name   string
	Reason string
}

func (e *SchemaNameError) Error() string {
	return fmt.Sprintf("invalid ledger schema name %q: %s", e.Name, e.Reason)
}
