package migrations_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	pgcatalog "github.com/schema-ledger/ledger/catalog"
	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

func state(t *testing.T, st *ledger.Store) projector.State {
	t.Helper()
	s, _, err := st.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func scalar[T any](t *testing.T, pool *pgxpool.Pool, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// A failed CREATE INDEX CONCURRENTLY leaves an invalid index even as the
// first statement: the migration is in doubt (not a clean failure retried
// over it — with IF NOT EXISTS the retry would record it applied over an
// invalid index), the error names the index and the fix, and resume drops
// the index it recorded (concurrently, recorded as an event), then
// applies it.
func TestFailedConcurrentIndexIsInDoubt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 3)
	src := map[string]string{
		"0001_t":   "CREATE TABLE t (id int PRIMARY KEY, x int);\nINSERT INTO t VALUES (1, 7), (2, 7);",
		"0002_idx": "-- ledger:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_x ON t (x);",
	}
	r := runner(t, pool, load(t, src))
	_, err := r.Up(ctx, migrations.UpOptions{})
	var merr *migrations.MigrationError
	if !errors.As(err, &merr) || merr.SQLState != "23505" || !merr.InDoubt || !merr.LeftBehind || !merr.Recorded {
		t.Fatalf("Up: %#v, want an in-doubt failure (23505) that left something behind, recorded", err)
	}
	if strings.Join(merr.InvalidIndexes, ",") != "public.t_x" {
		t.Fatalf("invalid indexes named: %q", merr.InvalidIndexes)
	}
	for _, want := range []string{"it is now in doubt", "the failing statement (1) left invalid index public.t_x", "run DROP INDEX CONCURRENTLY public.t_x; and record it as failed",
		"resume it (it drops public.t_x concurrently first, then runs statement 1 again)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "ledger ") || strings.Contains(err.Error(), "--") {
		t.Errorf("a library error holds CLI advice:\n%v", err)
	}
	fixes := migrations.Fixes(err)
	if len(fixes) != 1 || fixes[0].Action != migrations.FixSettle || fixes[0].ID != "0002_idx" || fixes[0].From != 1 || strings.Join(fixes[0].SQL, " ") != "DROP INDEX CONCURRENTLY public.t_x;" ||
		strings.Join(fixes[0].Leftover, ",") != "public.t_x" {
		t.Errorf("fixes: %+v", fixes)
	}
	if strings.Contains(err.Error(), "rolled back") || strings.Contains(err.Error(), "took no effect") {
		t.Errorf("error calls the failure clean:\n%v", err)
	}
	s := state(t, r.Store())
	if d, ok := s.InDoubt["0002_idx"]; !ok || d.StatementsDone != 0 || !strings.Contains(d.Error, "23505") || strings.Join(d.LeftBehind, ",") != "public.t_x" {
		t.Fatalf("in doubt: %+v", s.InDoubt)
	}
	// Up refuses rather than retrying over the invalid index.
	_, err = r.Up(ctx, migrations.UpOptions{})
	var perr *migrations.PlanError
	if !errors.As(err, &perr) || perr.Verdict == nil || !perr.Verdict.Has(policy.CodeInDoubt) {
		t.Fatalf("Up while in doubt: %v", err)
	}
	// The operator fixes the data and resumes: the resume drops the
	// invalid index first (before, it ran the statement over it: 42P07).
	if _, err := pool.Exec(ctx, "DELETE FROM t WHERE id = 2"); err != nil {
		t.Fatal(err)
	}
	rep, err := r.Resume(ctx, "0002_idx")
	if err != nil || len(rep.Done) != 1 {
		t.Fatalf("Resume: %v %v", rep.Done, err)
	}
	if got := eventTypes(t, r.Store(), ledger.Filter{MigrationID: "0002_idx"}); !slices.Contains(got, "migration.leftover_dropped 0002_idx") {
		t.Errorf("events of 0002_idx: %v, want the drop recorded", got)
	}
	if !scalar[bool](t, pool, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.t_x'::regclass") {
		t.Fatal("t_x is not valid after the resume")
	}
	s = state(t, r.Store())
	if _, ok := s.Applied["0002_idx"]; !ok || len(s.InDoubt) != 0 {
		t.Fatalf("after the resume: applied %v, in doubt %v", s.Applied, s.InDoubt)
	}
	verifyOK(t, r.Store())
}

