package natsbus_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"github.com/schema-ledger/ledger/internal/natstest"
	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
)

// BenchmarkFleetPolled: n separate databases (default 1,000; each one
// ledger, CREATE DATABASE … TEMPLATE of one initialized database) relayed
// by one FleetRelay (every database of the server) within --max-conns 20:
// most are polled. Reports the time until every ledger's first event is
// on the bus (the first sweep, which creates every stream), the sweep
// time once steady, the commit-to-stream p50/p99 of a burst of single
// events on random databases (each committed on a connection of its own;
// from the commit returning to a core subscriber receiving it), and the
// most connections the relay held (pg_stat_activity by application_name,
// sampled every 20ms). Run it on a throwaway cluster (bench/fleet-poll.sh):
// it creates the databases pollbench_NNNN (kept with
// LEDGER_FLEET_POLL_KEEP=1 for the next run, else dropped).
// LEDGER_FLEET_POLL_INTERVAL sets the poll interval (default the relay's),
// LEDGER_FLEET_POLL_BURST the burst's commits (200, over 10 s).
func BenchmarkFleetPolled(b *testing.B) {
	n := benchSize("LEDGER_FLEET_POLL_BENCH_DBS", 1000)
	burst := benchSize("LEDGER_FLEET_POLL_BURST", 200)
	interval := natsbus.DefaultVisitInterval
	if d, err := time.ParseDuration(os.Getenv("LEDGER_FLEET_POLL_INTERVAL")); err == nil {
		interval = d
	}
	const budget = 20
	ctx := context.Background()
	server := pgtest.ServerURL()
	cfg, err := pgx.ParseConfig(server)
	if err != nil {
		b.Fatal(err)
	}
	dbURL := func(db string) string {
		return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, db)
	}
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("pollbench_%04d", i)
	}
	setup := time.Now()
	createFleet(b, dbURL, names)
	b.ReportMetric(time.Since(setup).Seconds(), "s-setup")
	if os.Getenv("LEDGER_FLEET_POLL_KEEP") == "" {
		b.Cleanup(func() {
			admin, err := pgx.Connect(ctx, dbURL("postgres"))
			if err != nil {
				b.Error(err)
				return
			}
			defer admin.Close(ctx)
			for _, db := range append(names, "pollbench_tmpl") {
				if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
					b.Error(err)
				}
			}
		})
	}
	srv := natstest.Start(b)
	nc, js := natstest.Connect(b, srv.URL())
	var mu sync.Mutex
	arrived := map[string]time.Time{} // ledger/seq
	sub, err := nc.Subscribe("ledger.*.events.>", func(m *nats.Msg) {
		now := time.Now()
		key := strings.Split(m.Subject, ".")[1] + "/" + m.Header.Get(natsbus.HeaderSeq)
		mu.Lock()
		arrived[key] = now
		mu.Unlock()
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	waitArrived := func(keys []string, d time.Duration) {
		deadline := time.Now().Add(d)
		for {
			mu.Lock()
			missing := 0
			for _, k := range keys {
				if _, ok := arrived[k]; !ok {
					missing++
				}
			}
			mu.Unlock()
			if missing == 0 {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d events not on the bus within %s", missing, len(keys), d)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	peak, stopSampling := peakConns(b, dbURL("postgres"), "pollbench")
	dbs, err := ledger.NewDatabases([]string{dbURL("postgres") + "&application_name=pollbench"}, true, 3, budget)
	if err != nil {
		b.Fatal(err)
	}
	defer dbs.Close()
	fleetLog := slog.New(slog.DiscardHandler)
	if path := os.Getenv("LEDGER_FLEET_POLL_LOG"); path != "" {
		lf, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		defer lf.Close()
		fleetLog = slog.New(slog.NewTextHandler(lf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	f, err := natsbus.NewFleetRelay(js, dbs, natsbus.WithVisitInterval(interval), natsbus.WithFleetLogger(fleetLog),
		natsbus.WithRelayOptions(natsbus.WithPollInterval(30*time.Second)))
	if err != nil {
		b.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(rctx) }()
	defer func() { stop(); <-done }()

	// The first sweep: every stream created, each ledger's events published.
	start := time.Now()
	var heads []string
	for _, db := range names {
		heads = append(heads, natsbus.DefaultName(db, "ledger")+"/1")
	}
	waitArrived(heads, 10*time.Minute)
	b.ReportMetric(time.Since(start).Seconds(), "s-first-sweep") // every database visited, every stream created

	// Steady sweeps (nothing new): the median of the next three, and how
	// many databases each visited (those written to, and those whose last
	// visit is twelve intervals old).
	var sweeps []time.Duration
	var visited []int
	for s0 := f.Fleet().Sweeps; len(sweeps) < 3; {
		time.Sleep(50 * time.Millisecond)
		if fl := f.Fleet(); fl.Sweeps > s0 {
			s0 = fl.Sweeps
			sweeps = append(sweeps, fl.LastSweep)
			visited = append(visited, fl.LastVisited)
		}
	}
	slices.Sort(sweeps)
	slices.Sort(visited)
	b.ReportMetric(sweeps[1].Seconds(), "s-sweep")
	b.ReportMetric(float64(visited[1]), "sweep-visits")

	// The burst: single events on random databases, 4 writers over ~10 s.
	var commitMu sync.Mutex
	commits := map[string]time.Time{}
	var wg sync.WaitGroup
	per := burst / 4
	run := int(time.Now().Unix() % 100_000) // migration ids of this run's own (the databases may be kept)
	for w := range 4 {
		wg.Go(func() {
			for k := range per {
				db := names[rand.IntN(len(names))]
				conn, err := pgx.Connect(ctx, dbURL(db))
				if err != nil {
					b.Error(err)
					return
				}
				st, err := ledger.New(conn)
				if err != nil {
					b.Error(err)
					return
				}
				var h ledger.Head
				err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
					h, err = st.Append(ctx, tx, churn(b, run*10+w, k, 1)...)
					return err
				})
				at := time.Now()
				conn.Close(ctx)
				if err != nil {
					b.Error(err)
					return
				}
				commitMu.Lock()
				commits[natsbus.DefaultName(db, "ledger")+"/"+strconv.FormatInt(h.Seq, 10)] = at
				commitMu.Unlock()
				time.Sleep(time.Duration(rand.IntN(int(2 * 10 * time.Second / time.Duration(per))))) // ~10 s in all
			}
		})
	}
	wg.Wait()
	var keys []string
	for k := range commits {
		keys = append(keys, k)
	}
	waitArrived(keys, 5*time.Minute)
	var lat []time.Duration
	mu.Lock()
	for k, at := range commits {
		lat = append(lat, arrived[k].Sub(at))
	}
	mu.Unlock()
	slices.Sort(lat)
	if os.Getenv("LEDGER_FLEET_POLL_LOG") != "" {
		slow := slices.Collect(maps.Keys(commits))
		mu.Lock()
		slices.SortFunc(slow, func(x, y string) int { return int(arrived[y].Sub(commits[y]) - arrived[x].Sub(commits[x])) })
		for _, k := range slow[:min(5, len(slow))] {
			fleetLog.Info("bench: slow", "event", k, "committed", commits[k].Format("15:04:05.000"), "took", arrived[k].Sub(commits[k]).String())
		}
		mu.Unlock()
	}
	fl := f.Fleet()
	listening := 0
	for _, d := range fl.Databases {
		if d.Listening {
			listening++
		}
	}
	stopSampling()
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "stream-p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "stream-p99-ms")
	b.ReportMetric(float64(len(lat)), "burst-commits")
	b.ReportMetric(float64(peak()["pollbench"]), "peak-conns")
	b.ReportMetric(float64(listening), "listening-dbs")
	b.ReportMetric(float64(fl.VisitWorkers), "visit-conns")
	b.ReportMetric(interval.Seconds(), "s-poll-interval")
}

// createFleet creates the databases names (those missing), each a copy
// of pollbench_tmpl, a database with an initialized ledger.
func createFleet(b *testing.B, dbURL func(string) string, names []string) {
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dbURL("postgres"))
	if err != nil {
		b.Fatalf("%v\n%s", err, pgtest.HowToStart)
	}
	defer admin.Close(ctx)
	have := map[string]bool{}
	rows, err := admin.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE 'pollbench_%'")
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			b.Fatal(err)
		}
		have[s] = true
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	if !have["pollbench_tmpl"] {
		if _, err := admin.Exec(ctx, "CREATE DATABASE pollbench_tmpl"); err != nil {
			b.Fatal(err)
		}
		conn, err := pgx.Connect(ctx, dbURL("pollbench_tmpl"))
		if err != nil {
			b.Fatal(err)
		}
		st, err := ledger.New(conn)
		if err == nil {
			_, err = st.Init(ctx)
		}
		conn.Close(ctx)
		if err != nil {
			b.Fatal(err)
		}
	}
	for _, db := range names {
		if have[db] {
			continue
		}
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+db+" TEMPLATE pollbench_tmpl"); err != nil {
			b.Fatal(err)
		}
	}
}
