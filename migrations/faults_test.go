package migrations_test

// Faults injected for real — a role that may not write the ledger, a full
// disk, a read-only server (a hot standby), a connection lost before its
// COMMIT was acknowledged — each checked twice: the message says what
// happened, and what it says was recorded is what the ledger holds.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
)

// recordClaims are what a failure's message may say about the ledger, and
// the events each claim means were added for the migration.
var recordClaims = []struct {
	claim string
	added func(id string) []string
}{
	{"recorded as migration.failed", func(id string) []string { return []string{"migration.failed " + id} }},
	{"nothing was recorded", func(string) []string { return nil }},
	{"it committed all the same", func(id string) []string { return []string{"migration.applied " + id} }},
}

// saysWhatWasRecorded checks that err's message makes exactly one claim
// about what was recorded for id, and that the ledger's events (before and
// after the run) bear it out.
func saysWhatWasRecorded(t *testing.T, err error, id string, before, after []string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	t.Logf("the message:\n%s", msg)
	if len(after) < len(before) || !slices.Equal(after[:len(before)], before) {
		t.Fatalf("the ledger's history changed: %v, then %v", before, after)
	}
	added := after[len(before):]
	claims := 0
	for _, c := range recordClaims {
		n := strings.Count(msg, c.claim)
		claims += n
		if n > 0 && !slices.Equal(added, c.added(id)) {
			t.Errorf("the message says %q, but the ledger gained %v:\n%s", c.claim, added, msg)
		}
	}
	if claims != 1 {
		t.Errorf("the message makes %d claims about what was recorded, want 1 (the ledger gained %v):\n%s", claims, added, msg)
	}
}

// says checks that msg holds each of want and none of notWant.
func says(t *testing.T, msg string, want, notWant []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("the message lacks %q:\n%s", w, msg)
		}
	}
	for _, w := range notWant {
		if strings.Contains(msg, w) {
			t.Errorf("the message says %q:\n%s", w, msg)
		}
	}
}

func allEvents(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	return eventTypes(t, runner(t, pool, load(t, nil)).Store(), ledger.Filter{})
}

// A role that may read the ledger but not write it: the owner created the
// ledger and applied 0001; the role runs up with 0002. Up finds, before it
// runs anything or takes the migration lock, that the role may not append
// (INSERT on events, UPDATE on head), and says what it lacks.
func TestFaultRoleMayNotRecordIsRefusedFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, url := pgtest.NewPool(t, 3)
	src := map[string]string{"0001_a": "CREATE TABLE a (id int);"}
	r := runner(t, pool, load(t, src))
	if _, err := r.Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, grants string
		want         []string
	}{
		{"no grant at all", "", []string{"it lacks USAGE on schema ledger, INSERT on ledger.events, UPDATE on ledger.head"}},
		{"the application's grants", "GRANT USAGE ON SCHEMA ledger TO {role}; GRANT SELECT ON ALL TABLES IN SCHEMA ledger TO {role}; GRANT CREATE ON SCHEMA public TO {role}",
			[]string{"it lacks INSERT on ledger.events, UPDATE on ledger.head"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			role := pgtest.NewRole(t, url, "ledger_nowrite_")
			if tc.grants != "" {
				exec(t, pool, strings.ReplaceAll(tc.grants, "{role}", role))
			}
			cfg := pool.Config().Copy()
			cfg.ConnConfig.User = role
			rolePool, err := pgxpool.NewWithConfig(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer rolePool.Close()
			// The migration lock is held: a role refused before it takes
			// the lock is refused at once, not after the lock timeout.
			holder, err := pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer holder.Release()
			exec(t, holder.Conn(), fmt.Sprintf("SELECT pg_advisory_lock(%d)", r.Store().LockKey()))
			defer exec(t, holder.Conn(), fmt.Sprintf("SELECT pg_advisory_unlock(%d)", r.Store().LockKey()))
			before := allEvents(t, pool)
			src := maps.Clone(src)
			src["0002_b"] = "CREATE TABLE b (id int);"
			start := time.Now()
			_, err = runner(t, rolePool, load(t, src), migrations.WithLockTimeout(5*time.Second)).Up(ctx, migrations.UpOptions{})
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("refused after %s: it waited for the lock", took)
			}
			var perr *ledger.PermissionError
			if !errors.As(err, &perr) || !perr.Write || perr.Role != role {
				t.Fatalf("up as a role that may not record: %v, want a *ledger.PermissionError naming the role", err)
			}
			says(t, err.Error(), append(tc.want, "role "+role+" may not record in the ledger, so nothing was run",
				"run them as the migrator role that owns it"), []string{"SQLSTATE", "GRANT USAGE"})
			if after := allEvents(t, pool); !slices.Equal(before, after) {
				t.Errorf("events: %v, then %v", before, after)
			}
			if got := tables(t, pool); !slices.Equal(got, []string{"a"}) {
				t.Errorf("tables: %v: the migration ran", got)
			}
		})
	}
}