// Each completed statement of a no-transaction migration is recorded, so
// after a failure part-way resume goes on from the next statement — the
// first ones (which would fail if run twice) are not run again.
func TestNoTransactionProgressAndResume(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 3)
	src := map[string]string{
		"0001_steps": "-- ledger:no-transaction\nCREATE TABLE a1 (n int);\nCREATE TABLE a2 (n int);\n" +
			"INSERT INTO a1 SELECT 1 / (SELECT count(*) FROM a2)::int;\nCREATE TABLE a4 (n int);",
	}
	r := runner(t, pool, load(t, src))
	_, err := r.Up(ctx, migrations.UpOptions{})
	var merr *migrations.MigrationError
	if !errors.As(err, &merr) || !merr.InDoubt || merr.StatementsDone != 2 || merr.Line != 4 {
		t.Fatalf("Up: %v, want in doubt after 2 statements, failing on line 4", err)
	}
	if !strings.Contains(err.Error(), "2 of its statements completed") || !strings.Contains(err.Error(), "resume it from statement 3") {
		t.Errorf("error does not say how far it got:\n%v", err)
	}
	if d := state(t, r.Store()).InDoubt["0001_steps"]; d.StatementsDone != 2 {
		t.Fatalf("statements_done = %d, want 2", d.StatementsDone)
	}
	got := eventTypes(t, r.Store(), ledger.Filter{MigrationID: "0001_steps"})
	want := "migration.started 0001_steps,migration.progressed 0001_steps,migration.progressed 0001_steps,migration.failed 0001_steps"
	if strings.Join(got, ",") != want {
		t.Fatalf("events: %v, want %s", got, want)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO a2 VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resume(ctx, "0001_steps"); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if n := scalar[int64](t, pool, "SELECT count(*) FROM a1"); n != 1 {
		t.Fatalf("a1 holds %d rows, want 1", n)
	}
	s := state(t, r.Store())
	if _, ok := s.Applied["0001_steps"]; !ok || len(s.InDoubt) != 0 || s.Applied["0001_steps"].Transactional {
		t.Fatalf("after the resume: %+v", s)
	}
	if _, err := r.Resume(ctx, "0001_steps"); err == nil || !strings.Contains(err.Error(), "no migration is in doubt") {
		t.Fatalf("Resume with nothing in doubt: %v", err)
	}
	verifyOK(t, r.Store())
}

// A failing down is recorded like a failing up: a transactional one as
// migration.failed (the migration stays applied); a no-transaction one
// that had done part of its work leaves the revert in doubt, and resume
// finishes it.
func TestFailingDownIsRecorded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 3)
	src := map[string]string{
		"0001_t":        "CREATE TABLE t (id int, x int);",
		"0001_t.down":   "DROP TABLE t;\nSELECT 1/0;",
		"0002_idx":      "-- ledger:no-transaction\nCREATE INDEX CONCURRENTLY t_x ON t (x);\nCREATE INDEX CONCURRENTLY t_id ON t (id);",
		"0002_idx.down": "-- ledger:no-transaction\nDROP INDEX CONCURRENTLY t_id;\nSELECT 1/0;\nDROP INDEX CONCURRENTLY t_x;",
	}
	r := runner(t, pool, load(t, src))
	if _, err := r.Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := r.Down(ctx, migrations.DownOptions{Steps: 1})
	var merr *migrations.MigrationError
	if !errors.As(err, &merr) || merr.Direction != migrations.DirDown || !merr.InDoubt || merr.StatementsDone != 1 || !merr.Recorded {
		t.Fatalf("Down: %v, want a revert in doubt after 1 statement, recorded", err)
	}
	s := state(t, r.Store())
	if !s.Reverting("0002_idx") || s.InDoubt["0002_idx"].StatementsDone != 1 {
		t.Fatalf("0002_idx is not a revert in doubt: %+v", s.InDoubt)
	}
	var dir string
	if err := pool.QueryRow(ctx, "SELECT payload->>'direction' FROM ledger.events WHERE type = 'migration.failed'").Scan(&dir); err != nil || dir != "down" {
		t.Fatalf("migration.failed direction %q, %v", dir, err)
	}
	// Fixed down file; resume goes on from statement 2.
	src["0002_idx.down"] = "-- ledger:no-transaction\nDROP INDEX CONCURRENTLY t_id;\nSELECT 1;\nDROP INDEX CONCURRENTLY t_x;"
	r = runner(t, pool, load(t, src))
	if _, err := r.Resume(ctx, "0002_idx"); err != nil {
		t.Fatalf("Resume of the revert: %v", err)
	}
	s = state(t, r.Store())
	if _, ok := s.Applied["0002_idx"]; ok || len(s.InDoubt) != 0 {
		t.Fatalf("after resuming the revert: applied %v, in doubt %v", s.Applied, s.InDoubt)
	}
	// A transactional down that fails: rolled back, recorded, still applied.
	_, err = r.Down(ctx, migrations.DownOptions{Steps: 1})
	if !errors.As(err, &merr) || merr.InDoubt || !merr.Recorded || !merr.RolledBack || !strings.Contains(err.Error(), "the migration stays applied") {
		t.Fatalf("transactional Down: %v", err)
	}
	s = state(t, r.Store())
	if _, ok := s.Applied["0001_t"]; !ok || len(s.InDoubt) != 0 {
		t.Fatalf("after the failed transactional down: %+v", s)
	}
	if n := scalar[int64](t, pool, "SELECT count(*) FROM ledger.events WHERE type = 'migration.failed' AND payload->>'id' = '0001_t' AND payload->>'direction' = 'down'"); n != 1 {
		t.Fatalf("%d failed downs of 0001_t recorded, want 1", n)
	}
	verifyOK(t, r.Store())
}

