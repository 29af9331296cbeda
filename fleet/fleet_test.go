package fleet_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/schema-ledger/ledger/fleet"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/projector"
)

// 30 databases × 5 migrations at parallel 8: each migration applied once
// on every target, every target's ledger verifies, the control ledger
// anchors each target's head; a second rollout finds them all at the set.
func TestRolloutOverDatabases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	urls := databases(t, 30)
	ctl, _ := control(t)
	s := set(t, 5, "")
	o := opts()
	o.Parallel = 8
	rep, err := fleet.Start(ctx, ctl, s, targetsOf(urls), o)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Finished || rep.Counts.Applied != 30 || len(rep.Targets) != 30 {
		t.Fatalf("report: finished %v, counts %+v", rep.Finished, rep.Counts)
	}
	st, err := ctl.Status(ctx, rep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != fleet.StateFinished || !st.AllDone() {
		t.Fatalf("status %s, counts %+v", st.State, st.Counts)
	}
	for i, ts := range st.Targets {
		checkTarget(t, urls[i], "", 5, ts)
	}
	checkControl(t, ctl, byName(urls))

	again, err := fleet.Start(ctx, ctl, s, targetsOf(urls), o)
	if err != nil {
		t.Fatal(err)
	}
	if again.Counts.AtSet != 30 || !again.Finished {
		t.Fatalf("second rollout: %+v", again.Counts)
	}
	list, err := ctl.List(ctx)
	if err != nil || len(list) != 2 || list[0].ID != rep.ID || list[1].ID != again.ID {
		t.Fatalf("list: %+v, %v", list, err)
	}
}

// Three targets fail (a table in the way) with a budget of two: the
// rollout halts after the second, the targets after it untouched; the fix
// and a resume complete them all.
func TestFailureBudgetHaltsThenResumeCompletes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	urls := databases(t, 8)
	ctl, _ := control(t)
	s := set(t, 3, "")
	for _, i := range []int{1, 3, 5} {
		execSQL(t, urls[i], "CREATE TABLE t2 (in_the_way int)")
	}
	o := opts()
	o.Parallel, o.MaxFailures = 1, 2
	rep, err := fleet.Start(ctx, ctl, s, targetsOf(urls), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Finished || !strings.Contains(rep.Halted, "2 of at most 2") {
		t.Fatalf("not halted by the budget: %+v", rep)
	}
	st, err := ctl.Status(ctx, rep.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"applied", "failed", "applied", "failed", "pending", "pending", "pending", "pending"}
	for i, ts := range st.Targets {
		if ts.State != want[i] {
			t.Errorf("target %s: %s, want %s", ts.Name, ts.State, want[i])
		}
		if ts.State == "failed" && (ts.SQLState != "42P07" || !strings.Contains(ts.Error, "2_m2")) {
			t.Errorf("target %s: sqlstate %q, error %q", ts.Name, ts.SQLState, ts.Error)
		}
		if ts.State == "pending" && tableExists(t, urls[i], "ledger.events") {
			t.Errorf("target %s after the halt was touched", ts.Name)
		}
	}
	if st.State != fleet.StateHalted || st.Halted == "" {
		t.Fatalf("status %s (%q)", st.State, st.Halted)
	}
	for _, i := range []int{1, 3, 5} {
		execSQL(t, urls[i], "DROP TABLE t2")
	}
	// The counts progress is told, kept as outcomes arrive (failed targets
	// retried), end where the report's, counted over the history, do.
	ro := opts()
	var last fleet.Counts
	ro.Progress = func(p fleet.Progress) { last = p.Counts }
	res, err := fleet.Resume(ctx, ctl, rep.ID, s, targetsOf(urls), nil, ro)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Finished || res.Counts.Applied != 8 || len(res.Targets) != 6 {
		t.Fatalf("resume: %+v", res)
	}
	if last != res.Counts {
		t.Errorf("the last progress counts %+v, the report's %+v", last, res.Counts)
	}
	st, _ = ctl.Status(ctx, rep.ID)
	for i, ts := range st.Targets {
		checkTarget(t, urls[i], "", 3, ts)
	}
	if st.Targets[1].Attempts != 2 || st.State != fleet.StateFinished {
		t.Fatalf("after resume: %s, attempts of the retried %d", st.State, st.Targets[1].Attempts)
	}
	checkControl(t, ctl, byName(urls))
}