// A role that passes that first test — INSERT on the events and UPDATE on
// the head, but not the projection's tables — so up gets as far as running
// a migration, and its record fails.
func TestFaultRoleMayNotWriteTheLedger(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		createSQL bool // the role may create tables in public
		sql       string
		want      []string
		notWant   []string
		sqlstates int // how often 42501 is said
	}{
		{
			name: "the migration fails and so does the record of its failure", createSQL: true,
			sql: "CREATE TABLE b (id int);\nSELECT 1/0;",
			want: []string{
				"apply 0002_b failed at 0002_b.up.sql:2: ERROR: division by zero (SQLSTATE 22012)",
				"it was rolled back, but recording the failure failed, so nothing was recorded: ledger schema \"ledger\": record in the ledger: ERROR: permission denied for table failed (SQLSTATE 42501)",
				"run them as the migrator role that owns it",
			},
			notWant:   []string{"recorded as migration.failed", "GRANT"},
			sqlstates: 1,
		},
		{
			name: "the role may not run the migration's SQL either",
			sql:  "CREATE TABLE b (id int);",
			want: []string{
				"apply 0002_b failed at 0002_b.up.sql:1:14: ERROR: permission denied for schema public (SQLSTATE 42501)",
				"it was rolled back, but recording the failure failed, so nothing was recorded: ledger schema \"ledger\": record in the ledger: ERROR: permission denied for table failed (SQLSTATE 42501)",
			},
			notWant:   []string{"recorded as migration.failed"},
			sqlstates: 2,
		},
		{
			name: "the migration runs but its event cannot be written", createSQL: true,
			sql: "CREATE TABLE b (id int);",
			want: []string{
				"apply 0002_b failed (0002_b.up.sql): its SQL ran, but recording it in the ledger failed: ERROR: permission denied for table applied (SQLSTATE 42501)",
				"it was rolled back, but recording the failure failed, so nothing was recorded: ledger schema \"ledger\": record in the ledger: ERROR: permission denied for table failed (SQLSTATE 42501)\n  up, down, resolve and init write the ledger: run them as the migrator role that owns it",
			},
			notWant:   []string{"recorded as migration.failed"},
			sqlstates: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool, url := pgtest.NewPool(t, 2)
			src := map[string]string{"0001_a": "CREATE TABLE a (id int);"}
			if _, err := runner(t, pool, load(t, src)).Up(ctx, migrations.UpOptions{}); err != nil {
				t.Fatal(err)
			}
			role := pgtest.NewRole(t, url, "ledger_nowrite_")
			exec(t, pool, "GRANT USAGE ON SCHEMA ledger TO "+role+"; GRANT SELECT ON ALL TABLES IN SCHEMA ledger TO "+role+
				"; GRANT INSERT ON ledger.events TO "+role+"; GRANT UPDATE ON ledger.head TO "+role)
			if tc.createSQL {
				exec(t, pool, "GRANT CREATE ON SCHEMA public TO "+role)
			}
			cfg := pool.Config().Copy()
			cfg.ConnConfig.User = role
			rolePool, err := pgxpool.NewWithConfig(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer rolePool.Close()

			before := allEvents(t, pool)
			src["0002_b"] = tc.sql
			_, err = runner(t, rolePool, load(t, src)).Up(ctx, migrations.UpOptions{})
			saysWhatWasRecorded(t, err, "0002_b", before, allEvents(t, pool))
			says(t, err.Error(), tc.want, tc.notWant)
			if n := strings.Count(err.Error(), "42501"); n != tc.sqlstates {
				t.Errorf("42501 said %d times, want %d:\n%s", n, tc.sqlstates, err)
			}
			var merr *migrations.MigrationError
			var perr *ledger.PermissionError
			if !errors.As(err, &merr) || merr.Recorded || !merr.RolledBack || !errors.As(merr.RecordErr, &perr) || !perr.Write {
				t.Errorf("want a MigrationError, rolled back, not recorded, for want of the permission to write the ledger: %#v", merr)
			}
			if got := tables(t, pool); !slices.Equal(got, []string{"a"}) {
				t.Errorf("tables after a rolled back 0002_b: %v", got)
			}
		})
	}
}

