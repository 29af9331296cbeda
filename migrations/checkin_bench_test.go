package migrations_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
)

// BenchmarkCheckIn times Checker.Check (fast path, warm pool) without and
// with a check-in, and reports the median and p99 of single checks
// (target: the check-in adds at most 0.2 ms).
func BenchmarkCheckIn(b *testing.B) {
	src := benchSet(10)
	pool := benchLedger(b, src, 100)
	for _, checkIn := range []bool{false, true} {
		b.Run(fmt.Sprintf("check-in=%t", checkIn), func(b *testing.B) {
			ctx := context.Background()
			opts := []migrations.Option{migrations.WithAppVersion("1.0.0")}
			if checkIn {
				opts = append(opts, migrations.WithCheckIn(migrations.CheckIn{Instance: "bench-1", Host: "bench"}))
			}
			c, err := migrations.NewChecker(pool, load(b, src), opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			for range 50 { // warm: connections, prepared statements, the release stored
				if v, err := c.Check(ctx); err != nil || v.Decision != policy.Run || c.CheckInError() != nil {
					b.Fatalf("check: %s, %v, check-in %v", v.Decision, err, c.CheckInError())
				}
			}
			var times []time.Duration
			for b.Loop() {
				start := time.Now()
				v, err := c.Check(ctx)
				times = append(times, time.Since(start))
				if err != nil || v.Decision != policy.Run {
					b.Fatalf("check: %s, %v", v.Decision, err)
				}
			}
			if err := c.CheckInError(); err != nil {
				b.Fatal(err)
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
			b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
