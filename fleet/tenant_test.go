package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/fleet"
	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
)

// 20 tenant schemas in one database: each gets the set in its own schema
// and a ledger of its own (ledger_<tenant>); at most PerHost run at once;
// a second rollout finds every tenant at the set (no tenant's migrations
// are another's drift).
func TestTenantSchemasInOneDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, url := pgtest.NewPool(t, 2)
	var ddl strings.Builder
	for i := range 20 {
		fmt.Fprintf(&ddl, "CREATE SCHEMA tenant_%02d;", i)
	}
	ddl.WriteString("CREATE SCHEMA not_a_tenant;")
	if _, err := pool.Exec(ctx, ddl.String()); err != nil {
		t.Fatal(err)
	}
	targets, err := fleet.Tenants(ctx, pool, url, "tenant\\_%", ledger.DefaultSchema)
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 20 || targets[0].Name != "tenant_00" || targets[0].Tenant != "tenant_00" {
		t.Fatalf("tenants: %d, first %+v", len(targets), targets[0])
	}
	ctl, _ := control(t)
	s := set(t, 3, "")
	o := opts()
	o.Parallel, o.PerHost = 8, 3
	most := 0
	o.Progress = func(p fleet.Progress) { most = max(most, p.Running) }
	rep, err := fleet.Start(ctx, ctl, s, targets, o)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Finished || rep.Counts.Applied != 20 {
		t.Fatalf("report %+v", rep.Counts)
	}
	if most != 3 {
		t.Errorf("at most %d ran at once, want per-host 3", most)
	}
	st, _ := ctl.Status(ctx, rep.ID)
	for _, ts := range st.Targets {
		if ts.Ledger != "ledger_"+ts.Tenant {
			t.Errorf("%s: ledger schema %q", ts.Name, ts.Ledger)
		}
		checkTarget(t, url, ts.Tenant, 3, ts)
	}
	var public int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname IN ('public', 'not_a_tenant')").Scan(&public); err != nil || public != 0 {
		t.Fatalf("tables outside the tenants: %d %v", public, err)
	}
	// With everything applied, Tenants still lists the tenants only (not their ledgers).
	if again, err := fleet.Tenants(ctx, pool, url, "", ledger.DefaultSchema); err != nil || len(again) != 21 {
		t.Fatalf("tenants with %%: %d %v", len(again), err)
	}
	again, err := fleet.Start(ctx, ctl, s, targets, o)
	if err != nil || again.Counts.AtSet != 20 {
		t.Fatalf("second rollout: %+v %v", again.Counts, err)
	}
}

