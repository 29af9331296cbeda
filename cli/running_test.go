package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/schema-ledger/ledger/internal/pgtest"
)

// What bench/block.sh measures: check and status while another up holds a
// migration open — here on a lock this test holds on a connection of its
// own. They answer without waiting: a transactional migration is pending
// until it commits (the first up's, on the empty ledger that up has just
// created — where they also look for other tools' history tables, and a
// table with a version column is none — and a later up's), a
// no-transaction migration is in doubt from its start. Once the lock is
// released the up finishes and check says run.
func TestCheckAndStatusBesideARunningUp(t *testing.T) {
	t.Parallel()
	const held = "SELECT pg_advisory_xact_lock(7171);"
	for _, c := range []struct {
		name   string
		files  map[string]string
		check  int    // check's exit code while the migration is held
		says   string // in check's output
		status string // in status's output
	}{
		{
			name:  "first up, transactional",
			files: map[string]string{"0001_held.up.sql": held},
			check: exitPending, says: "pending: 0001_held", status: "Pending (1):\n  0001_held",
		},
		{
			name:  "later up, transactional",
			files: map[string]string{"0001_accounts.up.sql": "CREATE TABLE accounts (id bigint);", "0002_held.up.sql": held},
			check: exitPending, says: "pending: 0002_held", status: "Applied (1):",
		},
		{
			name:  "first up, no transaction",
			files: map[string]string{"0001_held.up.sql": "-- ledger:no-transaction\n" + held},
			check: exitIntegrity, says: "0001_held started at", status: "In doubt (1)",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := pgtest.NewDatabase(t)
			dir := writeDir(t, c.files)
			// A table with a column named version, as optimistic locking
			// has: a candidate for another tool's history that is none.
			pgtest.Exec(t, url, "CREATE TABLE documents (id bigint PRIMARY KEY, version bigint NOT NULL)")
			lock, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer lock.Close(ctx)
			if _, err := lock.Exec(ctx, "SELECT pg_advisory_lock(7171)"); err != nil {
				t.Fatal(err)
			}
			type result struct {
				code        int
				out, errOut string
			}
			up := make(chan result, 1)
			go func() {
				code, out, errOut := ledgerCLI(t, url, "up", "--dir", dir)
				up <- result{code, out, errOut}
			}()
			waitForLockWaiter(t, lock)

			const limit = time.Second // about a round trip or two; the limit avoids flakiness
			start := time.Now()
			code, out, errOut := ledgerCLI(t, url, "check", "--dir", dir)
			if d := time.Since(start); code != c.check || !strings.Contains(out+errOut, c.says) || d > limit {
				t.Errorf("check beside the running up: exit %d after %s, want %d saying %q\n%s%s", code, d, c.check, c.says, out, errOut)
			}
			start = time.Now()
			code, out, errOut = ledgerCLI(t, url, "status", "--dir", dir)
			if d := time.Since(start); code != exitOK || !strings.Contains(out, c.status) || strings.Contains(out, "another migration tool") || d > limit {
				t.Errorf("status beside the running up: exit %d after %s, want 0 saying %q\n%s%s", code, d, c.status, out, errOut)
			}

			if _, err := lock.Exec(ctx, "SELECT pg_advisory_unlock(7171)"); err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-up:
				if r.code != exitOK {
					t.Fatalf("up: exit %d\n%s%s", r.code, r.out, r.errOut)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("up did not finish after the lock was released")
			}
			if code, out, errOut := ledgerCLI(t, url, "check", "--dir", dir); code != exitOK {
				t.Errorf("check after the up: exit %d\n%s%s", code, out, errOut)
			}
		})
	}
}

// waitForLockWaiter returns once another backend of the database waits for
// the advisory lock that conn holds.
func waitForLockWaiter(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting bool
		err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE locktype = 'advisory' AND NOT granted AND objid = 7171
			  AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the up never reached the held migration")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
