package migrations_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// benchEvents shrinks a ledger size under -short (the CI smoke run).
func benchEvents(n int) int {
	if testing.Short() && n > 1000 {
		return 1000
	}
	return n
}

// benchSet is n one-statement migrations.
func benchSet(n int) map[string]string {
	src := make(map[string]string, n)
	for i := 1; i <= n; i++ {
		src[fmt.Sprintf("%04d_t_%d", i, i)] = fmt.Sprintf("CREATE TABLE t_%d (id int);", i)
	}
	return src
}

// benchLedger returns a pool (2 connections) on a fresh database where the
// release 1.0.0 applied src, followed by churn — a dummy migration applied
// and reverted, 1000 events per transaction — until the ledger holds about
// events events. The applied set is src's, whatever the churn.
func benchLedger(b *testing.B, src map[string]string, events int) *pgxpool.Pool {
	b.Helper()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(b, 2)
	run, err := migrations.NewRunner(pool, load(b, src), migrations.WithAppVersion("1.0.0"), migrations.WithHost("bench"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := run.Up(ctx, migrations.UpOptions{}); err != nil {
		b.Fatal(err)
	}
	st := run.Store()
	h, err := st.Head(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for seq := int(h.Seq); seq+2 <= events; {
		var batch []ledger.Event
		for len(batch) < 1000 && seq+len(batch)+2 <= events {
			id := fmt.Sprintf("%d_churn", 1_000_000+seq+len(batch))
			batch = append(batch,
				benchEvent(b, projector.TypeMigrationApplied, projector.Applied{ID: id, Checksum: "c-" + id, Transactional: true}),
				benchEvent(b, projector.TypeMigrationReverted, projector.Reverted{ID: id, Source: projector.DownFromFile}))
		}
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { _, err := st.Append(ctx, tx, batch...); return err }); err != nil {
			b.Fatal(err)
		}
		seq += len(batch)
	}
	return pool
}

func benchEvent(b *testing.B, typ string, payload any) ledger.Event {
	e, err := projector.NewEvent(typ, payload)
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// benchCheck times Checker.Check on a warm pool; every verdict must be want.
func benchCheck(b *testing.B, pool *pgxpool.Pool, src map[string]string, want policy.Decision) {
	b.Helper()
	ctx := context.Background()
	c, err := migrations.NewChecker(pool, load(b, src), migrations.WithAppVersion("1.0.0"))
	if err != nil {
		b.Fatal(err)
	}
	if v, err := c.Check(ctx); err != nil || v.Decision != want {
		b.Fatalf("check: %s, %v; want %s", v.Decision, err, want)
	}
	for b.Loop() {
		v, err := c.Check(ctx)
		if err != nil || v.Decision != want {
			b.Fatalf("check: %s, %v; want %s", v.Decision, err, want)
		}
	}
}

// The startup check's fast path reads the head row only: its cost must not
// grow with the ledger (compare events=100 with events=100000).
func BenchmarkCheck(b *testing.B) {
	src := benchSet(10)
	for _, n := range []int{100, benchEvents(100_000)} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			benchCheck(b, benchLedger(b, src, n), src, policy.Run)
		})
	}
}

// When the digest differs (here: one migration this binary does not know),
// Check reads the applied migrations to name it: the projection, never the
// event log, so this too must not grow with the ledger.
func BenchmarkCheckSlowPath(b *testing.B) {
	newer := benchSet(11)
	older := benchSet(10)
	for _, n := range []int{100, benchEvents(100_000)} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			benchCheck(b, benchLedger(b, newer, n), older, policy.Refuse)
		})
	}
}

// Up of 1000 one-statement migrations on a fresh database: each in its own
// transaction with its event. Reports the cost per migration.
func BenchmarkUp1000(b *testing.B) {
	n := 1000
	if testing.Short() {
		n = 50
	}
	set := load(b, benchSet(n))
	ctx := context.Background()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		pool, _ := pgtest.NewPool(b, 2)
		run, err := migrations.NewRunner(pool, set, migrations.WithAppVersion("1.0.0"), migrations.WithHost("bench"))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		rep, err := run.Up(ctx, migrations.UpOptions{})
		total += time.Since(start)
		if err != nil || len(rep.Done) != n {
			b.Fatalf("up: %d applied, %v", len(rep.Done), err)
		}
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N*n), "ms/migration")
}

// The migration lock's cost: 8 migrators (each its own pool) run Up of the
// same 200 migrations on one database at once, against one migrator alone.
// The first to take the lock applies everything; the others wait, re-read
// the ledger and find nothing to do. Reports the extra wall time the crowd
// costs over a single run.
func BenchmarkConcurrentUpLockWait(b *testing.B) {
	n := 200
	if testing.Short() {
		n = 20
	}
	set := load(b, benchSet(n))
	ctx := context.Background()
	up := func(migrators int) time.Duration {
		pools, closePools := migratorPools(b, migrators)
		defer closePools()
		start := time.Now()
		errs := make(chan error, migrators)
		for _, pool := range pools {
			go func() {
				run, err := migrations.NewRunner(pool, set, migrations.WithAppVersion("1.0.0"))
				if err == nil {
					_, err = run.Up(ctx, migrations.UpOptions{})
				}
				errs <- err
			}()
		}
		for range migrators {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	var alone, crowd time.Duration
	for b.Loop() {
		alone += up(1)
		crowd += up(8)
	}
	b.ReportMetric(float64(alone.Milliseconds())/float64(b.N), "ms-1-migrator")
	b.ReportMetric(float64(crowd.Milliseconds())/float64(b.N), "ms-8-migrators")
	b.ReportMetric(float64(crowd-alone)/float64(alone), "overhead-ratio")
}
