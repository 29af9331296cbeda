package migrations_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// The backend of a CREATE INDEX CONCURRENTLY is terminated mid-build (a
// crash, as far as the migration can tell): the failure, recorded on a
// connection of its own, names the invalid index it left — so do check's
// verdict and the state — and resume drops it (concurrently, recorded as
// an event) before it runs the statement again. It used to run it over
// the index and fail with 42P07.
func TestResumeAfterACrashDropsTheInvalidIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 3)
	src := map[string]string{
		"0001_t": `CREATE TABLE t (id int PRIMARY KEY, x int);
INSERT INTO t VALUES (1, 7);
CREATE FUNCTION slow(int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(30); RETURN $1; END $$;`,
		"0002_idx": "-- ledger:no-transaction\nCREATE INDEX CONCURRENTLY t_slow ON t ((slow(x)));",
	}
	r := runner(t, pool, load(t, src))
	done := make(chan error, 1)
	go func() { _, err := r.Up(ctx, migrations.UpOptions{}); done <- err }()
	deadline := time.Now().Add(20 * time.Second)
	for !scalar[bool](t, pool, "SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY t_slow%' AND wait_event = 'PgSleep' AND datname = current_database()") {
		if time.Now().After(deadline) {
			t.Fatal("the index build never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	err := <-done
	var merr *migrations.MigrationError
	if !errors.As(err, &merr) || !merr.InDoubt || strings.Join(merr.InvalidIndexes, ",") != "public.t_slow" {
		t.Fatalf("up, its backend terminated: %v, want in doubt naming public.t_slow", err)
	}
	says(t, err.Error(), []string{"the failing statement (1) left invalid index public.t_slow", "resume it (it drops public.t_slow concurrently first"}, nil)
	v, err := migrations.Check(ctx, pool, files(src))
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, v, policy.Refuse, policy.CodeInDoubt)
	says(t, v.Message(), []string{"statement 1 left invalid index public.t_slow"}, nil)

	exec(t, pool, "CREATE OR REPLACE FUNCTION slow(int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$ BEGIN RETURN $1; END $$")
	rep, err := r.Resume(ctx, "0002_idx")
	if err != nil || len(rep.Done) != 1 {
		t.Fatalf("resume: %v %v", rep.Done, err)
	}
	if !scalar[bool](t, pool, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.t_slow'::regclass") {
		t.Error("t_slow is not valid after the resume")
	}
	got := eventTypes(t, r.Store(), ledger.Filter{MigrationID: "0002_idx"})
	want := []string{"migration.started 0002_idx", "migration.failed 0002_idx", "migration.leftover_dropped 0002_idx", "migration.progressed 0002_idx", "migration.applied 0002_idx"}
	if !slices.Equal(got, want) {
		t.Errorf("events: %v, want %v", got, want)
	}
	verifyOK(t, r.Store())
}

// A resume that finds a valid index of the name the interrupted statement
// creates refuses before running anything: the statement may have
// completed.
func TestResumeRefusesOverAValidIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 3)
	src := map[string]string{
		"0001_t":   "CREATE TABLE t (id int PRIMARY KEY, x int);\nINSERT INTO t VALUES (1, 7), (2, 7);",
		"0002_idx": "-- ledger:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY t_x ON t (x);",
	}
	r := runner(t, pool, load(t, src))
	if _, err := r.Up(ctx, migrations.UpOptions{}); err == nil {
		t.Fatal("up over duplicates succeeded")
	}
	exec(t, pool, "DROP INDEX CONCURRENTLY t_x")
	exec(t, pool, "DELETE FROM t WHERE id = 2")
	exec(t, pool, "CREATE UNIQUE INDEX t_x ON t (x)")
	before := allEvents(t, pool)
	_, err := r.Resume(ctx, "0002_idx")
	var rerr *migrations.ResumeError
	if !errors.As(err, &rerr) || strings.Join(rerr.Valid, ",") != "public.t_x" {
		t.Fatalf("resume over a valid t_x: %v, want a *ResumeError naming it", err)
	}
	says(t, err.Error(), []string{"exists and is valid", "nothing was run"}, nil)
	if after := allEvents(t, pool); !slices.Equal(before, after) {
		t.Errorf("a refused resume recorded %v", after[len(before):])
	}
}

