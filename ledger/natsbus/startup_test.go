package natsbus_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/internal/natstest"
	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
)

// Bug 6 (relay start-up): a relay started before PostgreSQL is up and
// before the ledger is initialized waits for both, then publishes from
// seq 1 — a sidecar started with its service does not crash-loop.
func TestRelayWaitsForPostgreSQLAndInit(t *testing.T) {
	c := pgtest.NewCluster(t)
	pool, _ := c.NewPool(4)
	c.Stop()
	st, err := ledger.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	srv := natstest.Start(t)
	_, js := natstest.Connect(t, srv.URL())
	names := natsbus.NamesFor("late")
	r := startRelay(t, js, st, pool, natsbus.WithNames(names), natsbus.WithAckWait(time.Second))
	waitFor(t, 20*time.Second, "retries while PostgreSQL is down", func() (bool, string) {
		return r.relay.Stats().Retries >= 2, r.logs.String()
	})
	if r.wait(0) {
		t.Fatalf("the relay gave up while PostgreSQL was down: %v", r.err)
	}
	c.Start()
	before := r.relay.Stats().Retries
	waitFor(t, 20*time.Second, "the relay waiting for the ledger", func() (bool, string) {
		return r.relay.Stats().Retries >= before+2 && strings.Contains(r.logs.String(), "not initialized yet"), r.logs.String()
	})
	if r.wait(0) {
		t.Fatalf("the relay gave up on a ledger not initialized: %v", r.err)
	}
	if _, err := st.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	seed(t, st, pool, 5)
	waitStream(t, js, names.Stream, 5, 30*time.Second)
	checkStream(t, js, names, st)
}
