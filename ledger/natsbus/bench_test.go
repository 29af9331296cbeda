package natsbus_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/internal/natstest"
	"github.com/schema-ledger/ledger/ledger/natsbus"
)

// benchSize is a benchmark's size: n, or the number in the environment
// variable env, or a tenth of n under -short.
func benchSize(env string, n int) int {
	if v, err := strconv.Atoi(os.Getenv(env)); err == nil && v > 0 {
		return v
	}
	if testing.Short() {
		return n / 10
	}
	return n
}

// Relay throughput from a backlog: a ledger of 100,000 events, a relay
// with its defaults started on an empty stream, timed until the stream
// holds every event (each acknowledged). Target: at least 20,000 events/s.
func BenchmarkRelayBacklog(b *testing.B) {
	n := benchSize("LEDGER_RELAY_BENCH_EVENTS", 100_000)
	srv := natstest.Start(b)
	st, pool, url := newLedger(b, 2)
	seed(b, st, pool, n)
	rst, rpool := openPool(b, url, 2)
	_, js := natstest.Connect(b, srv.URL())
	b.ResetTimer()
	var total, cpu time.Duration
	for i := 0; i < b.N; i++ {
		names := natsbus.NamesFor(fmt.Sprintf("bench%d", i))
		cpu0 := processCPU(b)
		start := time.Now()
		r := startRelay(b, js, rst, rpool, natsbus.WithNames(names))
		for r.relay.Stats().StreamSeq < int64(n) {
			if r.wait(time.Millisecond) {
				b.Fatalf("relay stopped: %v", r.err)
			}
		}
		total += time.Since(start)
		cpu += processCPU(b) - cpu0
		b.StopTimer()
		if err := r.stop(b); err != nil {
			b.Fatal(err)
		}
		if err := js.DeleteStream(context.Background(), names.Stream); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/total.Seconds(), "events/s")
	b.ReportMetric(float64(n), "backlog-events")
	// CPU time of this process (relay and embedded nats-server; not
	// PostgreSQL's) per event: what the drain costs whatever else the
	// machine is doing.
	b.ReportMetric(float64(cpu.Microseconds())/float64(n*b.N), "cpu-µs/event")
}

// processCPU is the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Commit-to-delivery latency while `up` applies 1,000 migrations: p50 and
// p99 from the commit (a LISTENing client hearing the append's NOTIFY) to
// an ordered consumer's delivery, and p99 from the event's recorded_at
// (before the commit's WAL flush), an upper bound.
func BenchmarkCommitToDelivery(b *testing.B) {
	n := benchSize("LEDGER_RELAY_BENCH_MIGRATIONS", 1000)
	for i := 0; i < b.N; i++ {
		lat, upper := deliveryLatencies(b, n)
		b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(percentile(upper, 0.99).Microseconds())/1000, "p99-from-record-ms")
		b.ReportMetric(float64(len(lat)), "migrations")
	}
}
