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
// one round trip — BEGIN, its SQL, the ledger's record and COMMIT in one
// simple query — and the next transactional migration's query is sent
// before the answer to the current one is read, so the server never waits
// for the client in between.
type session struct {
	r     *Runner
	conn  *pgx.Conn
	store *ledger.Store // the ledger through conn
	app   *ledger.Appender
	actor string    // the connection's current_user
	dir   Direction // of the run
	next  *Step     // the step after the current one, to send ahead
	sent  *flight   // next's transaction, sent ahead
}

// txStep is what a step runs in one transaction with its event.
type txStep struct {
	m       Migration // what runs: a down step carries its down SQL in the Up fields
	source  string    // down: where that SQL came from
	applied projector.Applied
	attempt int // up: the attempt a failure is recorded as
}

// flight is a transaction sent whose answer is not read yet.
type flight struct {
	step   *txStep // nil: a record of the session's own
	stmts  []Statement
	body   bool
	prefix int
}

// maxAhead bounds the query sent before the last answer is read: one that
// fits in the socket buffers, so sending it never waits for the server,
// which may be busy sending that answer.
const maxAhead = 16 << 10

// record appends events in a transaction of their own, in one round trip.
func (s *session) record(ctx context.Context, events ...projector.Event) error {
	fl, err := s.send(ctx, nil, nil, "", 0, events...)
	if err != nil {
		return err
	}
	if f := s.wait(ctx, fl); f != nil {
		s.rollback(ctx)
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
	// A connection of its own, not one from the pool, which may have
	// none to spare while this run still holds the dead one.
	conn, err := pgx.ConnectConfig(rctx, s.r.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(rctx)
	return pgx.BeginFunc(rctx, conn, func(tx pgx.Tx) error {
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

// send sends one transaction — BEGIN, SQL (a migration's body, made of
// stmts; or none), the Appender's statement recording events and COMMIT —
// as one simple query, without waiting for the answer. With SQL, deferred
// constraints are checked before the record, so once the record is reached
// nothing but the COMMIT itself can fail, and the server sets the events'
// duration_ms to how long the transaction ran. A query longer than limit
// (if not 0) is not sent: nil, nil.
func (s *session) send(ctx context.Context, step *txStep, stmts []Statement, body string, limit int, events ...projector.Event) (*flight, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	prefix := []string{"BEGIN"}
	if set := s.r.ddlLockTimeoutSQL(true); set != "" && body != "" {
		prefix = append(prefix, set)
	}
	record, err := s.app.Statement(ctx, ledger.Recording{Actor: s.actor, Timed: body != ""}, events...)
	if err != nil {
		return nil, err
	}
	var sql strings.Builder
	for _, p := range prefix {
		sql.WriteString(p + ";\n")
	}
	if body != "" {
		sql.WriteString(body + "\n;\nSET CONSTRAINTS ALL IMMEDIATE;\n")
	}
	sql.WriteString(record + ";\nCOMMIT")
	if limit > 0 && sql.Len() > limit {
		s.app.Withdraw()
		return nil, nil
	}
	if err := sendQuery(ctx, s.conn.PgConn(), sql.String()); err != nil {
		s.app.Withdraw()
		return nil, err
	}
	return &flight{step: step, stmts: stmts, body: body != "", prefix: len(prefix)}, nil
}

// wait reads the answer to a flight and settles its record with the
// Appender. A failure says which statement failed; the transaction is then
// left for the caller to roll back.
func (s *session) wait(ctx context.Context, fl *flight) *statementFailure {
	results, err := readQuery(ctx, s.conn.PgConn())
	if f := failureOf(results, err, fl.prefix, fl.stmts); f != nil {
		_ = s.app.Done(nil)
		// After the SQL come [SET CONSTRAINTS,] the record and COMMIT.
		if k := f.index - len(fl.stmts); k >= 0 {
			tail := []string{"record in the ledger", "commit"}
			if fl.body {
				tail = append([]string{"at the end of the transaction (deferred constraints)"}, tail...)
			}
			if k < len(tail) {
				f.err = fmt.Errorf("%s: %w", tail[k], f.err)
			}
		}
		return f
	}
	if err := s.app.Done(results[len(results)-2]); err != nil {
		return &statementFailure{err: fmt.Errorf("committed, but the ledger's answer is unreadable: %w", err), index: -1}
	}
	return nil
}

// discard reads and drops the answer to the oldest flight not yet read —
// one sent ahead of a step that failed: it cannot have committed (it ran in
// the failed transaction, or its record found the head short of the
// failed step).
func (s *session) discard(ctx context.Context) {
	_, _ = readQuery(context.WithoutCancel(ctx), s.conn.PgConn())
	_ = s.app.Done(nil)
}

// settle discards a transaction still sent ahead when a run ends early.
func (s *session) settle(ctx context.Context) {
	if s.sent != nil {
		s.discard(ctx)
		s.sent = nil
		s.rollback(ctx)
	}
}

// stepFor is the txStep of a step: the one sent ahead, or a new one.
func (s *session) stepFor(ctx context.Context, step Step) (*txStep, error) {
	if s.sent != nil && s.sent.step.m.ID == step.ID {
		return s.sent.step, nil
	}
	if s.dir == DirDown {
		return s.downStep(ctx, step)
	}
	return s.upStep(*step.Migration), nil
}

// runTx runs a transactional step: its transaction, sent ahead or now;
// then, before reading the answer, the next step's, if it is transactional
// and small. On failure the transaction is rolled back, and one sent ahead
// is discarded.
func (s *session) runTx(ctx context.Context, ts *txStep, event projector.Event) *statementFailure {
	fl := s.sent
	s.sent = nil
	if fl == nil || fl.step != ts {
		if fl != nil { // not the step it was sent for: cannot happen, but never run it twice
			s.discard(ctx)
			s.rollback(ctx)
		}
		var err error
		if fl, err = s.send(ctx, ts, ts.m.UpStatements, ts.m.UpBody, 0, event); err != nil {
			return &statementFailure{err: err, index: -1}
		}
	}
	s.sendAhead(ctx)
	f := s.wait(ctx, fl)
	if f != nil {
		if s.sent != nil {
			s.discard(ctx)
			s.sent = nil
		}
		s.rollback(ctx)
	}
	return f
}

// sendAhead sends the next step's transaction, when it has one that fits.
// Anything in the way (a no-transaction step, an error building it) just
// leaves the step to run in its turn, where an error surfaces.
func (s *session) sendAhead(ctx context.Context) {
	next := s.next
	s.next = nil
	if next == nil || ctx.Err() != nil {
		return
	}
	if s.dir == DirDown && next.Migration == nil {
		return // its recorded SQL is read through conn, which is busy now
	}
	ts, err := s.stepFor(ctx, *next)
	// A first guess at the length (JSON may double the recorded down SQL),
	// so a large step is not folded into the Appender only to be withdrawn.
	if err != nil || !ts.m.Transactional() || len(ts.m.UpBody)+2*len(ts.applied.DownSQL)+2048 > maxAhead {
		return
	}
	event, err := ts.event(s.dir)
	if err != nil {
		return
	}
	if fl, err := s.send(ctx, ts, ts.m.UpStatements, ts.m.UpBody, maxAhead, event); err == nil {
		s.sent = fl // nil when too long to send ahead
	}
}

// event is the event a step's transaction records; the server fills in
// its duration.
func (ts *txStep) event(dir Direction) (projector.Event, error) {
	if dir == DirDown {
		return projector.NewEvent(projector.TypeMigrationReverted, projector.Reverted{
			ID: ts.m.ID, Source: ts.source, DownChecksum: downChecksum(ts.m),
		})
	}
	return projector.NewEvent(projector.TypeMigrationApplied, ts.applied)
}

// upStep is what applying m runs and records.
func (s *session) upStep(m Migration) *txStep {
	applied := projector.Applied{
		ID: m.ID, Checksum: m.Checksum, Compatible: m.Compatible, Transactional: m.Transactional(),
	}
	if m.DownFile != "" {
		applied.DownSQL, applied.DownChecksum = m.Down, m.DownChecksum
	}
	return &txStep{m: m, applied: applied, attempt: s.app.State().Failed[m.ID].Attempt + 1}
}

// downStep is what reverting a step runs and records: its down file, or
// the down SQL recorded when it was applied.
func (s *session) downStep(ctx context.Context, step Step) (*txStep, error) {
	if step.Migration != nil {
		m := *step.Migration
		m.UpBody, m.UpStatements, m.UpFile = m.DownBody, m.DownStatements, m.DownFile
		m.NoTransaction = m.DownNoTransaction
		return &txStep{m: m, source: projector.DownFromFile}, nil
	}
	m, err := recordedDown(ctx, s.store, step.ID)
	if err != nil {
		return nil, err
	}
	return &txStep{m: m, source: projector.DownFromRecorded}, nil
}

// apply runs one migration and records it.
func (s *session) apply(ctx context.Context, m Migration) error {
	ts, err := s.stepFor(ctx, Step{ID: m.ID, Migration: &m})
	if err != nil {
		return err
	}
	if !m.Transactional() {
		return s.applyNoTx(ctx, m, ts.applied, ts.attempt)
	}
	ev, err := ts.event(DirUp)
	if err != nil {
		return err
	}
	failure := s.runTx(ctx, ts, ev)
	if failure == nil {
		return nil
	}
	merr := s.r.migrationError(m, DirUp, failure)
	// The rollback undid the SQL; the failure is a fact worth keeping.
	ev, err = projector.NewEvent(projector.TypeMigrationFailed, projector.Failed{
		ID: m.ID, Checksum: m.Checksum, Error: failure.err.Error(), SQLState: merr.SQLState,
		Statement: oneLine(merr.Statement, 2000), Attempt: ts.attempt,
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
	ts, err := s.stepFor(ctx, step)
	if err != nil {
		return projector.DownFromRecorded, err
	}
	m := ts.m
	if m.Transactional() {
		ev, err := ts.event(DirDown)
		if err != nil {
			return ts.source, err
		}
		if f := s.runTx(ctx, ts, ev); f != nil {
			return ts.source, s.r.migrationError(m, DirDown, f)
		}
		return ts.source, nil
	}
	t0 := time.Now()
	reset, err := s.sessionLockTimeout(ctx)
	if err != nil {
		return ts.source, err
	}
	defer reset()
	for i, st := range m.UpStatements {
		if _, err := s.conn.Exec(ctx, st.Text); err != nil {
			return ts.source, s.r.migrationError(m, DirDown, &statementFailure{err: err, index: i, known: true})
		}
	}
	ev, err := projector.NewEvent(projector.TypeMigrationReverted, projector.Reverted{
		ID: m.ID, Source: ts.source, DownChecksum: downChecksum(m), DurationMS: time.Since(t0).Milliseconds(),
	})
	if err != nil {
		return ts.source, err
	}
	return ts.source, s.record(ctx, ev)
}
