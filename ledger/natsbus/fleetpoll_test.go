package natsbus_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/internal/natstest"
	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/internal/syncbuf"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
)

// pollLedger is one ledger of the polled fleet, reached by URL.
type pollLedger struct {
	url, schema, name string
}

// onConn runs fn on a connection of its own to url.
func onConn(t testing.TB, url string, fn func(*pgx.Conn)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	fn(conn)
}

// appendOn appends events to the ledger in one transaction on a connection of its own.
func appendOn(t testing.TB, l pollLedger, events ...ledger.Event) {
	t.Helper()
	onConn(t, l.url, func(conn *pgx.Conn) {
		st, err := ledger.New(conn, ledger.WithSchema(l.schema))
		if err != nil {
			t.Fatal(err)
		}
		if err := pgx.BeginFunc(context.Background(), conn, func(tx pgx.Tx) error {
			_, err := st.Append(context.Background(), tx, events...)
			return err
		}); err != nil {
			t.Errorf("append to %s: %v", l.name, err)
		}
	})
}

// checkLedgerStream checks the ledger's stream is the ledger exactly.
func checkLedgerStream(t testing.TB, js jetstream.JetStream, l pollLedger) {
	t.Helper()
	onConn(t, l.url, func(conn *pgx.Conn) {
		st, err := ledger.New(conn, ledger.WithSchema(l.schema))
		if err != nil {
			t.Fatal(err)
		}
		head, err := st.Head(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		names := natsbus.NamesFor(l.name)
		waitStream(t, js, names.Stream, head.Seq, time.Minute)
		checkStream(t, js, names, st)
	})
}

// peakConns samples how many connections the application holds on the
// server (pg_stat_activity) every 10ms until stop, and returns the most.
func peakConns(t testing.TB, adminURL string, apps ...string) (peak func() map[string]int, stop func()) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), adminURL)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	most := map[string]int{}
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer conn.Close(context.Background())
		for {
			for _, app := range apps {
				var n int
				if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n); err == nil {
					mu.Lock()
					most[app] = max(most[app], n)
					mu.Unlock()
				}
			}
			select {
			case <-quit:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(quit); <-done }) }
	t.Cleanup(stop)
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for k, v := range most {
			out[k] = v
		}
		return out
	}, stop
}

// runFleet runs a fleet relay over dbs until the test ends.
func runFleet(t *testing.T, js jetstream.JetStream, dbs natsbus.DatabaseLister, opts ...natsbus.FleetOption) (*natsbus.FleetRelay, *syncbuf.Buffer) {
	t.Helper()
	logs := &syncbuf.Buffer{}
	opts = append([]natsbus.FleetOption{natsbus.WithDiscoveryInterval(300 * time.Millisecond),
		natsbus.WithVisitInterval(200 * time.Millisecond),
		natsbus.WithFleetLogger(slog.New(slog.NewTextHandler(logs, nil))),
		natsbus.WithRelayOptions(natsbus.WithPollInterval(5*time.Second), natsbus.WithBackoff(50*time.Millisecond, time.Second))}, opts...)
	f, err := natsbus.NewFleetRelay(js, dbs, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("fleet relay: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the fleet relay did not stop")
		}
		if t.Failed() {
			t.Logf("fleet relay log:\n%s", logs.String())
		}
	})
	return f, logs
}

