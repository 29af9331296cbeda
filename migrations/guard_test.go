package migrations_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// testClock is an injectable clock a test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fleetStory: release 1.2.0 (policy compatible) applied 0001-0003 and runs
// three instances, last seen 70s, 60s and 50s ago; 1.3.0 ships 0004 as
// given and one instance checked in 40s ago. It returns the pool, the
// clock (now) and release 1.3.0.
func fleetStory(t *testing.T, drop string) (*pgxpool.Pool, *testClock, release) {
	t.Helper()
	pool, _ := pgtest.NewPool(t, 2)
	r120 := newRelease("1.2.0", ids120...)
	r130 := newRelease("1.3.0", ids120...).with("0004_drop_legacy_flag", drop)
	r120.up(t, pool, "deploy-1")
	for i := 1; i <= 3; i++ {
		instance := fmt.Sprintf("api-%d", i)
		checkIn(t, pool, r120, policy.Compatible, instance)
		backdate(t, pool, instance, time.Duration(80-10*i)*time.Second)
	}
	checkIn(t, pool, r130, policy.Compatible, "api-9")
	backdate(t, pool, "api-9", 40*time.Second)
	return pool, &testClock{now: time.Now()}, r130
}

// backdate moves an instance's sighting ago into the past. Check-ins are
// timed by the server's clock only: the test, as the ledger's owner,
// writes the table itself.
func backdate(t *testing.T, pool *pgxpool.Pool, instance string, ago time.Duration) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), `UPDATE ledger.sightings SET last_seen = now() - $2::interval, first_seen = least(first_seen, now() - $2::interval) WHERE instance = $1`, instance, ago); err != nil {
		t.Fatal(err)
	}
}

