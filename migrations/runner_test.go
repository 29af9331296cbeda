package migrations_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	pgcatalog "github.com/schema-ledger/ledger/catalog"
	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// files builds a migration directory: "ID" -> up SQL, "ID.down" -> down SQL.
func files(m map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, sql := range m {
		if id, ok := strings.CutSuffix(name, ".down"); ok {
			fsys[id+".down.sql"] = &fstest.MapFile{Data: []byte(sql)}
		} else {
			fsys[name+".up.sql"] = &fstest.MapFile{Data: []byte(sql)}
		}
	}
	return fsys
}

func load(t testing.TB, m map[string]string) *migrations.Set {
	t.Helper()
	set, err := migrations.Load(files(m))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func runner(t testing.TB, pool *pgxpool.Pool, set *migrations.Set, opts ...migrations.Option) *migrations.Runner {
	t.Helper()
	r, err := migrations.NewRunner(pool, set, append([]migrations.Option{migrations.WithAppVersion("1.0.0"), migrations.WithHost("test-host")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func tables(t testing.TB, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func eventTypes(t testing.TB, st *ledger.Store, f ledger.Filter) []string {
	t.Helper()
	var out []string
	for e, err := range st.Events(context.Background(), f) {
		if err != nil {
			t.Fatal(err)
		}
		id := ""
		if ids := projector.IDs(e); len(ids) > 0 {
			id = " " + ids[0]
		}
		out = append(out, e.Type+id)
	}
	return out
}

func verifyOK(t testing.TB, st *ledger.Store) {
	t.Helper()
	rep, err := st.Verify(context.Background(), nil)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", rep, err)
	}
}

// migratorPools gives n migrators a pool of their own (2 connections each)
// on one fresh database, as separate processes would have; close them with
// the returned function.
func migratorPools(tb testing.TB, n int) ([]*pgxpool.Pool, func()) {
	tb.Helper()
	url := pgtest.NewDatabase(tb)
	pools := make([]*pgxpool.Pool, 0, n)
	closeAll := func() {
		for _, p := range pools {
			p.Close()
		}
	}
	for range n {
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			closeAll()
			tb.Fatal(err)
		}
		cfg.MaxConns = 2
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			closeAll()
			tb.Fatal(err)
		}
		pools = append(pools, pool)
	}
	return pools, closeAll
}

// 8 migrators on separate connections run Up on one database at once, 20
// rounds, with migrations that fail if run twice: every run succeeds and
// every migration is applied exactly once.
func TestConcurrentUpAppliesEachMigrationOnce(t *testing.T) {
	t.Parallel()
	const migrators, rounds, perRound = 8, 20, 3
	pools, closePools := migratorPools(t, migrators)
	defer closePools()
	src := map[string]string{}
	for round := range rounds {
		for i := range perRound {
			n := round*perRound + i + 1
			src[fmt.Sprintf("%04d_t%d", n, n)] = fmt.Sprintf("CREATE TABLE t%d (id int);\nINSERT INTO t%d VALUES (%d);", n, n, n)
		}
		set := load(t, src)
		var wg sync.WaitGroup
		applied := make([]int, migrators)
		for m := range migrators {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rep, err := runner(t, pools[m], set).Up(context.Background(), migrations.UpOptions{})
				if err != nil {
					t.Errorf("round %d migrator %d: %v", round, m, err)
				}
				applied[m] = len(rep.Done)
			}()
		}
		wg.Wait()
		total := 0
		for _, n := range applied {
			total += n
		}
		if total != perRound {
			t.Fatalf("round %d: migrators applied %v migrations in all, want %d", round, applied, perRound)
		}
	}
	st := runner(t, pools[0], load(t, src)).Store()
	var n, distinct int
	err := pools[0].QueryRow(context.Background(), "SELECT count(*), count(DISTINCT payload->>'id') FROM ledger.events WHERE type = 'migration.applied'").Scan(&n, &distinct)
	if err != nil || n != rounds*perRound || distinct != n {
		t.Fatalf("migration.applied events: %d (%d distinct), %v; want %d, no duplicates", n, distinct, err, rounds*perRound)
	}
	if got := len(tables(t, pools[0])); got != rounds*perRound {
		t.Fatalf("%d tables, want %d", got, rounds*perRound)
	}
	verifyOK(t, st)
}

// A migration whose second statement fails leaves nothing of its first, one
// migration.failed event, and the next Up retries it.
func TestFailedMigrationIsRolledBackRecordedAndRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 3)
	src := map[string]string{
		"0001_ok":  "CREATE TABLE ok (id int);",
		"0002_bad": "CREATE TABLE half (id int);\n\n-- the second statement fails\nSELECT 1/0;",
	}
	r := runner(t, pool, load(t, src))
	_, err := r.Up(ctx, migrations.UpOptions{})
	var merr *migrations.MigrationError
	if !errors.As(err, &merr) {
		t.Fatalf("Up: %v, want a MigrationError", err)
	}
	if merr.ID != "0002_bad" || merr.SQLState != "22012" || merr.Statement != "SELECT 1/0" || merr.Line != 4 {
		t.Fatalf("MigrationError = %+v, want 0002_bad, SQLSTATE 22012, statement SELECT 1/0 at line 4", merr)
	}
	for _, want := range []string{"0002_bad", "0002_bad.up.sql:4", "division by zero", "SELECT 1/0", "rolled back"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if got := tables(t, pool); strings.Join(got, ",") != "ok" {
		t.Fatalf("tables after the failure: %v, want only ok", got)
	}
	types := eventTypes(t, r.Store(), ledger.Filter{Types: []string{projector.TypeMigrationFailed}})
	if len(types) != 1 {
		t.Fatalf("failed events: %v, want one", types)
	}
	state, _, _ := r.Store().State(ctx)
	if f := state.Failed["0002_bad"]; f.Attempt != 1 || f.SQLState != "22012" || f.AppVersion != "1.0.0" {
		t.Fatalf("recorded failure: %+v", f)
	}

	// The next run retries it (attempt 2), then a fixed file applies.
	if _, err := r.Up(ctx, migrations.UpOptions{}); err == nil {
		t.Fatal("second Up of the same failing file succeeded")
	}
	state, _, _ = r.Store().State(ctx)
	if state.Failed["0002_bad"].Attempt != 2 {
		t.Fatalf("attempt after the retry: %d, want 2", state.Failed["0002_bad"].Attempt)
	}
	src["0002_bad"] = "CREATE TABLE half (id int);\nSELECT 1;"
	rep, err := runner(t, pool, load(t, src)).Up(ctx, migrations.UpOptions{})
	if err != nil || len(rep.Done) != 1 {
		t.Fatalf("Up with the fixed file: %v %v", rep.Done, err)
	}
	state, _, _ = r.Store().State(ctx)
	if len(state.Failed) != 0 || len(state.Applied) != 2 {
		t.Fatalf("state after the fix: %v", state)
	}
	verifyOK(t, r.Store())
}

// Up to a target, down to a target, up again: the ledger shows the whole
// sequence and the catalog matches the set at each step.
func TestUpDownUpFollowsTargets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 3)
	src := map[string]string{}
	for i := 1; i <= 5; i++ {
		id := fmt.Sprintf("%04d_t%d", i, i)
		src[id] = fmt.Sprintf("CREATE TABLE t%d (id int);", i)
		src[id+".down"] = fmt.Sprintf("DROP TABLE t%d;", i)
	}
	r := runner(t, pool, load(t, src))
	expect := func(step string, want ...string) {
		t.Helper()
		if got := strings.Join(tables(t, pool), ","); got != strings.Join(want, ",") {
			t.Fatalf("%s: tables %s, want %s", step, got, strings.Join(want, ","))
		}
	}
	if _, err := r.Up(ctx, migrations.UpOptions{Target: "0003_t3"}); err != nil {
		t.Fatal(err)
	}
	expect("up to 0003", "t1", "t2", "t3")
	if _, err := r.Down(ctx, migrations.DownOptions{Target: "0001_t1"}); err != nil {
		t.Fatal(err)
	}
	expect("down to 0001", "t1")
	if rep, err := r.Down(ctx, migrations.DownOptions{Steps: 1, DryRun: true}); err != nil || strings.Join(rep.Planned, ",") != "0001_t1" {
		t.Fatalf("dry-run down 1: %v %v", rep.Planned, err)
	}
	expect("after a dry run", "t1")
	if _, err := r.Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("up again", "t1", "t2", "t3", "t4", "t5")
	got := eventTypes(t, r.Store(), ledger.Filter{Types: []string{projector.TypeMigrationApplied, projector.TypeMigrationReverted}})
	want := []string{
		"migration.applied 0001_t1", "migration.applied 0002_t2", "migration.applied 0003_t3",
		"migration.reverted 0003_t3", "migration.reverted 0002_t2",
		"migration.applied 0002_t2", "migration.applied 0003_t3", "migration.applied 0004_t4", "migration.applied 0005_t5",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("ledger:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	h, _ := r.Store().Head(ctx)
	if h.SchemaVersion != "0005_t5" {
		t.Fatalf("schema version %q", h.SchemaVersion)
	}
	if n := len(eventTypes(t, r.Store(), ledger.Filter{Types: []string{projector.TypeSchemaFingerprinted}})); n != 3 {
		t.Fatalf("%d fingerprints, want one per run that changed something (3)", n)
	}
	verifyOK(t, r.Store())
}

// Release v2 adds two migrations; release v1's Down refuses to revert what
// it does not know, and with UseRecorded reverts them with the down SQL v2
// recorded, leaving exactly v1's schema.
func TestOldReleaseRevertsNewerMigrationsWithRecordedDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 3)
	v1 := map[string]string{
		"0001_users": "CREATE TABLE users (id int primary key, name text);", "0001_users.down": "DROP TABLE users;",
		"0002_orders": "CREATE TABLE orders (id int, user_id int references users);", "0002_orders.down": "DROP TABLE orders;",
		"0003_idx": "CREATE INDEX orders_user ON orders (user_id);", "0003_idx.down": "DROP INDEX orders_user;",
	}
	v2 := map[string]string{
		"0004_email": "ALTER TABLE users ADD COLUMN email text;", "0004_email.down": "ALTER TABLE users DROP COLUMN email;",
		"0005_drop_name": "ALTER TABLE users DROP COLUMN name;", "0005_drop_name.down": "ALTER TABLE users ADD COLUMN name text;",
	}
	for k, v := range v1 {
		v2[k] = v
	}
	old := runner(t, pool, load(t, v1), migrations.WithAppVersion("1.2.0"))
	if _, err := old.Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	v1Snap, err := pgcatalog.Read(ctx, pool, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runner(t, pool, load(t, v2), migrations.WithAppVersion("1.3.0")).Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}

	_, err = old.Down(ctx, migrations.DownOptions{Target: "0003_idx"})
	var perr *migrations.PlanError
	if !errors.As(err, &perr) || strings.Join(perr.Unknown, ",") != "0005_drop_name,0004_email" {
		t.Fatalf("v1 down without --use-recorded: %v, want a refusal naming 0005_drop_name and 0004_email", err)
	}
	if f := migrations.Fixes(err); len(f) != 1 || f[0].Action != migrations.FixUseRecorded {
		t.Errorf("refusal does not suggest the recorded down SQL: %v, fixes %+v", err, f)
	}
	rep, err := old.Down(ctx, migrations.DownOptions{Target: "0003_idx", UseRecorded: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Done) != 2 || rep.Done[0].Source != projector.DownFromRecorded {
		t.Fatalf("reverted %+v", rep.Done)
	}
	snap, err := pgcatalog.Read(ctx, pool, "ledger")
	if err != nil || snap.Fingerprint != v1Snap.Fingerprint {
		t.Fatalf("schema after the recorded down differs from v1's (%v):\n%s", err, strings.Join(pgcatalog.Lines(pgcatalog.Diff(v1Snap, snap)), "\n"))
	}
	v, err := migrations.NewChecker(pool, load(t, v1), migrations.WithAppVersion("1.2.0"))
	if err != nil {
		t.Fatal(err)
	}
	if verdict, err := v.Check(ctx); err != nil || verdict.Decision != policy.Run {
		t.Fatalf("v1 check after the rollback: %v %v", verdict.Decision, err)
	}
	verifyOK(t, old.Store())
}

