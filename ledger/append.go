package ledger

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

	// Round trip 2: one call records the events, their projection rows, the
	// head and the notification.
	w := &pgx.Batch{}
	out, err := s.queue(w, &st, nil, now, actor, events)
	if err != nil {
		return Head{}, err
	}
	if err := tx.SendBatch(ctx, w).Close(); err != nil {
		return Head{}, fmt.Errorf("append: %w", s.mapErr(err))
	}
	return s.check(out)
}

// queue folds events into *st in place — in memory first, so a rejected
// event writes nothing — and queues the one statement that records them: the
// append function gets each event and, in order, the projection rows its
// change puts or deletes, then updates the head and notifies. The returned
// head row is filled when the batch runs. With expect, the statement first
// locks the head where expect says it is; without, the caller has locked it.
func (s *Store) queue(b *pgx.Batch, st *projector.State, expect *Head, at time.Time, actor string, events []Event) (*headRow, error) {
	at = at.UTC().Truncate(time.Microsecond)
	var (
		fp  *projector.Fingerprint
		ops []any
	)
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
		ops = append(ops, eventOp{Op: "event", Seq: e.Seq, ID: e.ID, Type: e.Type, PayloadVersion: e.PayloadVersion, Payload: e.Payload, Host: e.Host, AppVersion: e.AppVersion})
		if ops, err = changeOps(ops, c); err != nil {
			return nil, err
		}
		if c.Fingerprint != nil {
			fp = c.Fingerprint
		}
	}
	opsJSON, err := json.Marshal(ops)
	if err != nil {
		return nil, err
	}
	var fpValue *string
	var fpObjects *int32
	var fpSeq *int64
	if fp != nil {
		objects := int32(fp.Objects)
		fpValue, fpObjects, fpSeq = &fp.Value, &objects, &fp.Seq
	}
	var (
		expSeq        *int64
		expHash       []byte
		schemaVersion *string
		inDoubt       *int32
	)
	if expect != nil {
		// The caller holds the whole state: the head's derived columns are known.
		n := int32(len(st.InDoubt))
		expSeq, expHash, schemaVersion, inDoubt = &expect.Seq, expect.Hash, &st.SchemaVersion, &n
	}
	out := &headRow{}
	b.Queue(s.sql.appendFn, expSeq, expHash, at, actor, string(opsJSON), st.Digest[:], st.Format, fpValue, fpObjects, fpSeq, s.Channel(), schemaVersion, inDoubt).
		QueryRow(func(row pgx.Row) error { return row.Scan(out.dest()...) })
	return out, nil
}

// The operations the append function performs, as JSON.
type (
	eventOp struct {
		Op             string          `json:"op"`
		Seq            int64           `json:"seq"`
		ID             string          `json:"id"`
		Type           string          `json:"type"`
		PayloadVersion int             `json:"payload_version"`
		Payload        json.RawMessage `json:"payload"`
		Host           string          `json:"host"`
		AppVersion     string          `json:"app_version"`
	}
	idOp struct {
		Op string `json:"op"`
		ID string `json:"id"`
	}
	rowOp struct {
		Op  string `json:"op"`
		Row any    `json:"row"`
	}
	// Rows carry the projection tables' column names.
	appliedRow struct {
		ID            string `json:"id"`
		Num           string `json:"num"`
		Name          string `json:"name"`
		Checksum      string `json:"checksum"`
		Seq           int64  `json:"seq"`
		AppliedAt     string `json:"applied_at"`
		AppVersion    string `json:"app_version"`
		Actor         string `json:"actor"`
		Host          string `json:"host"`
		Compatible    string `json:"compatible"`
		Transactional bool   `json:"transactional"`
		DownChecksum  string `json:"down_checksum"`
	}
	inDoubtRow struct {
		ID             string `json:"id"`
		Checksum       string `json:"checksum"`
		Seq            int64  `json:"seq"`
		StartedAt      string `json:"started_at"`
		AppVersion     string `json:"app_version"`
		Actor          string `json:"actor"`
		Host           string `json:"host"`
		Compatible     string `json:"compatible"`
		DownChecksum   string `json:"down_checksum"`
		StatementsDone int    `json:"statements_done"`
		Error          string `json:"error"`
	}
	failedRow struct {
		ID         string `json:"id"`
		Checksum   string `json:"checksum"`
		Seq        int64  `json:"seq"`
		FailedAt   string `json:"failed_at"`
		AppVersion string `json:"app_version"`
		Actor      string `json:"actor"`
		Host       string `json:"host"`
		Error      string `json:"error"`
		SQLState   string `json:"sqlstate"`
		Statement  string `json:"statement"`
		Attempt    int    `json:"attempt"`
	}
)

// pgTime renders a time exactly (microseconds, UTC) for timestamptz input.
func pgTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") }

// changeOps appends the row operations of one projection change, in the
// order projector.State.commit applies them.
func changeOps(ops []any, c projector.Change) ([]any, error) {
	for _, id := range c.DelApplied {
		ops = append(ops, idOp{"del_applied", id})
	}
	for _, m := range c.PutApplied {
		num, name, err := projector.ParseID(m.ID)
		if err != nil {
			return nil, err
		}
		ops = append(ops, rowOp{"put_applied", appliedRow{
			ID: m.ID, Num: cmp.Or(num, "0"), Name: name, Checksum: m.Checksum, Seq: m.Seq, AppliedAt: pgTime(m.AppliedAt),
			AppVersion: m.AppVersion, Actor: m.Actor, Host: m.Host, Compatible: m.Compatible,
			Transactional: m.Transactional, DownChecksum: m.DownChecksum,
		}})
	}
	for _, id := range c.DelInDoubt {
		ops = append(ops, idOp{"del_in_doubt", id})
	}
	for _, d := range c.PutInDoubt {
		ops = append(ops, rowOp{"put_in_doubt", inDoubtRow{
			ID: d.ID, Checksum: d.Checksum, Seq: d.Seq, StartedAt: pgTime(d.StartedAt), AppVersion: d.AppVersion,
			Actor: d.Actor, Host: d.Host, Compatible: d.Compatible, DownChecksum: d.DownChecksum,
			StatementsDone: d.StatementsDone, Error: d.Error,
		}})
	}
	for _, id := range c.DelFailed {
		ops = append(ops, idOp{"del_failed", id})
	}
	for _, f := range c.PutFailed {
		ops = append(ops, rowOp{"put_failed", failedRow{
			ID: f.ID, Checksum: f.Checksum, Seq: f.Seq, FailedAt: pgTime(f.FailedAt), AppVersion: f.AppVersion,
			Actor: f.Actor, Host: f.Host, Error: f.Error, SQLState: f.SQLState, Statement: f.Statement, Attempt: f.Attempt,
		}})
	}
	return ops, nil
}