// A migration's session settings never leak: not into the next migration,
// not into the ledger's records or fingerprint, not into the connection
// handed back to the caller's pool.
func TestSessionStateDoesNotLeak(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 1)
	src := map[string]string{
		"0001_set":  "CREATE TABLE public.t1 (id int);\nSET statement_timeout = '10ms';\nSET search_path = pg_catalog;",
		"0002_slow": "SELECT pg_sleep(0.05);\nCREATE TABLE t2 (id int);",
		"0003_notx": "-- ledger:no-transaction\nSET statement_timeout = '10ms';\nSET search_path = pg_catalog;\nSET lock_timeout = '1ms';",
		"0004_slow": "SELECT pg_sleep(0.05);\nCREATE TABLE t4 (id int);",
		"0005_do":   "DO $$ BEGIN PERFORM set_config('search_path', 'pg_catalog', false); END $$;",
		"0006_t6":   "CREATE TABLE t6 (id int);",
	}
	r := runner(t, pool, load(t, src))
	if _, err := r.Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatalf("Up: %v", err)
	}
	if got := tables(t, pool); strings.Join(got, ",") != "t1,t2,t4,t6" {
		t.Fatalf("tables: %v", got)
	}
	if v := scalar[string](t, pool, "SHOW statement_timeout"); v != "0" {
		t.Errorf("the pool's connection came back with statement_timeout %s", v)
	}
	if v := scalar[string](t, pool, "SHOW search_path"); v != `"$user", public` {
		t.Errorf("the pool's connection came back with search_path %s", v)
	}
	snap, err := pgcatalog.Read(ctx, pool, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	if s := state(t, r.Store()); s.Fingerprint == nil || s.Fingerprint.Value != snap.Fingerprint {
		t.Fatalf("recorded fingerprint %+v, live %s: drift straight after up", s.Fingerprint, snap.Fingerprint)
	}
	// A failure after a SET is still recorded (the record does not time out).
	src["0007_fail"] = "-- ledger:no-transaction\nSET statement_timeout = '1ms';\nSELECT pg_sleep(0.05);"
	_, err = runner(t, pool, load(t, src)).Up(ctx, migrations.UpOptions{})
	var merr *migrations.MigrationError
	if !errors.As(err, &merr) || merr.SQLState != "57014" || !merr.Recorded {
		t.Fatalf("Up of a migration that times out: %v, want 57014, recorded", err)
	}
	verifyOK(t, r.Store())
}

