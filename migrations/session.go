package migrations

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

// session is one run under the migration lock: the connection holding the
// lock, and an Appender holding the ledger's state, so each migration costs
// two round trips (its SQL; the ledger's statements and COMMIT).
type session struct {
	r    *Runner
	conn *pgx.Conn
	app  *ledger.Appender
}

// clockSQL reads the server's time and user: what events are recorded with.
const clockSQL = "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint, current_user"

func (s *session) clock(ctx context.Context) (time.Time, string, error) {
	var us int64
	var actor string
	err := s.conn.QueryRow(ctx, clockSQL).Scan(&us, &actor)
	return time.UnixMicro(us).UTC(), actor, err
}

// record appends events in a transaction of their own.
func (s *session) record(ctx context.Context, events ...projector.Event) error {
	at, actor, err := s.clock(ctx)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	if err := s.app.Queue(ctx, b, at, actor, events...); err != nil {
		return err
	}
	b.Queue("COMMIT")
	return s.finish(ctx, s.conn.SendBatch(ctx, b).Close())
}

// recordAfterFailure records the failure of something that was rolled back;
// it runs even when ctx was cancelled (Ctrl-C), with a bound of its own. A
// cancelled query can cost the connection — and the migration lock with it —
// so then it records on a fresh connection through the store's own append,
// which is safe for any writer.
func (s *session) recordAfterFailure(ctx context.Context, ev projector.Event) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if !s.conn.IsClosed() {
		return s.record(rctx, ev)
	}
	_ = s.app.Done(false)
	return pgx.BeginFunc(rctx, s.r.pool, func(tx pgx.Tx) error {
		_, err := s.r.store.Append(rctx, tx, ev)
		return err
	})
}

// finish settles a batch: adopt its events on success; on failure roll back
// whatever is still open and make the Appender re-read the ledger.
func (s *session) finish(ctx context.Context, err error) error {
	if err == nil {
		return s.app.Done(true)
	}
	_ = s.app.Done(false)
	s.rollback(ctx)
	return err
}

func (s *session) rollback(ctx context.Context) {
	if s.conn.PgConn().TxStatus() == 'I' {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, _ = s.conn.Exec(rctx, "ROLLBACK")
}

// transact runs SQL and records the event it makes in one transaction, in
// two round trips: BEGIN, the SQL and a clock read as one simple query; then
// the ledger's statements and COMMIT as one batch.
func (s *session) transact(ctx context.Context, body string, stmts []Statement, event func(time.Duration) (projector.Event, error)) *statementFailure {
	t0 := time.Now()
	prefix := []string{"BEGIN"}
	if set := s.r.ddlLockTimeoutSQL(true); set != "" {
		prefix = append(prefix, set)
	}
	sql := strings.Join(prefix, ";\n") + ";\n" + body + "\n;\n" + clockSQL
	results, err := s.conn.PgConn().Exec(ctx, sql).ReadAll()
	if f := failureOf(results, err, len(prefix), stmts); f != nil {
		s.rollback(ctx)
		return f
	}
	at, actor, err := parseClock(results[len(results)-1])
	var ev projector.Event
	if err == nil {
		ev, err = event(time.Since(t0))
	}
	b := &pgx.Batch{}
	if err == nil {
		err = s.app.Queue(ctx, b, at, actor, ev)
	}
	if err != nil {
		s.rollback(ctx)
		return &statementFailure{err: err}
	}
	b.Queue("COMMIT")
	if err := s.finish(ctx, s.conn.SendBatch(ctx, b).Close()); err != nil {
		return &statementFailure{err: err}
	}
	return nil
}

func parseClock(res *pgconn.Result) (time.Time, string, error) {
	if len(res.Rows) != 1 || len(res.Rows[0]) != 2 {
		return time.Time{}, "", fmt.Errorf("reading the server clock: unexpected result")
	}
	us, err := strconv.ParseInt(string(res.Rows[0][0]), 10, 64)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("reading the server clock: %w", err)
	}
	return time.UnixMicro(us).UTC(), string(res.Rows[0][1]), nil
}

// apply runs one migration and records it.
func (s *session) apply(ctx context.Context, m Migration) error {
	applied := projector.Applied{
		ID: m.ID, Checksum: m.Checksum, Compatible: m.Compatible, Transactional: m.Transactional(),
	}
	if m.DownFile != "" {
		applied.DownSQL, applied.DownChecksum = m.Down, m.DownChecksum
	}
	attempt := s.app.State().Failed[m.ID].Attempt + 1
	if !m.Transactional() {
		return s.applyNoTx(ctx, m, applied, attempt)
	}
	failure := s.transact(ctx, m.UpBody, m.UpStatements, func(d time.Duration) (projector.Event, error) {
		applied.DurationMS = d.Milliseconds()
		return projector.NewEvent(projector.TypeMigrationApplied, applied)
	})
	if failure == nil {
		return nil
	}
	merr := s.r.migrationError(m, DirUp, failure)
	// The rollback undid the SQL; the failure is a fact worth keeping.
	ev, err := projector.NewEvent(projector.TypeMigrationFailed, projector.Failed{
		ID: m.ID, Checksum: m.Checksum, Error: failure.err.Error(), SQLState: merr.SQLState,
		Statement: oneLine(merr.Statement, 2000), Attempt: attempt,
	})
	if err == nil {
		err = s.recordAfterFailure(ctx, ev)
	}
	if err != nil {
		return errors.Join(merr, fmt.Errorf("record the failure of %s: %w", m.ID, err))
	}
	s.r.cfg.logger.Error("migration failed", "id", m.ID, "sqlstate", merr.SQLState, "error", failure.err)
	return merr
}

