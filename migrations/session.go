package migrations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

// session is the executor: one run under the migration lock, on the
// connection holding the lock, with an Appender holding the ledger's state.
// It runs any step — up or down, transactional or not — and records its
// success, failure or doubt the same way whatever the direction.
//
// A transactional step costs one round trip — BEGIN, its SQL, the ledger's
// record and COMMIT in one simple query — and the next transactional step's
// query is sent before the answer to the current one is read, so the server
// never waits for the client in between.
//
// Every step starts from the same clean session state (cleanSession), and
// the ledger's records are written under it: a migration's SET, SET ROLE or
// search_path never reaches the next migration, the ledger's writes or the
// fingerprint.
type session struct {
	set   sessionSettings
	conn  *pgx.Conn
	store *ledger.Store // the ledger through conn
	app   *ledger.Appender
	actor string  // the connection's current_user
	next  *Step   // the step after the current one, to send ahead
	sent  *flight // next's transaction, sent ahead
}

// sessionSettings are what a session takes from its runner's configuration,
// copied when the lock is taken: a session never reaches back into the
// Runner.
type sessionSettings struct {
	logger         *slog.Logger
	refuseDrift    bool
	ddlLockTimeout time.Duration
	// readTimeout is the SET that bounds the session's own reads by the
	// lock timeout (see Runner.locked); a migration's statements run
	// without it.
	readTimeout string
	// pool is the caller's: its configuration makes a connection of the
	// session's own, to record a failure on when the lock's connection died.
	pool *pgxpool.Pool
	// tenant: the tenant schema the migrations run in (WithTenant), or "".
	tenant string
}

// cleanSession puts back the session state a migration may have changed
// (SET without LOCAL, SET ROLE, SET SESSION AUTHORIZATION): the settings the
// connection started with. It runs in or out of a transaction.
var cleanSession = []string{"RESET ALL", "RESET ROLE", "RESET SESSION AUTHORIZATION"}

// beginTx opens every transaction of the runner's, whatever the session's
// defaults say (a migration's SET default_transaction_read_only included).
const beginTx = "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE"

// recordSettings are what a record of the ledger's own runs under, for its
// transaction only.
var recordSettings = []string{
	"SET LOCAL statement_timeout = 0", "SET LOCAL lock_timeout = 0",
	"SET LOCAL idle_in_transaction_session_timeout = 0", recordSearchPath,
}

// recordSearchPath is the search_path every record of the ledger's runs
// under, its own transaction's or a step's: what a migration set (SET
// LOCAL search_path, a tenant's schema) never reaches the record. One
// search_path for all of them also keeps the plans the server cached for
// the ledger's append function and its triggers: a plan made under another
// search_path is analysed and planned again (PostgreSQL's plan cache), which
// cost a run of 150 goose files, whose no-transaction records alternated
// with the steps', ~280 re-plans of each statement in them instead of ~6.
const recordSearchPath = "SET LOCAL search_path = " + ledger.RecordSearchPath

// flight is a transaction sent whose answer is not read yet.
type flight struct {
	key     string // the step's stepKey; "" for a record of the session's own
	stmts   []Statement
	prefix  int      // statements before the SQL
	prefixN int      // characters before the SQL (for error positions)
	tail    []string // what the statements after the SQL do, for errors
}

// maxAhead bounds the query sent before the last answer is read: one that
// fits in the socket buffers, so sending it never waits for the server,
// which may be busy sending that answer.
const maxAhead = 16 << 10

func stepKey(st Step) string { return st.Direction.String() + " " + st.ID }

// record appends events in a transaction of their own, in one round trip.
func (s *session) record(ctx context.Context, events ...projector.Event) error {
	fl, err := s.send(ctx, "", nil, "", false, 0, events...)
	if err != nil {
		return err
	}
	if f := s.wait(ctx, fl); f != nil {
		s.rollback(ctx)
		// Its records run as the session's own role, in a clean session:
		// a permission refused here is the role's, not a migration's.
		return s.store.WriteErr(f.err)
	}
	return nil
}