// A no-transaction CREATE INDEX CONCURRENTLY works; a crash after
// migration.started leaves the migration in doubt until it is resolved.
func TestNoTransactionMigrationAndCrashInDoubt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 4)
	src := map[string]string{
		"0001_users":     "CREATE TABLE users (id int, email text);",
		"0002_users_idx": "-- ledger:no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);",
	}
	r := runner(t, pool, load(t, src))
	if _, err := r.Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	var valid bool
	if err := pool.QueryRow(ctx, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email'::regclass").Scan(&valid); err != nil || !valid {
		t.Fatalf("index users_email: valid=%v %v", valid, err)
	}
	got := eventTypes(t, r.Store(), ledger.Filter{MigrationID: "0002_users_idx"})
	if strings.Join(got, ",") != "migration.started 0002_users_idx,migration.progressed 0002_users_idx,migration.applied 0002_users_idx" {
		t.Fatalf("events of 0002: %v", got)
	}

	// The process dies while the second statement runs: its backend is terminated.
	src["0003_slow"] = "-- ledger:no-transaction\nCREATE INDEX CONCURRENTLY users_id ON users (id);\nSELECT pg_sleep(60);"
	r = runner(t, pool, load(t, src))
	done := make(chan error, 1)
	go func() { _, err := r.Up(ctx, migrations.UpOptions{}); done <- err }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var killed bool
		err := pool.QueryRow(ctx, "SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%' AND pid <> pg_backend_pid() AND datname = current_database()").Scan(&killed)
		if err != nil {
			t.Fatal(err)
		}
		if killed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow migration never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	err := <-done
	var merr *migrations.MigrationError
	if !errors.As(err, &merr) || !merr.InDoubt || !strings.Contains(err.Error(), "settle it") || len(migrations.Fixes(err)) != 1 || migrations.Fixes(err)[0].Action != migrations.FixSettle {
		t.Fatalf("Up after the crash: %v, want an in-doubt MigrationError", err)
	}
	state, _, _ := r.Store().State(ctx)
	if d, ok := state.InDoubt["0003_slow"]; !ok || d.StatementsDone != 1 || merr.StatementsDone != 1 {
		t.Fatalf("0003_slow is not in doubt with its first statement done: %+v, error says %d done", state.InDoubt, merr.StatementsDone)
	}
	_, err = r.Up(ctx, migrations.UpOptions{})
	var perr *migrations.PlanError
	if !errors.As(err, &perr) || perr.Verdict == nil || !perr.Verdict.Has(policy.CodeInDoubt) {
		t.Fatalf("Up while in doubt: %v, want a refusal for in-doubt", err)
	}
	if _, err := r.Resolve(ctx, "0003_slow", projector.ResolvedApplied, ""); err == nil {
		t.Fatal("resolve without a reason succeeded")
	}
	if _, err := r.Resolve(ctx, "0003_slow", projector.ResolvedApplied, "users_id exists and is valid; pg_sleep does nothing"); err != nil {
		t.Fatal(err)
	}
	if rep, err := r.Up(ctx, migrations.UpOptions{}); err != nil || len(rep.Done) != 0 {
		t.Fatalf("Up after resolving: %v %v", rep.Done, err)
	}
	verifyOK(t, r.Store())
}

