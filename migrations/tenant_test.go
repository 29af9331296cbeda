package migrations_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/projector"
)

// Two tenants of one database, one pool: each tenant's migrations land in
// its schema (transactional, no-transaction and a rehearsal alike), each has
// a ledger of its own (ledger_<tenant>), one tenant's migrations are not
// the other's drift, and the pool's connections come back without the
// tenant's search_path. The rollout id reaches migration.applied.
func TestTenantSchemas(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	if _, err := pool.Exec(ctx, "CREATE SCHEMA acme; CREATE SCHEMA globex"); err != nil {
		t.Fatal(err)
	}
	set := load(t, map[string]string{
		"1_users": "CREATE TABLE users (id int PRIMARY KEY);",
		"2_index": "-- ledger:no-transaction\nCREATE INDEX CONCURRENTLY users_id ON users (id);",
		"3_more":  "ALTER TABLE users ADD COLUMN name text;",
	})
	acme := runner(t, pool, set, migrations.WithTenant("acme"), migrations.WithRollout("r-1"))
	globex := runner(t, pool, set, migrations.WithTenant("globex"))
	if got := acme.Store().Schema(); got != "ledger_acme" {
		t.Fatalf("acme's ledger schema %q, want ledger_acme", got)
	}
	if rep, err := acme.Up(ctx, migrations.UpOptions{Rehearse: true}); err != nil || len(rep.Rehearsed) != 1 {
		t.Fatalf("rehearse: %v %v", rep.Rehearsed, err)
	}
	if _, err := acme.Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := globex.Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	// acme again: globex's tables are not acme's drift.
	rep, err := acme.Up(ctx, migrations.UpOptions{})
	if err != nil || rep.Schema.Drifted || len(rep.Done) != 0 {
		t.Fatalf("acme again: drifted %v, done %v, %v", rep.Schema.Drifted, rep.Done, err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'users' AND schemaname IN ('acme', 'globex')`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("users tables in acme and globex: %d, %v", n, err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE indexname = 'users_id' AND schemaname IN ('acme', 'globex')`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("users_id indexes in acme and globex: %d, %v", n, err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("tables in public: %d, %v", n, err)
	}
	var path string
	for range 2 {
		if err := pool.QueryRow(ctx, "SHOW search_path").Scan(&path); err != nil || path != `"$user", public` {
			t.Fatalf("a pooled connection's search_path after the runs: %q, %v", path, err)
		}
	}
	var rollouts []string
	for e, err := range acme.Store().Events(ctx, ledgerFilter(projector.TypeMigrationApplied)) {
		if err != nil {
			t.Fatal(err)
		}
		var p projector.Applied
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			t.Fatal(err)
		}
		rollouts = append(rollouts, p.Rollout)
	}
	if len(rollouts) != 3 || rollouts[0] != "r-1" || rollouts[2] != "r-1" {
		t.Fatalf("acme's migration.applied rollouts: %q", rollouts)
	}
	verifyOK(t, acme.Store())
	verifyOK(t, globex.Store())
	if _, err := migrations.NewRunner(pool, set, migrations.WithTenant("Not-Valid")); err == nil {
		t.Fatal("a tenant whose ledger schema name is invalid was accepted")
	}
}

func ledgerFilter(types ...string) ledger.Filter { return ledger.Filter{Types: types} }