func checkIn(t *testing.T, pool *pgxpool.Pool, r release, p policy.Policy, instance string) {
	t.Helper()
	c, err := migrations.NewChecker(pool, load(t, r.files), r.opts(migrations.WithPolicy(p),
		migrations.WithCheckIn(migrations.CheckIn{Instance: instance, Host: instance, Heartbeat: migrations.NoHeartbeat}))...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckInError(); err != nil {
		t.Fatal(err)
	}
}

func upWith(t *testing.T, pool *pgxpool.Pool, r release, o migrations.UpOptions, opts ...migrations.Option) (migrations.Report, error) {
	t.Helper()
	run, err := migrations.NewRunner(pool, load(t, r.files), r.opts(append(opts, migrations.WithHost("deploy-2"))...)...)
	if err != nil {
		t.Fatal(err)
	}
	return run.Up(context.Background(), o)
}

const dropLegacy = "ALTER TABLE users DROP COLUMN legacy;"

func TestUpGuard(t *testing.T) {
	t.Parallel()
	t.Run("refused, naming the release, its instances and the migration", func(t *testing.T) {
		t.Parallel()
		pool, clock, r130 := fleetStory(t, dropLegacy)
		before := eventCount(t, pool)
		for _, dry := range []bool{true, false} {
			rep, err := upWith(t, pool, r130, migrations.UpOptions{DryRun: dry}, migrations.WithClock(clock.Now))
			var berr *migrations.BreakingError
			if !errors.As(err, &berr) {
				t.Fatalf("dry run %t: error %v, want a *BreakingError", dry, err)
			}
			if len(berr.Releases) != 1 || len(rep.Breaking) != 1 {
				t.Fatalf("dry run %t: broken %+v", dry, berr.Releases)
			}
			b := berr.Releases[0]
			if b.AppVersion != "1.2.0" || b.Instances != 3 || b.LastHost != "api-3" || strings.Join(b.Migrations, ",") != "0004_drop_legacy_flag" || b.Verdict.Decision != policy.Refuse {
				t.Errorf("dry run %t: broken %+v", dry, b)
			}
			msg := err.Error()
			for _, want := range []string{"0004_drop_legacy_flag would make release 1.2.0 refuse (3 instance(s), last seen 50s ago on api-3)", "deploy 1.3.0 everywhere first", "-- ledger:compatible >=1.2.0"} {
				if !strings.Contains(msg, want) {
					t.Errorf("dry run %t: message lacks %q:\n%s", dry, want, msg)
				}
			}
		}
		if n := eventCount(t, pool); n != before {
			t.Errorf("a refused up recorded %d events", n-before)
		}
	})
	t.Run("a migration declared compatible goes ahead", func(t *testing.T) {
		t.Parallel()
		pool, clock, r130 := fleetStory(t, "-- ledger:compatible >=1.2.0\n"+dropLegacy)
		rep, err := upWith(t, pool, r130, migrations.UpOptions{}, migrations.WithClock(clock.Now))
		if err != nil || len(rep.Done) != 1 || len(rep.Breaking) != 0 {
			t.Fatalf("up: %v, done %v, breaking %v", err, rep.Done, rep.Breaking)
		}
	})
	t.Run("once 1.2.0 falls out of the window it goes ahead", func(t *testing.T) {
		t.Parallel()
		pool, clock, r130 := fleetStory(t, dropLegacy)
		clock.Add(migrations.DefaultFleetWindow - 40*time.Second) // api-3 was seen 15m10s ago, api-9 (1.3.0) 15m ago
		if _, err := upWith(t, pool, r130, migrations.UpOptions{}, migrations.WithClock(clock.Now)); err != nil {
			t.Fatalf("up with 1.2.0 last seen 15m10s ago: %v", err)
		}
	})
	t.Run("a shorter window, the same", func(t *testing.T) {
		t.Parallel()
		pool, clock, r130 := fleetStory(t, dropLegacy)
		if _, err := upWith(t, pool, r130, migrations.UpOptions{}, migrations.WithClock(clock.Now), migrations.WithFleetWindow(45*time.Second)); err != nil {
			t.Fatalf("up with a 45s window: %v", err)
		}
	})
	t.Run("allow breaking goes ahead and the event records it", func(t *testing.T) {
		t.Parallel()
		pool, clock, r130 := fleetStory(t, dropLegacy)
		rep, err := upWith(t, pool, r130, migrations.UpOptions{}, migrations.WithClock(clock.Now), migrations.WithAllowBreaking())
		if err != nil || len(rep.Done) != 1 || len(rep.Breaking) != 1 {
			t.Fatalf("up: %v, done %v, breaking %v", err, rep.Done, rep.Breaking)
		}
		var payload []byte
		if err := pool.QueryRow(context.Background(), `SELECT payload FROM ledger.events WHERE type = 'migration.applied' AND migration_id = '0004_drop_legacy_flag'`).Scan(&payload); err != nil {
			t.Fatal(err)
		}
		var a projector.Applied
		if err := json.Unmarshal(payload, &a); err != nil {
			t.Fatal(err)
		}
		if len(a.AllowedBreaking) != 1 || a.AllowedBreaking[0].Release != "1.2.0" || a.AllowedBreaking[0].Instances != 3 || a.AllowedBreaking[0].LastHost != "api-3" {
			t.Errorf("allowed_breaking %+v in %s", a.AllowedBreaking, payload)
		}
		// And 1.2.0 is now refused, as the operator accepted.
		v := newRelease("1.2.0", ids120...).check(t, pool, migrations.WithPolicy(policy.Compatible))
		wantDecision(t, v, policy.Refuse)
	})
	t.Run("Check with auto-migrate is guarded too", func(t *testing.T) {
		t.Parallel()
		pool, clock, r130 := fleetStory(t, dropLegacy)
		_, err := migrations.Check(context.Background(), pool, files(r130.files), r130.opts(migrations.WithAutoMigrate(), migrations.WithClock(clock.Now))...)
		var berr *migrations.BreakingError
		if !errors.As(err, &berr) {
			t.Fatalf("auto-migrate: %v, want a *BreakingError", err)
		}
	})
}