// An edited file of an applied migration is a checksum mismatch: Plan
// reports it and Up refuses.
func TestEditedAppliedMigrationIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 3)
	src := map[string]string{"0001_a": "CREATE TABLE a (id int);", "0002_b": "CREATE TABLE b (id int);"}
	if _, err := runner(t, pool, load(t, src)).Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	src["0001_a"] = "CREATE TABLE a (id bigint);"
	src["0003_c"] = "CREATE TABLE c (id int);"
	set := load(t, src)
	r := runner(t, pool, set)
	state, _, _ := r.Store().State(ctx)
	_, err := set.Plan(state, migrations.Target{Direction: migrations.DirUp, AppVersion: "1.0.0", Policy: policy.Strict})
	var perr *migrations.PlanError
	if !errors.As(err, &perr) || perr.Verdict == nil || len(perr.Verdict.Mismatched) != 1 || perr.Verdict.Mismatched[0].ID != "0001_a" {
		t.Fatalf("Plan: %v, want a checksum mismatch of 0001_a", err)
	}
	if _, err := r.Up(ctx, migrations.UpOptions{}); !errors.As(err, &perr) {
		t.Fatalf("Up: %v, want a refusal", err)
	}
	if got := tables(t, pool); strings.Join(got, ",") != "a,b" {
		t.Fatalf("Up changed the schema: %v", got)
	}
}

