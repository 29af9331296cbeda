package watch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/ledger/natsbus"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/watch"
)

// Bug 1 (alert storm): 297 migrations the guarded release does not know,
// applied in 30 runs of up, give one alert per run (30), not one per
// migration; the first run, of two, gives one alert naming both.
func TestStormOfUnknownMigrationsIsOneAlertPerRun(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	files := map[string]string{}
	for i := 1; i <= 297; i++ {
		files[fmt.Sprintf("%04d_t%d.up.sql", i, i)] = fmt.Sprintf("CREATE TABLE t%d (id int);", i)
	}
	w := e.watcher(map[string]string{}, "1.0.0")
	e.caughtUp(w)
	r := e.runner(files, "2.0.0")
	targets := []int{2}
	for n := 12; n < 290; n += 10 {
		targets = append(targets, n)
	}
	targets = append(targets, 297)
	for _, to := range targets {
		if _, err := r.Up(ctx, migrations.UpOptions{Target: fmt.Sprintf("%04d_t%d", to, to)}); err != nil {
			t.Fatal(err)
		}
	}
	if len(targets) != 30 {
		t.Fatalf("%d runs, want 30", len(targets))
	}
	e.caughtUp(w)
	as := e.waitAlerts(30)
	if len(as) != 30 {
		t.Fatalf("297 migrations in 30 runs gave %d stored alerts, want 30 (one per run)", len(as))
	}
	if printed := strings.Count(w.out.String(), "\n"); printed != 30 {
		t.Errorf("the watcher printed %d alerts, want 30", printed)
	}
	if got := len(as[0].Migrations); got != 2 {
		t.Errorf("the first run (two migrations) alerted %d of them, want both in one alert", got)
	}
	if got := len(as[29].Migrations); got != 297 {
		t.Errorf("the last alert names %d migrations, want the whole situation (297)", got)
	}
}

// Bug 3 (duplicate drift): with polling, a hand-run ALTER TABLE and then
// up (which records the same drift) is one printed alert and one webhook
// POST.
func TestDriftPolledAndRecordedIsOneAlertEverywhere(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	var posts atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a watch.Alert
		if json.NewDecoder(r.Body).Decode(&a) == nil && a.Kind == watch.KindDrift {
			posts.Add(1)
		}
	}))
	defer hook.Close()
	if _, err := e.runner(v120, "1.2.0").Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	// The guarded release, 1.3.0, is about to migrate: its up finds the
	// drift the polling found, and records it (schema.drifted).
	w := e.watcher(v130, "1.3.0", watch.WithSchemaPolling(e.pool, e.store, 50*time.Millisecond), watch.WithWebhook(hook.URL, 3, 10*time.Millisecond))
	e.caughtUp(w)
	if _, err := e.pool.Exec(ctx, "ALTER TABLE users ADD COLUMN sneaky integer"); err != nil {
		t.Fatal(err)
	}
	e.waitAlerts(1)
	if _, err := e.runner(v130, "1.3.0").Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	e.caughtUp(w)
	var recorded int
	if err := e.pool.QueryRow(ctx, "SELECT count(*) FROM ledger.events WHERE type = 'schema.drifted'").Scan(&recorded); err != nil || recorded != 1 {
		t.Fatalf("the up recorded %d schema.drifted events (%v), want 1", recorded, err)
	}
	time.Sleep(500 * time.Millisecond) // polls and the webhook have had their chance
	if as := e.alerts(); len(as) != 1 {
		t.Fatalf("stored alerts %v, want one schema-drift", alertKinds(as))
	}
	if n := strings.Count(w.out.String(), `"kind":"schema-drift"`); n != 1 {
		t.Errorf("printed %d schema-drift alerts, want 1:\n%s", n, w.out)
	}
	if n := posts.Load(); n != 1 {
		t.Errorf("the webhook got %d schema-drift POSTs, want 1", n)
	}
}