// moveLedgerTo puts the ledger's tables and indexes into tablespace ts,
// with its events table's pages full to any insert (fillfactor 10: a page
// holding a few events takes no more), so that the next event needs a new
// page.
func moveLedgerTo(t *testing.T, pool *pgxpool.Pool, ts string) {
	t.Helper()
	exec(t, pool, `DO $$ DECLARE r record; BEGIN
		FOR r IN SELECT c.oid::regclass AS rel, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		         WHERE n.nspname = 'ledger' AND c.relkind IN ('r', 'i') LOOP
			EXECUTE format('ALTER %s %s SET TABLESPACE %I', CASE r.relkind WHEN 'r' THEN 'TABLE' ELSE 'INDEX' END, r.rel, '`+ts+`');
		END LOOP;
	END $$;
	ALTER TABLE ledger.events SET (fillfactor = 10)`)
}

// A full disk (53100): a tablespace on a tmpfs, filled to the last byte.
// The migration writes there, or the ledger lives there, or both.
func TestFaultFullDisk(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		ledgerFull bool   // the ledger's tables are on the full disk
		sql        string // {ts}: the tablespace
		recorded   bool
		want       []string
	}{
		{
			name: "the migration fills the disk; its failure is recorded",
			sql:  "CREATE TABLE big (id int) TABLESPACE {ts};\nINSERT INTO big VALUES (1);", recorded: true,
			want: []string{
				"apply 0002_b failed at 0002_b.up.sql:2: ERROR: could not extend file", "No space left on device (SQLSTATE 53100)",
				"statement: INSERT INTO big VALUES (1)",
				"it was rolled back and recorded as migration.failed",
			},
		},
		{
			name: "the migration and the record of its failure find the disk full", ledgerFull: true,
			sql: "CREATE TABLE big (id int) TABLESPACE {ts};\nINSERT INTO big VALUES (1);",
			want: []string{
				"apply 0002_b failed at 0002_b.up.sql:2: ERROR: could not extend file",
				"it was rolled back, but recording the failure failed, so nothing was recorded: record in the ledger: ERROR: could not extend file",
			},
		},
		{
			name: "the migration runs but its event does not fit", ledgerFull: true,
			sql: "CREATE TABLE big (id int);",
			want: []string{
				"apply 0002_b failed (0002_b.up.sql): its SQL ran, but recording it in the ledger failed: ERROR: could not extend file",
				"it was rolled back", "so nothing was recorded",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			c := pgtest.NewCluster(t)   // a full disk's tablespace never lives in the shared server
			ts := c.NewTablespace("4m") // before the database: dropped after it
			pool, _ := c.NewPool(2)
			src := map[string]string{"0001_a": "CREATE TABLE a (id int);"}
			if _, err := runner(t, pool, load(t, src)).Up(ctx, migrations.UpOptions{}); err != nil {
				t.Fatal(err)
			}
			if tc.ledgerFull {
				moveLedgerTo(t, pool, ts.Name)
			}
			before := allEvents(t, pool)
			ts.Fill()
			src["0002_b"] = strings.ReplaceAll(tc.sql, "{ts}", ts.Name)
			r := runner(t, pool, load(t, src))
			_, err := r.Up(ctx, migrations.UpOptions{})
			ts.Free()
			saysWhatWasRecorded(t, err, "0002_b", before, allEvents(t, pool))
			says(t, err.Error(), tc.want, nil)
			var merr *migrations.MigrationError
			if !errors.As(err, &merr) || merr.Recorded != tc.recorded || !merr.RolledBack {
				t.Fatalf("want a MigrationError, rolled back, recorded %v: %#v", tc.recorded, merr)
			}
			if merr.SQLState != "53100" && !strings.Contains(merr.Err.Error(), "53100") {
				t.Errorf("the failure is not the full disk's 53100: %v", merr.Err)
			}
			if n := strings.Count(err.Error(), "SQLSTATE"); !tc.recorded && n != 2 || tc.recorded && n != 1 {
				t.Errorf("SQLSTATE said %d times:\n%s", n, err)
			}
			if got := tables(t, pool); !slices.Equal(got, []string{"a"}) {
				t.Errorf("tables after a rolled back 0002_b: %v", got)
			}
			// With room again, the same up goes through.
			if rep, err := r.Up(ctx, migrations.UpOptions{}); err != nil || len(rep.Done) != 1 {
				t.Fatalf("up with room on the disk: %v %v", rep.Done, err)
			}
			verifyOK(t, r.Store())
		})
	}
}

