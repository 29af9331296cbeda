package watch_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/internal/syncbuf"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/watch"
)

type fleetRun struct {
	w      *watch.FleetWatcher
	out    *syncbuf.Buffer
	cancel context.CancelFunc
	done   chan error
}

func (e *fleetEnv) watcher(opts ...watch.FleetOption) *fleetRun {
	e.t.Helper()
	out := &syncbuf.Buffer{}
	w, err := watch.NewFleet(e.js, append([]watch.FleetOption{watch.FleetOutput(out, true)}, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &fleetRun{w: w, out: out, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- w.Run(ctx) }()
	e.t.Cleanup(func() { r.stop(e.t) })
	return r
}

func (r *fleetRun) stop(t testing.TB) {
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("fleet watcher: %v", err)
		}
		r.done <- nil
	case <-time.After(30 * time.Second):
		t.Error("the fleet watcher did not stop")
	}
}

// fleetAlerts reads the fleet's alerts stream whole.
func (e *fleetEnv) fleetAlerts() []watch.Alert {
	e.t.Helper()
	ctx := context.Background()
	s, err := e.js.Stream(ctx, watch.FleetAlertStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil // no watcher has run yet
	}
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []watch.Alert
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			e.t.Fatal(err)
		}
		var a watch.Alert
		if err := json.Unmarshal(m.Data, &a); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

