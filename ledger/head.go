package ledger

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"

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

// HashHex is the head hash in hex.
func (h Head) HashHex() string { return hex.EncodeToString(h.Hash) }

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
}

func (r *headRow) dest() []any {
	return []any{&r.Seq, &r.Hash, &r.Format, &r.SchemaVersion, &r.digest, &r.InDoubt, &r.fp, &r.fpObjects, &r.fpSeq}
}

// check validates the scanned head and finishes the Head.
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
	if r.lastLoaded {
		var last int64
		if r.lastSeq != nil {
			last = *r.lastSeq
		}
		if last != r.Seq {
			return corrupt("head says seq %d, the newest event is seq %d", r.Seq, last)
		}
		if last > 0 && !bytes.Equal(r.lastHash, r.Hash) {
			return corrupt("head hash differs from the hash of event %d", last)
		}
	}
	return r.Head, nil
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
	err := q.QueryRow(ctx, s.sql.head).Scan(append(r.dest(), &r.lastSeq, &r.lastHash)...)
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
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
	st, r := s.queueState(b)
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

func (s *Store) stateIn(ctx context.Context, tx pgx.Tx) (projector.State, Head, error) {
	b := &pgx.Batch{}
	st, r := s.queueState(b)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return st, Head{}, s.mapErr(err)
	}
	return s.finishState(st, r)
}

// queueState queues the reads of the head and the projection tables.
func (s *Store) queueState(b *pgx.Batch) (projector.State, *headRow) {
	st := projector.NewState()
	r := &headRow{}
	b.Queue(s.sql.head).QueryRow(func(row pgx.Row) error {
		err := row.Scan(append(r.dest(), &r.lastSeq, &r.lastHash)...)
		if errors.Is(err, pgx.ErrNoRows) {
			return &CorruptHeadError{Schema: s.schema, Reason: "the head row is missing"}
		}
		r.lastLoaded = err == nil
		return err
	})
	queueRows(b, s.sql.selectApplied, nil, st.Applied, scanApplied)
	queueRows(b, s.sql.selectInDoubt, nil, st.InDoubt, scanInDoubt)
	queueRows(b, s.sql.selectFailed, nil, st.Failed, scanFailed)
	return st, r
}

func (s *Store) finishState(st projector.State, r *headRow) (projector.State, Head, error) {
	h, err := s.check(r)
	if err != nil {
		return st, h, err
	}
	st.Seq, st.Format, st.SchemaVersion, st.Digest, st.Fingerprint = h.Seq, h.Format, h.SchemaVersion, h.Digest, h.Fingerprint
	return st, h, nil
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
	err := rows.Scan(&m.ID, &m.Checksum, &m.Seq, &m.AppliedAt, &m.AppVersion, &m.Actor, &m.Host, &m.Compatible, &m.Transactional, &m.DownChecksum)
	m.AppliedAt = m.AppliedAt.UTC()
	return m.ID, m, err
}

func scanInDoubt(rows pgx.Rows) (string, projector.InDoubt, error) {
	var d projector.InDoubt
	err := rows.Scan(&d.ID, &d.Checksum, &d.Seq, &d.StartedAt, &d.AppVersion, &d.Actor, &d.Host, &d.Compatible, &d.DownChecksum, &d.StatementsDone, &d.Error)
	d.StartedAt = d.StartedAt.UTC()
	return d.ID, d, err
}

func scanFailed(rows pgx.Rows) (string, projector.Failure, error) {
	var f projector.Failure
	err := rows.Scan(&f.ID, &f.Checksum, &f.Seq, &f.FailedAt, &f.AppVersion, &f.Actor, &f.Host, &f.Error, &f.SQLState, &f.Statement, &f.Attempt)
	f.FailedAt = f.FailedAt.UTC()
	return f.ID, f, err
}