// A file wrapped in BEGIN; … COMMIT; applies atomically with its event; a
// failure inside leaves neither. A COMMIT in the middle is refused at load.
func TestWrappedFilesAreTransactional(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 3)
	src := map[string]string{
		"1_init":  "BEGIN;\nCREATE TABLE w1 (id int);\nCREATE TABLE w2 (id int);\nCOMMIT;\n",
		"2_fails": "BEGIN;\nCREATE TABLE w3 (id int);\nINSERT INTO w3 VALUES ('not a number');\nCOMMIT;\n",
	}
	r := runner(t, pool, load(t, src))
	_, err := r.Up(ctx, migrations.UpOptions{})
	var merr *migrations.MigrationError
	if !errors.As(err, &merr) || merr.ID != "2_fails" || merr.Line != 3 {
		t.Fatalf("Up: %v, want 2_fails to fail at line 3", err)
	}
	if got := strings.Join(tables(t, pool), ","); got != "w1,w2" {
		t.Fatalf("tables: %s, want w1,w2", got)
	}
	state, _, _ := r.Store().State(ctx)
	if _, ok := state.Applied["1_init"]; !ok || len(state.Applied) != 1 {
		t.Fatalf("applied: %v", state.Applied)
	}

	_, err = migrations.Load(files(map[string]string{"3_split": "BEGIN;\nCREATE TABLE x (id int);\nCOMMIT;\nCREATE TABLE y (id int);\n"}))
	if err == nil || !strings.Contains(err.Error(), "3_split.up.sql:3") || !strings.Contains(err.Error(), "ledger:no-transaction") {
		t.Fatalf("Load of a file with COMMIT in the middle: %v", err)
	}
}

func TestDryRunAndRehearseChangeNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 3)
	src := map[string]string{
		"1_a": "CREATE TABLE a (id int PRIMARY KEY);",
		"2_b": "CREATE TABLE b (id int REFERENCES a);",
		"3_c": "-- ledger:no-transaction\nCREATE INDEX CONCURRENTLY b_id ON b (id);",
	}
	r := runner(t, pool, load(t, src))
	rep, err := r.Up(ctx, migrations.UpOptions{DryRun: true})
	if err != nil || strings.Join(rep.Planned, ",") != "1_a,2_b,3_c" {
		t.Fatalf("dry run: %v %v", rep.Planned, err)
	}
	rep, err = r.Up(ctx, migrations.UpOptions{Rehearse: true})
	if err != nil || strings.Join(rep.Rehearsed, ",") != "1_a,2_b" || strings.Join(rep.NotRehearsed, ",") != "3_c" {
		t.Fatalf("rehearse: %+v %v", rep, err)
	}
	if got := tables(t, pool); len(got) != 0 {
		t.Fatalf("rehearsal left tables: %v", got)
	}
	if _, err := r.Store().Head(ctx); !errors.Is(err, ledger.ErrNotInitialized) {
		t.Fatalf("dry run and rehearsal created the ledger: %v", err)
	}
	// A rehearsal that fails names the migration and still changes nothing.
	src["2_b"] = "CREATE TABLE b (id int REFERENCES nowhere);"
	_, err = runner(t, pool, load(t, src)).Up(ctx, migrations.UpOptions{Rehearse: true})
	if err == nil || !strings.Contains(err.Error(), "2_b") || !strings.Contains(err.Error(), "nothing was recorded") {
		t.Fatalf("failing rehearsal: %v", err)
	}
	if got := tables(t, pool); len(got) != 0 {
		t.Fatalf("failed rehearsal left tables: %v", got)
	}
}

