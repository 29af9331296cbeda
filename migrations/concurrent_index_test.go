package migrations_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/migrations"
)

// concurrentIndexSize is the size of the concurrent CREATE INDEX
// CONCURRENTLY test: by default 8 migrators, 2 rounds over 200,000 rows
// (the size the deadlock was first seen at); LEDGER_TEST_HEAVY=1 runs the
// full demonstration (8 × 10 rounds over 1,000,000 rows); -short a small one.
func concurrentIndexSize() (migrators, rounds, rows int) {
	migrators, rounds, rows = 8, 2, 200_000
	if testing.Short() {
		migrators, rounds, rows = 4, 2, 20_000
	}
	if os.Getenv("LEDGER_TEST_HEAVY") == "1" {
		migrators, rounds, rows = 8, 10, 1_000_000
	}
	if v, err := strconv.Atoi(os.Getenv("LEDGER_TEST_CIC_ROWS")); err == nil && v > 0 {
		rows = v
	}
	return migrators, rounds, rows
}

// Several migrators run Up at once (a rolling deploy) on a set with
// no-transaction CREATE INDEX CONCURRENTLY migrations over a big table.
// A migrator waiting for the migration lock must hold no snapshot — the
// index build of the lock holder waits for every older snapshot — so every
// run succeeds, each migration is applied once and every index is valid.
// (Waiting in a blocking pg_advisory_lock made PostgreSQL abort one of them
// with 40P01: the waiter, or the index build, leaving an invalid index.)
func TestConcurrentUpWithCreateIndexConcurrently(t *testing.T) {
	t.Parallel()
	migrators, rounds, rows := concurrentIndexSize()
	pools, closePools := migratorPools(t, migrators)
	defer closePools()
	ctx := context.Background()
	src := map[string]string{
		"0001_big": fmt.Sprintf("CREATE TABLE big (id bigint PRIMARY KEY, a int NOT NULL, b text NOT NULL);\n"+
			"INSERT INTO big SELECT g, (g::bigint * 7919) %% 100003, md5(g::text) FROM generate_series(1, %d) g;", rows),
	}
	var indexes []string
	for round := range rounds {
		for _, col := range []string{"a", "b"} {
			n := 2 + 2*round + len(indexes)%2
			name := fmt.Sprintf("big_%s_r%d", col, round)
			indexes = append(indexes, name)
			src[fmt.Sprintf("%04d_%s", n, name)] = fmt.Sprintf("-- ledger:no-transaction\nCREATE INDEX CONCURRENTLY %s ON big (%s, id);", name, col)
		}
		set := load(t, src)
		var wg sync.WaitGroup
		applied := make([]int, migrators)
		t0 := time.Now()
		for m := range migrators {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rep, err := runner(t, pools[m], set).Up(ctx, migrations.UpOptions{})
				if err != nil {
					t.Errorf("round %d migrator %d: %v", round, m, err)
				}
				applied[m] = len(rep.Done)
			}()
		}
		wg.Wait()
		total, want := 0, 2
		if round == 0 {
			want = 3
		}
		for _, n := range applied {
			total += n
		}
		t.Logf("round %d: %d migrators, %d rows: %s", round, migrators, rows, time.Since(t0).Round(time.Millisecond))
		if t.Failed() || total != want {
			t.Fatalf("round %d: migrators applied %v migrations in all, want %d", round, applied, want)
		}
	}
	var n, distinct int
	err := pools[0].QueryRow(ctx, "SELECT count(*), count(DISTINCT payload->>'id') FROM ledger.events WHERE type = 'migration.applied'").Scan(&n, &distinct)
	if err != nil || n != 1+len(indexes) || distinct != n {
		t.Fatalf("migration.applied events: %d (%d distinct), %v; want %d, no duplicates", n, distinct, err, 1+len(indexes))
	}
	var valid, invalid int
	err = pools[0].QueryRow(ctx, `SELECT count(*) FILTER (WHERE i.indisvalid AND i.indisready), count(*) FILTER (WHERE NOT (i.indisvalid AND i.indisready))
		FROM pg_index i WHERE i.indrelid = 'public.big'::regclass AND i.indexrelid <> 'public.big_pkey'::regclass`).Scan(&valid, &invalid)
	if err != nil || valid != len(indexes) || invalid != 0 {
		t.Fatalf("indexes on big: %d valid, %d invalid (%v); want %d valid", valid, invalid, err, len(indexes))
	}
	verifyOK(t, runner(t, pools[0], load(t, src)).Store())
}
