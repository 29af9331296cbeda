package cli

// What `ledger up` prints, and its exit code, when a fault is injected for
// real (migrations/faults_test.go injects each one into the library): the
// whole of stderr is checked, so nothing is said twice or contradicted by a
// line after it, and the ledger's events are read back to hold the message
// to what was recorded.

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/schema-ledger/ledger/internal/pgtest"
)

// ledgerEvents lists the ledger's events as "type id".
func ledgerEvents(t *testing.T, url string) string {
	t.Helper()
	var s string
	pgtest.QueryRow(t, url, "SELECT string_agg(type || coalesce(' ' || (payload::jsonb->>'id'), ''), ', ' ORDER BY seq) FROM ledger.events", &s)
	return s
}

// upFault is one run of `ledger up` under a fault: the exit code, stderr
// (matched whole), and the events the ledger gained.
type upFault struct {
	code   int
	stderr *regexp.Regexp
	gained string
}

func (f upFault) check(t *testing.T, dir string, code int, out, errOut, before, after string) {
	t.Helper()
	t.Logf("exit %d, stdout:\n%sstderr:\n%s", code, out, errOut)
	errOut = strings.ReplaceAll(errOut, dir+string(filepath.Separator), "")
	if code != f.code {
		t.Errorf("exit %d, want %d", code, f.code)
	}
	if !f.stderr.MatchString(errOut) {
		t.Errorf("stderr does not match\n%s\n%s", f.stderr, errOut)
	}
	if strings.Contains(out, "0002_b") {
		t.Errorf("stdout names 0002_b as done:\n%s", out)
	}
	gained := strings.TrimPrefix(strings.TrimPrefix(after, before), ", ")
	if !strings.HasPrefix(after, before) || gained != f.gained {
		t.Errorf("the ledger gained %q (%s, then %s), want %q", gained, before, after, f.gained)
	}
}

// whole makes a regexp matching s exactly, with {any} standing for any text
// on one line.
func whole(s string) *regexp.Regexp {
	return regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(s), regexp.QuoteMeta("{any}"), "[^\n]*") + "$")
}

func TestFaultUpRoleMayNotWriteTheLedger(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	dir := writeDir(t, map[string]string{"0001_a.up.sql": "CREATE TABLE a (id int);"})
	mustCLI(t, url, "--dir", dir, "up")
	role := pgtest.NewRole(t, url, "ledger_nowrite_")
	pgtest.Exec(t, url, "GRANT USAGE ON SCHEMA ledger TO "+role+"; GRANT SELECT ON ALL TABLES IN SCHEMA ledger TO "+role+"; GRANT CREATE ON SCHEMA public TO "+role)
	dir = writeDir(t, map[string]string{"0001_a.up.sql": "CREATE TABLE a (id int);", "0002_b.up.sql": "CREATE TABLE b (id int);"})
	before := ledgerEvents(t, url)
	code, out, errOut := ledgerCLI(t, pgtest.AsUser(t, url, role), "--dir", dir, "up")
	// Refused before anything runs: the role may not record.
	upFault{code: exitError, gained: "", stderr: whole(`ledger up: ledger schema "ledger": role ` + role + ` may not record in the ledger, so nothing was run: it lacks INSERT on ledger.events, UPDATE on ledger.head
  up, down, resolve and init write the ledger: run them as the migrator role that owns it (README: Roles)
`)}.check(t, dir, code, out, errOut, before, ledgerEvents(t, url))
}

func TestFaultUpFullDisk(t *testing.T) {
	t.Parallel()
	c := pgtest.NewCluster(t)   // a full disk's tablespace never lives in the shared server
	ts := c.NewTablespace("4m") // before the database: dropped after it
	_, url := c.NewPool(1)
	dir := writeDir(t, map[string]string{"0001_a.up.sql": "CREATE TABLE a (id int);"})
	mustCLI(t, url, "--dir", dir, "up")
	dir = writeDir(t, map[string]string{
		"0001_a.up.sql": "CREATE TABLE a (id int);",
		"0002_b.up.sql": "CREATE TABLE big (id int) TABLESPACE " + ts.Name + ";\nINSERT INTO big VALUES (1);",
	})
	before := ledgerEvents(t, url)
	ts.Fill()
	code, out, errOut := ledgerCLI(t, url, "--dir", dir, "up")
	ts.Free()
	upFault{code: exitError, gained: "migration.failed 0002_b", stderr: whole(`ledger up: apply 0002_b failed at 0002_b.up.sql:2: ERROR: could not extend file {any}: No space left on device (SQLSTATE 53100)
  statement: INSERT INTO big VALUES (1)
  it was rolled back and recorded as migration.failed; fix it and run up again
`)}.check(t, dir, code, out, errOut, before, ledgerEvents(t, url))
}