// The ledger's record in a transactional step runs under the ledger's own
// search_path, whatever the step set for its transaction (SET LOCAL,
// which RESET ALL does not undo): a function of the migration's that
// shadows one the record calls is never called by the record.
func TestStepRecordIgnoresTheStepsSearchPath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 1)
	src := map[string]string{
		"0001_shadow": `CREATE SCHEMA shadow;
CREATE FUNCTION shadow.encode(bytea, text) RETURNS text LANGUAGE sql AS $$ SELECT 'shadowed' $$;
SET LOCAL search_path = shadow, pg_catalog, public;
CREATE TABLE public.t1 (id int);`,
		"0002_notx":  "-- ledger:no-transaction\nCREATE TABLE public.t2 (id int);\nCREATE TABLE public.t3 (id int);",
		"0003_again": "SET LOCAL search_path = shadow, pg_catalog, public;\nCREATE TABLE public.t4 (id int);",
	}
	r := runner(t, pool, load(t, src))
	rep, err := r.Up(ctx, migrations.UpOptions{})
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	if len(rep.Done) != 3 || rep.Head.Seq == 0 {
		t.Fatalf("report: %d done, head %+v", len(rep.Done), rep.Head)
	}
	if got := tables(t, pool); strings.Join(got, ",") != "t1,t2,t3,t4" {
		t.Fatalf("tables: %v", got)
	}
	s := state(t, r.Store())
	for _, id := range []string{"0001_shadow", "0002_notx", "0003_again"} {
		if _, ok := s.Applied[id]; !ok {
			t.Errorf("%s not recorded as applied: %+v", id, s.Applied)
		}
	}
	verifyOK(t, r.Store())
}

// up --rehearse takes the migration lock: beside a running migrator it
// waits, and says who holds the lock when it times out.
func TestRehearseTakesTheLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 3)
	r := runner(t, pool, load(t, map[string]string{"1_a": "CREATE TABLE a (id int);"}), migrations.WithLockTimeout(300*time.Millisecond))
	holder, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Release()
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock($1)", r.Store().LockKey()); err != nil {
		t.Fatal(err)
	}
	_, err = r.Up(ctx, migrations.UpOptions{Rehearse: true})
	if !errors.Is(err, migrations.ErrLockTimeout) || !strings.Contains(err.Error(), "pid ") {
		t.Fatalf("rehearse while another holds the lock: %v", err)
	}
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_unlock($1)", r.Store().LockKey()); err != nil {
		t.Fatal(err)
	}
	rep, err := r.Up(ctx, migrations.UpOptions{Rehearse: true})
	if err != nil || strings.Join(rep.Rehearsed, ",") != "1_a" {
		t.Fatalf("rehearse: %v %v", rep.Rehearsed, err)
	}
	if got := tables(t, pool); len(got) != 0 {
		t.Fatalf("rehearsal left tables: %v", got)
	}
}

// Comment-only files, as real golang-migrate directories hold them: an up
// that holds only comments is applied as a no-op and recorded; a
// comment-only (or empty) down is an explicit no-op down that can be
// reverted through.
func TestCommentOnlyFilesAreNoOps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	src := map[string]string{
		"0001_a":         "CREATE TABLE a (id int);",
		"0001_a.down":    "DROP TABLE a;",
		"0002_gone":      "-- replaced by 0003_b\n",
		"0002_gone.down": "-- nothing to undo\n",
		"0003_b":         "BEGIN;\n-- wrapped, and empty\nCOMMIT;\n",
		"0003_b.down":    "",
	}
	set := load(t, src)
	if len(set.Warnings) != 2 {
		t.Errorf("warnings: %q, want one note per comment-only up file", set.Warnings)
	}
	r := runner(t, pool, set)
	rep, err := r.Up(ctx, migrations.UpOptions{})
	if err != nil || len(rep.Done) != 3 {
		t.Fatalf("Up: %v %v", rep.Done, err)
	}
	rep, err = r.Down(ctx, migrations.DownOptions{Target: "0"})
	if err != nil || len(rep.Done) != 3 {
		t.Fatalf("Down --to 0: %v %v", rep.Done, err)
	}
	if got := tables(t, pool); len(got) != 0 {
		t.Fatalf("tables after down: %v", got)
	}
	verifyOK(t, r.Store())
}

