package watch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"

	"github.com/schema-ledger/ledger/internal/natstest"
	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
	"github.com/schema-ledger/ledger/watch"
)

// fleetBenchSize is the number of ledgers: LEDGER_FLEET_BENCH_LEDGERS, or
// 1,000, or 20 under -short.
func fleetBenchSize() int {
	if v, err := strconv.Atoi(os.Getenv("LEDGER_FLEET_BENCH_LEDGERS")); err == nil && v > 0 {
		return v
	}
	if testing.Short() {
		return 20
	}
	return 1000
}

// benchLedger is one ledger of the bench fleet.
type benchLedger struct {
	pool  *pgxpool.Pool
	store *ledger.Store
	name  string // in NATS
}

// fleetDatabases makes dbs databases holding n ledger schemas between them:
// the first is initialized ledger by ledger, the others are copies of it
// (CREATE DATABASE ... TEMPLATE), which is much faster than initializing
// each. Pools of 4 connections per database serve the writers.
func fleetDatabases(b *testing.B, dbs, n int) ([]string, []benchLedger) {
	b.Helper()
	ctx := context.Background()
	perDB := (n + dbs - 1) / dbs
	first := pgtest.NewDatabase(b)
	pool, err := pgxpool.New(ctx, first)
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	work := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range work {
				st, err := ledger.New(pool, ledger.WithSchema(fmt.Sprintf("ledger_t%04d", i)))
				if err == nil {
					_, err = st.Init(ctx)
				}
				if err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := range perDB {
		work <- i
	}
	close(work)
	wg.Wait()
	pool.Close()
	urls := []string{first}
	admin, err := pgx.Connect(ctx, pgtest.ServerURL())
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	cfg, _ := pgx.ParseConfig(first)
	for d := 1; d < dbs; d++ {
		name := fmt.Sprintf("%s_copy%d", cfg.Database, d)
		if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", pgx.Identifier{name}.Sanitize(), pgx.Identifier{cfg.Database}.Sanitize())); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			c, err := pgx.Connect(context.Background(), pgtest.ServerURL())
			if err == nil {
				_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
				c.Close(context.Background())
			}
		})
		urls = append(urls, strings.Replace(first, "/"+cfg.Database, "/"+name, 1))
	}
	var ls []benchLedger
	for _, u := range urls {
		p, err := pgxpool.New(ctx, u)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(p.Close)
		db, err := ledger.DatabaseName(ctx, p)
		if err != nil {
			b.Fatal(err)
		}
		for i := range perDB {
			if len(ls) == n {
				break
			}
			schema := fmt.Sprintf("ledger_t%04d", i)
			st, err := ledger.New(p, ledger.WithSchema(schema))
			if err != nil {
				b.Fatal(err)
			}
			ls = append(ls, benchLedger{pool: p, store: st, name: natsbus.DefaultName(db, schema)})
		}
	}
	return urls, ls
}

// arrivals records when each ledger event reached a subscriber.
type arrivals struct {
	mu sync.Mutex
	at map[string]time.Time // ledger name + "/" + seq
}