func TestLockTimeoutNamesTheHolder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 4)
	r := runner(t, pool, load(t, map[string]string{"1_a": "CREATE TABLE a (id int);"}), migrations.WithLockTimeout(200*time.Millisecond))
	if _, err := r.Store().Init(ctx); err != nil {
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
	_, err = r.Up(ctx, migrations.UpOptions{})
	if !errors.Is(err, migrations.ErrLockTimeout) || !strings.Contains(err.Error(), "pid ") {
		t.Fatalf("Up while another holds the lock: %v", err)
	}
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_unlock($1)", r.Store().LockKey()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestDDLLockTimeoutFailsFast(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 4)
	if _, err := pool.Exec(ctx, "CREATE TABLE busy (id int)"); err != nil {
		t.Fatal(err)
	}
	traffic, err := pool.Begin(ctx) // a long transaction reading the table
	if err != nil {
		t.Fatal(err)
	}
	defer traffic.Rollback(ctx) //nolint:errcheck
	if _, err := traffic.Exec(ctx, "SELECT * FROM busy"); err != nil {
		t.Fatal(err)
	}
	r := runner(t, pool, load(t, map[string]string{"1_alter": "ALTER TABLE busy ADD COLUMN x int;"}), migrations.WithDDLLockTimeout(100*time.Millisecond))
	start := time.Now()
	_, err = r.Up(ctx, migrations.UpOptions{})
	var merr *migrations.MigrationError
	if !errors.As(err, &merr) || merr.SQLState != "55P03" || merr.DDLLockTimeout == 0 || migrations.Fixes(err)[0].Action != migrations.FixDDLLockTimeout || strings.Contains(err.Error(), "--ddl-lock-timeout") {
		t.Fatalf("Up behind a reader: %v, want a lock timeout (55P03) with a hint", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatalf("the DDL lock timeout did not bound the wait")
	}
}

// Ctrl-C (a cancelled ctx) in the middle of a migration cancels it on the
// server, rolls it back, records the failure and leaves a ledger that
// verifies; the next run applies it.
func TestCancelledUpLeavesTheLedgerConsistent(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewPool(t, 3)
	src := map[string]string{
		"1_a":    "CREATE TABLE a (id int);",
		"2_slow": "CREATE TABLE slow (id int);\nSELECT pg_sleep(30);",
	}
	r := runner(t, pool, load(t, src))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			var n int
			_ = pool.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid() AND datname = current_database()").Scan(&n)
			if n > 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	start := time.Now()
	_, err := r.Up(ctx, migrations.UpOptions{})
	if err == nil || time.Since(start) > 25*time.Second {
		t.Fatalf("cancelled Up: err %v after %s", err, time.Since(start))
	}
	bg := context.Background()
	// The server was asked to cancel the statement: nothing keeps running
	// toward the transaction's COMMIT after Up returned.
	var running int
	if err := pool.QueryRow(bg, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND state = 'active' AND pid <> pg_backend_pid() AND datname = current_database()").Scan(&running); err != nil || running != 0 {
		t.Fatalf("after the cancel, %d backends still run the migration (%v)", running, err)
	}
	state, _, err := r.Store().State(bg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := state.Applied["2_slow"]; ok {
		t.Fatal("the cancelled migration is recorded as applied")
	}
	if _, ok := state.Failed["2_slow"]; !ok {
		t.Fatalf("the cancelled migration's failure is not recorded: %v", state)
	}
	if got := strings.Join(tables(t, pool), ","); got != "a" {
		t.Fatalf("tables after the cancel: %s, want a", got)
	}
	verifyOK(t, r.Store())
	src["2_slow"] = "CREATE TABLE slow (id int);"
	if rep, err := runner(t, pool, load(t, src)).Up(bg, migrations.UpOptions{}); err != nil || len(rep.Done) != 1 {
		t.Fatalf("Up after the cancel: %v %v", rep.Done, err)
	}
}

// A transactional migration's duration is the server's measure of its
// transaction, recorded in the same round trip; applied_at is the server's
// clock at the record, after the migration's SQL ran.
func TestRecordedDurationIsTheTransactions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	r := runner(t, pool, load(t, map[string]string{
		"0001_slow":      "CREATE TABLE slow (id int);\nSELECT pg_sleep(0.06);",
		"0001_slow.down": "SELECT pg_sleep(0.04);\nDROP TABLE slow;",
	}))
	var before time.Time
	if err := pool.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&before); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Down(ctx, migrations.DownOptions{Steps: 1}); err != nil {
		t.Fatal(err)
	}
	for e, err := range r.Store().Events(ctx, ledger.Filter{Types: []string{projector.TypeMigrationApplied, projector.TypeMigrationReverted}}) {
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			DurationMS int64 `json:"duration_ms"`
		}
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			t.Fatal(err)
		}
		min := int64(60)
		if e.Type == projector.TypeMigrationReverted {
			min = 40
		}
		if p.DurationMS < min || p.DurationMS > 5000 {
			t.Errorf("%s: duration_ms %d, want >= %d", e.Type, p.DurationMS, min)
		}
		if e.RecordedAt.Sub(before) < time.Duration(min)*time.Millisecond {
			t.Errorf("%s recorded at %v, %v after the test began: before its SQL finished", e.Type, e.RecordedAt, e.RecordedAt.Sub(before))
		}
	}
}