// Bug 4 (false in-doubt): a live watcher sees migration.started of a
// no-transaction migration that is applied milliseconds later, and alerts
// nothing.
func TestLiveWatcherDoesNotCallARunningMigrationInDoubt(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	files := map[string]string{
		"0001_users.up.sql": v120["0001_users.up.sql"],
		"0002_idx.up.sql":   "-- ledger:no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);",
	}
	w := e.watcher(files, "1.0.0", watch.WithSettle(0))
	e.caughtUp(w)
	if _, err := e.runner(files, "1.0.0").Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	e.caughtUp(w)
	time.Sleep(300 * time.Millisecond)
	if as := e.alerts(); len(as) != 0 {
		t.Fatalf("alerts for a migration that finished: %v", alertKinds(as))
	}
}

// Bug 5 (silent misconfiguration): a mistyped ledger name, on a server
// that has other ledgers' streams, is an error naming them — not an empty
// alert stream and a wait forever.
func TestMistypedNameIsAnError(t *testing.T) {
	e := newEnv(t)
	e.caughtUp() // the relay has created LEDGER_test_ledger
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := e.js.Stream(context.Background(), e.names.Stream); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	w, err := watch.New(e.js, policy.Manifest{AppVersion: "1.0.0"}, policy.Strict, watch.WithNames(natsbus.NamesFor("test_ledgr")), watch.WithStreamWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = w.Run(ctx)
	var nse *watch.NoStreamError
	if !errors.As(err, &nse) || !strings.Contains(err.Error(), "LEDGER_test_ledger") {
		t.Fatalf("Run: %v; want a *NoStreamError naming LEDGER_test_ledger", err)
	}
	if _, err := e.js.Stream(context.Background(), "LEDGER_test_ledgr_ALERTS"); err == nil {
		t.Error("an alert stream was created for the mistyped name")
	}
}

// Bug 2 (a real alert dropped): a checksum mismatch, its recovery, and the
// same mismatch again are three alerts in the alerts stream (the third
// was dropped as a duplicate when the id was the original apply's seq),
// each stamped when it was raised.
func TestMismatchAgainAfterRecoveryIsStored(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	edited := map[string]string{
		"0001_users.up.sql":   v120["0001_users.up.sql"] + "\n-- edited after it was applied",
		"0001_users.down.sql": v120["0001_users.down.sql"],
	}
	if _, err := e.runner(edited, "1.2.0").Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	w := e.watcher(v120, "1.2.0")
	e.caughtUp(w)
	as := e.waitAlerts(1)
	if len(as) != 1 || as[0].Kind != watch.KindMismatch {
		t.Fatalf("alerts %v, want one checksum-mismatch", alertKinds(as))
	}
	// Recovered: the migration reverted (only pending now); then the same
	// edited file applied again. (An accept cannot bring a mismatch back:
	// the checksum it replaces stays valid.)
	if _, err := e.runner(edited, "1.2.0").Down(ctx, migrations.DownOptions{Steps: 1}); err != nil {
		t.Fatal(err)
	}
	if as = e.waitAlerts(2); len(as) != 2 || as[1].Status != watch.Recovered {
		t.Fatalf("after the revert: %v", alertKinds(as))
	}
	time.Sleep(1100 * time.Millisecond) // so "now" differs from the first alert's second
	if _, err := e.runner(edited, "1.2.0").Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	as = e.waitAlerts(3)
	if got := alertKinds(as); len(got) != 3 || got[2] != "checksum-mismatch 0001_users" {
		t.Fatalf("the same mismatch again: stored alerts %v, want it stored a second time", got)
	}
	if as[2].MsgID() == as[0].MsgID() || !as[2].At.After(as[0].At) || !as[2].At.After(as[2].Migrations[0].At) {
		t.Errorf("the repeat: id %s (first %s), raised at %s (first %s, applied %s)", as[2].MsgID(), as[0].MsgID(), as[2].At, as[0].At, as[2].Migrations[0].At)
	}
}
