package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/schema-ledger/ledger/projector"
)

// Head is the ledger's head row: where the log ends and what it adds up to.
type Head struct {
	Seq           int64                  `json:"seq"`
	Hash          []byte                 `json:"-"`
	Format        int                    `json:"format"`
	SchemaVersion string                 `json:"schema_version"`
	Digest        projector.Digest       `json:"digest"`
	InDoubt       int                    `json:"in_doubt"`
	Fingerprint   *projector.Fingerprint `json:"fingerprint,omitempty"`
}

// headRow is the head as scanned, before it is checked.
type headRow struct {
	Head
	digest     []byte
	fp         *string
	fpObjects  *int32
	fpSeq      *int64
	lastSeq    *int64
	lastHash   []byte
	lastLoaded bool
	last       lastEvent // the newest event's state (and, when full, the whole row)
	// upgrading: the ledger is being upgraded in this transaction, so its
	// newest event may predate committed state.
	upgrading bool
}

// lastEvent is the newest event as the head's checks read it: always its
// committed state; with full, also every other column and its
// predecessor's hash, so its own hash and link can be recomputed.
type lastEvent struct {
	full                                  bool
	id, typ, payload, actor, host, appVer *string
	payloadVersion                        *int32
	recordedAt                            *time.Time
	prevHash, predHash                    []byte
	stateFormat, stateInDoubt             *int32
	stateDigest                           []byte
	stateSchemaVersion                    *string
}

func (r *headRow) dest() []any {
	return []any{&r.Seq, &r.Hash, &r.Format, &r.SchemaVersion, &r.digest, &r.InDoubt, &r.fp, &r.fpObjects, &r.fpSeq}
}

// stateDest scans the newest event's committed state.
func (r *headRow) stateDest() []any {
	l := &r.last
	return []any{&l.stateFormat, &l.stateDigest, &l.stateInDoubt, &l.stateSchemaVersion}
}

// headDest scans a row of the head query (statements.head): the head row
// and an event in full.
func (r *headRow) headDest() []any {
	l := &r.last
	l.full = true
	d := append(r.dest(), &r.lastSeq, &r.lastHash, &l.id, &l.typ, &l.payloadVersion, &l.payload, &l.recordedAt, &l.actor, &l.host, &l.appVer, &l.prevHash)
	return append(d, r.stateDest()...)
}

