package report_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/report"
)

// A fleet of four databases and one that cannot be reached: the matrix
// marks the migration applied everywhere, the failed one (with its
// SQLSTATE), the one in doubt, the drifted ledger and the one that fails
// verification, and chromium renders it.
func TestFleetPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r120, r130 := files(t, "1.2.0"), files(t, "1.3.0")
	withFile := func(base fstest.MapFS, name, sql string) fstest.MapFS {
		out := fstest.MapFS{}
		for k, v := range base {
			out[k] = v
		}
		out[name] = &fstest.MapFile{Data: []byte(sql)}
		return out
	}
	failing := withFile(r120, "0003_orders_customer.up.sql", "ALTER TABLE orders ADD COLUMN customer bigint REFERENCES customers (id);\n")
	doubtful := withFile(r120, "0003_orders_index.up.sql", "-- ledger:no-transaction\nCREATE INDEX CONCURRENTLY orders_idx ON orders (id);\nSELECT 1 / 0;\n")

	var members []report.Member
	ledgerOf := func(name string, fsys fstest.MapFS, version string, after func(url string, st *ledger.Store)) {
		t.Helper()
		pool, url := pgtest.NewPool(t, 3)
		set, err := migrations.Load(fsys)
		if err != nil {
			t.Fatal(err)
		}
		run, err := migrations.NewRunner(pool, set, migrations.WithAppVersion(version), migrations.WithHost("deploy-"+name))
		if err != nil {
			t.Fatal(err)
		}
		var merr *migrations.MigrationError
		if _, err := run.Up(ctx, migrations.UpOptions{}); err != nil && !errors.As(err, &merr) {
			t.Fatal(err)
		}
		if after != nil {
			after(url, run.Store())
		}
		empty, err := migrations.NewRunner(pool, &migrations.Set{})
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, report.Member{Name: name, Where: "postgres://postgres@127.0.0.1/" + name, Store: run.Store(), Verify: report.RunnerVerifier(empty, false)})
	}
	ledgerOf("eu", r130, "1.3.0", nil)
	ledgerOf("us", r120, "1.2.0", func(url string, _ *ledger.Store) {
		pgtest.Exec(t, url, "ALTER TABLE accounts ADD COLUMN sneaky_hotfix integer")
	})
	ledgerOf("asia", failing, "1.2.5", nil)
	ledgerOf("latam", doubtful, "1.2.6", nil)
	ledgerOf("africa", r120, "1.2.0", func(url string, _ *ledger.Store) {
		pgtest.Exec(t, url, "SET session_replication_role = replica; UPDATE ledger.events SET host = 'elsewhere' WHERE seq = 2")
	})
	members = append(members, report.Member{Name: "antarctica", Where: "postgres://postgres@nowhere.invalid/db", Err: errors.New("dial tcp: lookup nowhere.invalid: no such host")})

	f, err := report.BuildFleet(ctx, members, report.Options{})
	if err != nil {
		t.Fatal(err)
	}
	row := map[string]report.FleetLedger{}
	for _, l := range f.Ledgers {
		row[l.Name] = l
	}
	if l := row["eu"]; !l.OK() || l.Now.SchemaVersion != "0004_drop_accounts_nickname" || l.Migrations["0003_add_orders_status"] != report.CellApplied {
		t.Fatalf("eu: %+v", l)
	}
	if l := row["us"]; l.OK() || !strings.Contains(strings.Join(l.Drift, "\n"), "sneaky_hotfix") || l.Verification.OK {
		t.Fatalf("us (drifted): %+v", l)
	}
	if l := row["asia"]; l.Migrations["0003_orders_customer"] != report.CellFailed || len(l.Failures) != 1 || l.Failures[0].SQLState != "42P01" {
		t.Fatalf("asia (failed): %+v", l)
	}
	if l := row["latam"]; l.Migrations["0003_orders_index"] != report.CellInDoubt {
		t.Fatalf("latam (in doubt): %+v", l)
	}
	if l := row["africa"]; l.Verification.OK || !strings.Contains(l.Verification.Problems[0], "seq 2") {
		t.Fatalf("africa (tampered): %+v", l.Verification)
	}
	if l := row["antarctica"]; l.Error == "" {
		t.Fatalf("antarctica (unreachable): %+v", l)
	}
	if f.Problems != 5 || strings.Join(f.Releases, " ") != "1.2.0 1.2.5 1.2.6 1.3.0" {
		t.Fatalf("fleet: %d problems, releases %v", f.Problems, f.Releases)
	}
	var b strings.Builder
	if err := report.RenderFleetHTML(&b, f); err != nil {
		t.Fatal(err)
	}
	page := []byte(b.String())
	noURL(t, "the fleet page", page)
	dom := dumpDOM(t, writePage(t, page), true)
	noReference(t, "the fleet DOM", dom)
	contains(t, "the fleet DOM", dom, "5 of 6 ledgers need attention", "✗ failed", "? in doubt", "✓ applied", `<span class="badge bad">drifted</span>`,
		`<code class="sqlstate">42P01</code>`, "FAILS verification", "could not be read", "0003_orders_customer", "0003_orders_index")
	for _, name := range []string{"eu", "us", "asia", "latam", "africa", "antarctica"} {
		if !regexp.MustCompile(`<th scope="row">` + name + `<`).MatchString(dom) {
			t.Errorf("the fleet DOM has no row for %s", name)
		}
	}
	if !regexp.MustCompile(`<li class="drift-line">[^<]*sneaky_hotfix[^<]*</li>`).MatchString(dom) {
		t.Errorf("the fleet DOM has no drift line")
	}
}