// 40 databases (every 6th with a second ledger) relayed by two fleet
// relays at once, each within 6 connections (3 per listening database):
// one database LISTENs, the others are polled. Events are appended to
// random ledgers while they run, one database is kept busy (it gets the
// listening slot), and a database created after the start is picked up.
// Every stream is its ledger exactly (once, in order), and neither relay
// ever held more than 6 connections (pg_stat_activity, sampled).
func TestFleetRelayPollsWhatTheBudgetCannotListenTo(t *testing.T) {
	const n, budget = 40, 6
	began := time.Now()
	c := pgtest.NewCluster(t)
	c.Stop()
	c.Start("max_connections=40")
	ctx := context.Background()
	url := func(db, app string) string { return c.URL(db) + "&application_name=" + app }
	pgtest.Exec(t, c.URL("postgres"), "CREATE DATABASE tmpl")
	onConn(t, c.URL("tmpl"), func(conn *pgx.Conn) {
		st, err := ledger.New(conn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Init(ctx); err != nil {
			t.Fatal(err)
		}
	})
	var ledgers []pollLedger
	for i := range n {
		db := fmt.Sprintf("tenant_%02d", i)
		pgtest.Exec(t, c.URL("postgres"), "CREATE DATABASE "+db+" TEMPLATE tmpl")
		ledgers = append(ledgers, pollLedger{c.URL(db), "ledger", natsbus.DefaultName(db, "ledger")})
		if i%6 == 0 {
			l := pollLedger{c.URL(db), "ledger_b", natsbus.DefaultName(db, "ledger_b")}
			onConn(t, l.url, func(conn *pgx.Conn) {
				st, err := ledger.New(conn, ledger.WithSchema(l.schema))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := st.Init(ctx); err != nil {
					t.Fatal(err)
				}
			})
			ledgers = append(ledgers, l)
		}
	}
	ledgers = append(ledgers, pollLedger{c.URL("tmpl"), "ledger", natsbus.DefaultName("tmpl", "ledger")})

	t.Logf("%s: %d databases made", time.Since(began), n)
	srv := natstest.Start(t)
	_, js := natstest.Connect(t, srv.URL())
	peak, stopSampling := peakConns(t, c.URL("postgres"), "relay_a", "relay_b")
	var relays []*natsbus.FleetRelay
	for _, app := range []string{"relay_a", "relay_b"} {
		dbs, err := ledger.NewDatabases([]string{url("postgres", app)}, true, 3, budget)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(dbs.Close)
		f, _ := runFleet(t, js, dbs)
		relays = append(relays, f)
	}

	// Appends to random ledgers while the relays run, and a busy database.
	var wg sync.WaitGroup
	var appended atomic.Int64
	base := slices.Clone(ledgers)
	for w := range 3 {
		wg.Go(func() {
			for k := range 20 {
				l := base[rand.IntN(len(base))]
				appendOn(t, l, churn(t, 100+w, 10*k, 1+rand.IntN(3))...)
				appended.Add(1)
				time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
			}
		})
	}
	busy := ledgers[len(ledgers)-2]
	busyDB := strings.Split(busy.name, "_ledger")[0]
	listens := func(f *natsbus.FleetRelay) bool {
		for _, d := range f.Fleet().Databases {
			if d.Name == busyDB {
				return d.Listening
			}
		}
		return false
	}
	wg.Go(func() {
		onConn(t, busy.url, func(conn *pgx.Conn) {
			st, err := ledger.New(conn)
			if err != nil {
				t.Error(err)
				return
			}
			// Until both relays LISTEN to it (at most a minute).
			for k := 0; k < 1200 && !(listens(relays[0]) && listens(relays[1])); k++ {
				if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
					_, err := st.Append(ctx, tx, churn(t, 7, k, 1)...)
					return err
				}); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	})
	// A database created while they run.
	time.Sleep(300 * time.Millisecond)
	late := pollLedger{c.URL("tenant_late"), "ledger", natsbus.DefaultName("tenant_late", "ledger")}
	pgtest.Exec(t, c.URL("postgres"), "CREATE DATABASE tenant_late")
	onConn(t, late.url, func(conn *pgx.Conn) {
		st, err := ledger.New(conn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Init(ctx); err != nil {
			t.Fatal(err)
		}
	})
	appendOn(t, late, churn(t, 9, 0, 4)...)
	ledgers = append(ledgers, late)
	wg.Wait()
	t.Logf("%s: written", time.Since(began))

	for _, l := range ledgers {
		checkLedgerStream(t, js, l)
	}
	t.Logf("%s: checked", time.Since(began))
	// Quiet now: a sweep visits only the databases written to since
	// (pg_stat_database), not the 40 others.
	for i, f := range relays {
		waitFor(t, 30*time.Second, fmt.Sprintf("relay %d: a sweep visiting only what changed", i), func() (bool, string) {
			fl := f.Fleet()
			return fl.LastVisited < n/4, fmt.Sprintf("the last sweep visited %d", fl.LastVisited)
		})
	}
	stopSampling()
	for app, most := range peak() {
		if most > budget {
			t.Errorf("%s held %d connections at once; the budget is %d", app, most, budget)
		}
		if most == 0 {
			t.Errorf("%s: no connection seen in pg_stat_activity: the sampling is wrong", app)
		}
		t.Logf("%s: at most %d connections (budget %d)", app, most, budget)
	}
	for i, f := range relays {
		fl := f.Fleet()
		listening, polled := 0, 0
		for _, d := range fl.Databases {
			if d.Listening {
				listening++
			} else {
				polled++
			}
		}
		// 6 = 1 listening database x 3 + 3 visit connections.
		if fl.ListenSlots != 1 || fl.VisitWorkers != 3 || listening != 1 || polled != len(fl.Databases)-1 || fl.Sweeps == 0 {
			t.Errorf("relay %d: %d listen slots, %d visit connections, %d listening, %d polled, %d sweeps; want 1, 3, 1, the rest, some",
				i, fl.ListenSlots, fl.VisitWorkers, listening, polled, fl.Sweeps)
		}
		if !listens(f) {
			t.Errorf("relay %d: the busy database %s did not get the listening slot: %+v", i, busyDB, fl.Databases)
		}
		var published int64
		for _, s := range f.Stats() {
			published += s.Published
			if s.Error != "" {
				t.Errorf("relay %d: ledger %s: %s", i, s.Name, s.Error)
			}
		}
		t.Logf("relay %d: published %d events; %d sweeps, the last %s", i, published, fl.Sweeps, fl.LastSweep)
	}
}

// A database dropped while it is polled, and one whose stream holds
// another ledger's events, are reported and left; the other databases
// go on being relayed.
func TestFleetRelayPolledDatabaseErrorsStopOnlyThatDatabase(t *testing.T) {
	srv := natstest.Start(t)
	_, js := natstest.Connect(t, srv.URL())
	ctx := context.Background()
	var urls []string
	var ledgers []pollLedger
	for range 4 {
		u := pgtest.NewDatabase(t)
		onConn(t, u, func(conn *pgx.Conn) {
			st, err := ledger.New(conn)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Init(ctx); err != nil {
				t.Fatal(err)
			}
			name, err := ledger.DatabaseName(ctx, conn)
			if err != nil {
				t.Fatal(err)
			}
			ledgers = append(ledgers, pollLedger{u, "ledger", natsbus.DefaultName(name, "ledger")})
		})
		urls = append(urls, u)
	}
	// The stream of ledger 3 already holds 5 events of another ledger.
	other, opool, _ := newLedger(t, 2)
	seed(t, other, opool, 5)
	r := startRelay(t, js, other, opool, natsbus.WithNames(natsbus.NamesFor(ledgers[3].name)))
	waitStream(t, js, natsbus.NamesFor(ledgers[3].name).Stream, 5, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	appendOn(t, ledgers[3], churn(t, 3, 0, 6)...)

	// A budget of 2: no database LISTENs, two visit at once.
	dbs, err := ledger.NewDatabases(urls, false, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dbs.Close)
	f, logs := runFleet(t, js, dbs, natsbus.WithRelayOptions(natsbus.WithSightings(100*time.Millisecond, time.Hour)))
	for _, l := range ledgers[:3] {
		checkLedgerStream(t, js, l)
	}
	// The check-ins of a polled ledger reach the bucket at its visits.
	waitFor(t, 10*time.Second, "the polled ledgers' check-ins in the bucket", func() (bool, string) {
		seen, err := natsbus.ReadSightings(ctx, js)
		if err != nil {
			return false, err.Error()
		}
		for _, l := range ledgers[:3] {
			if _, ok := seen[l.name]; !ok {
				return false, fmt.Sprintf("no %s in %v", l.name, seen)
			}
		}
		return true, ""
	})
	// Drop database 0 (its pgtest cleanup's DROP ... IF EXISTS is then a no-op).
	dropped := strings.Split(ledgers[0].name, "_ledger")[0]
	pgtest.Exec(t, pgtest.ServerURL(), "DROP DATABASE "+dropped+" WITH (FORCE)")
	for i, l := range ledgers[1:3] {
		appendOn(t, l, churn(t, i, 0, 4)...)
	}
	for _, l := range ledgers[1:3] {
		checkLedgerStream(t, js, l)
	}
	waitFor(t, 10*time.Second, "the dropped database reported", func() (bool, string) {
		for _, d := range f.Fleet().Databases {
			if d.Name == dropped && d.Error != "" {
				return strings.Contains(d.Error, "does not exist"), d.Error
			}
		}
		return false, fmt.Sprintf("%+v", f.Fleet().Databases)
	})
	if n := strings.Count(logs.String(), "cannot reach the database"); n != 1 {
		t.Errorf("the dropped database is logged %d times, want once:\n%s", n, logs.String())
	}
	var refused string
	for _, s := range f.Stats() {
		if s.Name == ledgers[3].name {
			refused = s.Error
		} else if s.Error != "" {
			t.Errorf("ledger %s: %s", s.Name, s.Error)
		}
	}
	if !strings.Contains(refused, "does not match this ledger") {
		t.Errorf("the foreign stream of %s: %q, want it refused", ledgers[3].name, refused)
	}
	waitStream(t, js, natsbus.NamesFor(ledgers[3].name).Stream, 5, time.Second) // untouched
	if fl := f.Fleet(); fl.ListenSlots != 0 || fl.VisitWorkers != 2 {
		t.Errorf("a budget of 2 with 3 per listening database: %d listen slots, %d visit connections; want 0 and 2", fl.ListenSlots, fl.VisitWorkers)
	}
}