// Up sends each transactional migration's query before the answer to the
// previous one is read. When a migration fails — in its SQL, or at the end
// of its transaction on a deferred constraint — the one sent after it must
// not have run: the ledger, the catalog and the next run agree.
func TestFailureWithTheNextMigrationSentAhead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, bad := range map[string]string{
		"sql": "CREATE TABLE half (id int);\nSELECT 1/0;",
		"deferred constraint": "CREATE TABLE parent (id int PRIMARY KEY);\n" +
			"CREATE TABLE child (p int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);\n" +
			"INSERT INTO child VALUES (42);",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pool, _ := pgtest.NewPool(t, 3)
			src := map[string]string{
				"0001_ok":    "CREATE TABLE ok (id int);",
				"0002_bad":   bad,
				"0003_after": "CREATE TABLE after (id int);",
				"0004_last":  "CREATE TABLE last (id int);",
			}
			r := runner(t, pool, load(t, src))
			rep, err := r.Up(ctx, migrations.UpOptions{})
			var merr *migrations.MigrationError
			if !errors.As(err, &merr) || merr.ID != "0002_bad" {
				t.Fatalf("Up: %v, want the failure of 0002_bad", err)
			}
			if name == "deferred constraint" && (merr.SQLState != "23503" || !strings.Contains(err.Error(), "deferred constraints")) {
				t.Errorf("deferred failure: SQLSTATE %s, %v", merr.SQLState, err)
			}
			if len(rep.Done) != 1 || rep.Done[0].ID != "0001_ok" {
				t.Errorf("done: %v, want 0001_ok only", rep.Done)
			}
			if got := strings.Join(tables(t, pool), ","); got != "ok" {
				t.Fatalf("tables: %s, want ok", got)
			}
			state, head, err := r.Store().State(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(state.Applied) != 1 || state.Failed["0002_bad"].Attempt != 1 || len(state.Failed) != 1 {
				t.Fatalf("state: applied %v, failed %v", state.Applied, state.Failed)
			}
			if types := eventTypes(t, r.Store(), ledger.Filter{}); len(types) != int(head.Seq) {
				t.Fatalf("events %v, head seq %d", types, head.Seq)
			}
			verifyOK(t, r.Store())

			src["0002_bad"] = "CREATE TABLE fixed (id int);"
			rep, err = runner(t, pool, load(t, src)).Up(ctx, migrations.UpOptions{})
			if err != nil || len(rep.Done) != 3 {
				t.Fatalf("Up after the fix: %v %v", rep.Done, err)
			}
			if got := strings.Join(tables(t, pool), ","); got != "after,fixed,last,ok" {
				t.Fatalf("tables after the fix: %s", got)
			}
			verifyOK(t, r.Store())
		})
	}
}

// Steps that cannot be sent ahead — a large one, a no-transaction one — run
// in their turn between pipelined ones; up and down still record each once.
func TestMixedStepsAroundThePipeline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 3)
	big := "-- " + strings.Repeat("x", 20<<10) + "\nCREATE TABLE big (id int);"
	src := map[string]string{
		"0001_a":        "CREATE TABLE a (id int);",
		"0001_a.down":   "DROP TABLE a;",
		"0002_big":      big,
		"0002_big.down": "DROP TABLE big;",
		"0003_b":        "CREATE TABLE b (id int);",
		"0003_b.down":   "DROP TABLE b;",
		"0004_idx":      "-- ledger:no-transaction\nCREATE INDEX CONCURRENTLY b_id ON b (id);",
		"0004_idx.down": "-- ledger:no-transaction\nDROP INDEX CONCURRENTLY b_id;",
		"0005_c":        "CREATE TABLE c (id int);",
		"0005_c.down":   "DROP TABLE c;",
		"0006_d":        "CREATE TABLE d (id int);",
		"0006_d.down":   "DROP TABLE d;",
	}
	r := runner(t, pool, load(t, src))
	rep, err := r.Up(ctx, migrations.UpOptions{})
	if err != nil || len(rep.Done) != 6 {
		t.Fatalf("Up: %v %v", rep.Done, err)
	}
	if got := strings.Join(tables(t, pool), ","); got != "a,b,big,c,d" {
		t.Fatalf("tables: %s", got)
	}
	verifyOK(t, r.Store())
	rep, err = r.Down(ctx, migrations.DownOptions{Target: "0001_a"})
	if err != nil || len(rep.Done) != 5 {
		t.Fatalf("Down: %v %v", rep.Done, err)
	}
	if got := strings.Join(tables(t, pool), ","); got != "a" {
		t.Fatalf("tables after down: %s", got)
	}
	applied := eventTypes(t, r.Store(), ledger.Filter{Types: []string{projector.TypeMigrationApplied, projector.TypeMigrationReverted}})
	if len(applied) != 11 {
		t.Fatalf("applied and reverted events: %v, want 6 + 5", applied)
	}
	verifyOK(t, r.Store())
}

