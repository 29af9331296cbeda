package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
)

// readmeSQL returns the README's SQL block that starts with the comment
// "-- ledger:<name>".
func readmeSQL(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```sql\n-- ledger:" + name + "\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatalf("README.md has no sql block starting with -- ledger:%s", name)
	}
	return string(m[1])
}

// The README's grants, run as written (with this test's role and database
// names): the migrator migrates; the application role runs check, status,
// history and a check-in, and cannot write the ledger; a role with no grant
// is told which it needs; and an application role holding the migration
// lock is named as not a migrator.
func TestRolesFromTheREADME(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	mig, app, none := "ledger_migrator_"+suffix, "ledger_app_"+suffix, "ledger_none_"+suffix
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	rename := strings.NewReplacer("ledger_migrator", mig, "ledger_app", app, "DATABASE app", "DATABASE "+cfg.Database)
	// Roles are the server's, not the database's: drop what they own or
	// were granted in the test database, then them.
	pgtest.DropRolesAtEnd(t, url, app, none, mig)
	if _, err := admin.Exec(ctx, rename.Replace(readmeSQL(t, "grants-migrator"))+"; CREATE ROLE "+none+" LOGIN"); err != nil {
		t.Fatalf("the README's migrator grants: %v", err)
	}
	dir := writeDir(t, tamperSet)
	migURL, appURL, noneURL := pgtest.AsUser(t, url, mig), pgtest.AsUser(t, url, app), pgtest.AsUser(t, url, none)
	mustCLI(t, migURL, "--dir", dir, "up", "--to", "0002_orders")

	// No grant at all: the message names the grants.
	code, _, errOut := ledgerCLI(t, noneURL, "--dir", dir, "check")
	if code != 1 || !strings.Contains(errOut, "permission denied for schema ledger") || !strings.Contains(errOut, "GRANT USAGE ON SCHEMA ledger TO <role>") {
		t.Fatalf("check as a role with no grant: exit %d\n%s", code, errOut)
	}

	migConn, err := pgx.Connect(ctx, migURL)
	if err != nil {
		t.Fatal(err)
	}
	defer migConn.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE ROLE "+app+" LOGIN"); err != nil {
		t.Fatal(err)
	}
	// The README's app grants, run by the migrator (the ledger's owner)
	// — all but CREATE ROLE, which the admin ran.
	grants := strings.Replace(rename.Replace(readmeSQL(t, "grants-app")), "CREATE ROLE "+app+" LOGIN;", "", 1)
	if _, err := migConn.Exec(ctx, grants); err != nil {
		t.Fatalf("the README's application grants: %v", err)
	}

	if code, out, errOut := ledgerCLI(t, appURL, "--dir", dir, "check"); code != 3 || !strings.Contains(out, "pending: 0003_status") {
		t.Fatalf("check as the application role: exit %d\n%s%s", code, out, errOut)
	}
	mustCLI(t, appURL, "--dir", dir, "status")
	mustCLI(t, appURL, "history")
	if code, out, errOut := ledgerCLI(t, appURL, "--dir", dir, "--app-version", "1.0.0", "check", "--check-in"); code != 3 || strings.Contains(errOut, "warning") {
		t.Fatalf("check --check-in as the application role: exit %d\n%s%s", code, out, errOut)
	}
	events := queryInt(t, url, "SELECT count(*) FROM ledger.events")
	code, out, errOut := ledgerCLI(t, appURL, "--dir", dir, "up")
	if code == 0 || !strings.Contains(out+errOut, "permission denied") {
		t.Fatalf("up as the application role: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := pgx.Connect(ctx, appURL); err == nil {
		c, _ := pgx.Connect(ctx, appURL)
		_, err := c.Exec(ctx, "INSERT INTO ledger.events (seq) VALUES (999)")
		c.Close(ctx)
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("the application role inserted an event: %v", err)
		}
	}
	if n := queryInt(t, url, "SELECT count(*) FROM ledger.events"); n != events {
		t.Fatalf("the application role wrote the ledger: %d events, then %d", events, n)
	}

	// The application role takes the migration lock: up names it.
	st, err := ledger.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	appConn, err := pgx.Connect(ctx, appURL)
	if err != nil {
		t.Fatal(err)
	}
	defer appConn.Close(ctx)
	var pid int
	if err := appConn.QueryRow(ctx, "SELECT pg_backend_pid() FROM (SELECT pg_advisory_lock($1)) l", st.LockKey()).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, out, errOut = ledgerCLI(t, migURL, "--dir", dir, "up", "--lock-timeout", "1s")
	if code == 0 || !regexp.MustCompile(`pid [0-9]+, `+app+`@(local|[0-9.:a-f]+), unnamed, since 20[0-9-]+T`).MatchString(errOut) || !strings.Contains(errOut, "role "+app+" may not migrate (it has no INSERT on ledger.events), so it is not a migrator") ||
		!strings.Contains(errOut, "pg_terminate_backend(") {
		t.Fatalf("up while the application role holds the lock (%s): exit %d\n%s%s", time.Since(start), code, out, errOut)
	}
}