// scanHead reads the head query's rows (newest event first) into r: the
// head row with the newest event whole, and the hash of its predecessor
// when the second row is that event (seq one less: a gap leaves it nil); of
// the second row only its seq and hash are decoded. No row is a missing
// head (pgx.ErrNoRows).
func scanHead(rows pgx.Rows, r *headRow) error {
	defer rows.Close()
	var pred struct {
		seq  *int64
		hash []byte
	}
	n := 0
	for rows.Next() {
		if n++; n == 1 {
			if err := rows.Scan(r.headDest()...); err != nil {
				return err
			}
			continue
		}
		dest := make([]any, len(rows.FieldDescriptions())) // nil: not decoded
		dest[len(r.dest())], dest[len(r.dest())+1] = &pred.seq, &pred.hash
		if err := rows.Scan(dest...); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n == 0 {
		return pgx.ErrNoRows
	}
	if pred.seq != nil && r.lastSeq != nil && *pred.seq == *r.lastSeq-1 {
		r.last.predHash = pred.hash
	}
	return nil
}

// committed is the newest event's committed state, or nil if it has none.
func (l *lastEvent) committed() (*projector.Committed, error) {
	if l.stateFormat == nil && l.stateDigest == nil && l.stateInDoubt == nil && l.stateSchemaVersion == nil {
		return nil, nil
	}
	if l.stateFormat == nil || l.stateInDoubt == nil || l.stateSchemaVersion == nil {
		return nil, fmt.Errorf("state is partly NULL")
	}
	d, err := projector.ParseDigest(l.stateDigest)
	if err != nil {
		return nil, err
	}
	c := &projector.Committed{Format: int(*l.stateFormat), Digest: d, SchemaVersion: *l.stateSchemaVersion}
	if l.stateInDoubt != nil {
		c.InDoubt = int(*l.stateInDoubt)
	}
	return c, nil
}

// check validates the scanned head and finishes the Head: its values must
// be possible, it must point at the newest event, and it must equal the
// state that event committed in its hash (format, applied-set digest,
// in-doubt count, schema version). With the newest event read in full, that
// event's hash and its link to its predecessor are recomputed too, so an
// edited newest event or a forged head cannot pass — only a rewrite of the
// newest event and its hash, which verify (and an anchor outside the
// database) catch.
func (s *Store) check(r *headRow) (Head, error) {
	if r.Format > Format {
		return Head{}, &FormatError{Schema: s.schema, Found: r.Format, Supported: Format}
	}
	corrupt := func(format string, args ...any) (Head, error) {
		return r.Head, &CorruptHeadError{Schema: s.schema, Reason: fmt.Sprintf(format, args...)}
	}
	d, err := projector.ParseDigest(r.digest)
	if err != nil {
		return corrupt("applied-set %v", err)
	}
	r.Digest = d
	if r.fp != nil {
		f := projector.Fingerprint{Value: *r.fp}
		if r.fpObjects != nil {
			f.Objects = int(*r.fpObjects)
		}
		if r.fpSeq != nil {
			f.Seq = *r.fpSeq
		}
		r.Fingerprint = &f
	}
	switch {
	case r.Format < 1:
		return corrupt("format %d", r.Format)
	case len(r.Hash) != 32:
		return corrupt("hash is %d bytes, want 32", len(r.Hash))
	case r.Seq < 0:
		return corrupt("seq %d", r.Seq)
	case r.InDoubt < 0:
		return corrupt("in_doubt %d", r.InDoubt)
	}
	// An older ledger whose head checks out is not corrupt: it needs the
	// upgrade (Init), which this binary does not do on a read.
	older := func() (Head, error) {
		if r.Format < Format && !r.upgrading {
			return r.Head, &FormatError{Schema: s.schema, Found: r.Format, Supported: Format}
		}
		return r.Head, nil
	}
	if !r.lastLoaded {
		return older()
	}
	var last int64
	if r.lastSeq != nil {
		last = *r.lastSeq
	}
	if last != r.Seq {
		return corrupt("head says seq %d, the newest event is seq %d", r.Seq, last)
	}
	if last == 0 {
		return older()
	}
	if !bytes.Equal(r.lastHash, r.Hash) {
		return corrupt("head hash differs from the hash of event %d", last)
	}
	if r.fpSeq != nil && *r.fpSeq > r.Seq {
		return corrupt("the schema fingerprint was recorded at seq %d, after the head's seq %d", *r.fpSeq, r.Seq)
	}
	l := &r.last
	c, err := l.committed()
	if err != nil {
		return corrupt("event %d: committed %v", last, err)
	}
	if l.full {
		if l.id == nil || l.typ == nil || l.payloadVersion == nil || l.payload == nil || l.recordedAt == nil || l.actor == nil || l.host == nil || l.appVer == nil {
			return corrupt("event %d has NULL columns", last)
		}
		pred := l.predHash
		if last == 1 {
			pred = make([]byte, 32)
		}
		if pred == nil {
			return corrupt("event %d is missing: the newest event, %d, does not follow it", last-1, last)
		}
		if !bytes.Equal(l.prevHash, pred) {
			return corrupt("event %d does not chain from event %d (its prev_hash is not that event's hash)", last, last-1)
		}
		e := Event{Seq: last, ID: *l.id, Type: *l.typ, PayloadVersion: int(*l.payloadVersion), RecordedAt: *l.recordedAt,
			Actor: *l.actor, Host: *l.host, AppVersion: *l.appVer, State: c}
		if !bytes.Equal(EventHash(pred, e, *l.payload), r.lastHash) {
			return corrupt("the newest event (seq %d) does not match its hash: it was changed after it was recorded", last)
		}
	}
	if c == nil {
		if r.upgrading {
			return r.Head, nil
		}
		return corrupt("the newest event (seq %d) commits no state, though the ledger is in format %d", last, r.Format)
	}
	var diffs []string
	if c.Format != r.Format {
		diffs = append(diffs, fmt.Sprintf("format %d, committed %d", r.Format, c.Format))
	}
	if c.Digest != r.Digest {
		diffs = append(diffs, fmt.Sprintf("applied-set digest %.12s, committed %.12s", r.Digest, c.Digest))
	}
	if c.InDoubt != r.InDoubt {
		diffs = append(diffs, fmt.Sprintf("in doubt %d, committed %d", r.InDoubt, c.InDoubt))
	}
	if c.SchemaVersion != r.SchemaVersion {
		diffs = append(diffs, fmt.Sprintf("schema version %q, committed %q", r.SchemaVersion, c.SchemaVersion))
	}
	if len(diffs) > 0 {
		return corrupt("it differs from the state event %d committed: %s", last, strings.Join(diffs, "; "))
	}
	return older()
}

// Head reads the head row and checks it against the newest event: one row
// read and one index probe, in one statement, without any lock — it never
// waits behind a running migration. A head that does not match its newest
// event is returned together with a *CorruptHeadError.
func (s *Store) Head(ctx context.Context) (Head, error) {
	return s.headFrom(ctx, s.db)
}

func (s *Store) headFrom(ctx context.Context, q DB) (Head, error) {
	var r headRow
	rows, err := q.Query(ctx, s.sql.head)
	if err == nil {
		err = scanHead(rows, &r)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return Head{}, &CorruptHeadError{Schema: s.schema, Reason: "the head row is missing"}
	}
	if err != nil {
		return Head{}, s.mapErr(err)
	}
	r.lastLoaded = true
	return s.check(&r)
}

// State reads the projection tables and the head in one snapshot (a
// read-only repeatable-read transaction) and returns them as a
// projector.State, in one round trip: the transaction's BEGIN, the reads and
// its COMMIT go as one pipelined batch. It takes no lock.
func (s *Store) State(ctx context.Context) (projector.State, Head, error) {
	return s.StateWith(ctx)
}

// Probe is a read that goes with the state's (StateWith): its query runs
// in the state's snapshot and round trip, and Scan reads its rows.
type Probe struct {
	SQL  string
	Args []any
	Scan func(pgx.Rows) error
}

// EventsExist is a Probe that sets *found when the ledger holds an event
// of one of types (one probe of the (type, seq) index).
func (s *Store) EventsExist(found *bool, types ...string) Probe {
	return Probe{
		SQL:  "SELECT EXISTS (SELECT 1 FROM " + s.q + ".events WHERE type = ANY($1))",
		Args: []any{types},
		Scan: func(rows pgx.Rows) error {
			defer rows.Close()
			for rows.Next() {
				if err := rows.Scan(found); err != nil {
					return err
				}
			}
			return rows.Err()
		},
	}
}

// StateWith is State with the probes' reads in the same snapshot and the
// same round trip: a reader that needs a fact or two beside the state (has
// a history ever been adopted?) asks for it without a round trip of its
// own. A probe's error fails the read.
func (s *Store) StateWith(ctx context.Context, probes ...Probe) (projector.State, Head, error) {
	return s.stateWith(ctx, true, probes)
}

// VerdictState is StateWith without the failures (the State's Failed is
// empty): what a verdict stands on — policy.Evaluate reads the applied
// migrations and those in doubt — still checked to add up to the head.
// It is what a check reads when the head is not at its release's digest:
// on a fresh connection every table read is a table to open (~0.4 ms),
// and a failure is no part of a verdict.
func (s *Store) VerdictState(ctx context.Context, probes ...Probe) (projector.State, Head, error) {
	return s.stateWith(ctx, false, probes)
}

func (s *Store) stateWith(ctx context.Context, failed bool, probes []Probe) (projector.State, Head, error) {
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
	st, r := s.queueState(b, failed)
	for _, p := range probes {
		b.Queue(p.SQL, p.Args...).Query(p.Scan)
	}
	b.Queue("COMMIT")
	if err := s.db.SendBatch(ctx, b).Close(); err != nil {
		// A pool drops a connection left in a transaction; a single
		// connection must be brought back out of it.
		if c, ok := s.db.(interface{ PgConn() *pgconn.PgConn }); ok && c.PgConn().TxStatus() != 'I' {
			_, _ = s.db.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
		return st, Head{}, s.mapErr(err)
	}
	return s.finishState(st, r)
}

// LockedState reads the state in tx, an open READ COMMITTED transaction,
// under the head's lock: until tx ends no other writer commits an event,
// so what it reads is the ledger's last word. It is for a writer that lost
// track of a transaction of its own (its connection died before COMMIT was
// acknowledged) and must know whether that committed before it records
// anything: the lost transaction has committed its record by now, or never
// will.
func (s *Store) LockedState(ctx context.Context, tx pgx.Tx) (projector.State, Head, error) {
	b := &pgx.Batch{}
	b.Queue(s.sql.lockHead)
	st, r := s.queueState(b, true) // statements after the lock: their snapshots see what committed before it
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return st, Head{}, s.WriteErr(err)
	}
	return s.finishState(st, r)
}

// queueState queues the reads of the head and the projection tables (the
// failures only with failed).
func (s *Store) queueState(b *pgx.Batch, failed bool) (projector.State, *headRow) {
	st := projector.NewState()
	r := &headRow{}
	b.Queue(s.sql.head).Query(func(rows pgx.Rows) error {
		err := scanHead(rows, r)
		if errors.Is(err, pgx.ErrNoRows) {
			return &CorruptHeadError{Schema: s.schema, Reason: "the head row is missing"}
		}
		r.lastLoaded = err == nil
		return err
	})
	queueRows(b, s.sql.selectApplied, nil, st.Applied, scanApplied)
	queueRows(b, s.sql.selectInDoubt, nil, st.InDoubt, scanInDoubt)
	if failed {
		queueRows(b, s.sql.selectFailed, nil, st.Failed, scanFailed)
	}
	return st, r
}

func (s *Store) finishState(st projector.State, r *headRow) (projector.State, Head, error) {
	h, err := s.check(r)
	if err != nil {
		return st, h, err
	}
	st.Seq, st.Format, st.SchemaVersion, st.Digest, st.Fingerprint = h.Seq, h.Format, h.SchemaVersion, h.Digest, h.Fingerprint
	if diffs := projectionDiffs(st, h); len(diffs) > 0 {
		return st, h, &CorruptHeadError{Schema: s.schema, Reason: "the projection tables differ from the head: " + strings.Join(diffs, "; ")}
	}
	return st, h, nil
}

// projectionDiffs compares what the projection tables add up to with the
// head (which check has compared with the newest event's committed state):
// the applied rows' digest and newest id, and the number of rows in doubt.
// O(applied) hashing, no extra read: it is what makes a forged applied or
// in_doubt row visible to every reader of the state.
func projectionDiffs(st projector.State, h Head) []string {
	var diffs []string
	sums := make(map[string]string, len(st.Applied))
	newest := ""
	for id, m := range st.Applied {
		sums[id] = m.Checksum
		if newest == "" || projector.CompareIDs(id, newest) > 0 {
			newest = id
		}
	}
	if d := projector.DigestOf(sums); d != h.Digest {
		diffs = append(diffs, fmt.Sprintf("the %d applied rows add up to digest %.12s, the head says %.12s", len(st.Applied), d, h.Digest))
	}
	if newest != h.SchemaVersion {
		diffs = append(diffs, fmt.Sprintf("the newest applied row is %q, the head's schema version %q", newest, h.SchemaVersion))
	}
	if len(st.InDoubt) != h.InDoubt {
		diffs = append(diffs, fmt.Sprintf("%d rows in doubt, the head says %d", len(st.InDoubt), h.InDoubt))
	}
	return diffs
}

// queueRows queues a query whose rows are scanned into a map by id.
func queueRows[T any](b *pgx.Batch, sql string, arg any, into map[string]T, scan func(pgx.Rows) (string, T, error)) {
	var qq *pgx.QueuedQuery
	if arg != nil {
		qq = b.Queue(sql, arg)
	} else {
		qq = b.Queue(sql)
	}
	qq.Query(func(rows pgx.Rows) error {
		for rows.Next() {
			id, v, err := scan(rows)
			if err != nil {
				return err
			}
			into[id] = v
		}
		return rows.Err()
	})
}

func scanApplied(rows pgx.Rows) (string, projector.Migration, error) {
	var m projector.Migration
	err := rows.Scan(&m.ID, &m.Checksum, &m.Seq, &m.AppliedAt, &m.AppVersion, &m.Actor, &m.Host, &m.Compatible, &m.Transactional, &m.DownChecksum, &m.Accepted)
	m.AppliedAt = m.AppliedAt.UTC()
	if len(m.Accepted) == 0 {
		m.Accepted = nil
	}
	return m.ID, m, err
}

func scanInDoubt(rows pgx.Rows) (string, projector.InDoubt, error) {
	var d projector.InDoubt
	err := rows.Scan(&d.ID, &d.Checksum, &d.Seq, &d.StartedAt, &d.AppVersion, &d.Actor, &d.Host, &d.Compatible, &d.DownChecksum, &d.StatementsDone, &d.Error, &d.LeftBehind)
	if len(d.LeftBehind) == 0 {
		d.LeftBehind = nil
	}
	d.StartedAt = d.StartedAt.UTC()
	return d.ID, d, err
}

func scanFailed(rows pgx.Rows) (string, projector.Failure, error) {
	var f projector.Failure
	err := rows.Scan(&f.ID, &f.Checksum, &f.Seq, &f.FailedAt, &f.AppVersion, &f.Actor, &f.Host, &f.Error, &f.SQLState, &f.Statement, &f.Attempt)
	f.FailedAt = f.FailedAt.UTC()
	return f.ID, f, err
}
