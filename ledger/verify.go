package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/schema-ledger/ledger/projector"
)

// VerifyReport is what Verify found. The ledger is sound iff OK().
type VerifyReport struct {
	Events      int64    `json:"events"`                 // events walked
	FirstBroken int64    `json:"first_broken,omitempty"` // first seq whose chain does not check out
	Broken      string   `json:"broken,omitempty"`       // why that seq is broken
	FoldError   string   `json:"fold_error,omitempty"`   // the fold refused an event
	State       string   `json:"state,omitempty"`        // the first event whose committed state is not the fold's
	Head        string   `json:"head,omitempty"`         // the head row does not match the events
	Projection  []string `json:"projection,omitempty"`   // projection tables vs. the fold
	Anchors     []string `json:"anchors,omitempty"`      // expected anchors (checkpoints) the chain does not hold
	// Fold is the state the events fold to, read in the same snapshot as
	// the chain (empty if the fold failed): what the ledger says, whatever
	// the projection tables hold.
	Fold projector.State `json:"-"`
}

// OK reports whether the chain, the fold, the head and the projection all check out.
func (r VerifyReport) OK() bool {
	return r.FirstBroken == 0 && r.FoldError == "" && r.State == "" && r.Head == "" && len(r.Projection) == 0 && len(r.Anchors) == 0
}

// String summarises the report in a few lines.
func (r VerifyReport) String() string {
	if r.OK() {
		return fmt.Sprintf("ok: %d events, hash chain intact, projection and head equal the fold", r.Events)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "BROKEN: %d events walked\n", r.Events)
	if r.FirstBroken != 0 {
		fmt.Fprintf(&b, "  hash chain broken at seq %d: %s\n", r.FirstBroken, r.Broken)
	}
	if r.FoldError != "" {
		fmt.Fprintf(&b, "  fold: %s\n", r.FoldError)
	}
	if r.State != "" {
		fmt.Fprintf(&b, "  committed state: %s\n", r.State)
	}
	if r.Head != "" {
		fmt.Fprintf(&b, "  head: %s\n", r.Head)
	}
	for _, p := range r.Projection {
		fmt.Fprintf(&b, "  projection: %s\n", p)
	}
	for _, a := range r.Anchors {
		fmt.Fprintf(&b, "  %s\n", a)
	}
	return strings.TrimRight(b.String(), "\n")
}

// Verify walks the whole chain in seq order in one snapshot, streaming (memory
// stays constant with the ledger's length): it checks that seq is gapless,
// that each prev_hash is the previous hash and that each hash recomputes
// (EventHash), folds every event, and compares the fold with the projection
// tables and the head. Problems are in the report; the error is for failing
// to read at all. progress, if not nil, is called every 10,000 events.
func (s *Store) Verify(ctx context.Context, progress func(walked int64)) (VerifyReport, error) {
	return s.VerifyWith(ctx, VerifyOptions{Progress: progress})
}

// VerifyOptions tune VerifyWith.
type VerifyOptions struct {
	Progress func(walked int64) // called every 10,000 events
	// Expect are anchors kept outside the database (ledger checkpoint):
	// the chain must hold each one exactly, or the report lists it.
	Expect []Anchor
	// Visit, if set, is called with each event as it is walked, in seq
	// order (hashes included), on the walking goroutine: a reader that
	// shows the history (a report page) sees exactly the events verified,
	// in the same snapshot, without reading them twice. Keep it quick.
	Visit func(Event)
}

// VerifyWith is Verify, also checking the chain against anchors kept
// outside the database.
func (s *Store) VerifyWith(ctx context.Context, o VerifyOptions) (VerifyReport, error) {
	progress := o.Progress
	tx, err := s.db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return VerifyReport{}, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	rep, err := s.verifyIn(ctx, tx, progress, o.Visit, false, o.Expect...)
	if err != nil {
		return rep, err
	}
	return rep, tx.Commit(ctx)
}