func (a *arrivals) wait(b *testing.B, keys []string, d time.Duration) {
	b.Helper()
	deadline := time.Now().Add(d)
	for {
		a.mu.Lock()
		missing := 0
		for _, k := range keys {
			if _, ok := a.at[k]; !ok {
				missing++
			}
		}
		a.mu.Unlock()
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d events not on the bus within %s", missing, len(keys), d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(p*float64(len(ds))))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkFleet: n ledgers (n/4 ledger schemas in each of 4 databases)
// relayed by one FleetRelay within 20 connections while each gets 5
// migrations (their migration.applied events, each committed in its own
// transaction by 16 writers): commit-to-stream p50/p99 (commit returned →
// the message at a subscriber). Then one FleetWatcher over all of them,
// guarding a release that knows none of those migrations: a burst of 5
// more per ledger, each burst ending with the run's schema.fingerprinted;
// alert latency p50/p99 from a ledger's last commit to the alert naming
// it (from the run's end, its schema.fingerprinted committed, to the first
// alert stating the state the whole burst leaves: 10 migrations the
// release does not know; 0 if that came before), and the heap the
// watcher holds. Then FleetState (`fleet --nats`)
// over every stream. Targets at 1,000: stream p99 ≤ 250 ms, alert p99 ≤
// 500 ms, watcher ≤ 200 MB, fleet state ≤ 2 s.
func BenchmarkFleet(b *testing.B) {
	n := fleetBenchSize()
	ctx := context.Background()
	urls, ls := fleetDatabases(b, 4, n)
	srv := natstest.Start(b)
	nc, js := natstest.Connect(b, srv.URL())
	got := &arrivals{at: map[string]time.Time{}}
	sub, err := nc.Subscribe("ledger.*.events.>", func(m *nats.Msg) {
		now := time.Now()
		name := strings.Split(m.Subject, ".")[1]
		got.mu.Lock()
		got.at[name+"/"+m.Header.Get(natsbus.HeaderSeq)] = now
		got.mu.Unlock()
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	dbs, err := ledger.NewDatabases(urls, false, 5, 20)
	if err != nil {
		b.Fatal(err)
	}
	defer dbs.Close()
	f, err := natsbus.NewFleetRelay(js, dbs, natsbus.WithRelayOptions(natsbus.WithPollInterval(30*time.Second)))
	if err != nil {
		b.Fatal(err)
	}
	rctx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan error, 1)
	go func() { relayDone <- f.Run(rctx) }()
	defer func() { stopRelay(); <-relayDone }()
	var initKeys []string
	for _, l := range ls {
		initKeys = append(initKeys, l.name+"/1")
	}
	start := time.Now()
	got.wait(b, initKeys, 5*time.Minute)
	b.ReportMetric(time.Since(start).Seconds(), "s-to-first-publish-all")

	// Phase 1: 5 migrations per ledger, committed by 16 writers.
	commit := func(round, from int) ([]time.Duration, []string) {
		var mu sync.Mutex
		commits := map[string]time.Time{}
		var wg sync.WaitGroup
		work := make(chan benchLedger)
		for range 16 {
			wg.Go(func() {
				for l := range work {
					for r := range round {
						ev, err := projector.NewEvent(projector.TypeMigrationApplied, projector.Applied{ID: fmt.Sprintf("%04d_m", from+r), Checksum: "c", Transactional: true})
						if err != nil {
							b.Error(err)
							return
						}
						var h ledger.Head
						err = pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
							var err error
							h, err = l.store.Append(ctx, tx, ev)
							return err
						})
						if err != nil {
							b.Error(err)
							return
						}
						mu.Lock()
						commits[l.name+"/"+strconv.FormatInt(h.Seq, 10)] = time.Now()
						mu.Unlock()
					}
				}
			})
		}
		for _, l := range ls {
			work <- l
		}
		close(work)
		wg.Wait()
		var keys []string
		for k := range commits {
			keys = append(keys, k)
		}
		got.wait(b, keys, 5*time.Minute)
		var lat []time.Duration
		got.mu.Lock()
		for k, c := range commits {
			lat = append(lat, got.at[k].Sub(c))
		}
		got.mu.Unlock()
		return lat, keys
	}
	lat, _ := commit(5, 1)
	b.ReportMetric(ms(pct(lat, 0.50)), "stream-p50-ms")
	b.ReportMetric(ms(pct(lat, 0.99)), "stream-p99-ms")
	b.ReportMetric(float64(len(lat)), "migrations")

	// Phase 2: one watcher for the fleet.
	alertAt := map[string]time.Time{}
	var amu sync.Mutex
	asub, err := nc.Subscribe(watch.FleetAlertPrefix+".>", func(m *nats.Msg) {
		now := time.Now()
		var a watch.Alert
		if json.Unmarshal(m.Data, &a) != nil {
			return
		}
		if a.Status != watch.Firing || len(a.Migrations) != 10 {
			return // not (yet) the state the whole burst leaves
		}
		names := a.Ledgers
		if a.Ledger != "" {
			names = []string{a.Ledger}
		}
		amu.Lock()
		for _, name := range names {
			if _, ok := alertAt[name]; !ok { // the first alert stating it: a group's updates name it again
				alertAt[name] = now
			}
		}
		amu.Unlock()
	})
	if err != nil {
		b.Fatal(err)
	}
	defer asub.Unsubscribe()
	guard := watch.ReleaseGuard{Manifest: policy.Manifest{AppVersion: "1.0.0"}, Policy: policy.Strict}
	w, err := watch.NewFleet(js, watch.GuardReleases(guard), watch.GuardSeenReleases(false), watch.WithGroupWindow(0))
	if err != nil {
		b.Fatal(err)
	}
	wctx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan error, 1)
	start = time.Now()
	go func() { watchDone <- w.Run(wctx) }()
	for _, l := range ls {
		if err := w.WaitJudged(ctx, l.name, 6); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(time.Since(start).Seconds(), "s-watcher-catch-up")
	time.Sleep(500 * time.Millisecond)
	amu.Lock()
	clear(alertAt)
	amu.Unlock()

	// The burst: 5 more migrations per ledger, then the run's end.
	commits := map[string]time.Time{}
	var cmu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan benchLedger)
	for range 16 {
		wg.Go(func() {
			for l := range work {
				var evs []ledger.Event
				for r := range 5 {
					ev, _ := projector.NewEvent(projector.TypeMigrationApplied, projector.Applied{ID: fmt.Sprintf("%04d_m", 6+r), Checksum: "c", Transactional: true})
					evs = append(evs, ev)
				}
				fp, _ := projector.NewEvent(projector.TypeSchemaFingerprinted, projector.Fingerprinted{Fingerprint: "f", Objects: 10})
				evs = append(evs, fp)
				for i, ev := range evs {
					err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error { _, err := l.store.Append(ctx, tx, ev); return err })
					if err != nil {
						b.Error(err)
						return
					}
					if i == len(evs)-1 { // the run's end: the burst has settled
						cmu.Lock()
						commits[l.name] = time.Now()
						cmu.Unlock()
					}
				}
			}
		})
	}
	for _, l := range ls {
		work <- l
	}
	close(work)
	wg.Wait()
	deadline := time.Now().Add(5 * time.Minute)
	var alat []time.Duration
	for {
		amu.Lock()
		alat = alat[:0]
		for name, c := range commits {
			if at, ok := alertAt[name]; ok {
				// An alert judged on the quiet before the run's end came
				// (settle) arrives before it: no wait after the burst.
				alat = append(alat, max(0, at.Sub(c)))
			}
		}
		amu.Unlock()
		if len(alat) == len(commits) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(alat) != len(commits) {
		b.Fatalf("alerts for %d of %d ledgers", len(alat), len(commits))
	}
	b.ReportMetric(ms(pct(alat, 0.50)), "alert-p50-ms")
	b.ReportMetric(ms(pct(alat, 0.99)), "alert-p99-ms")
	b.ReportMetric(float64(w.Alerts()), "alerts")

	// Phase 3: the fleet's state from the bus.
	start = time.Now()
	states, err := watch.FleetState(ctx, js, watch.FleetQuery{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(start).Seconds(), "s-fleet-state")
	if len(states) != n {
		b.Fatalf("fleet state: %d ledgers, want %d", len(states), n)
	}
	states = nil

	// The watcher's memory: the heap in use with it running (the relay
	// stopped) minus the heap in use once it is stopped and dropped.
	stopRelay()
	<-relayDone
	relayDone <- nil
	runtime.GC()
	var with, without runtime.MemStats
	runtime.ReadMemStats(&with)
	stopWatch()
	if err := <-watchDone; err != nil {
		b.Fatal(err)
	}
	w = nil
	runtime.GC()
	runtime.ReadMemStats(&without)
	b.ReportMetric(float64(int64(with.HeapInuse)-int64(without.HeapInuse))/(1<<20), "watcher-heap-MB")
	b.ReportMetric(float64(with.HeapInuse)/(1<<20), "process-heap-MB")
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "VmHWM:") {
				if kb, err := strconv.Atoi(strings.Fields(line)[1]); err == nil {
					b.ReportMetric(float64(kb)/1024, "process-peak-rss-MB")
				}
			}
		}
	}
	for range b.N {
	}
	b.ReportMetric(float64(n), "ledgers")
}
