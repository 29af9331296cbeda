package natsbus_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/internal/natstest"
	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
)

type fleetLedger struct {
	st   *ledger.Store
	pool *pgxpool.Pool
	name string
}

// 20 ledgers (10 schemas in each of 2 databases) relayed by one process
// within 8 connections while every ledger is written to at once; a ledger
// created mid-run is picked up. Each stream is its ledger exactly.
func TestFleetRelayTwentyLedgersWhileMigrationsRun(t *testing.T) {
	srv := natstest.Start(t)
	_, js := natstest.Connect(t, srv.URL())
	var urls []string
	var ledgers []fleetLedger
	for d := range 2 {
		pool, url := pgtest.NewPool(t, 4)
		urls = append(urls, url)
		var dbName string
		if err := pool.QueryRow(context.Background(), "SELECT current_database()").Scan(&dbName); err != nil {
			t.Fatal(err)
		}
		for s := range 10 {
			schema := fmt.Sprintf("ledger_t%d_%d", d, s)
			st, err := ledger.New(pool, ledger.WithSchema(schema))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Init(context.Background()); err != nil {
				t.Fatal(err)
			}
			ledgers = append(ledgers, fleetLedger{st, pool, natsbus.DefaultName(dbName, schema)})
		}
	}
	dbs, err := ledger.NewDatabases(urls, false, 4, 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dbs.Close)
	f, _ := runFleet(t, js, dbs)

	var wg sync.WaitGroup
	for i, l := range ledgers {
		wg.Go(func() {
			for n := 0; n < 30; n += 2 {
				appendTx(t, l.st, l.pool, churn(t, i, n, 2)...)
			}
		})
	}
	// A ledger created while the others are written to.
	late, err := ledger.New(ledgers[0].pool, ledger.WithSchema("ledger_late"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := late.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	appendTx(t, late, ledgers[0].pool, churn(t, 99, 0, 4)...)
	var lateDB string
	if err := ledgers[0].pool.QueryRow(context.Background(), "SELECT current_database()").Scan(&lateDB); err != nil {
		t.Fatal(err)
	}
	ledgers = append(ledgers, fleetLedger{late, ledgers[0].pool, natsbus.DefaultName(lateDB, "ledger_late")})
	wg.Wait()
	for _, l := range ledgers {
		head, err := l.st.Head(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		names := natsbus.NamesFor(l.name)
		waitStream(t, js, names.Stream, head.Seq, 30*time.Second)
		checkStream(t, js, names, l.st)
	}
	if n := len(f.Stats()); n != 21 {
		t.Errorf("the fleet relay serves %d ledgers, want 21", n)
	}
	if fl := f.Fleet(); fl.VisitWorkers != 0 || len(fl.Databases) != 2 || !fl.Databases[0].Listening || !fl.Databases[1].Listening {
		t.Errorf("2 databases x 4 connections in a budget of 8 all LISTEN, none is polled: %+v", fl)
	}
}

// Every database of a server (--all): a database created mid-run, with a
// ledger, is picked up and relayed from seq 1.
func TestFleetRelayPicksUpANewDatabase(t *testing.T) {
	c := pgtest.NewCluster(t)
	srv := natstest.Start(t)
	_, js := natstest.Connect(t, srv.URL())
	dbs, err := ledger.NewDatabases([]string{c.URL("postgres")}, true, 2, 40)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dbs.Close)
	runFleet(t, js, dbs)
	time.Sleep(500 * time.Millisecond) // the relay runs, with no ledger yet
	pool, _ := c.NewPool(2)
	st, err := ledger.New(pool, ledger.WithSchema("ledger"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	appendTx(t, st, pool, churn(t, 1, 0, 6)...)
	var dbName string
	if err := pool.QueryRow(context.Background(), "SELECT current_database()").Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	names := natsbus.NamesFor(natsbus.DefaultName(dbName, "ledger"))
	waitStream(t, js, names.Stream, 7, 30*time.Second)
	checkStream(t, js, names, st)
	dbs.Close() // before the cluster's databases are dropped
}