// Ctrl-C (ctx cancelled) while targets migrate: no target starts after
// it, the migrations in flight are cancelled, rolled back and recorded on
// their targets as up does, the rollout is recorded as interrupted, and a
// resume completes it with each migration applied once.
func TestInterruptedRolloutResumes(t *testing.T) {
	t.Parallel()
	urls := databases(t, 4)
	ctl, _ := control(t)
	s := set(t, 2, "SELECT pg_sleep(0.3);\n")
	o := opts()
	o.Parallel = 2
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel once both targets in flight are inside their first migration.
	admin := openPool(t, pgtest.ServerURL())
	go func() {
		defer cancel()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			var n int
			_ = admin.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
				WHERE state = 'active' AND wait_event = 'PgSleep' AND datname = ANY($1)`, dbNames(urls)).Scan(&n)
			if n == 2 {
				return
			}
		}
	}()
	rep, err := fleet.Start(ctx, ctl, s, targetsOf(urls), o)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Interrupted || len(rep.InFlight) != 2 || len(rep.Targets) != 0 {
		t.Fatalf("report: %+v", rep)
	}
	st, err := ctl.Status(context.Background(), rep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != fleet.StateInterrupted || st.Counts.Pending != 4 || len(st.InFlight) != 2 {
		t.Fatalf("status %s %+v %v", st.State, st.Counts, st.InFlight)
	}
	for _, name := range rep.InFlight {
		i := int(name[2]-'0')*10 + int(name[3]-'0')
		store, done := targetLedger(t, urls[i], "ledger")
		state, _, err := store.State(context.Background())
		done()
		if err != nil || len(state.Applied) != 0 || state.Failed["1_m1"].ID == "" {
			t.Fatalf("%s after the interrupt: %s, failed %v, %v", name, state, state.Failed, err)
		}
	}
	for _, i := range []int{2, 3} {
		if tableExists(t, urls[i], "ledger.events") {
			t.Errorf("db%02d started after the interrupt", i)
		}
	}
	// Two controllers resuming one rollout: the second is refused while the first runs.
	type result struct {
		rep fleet.Report
		err error
	}
	first := make(chan result, 1)
	go func() {
		r, err := fleet.Resume(context.Background(), ctl, rep.ID, s, nil, nil, opts())
		first <- result{r, err}
	}()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if st, err := ctl.Status(context.Background(), rep.ID); err == nil && len(st.Resumes) == 1 {
			break
		}
	}
	var running *fleet.RunningError
	if _, err := fleet.Resume(context.Background(), ctl, rep.ID, s, nil, nil, opts()); !errors.As(err, &running) {
		t.Fatalf("a second resume while the first runs: %v, want *RunningError", err)
	}
	r1 := <-first
	res, err := r1.rep, r1.err
	if err != nil {
		t.Fatal(err)
	}
	if !res.Finished || res.Counts.Applied != 4 {
		t.Fatalf("resume: %+v", res)
	}
	st, _ = ctl.Status(context.Background(), rep.ID)
	for i, ts := range st.Targets {
		checkTarget(t, urls[i], "", 2, ts)
	}
}

func dbNames(urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = u[strings.LastIndex(u, "/")+1:]
		out[i], _, _ = strings.Cut(out[i], "?")
	}
	return out
}

// A canary wave, a soak, then the rest; a health check that returns false
// fails its target (and, with the default budget, halts the rollout).
func TestCanarySoakAndHealth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, url := pgtest.NewPool(t, 2)
	for _, s := range []string{"a", "b", "c"} {
		if _, err := pool.Exec(ctx, "CREATE SCHEMA t_"+s); err != nil {
			t.Fatal(err)
		}
	}
	targets, err := fleet.Tenants(ctx, pool, url, "t\\_%", ledger.DefaultSchema)
	if err != nil {
		t.Fatal(err)
	}
	ctl, _ := control(t)
	s := set(t, 2, "")
	o := opts()
	o.Canary, o.Soak, o.Parallel = 1, 300*time.Millisecond, 4
	o.Health = "SELECT count(*) = 2 FROM runs"
	var order []string
	var canaryDone, restStarted time.Time
	o.Progress = func(p fleet.Progress) {
		if p.Started != "" {
			order = append(order, p.Started)
			if p.Started != "t_a" && restStarted.IsZero() {
				restStarted = time.Now()
			}
		}
		if p.Finished != nil && p.Finished.Name == "t_a" {
			canaryDone = time.Now()
		}
	}
	rep, err := fleet.Start(ctx, ctl, s, targets, o)
	if err != nil || !rep.Finished || rep.Counts.Applied != 3 {
		t.Fatalf("rollout: %+v %v", rep, err)
	}
	if order[0] != "t_a" || restStarted.Sub(canaryDone) < 300*time.Millisecond {
		t.Fatalf("order %v; the rest started %s after the canary finished, want the 300ms soak", order, restStarted.Sub(canaryDone))
	}
	if !rep.Targets[0].Canary || rep.Targets[1].Canary {
		t.Errorf("canary flags: %+v", rep.Targets)
	}
	o = opts()
	o.Health = "SELECT current_schema() <> 't_b'"
	rep, err = fleet.Start(ctx, ctl, s, targets, o)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := ctl.Status(ctx, rep.ID)
	if st.State != fleet.StateHalted || st.Targets[1].State != "failed" || !strings.Contains(st.Targets[1].Error, "health check: it returned false") {
		t.Fatalf("health: %s %+v", st.State, st.Targets[1])
	}
}