// A failing canary halts everything: no other target starts.
func TestCanaryFailureHaltsEverything(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	urls := databases(t, 5)
	ctl, _ := control(t)
	s := set(t, 2, "")
	execSQL(t, urls[1], "CREATE TABLE t1 (in_the_way int)")
	o := opts()
	o.Canary, o.MaxFailures = 2, 10
	rep, err := fleet.Start(ctx, ctl, s, targetsOf(urls), o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rep.Halted, "canary db01 failed") {
		t.Fatalf("halted: %q", rep.Halted)
	}
	for i := 2; i < 5; i++ {
		if tableExists(t, urls[i], "ledger.events") {
			t.Errorf("db%02d started after the canary failed", i)
		}
	}
	st, _ := ctl.Status(ctx, rep.ID)
	if st.Counts.Pending != 3 || st.Counts.Failed != 1 || st.Counts.Applied != 1 {
		t.Fatalf("counts %+v", st.Counts)
	}
}

// A target where a newer release ran is refused with up's words, naming
// its unknown migrations; it counts against the budget.
func TestRefusingTargetNamesUnknownMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	urls := databases(t, 3)
	ctl, _ := control(t)
	s := set(t, 2, "")
	newer := set(t, 3, "")
	pool := openPool(t, urls[1])
	r, err := migrations.NewRunner(pool, newer, migrations.WithAppVersion("2.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	older, _ := migrations.NewRunner(pool, s, migrations.WithAppVersion("1.0.0"))
	_, upErr := older.Up(ctx, migrations.UpOptions{})
	if upErr == nil {
		t.Fatal("up of the older release was not refused")
	}
	o := opts()
	o.MaxFailures = 5
	// And a server that is not there: that target fails, the rest go on.
	targets := append(targetsOf(urls), fleet.Target{Name: "gone", URL: "postgres://postgres@127.0.0.1:1/gone?sslmode=disable"})
	rep, err := fleet.Start(ctx, ctl, s, targets, o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Counts.Refused != 1 || rep.Counts.Applied != 2 || rep.Counts.Failed != 1 || !rep.Finished {
		t.Fatalf("counts %+v finished %v", rep.Counts, rep.Finished)
	}
	for _, tr := range rep.Targets {
		if tr.Name == "gone" && (tr.Outcome != "failed" || !strings.Contains(tr.Error, "127.0.0.1")) {
			t.Errorf("the unreachable target: %s %q", tr.Outcome, tr.Error)
		}
	}
	st, _ := ctl.Status(ctx, rep.ID)
	ref := st.Targets[1]
	if ref.State != projector.OutcomeRefused || len(ref.Unknown) != 1 || ref.Unknown[0] != "3_m3" {
		t.Fatalf("refused target: %+v", ref)
	}
	if ref.Error != upErr.Error() {
		t.Errorf("the rollout's words differ from up's:\n%s\n---\n%s", ref.Error, upErr.Error())
	}
	var perr *migrations.PlanError
	for _, tr := range rep.Targets {
		if tr.Name == "db01" && !errors.As(tr.Err, &perr) {
			t.Errorf("db01's error is not up's *PlanError: %T", tr.Err)
		}
	}
}

// A dry run plans every target and writes nothing, not even the control ledger.
func TestDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	urls := databases(t, 2)
	ctl, pool := control(t)
	s := set(t, 2, "")
	o := opts()
	o.DryRun = true
	rep, err := fleet.Start(ctx, ctl, s, targetsOf(urls), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Targets {
		if r.Outcome != fleet.OutcomePending || len(r.Planned) != 2 {
			t.Errorf("%s: %s %v", r.Name, r.Outcome, r.Planned)
		}
	}
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regnamespace('ledger_rollouts') IS NOT NULL").Scan(&exists); err != nil || exists {
		t.Fatalf("the control ledger exists after a dry run: %v %v", exists, err)
	}
	for _, u := range urls {
		if tableExists(t, u, "ledger.events") {
			t.Errorf("a dry run created a ledger in %s", u)
		}
	}
}

// The head read of a target at the set comes in the text format; a
// database whose sessions print dates and bytes otherwise still ends at
// the set (through the runner when the read cannot be used).
func TestAtSetWithOtherSessionSettings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	urls := databases(t, 2)
	ctl, _ := control(t)
	s := set(t, 2, "")
	if rep, err := fleet.Start(ctx, ctl, s, targetsOf(urls), opts()); err != nil || rep.Counts.Applied != 2 {
		t.Fatalf("first rollout: %+v, %v", rep.Counts, err)
	}
	u, err := url.Parse(urls[1])
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	execSQL(t, urls[0], "ALTER DATABASE "+name+" SET DateStyle = 'SQL, DMY'")
	execSQL(t, urls[0], "ALTER DATABASE "+name+" SET bytea_output = 'escape'")
	execSQL(t, urls[0], "ALTER DATABASE "+name+" SET TimeZone = 'Asia/Kolkata'")
	rep, err := fleet.Start(ctx, ctl, s, targetsOf(urls), opts())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Finished || rep.Counts.AtSet != 2 {
		t.Fatalf("second rollout: %+v", rep)
	}
	st, err := ctl.Status(ctx, rep.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, ts := range st.Targets {
		checkTarget(t, urls[i], "", 2, ts)
	}
}
