package migrations

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

// session is one run under the migration lock: the connection holding the
// lock, and an Appender holding the ledger's state, so each migration costs
// one round trip: BEGIN, its SQL, the ledger's record and COMMIT in one
// simple query.
type session struct {
	r     *Runner
	conn  *pgx.Conn
	app   *ledger.Appender
	actor string // the connection's current_user
}

// record appends events in a transaction of their own, in one round trip.
func (s *session) record(ctx context.Context, events ...projector.Event) error {
	if f := s.transact(ctx, nil, "", events...); f != nil {
		return f.err
	}
	return nil
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
	_ = s.app.Done(nil)
	return pgx.BeginFunc(rctx, s.r.pool, func(tx pgx.Tx) error {
		_, err := s.r.store.Append(rctx, tx, ev)
		return err
	})
}

func (s *session) rollback(ctx context.Context) {
	if s.conn.PgConn().TxStatus() == 'I' {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, _ = s.conn.Exec(rctx, "ROLLBACK")
}

// transact runs SQL (a migration's body, made of stmts; or none) and
// records events in one transaction, in one round trip: BEGIN, the SQL, the
// Appender's statement and COMMIT go as one simple query. With SQL, the
// server sets the events' duration_ms to how long the transaction ran.
func (s *session) transact(ctx context.Context, stmts []Statement, body string, events ...projector.Event) *statementFailure {
	prefix := []string{"BEGIN"}
	if set := s.r.ddlLockTimeoutSQL(true); set != "" && body != "" {
		prefix = append(prefix, set)
	}
	record, err := s.app.Statement(ctx, ledger.Recording{Actor: s.actor, Timed: body != ""}, events...)
	if err != nil {
		return &statementFailure{err: err, index: -1}
	}
	var sql strings.Builder
	for _, p := range prefix {
		sql.WriteString(p + ";\n")
	}
	if body != "" {
		sql.WriteString(body + "\n;\n")
	}
	sql.WriteString(record + ";\nCOMMIT")
	results, err := s.conn.PgConn().Exec(ctx, sql.String()).ReadAll()
	if f := failureOf(results, err, len(prefix), stmts); f != nil {
		_ = s.app.Done(nil)
		s.rollback(ctx)
		if f.index == len(stmts) {
			f.err = fmt.Errorf("record in the ledger: %w", f.err)
		}
		return f
	}
	if err := s.app.Done(results[len(results)-2]); err != nil {
		return &statementFailure{err: fmt.Errorf("committed, but the ledger's answer is unreadable: %w", err), index: -1}
	}
	return nil
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
	ev, err := projector.NewEvent(projector.TypeMigrationApplied, applied)
	if err != nil {
		return err
	}
	failure := s.transact(ctx, m.UpStatements, m.UpBody, ev)
	if failure == nil {
		return nil
	}
	merr := s.r.migrationError(m, DirUp, failure)
	// The rollback undid the SQL; the failure is a fact worth keeping.
	ev, err = projector.NewEvent(projector.TypeMigrationFailed, projector.Failed{
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
		ev, err := event(0) // the server measures the transaction
		if err != nil {
			return source, err
		}
		if f := s.transact(ctx, m.UpStatements, m.UpBody, ev); f != nil {
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