// A read-only server: a hot standby (a cluster of the test's own, restarted
// with standby.signal and no primary). The runner opens its transactions
// READ WRITE, which a standby refuses before anything runs, so nothing
// runs and nothing is recorded — and the message says so, not that
// something was rolled back.
func TestFaultReadOnlyServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := pgtest.NewCluster(t)
	primary, err := pgxpool.New(ctx, c.URL("postgres")+"&pool_max_conns=2")
	if err != nil {
		t.Fatal(err)
	}
	src := map[string]string{"0001_a": "CREATE TABLE a (id int);"}
	_, err = runner(t, primary, load(t, src)).Up(ctx, migrations.UpOptions{})
	primary.Close()
	if err != nil {
		t.Fatal(err)
	}
	c.RestartAsStandby()
	pool, err := pgxpool.New(ctx, c.URL("postgres")+"&pool_max_conns=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	before := allEvents(t, pool)
	for _, tc := range []struct{ name, sql, want string }{
		{"transactional", "CREATE TABLE b (id int);",
			"apply 0002_b failed (0002_b.up.sql): prepare the transaction: ERROR: cannot set transaction read-write mode during recovery"},
		{"no-transaction", "-- ledger:no-transaction\nCREATE TABLE b (id int);",
			"apply 0002_b failed (0002_b.up.sql): record migration.started: prepare the transaction: ERROR: cannot set transaction read-write mode during recovery"},
	} {
		src["0002_b"] = tc.sql
		_, err := runner(t, pool, load(t, src)).Up(ctx, migrations.UpOptions{})
		saysWhatWasRecorded(t, err, "0002_b", before, allEvents(t, pool))
		says(t, err.Error(), []string{tc.want, "\n  none of it ran, and nothing was recorded"}, []string{"rolled back", "recording the failure"})
		var merr *migrations.MigrationError
		if !errors.As(err, &merr) || !merr.NotRun || merr.RolledBack || merr.Recorded || merr.RecordErr != nil || merr.InDoubt {
			t.Errorf("%s: want a MigrationError that did not run: %#v", tc.name, merr)
		}
		if n := strings.Count(err.Error(), "SQLSTATE"); n != 1 {
			t.Errorf("%s: SQLSTATE said %d times:\n%s", tc.name, n, err)
		}
	}
}