// applyNoTx runs a no-transaction migration statement by statement, between
// migration.started and migration.applied. A crash in between leaves it in doubt.
func (s *session) applyNoTx(ctx context.Context, m Migration, applied projector.Applied, attempt int) error {
	started, err := projector.NewEvent(projector.TypeMigrationStarted, projector.Started{
		ID: m.ID, Checksum: m.Checksum, Compatible: m.Compatible, DownSQL: applied.DownSQL, DownChecksum: applied.DownChecksum,
	})
	if err != nil {
		return err
	}
	if err := s.record(ctx, started); err != nil {
		return err
	}
	t0 := time.Now()
	reset, err := s.sessionLockTimeout(ctx)
	if err != nil {
		return err
	}
	defer reset()
	for i, st := range m.UpStatements {
		if _, err := s.conn.Exec(ctx, st.Text); err != nil {
			merr := s.r.migrationError(m, DirUp, &statementFailure{err: err, index: i, known: true})
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) {
				// No answer from the server: whether the statement took
				// effect is unknown. Leave it in doubt for an operator.
				merr.InDoubt = true
				return merr
			}
			merr.InDoubt = i > 0
			failed, ferr := projector.NewEvent(projector.TypeMigrationFailed, projector.Failed{
				ID: m.ID, Checksum: m.Checksum, Error: err.Error(), SQLState: pgErr.Code,
				Statement: oneLine(st.Text, 2000), Attempt: attempt, StatementsDone: i,
			})
			if ferr == nil {
				ferr = s.recordAfterFailure(ctx, failed)
			}
			if ferr != nil {
				merr.InDoubt = true
				return errors.Join(merr, fmt.Errorf("record the failure of %s: %w", m.ID, ferr))
			}
			return merr
		}
	}
	applied.DurationMS = time.Since(t0).Milliseconds()
	ev, err := projector.NewEvent(projector.TypeMigrationApplied, applied)
	if err != nil {
		return err
	}
	if err := s.record(ctx, ev); err != nil {
		return &MigrationError{ID: m.ID, Direction: DirUp, File: m.UpFile, Err: fmt.Errorf("its statements ran, but recording migration.applied failed: %w", err), InDoubt: true}
	}
	return nil
}

// sessionLockTimeout sets lock_timeout for statements run outside a
// transaction, and returns what restores it.
func (s *session) sessionLockTimeout(ctx context.Context) (func(), error) {
	set := s.r.ddlLockTimeoutSQL(false)
	if set == "" {
		return func() {}, nil
	}
	if _, err := s.conn.Exec(ctx, set); err != nil {
		return nil, err
	}
	return func() { _, _ = s.conn.Exec(context.WithoutCancel(ctx), "RESET lock_timeout") }, nil
}

// revert runs one down step and records it; it returns the down source.
func (s *session) revert(ctx context.Context, step Step) (string, error) {
	var (
		m      Migration
		source = projector.DownFromFile
	)
	if step.Migration != nil {
		m = *step.Migration
		m.UpBody, m.UpStatements, m.UpFile = m.DownBody, m.DownStatements, m.DownFile
		m.NoTransaction = m.DownNoTransaction
	} else {
		source = projector.DownFromRecorded
		rec, err := s.r.recordedDown(ctx, step.ID)
		if err != nil {
			return source, err
		}
		m = rec
	}
	event := func(d time.Duration) (projector.Event, error) {
		return projector.NewEvent(projector.TypeMigrationReverted, projector.Reverted{
			ID: step.ID, Source: source, DownChecksum: downChecksum(m), DurationMS: d.Milliseconds(),
		})
	}
	if m.Transactional() {
		if f := s.transact(ctx, m.UpBody, m.UpStatements, event); f != nil {
			return source, s.r.migrationError(m, DirDown, f)
		}
		return source, nil
	}
	t0 := time.Now()
	reset, err := s.sessionLockTimeout(ctx)
	if err != nil {
		return source, err
	}
	defer reset()
	for i, st := range m.UpStatements {
		if _, err := s.conn.Exec(ctx, st.Text); err != nil {
			return source, s.r.migrationError(m, DirDown, &statementFailure{err: err, index: i, known: true})
		}
	}
	ev, err := event(time.Since(t0))
	if err != nil {
		return source, err
	}
	return source, s.record(ctx, ev)
}

// fingerprint records a digest of the catalog once at the end of a run.
func (s *session) fingerprint(ctx context.Context) error {
	fp, n, err := Fingerprint(ctx, s.conn, s.r.store.Schema())
	if err != nil {
		return fmt.Errorf("fingerprint the schema: %w", err)
	}
	ev, err := projector.NewEvent(projector.TypeSchemaFingerprinted, projector.Fingerprinted{Fingerprint: fp, Objects: n})
	if err != nil {
		return err
	}
	return s.record(ctx, ev)
}
