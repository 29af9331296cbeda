package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/internal/natstest"
	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/internal/syncbuf"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
)

// ledger watch, as an operator runs it: guarding 1.2.0 from the stream a
// relay publishes, it prints one line when 1.3.0 migrates and one when
// the schema drifts (--db), and stops cleanly when told to (exit 0).
func TestWatchCommand(t *testing.T) {
	ctx := context.Background()
	pool, url := pgtest.NewPool(t, 3)
	v12 := writeDir(t, map[string]string{"0001_users.up.sql": "CREATE TABLE users (id bigint PRIMARY KEY);"})
	v13 := writeDir(t, map[string]string{
		"0001_users.up.sql":    "CREATE TABLE users (id bigint PRIMARY KEY);",
		"0002_orders.up.sql":   "CREATE TABLE orders (id bigint PRIMARY KEY);",
		"0002_orders.down.sql": "DROP TABLE orders;",
	})
	mustCLI(t, url, "up", "--dir", v12, "--app-version", "1.2.0")

	srv := natstest.Start(t)
	_, js := natstest.Connect(t, srv.URL())
	st, err := ledger.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	names := natsbus.NamesFor(natsbus.DefaultName(cfg.ConnConfig.Database, "ledger"))
	relay, err := natsbus.NewRelay(js, st, pool, natsbus.WithNames(names), natsbus.WithPollInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	rctx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan error, 1)
	go func() { relayDone <- relay.Run(rctx) }()
	defer func() { stopRelay(); <-relayDone }()

	var out, errOut syncbuf.Buffer
	wctx, stopWatch := context.WithCancel(ctx)
	code := make(chan int, 1)
	go func() {
		code <- runWith(wctx, []string{"watch", "--dir", v12, "--app-version", "1.2.0", "--nats", srv.URL(), "--interval", "100ms"}, &out, &errOut,
			func(k string) string {
				if k == "DATABASE_URL" {
					return url
				}
				return ""
			})
	}()
	waitOutput := func(what string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(out.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q within 20s; stdout:\n%s\nstderr:\n%s", what, out.String(), errOut.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(500 * time.Millisecond)
	mustCLI(t, url, "up", "--dir", v13, "--app-version", "1.3.0")
	waitOutput("ALERT unknown-migration release 1.2.0 (refuse): 1 migration(s) this release does not know: 0002_orders (release 1.3.0, postgres@")
	mustCLI(t, url, "down", "--dir", v13, "--app-version", "1.3.0", "--to", "0001_users")
	waitOutput("ALERT unknown-migration recovered release 1.2.0 (run)")
	if _, err := pool.Exec(ctx, "ALTER TABLE users ADD COLUMN sneaky_hotfix integer"); err != nil {
		t.Fatal(err)
	}
	waitOutput("ALERT schema-drift release 1.2.0 (run): the schema changed outside the migrations since the snapshot at seq")
	waitOutput("+ column public.users.sneaky_hotfix integer null")
	if n := strings.Count(out.String(), "ALERT"); n != 3 {
		t.Errorf("%d alerts, want 3:\n%s", n, out.String())
	}
	stopWatch()
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("watch exited %d after its context ended; stderr:\n%s", c, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not stop within 10s")
	}
	if !strings.Contains(errOut.String(), "watching stream "+names.Stream+" on nats://") {
		t.Errorf("stderr does not say what it watches:\n%s", errOut.String())
	}
}
