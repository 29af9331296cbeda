package ledger_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

// scaled shrinks a ledger size under -short (the CI smoke run).
func scaled(n int) int {
	if testing.Short() && n > 1000 {
		return 1000
	}
	return n
}

// seed appends churn — a migration applied, then reverted — until the ledger
// holds n events, 1000 per transaction.
func seed(b *testing.B, st *ledger.Store, pool *pgxpool.Pool, n int) {
	b.Helper()
	ctx := context.Background()
	h, err := st.Head(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for total := int(h.Seq); total < n; {
		var batch []ledger.Event
		for len(batch) < 1000 && total+len(batch) < n {
			id := fmt.Sprintf("%d_churn", 1_000_000+total+len(batch))
			batch = append(batch, applied(b, id))
			if total+len(batch) < n {
				batch = append(batch, event(b, projector.TypeMigrationReverted, projector.Reverted{ID: id, Source: projector.DownFromFile}))
			}
		}
		appendTx(b, st, pool, batch...)
		total += len(batch)
	}
}

func BenchmarkAppendOneEventPerTransaction(b *testing.B) {
	st, pool := newStore(b, 2)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := st.Append(ctx, tx, applied(b, fmt.Sprintf("%d_m", i+1)))
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// Head must be flat: one indexed row read, whatever the ledger's length.
func BenchmarkHead(b *testing.B) {
	for _, n := range []int{100, scaled(100_000)} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			st, pool := newStore(b, 2)
			seed(b, st, pool, n)
			ctx := context.Background()
			b.ResetTimer()
			for b.Loop() {
				if _, err := st.Head(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Appending the 1000th migration costs no more than the 10th: the projection
// is updated row by row, never rebuilt. Each append is rolled back, so the
// ledger stays at exactly N applied migrations.
func BenchmarkAppendNthMigration(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("applied=%d", n), func(b *testing.B) {
			st, pool := newStore(b, 2)
			var batch []ledger.Event
			for i := range n - 1 {
				batch = append(batch, applied(b, fmt.Sprintf("%d_m", i+1)))
			}
			appendTx(b, st, pool, batch...)
			ctx := context.Background()
			next := applied(b, fmt.Sprintf("%d_m", n))
			b.ResetTimer()
			for b.Loop() {
				tx, err := pool.Begin(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := st.Append(ctx, tx, next); err != nil {
					b.Fatal(err)
				}
				if err := tx.Rollback(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Verify streams: time per run and the peak heap seen while it walks.
func BenchmarkVerify(b *testing.B) {
	n := scaled(100_000)
	b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
		st, pool := newStore(b, 2)
		seed(b, st, pool, n)
		ctx := context.Background()
		runtime.GC()
		var peak uint64
		sample := func(int64) {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
		}
		b.ResetTimer()
		for b.Loop() {
			rep, err := st.Verify(ctx, sample)
			if err != nil || !rep.OK() {
				b.Fatalf("verify: %v %v", rep, err)
			}
			sample(0)
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	})
}
