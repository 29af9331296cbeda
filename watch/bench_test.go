package watch_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/internal/natstest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
	"github.com/schema-ledger/ledger/watch"
)

// BenchmarkCommitToAlert: release 1.3.0 applies a migration release 1.2.0
// does not know; the time from the event's commit (its recorded_at, the
// server's clock under the head lock) to the unknown-migration alert
// arriving at a NATS subscriber, through the relay and the watcher. Then
// the rollback (its recovered alert is awaited, not timed). The run ends
// with its schema.fingerprinted, so the burst is judged without waiting
// for the settle time. Reports p50 and
// p99 over b.N trials (run with -benchtime 50x). Target: p99 < 100 ms.
func BenchmarkCommitToAlert(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b)
	if _, err := e.runner(v120, "1.2.0").Up(ctx, migrations.UpOptions{}); err != nil {
		b.Fatal(err)
	}
	w := e.watcher(v120, "1.2.0")
	e.caughtUp(w)
	nc, err := nats.Connect(e.natsURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	alerts := make(chan watch.Alert, 16)
	sub, err := nc.Subscribe(e.names.Prefix+".alerts.>", func(m *nats.Msg) {
		var a watch.Alert
		if json.Unmarshal(m.Data, &a) == nil {
			alerts <- a
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	nc.Flush()
	r13 := e.runner(v130, "1.3.0")
	await := func(kind watch.Kind, status watch.Status) (watch.Alert, time.Time) {
		select {
		case a := <-alerts:
			if a.Kind != kind || a.Status != status {
				b.Fatalf("alert %s %s, want %s %s", a.Kind, a.Status, kind, status)
			}
			return a, time.Now()
		case <-time.After(20 * time.Second):
			b.Fatalf("no %s alert within 20s", kind)
		}
		return watch.Alert{}, time.Time{}
	}
	var lat []time.Duration
	for b.Loop() {
		if _, err := r13.Up(ctx, migrations.UpOptions{}); err != nil {
			b.Fatal(err)
		}
		a, at := await(watch.KindUnknown, watch.Firing)
		lat = append(lat, at.Sub(a.Migrations[0].At))
		if _, err := r13.Down(ctx, migrations.DownOptions{Target: "0001_users"}); err != nil {
			b.Fatal(err)
		}
		await(watch.KindUnknown, watch.Recovered)
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-ms")
}

// BenchmarkCatchUp100k: a watcher started on a stream of 100,000 events
// (a migration applied and reverted, over and over) folds them all and
// reaches its verdict. Target: under 2 s.
func BenchmarkCatchUp100k(b *testing.B) {
	ctx := context.Background()
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	srv := natstest.Start(b)
	_, js := natstest.Connect(b, srv.URL())
	names := natsbus.NamesFor("bench")
	if _, err := natsbus.EnsureStream(ctx, js, names); err != nil {
		b.Fatal(err)
	}
	publishChurn(b, js, names, n)
	known := policy.Manifest{AppVersion: "1.0.0", Migrations: []policy.Known{{ID: "0001_churn", Checksum: "c"}}}
	for b.Loop() {
		w, err := watch.New(js, known, policy.Strict, watch.WithNames(names))
		if err != nil {
			b.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(rctx) }()
		if err := w.WaitSeq(ctx, int64(n)); err != nil {
			b.Fatal(err)
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if v, seq := w.Verdict(); seq != int64(n) || v.Decision != policy.Run {
			b.Fatalf("after catch-up: seq %d, %v", seq, v.Decision)
		}
	}
	b.ReportMetric(float64(n), "events")
}

// publishChurn puts n events on the stream as a relay would: init, then a
// migration applied and reverted in turn, chained by hash.
func publishChurn(b *testing.B, js jetstream.JetStream, names natsbus.Names, n int) {
	b.Helper()
	prev := make([]byte, 32)
	at := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for seq := int64(1); seq <= int64(n); seq++ {
		var ev projector.Event
		var err error
		switch {
		case seq == 1:
			ev, err = projector.NewEvent(projector.TypeLedgerInitialized, projector.Initialized{Format: 1, Schema: "ledger"})
		case seq%2 == 0:
			ev, err = projector.NewEvent(projector.TypeMigrationApplied, projector.Applied{ID: "0001_churn", Checksum: "c", Transactional: true})
		default:
			ev, err = projector.NewEvent(projector.TypeMigrationReverted, projector.Reverted{ID: "0001_churn", Source: projector.DownFromFile})
		}
		if err != nil {
			b.Fatal(err)
		}
		h := sha256.Sum256(fmt.Appendf(prev, "%d", seq))
		ev.Seq, ev.ID, ev.RecordedAt, ev.Actor, ev.Host, ev.PrevHash, ev.Hash = seq, fmt.Sprintf("00000000-0000-7000-8000-%012d", seq), at, "bench", "bench", prev, h[:]
		prev = h[:]
		m, err := natsbus.Encode(names, ledger.Event(ev))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := js.PublishMsgAsync(m); err != nil {
			b.Fatal(err)
		}
		if seq%5000 == 0 {
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(30 * time.Second):
				b.Fatal("publish stalled")
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		b.Fatal("publish stalled")
	}
}
