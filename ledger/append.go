package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/schema-ledger/ledger/projector"
)

// Append records events inside the caller's transaction tx, which must be
// open and at READ COMMITTED (the default). It locks the head row — call it
// after the transaction's own work (a migration's DDL), so the lock is held
// only until commit — then assigns each event its seq, id, time and actor,
// chains the hashes, folds each event into the projection tables exactly as
// projector.Step defines it, updates the head and notifies Channel() with
// the new seq. Two round trips, whatever the ledger's length.
//
// If the caller rolls back, nothing was recorded. An event the fold rejects
// (unknown type, newer payload version, a second migration.applied for the
// same id, …) fails the append before anything is written; the caller's
// transaction should then be rolled back.
//
// The store fills Seq, ID, RecordedAt (the server's clock), Actor (the
// database user), PrevHash and Hash; Host and AppVersion default to the
// store's. It returns the new head.
func (s *Store) Append(ctx context.Context, tx pgx.Tx, events ...Event) (Head, error) {
	if len(events) == 0 {
		return Head{}, fmt.Errorf("append: no events")
	}
	if st := tx.Conn().PgConn().TxStatus(); st != 'T' {
		return Head{}, fmt.Errorf("%w (transaction status %q)", ErrNotInTransaction, st)
	}
	var ids []string
	for _, e := range events {
		ids = append(ids, projector.IDs(e)...)
	}

	// Round trip 1: lock the head, then read (in new snapshots) the newest
	// event, the server's clock and user, and the projection rows the events touch.
	st := projector.NewState()
	var (
		r     headRow
		now   time.Time
		actor string
	)
	b := &pgx.Batch{}
	b.Queue(s.sql.lockHead).QueryRow(func(row pgx.Row) error { return row.Scan(r.dest()...) })
	b.Queue(s.sql.lastEvent).QueryRow(func(row pgx.Row) error {
		r.lastLoaded = true
		return row.Scan(&r.lastSeq, &r.lastHash, &now, &actor)
	})
	if len(ids) > 0 {
		queueRows(b, s.sql.touchedApplied, ids, st.Applied, scanApplied)
		queueRows(b, s.sql.touchedInDoubt, ids, st.InDoubt, scanInDoubt)
		queueRows(b, s.sql.touchedFailed, ids, st.Failed, scanFailed)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return Head{}, &CorruptHeadError{Schema: s.schema, Reason: "the head row is missing"}
		}
		return Head{}, s.mapErr(err)
	}
	h, err := s.check(&r)
	if err != nil {
		return Head{}, err
	}
	st.Seq, st.Format, st.Digest, st.SchemaVersion = h.Seq, h.Format, h.Digest, h.SchemaVersion
	if h.Seq == 0 {
		st.Format = 0 // the fold learns the format from ledger.initialized
	}

	// Round trip 2: the events, the projection rows, the head, the notification.
	w := &pgx.Batch{}
	out, err := s.queue(w, &st, now, actor, events)
	if err != nil {
		return Head{}, err
	}
	if err := tx.SendBatch(ctx, w).Close(); err != nil {
		return Head{}, fmt.Errorf("append: %w", s.mapErr(err))
	}
	return s.check(out)
}

// queue folds events into *st in place — in memory first, so a rejected
// event writes nothing — and queues the statements that record them: each
// event row (its hash chained in SQL to the event before it), the projection rows its
// change touches, the head update and the notification. The returned head
// row is filled when the batch runs. The head row must be locked.
func (s *Store) queue(b *pgx.Batch, st *projector.State, at time.Time, actor string, events []Event) (*headRow, error) {
	at = at.UTC().Truncate(time.Microsecond)
	var fp *projector.Fingerprint
	for i := range events {
		e := events[i]
		if !projector.KnownType(e.Type) {
			return nil, fmt.Errorf("append event %d: %w", i+1, &projector.UnknownTypeError{Type: e.Type})
		}
		if !json.Valid(e.Payload) {
			return nil, fmt.Errorf("append event %d (%s): payload is not valid JSON", i+1, e.Type)
		}
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		e.Seq, e.ID, e.RecordedAt, e.Actor = st.Seq+1, id.String(), at, actor
		if e.Host == "" {
			e.Host = s.host
		}
		if e.AppVersion == "" {
			e.AppVersion = s.appVersion
		}
		c, err := projector.Step(st, e)
		if err != nil {
			return nil, fmt.Errorf("append %s: %w", e.Type, err)
		}
		b.Queue(s.sql.insertEvent, e.Seq, e.ID, e.Type, e.PayloadVersion, string(e.Payload), e.RecordedAt, e.Actor, e.Host, e.AppVersion)
		if err := s.queueChange(b, c); err != nil {
			return nil, err
		}
		if c.Fingerprint != nil {
			fp = c.Fingerprint
		}
	}
	var fpValue *string
	var fpObjects *int32
	var fpSeq *int64
	if fp != nil {
		objects := int32(fp.Objects)
		fpValue, fpObjects, fpSeq = &fp.Value, &objects, &fp.Seq
	}
	out := &headRow{}
	b.Queue(s.sql.updateHead, st.Seq, st.Digest[:], st.Format, fpValue, fpObjects, fpSeq).
		QueryRow(func(row pgx.Row) error { return row.Scan(out.dest()...) })
	b.Queue(s.sql.notify, s.Channel(), strconv.FormatInt(st.Seq, 10))
	return out, nil
}

// queueChange queues the row writes of one projection change.
func (s *Store) queueChange(b *pgx.Batch, c projector.Change) error {
	for _, id := range c.DelApplied {
		b.Queue(s.sql.deleteApplied, id)
	}
	for _, m := range c.PutApplied {
		num, name, err := projector.ParseID(m.ID)
		if err != nil {
			return err
		}
		if num == "" {
			num = "0"
		}
		b.Queue(s.sql.insertApplied, num, name, m.ID, m.Checksum, m.Seq, m.AppliedAt, m.AppVersion, m.Actor, m.Host, m.Compatible, m.Transactional, m.DownChecksum)
	}
	for _, id := range c.DelInDoubt {
		b.Queue(s.sql.deleteInDoubt, id)
	}
	for _, d := range c.PutInDoubt {
		b.Queue(s.sql.upsertInDoubt, d.ID, d.Checksum, d.Seq, d.StartedAt, d.AppVersion, d.Actor, d.Host, d.Compatible, d.DownChecksum, d.StatementsDone, d.Error)
	}
	for _, id := range c.DelFailed {
		b.Queue(s.sql.deleteFailed, id)
	}
	for _, f := range c.PutFailed {
		b.Queue(s.sql.upsertFailed, f.ID, f.Checksum, f.Seq, f.FailedAt, f.AppVersion, f.Actor, f.Host, f.Error, f.SQLState, f.Statement, f.Attempt)
	}
	return nil
}
