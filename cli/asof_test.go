package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

// writeDir writes migration files into a new directory under t.TempDir.
func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// ledgerCLI runs the CLI against url and returns its exit code and output.
func ledgerCLI(t *testing.T, url string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runWith(context.Background(), args, &out, &errOut, func(k string) string {
		if k == "DATABASE_URL" {
			return url
		}
		return ""
	})
	return code, out.String(), errOut.String()
}

func mustCLI(t *testing.T, url string, args ...string) string {
	t.Helper()
	code, out, errOut := ledgerCLI(t, url, args...)
	if code != 0 {
		t.Fatalf("ledger %v: exit %d\n%s%s", args, code, out, errOut)
	}
	return out
}

// The seed story: release 1.2.0, then 1.3.0's migrations one by one (the
// last fails), then the rollback to 1.2.0 with the recorded down SQL.
var (
	story12 = map[string]string{
		"0001_accounts.up.sql":   "CREATE TABLE accounts (id bigint PRIMARY KEY, nickname text);",
		"0001_accounts.down.sql": "DROP TABLE accounts;",
		"0002_orders.up.sql":     "CREATE TABLE orders (id bigint PRIMARY KEY);",
		"0002_orders.down.sql":   "DROP TABLE orders;",
	}
	story13 = func() map[string]string {
		m := map[string]string{
			"0003_accounts_email.up.sql":    "-- ledger:compatible >=1.2.0\nALTER TABLE accounts ADD COLUMN email text;",
			"0003_accounts_email.down.sql":  "ALTER TABLE accounts DROP COLUMN email;",
			"0004_orders_total.up.sql":      "ALTER TABLE orders ADD COLUMN total numeric;",
			"0004_orders_total.down.sql":    "ALTER TABLE orders DROP COLUMN total;",
			"0005_orders_customer.up.sql":   "ALTER TABLE orders ADD COLUMN customer bigint REFERENCES customers;",
			"0005_orders_customer.down.sql": "ALTER TABLE orders DROP COLUMN customer;",
		}
		for k, v := range story12 {
			m[k] = v
		}
		return m
	}()
)

// moment is what the test saw at one point of the story.
type moment struct {
	name  string
	state projector.State
	at    time.Time // the recorded_at of the state's last event
}

// statusJSON is the part of status --json the test compares.
type statusJSON struct {
	Seq           int64                 `json:"seq"`
	SchemaVersion string                `json:"schema_version"`
	Applied       []projector.Migration `json:"applied"`
	InDoubt       []projector.InDoubt   `json:"in_doubt"`
	Failed        []projector.Failure   `json:"failed"`
	AsOf          *asOfView             `json:"as_of"`
}

// seedStory plays the story on a fresh database and returns its URL, the
// two releases' directories and what the test saw at each of its moments.
func seedStory(t *testing.T) (url, r12, r13 string, moments []moment) {
	t.Helper()
	ctx := context.Background()
	pool, url := pgtest.NewPool(t, 1)
	store, err := ledger.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	r12, r13 = writeDir(t, story12), writeDir(t, story13)
	observe := func(name string) {
		t.Helper()
		state, head, err := store.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := store.Event(ctx, head.Seq)
		if err != nil {
			t.Fatal(err)
		}
		moments = append(moments, moment{name, state, ev.RecordedAt})
	}
	mustCLI(t, url, "up", "--dir", r12, "--app-version", "1.2.0")
	observe("before 1.3.0")
	mustCLI(t, url, "up", "--dir", r13, "--app-version", "1.3.0", "--to", "0003_accounts_email")
	observe("after 0003")
	mustCLI(t, url, "up", "--dir", r13, "--app-version", "1.3.0", "--to", "0004_orders_total")
	observe("after 0004")
	if code, _, _ := ledgerCLI(t, url, "up", "--dir", r13, "--app-version", "1.3.0"); code != exitError {
		t.Fatalf("up of the failing 0005: exit %d, want %d", code, exitError)
	}
	observe("after 0005 failed")
	mustCLI(t, url, "down", "--dir", r12, "--app-version", "1.2.0", "--to", "0002_orders", "--use-recorded")
	observe("after the rollback")
	return url, r12, r13, moments
}