func TestFaultUpReadOnlyServer(t *testing.T) {
	t.Parallel()
	c := pgtest.NewCluster(t)
	url := c.URL("postgres")
	dir := writeDir(t, map[string]string{"0001_a.up.sql": "CREATE TABLE a (id int);"})
	mustCLI(t, url, "--dir", dir, "up")
	c.RestartAsStandby()
	dir = writeDir(t, map[string]string{"0001_a.up.sql": "CREATE TABLE a (id int);", "0002_b.up.sql": "CREATE TABLE b (id int);"})
	before := ledgerEvents(t, url)
	code, out, errOut := ledgerCLI(t, url, "--dir", dir, "up")
	upFault{code: exitError, gained: "", stderr: whole(`ledger up: apply 0002_b failed (0002_b.up.sql): prepare the transaction: ERROR: cannot set transaction read-write mode during recovery (SQLSTATE 0A000)
  none of it ran, and nothing was recorded
`)}.check(t, dir, code, out, errOut, before, ledgerEvents(t, url))
}

// terminateWhen ends the backend that matches where (a pg_stat_activity
// condition) as soon as there is one.
func terminateWhen(t *testing.T, url, where string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for queryInt(t, url, "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "+where+" AND pid <> pg_backend_pid()") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no backend where %s", where)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type cliRun struct {
	code        int
	out, errOut string
}

func TestFaultUpCrash(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	dir := writeDir(t, map[string]string{"0001_a.up.sql": "CREATE TABLE a (id int);"})
	mustCLI(t, url, "--dir", dir, "up")
	dir = writeDir(t, map[string]string{"0001_a.up.sql": "CREATE TABLE a (id int);", "0002_b.up.sql": "CREATE TABLE b (id int);\nSELECT pg_sleep(60);"})
	before := ledgerEvents(t, url)
	done := make(chan cliRun, 1)
	go func() {
		code, out, errOut := ledgerCLI(t, url, "--dir", dir, "up")
		done <- cliRun{code, out, errOut}
	}()
	// In pg_sleep, not merely sent: the query's text holds CREATE TABLE b too.
	terminateWhen(t, url, "wait_event = 'PgSleep' AND datname = current_database()")
	r := <-done
	upFault{code: exitError, gained: "migration.failed 0002_b", stderr: whole(`ledger up: apply 0002_b failed at 0002_b.up.sql:2: FATAL: terminating connection due to administrator command (SQLSTATE 57P01)
  statement: SELECT pg_sleep(60)
  it was rolled back and recorded as migration.failed; fix it and run up again
`)}.check(t, dir, r.code, r.out, r.errOut, before, ledgerEvents(t, url))
}

// The server commits; the answer to COMMIT is lost with the connection
// (see TestFaultCommitAnswerLost in migrations).
func TestFaultUpCommitAnswerLost(t *testing.T) {
	t.Parallel()
	c := pgtest.NewCluster(t)
	url := c.URL("postgres")
	dir := writeDir(t, map[string]string{"0001_a.up.sql": "CREATE TABLE a (id int);"})
	mustCLI(t, url, "--dir", dir, "up")
	dir = writeDir(t, map[string]string{"0001_a.up.sql": "CREATE TABLE a (id int);", "0002_b.up.sql": "CREATE TABLE b (id int);"})
	before := ledgerEvents(t, url)
	pgtest.Exec(t, url, "ALTER SYSTEM SET synchronous_standby_names = 'nobody'")
	pgtest.Exec(t, url, "SELECT pg_reload_conf()")
	done := make(chan cliRun, 1)
	go func() {
		code, out, errOut := ledgerCLI(t, url, "--dir", dir, "up")
		done <- cliRun{code, out, errOut}
	}()
	terminateWhen(t, url, "wait_event = 'SyncRep' AND query LIKE '%CREATE TABLE b%'")
	pgtest.Exec(t, url, "ALTER SYSTEM RESET synchronous_standby_names")
	pgtest.Exec(t, url, "SELECT pg_reload_conf()")
	r := <-done
	upFault{code: exitError, gained: "migration.applied 0002_b", stderr: whole(`ledger up: apply 0002_b (0002_b.up.sql): the connection was lost before the server acknowledged its COMMIT: commit: {any}
  it committed all the same: the ledger records it as applied; the run stopped there
`)}.check(t, dir, r.code, r.out, r.errOut, before, ledgerEvents(t, url))
}

// The sightings locked by another session (what an application role could
// do with the grants of format 3): up gives up within --lock-timeout and
// names the holder; check --check-in gives its verdict and warns.
func TestFaultUpSightingsLocked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	dir := writeDir(t, map[string]string{"0001_a.up.sql": "CREATE TABLE a (id int);"})
	mustCLI(t, url, "--dir", dir, "up")
	mustCLI(t, url, "--dir", dir, "--app-version", "1.0.0", "check", "--check-in", "--instance", "web-1")
	dir = writeDir(t, map[string]string{"0001_a.up.sql": "CREATE TABLE a (id int);", "0002_b.up.sql": "CREATE TABLE b (id int);"})
	locker, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close(ctx)
	if _, err := locker.Exec(ctx, "BEGIN; LOCK TABLE ledger.sightings IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	before := ledgerEvents(t, url)
	start := time.Now()
	code, out, errOut := ledgerCLI(t, url, "--dir", dir, "up", "--lock-timeout", "1s")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("up took %s with --lock-timeout 1s", took)
	}
	upFault{code: exitError, gained: "", stderr: whole(`ledger up: up's guard could not read the sightings of ledger schema "ledger" within the lock timeout (1s): another session holds a lock on the table, so nothing was applied
  held by pid {any} (role postgres, AccessExclusiveLock, in a transaction since {any})
`)}.check(t, dir, code, out, errOut, before, ledgerEvents(t, url))

	start = time.Now()
	code, out, errOut = ledgerCLI(t, url, "--dir", dir, "--app-version", "1.0.0", "check", "--check-in", "--instance", "web-1")
	if took := time.Since(start); code != exitPending || took > 3*time.Second || !strings.Contains(errOut, "warning") || !strings.Contains(errOut, "lock timeout") {
		t.Errorf("check --check-in with the sightings locked: exit %d after %s\n%s%s", code, took, out, errOut)
	}
}

