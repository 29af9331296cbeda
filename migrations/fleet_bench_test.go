package migrations_test

import (
	"context"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/migrations"
)

// BenchmarkFleet is ledger fleet's work with 10,000 sightings from 50
// releases (each of 100 migrations, the newest applied): read the
// sightings by release, the releases' manifests and the ledger, and judge
// every release (target: under 50 ms).
func BenchmarkFleet(b *testing.B) {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(b, 2)
	const releases, sightings, perRelease = 50, 10_000, 100
	src := benchSet(perRelease + releases)
	run, err := migrations.NewRunner(pool, load(b, src), migrations.WithAppVersion("1.50.0"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := run.Up(ctx, migrations.UpOptions{}); err != nil {
		b.Fatal(err)
	}
	// Release 1.k.0 ships the first 100+k migrations; each has 200 instances.
	for _, sql := range []string{`
INSERT INTO ledger.releases (digest, app_version, policy, set_digest, manifest, migration_ids, checksums)
SELECT 'sha256:' || k, '1.' || k || '.0', 'compatible', decode(repeat('00', 32), 'hex'), '{}'::jsonb,
       (SELECT array_agg(id ORDER BY num, name) FROM ledger.applied a WHERE num <= 100 + k),
       (SELECT array_agg(checksum ORDER BY num, name) FROM ledger.applied a WHERE num <= 100 + k)
  FROM generate_series(1, 50) k`, `
INSERT INTO ledger.sightings (instance, release, app_version, policy, set_digest, decision, host, db_user, first_seen, last_seen)
SELECT 'inst-' || i, 'sha256:' || (i % 50 + 1), '1.' || (i % 50 + 1) || '.0', 'compatible', decode(repeat('00', 32), 'hex'), 'run',
       'host-' || (i % 500), current_user, now() - interval '1 hour', now() - (i % 600) * interval '1 second'
  FROM generate_series(1, 10000) i`, `ANALYZE ledger.sightings`} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			b.Fatal(err)
		}
	}
	f, err := run.Fleet(ctx, 24*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	total := 0
	for _, r := range f.Releases {
		total += r.Instances
		if r.Now == nil {
			b.Fatalf("release %s not judged", r.AppVersion)
		}
	}
	if len(f.Releases) != releases || total != sightings {
		b.Fatalf("fleet: %d releases, %d instances; want %d, %d", len(f.Releases), total, releases, sightings)
	}
	for b.Loop() {
		if _, err := run.Fleet(ctx, 24*time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}