// A server's pool may hold a single connection: up, down with recorded SQL,
// a recorded failure, a lock timeout naming the holder, and a startup check
// that auto-migrates all run on the one connection the run holds.
func TestOneConnectionPoolIsEnough(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pool, url := pgtest.NewPool(t, 1)
	src := map[string]string{
		"1_a":      "CREATE TABLE a (id int);",
		"1_a.down": "DROP TABLE a;",
		"2_b":      "CREATE TABLE b (id int);",
		"2_b.down": "DROP TABLE b;",
		"3_c":      "CREATE TABLE c (id int);",
		"3_c.down": "DROP TABLE c;",
	}
	fsys := files(src)
	v, err := migrations.Check(ctx, pool, fsys, migrations.WithAutoMigrate(), migrations.WithAppVersion("1.0.0"))
	if err != nil || v.Decision != policy.Run {
		t.Fatalf("auto-migrating check: %v %v", v.Decision, err)
	}
	// An older release (without 3_c) reverts it with the SQL recorded when it was applied.
	delete(src, "3_c")
	delete(src, "3_c.down")
	old := runner(t, pool, load(t, src))
	if rep, err := old.Down(ctx, migrations.DownOptions{Target: "2_b", UseRecorded: true}); err != nil || len(rep.Done) != 1 {
		t.Fatalf("down with recorded SQL: %v %v", rep.Done, err)
	}
	src["3_bad"] = "SELECT 1/0;"
	if _, err := runner(t, pool, load(t, src)).Up(ctx, migrations.UpOptions{}); err == nil {
		t.Fatal("a failing migration applied")
	}
	state, _, err := old.Store().State(ctx)
	if err != nil || state.Failed["3_bad"].Attempt != 1 {
		t.Fatalf("recorded failure: %v %v", state.Failed, err)
	}
	holder, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock($1)", old.Store().LockKey()); err != nil {
		t.Fatal(err)
	}
	_, err = runner(t, pool, load(t, src), migrations.WithLockTimeout(200*time.Millisecond)).Up(ctx, migrations.UpOptions{})
	if !errors.Is(err, migrations.ErrLockTimeout) || !strings.Contains(err.Error(), "pid ") {
		t.Fatalf("Up while another holds the lock: %v", err)
	}
	verifyOK(t, old.Store())
}

// A no-transaction step records migration.started, a migration.progressed
// after each statement, and migration.applied — its last statement's
// progress and migration.applied in one transaction (one round trip with
// the session's reset), so neither commits without the other — and a
// transactional step after it runs on as it would after any other.
func TestNoTransactionStepRecordsItsEndInOneTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 3)
	src := map[string]string{
		"0001_t":   "CREATE TABLE t (a int, b int, c int);",
		"0002_idx": "-- ledger:no-transaction\nCREATE INDEX CONCURRENTLY t_a ON t (a);\nCREATE INDEX CONCURRENTLY t_b ON t (b);\nSET work_mem = '1MB';\nCREATE INDEX CONCURRENTLY t_c ON t (c);",
		"0003_u":   "CREATE TABLE u (id int);",
		"0004_one": "-- ledger:no-transaction\nCREATE INDEX CONCURRENTLY u_id ON u (id);",
		"0005_v":   "CREATE TABLE v (id int);",
	}
	r := runner(t, pool, load(t, src))
	if _, err := r.Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, "SELECT type, coalesce(payload->>'id', ''), coalesce(payload->>'statements_done', ''), xmin::text FROM ledger.events WHERE seq > 1 ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	var got, xmins []string
	for rows.Next() {
		var typ, id, done, xmin string
		if err := rows.Scan(&typ, &id, &done, &xmin); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.TrimSpace(typ+" "+id+" "+done))
		xmins = append(xmins, xmin)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"migration.applied 0001_t",
		"migration.started 0002_idx", "migration.progressed 0002_idx 1", "migration.progressed 0002_idx 2",
		"migration.progressed 0002_idx 3", "migration.progressed 0002_idx 4", "migration.applied 0002_idx",
		"migration.applied 0003_u",
		"migration.started 0004_one", "migration.progressed 0004_one 1", "migration.applied 0004_one",
		"migration.applied 0005_v",
	}
	if strings.Join(got[:len(got)-1], "\n") != strings.Join(want, "\n") || got[len(got)-1] != "schema.fingerprinted" {
		t.Fatalf("events:\n%s\nwant:\n%s\nschema.fingerprinted", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, c := range []struct {
		a, b int
		same bool
	}{{5, 6, true}, {9, 10, true}, {1, 2, false}, {4, 5, false}, {8, 9, false}, {6, 7, false}} {
		if (xmins[c.a] == xmins[c.b]) != c.same {
			t.Errorf("%s and %s in one transaction: %v, want %v", got[c.a], got[c.b], !c.same, c.same)
		}
	}
	verifyOK(t, r.Store())
	for _, ix := range []string{"t_a", "t_b", "t_c", "u_id"} {
		var valid bool
		if err := pool.QueryRow(ctx, "SELECT indisvalid FROM pg_index WHERE indexrelid = $1::regclass", ix).Scan(&valid); err != nil || !valid {
			t.Fatalf("index %s: valid=%v %v", ix, valid, err)
		}
	}
}
