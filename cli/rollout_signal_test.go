package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/fleet"
	"github.com/schema-ledger/ledger/internal/pgtest"
)

// Ctrl-C (SIGINT) during `ledger rollout`: no target starts after it, the
// migrations in flight are cancelled (rolled back and recorded on each
// tenant), the rollout is recorded as interrupted, and the binary says how
// to resume, exit 1. Resume then completes it.
func TestInterruptStopsRollout(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	for _, s := range []string{"t_a", "t_b", "t_c"} {
		pgtest.Exec(t, url, "CREATE SCHEMA "+s)
	}
	dir := writeDir(t, map[string]string{"0001_slow.up.sql": "CREATE TABLE x (id int);\nSELECT pg_sleep(60);"})
	code, _, stderr := interruptOnceSleeping(t, url, 2, "rollout", "--tenants", `t\_%`, "--db", url, "--dir", dir, "--app-version", "1.0.0", "--parallel", "2")
	if code != exitError {
		t.Errorf("exit code %d, want %d", code, exitError)
	}
	if !strings.Contains(stderr, "interrupted; 2 target(s) were stopped mid-run") || !strings.Contains(stderr, "to go on: ledger rollout resume ") {
		t.Errorf("stderr does not say it was interrupted and how to go on:\n%s", stderr)
	}
	for _, s := range []string{"t_a", "t_b"} {
		var failed, applied int
		pgtest.QueryRow(t, url, "SELECT count(*) FILTER (WHERE type = 'migration.failed'), count(*) FILTER (WHERE type = 'migration.applied') FROM ledger_"+s+".events", &failed, &applied)
		if failed != 1 || applied != 0 {
			t.Errorf("%s: %d failed, %d applied; want the cancelled migration recorded as failed", s, failed, applied)
		}
	}
	var c int
	pgtest.QueryRow(t, url, "SELECT count(*) FROM pg_namespace WHERE nspname = 'ledger_t_c'", &c)
	if c != 0 {
		t.Error("t_c started after the interrupt")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ctl, _ := fleet.NewControl(pool, "", "")
	id, err := ctl.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ctl.Status(ctx, id)
	if err != nil || st.State != fleet.StateInterrupted || len(st.InFlight) != 2 {
		t.Fatalf("status %s, in flight %v, %v", st.State, st.InFlight, err)
	}
}
