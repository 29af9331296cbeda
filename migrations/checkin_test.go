package migrations_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
)

// sameVerdict compares what a check-in must not change.
func sameVerdict(a, b policy.Verdict) bool {
	ids := func(us []policy.Unknown) (out []string) {
		for _, u := range us {
			out = append(out, u.ID)
		}
		return out
	}
	codes := func(rs []policy.Reason) (out []string) {
		for _, r := range rs {
			out = append(out, string(r.Code)+": "+r.Message)
		}
		return out
	}
	return a.Decision == b.Decision && a.AppVersion == b.AppVersion && a.Policy == b.Policy && a.Applied == b.Applied &&
		slices.Equal(a.Pending, b.Pending) && slices.Equal(ids(a.Unknown), ids(b.Unknown)) && slices.Equal(codes(a.Reasons), codes(b.Reasons))
}

// 200 concurrent checks with check-in while an up runs: no error, none
// waits for the migration, the verdicts are those without check-in, and
// every check-in is recorded.
func TestCheckInConcurrentWithUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 4)
	r120 := newRelease("1.2.0", ids120...)
	slow := newRelease("1.2.3", ids120...).with("0004_slow", "LOCK TABLE users; SELECT pg_sleep(4);")
	r120.up(t, pool, "web-1")
	// The check-ins' tables exist (up created them); the verdicts without check-in:
	want := map[string]policy.Verdict{"1.2.0": r120.check(t, pool), "1.2.3": slow.check(t, pool)}
	wantDecision(t, want["1.2.0"], policy.Run)
	wantDecision(t, want["1.2.3"], policy.Migrate)

	upPool, _ := newPoolOn(t, pool, 2)
	done := make(chan error, 1)
	go func() {
		run, err := migrations.NewRunner(upPool, load(t, slow.files), slow.opts()...)
		if err == nil {
			_, err = run.Up(ctx, migrations.UpOptions{})
		}
		done <- err
	}()
	waitForQuery(t, pool, "%SELECT pg_sleep(4)%")

	const checks, instances = 200, 20
	var wg sync.WaitGroup
	errs := make(chan error, checks)
	var slowest atomic.Int64
	for i := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rel := r120
			if i%2 == 1 {
				rel = slow
			}
			start := time.Now()
			v, err := migrations.Check(ctx, pool, files(rel.files), rel.opts(migrations.WithCheckIn(migrations.CheckIn{Instance: fmt.Sprintf("inst-%02d", i%instances), Host: "web"}))...)
			d := time.Since(start)
			for old := slowest.Load(); int64(d) > old && !slowest.CompareAndSwap(old, int64(d)); old = slowest.Load() {
			}
			switch {
			case err != nil:
				errs <- fmt.Errorf("check %d: %w", i, err)
			case !sameVerdict(v, want[rel.version]):
				errs <- fmt.Errorf("check %d of %s: verdict %s, without check-in %s", i, rel.version, v.Message(), want[rel.version].Message())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	select {
	case err := <-done:
		t.Fatalf("the up finished (%v) before the checks did: they may have waited for it", err)
	default:
	}
	t.Logf("%d checks with check-in while up ran; slowest %s", checks, time.Duration(slowest.Load()))
	if err := <-done; err != nil {
		t.Fatalf("up: %v", err)
	}
	var rows, total, runs, migrates int
	err := pool.QueryRow(ctx, `SELECT count(*), sum(checks), count(*) FILTER (WHERE decision = 'run'), count(*) FILTER (WHERE decision = 'migrate') FROM ledger.sightings`).Scan(&rows, &total, &runs, &migrates)
	if err != nil {
		t.Fatal(err)
	}
	if rows != instances || total != checks || runs != instances/2 || migrates != instances/2 {
		t.Errorf("sightings: %d rows, %d checks (%d run, %d migrate); want %d rows, %d checks, half each", rows, total, runs, migrates, instances, checks)
	}
	var releases int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ledger.releases`).Scan(&releases); err != nil || releases != 2 {
		t.Errorf("releases stored: %d (%v), want 2", releases, err)
	}
}

// newPoolOn opens another pool on the database of pool.
func newPoolOn(t *testing.T, pool *pgxpool.Pool, maxConns int32) (*pgxpool.Pool, *pgxpool.Config) {
	t.Helper()
	cfg := pool.Config().Copy()
	cfg.MaxConns = maxConns
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, cfg
}

// waitForQuery waits until another session runs a query LIKE pattern.
func waitForQuery(t *testing.T, pool *pgxpool.Pool, pattern string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var n int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE state = 'active' AND query LIKE $1 AND pid <> pg_backend_pid() AND datname = current_database()`, pattern).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session ran %s", pattern)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readmeGrants is the README's block of check-in grants, for role.
func readmeGrants(t *testing.T, role string) (check, checkIn string) {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- check-in-grants:")
	if !ok {
		t.Fatal("README.md has no check-in-grants block")
	}
	_, rest, _ = strings.Cut(rest, "```sql\n")
	block, _, _ := strings.Cut(rest, "```")
	block = strings.ReplaceAll(block, " TO app;", " TO "+role+";")
	check, checkIn, ok = strings.Cut(block, "-- the check-in")
	if !ok {
		t.Fatal("README's grants have no '-- the check-in' part")
	}
	_, checkIn, _ = strings.Cut(checkIn, "\n")
	return check, checkIn
}