// A syntax error says where it is: file, line and column, and the line.
func TestSyntaxErrorsCarryTheirLine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	for _, tc := range []struct {
		id, sql string
		line    int
		col     int
	}{
		{"0001_tx", "CREATE TABLE a (id int);\n\nSELECT {;", 3, 8},
		{"0001_wrapped", "BEGIN;\nCREATE TABLE a (id int);\n  SELECT x FROM a WHERE;\nCOMMIT;", 3, 24},
		{"0001_notx", "-- ledger:no-transaction\nCREATE TABLE a (id int);\nSELECT 1;\nSELECT 'é', FROM a;", 4, 13},
	} {
		_, err := runner(t, pool, load(t, map[string]string{tc.id: tc.sql})).Up(ctx, migrations.UpOptions{})
		var merr *migrations.MigrationError
		if !errors.As(err, &merr) || merr.SQLState != "42601" || merr.Line != tc.line || merr.Column != tc.col {
			t.Errorf("%s: %v, want a syntax error at line %d column %d", tc.id, err, tc.line, tc.col)
			continue
		}
		lineText := strings.Split(tc.sql, "\n")[tc.line-1]
		if merr.LineText != lineText || !strings.Contains(err.Error(), fmt.Sprintf("%s.up.sql:%d:%d:", tc.id, tc.line, tc.col)) || !strings.Contains(err.Error(), lineText) {
			t.Errorf("%s: error does not show the line:\n%v", tc.id, err)
		}
		if _, err := pool.Exec(ctx, "DROP SCHEMA ledger CASCADE; DROP TABLE IF EXISTS a"); err != nil {
			t.Fatal(err)
		}
	}
}

// A transactional migration whose connection is terminated is reported and
// recorded with the server's SQLSTATE, once, and what the message says was
// recorded was recorded.
func TestTerminatedConnectionIsSaidOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 3)
	r := runner(t, pool, load(t, map[string]string{"0001_slow": "CREATE TABLE s (id int);\nSELECT pg_sleep(60);"}))
	done := make(chan error, 1)
	go func() { _, err := r.Up(ctx, migrations.UpOptions{}); done <- err }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if scalar[bool](t, pool, "SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity WHERE query LIKE '%SELECT pg_sleep(60)%' AND pid <> pg_backend_pid() AND datname = current_database()") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow migration never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	err := <-done
	var merr *migrations.MigrationError
	if !errors.As(err, &merr) || merr.SQLState != "57P01" || !merr.Recorded || merr.RecordErr != nil {
		t.Fatalf("Up: %v, want 57P01, recorded", err)
	}
	msg := err.Error()
	if strings.Count(msg, "57P01") != 1 || !strings.Contains(msg, "it was rolled back and recorded as migration.failed") || strings.Contains(msg, "record the failure") {
		t.Errorf("message:\n%s", msg)
	}
	if f := state(t, r.Store()).Failed["0001_slow"]; f.SQLState != "57P01" {
		t.Fatalf("recorded failure: %+v", f)
	}
	if got := tables(t, pool); len(got) != 0 {
		t.Fatalf("tables: %v", got)
	}
}

