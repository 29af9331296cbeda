package cli

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// readmeAuditQueries are the sql blocks of the README's audit section.
func readmeAuditQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "<!-- audit-queries:")
	if !ok {
		t.Fatal("README.md has no audit-queries section")
	}
	if i := strings.Index(section, "\n#"); i >= 0 {
		section = section[:i]
	}
	var qs []string
	for _, m := range regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(section, -1) {
		qs = append(qs, m[1])
	}
	return qs
}

func queryRows(t *testing.T, conn *pgx.Conn, sql string, args ...any) [][]any {
	t.Helper()
	rows, err := conn.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var out [][]any
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// The views return the story's rows, and the README's queries run as written.
func TestAuditViews(t *testing.T) {
	t.Parallel()
	url, r12, _, _ := seedStory(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// And a change outside the migrations, which an up refusing drift
	// records (one with nothing to apply and no --refuse-drift reads no
	// catalog: the next up that migrates would record it).
	if _, err := conn.Exec(ctx, "ALTER TABLE accounts ADD COLUMN sneaky_hotfix int"); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := ledgerCLI(t, url, "up", "--refuse-drift", "--dir", r12, "--app-version", "1.2.0"); code != exitIntegrity {
		t.Fatalf("up --refuse-drift after drift: exit %d, want %d\n%s%s", code, exitIntegrity, out, errOut)
	}

	// Every event has its row; the columns say what the payload says.
	rows := queryRows(t, conn, `SELECT count(*) = (SELECT count(*) FROM ledger.events) FROM ledger.timeline`)
	if rows[0][0] != true {
		t.Error("timeline does not have one row per event")
	}
	rows = queryRows(t, conn, `SELECT type, migration_id, release, duration_ms IS NOT NULL, sqlstate, compatible, transactional, down_source
		FROM ledger.timeline WHERE migration_id IN ('0003_accounts_email', '0005_orders_customer') ORDER BY seq`)
	want := [][]any{
		{"migration.applied", "0003_accounts_email", "1.3.0", true, nil, ">=1.2.0", true, nil},
		{"migration.failed", "0005_orders_customer", "1.3.0", false, "42P01", nil, nil, nil},
		{"migration.reverted", "0003_accounts_email", "1.2.0", true, nil, nil, nil, "recorded"},
	}
	if len(rows) != len(want) {
		t.Fatalf("timeline rows %v, want %v", rows, want)
	}
	for i := range want {
		for j := range want[i] {
			if rows[i][j] != want[i][j] {
				t.Errorf("timeline row %d column %d = %v, want %v (row %v)", i, j, rows[i][j], want[i][j], rows[i])
			}
		}
	}

	qs := readmeAuditQueries(t)
	if len(qs) != 3 {
		t.Fatalf("README has %d audit queries, want 3", len(qs))
	}
	// What did release 1.3.0 change: 0003 and 0004 applied, 0005 failed.
	rows = queryRows(t, conn, qs[0])
	var got []string
	for _, r := range rows {
		got = append(got, r[2].(string)+" "+r[3].(string))
	}
	if strings.Join(got, "; ") != "migration.applied 0003_accounts_email; migration.applied 0004_orders_total; migration.failed 0005_orders_customer" {
		t.Errorf("what release 1.3.0 changed: %q", got)
	}
	// Every failure in the last 30 days: the one.
	rows = queryRows(t, conn, qs[1])
	if len(rows) != 1 || rows[0][1] != "0005_orders_customer" || rows[0][5] != "42P01" || !strings.Contains(rows[0][6].(string), "customers") {
		t.Errorf("failures: %v", rows)
	}
	// Changes outside a migration: the one the up found.
	if rows = queryRows(t, conn, qs[2]); len(rows) != 1 || rows[0][1] != "schema.drifted" || rows[0][4] != "1.2.0" {
		t.Errorf("drift: %v", rows)
	}
}