// warnCounter counts warnings logged.
type warnCounter struct {
	slog.Handler
	n *atomic.Int32
}

func (w warnCounter) Enabled(context.Context, slog.Level) bool { return true }

func (w warnCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn {
		w.n.Add(1)
	}
	return nil
}

// An application role with the README's grants checks in; a role with only
// the check's grants gets its verdict and one warning.
func TestCheckInGrants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, url := pgtest.NewPool(t, 2)
	withGrants, withoutGrants := pgtest.NewRole(t, url, "ledger_app_"), pgtest.NewRole(t, url, "ledger_app_")
	r120, r123 := newRelease("1.2.0", ids120...), newRelease("1.2.3", ids123...)
	r120.up(t, pool, "web-1")
	for role, checkIn := range map[string]bool{withGrants: true, withoutGrants: false} {
		check, grants := readmeGrants(t, role)
		if !checkIn {
			grants = ""
		}
		if _, err := pool.Exec(ctx, check+grants); err != nil {
			t.Fatalf("grants for %s: %v", role, err)
		}
	}
	for role, checkIn := range map[string]bool{withGrants: true, withoutGrants: false} {
		cfg := pool.Config().Copy()
		cfg.ConnConfig.User, cfg.MaxConns = role, 1
		rolePool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer rolePool.Close()
		for _, rel := range []release{r120, r123} { // the fast path, then the slow one
			var warnings atomic.Int32
			logger := slog.New(warnCounter{slog.DiscardHandler, &warnings})
			opts := rel.opts(migrations.WithLogger(logger), migrations.WithCheckIn(migrations.CheckIn{Instance: role + "-" + rel.version}))
			checker, err := migrations.NewChecker(rolePool, load(t, rel.files), opts...)
			if err != nil {
				t.Fatal(err)
			}
			want := rel.check(t, pool) // as the owner, without check-in
			for range 2 {
				v, err := checker.Check(ctx)
				if err != nil {
					t.Fatalf("%s, release %s: %v", role, rel.version, err)
				}
				if !sameVerdict(v, want) {
					t.Errorf("%s, release %s: verdict %s, want %s", role, rel.version, v.Message(), want.Message())
				}
			}
			ciErr := checker.CheckInError()
			switch {
			case checkIn && (ciErr != nil || warnings.Load() != 0):
				t.Errorf("%s (with the grants), release %s: check-in error %v, %d warnings", role, rel.version, ciErr, warnings.Load())
			case !checkIn && (ciErr == nil || !strings.Contains(ciErr.Error(), "permission denied") || warnings.Load() != 1):
				t.Errorf("%s (without), release %s: check-in error %v, %d warnings; want permission denied, logged once", role, rel.version, ciErr, warnings.Load())
			}
		}
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM ledger.sightings WHERE db_user = $1 AND checks = 2", withGrants).Scan(&n); err != nil || n != 2 {
		t.Errorf("sightings of %s: %d (%v), want 2 instances with 2 checks each", withGrants, n, err)
	}
}