func (e *fleetEnv) waitFleetAlerts(n int, d time.Duration) []watch.Alert {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for {
		as := e.fleetAlerts()
		if len(as) >= n || time.Now().After(deadline) {
			return as
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *fleetEnv) waitGuarded(w *watch.FleetWatcher, release string) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, name := range e.names {
		for !slices.Contains(w.Guarded(name), release) {
			if time.Now().After(deadline) {
				e.t.Fatalf("ledger %s: guarding %v, not %s", name, w.Guarded(name), release)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// The same hand-run drift on 5 databases, each found by the next up that
// migrates, is one alert naming the 5 — for the release seen running on
// each.
func TestSameDriftOnFiveDatabasesIsOneGroupedAlert(t *testing.T) {
	ctx := context.Background()
	e := newFleetEnv(t, 5)
	for i := range 5 {
		if _, err := e.runner(i, v120, "1.2.0").Up(ctx, migrations.UpOptions{}); err != nil {
			t.Fatal(err)
		}
		e.checkIn(i, v130, "1.3.0", "pod") // 1.3.0 runs there, about to migrate
	}
	r := e.watcher(watch.WithGroupWindow(3 * time.Second))
	e.waitGuarded(r.w, "1.3.0")
	for i := range 5 {
		if _, err := e.pools[i].Exec(ctx, "ALTER TABLE users ADD COLUMN sneaky_hotfix integer"); err != nil {
			t.Fatal(err)
		}
		// The next run that migrates finds the drift and records it.
		if _, err := e.runner(i, v130, "1.3.0").Up(ctx, migrations.UpOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	as := e.waitFleetAlerts(1, 20*time.Second)
	time.Sleep(500 * time.Millisecond)
	as = e.fleetAlerts()
	if len(as) != 1 {
		t.Fatalf("%d alerts, want one grouped: %s", len(as), r.out)
	}
	a := as[0]
	got := slices.Clone(a.Ledgers)
	slices.Sort(got)
	want := slices.Clone(e.names)
	slices.Sort(want)
	if a.Kind != watch.KindDrift || a.Count != 5 || !slices.Equal(got, want) || !slices.Contains(a.Changes, "+ column public.users.sneaky_hotfix integer null") {
		t.Fatalf("alert %+v; want schema-drift on the 5 ledgers %v", a, want)
	}
	if !strings.Contains(a.FleetLine(), "[5 ledgers: ") {
		t.Errorf("line: %s", a.Line())
	}
}

// A durable watcher killed and restarted reads on from where it stopped
// and alerts nothing again; what happens after is alerted once.
func TestDurableWatcherRestartedRepeatsNothing(t *testing.T) {
	ctx := context.Background()
	e := newFleetEnv(t, 2)
	guard := watch.ReleaseGuard{Manifest: set(t, v120).Manifest("1.2.0"), Policy: policyStrict()}
	for i := range 2 {
		if _, err := e.runner(i, v130, "1.3.0").Up(ctx, migrations.UpOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	opts := []watch.FleetOption{watch.GuardReleases(guard), watch.GuardSeenReleases(false), watch.WithDurable("oncall"), watch.WithGroupWindow(0)}
	first := e.watcher(opts...)
	as := e.waitFleetAlerts(1, 20*time.Second)
	time.Sleep(300 * time.Millisecond)
	if as = e.fleetAlerts(); len(as) != 1 || as[0].Kind != watch.KindUnknown || as[0].Count != 2 {
		t.Fatalf("first run: %s", first.out)
	}
	first.stop(t)

	second := e.watcher(opts...)
	for _, name := range e.names {
		if err := second.w.WaitJudged(ctx, name, 1); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if n := strings.Count(second.out.String(), "\n"); n != 0 || len(e.fleetAlerts()) != 1 {
		t.Fatalf("the restarted watcher alerted %d times:\n%s", n, second.out)
	}
	// What changes after the restart is alerted, once.
	if _, err := e.runner(0, v130, "1.3.0").Down(ctx, migrations.DownOptions{Target: "0001_users"}); err != nil {
		t.Fatal(err)
	}
	as = e.waitFleetAlerts(2, 20*time.Second)
	time.Sleep(300 * time.Millisecond)
	if as = e.fleetAlerts(); len(as) != 2 || as[1].Status != watch.Recovered || as[1].Ledger != e.names[0] {
		t.Fatalf("after the restart: %s", second.out)
	}
}

// A durable watcher killed (SIGKILL) while its alerts wait in the group
// window has saved no position past them: restarted, it judges the same
// state again and alerts it, instead of remembering an alert it never sent.
func TestDurableWatcherKilledInItsWindowAlertsAfterRestart(t *testing.T) {
	ctx := context.Background()
	e := newFleetEnv(t, 2)
	for i := range 2 {
		if _, err := e.runner(i, v130, "1.3.0").Up(ctx, migrations.UpOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The first watcher is a process of its own (this test binary, which
	// TestMain makes the watcher), with a window of an hour.
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), watcherProcessEnv+"="+e.url+" "+strings.Join(e.names, ","))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	judged := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			if sc.Text() == "judged" && !found {
				found = true
				judged <- true
			}
		}
		if !found {
			judged <- false
		}
	}()
	select {
	case ok := <-judged:
		if !ok {
			t.Fatal("the watcher process ended before judging")
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the watcher process judged nothing in 60 s")
	}
	time.Sleep(500 * time.Millisecond) // what it saves after judging, saved
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if as := e.fleetAlerts(); len(as) != 0 {
		t.Fatalf("%d alerts before the window ended: %+v", len(as), as)
	}

	r := e.watcher(watch.GuardReleases(fleetProcessGuard(t)), watch.GuardSeenReleases(false), watch.WithDurable("oncall"), watch.WithGroupWindow(0))
	as := e.waitFleetAlerts(1, 20*time.Second)
	time.Sleep(300 * time.Millisecond)
	if as = e.fleetAlerts(); len(as) != 1 || as[0].Kind != watch.KindUnknown || as[0].Count != 2 {
		t.Fatalf("after the restart, %d alerts, want one unknown-migration alert on both ledgers: %s", len(as), r.out)
	}
}

func fleetProcessGuard(t testing.TB) watch.ReleaseGuard {
	t.Helper()
	g, err := releaseGuard120()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// releaseGuard120 guards release 1.2.0 (v120), strictly.
func releaseGuard120() (watch.ReleaseGuard, error) {
	s, err := loadSet(v120)
	if err != nil {
		return watch.ReleaseGuard{}, err
	}
	return watch.ReleaseGuard{Manifest: s.Manifest("1.2.0"), Policy: policyStrict()}, nil
}

// watcherProcessEnv, set to "NATS-URL LEDGER,LEDGER...", makes this test
// binary the watcher process TestDurableWatcherKilledInItsWindowAlertsAfterRestart
// starts and kills.
const watcherProcessEnv = "LEDGER_TEST_FLEET_WATCHER"

// TestMain runs the tests, or (watcherProcessEnv set) the watcher process.
func TestMain(m *testing.M) {
	if spec := os.Getenv(watcherProcessEnv); spec != "" {
		if err := runWatcherProcess(spec); err != nil {
			fmt.Fprintln(os.Stderr, "watcher process:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runWatcherProcess runs a durable fleet watcher guarding release 1.2.0
// with a window of an hour, and prints "judged" once it has judged every
// ledger named; it runs until killed.
func runWatcherProcess(spec string) error {
	url, names, _ := strings.Cut(spec, " ")
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	guard, err := releaseGuard120()
	if err != nil {
		return err
	}
	w, err := watch.NewFleet(js, watch.FleetOutput(io.Discard, true), watch.GuardReleases(guard),
		watch.GuardSeenReleases(false), watch.WithDurable("oncall"), watch.WithGroupWindow(time.Hour))
	if err != nil {
		return err
	}
	ctx := context.Background()
	go func() {
		for name := range strings.SplitSeq(names, ",") {
			if err := w.WaitJudged(ctx, name, 1); err != nil {
				fmt.Fprintln(os.Stderr, "watcher process:", err)
				return
			}
		}
		fmt.Println("judged")
	}()
	return w.Run(ctx)
}
