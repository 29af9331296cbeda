package natsbus

import (
	"errors"
	"fmt"
	"strings"
)

// ErrStreamMismatch: the stream does not hold this ledger's events; the
// relay refuses to publish onto it.
var ErrStreamMismatch = errors.New("stream does not match the ledger")

// ErrStreamConfig: a stream of that name exists but cannot carry this
// ledger's events (other subjects), or the server refused to create it.
var ErrStreamConfig = errors.New("unusable stream")

// ErrMalformedMessage: a stream message is not a ledger event as Encode
// writes it.
var ErrMalformedMessage = errors.New("not a ledger event message")

// StreamMismatchError says which stream, at which seq, differs from the
// ledger and how.
type StreamMismatchError struct {
	Stream string
	Seq    int64
	Reason string
}

func (e *StreamMismatchError) Error() string {
	return fmt.Sprintf("stream %s at seq %d does not match this ledger: %s; the stream was filled from another ledger (a different database, or one restored from a backup) — relay this ledger to another stream, or delete stream %s to republish it from seq 1", e.Stream, e.Seq, e.Reason, e.Stream)
}

func (e *StreamMismatchError) Unwrap() error { return ErrStreamMismatch }

// StreamConfigError says why a stream cannot be used.
type StreamConfigError struct {
	Stream   string
	Subjects []string // the stream's subjects, when it exists
	Want     string   // the subject filter the ledger's events need
	Reason   string
}

func (e *StreamConfigError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("stream %s for subjects %s: %s", e.Stream, e.Want, e.Reason)
	}
	return fmt.Sprintf("stream %s exists with subjects [%s], not %s: it belongs to something else — choose another stream name, or another subject prefix that matches it", e.Stream, strings.Join(e.Subjects, " "), e.Want)
}

func (e *StreamConfigError) Unwrap() error { return ErrStreamConfig }

// MalformedMessageError says what is wrong with a message.
type MalformedMessageError struct {
	Subject string
	Seq     uint64 // stream sequence, if known
	Reason  string
}

func (e *MalformedMessageError) Error() string {
	where := e.Subject
	if e.Seq > 0 {
		where = fmt.Sprintf("%s (stream seq %d)", e.Subject, e.Seq)
	}
	return fmt.Sprintf("message %s is not a ledger event: %s", where, e.Reason)
}

func (e *MalformedMessageError) Unwrap() error { return ErrMalformedMessage }
