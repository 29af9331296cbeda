package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/schema-ledger/ledger/projector"
)

// ErrHeadMoved: another writer appended after the Appender last saw the
// head. The transaction fails (SQLSTATE 40001) and nothing is recorded.
var ErrHeadMoved = errors.New("ledger head moved: another writer appended")

// Appender records events for a writer that keeps the ledger's state in
// memory — a migrator holding the migration lock — so recording needs no
// read first: the statements it queues start by locking the head where the
// Appender last saw it (failing the transaction if another writer appended
// since) and go into the same batch as the transaction's COMMIT. A migration
// then costs two round trips: its SQL, and the batch that records and
// commits it.
//
// An Appender is not safe for concurrent use.
type Appender struct {
	s       *Store
	state   projector.State
	head    Head
	pending *headRow
	stale   bool
}

// NewAppender starts from a state and head read together (Store.State).
func (s *Store) NewAppender(state projector.State, head Head) *Appender {
	return &Appender{s: s, state: state.Clone(), head: head}
}

// State is the state as of the last successful batch. Do not modify it.
func (a *Appender) State() projector.State { return a.state }

// Head is the head as of the last successful batch.
func (a *Appender) Head() Head { return a.head }

// Queue adds to b, which must run inside a transaction (e.g. after a BEGIN
// queued or sent on the same connection), the statements that append events
// recorded at time at by actor — take both from the server, e.g.
// clock_timestamp() and current_user. Call Done with the batch's outcome
// before the next Queue.
func (a *Appender) Queue(ctx context.Context, b *pgx.Batch, at time.Time, actor string, events ...Event) error {
	if a.pending != nil {
		return fmt.Errorf("appender: Queue before Done")
	}
	if a.stale {
		state, head, err := a.s.State(ctx)
		if err != nil {
			return err
		}
		a.state, a.head, a.stale = state, head, false
	}
	out, err := a.s.queue(b, &a.state, &a.head, at, actor, events)
	if err != nil {
		a.stale = true // Step may have folded some of the events
		return err
	}
	a.pending = out
	return nil
}

// Done adopts the queued events when the batch succeeded; otherwise the
// Appender re-reads the ledger before its next Queue.
func (a *Appender) Done(ok bool) error {
	out := a.pending
	a.pending = nil
	if !ok {
		a.stale = true
		return nil
	}
	h, err := a.s.check(out)
	if err != nil {
		a.stale = true
		return err
	}
	a.head = h
	return nil
}

// IsHeadMoved reports whether err is the failure of an Appender's head lock.
func IsHeadMoved(err error) bool {
	var pgErr *pgconn.PgError
	return errors.Is(err, ErrHeadMoved) || errors.As(err, &pgErr) && pgErr.Code == "40001" && pgErr.Hint == "read the ledger again and retry"
}
