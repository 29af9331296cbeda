package watch_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/internal/natstest"
	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/watch"
)

// fleetEnv is n databases with a ledger each, relayed by one fleet relay
// (check-ins included) to an embedded NATS.
type fleetEnv struct {
	t     testing.TB
	js    jetstream.JetStream
	url   string
	pools []*pgxpool.Pool
	names []string // ledger names in NATS, by database
}

func newFleetEnv(t testing.TB, n int) *fleetEnv {
	t.Helper()
	srv := natstest.Start(t)
	_, js := natstest.Connect(t, srv.URL())
	e := &fleetEnv{t: t, js: js, url: srv.URL()}
	var urls []string
	for range n {
		pool, url := pgtest.NewPool(t, 3)
		st, err := ledger.New(pool)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Init(context.Background()); err != nil {
			t.Fatal(err)
		}
		db, err := ledger.DatabaseName(context.Background(), pool)
		if err != nil {
			t.Fatal(err)
		}
		e.pools = append(e.pools, pool)
		e.names = append(e.names, natsbus.DefaultName(db, "ledger"))
		urls = append(urls, url)
	}
	dbs, err := ledger.NewDatabases(urls, false, 3, 3*n)
	if err != nil {
		t.Fatal(err)
	}
	f, err := natsbus.NewFleetRelay(js, dbs, natsbus.WithDiscoveryInterval(200*time.Millisecond),
		natsbus.WithRelayOptions(natsbus.WithSightings(100*time.Millisecond, time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		dbs.Close()
	})
	return e
}

func (e *fleetEnv) runner(i int, files map[string]string, version string) *migrations.Runner {
	e.t.Helper()
	r, err := migrations.NewRunner(e.pools[i], set(e.t, files), migrations.WithAppVersion(version), migrations.WithHost("host-"+version))
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// checkIn records that release version of files runs against database i.
func (e *fleetEnv) checkIn(i int, files map[string]string, version, instance string) {
	e.t.Helper()
	c, err := migrations.NewChecker(e.pools[i], set(e.t, files), migrations.WithAppVersion(version), migrations.WithCheckIn(migrations.CheckIn{Instance: instance, Host: "node-" + instance}))
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := c.Check(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// `ledger fleet --nats`: every ledger's state from its stream alone, the
// releases seen there, and where a release would run or refuse.
func TestFleetStateFromTheBus(t *testing.T) {
	ctx := context.Background()
	e := newFleetEnv(t, 3)
	for i := range 3 {
		files := v120
		if i == 2 {
			files = v130
		}
		if _, err := e.runner(i, files, map[int]string{0: "1.2.0", 1: "1.2.0", 2: "1.3.0"}[i]).Up(ctx, migrations.UpOptions{}); err != nil {
			t.Fatal(err)
		}
		e.checkIn(i, v120, "1.2.0", fmt.Sprintf("pod-%d", i))
	}
	var states []watch.LedgerState
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		states, err = watch.FleetState(ctx, e.js, watch.FleetQuery{Release: "1.2.0"})
		if err != nil {
			t.Fatal(err)
		}
		ready := len(states) == 3
		for _, s := range states {
			// The manifest reaches the bus with the check-in that stored it.
			ready = ready && len(s.Releases) == 1 && s.Releases[0].Stored && s.Last != nil && s.Last.Type == "schema.fingerprinted"
		}
		if ready || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(states) != 3 {
		t.Fatalf("%d ledgers, want 3: %+v", len(states), states)
	}
	for _, s := range states {
		i := map[string]int{e.names[0]: 0, e.names[1]: 1, e.names[2]: 2}[s.Name]
		wantApplied, wantDecision := 1, "run"
		if i == 2 {
			wantApplied, wantDecision = 2, "refuse"
		}
		if s.Applied != wantApplied || s.InDoubt != 0 || s.Failed != 0 || s.Drifted || s.Seq == 0 || s.SchemaVersion == "" {
			t.Errorf("%s: %+v", s.Name, s)
		}
		if len(s.Releases) != 1 || s.Releases[0].AppVersion != "1.2.0" || s.Verdict == nil || s.Verdict.Decision != wantDecision {
			t.Errorf("%s: releases %+v, verdict %+v; want 1.2.0 seen, %s", s.Name, s.Releases, s.Verdict, wantDecision)
		}
	}
}

func policyStrict() policy.Policy { return policy.Strict }