// verifyIn is Verify in tx; upgrading: the ledger is being upgraded in tx,
// so no event commits its state yet.
func (s *Store) verifyIn(ctx context.Context, tx pgx.Tx, progress func(walked int64), visit func(Event), upgrading bool, expect ...Anchor) (VerifyReport, error) {
	var rep VerifyReport
	anchors := newAnchorCheck(expect)
	var foldState projector.State
	// Every column in binary: the reader decodes the common row from its
	// raw bytes (rawEvent) and leaves anything else to pgx.
	rows, err := tx.Query(ctx, s.sql.events+" ORDER BY seq", pgx.QueryExecModeDescribeExec, pgx.QueryResultFormats{pgx.BinaryFormatCode})
	if err != nil {
		return rep, s.mapErr(err)
	}
	raw := newRawEvents(rows, visit != nil)
	// Two stages, so decoding rows and hashing overlaps with folding: this
	// goroutine reads and checks the chain, the fold runs beside it on
	// batches handed over through a small bounded channel (memory stays
	// constant).
	const batchSize = 512
	batches := make(chan []Event, 4)
	foldDone := make(chan struct{})
	go func() {
		defer close(foldDone)
		fold := projector.NewState()
		var foldErr error
		for batch := range batches {
			for _, e := range batch {
				if foldErr != nil {
					break // keep draining: the reader must never block
				}
				fold, foldErr = projector.Apply(fold, e)
				if foldErr == nil && e.State != nil && rep.State == "" {
					if want := fold.Committed(); want != *e.State {
						rep.State = fmt.Sprintf("seq %d commits %s, the fold of the events up to it gives %s", e.Seq, committedString(*e.State), committedString(want))
					}
				}
			}
		}
		if foldErr != nil {
			rep.FoldError = foldErr.Error()
		}
		foldState = fold
	}()
	prev := make([]byte, 32)
	broken := func(seq int64, format string, args ...any) {
		if rep.FirstBroken == 0 {
			rep.FirstBroken, rep.Broken = seq, fmt.Sprintf(format, args...)
		}
	}
	batch := make([]Event, 0, batchSize)
	var walked int64
	var committedSince int64 // the first event that committed its state
	var scanErr error
	for rows.Next() {
		// The row's own hash, recomputed: sum over the raw row when
		// rawEvent took it, else over the event pgx scanned.
		e, sum, ok := raw.event(prev)
		if !ok {
			var payload string
			if e, payload, err = scanEvent(rows); err != nil {
				scanErr = err
				break
			}
			copy(sum[:], EventHash(prev, e, payload))
		}
		walked++
		switch {
		case e.Seq != walked:
			broken(e.Seq, "expected seq %d: events are missing", walked)
			walked = e.Seq
		case !bytes.Equal(e.PrevHash, prev):
			broken(e.Seq, "prev_hash is not the hash of seq %d", e.Seq-1)
		case !bytes.Equal(e.Hash, sum[:]):
			broken(e.Seq, "the stored hash does not match the row: the event was changed after it was recorded")
		case e.State == nil && committedSince > 0:
			broken(e.Seq, "it commits no state, though every event since seq %d does", committedSince)
		}
		if p := anchors.see(e.Seq, e.Hash); p != "" {
			rep.Anchors = append(rep.Anchors, p)
		}
		if e.State != nil && committedSince == 0 {
			committedSince = e.Seq
		}
		prev = append(prev[:0], e.Hash...)
		if visit != nil {
			// Hashes of their own: rawEvent's point into its buffers.
			v := e
			v.PrevHash, v.Hash = bytes.Clone(e.PrevHash), bytes.Clone(e.Hash)
			visit(v)
		}
		e.PrevHash, e.Hash = nil, nil // the fold needs neither
		if batch = append(batch, e); len(batch) == batchSize {
			batches <- batch
			batch = make([]Event, 0, batchSize)
		}
		if progress != nil && walked%10000 == 0 {
			progress(walked)
		}
	}
	batches <- batch
	close(batches)
	rows.Close()
	<-foldDone
	rep.Events = walked
	rep.Anchors = append(rep.Anchors, anchors.missing(walked)...)
	if scanErr != nil {
		return rep, scanErr
	}
	if err := rows.Err(); err != nil {
		return rep, s.mapErr(err)
	}
	fold := foldState
	if rep.FoldError == "" {
		rep.Fold = fold
	}

	// The projection tables and the head as stored, each field compared
	// with the fold — including the head's in-doubt count — and the head
	// checked against the newest event.
	b := &pgx.Batch{}
	tables, r := s.queueState(b, true)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		var corrupt *CorruptHeadError
		if !errors.As(err, &corrupt) {
			return rep, s.mapErr(err)
		}
		rep.Head = corrupt.Reason
		return rep, nil
	}
	r.upgrading = upgrading
	var corrupt *CorruptHeadError
	switch _, err := s.check(r); {
	case errors.As(err, &corrupt):
		rep.Head = corrupt.Reason
	case err != nil:
		return rep, err
	}
	if rep.FoldError == "" {
		tables.Seq, tables.Format, tables.SchemaVersion, tables.Digest, tables.Fingerprint = r.Seq, r.Format, r.SchemaVersion, r.Digest, r.Fingerprint
		rep.Projection = projector.Diff(fold, tables)
		if r.InDoubt != len(fold.InDoubt) {
			rep.Projection = append(rep.Projection, fmt.Sprintf("head in_doubt: want %d, got %d", len(fold.InDoubt), r.InDoubt))
		}
	}
	return rep, nil
}

func committedString(c projector.Committed) string {
	return fmt.Sprintf("format %d, digest %.12s, %d in doubt, schema version %q", c.Format, c.Digest, c.InDoubt, c.SchemaVersion)
}