// What a failure's message says was recorded matches what was.
func TestMigrationErrorSaysWhatWasRecorded(t *testing.T) {
	base := func() *migrations.MigrationError {
		return &migrations.MigrationError{ID: "0001_a", File: "0001_a.up.sql", Line: 2, Err: errors.New("ERROR: boom (SQLSTATE XX000)"), SQLState: "XX000"}
	}
	for _, tc := range []struct {
		name    string
		set     func(*migrations.MigrationError)
		want    []string
		notWant []string
	}{
		{"rolled back, recorded", func(e *migrations.MigrationError) { e.RolledBack, e.Recorded = true, true },
			[]string{"it was rolled back and recorded as migration.failed"}, []string{"nothing was recorded"}},
		{"rolled back, not recorded", func(e *migrations.MigrationError) {
			e.RolledBack, e.RecordErr = true, errors.New("ERROR: cannot execute INSERT in a read-only transaction (SQLSTATE 25006)")
		}, []string{"it was rolled back, but recording the failure failed, so nothing was recorded: ERROR: cannot execute INSERT"}, []string{"recorded as migration.failed"}},
		{"in doubt, not recorded", func(e *migrations.MigrationError) {
			e.InDoubt, e.StatementsDone, e.RecordErr = true, 1, errors.New("no space left on device")
		}, []string{"it is now in doubt", "recording the failure failed too", "no space left on device"}, []string{"recorded as migration.failed"}},
		{"rolled back, recording failed the same way", func(e *migrations.MigrationError) {
			e.Err = fmt.Errorf("its SQL ran, but recording it in the ledger failed: %w", &pgconn.PgError{Severity: "ERROR", Code: "XX000", Message: "boom"})
			e.RolledBack, e.RecordErr = true, &ledger.PermissionError{Schema: "ledger", Write: true, Err: fmt.Errorf("record in the ledger: %w", &pgconn.PgError{Severity: "ERROR", Code: "XX000", Message: "boom"})}
		}, []string{"it was rolled back, and recording the failure failed the same way, so nothing was recorded\n  up, down, resolve and init write the ledger"}, []string{"recorded as migration.failed", "GRANT"}},
		{"not run", func(e *migrations.MigrationError) { e.NotRun = true },
			[]string{"none of it ran, and nothing was recorded"}, []string{"rolled back", "took no effect", "recorded as"}},
		{"committed after all", func(e *migrations.MigrationError) { e.Committed = true },
			[]string{"it committed all the same: the ledger records it as applied"}, []string{"failed", "rolled back", "nothing was recorded"}},
		{"down, recorded", func(e *migrations.MigrationError) {
			e.Direction, e.RolledBack, e.Recorded = migrations.DirDown, true, true
		},
			[]string{"revert 0001_a failed", "the migration stays applied"}, []string{"run up again"}},
	} {
		e := base()
		tc.set(e)
		msg := e.Error()
		if strings.Count(msg, "XX000") != 1 {
			t.Errorf("%s: SQLSTATE said %d times:\n%s", tc.name, strings.Count(msg, "XX000"), msg)
		}
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: lacks %q:\n%s", tc.name, w, msg)
			}
		}
		for _, w := range tc.notWant {
			if strings.Contains(msg, w) {
				t.Errorf("%s: says %q:\n%s", tc.name, w, msg)
			}
		}
	}
}

// An up with nothing to do answers from one head read, without the
// migration lock: beside a migrator holding it, it does not wait. One with
// something to do (or to refuse drift, or on a ledger whose snapshot is
// not at the head) still takes the lock, and waits.
func TestUpAtTheSetTakesNoLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 3)
	files := map[string]string{"1_a": "CREATE TABLE a (id int);"}
	r := runner(t, pool, load(t, files), migrations.WithLockTimeout(300*time.Millisecond))
	if _, err := r.Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	head, err := r.Store().Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	holder, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Release()
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock($1)", r.Store().LockKey()); err != nil {
		t.Fatal(err)
	}
	for _, o := range []migrations.UpOptions{{}, {Target: "1_a"}, {Steps: 1}} {
		rep, err := r.Up(ctx, o)
		if err != nil || len(rep.Done) != 0 || len(rep.Planned) != 0 || rep.Head.Seq != head.Seq || rep.Plan.Verdict.Decision != policy.Run {
			t.Fatalf("up %+v at the set beside a lock holder: %+v, %v", o, rep, err)
		}
	}
	// Refusing drift reads the catalog under the lock.
	refusing := runner(t, pool, load(t, files), migrations.WithLockTimeout(300*time.Millisecond), migrations.WithRefuseDrift())
	if _, err := refusing.Up(ctx, migrations.UpOptions{}); !errors.Is(err, migrations.ErrLockTimeout) {
		t.Fatalf("up refusing drift beside a lock holder: %v, want a lock timeout", err)
	}
	// Something to do: it waits for the lock.
	files["2_b"] = "CREATE TABLE b (id int);"
	more := runner(t, pool, load(t, files), migrations.WithLockTimeout(300*time.Millisecond))
	if _, err := more.Up(ctx, migrations.UpOptions{}); !errors.Is(err, migrations.ErrLockTimeout) {
		t.Fatalf("up of a pending migration beside a lock holder: %v, want a lock timeout", err)
	}
	// An unknown target is reported as before (the locked way).
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_unlock($1)", r.Store().LockKey()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Up(ctx, migrations.UpOptions{Target: "9_nope"}); err == nil {
		t.Fatal("up --to an id not in the set: no error")
	}
}
