package migrations_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
)

// BenchmarkFleet is ledger fleet's work with 10,000 sightings from 50
// releases (each of 100 migrations, the newest applied): read the
// sightings by release, the releases' manifests and the ledger, and judge
// every release (target: under 50 ms).
func BenchmarkFleet(b *testing.B) {
	run := fleetOf(b, 50, 10_000)
	ctx := context.Background()
	for b.Loop() {
		if _, err := run.Fleet(ctx, 24*time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// fleetOf is a database where release 1.k.0 (k = 1..releases) ships the
// first 100+k of 100+releases applied migrations, with sightings spread
// over the releases, and a runner of the newest release on it. It checks
// that Fleet judges every release: the newest runs, every other is
// refused for the migrations it does not know.
func fleetOf(tb testing.TB, releases, sightings int) *migrations.Runner {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(tb, 2)
	const perRelease = 100
	src := benchSet(perRelease + releases)
	run, err := migrations.NewRunner(pool, load(tb, src), migrations.WithAppVersion(fmt.Sprintf("1.%d.0", releases)))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := run.Up(ctx, migrations.UpOptions{}); err != nil {
		tb.Fatal(err)
	}
	for _, sql := range []string{`
INSERT INTO ledger.releases (digest, app_version, policy, set_digest, manifest, migration_ids, checksums)
SELECT 'sha256:' || k, '1.' || k || '.0', 'strict', decode(repeat('00', 32), 'hex'), '{}'::jsonb,
       (SELECT array_agg(id ORDER BY num, name) FROM ledger.applied a WHERE num <= 100 + k),
       (SELECT array_agg(checksum ORDER BY num, name) FROM ledger.applied a WHERE num <= 100 + k)
  FROM generate_series(1, $1::int) k WHERE $2::int > 0`, `
INSERT INTO ledger.sightings (instance, release, app_version, policy, set_digest, decision, host, db_user, first_seen, last_seen)
SELECT 'inst-' || i, 'sha256:' || (i % $1::int + 1), '1.' || (i % $1::int + 1) || '.0', 'strict', decode(repeat('00', 32), 'hex'), 'run',
       'host-' || (i % 500), current_user, now() - interval '1 hour', now() - (i % 600) * interval '1 second'
  FROM generate_series(1, $2::int) i`} {
		if _, err := pool.Exec(ctx, sql, releases, sightings); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, "ANALYZE ledger.sightings"); err != nil {
		tb.Fatal(err)
	}
	f, err := run.Fleet(ctx, 24*time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	total := 0
	for _, r := range f.Releases {
		total += r.Instances
		want := policy.Refuse
		if r.AppVersion == fmt.Sprintf("1.%d.0", releases) {
			want = policy.Run
		}
		if r.Now == nil || r.Now.Decision != want {
			tb.Fatalf("release %s judged %v, want %s", r.AppVersion, r.Now, want)
		}
	}
	if len(f.Releases) != releases || total != sightings {
		tb.Fatalf("fleet: %d releases, %d instances; want %d, %d", len(f.Releases), total, releases, sightings)
	}
	return run
}

// Fleet judges many releases at once (in parallel): each verdict is its own.
func TestFleetJudgesEveryRelease(t *testing.T) {
	t.Parallel()
	fleetOf(t, 20, 400)
}