// A sighting dated ten years ahead (check-ins are dated by the server's
// clock; this one was written by hand) blocks no up: up applies a
// migration that would break it, and fleet warns of it.
func TestFaultUpForgedFutureSighting(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	dir := writeDir(t, map[string]string{"0001_a.up.sql": "CREATE TABLE a (id int);"})
	mustCLI(t, url, "--dir", dir, "up")
	mustCLI(t, url, "--dir", dir, "--app-version", "1.0.0", "check", "--check-in", "--instance", "web-1")
	pgtest.Exec(t, url, "UPDATE ledger.sightings SET last_seen = now() + interval '10 years'")
	dir = writeDir(t, map[string]string{"0001_a.up.sql": "CREATE TABLE a (id int);", "0002_b.up.sql": "CREATE TABLE b (id int);"})
	if code, out, errOut := ledgerCLI(t, url, "--dir", dir, "--app-version", "1.1.0", "up"); code != exitOK || !strings.Contains(errOut, "sighting of instance web-1") ||
		!strings.Contains(errOut, "up's guard ignores it") {
		t.Fatalf("up with a sighting dated ahead: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := ledgerCLI(t, url, "fleet")
	if code != exitOK || !strings.Contains(errOut, "sighting of instance web-1") || !strings.Contains(errOut, "in the future") || strings.Contains(out, "1.0.0") {
		t.Errorf("fleet: exit %d\n%s%s", code, out, errOut)
	}
}

// A no-transaction migration whose second statement left an invalid index
// after the first created a valid one: up's advice lists both; status,
// check and verify name the invalid index; resolve --failed warns of what
// is still in the way; done as advised, up applies it.
func TestInDoubtAdviceNamesWhatIsLeft(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	files := map[string]string{"0001_t.up.sql": "CREATE TABLE t (id int PRIMARY KEY, x int);\nINSERT INTO t VALUES (1, 7), (2, 7);"}
	dir := writeDir(t, files)
	mustCLI(t, url, "--dir", dir, "up")
	files["0002_idx.up.sql"] = "-- ledger:no-transaction\nCREATE INDEX CONCURRENTLY t_id ON t (id);\nCREATE UNIQUE INDEX CONCURRENTLY t_x ON t (x);"
	dir = writeDir(t, files)
	code, _, errOut := ledgerCLI(t, url, "--dir", dir, "up")
	for _, want := range []string{"the completed statements created: index public.t_id (statement 1)", "left invalid index public.t_x",
		"`ledger resolve 0002_idx --resume` goes on from statement 2 (it drops invalid index public.t_x concurrently first)",
		"to start over, run DROP INDEX CONCURRENTLY public.t_id; DROP INDEX CONCURRENTLY public.t_x; then `ledger resolve 0002_idx --failed --reason TEXT`"} {
		if code != exitError || !strings.Contains(errOut, want) {
			t.Errorf("up: exit %d, stderr lacks %q:\n%s", code, want, errOut)
		}
	}
	for _, args := range [][]string{{"status"}, {"check"}, {"verify"}} {
		_, out, errOut := ledgerCLI(t, url, append([]string{"--dir", dir}, args...)...)
		if !strings.Contains(out+errOut, "left invalid index public.t_x") {
			t.Errorf("%s does not name the invalid index:\n%s%s", args[0], out, errOut)
		}
	}
	code, out, errOut := ledgerCLI(t, url, "--dir", dir, "resolve", "0002_idx", "--failed", "--reason", "start over")
	if code != exitOK || !strings.Contains(errOut, "warning: 0002_idx is recorded as failed, but 1 of its statements were recorded as completed") ||
		!strings.Contains(errOut, "DROP INDEX CONCURRENTLY public.t_id; DROP INDEX CONCURRENTLY public.t_x;") {
		t.Fatalf("resolve --failed: exit %d\n%s%s", code, out, errOut)
	}
	pgtest.Exec(t, url, "DROP INDEX CONCURRENTLY public.t_id")
	pgtest.Exec(t, url, "DROP INDEX CONCURRENTLY public.t_x")
	pgtest.Exec(t, url, "DELETE FROM t WHERE id = 2")
	mustCLI(t, url, "--dir", dir, "up")
}