// Statement 1 creates a valid index, statement 2 fails leaving an invalid
// one: the advice lists both (to start over, both must go); resolve
// --failed says so; done as advised, the next up applies it. It used to
// name only the invalid index, and the up after resolve --failed met the
// valid one (42P07).
func TestStartingOverListsWhatCompletedStatementsCreated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 3)
	src := map[string]string{
		"0001_t":   "CREATE TABLE t (id int PRIMARY KEY, x int);\nINSERT INTO t VALUES (1, 7), (2, 7);",
		"0002_idx": "-- ledger:no-transaction\nCREATE INDEX CONCURRENTLY t_id ON t (id);\nCREATE UNIQUE INDEX CONCURRENTLY t_x ON t (x);",
	}
	r := runner(t, pool, load(t, src))
	_, err := r.Up(ctx, migrations.UpOptions{})
	var merr *migrations.MigrationError
	if !errors.As(err, &merr) || !merr.InDoubt || merr.StatementsDone != 1 {
		t.Fatalf("up: %v", err)
	}
	says(t, err.Error(), []string{"the completed statements created: index public.t_id (statement 1)", "left invalid index public.t_x",
		"run DROP INDEX CONCURRENTLY public.t_id; DROP INDEX CONCURRENTLY public.t_x; and record it as failed"}, []string{"statement 1 runs again"})
	fixes := migrations.Fixes(err)
	if len(fixes) != 1 || strings.Join(fixes[0].SQL, " ") != "DROP INDEX CONCURRENTLY public.t_id; DROP INDEX CONCURRENTLY public.t_x;" {
		t.Fatalf("fixes: %+v", fixes)
	}
	res, err := r.Resolve(ctx, "0002_idx", projector.ResolvedFailed, "starting over")
	if err != nil {
		t.Fatal(err)
	}
	w := res.Warning()
	says(t, w, []string{"1 of its statements were recorded as completed", "index public.t_id (statement 1)", "invalid index public.t_x",
		"DROP INDEX CONCURRENTLY public.t_id; DROP INDEX CONCURRENTLY public.t_x;"}, nil)
	for _, sql := range append(fixes[0].SQL, "DELETE FROM t WHERE id = 2") {
		exec(t, pool, sql)
	}
	if rep, err := r.Up(ctx, migrations.UpOptions{}); err != nil || len(rep.Done) != 1 {
		t.Fatalf("up after starting over as advised: %v %v", rep.Done, err)
	}
	verifyOK(t, r.Store())
}

// A CREATE INDEX CONCURRENTLY that ran out of the DDL lock timeout before
// it created anything (no index of its name) failed cleanly: recorded as
// failed, not in doubt, so check says migrate, not refuse, and the advice
// to retry works.
func TestDDLLockTimeoutOnAConcurrentIndexIsACleanFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 3)
	src := map[string]string{"0001_t": "CREATE TABLE t (id int PRIMARY KEY, x int);"}
	if _, err := runner(t, pool, load(t, src)).Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	src["0002_idx"] = "-- ledger:no-transaction\nCREATE INDEX CONCURRENTLY t_x ON t (x);"
	holder, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Release()
	// What a VACUUM or another concurrent index build holds: it conflicts
	// with CREATE INDEX CONCURRENTLY, not with reads.
	exec(t, holder.Conn(), "BEGIN; LOCK TABLE t IN SHARE UPDATE EXCLUSIVE MODE")
	r := runner(t, pool, load(t, src), migrations.WithDDLLockTimeout(200*time.Millisecond))
	_, err = r.Up(ctx, migrations.UpOptions{})
	exec(t, holder.Conn(), "ROLLBACK")
	var merr *migrations.MigrationError
	if !errors.As(err, &merr) || merr.SQLState != "55P03" || merr.InDoubt || merr.LeftBehind || !merr.Recorded {
		t.Fatalf("up under a held lock: %v, want a clean 55P03 failure, recorded", err)
	}
	fixes := migrations.Fixes(err)
	if len(fixes) != 1 || fixes[0].Action != migrations.FixDDLLockTimeout {
		t.Errorf("fixes: %+v, want only the DDL lock timeout's", fixes)
	}
	if s := state(t, r.Store()); len(s.InDoubt) != 0 {
		t.Errorf("in doubt: %v", s.InDoubt)
	}
	v, err := migrations.Check(ctx, pool, files(src), migrations.WithAppVersion("1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, v, policy.Migrate)
	if rep, err := r.Up(ctx, migrations.UpOptions{}); err != nil || len(rep.Done) != 1 {
		t.Fatalf("the retry: %v %v", rep.Done, err)
	}
}