func TestStatusAsOf(t *testing.T) {
	t.Parallel()
	url, _, r13, moments := seedStory(t)
	// The story has what the comparison must cover.
	if s := moments[3].state; len(s.Failed) != 1 || len(s.Applied) != 4 || s.SchemaVersion != "0004_orders_total" {
		t.Fatalf("after 0005 failed: %s", s)
	}
	if s := moments[4].state; len(s.Applied) != 2 || s.SchemaVersion != "0002_orders" {
		t.Fatalf("after the rollback: %s", s)
	}
	for _, m := range moments {
		for _, asOf := range []string{strconv.FormatInt(m.state.Seq, 10), m.at.Format(time.RFC3339Nano)} {
			out := mustCLI(t, url, "status", "--dir", r13, "--app-version", "1.3.0", "--as-of", asOf, "--json")
			var got statusJSON
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("%s: %v\n%s", m.name, err, out)
			}
			compareState(t, m.name+" as of "+asOf, got, m.state)
		}
	}
	// Before the first event, the ledger did not exist.
	out := mustCLI(t, url, "status", "--dir", r13, "--as-of", moments[0].at.Add(-time.Hour).Format(time.RFC3339Nano))
	if !bytes.Contains([]byte(out), []byte("the ledger did not exist yet")) {
		t.Errorf("status as of an hour before the first event:\n%s", out)
	}
	if code, _, errOut := ledgerCLI(t, url, "status", "--dir", r13, "--as-of", "99999"); code != exitError || !bytes.Contains([]byte(errOut), []byte("holds only")) {
		t.Errorf("status --as-of beyond the head: exit %d, %s", code, errOut)
	}
	if code, _, _ := ledgerCLI(t, url, "status", "--dir", r13, "--as-of", "yesterday-ish"); code != exitUsage {
		t.Errorf("status --as-of garbage: exit %d, want %d", code, exitUsage)
	}
}

func compareState(t *testing.T, what string, got statusJSON, want projector.State) {
	t.Helper()
	if got.AsOf == nil || got.AsOf.Seq != want.Seq || got.Seq != want.Seq {
		t.Errorf("%s: seq %d (as_of %+v), want %d", what, got.Seq, got.AsOf, want.Seq)
	}
	if got.SchemaVersion != want.SchemaVersion {
		t.Errorf("%s: schema version %q, want %q", what, got.SchemaVersion, want.SchemaVersion)
	}
	var ids []string
	for _, m := range got.Applied {
		ids = append(ids, m.ID)
		w, ok := want.Applied[m.ID]
		if !ok || w.Checksum != m.Checksum || w.Seq != m.Seq || w.AppVersion != m.AppVersion || !w.AppliedAt.Equal(m.AppliedAt) {
			t.Errorf("%s: applied %+v, want %+v", what, m, w)
		}
	}
	if len(ids) != len(want.Applied) {
		t.Errorf("%s: applied %v, want %d migrations", what, ids, len(want.Applied))
	}
	if len(got.InDoubt) != len(want.InDoubt) {
		t.Errorf("%s: in doubt %+v, want %+v", what, got.InDoubt, want.InDoubt)
	}
	var failed []string
	for _, f := range got.Failed {
		failed = append(failed, f.ID)
		if w, ok := want.Failed[f.ID]; !ok || w.Attempt != f.Attempt || w.SQLState != f.SQLState || w.Seq != f.Seq {
			t.Errorf("%s: failed %+v, want %+v", what, f, w)
		}
	}
	if len(failed) != len(want.Failed) {
		t.Errorf("%s: failed %v, want %d", what, failed, len(want.Failed))
	}
}
