package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/schema-ledger/ledger/projector"
)

// Appender records events for a writer that keeps the ledger's state in
// memory — a migrator holding the migration lock — so recording needs no
// read first. Statement gives one SQL statement that checks the head is
// where the Appender last saw it (failing the transaction otherwise) and
// records the events; its values are quoted in, so it can go in one simple
// query with the transaction's own SQL and its COMMIT. A migration then
// costs one round trip: BEGIN, its SQL, the record and COMMIT together —
// and a writer may send the next transaction before the last one's answer
// arrives (pipelining): Statements may be outstanding, settled by Done in
// the order they were made.
//
// An Appender is not safe for concurrent use.
type Appender struct {
	s       *Store
	state   projector.State // with the events of the outstanding statements folded in
	head    Head            // as of the last settled statement
	pending []*appendCall   // outstanding statements, oldest first
	stale   bool
}

// NewAppender starts from a state and head read together (Store.State).
func (s *Store) NewAppender(state projector.State, head Head) *Appender {
	return &Appender{s: s, state: state.Clone(), head: head}
}

// State is the state with every statement made so far folded in, the
// outstanding ones too. Do not modify it.
func (a *Appender) State() projector.State { return a.state }

// Head is the head as of the last statement settled as committed.
func (a *Appender) Head() Head { return a.head }

// Recording says how an Appender's statement records its events.
type Recording struct {
	// Actor is the session's current_user, which the events are recorded by.
	Actor string
	// Timed: the server sets each event payload's duration_ms to the
	// milliseconds from the transaction's start to the record — the
	// duration of a migration run in the same transaction. The payload must
	// have a duration_ms field.
	Timed bool
}

// Statement returns the statement that appends events at the server's
// clock, read under the head lock. Run it inside a transaction, after the
// transaction's own work, and pass its result to Done — or nil if the
// transaction did not commit. With statements outstanding, it expects the
// head where they will have left it (by seq: their hashes are not known
// yet), so it fails unless every one of them committed. An event the fold
// rejects is an error here, before anything is sent.
func (a *Appender) Statement(ctx context.Context, rec Recording, events ...Event) (string, error) {
	if a.stale {
		if len(a.pending) > 0 {
			return "", fmt.Errorf("appender: an outstanding statement failed; settle them all before the next")
		}
		state, head, err := a.s.State(ctx)
		if err != nil {
			return "", err
		}
		a.state, a.head, a.stale = state, head, false
	}
	expect := a.head
	if len(a.pending) > 0 {
		expect = Head{Seq: a.state.Seq}
	}
	call, err := a.s.prepare(&a.state, &expect, time.Time{}, rec, events)
	var sql string
	if err == nil {
		sql, err = call.text(a.s.q)
	}
	if err != nil {
		a.stale = true // Step may have folded some of the events
		return "", err
	}
	a.pending = append(a.pending, call)
	return sql, nil
}

// Withdraw takes back the newest outstanding Statement, which was never
// sent. Its events were folded into the state, so the Appender re-reads
// the ledger once nothing is outstanding.
func (a *Appender) Withdraw() {
	if n := len(a.pending); n > 0 {
		a.pending = a.pending[:n-1]
		a.stale = true
	}
}

// Done settles the oldest outstanding Statement. res is its result once
// the transaction committed: the Appender adopts the new head and stamps
// what the events put into its state with the time the server recorded
// them at. With a nil res (the transaction failed or was rolled back) the
// Appender re-reads the ledger before its next Statement; the statements
// still outstanding then cannot commit, and their Done only settles them.
func (a *Appender) Done(res *pgconn.Result) error {
	var call *appendCall
	if len(a.pending) > 0 {
		call, a.pending = a.pending[0], a.pending[1:]
	}
	if res == nil || call == nil || a.stale {
		a.stale = true
		return nil
	}
	r, at, err := a.s.parseTextHead(res)
	var h Head
	if err == nil {
		h, err = a.s.check(r)
	}
	if err != nil {
		a.stale = true
		return err
	}
	// A row put and deleted again within the batch is no longer there.
	for _, id := range call.putApplied {
		if m, ok := a.state.Applied[id]; ok {
			m.AppliedAt = at
			a.state.Applied[id] = m
		}
	}
	for _, id := range call.putInDoubt {
		if d, ok := a.state.InDoubt[id]; ok {
			d.StartedAt = at
			a.state.InDoubt[id] = d
		}
	}
	for _, id := range call.putFailed {
		if f, ok := a.state.Failed[id]; ok {
			f.FailedAt = at
			a.state.Failed[id] = f
		}
	}
	a.head = h
	return nil
}