// The server commits, then the connection dies before the client reads
// the answer to COMMIT. The connection's backend is terminated while its
// COMMIT waits for a synchronous standby that does not exist (a setting
// of the test's own cluster): the transaction has committed locally, and
// the client gets no answer. The run cannot know from the connection
// whether it committed; the ledger, read under the head's lock, says.
func TestFaultCommitAnswerLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := pgtest.NewCluster(t)
	pool, err := pgxpool.New(ctx, c.URL("postgres")+"&pool_max_conns=3")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	src := map[string]string{"0001_a": "CREATE TABLE a (id int);"}
	if _, err := runner(t, pool, load(t, src)).Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	before := allEvents(t, pool)
	exec(t, pool, "ALTER SYSTEM SET synchronous_standby_names = 'nobody'")
	exec(t, pool, "SELECT pg_reload_conf()")
	src["0002_b"] = "CREATE TABLE b (id int);"
	r := runner(t, pool, load(t, src))
	done := make(chan error, 1)
	go func() { _, err := r.Up(ctx, migrations.UpOptions{}); done <- err }()
	deadline := time.Now().Add(20 * time.Second)
	for !scalar[bool](t, pool, "SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND query LIKE '%CREATE TABLE b%'") {
		if time.Now().After(deadline) {
			t.Fatal("the migration's COMMIT never waited for the standby")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Commits no longer wait: the run's own reads and writes go on.
	exec(t, pool, "ALTER SYSTEM RESET synchronous_standby_names")
	exec(t, pool, "SELECT pg_reload_conf()")
	err = <-done
	saysWhatWasRecorded(t, err, "0002_b", before, allEvents(t, pool))
	says(t, err.Error(), []string{
		"apply 0002_b (0002_b.up.sql): the connection was lost before the server acknowledged its COMMIT: commit: ",
		"\n  it committed all the same: the ledger records it as applied; the run stopped there",
	}, []string{"0002_b failed", "rolled back", "migration.failed"})
	var merr *migrations.MigrationError
	if !errors.As(err, &merr) || !merr.Committed || merr.RolledBack || merr.Recorded || merr.RecordErr != nil {
		t.Errorf("want a MigrationError that committed: %#v", merr)
	}
	if got := tables(t, pool); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("tables: %v, want a and b", got)
	}
	if rep, err := r.Up(ctx, migrations.UpOptions{}); err != nil || len(rep.Done) != 0 {
		t.Fatalf("up after: %v %v, want nothing to do", rep.Done, err)
	}
	verifyOK(t, r.Store())
}

