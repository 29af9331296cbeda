package cli

// What `ledger up` prints, and its exit code, when a fault is injected for
// real (migrations/faults_test.go injects each one into the library): the
// whole of stderr is checked, so nothing is said twice or contradicted by a
// line after it, and the ledger's events are read back to hold the message
// to what was recorded.

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

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
	upFault{code: exitError, gained: "", stderr: whole(`ledger up: apply 0002_b failed (0002_b.up.sql): its SQL ran, but recording it in the ledger failed: ERROR: permission denied for table head (SQLSTATE 42501)
  it was rolled back, and recording the failure failed the same way, so nothing was recorded
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
