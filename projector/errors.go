package projector

import (
	"errors"
	"fmt"
)

// ErrInvalidEvent is wrapped by every error that rejects an event as
// inconsistent with the state it is applied to (a second migration.applied for
// the same id, a revert of a migration that is not applied, a seq gap, …).
var ErrInvalidEvent = errors.New("invalid event")

// UnknownTypeError is returned for an event type this binary does not know.
// The fold fails closed: it never skips an event it cannot interpret.
type UnknownTypeError struct{ Type string }

func (e *UnknownTypeError) Error() string {
	return fmt.Sprintf("unknown event type %q: this binary cannot interpret it; use a newer ledger release", e.Type)
}

// PayloadVersionError is returned for a payload version this binary does not know.
type PayloadVersionError struct {
	Type      string
	Version   int
	Supported int
}

func (e *PayloadVersionError) Error() string {
	if e.Version > e.Supported {
		return fmt.Sprintf("event type %q has payload version %d, newer than %d that this binary understands; use a newer ledger release", e.Type, e.Version, e.Supported)
	}
	return fmt.Sprintf("event type %q has invalid payload version %d", e.Type, e.Version)
}

func invalid(e Event, format string, args ...any) error {
	return fmt.Errorf("%w: seq %d (%s): %s", ErrInvalidEvent, e.Seq, e.Type, fmt.Sprintf(format, args...))
}