// errCommitted: the transaction whose connection was lost committed after
// all; the ledger records the step as done.
var errCommitted = errors.New("the ledger records it as done")

// recordAfterFailure records the failure of something that failed; it runs
// even when ctx was cancelled (Ctrl-C), with a bound of its own. A
// cancelled query can cost the connection — and the migration lock with it
// — so then it records on a fresh connection through the store's own
// append, which is safe for any writer.
//
// A lost connection may also have lost the answer to a COMMIT that took
// effect (the server committed, then the connection died before it said
// so): with committed, the ledger is first read under the head's lock,
// and if committed finds the step recorded as done, errCommitted is
// returned and nothing is recorded.
func (s *session) recordAfterFailure(ctx context.Context, ev projector.Event, committed func(projector.State) bool) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if !s.conn.IsClosed() {
		err := s.record(rctx, ev)
		// The cancel request sent for the failed step (Ctrl-C) reaches the
		// server when it gets there: late, it cancels this record instead
		// (57014, though rctx is not cancelled). The record's transaction
		// then rolled back and nothing was recorded: record again.
		for try := 0; try < 3 && queryCanceled(err) && rctx.Err() == nil && !s.conn.IsClosed(); try++ {
			err = s.record(rctx, ev)
		}
		return err
	}
	_ = s.app.Done(nil)
	// A connection of its own, not one from the pool, which may have
	// none to spare while this run still holds the dead one.
	conn, err := pgx.ConnectConfig(rctx, s.set.pool.Config().ConnConfig) // Config is a copy
	if err != nil {
		return err
	}
	defer conn.Close(rctx)
	if _, err := conn.Exec(rctx, strings.Join(cleanSession, "; ")); err != nil {
		return err
	}
	return pgx.BeginTxFunc(rctx, conn, pgx.TxOptions{IsoLevel: pgx.ReadCommitted, AccessMode: pgx.ReadWrite}, func(tx pgx.Tx) error {
		if committed != nil {
			state, _, err := s.store.LockedState(rctx, tx)
			if err != nil {
				return err
			}
			if committed(state) {
				return errCommitted
			}
		}
		_, err := s.store.Append(rctx, tx, ev)
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

// send sends one transaction — BEGIN, a clean session, SQL (a migration's
// body, made of stmts; or none), the Appender's statement recording events
// and COMMIT — as one simple query, without waiting for the answer. With
// SQL, the session is cleaned again and deferred constraints are checked
// before the record, so once the record is reached nothing but the COMMIT
// itself can fail, the record runs under the runner's settings, and the
// server sets the events' duration_ms to how long the transaction ran. A
// query longer than limit (if not 0) is not sent: nil, nil.
func (s *session) send(ctx context.Context, key string, stmts []Statement, body string, reset bool, limit int, events ...projector.Event) (*flight, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	timed := len(stmts) > 0
	prefix := []string{beginTx}
	if timed {
		// The session is clean here: reset when the lock was taken, and
		// again by every step before its record (a failed transaction's
		// SETs roll back with it).
		prefix = append(prefix, stepSettings(s.set.ddlLockTimeout, s.set.tenant, true)...)
	} else {
		// A record of its own may come between the statements of a
		// no-transaction migration, whose settings must stay for its next
		// statement: the record overrides them for its transaction only.
		prefix = append(prefix, recordSettings...)
	}
	record, err := s.app.Statement(ctx, ledger.Recording{Actor: s.actor, Timed: timed}, events...)
	if err != nil {
		return nil, err
	}
	var sql strings.Builder
	for _, p := range prefix {
		sql.WriteString(p + ";\n")
	}
	fl := &flight{key: key, stmts: stmts, prefix: len(prefix), prefixN: len([]rune(sql.String()))}
	if timed {
		sql.WriteString(body + "\n;\n")
		if reset { // the body may have changed the session's state (Script.changesSession)
			sql.WriteString(strings.Join(cleanSession, ";\n") + ";\n")
			for range cleanSession {
				fl.tail = append(fl.tail, "reset the session before recording")
			}
		}
		sql.WriteString("SET CONSTRAINTS ALL IMMEDIATE;\n" + recordSearchPath + ";\n")
		fl.tail = append(fl.tail, "at the end of the transaction (deferred constraints)", "its SQL ran, but recording it in the ledger failed")
	}
	sql.WriteString(record + ";\nCOMMIT")
	if timed {
		fl.tail = append(fl.tail, "its SQL ran, but recording it in the ledger failed", "commit")
	} else {
		fl.tail = append(fl.tail, "record in the ledger", "commit")
	}
	if limit > 0 && sql.Len() > limit {
		s.app.Withdraw()
		return nil, nil
	}
	if err := sendQuery(ctx, s.conn.PgConn(), sql.String()); err != nil {
		s.app.Withdraw()
		return nil, err
	}
	return fl, nil
}

// wait reads the answer to a flight and settles its record with the
// Appender. A failure says which statement failed; the transaction is then
// left for the caller to roll back.
func (s *session) wait(ctx context.Context, fl *flight) *statementFailure {
	results, err := readQuery(ctx, s.conn.PgConn())
	if f := failureOf(results, err, fl.prefix, fl.stmts); f != nil {
		_ = s.app.Done(nil)
		var pgErr *pgconn.PgError
		switch k := f.index - len(fl.stmts); {
		case f.index < 0 && errors.As(f.err, &pgErr) && pgErr.Position > 0:
			// A syntax error fails the whole query before anything runs;
			// its position says where.
			f.posBase = fl.prefixN
		case f.index < 0:
			// The server's answer to BEGIN or a SET before the SQL: none
			// of it ran. No answer at all (the connection died) says
			// nothing of the kind: the whole query was sent.
			f.notRun = errors.As(f.err, &pgErr) && !s.conn.IsClosed()
			f.err, f.posBase = fmt.Errorf("prepare the transaction: %w", f.err), -1
		case k >= 0:
			if k < len(fl.tail) {
				f.err = fmt.Errorf("%s: %w", fl.tail[k], f.err)
			}
			f.posBase = -1 // not in the migration's SQL
		default:
			f.posBase = fl.prefixN
		}
		return f
	}
	if err := s.app.Done(results[len(results)-2]); err != nil {
		return &statementFailure{err: fmt.Errorf("committed, but the ledger's answer is unreadable: %w", err), index: -1, posBase: -1}
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

// sentAhead reports whether a step's transaction was sent ahead and is
// still to be answered: stopped, the run lets it run its course in its turn.
func (s *session) sentAhead() bool { return s.sent != nil }

// settle discards a transaction still sent ahead when a run ends early.
func (s *session) settle(ctx context.Context) {
	if s.sent != nil {
		s.discard(ctx)
		s.sent = nil
		s.rollback(ctx)
	}
}

// exec runs one step, whatever its direction, and records it: done
// (migration.applied or migration.reverted), failed (migration.failed) or,
// for a no-transaction step that may have left something behind, in doubt.
// next, if not nil, is the step the run goes on with: its transaction may
// be sent before this one's answer is read.
func (s *session) exec(ctx context.Context, step Step, next *Step) error {
	s.next = next
	if step.Script == nil {
		return fmt.Errorf("%s %s: no script to run", step.Direction, step.ID)
	}
	if step.Script.Go() {
		return s.execGo(ctx, step)
	}
	if step.Script.NoTransaction {
		return s.execNoTx(ctx, step, 0, true)
	}
	f := s.runTx(ctx, step)
	if f == nil {
		return nil
	}
	merr := newMigrationError(step, f, s.set.ddlLockTimeout)
	merr.Interrupted = ctx.Err() != nil
	if f.notRun {
		// The server refused the transaction before any of it ran (a hot
		// standby refuses READ WRITE): the migration did not fail, and
		// there is no failure of it to record.
		merr.NotRun = true
		return merr
	}
	merr.RolledBack = true
	// The rollback undid the SQL; the failure is a fact worth keeping.
	s.recordFailure(ctx, step, merr, 0, false)
	return merr
}

// recordFailure records a step's failure and notes on merr whether that
// worked — or, for a transactional step whose connection was lost, that
// the ledger shows its transaction committed after all (then nothing is
// recorded, and merr says so).
func (s *session) recordFailure(ctx context.Context, step Step, merr *MigrationError, done int, leftBehind bool) {
	var committed func(projector.State) bool
	if merr.RolledBack {
		committed = step.doneIn
	}
	ev, err := projector.NewEvent(projector.TypeMigrationFailed, step.failed(merr, done, leftBehind))
	if err == nil {
		err = s.recordAfterFailure(ctx, ev, committed)
	}
	if errors.Is(err, errCommitted) {
		merr.RolledBack, merr.Committed = false, true
		return
	}
	if err != nil {
		merr.RecordErr = err
		return
	}
	merr.Recorded = true
	s.set.logger.Error("migration failed", "id", step.ID, "direction", step.Direction.String(), "sqlstate", merr.SQLState, "error", merr.Err)
}

// runTx runs a transactional step: its transaction, sent ahead or now;
// then, before reading the answer, the next step's, if it is transactional
// and small. On failure the transaction is rolled back, and one sent ahead
// is discarded.
func (s *session) runTx(ctx context.Context, step Step) *statementFailure {
	fl := s.sent
	s.sent = nil
	if fl == nil || fl.key != stepKey(step) {
		if fl != nil { // not the step it was sent for: cannot happen, but never run it twice
			s.discard(ctx)
			s.rollback(ctx)
		}
		ev, err := step.done(0)
		if err == nil {
			fl, err = s.send(ctx, stepKey(step), step.Script.Statements, step.Script.Body, step.Script.changesSession, 0, ev)
		}
		if err != nil {
			// Not sent, or not whole: the server ran none of it.
			return &statementFailure{err: err, index: -1, posBase: -1, notRun: true}
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
// Anything in the way (a no-transaction step, a recorded down not read yet,
// an error building it) just leaves the step to run in its turn, where an
// error surfaces.
func (s *session) sendAhead(ctx context.Context) {
	next := s.next
	s.next = nil
	if next == nil || next.Script == nil || next.Script.NoTransaction || next.Script.Go() || ctx.Err() != nil {
		return
	}
	// A first guess at the length (JSON may double the recorded down SQL),
	// so a large step is not folded into the Appender only to be withdrawn.
	downLen := 0
	if next.Direction == DirUp && next.Migration != nil && next.Migration.Down != nil {
		downLen = len(next.Migration.Down.Text)
	}
	if len(next.Script.Body)+2*downLen+2048 > maxAhead {
		return
	}
	ev, err := next.done(0)
	if err != nil {
		return
	}
	if fl, err := s.send(ctx, stepKey(*next), next.Script.Statements, next.Script.Body, next.Script.changesSession, maxAhead, ev); err == nil {
		s.sent = fl // nil when too long to send ahead
	}
}

// execNoTx runs a no-transaction step statement by statement, from
// statement from (0: the first); fresh records migration.started first (a
// resume goes on under the one recorded). Each
// statement that completes is recorded (migration.progressed), so an
// interruption leaves the step in doubt knowing how far it got, and a
// resume goes on from the next statement.
func (s *session) execNoTx(ctx context.Context, step Step, from int, fresh bool) error {
	sc := step.Script
	if fresh {
		// migration.started, then (once it committed) the clean session
		// the statements run in: one round trip.
		flushed := from < len(sc.Statements) && noTxFlushes(sc.Statements[from])
		if err := s.recordStarted(ctx, step, flushed, s.cleanSQL(true)...); err != nil {
			var afterErr *recordedThenFailed
			if errors.As(err, &afterErr) {
				return s.inDoubt(step, fmt.Errorf("prepare the session: %w", afterErr.err), from)
			}
			return err
		}
	} else if err := s.cleanSession(ctx, true); err != nil {
		return s.inDoubt(step, fmt.Errorf("prepare the session: %w", err), from)
	}
	t0 := time.Now()
	for i := from; i < len(sc.Statements); i++ {
		st := sc.Statements[i]
		_, err := s.conn.PgConn().Exec(ctx, st.Text).ReadAll()
		if err != nil {
			merr := newMigrationError(step, &statementFailure{err: err, index: i, known: true, posBase: 0}, s.set.ddlLockTimeout)
			merr.Interrupted = ctx.Err() != nil
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) {
				// No answer from the server: whether the statement took
				// effect is unknown. It stays in doubt for an operator.
				merr.InDoubt, merr.StatementsDone = true, i
				if leavesBehind(st) {
					merr.LeftBehind = true
					merr.InvalidIndexes, _ = s.leftBy(ctx, st)
				}
				merr.Created, merr.undo = s.createdBy(ctx, sc.Statements[:i])
				return merr
			}
			leftBehind := leavesBehind(st)
			if leftBehind {
				// A statement proven to have left nothing (no index of
				// the name it creates is there) failed cleanly.
				left, proven := s.leftBy(ctx, st)
				leftBehind = !proven || len(left) > 0
				merr.InvalidIndexes = left
			}
			merr.InDoubt, merr.StatementsDone = i > 0 || leftBehind, i
			merr.LeftBehind = leftBehind
			if merr.InDoubt {
				merr.Created, merr.undo = s.createdBy(ctx, sc.Statements[:i])
			}
			_ = s.cleanSession(ctx, false)
			s.recordFailure(ctx, step, merr, i, leftBehind)
			if !merr.Recorded {
				merr.InDoubt = true // migration.started stands alone
			}
			return merr
		}
		if i == len(sc.Statements)-1 {
			break // its progress is recorded with the step's end, below
		}
		if err := s.progress(ctx, step, i+1, noTxFlushes(sc.Statements[i+1])); err != nil {
			return s.inDoubt(step, fmt.Errorf("statement %d ran, but recording it failed: %w", i+1, err), i+1)
		}
	}
	// The session made clean again, the last statement's migration.progressed
	// and migration.applied (or reverted): one transaction, one round trip.
	// Nothing of it commits unless all of it does.
	ev, err := step.done(time.Since(t0).Milliseconds())
	events := []projector.Event{ev}
	if err == nil && len(sc.Statements) > from {
		var pev projector.Event
		pev, err = projector.NewEvent(projector.TypeMigrationProgressed, projector.Progressed{ID: step.ID, StatementsDone: len(sc.Statements)})
		events = []projector.Event{pev, ev}
	}
	if err == nil {
		err = s.recordIn(ctx, recordOpts{before: s.cleanSQL(false), ahead: true}, events...)
	}
	if err != nil {
		var reset *resetFailed
		if errors.As(err, &reset) {
			return s.inDoubt(step, fmt.Errorf("its statements ran, but resetting the session failed: %w", reset.err), len(sc.Statements))
		}
		return s.inDoubt(step, fmt.Errorf("its statements ran, but recording %s failed: %w", ev.Type, err), len(sc.Statements))
	}
	return nil
}

// recordedThenFailed: the record committed, and a statement sent after it
// in the same round trip (recordIn's after) failed.
type recordedThenFailed struct{ err error }

func (e *recordedThenFailed) Error() string { return "recorded, then: " + e.err.Error() }
func (e *recordedThenFailed) Unwrap() error { return e.err }

// resetFailed: a statement sent before the record in the same round trip
// (recordIn's before: the session's reset) failed; nothing was recorded.
type resetFailed struct{ err error }

func (e *resetFailed) Error() string { return e.err.Error() }
func (e *resetFailed) Unwrap() error { return e.err }

// recordOpts are what recordIn sends around a record.
type recordOpts struct {
	before, after []string
	ahead         bool // send the next step's transaction before reading the answer
	// flushedBy: the record's commit need not wait for its WAL to reach
	// disk, because the statement run next flushes it first (noTxFlushes).
	flushedBy bool
}

// noTxFlushes reports whether a no-transaction statement commits a
// catalog change — in a transaction with an xid, whose commit flushes the
// WAL up to it, as every commit before it — before it changes anything
// else: the CONCURRENTLY forms of CREATE INDEX, REINDEX, DROP INDEX and
// DETACH PARTITION (leavesBehind) mark the catalog first. A record
// committed just before such a statement reaches the disk before
// anything the statement does can, so it need not wait for the disk
// itself: after a crash, the WAL that survives is a prefix, and it shows
// at most the one statement past the last recorded progress that it
// shows when each record waits — the state a crash right after a
// statement's commit leaves today. (A statement that does nothing — IF
// NOT EXISTS finding the index — flushes nothing and changes nothing;
// the records before it reach the disk with the step's migration.applied,
// which waits.)
func noTxFlushes(st Statement) bool { return leavesBehind(st) }

// recordIn is record with statements around the record's transaction, in
// the same round trip: before runs first, inside the transaction (it
// commits with the record, or not at all, and then the session is cleaned
// again, for what it did is undone); after runs once the record
// committed. A failure of before is a *resetFailed, of after a
// *recordedThenFailed. With ahead, the next step's transaction is sent
// before the answer is read, as runTx does.
func (s *session) recordIn(ctx context.Context, o recordOpts, events ...projector.Event) error {
	before, after := o.before, o.after
	if err := ctx.Err(); err != nil {
		return err
	}
	record, err := s.app.Statement(ctx, ledger.Recording{Actor: s.actor}, events...)
	if err != nil {
		return err
	}
	var sql strings.Builder
	for _, q := range before {
		sql.WriteString(q + ";\n")
	}
	settings := append([]string{beginTx}, recordSettings...)
	if o.flushedBy {
		settings = append(settings, "SET LOCAL synchronous_commit = off")
	}
	for _, q := range settings {
		sql.WriteString(q + ";\n")
	}
	sql.WriteString(record + ";\nCOMMIT")
	for _, q := range after {
		sql.WriteString(";\n" + q)
	}
	if err := sendQuery(ctx, s.conn.PgConn(), sql.String()); err != nil {
		s.app.Withdraw()
		return err
	}
	if o.ahead {
		s.sendAhead(ctx)
	}
	results, err := readQuery(ctx, s.conn.PgConn())
	at := len(before) + len(settings) // the record's result; COMMIT's is next
	f := failureOf(results, err, 0, nil)
	switch {
	case f == nil || f.index > at+1:
		if err := s.app.Done(results[at]); err != nil {
			return fmt.Errorf("committed, but the ledger's answer is unreadable: %w", err)
		}
		if f != nil {
			return &recordedThenFailed{err: f.err}
		}
		return nil
	}
	_ = s.app.Done(nil)
	if s.sent != nil { // it ran in the failed transaction, or found the head short
		s.discard(ctx)
		s.sent = nil
	}
	s.rollback(ctx)
	if len(before) > 0 {
		_ = s.cleanSession(ctx, false) // what before did was rolled back
	}
	// The failure said as record's (wait's) says it.
	var pgErr *pgconn.PgError
	switch {
	case f.index < len(before) && errors.As(f.err, &pgErr):
		return &resetFailed{err: f.err}
	case f.index < at:
		f.err = fmt.Errorf("prepare the transaction: %w", f.err)
	case f.index == at:
		f.err = fmt.Errorf("record in the ledger: %w", f.err)
	default:
		f.err = fmt.Errorf("commit: %w", f.err)
	}
	// Its records run as the session's own role, in a clean session:
	// a permission refused here is the role's, not a migration's.
	return s.store.WriteErr(f.err)
}

func (s *session) inDoubt(step Step, err error, done int) *MigrationError {
	return &MigrationError{ID: step.ID, Direction: step.Direction, File: step.Script.File, Err: err, InDoubt: true, StatementsDone: done}
}

// progress records that done statements of a no-transaction step completed.
// flushedBy: the statement run next flushes it (noTxFlushes).
func (s *session) progress(ctx context.Context, step Step, done int, flushedBy bool) error {
	ev, err := projector.NewEvent(projector.TypeMigrationProgressed, projector.Progressed{ID: step.ID, StatementsDone: done})
	if err != nil {
		return err
	}
	return s.recordIn(ctx, recordOpts{flushedBy: flushedBy}, ev)
}

// boundReads sets the bound of the session's own reads again, after
// steps that may have reset it; a failure leaves the reads unbounded.
func (s *session) boundReads(ctx context.Context) {
	if s.set.readTimeout != "" && s.conn.PgConn().TxStatus() == 'I' {
		_, _ = s.conn.PgConn().Exec(ctx, s.set.readTimeout).ReadAll()
	}
}

// cleanSession resets the session outside a transaction and, before a
// step's statements (ddl), sets the DDL lock timeout; after them, the
// bound of the session's own reads.
func (s *session) cleanSession(ctx context.Context, ddl bool) error {
	_, err := s.conn.PgConn().Exec(context.WithoutCancel(ctx), strings.Join(s.cleanSQL(ddl), "; ")).ReadAll()
	return err
}

// cleanSQL is what cleanSession runs.
func (s *session) cleanSQL(ddl bool) []string {
	sql := slices.Clone(cleanSession)
	if ddl {
		sql = append(sql, stepSettings(s.set.ddlLockTimeout, s.set.tenant, false)...)
	}
	if !ddl && s.set.readTimeout != "" {
		sql = append(sql, s.set.readTimeout) // the session reads on, bounded again
	}
	return sql
}

// invalidIndexes names the invalid indexes on the tables a failed
// statement touched (or named), as "schema.index".
func (s *session) invalidIndexes(ctx context.Context, st Statement) []string {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if s.conn.IsClosed() {
		return nil
	}
	rows, err := s.conn.Query(rctx, `
		SELECT format('%I.%I', n.nspname, ic.relname), format('%I.%I', n.nspname, tc.relname), ic.relname, tc.relname
		FROM pg_index i
		JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class tc ON tc.oid = i.indrelid
		JOIN pg_namespace n ON n.oid = ic.relnamespace
		WHERE NOT (i.indisvalid AND i.indisready) AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
		ORDER BY 1`)
	if err != nil {
		return nil
	}
	words := map[string]bool{}
	for _, w := range identWords(st.Text) {
		words[strings.ToLower(w)] = true
	}
	var touched, all []string
	for rows.Next() {
		var idx, table, idxName, tableName string
		if rows.Scan(&idx, &table, &idxName, &tableName) != nil {
			break
		}
		all = append(all, idx)
		if words[strings.ToLower(idxName)] || words[strings.ToLower(tableName)] {
			touched = append(touched, idx)
		}
	}
	rows.Close()
	if len(touched) > 0 {
		return touched
	}
	return all
}

// recordStarted records the migration.started a no-transaction step begins
// with; after, if any, runs in the same round trip once it committed
// (recordIn), and its failure is a *recordedThenFailed. flushedBy: the
// step's first statement flushes the record (noTxFlushes).
func (s *session) recordStarted(ctx context.Context, step Step, flushedBy bool, after ...string) error {
	started, err := projector.NewEvent(projector.TypeMigrationStarted, step.started())
	if err != nil {
		return err
	}
	if err := s.recordIn(ctx, recordOpts{after: after, flushedBy: flushedBy}, started); err != nil {
		var afterErr *recordedThenFailed
		if errors.As(err, &afterErr) {
			return err
		}
		merr := &MigrationError{ID: step.ID, Direction: step.Direction, File: step.Script.File, Err: fmt.Errorf("record %s: %w", started.Type, err)}
		var pgErr *pgconn.PgError
		// A server's refusal on a live connection is final; a lost
		// connection leaves unknown whether the record committed.
		merr.NotRun = errors.As(err, &pgErr) && !s.conn.IsClosed()
		if merr.NotRun {
			merr.SQLState = pgErr.Code
		}
		return merr
	}
	return nil
}

// execGo runs a Go migration's function (GoMigration) and records it as
// exec does a script: a transactional one in the transaction its
// migration.applied (or migration.reverted) commits in, a no-transaction
// one between migration.started and that event.
func (s *session) execGo(ctx context.Context, step Step) error {
	fn := step.Script.goFn
	goErr := func(err error) *MigrationError {
		merr := &MigrationError{ID: step.ID, Direction: step.Direction, File: step.Script.File, Err: err, Interrupted: ctx.Err() != nil}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			merr.SQLState = pgErr.Code
		}
		return merr
	}
	if fn.conn != nil {
		if err := s.recordStarted(ctx, step, false); err != nil {
			return err
		}
		t0 := time.Now()
		if err := s.cleanSession(ctx, true); err != nil {
			return s.inDoubt(step, fmt.Errorf("prepare the session: %w", err), 0)
		}
		err := fn.conn(ctx, s.conn)
		if err == nil && s.conn.PgConn().TxStatus() != 'I' {
			err = errors.New("the function returned with a transaction still open on the connection (it was rolled back)")
		}
		if err != nil {
			s.rollback(ctx)
			// What the function committed before it failed is unknown: the
			// migration is in doubt until an operator resolves it.
			merr := goErr(err)
			merr.InDoubt, merr.LeftBehind = true, true
			_ = s.cleanSession(ctx, false)
			s.recordFailure(ctx, step, merr, 0, true)
			return merr
		}
		if err := s.cleanSession(ctx, false); err != nil {
			return s.inDoubt(step, fmt.Errorf("its function ran, but resetting the session failed: %w", err), 0)
		}
		ev, err := step.done(time.Since(t0).Milliseconds())
		if err == nil {
			err = s.record(ctx, ev)
		}
		if err != nil {
			return s.inDoubt(step, fmt.Errorf("its function ran, but recording %s failed: %w", ev.Type, err), 0)
		}
		return nil
	}

	tx, err := s.conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted, AccessMode: pgx.ReadWrite})
	if err != nil {
		merr := goErr(fmt.Errorf("prepare the transaction: %w", err))
		merr.NotRun = !s.conn.IsClosed()
		return merr
	}
	fail := func(err error) error {
		s.rollback(ctx)
		merr := goErr(err)
		merr.RolledBack = true
		s.recordFailure(ctx, step, merr, 0, false)
		return merr
	}
	for _, set := range stepSettings(s.set.ddlLockTimeout, s.set.tenant, true) {
		if _, err := tx.Exec(ctx, set); err != nil {
			return fail(fmt.Errorf("prepare the transaction: %w", err))
		}
	}
	if err := fn.tx(ctx, tx); err != nil {
		return fail(err)
	}
	ev, err := step.done(0)
	if err != nil {
		return fail(err)
	}
	record, err := s.app.Statement(ctx, ledger.Recording{Actor: s.actor, Timed: true}, ev)
	if err != nil {
		return fail(err)
	}
	// The function may have changed the session (SET, SET ROLE): the
	// record runs under the runner's own settings, as a script's does.
	sql := strings.Join(cleanSession, ";\n") + ";\nSET CONSTRAINTS ALL IMMEDIATE;\n" + recordSearchPath + ";\n" + record
	results, err := s.conn.PgConn().Exec(ctx, sql).ReadAll()
	if err != nil {
		_ = s.app.Done(nil)
		return fail(fmt.Errorf("its function ran, but recording it in the ledger failed: %w", err))
	}
	if err := tx.Commit(ctx); err != nil {
		_ = s.app.Done(nil)
		return fail(fmt.Errorf("commit: %w", err))
	}
	if err := s.app.Done(results[len(results)-1]); err != nil {
		return fmt.Errorf("%s %s committed, but the ledger's answer is unreadable: %w", step.Direction, step.ID, err)
	}
	return nil
}

// queryCanceled reports whether err is the server's "canceling statement
// due to user request" (57014).
func queryCanceled(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "57014"
}
