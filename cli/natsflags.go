package cli

import (
	"errors"
	"fmt"
	"time"
)

// errNoNATS: a NATS command or flag in a build without NATS.
var errNoNATS = errors.New("this ledger was built with -tags ledger_nonats, without NATS (relay, watch, verify --nats, demo): use a build without that tag")

// relayFlags are the flags of `ledger relay` (and the NATS ones of `demo`).
type relayFlags struct {
	creds, name, stream, prefix string
	poll, progress              time.Duration
	batch, maxPending           int
}

// streamReport is what verify --nats found comparing the chain in the
// database with the copy the relay published to JetStream.
type streamReport struct {
	Stream     string `json:"stream"`
	StreamLast int64  `json:"stream_last"` // the stream's last seq
	HeadSeq    int64  `json:"head_seq"`    // the database's newest event
	Compared   int64  `json:"compared"`    // events compared, from seq 1
	// Divergence: the first seq where the two differ, and how.
	Divergence string `json:"divergence,omitempty"`
}

// OK reports whether every event the stream holds is the database's.
func (r streamReport) OK() bool { return r.Divergence == "" }

func (r streamReport) String() string {
	switch {
	case !r.OK():
		return fmt.Sprintf("BROKEN: the database's chain and the stream %s diverge: %s", r.Stream, r.Divergence)
	case r.HeadSeq > r.StreamLast:
		return fmt.Sprintf("ok: stream %s holds the database's events 1..%d, same seq, hash and prev hash (the relay has not published %d..%d yet)", r.Stream, r.StreamLast, r.StreamLast+1, r.HeadSeq)
	default:
		return fmt.Sprintf("ok: stream %s holds the database's events 1..%d, same seq, hash and prev hash", r.Stream, r.StreamLast)
	}
}

// watchFlags are ledger watch's own flags (the NATS ones are relay's).
type watchFlags struct {
	webhook  string
	interval time.Duration
	attempts int
}
