package fleet_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/fleet"
)

// TestMain makes the test binary double as a rollout controller that a
// test kills with SIGKILL (FLEET_TEST_CONTROLLER set).
func TestMain(m *testing.M) {
	if os.Getenv("FLEET_TEST_CONTROLLER") != "" {
		os.Exit(controllerMain())
	}
	os.Exit(m.Run())
}

const killMigrations = 5

func controllerMain() int {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("FLEET_TEST_CONTROL"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer pool.Close()
	ctl, err := fleet.NewControl(pool, "", "killed-controller")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	targets := targetsOf(strings.Fields(os.Getenv("FLEET_TEST_TARGETS")))
	s, err := setOf(killMigrations, "SELECT pg_sleep(0.03);\n")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	o := opts()
	o.Parallel = 3
	if id := os.Getenv("FLEET_TEST_RESUME"); id != "" {
		_, err = fleet.Resume(ctx, ctl, id, s, targets, nil, o)
	} else {
		_, err = fleet.Start(ctx, ctl, s, targets, o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// kill -9 of the controller at three random moments, each followed by a
// resume (the first kill may even come before the rollout is recorded):
// every migration ran exactly once on every target, and the control
// ledger and the targets agree.
func TestKilledControllerLosesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	urls := databases(t, 8)
	ctl, _ := control(t)
	controlURL := ctlURL(t, ctl)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	id := ""
	for kill := range 3 {
		cmd := exec.Command(exe, "-test.run", "^$")
		cmd.Env = append(os.Environ(), "FLEET_TEST_CONTROLLER=1", "FLEET_TEST_CONTROL="+controlURL,
			"FLEET_TEST_TARGETS="+strings.Join(urls, " "), "FLEET_TEST_RESUME="+id)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		before := controlSeq(ctx, ctl)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Once this controller has recorded its start (or resume), kill it
		// somewhere in the rollout, which takes about 8 targets × 5 × 30 ms
		// / 3 ≈ 0.4 s plus connections.
		for deadline := time.Now().Add(20 * time.Second); controlSeq(ctx, ctl) == before && time.Now().Before(deadline); {
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(time.Duration(rand.IntN(400)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		t.Logf("kill %d: %v %s", kill+1, err, stderr.String())
		if id == "" {
			if id, err = ctl.Latest(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if id != "" {
		// Its controller is dead: the rollout is abandoned, not running
		// (once the server has seen the killed connection go).
		state := ""
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			st, err := ctl.Status(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if state = st.State; state != fleet.StateRunning {
				break
			}
		}
		if state != fleet.StateAbandoned && state != fleet.StateFinished {
			t.Errorf("after the kills the rollout is %s, want %s (or finished, had the last kill come late)", state, fleet.StateAbandoned)
		}
	}
	var rep fleet.Report
	s := set(t, killMigrations, "SELECT pg_sleep(0.03);\n")
	if id == "" {
		rep, err = fleet.Start(ctx, ctl, s, targetsOf(urls), opts())
		id = rep.ID
	} else {
		rep, err = fleet.Resume(ctx, ctl, id, s, targetsOf(urls), nil, opts())
	}
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Finished {
		t.Fatalf("the last resume did not finish: %+v", rep)
	}
	st, err := ctl.Status(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !st.AllDone() || st.State != fleet.StateFinished {
		t.Fatalf("status %s %+v", st.State, st.Counts)
	}
	for i, ts := range st.Targets {
		checkTarget(t, urls[i], "", killMigrations, ts)
	}
	checkControl(t, ctl, byName(urls))
	t.Logf("rollout %s: %d resumes, counts %+v", id, len(st.Resumes), st.Counts)
}

// controlSeq is the control ledger's newest seq (0 before it exists).
func controlSeq(ctx context.Context, ctl *fleet.Control) int64 {
	h, err := ctl.Store().Head(ctx)
	if err != nil {
		return 0
	}
	return h.Seq
}