// A no-transaction migration whose backend is terminated in its second
// statement: in doubt with one statement done, recorded so, and the
// message claims no rollback (TestNoTransactionMigrationAndCrashInDoubt
// checks the ledger and the resume; TestTerminatedConnectionIsSaidOnce
// the transactional case).
func TestFaultCrashInNoTransactionMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 3)
	src := map[string]string{"0001_slow": "-- ledger:no-transaction\nCREATE TABLE s (id int);\nSELECT pg_sleep(60);"}
	r := runner(t, pool, load(t, src))
	if _, err := r.Store().Init(ctx); err != nil {
		t.Fatal(err)
	}
	before := allEvents(t, pool)
	done := make(chan error, 1)
	go func() { _, err := r.Up(ctx, migrations.UpOptions{}); done <- err }()
	deadline := time.Now().Add(20 * time.Second)
	for !scalar[bool](t, pool, "SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%' AND pid <> pg_backend_pid() AND datname = current_database()") {
		if time.Now().After(deadline) {
			t.Fatal("the slow statement never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	err := <-done
	t.Logf("the message:\n%s", err)
	says(t, err.Error(), []string{
		"apply 0001_slow failed at 0001_slow.up.sql:3: FATAL: terminating connection due to administrator command (SQLSTATE 57P01)",
		"0001_slow is a no-transaction migration: 1 of its statements completed; it is now in doubt",
	}, []string{"rolled back", "took no effect", "nothing was recorded", "recording the failure failed"})
	if n := strings.Count(err.Error(), "57P01"); n != 1 {
		t.Errorf("57P01 said %d times:\n%s", n, err)
	}
	after := allEvents(t, pool)
	want := append(slices.Clone(before), "migration.started 0001_slow", "migration.progressed 0001_slow", "migration.failed 0001_slow")
	if !slices.Equal(after, want) {
		t.Errorf("events: %v, want %v", after, want)
	}
	if d, ok := state(t, r.Store()).InDoubt["0001_slow"]; !ok || d.StatementsDone != 1 {
		t.Errorf("0001_slow is not in doubt with 1 statement done: %+v", d)
	}
}

// The sightings table locked by another session (what the application
// role could do with the grants of format 3, and what any session with
// the table's privileges can still do): up's guard gives up within the
// lock timeout and says who holds the lock, and a check with a check-in
// gets its verdict, its check-in refused after a short wait.
func TestFaultSightingsLocked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _, r130 := fleetStory(t, dropLegacy)
	locker, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Release()
	if _, err := locker.Exec(ctx, "BEGIN; LOCK TABLE ledger.sightings IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	defer locker.Exec(ctx, "ROLLBACK") //nolint:errcheck
	before := eventCount(t, pool)

	start := time.Now()
	_, err = upWith(t, pool, r130, migrations.UpOptions{}, migrations.WithLockTimeout(time.Second))
	took := time.Since(start)
	var gerr *migrations.GuardLockedError
	if !errors.As(err, &gerr) || took > 5*time.Second {
		t.Fatalf("up with the sightings locked: %v after %s, want a *GuardLockedError within the lock timeout", err, took)
	}
	says(t, err.Error(), []string{"up's guard could not read the sightings", "within the lock timeout (1s)", "nothing was applied", "AccessExclusiveLock"}, nil)
	if n := eventCount(t, pool); n != before {
		t.Errorf("a refused up recorded %d events", n-before)
	}

	// The check: its verdict at once, the check-in not recorded.
	r120 := newRelease("1.2.0", ids120...)
	c, err := migrations.NewChecker(pool, load(t, r120.files), r120.opts(migrations.WithCheckIn(migrations.CheckIn{Instance: "api-5", Heartbeat: migrations.NoHeartbeat}))...)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	v, err := c.Check(ctx)
	if took := time.Since(start); err != nil || v.Decision != policy.Run || took > 3*time.Second {
		t.Fatalf("check with the sightings locked: %v %v after %s", v.Decision, err, took)
	}
	if ciErr := c.CheckInError(); ciErr == nil || !strings.Contains(ciErr.Error(), "lock timeout") {
		t.Errorf("check-in error %v, want the lock timeout", ciErr)
	}
}

// A sighting dated ten years ahead (written by someone with the table's
// privileges; check-ins are dated by the server's clock) does not block
// every breaking up until then: up's guard ignores it and warns, and
// Fleet lists it apart.
func TestFaultForgedFutureSighting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _, r130 := fleetStory(t, dropLegacy)
	exec(t, pool, "DELETE FROM ledger.sightings WHERE instance <> 'api-1'")
	exec(t, pool, "UPDATE ledger.sightings SET last_seen = now() + interval '10 years'")
	var warnings atomic.Int32
	logger := slog.New(warnCounter{slog.DiscardHandler, &warnings})
	rep, err := upWith(t, pool, r130, migrations.UpOptions{}, migrations.WithLogger(logger))
	if err != nil || len(rep.Done) != 1 {
		t.Fatalf("up with a sighting dated 10 years ahead: %v (done %v)", err, rep.Done)
	}
	if warnings.Load() == 0 || len(rep.IgnoredSightings) != 1 || rep.IgnoredSightings[0].Instance != "api-1" {
		t.Errorf("the sighting dated ahead: %d warnings, ignored %+v; want a warning and api-1 in the report", warnings.Load(), rep.IgnoredSightings)
	}
	run, err := migrations.NewRunner(pool, load(t, r130.files), r130.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	f, err := run.Fleet(ctx, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Releases) != 0 || len(f.Future) != 1 || f.Future[0].Instance != "api-1" {
		t.Errorf("fleet: %d releases, future %+v; want none, and api-1 apart", len(f.Releases), f.Future)
	}
}
