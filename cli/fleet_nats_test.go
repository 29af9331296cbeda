package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/schema-ledger/ledger/internal/natstest"
	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/internal/syncbuf"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
	"github.com/schema-ledger/ledger/projector"
)

// background runs the CLI until the test ends (or stop), with its output.
type background struct {
	out, errOut syncbuf.Buffer
	stop        context.CancelFunc
	done        chan int
}

func runBackground(t *testing.T, args ...string) *background {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	b := &background{stop: stop, done: make(chan int, 1)}
	go func() { b.done <- runWith(ctx, args, &b.out, &b.errOut, func(string) string { return "" }) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-b.done:
		case <-time.After(30 * time.Second):
			t.Errorf("ledger %s did not stop", args[0])
		}
	})
	return b
}

// Bug 6 at the command line: `ledger relay` started before PostgreSQL is
// up, and before `ledger init`, waits for both (it does not exit), then
// publishes from seq 1.
func TestRelayCommandWaitsForPostgreSQLAndInit(t *testing.T) {
	c := pgtest.NewCluster(t)
	_, dbURL := c.NewPool(1)
	c.Stop()
	srv := natstest.Start(t)
	r := runBackground(t, "relay", "--db", dbURL, "--nats", srv.URL(), "--name", "sidecar", "--poll", "100ms")
	time.Sleep(2 * time.Second)
	select {
	case code := <-r.done:
		t.Fatalf("the relay exited (%d) while PostgreSQL was down:\n%s\n%s", code, r.out.String(), r.errOut.String())
	default:
	}
	c.Start()
	time.Sleep(time.Second)
	select {
	case code := <-r.done:
		t.Fatalf("the relay exited (%d) on a ledger not initialized:\n%s\n%s", code, r.out.String(), r.errOut.String())
	default:
	}
	if code, _, errOut := ledgerIn(context.Background(), "init", "--db", dbURL); code != 0 {
		t.Fatalf("init: %d %s", code, errOut)
	}
	_, js := natstest.Connect(t, srv.URL())
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got []int64
		for ev, err := range natsbus.ReadEvents(context.Background(), js, natsbus.NamesFor("sidecar"), 0) {
			if err != nil {
				break
			}
			got = append(got, ev.Seq)
		}
		if len(got) >= 1 && got[0] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing published from seq 1 after the init:\n%s", r.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(r.out.String(), "not initialized yet") {
		t.Errorf("the relay did not say it waits for the init:\n%s", r.out.String())
	}
}

// Bug 5 at the command line: a wrong password, a malformed .creds file
// and port 99999 fail at once with what is wrong and an exit code; a
// mistyped watch --name on a server with other ledgers is an error.
func TestNATSMisconfigurationFailsAtOnce(t *testing.T) {
	ctx := context.Background()
	srv := natstest.Start(t, func(o *server.Options) { o.Username, o.Password = "relay", "s3cret" })
	port := strings.TrimPrefix(srv.URL(), "nats://127.0.0.1:")
	db := pgtest.NewDatabase(t)
	if code, _, errOut := ledgerIn(ctx, "init", "--db", db); code != 0 {
		t.Fatalf("init: %d %s", code, errOut)
	}
	creds := t.TempDir() + "/bad.creds"
	if err := os.WriteFile(creds, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"relay", "--db", db, "--nats", "nats://relay:wrong@127.0.0.1:" + port}, exitError, "the server refused the credentials"},
		{[]string{"relay", "--db", db, "--nats", srv.URL(), "--nats-creds", creds}, exitError, "holds no user JWT"},
		{[]string{"relay", "--db", db, "--nats", "nats://127.0.0.1:99999"}, exitUsage, "port 99999 is not a port"},
		{[]string{"watch", "--dir", t.TempDir(), "--app-version", "1.0.0", "--nats", "nats://relay:wrong@127.0.0.1:" + port, "--name", "x"}, exitError, "the server refused the credentials"},
	} {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		code, _, errOut := ledgerIn(rctx, tc.args...)
		cancel()
		if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "wrong@") {
			t.Errorf("%v: exit %d, %q; want exit %d saying %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}

	// A mistyped ledger name next to a real ledger's stream.
	open := natstest.Start(t)
	r := runBackground(t, "relay", "--db", db, "--nats", open.URL(), "--name", "orders")
	_, js := natstest.Connect(t, open.URL())
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := js.Stream(ctx, "LEDGER_orders"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stream:\n%s", r.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	code, _, errOut := ledgerIn(rctx, "watch", "--dir", t.TempDir(), "--app-version", "1.0.0", "--nats", open.URL(), "--name", "ordres", "--wait-stream", "1s")
	if code != exitError || !strings.Contains(errOut, "no stream LEDGER_ordres") || !strings.Contains(errOut, "LEDGER_orders") {
		t.Errorf("watch --name ordres: exit %d, %q", code, errOut)
	}
}

// `ledger fleet --nats`: every ledger's state from the bus, as JSON with
// the documented fields; relay --all relays every database's ledgers.
func TestFleetNATSCommand(t *testing.T) {
	ctx := context.Background()
	c := pgtest.NewCluster(t)
	var dbNames []string
	for i := range 3 {
		_, u := c.NewPool(1)
		cfg, err := pgx.ParseConfig(u)
		if err != nil {
			t.Fatal(err)
		}
		dbNames = append(dbNames, cfg.Database)
		if code, _, errOut := ledgerIn(ctx, "up", "--db", u, "--dir", t.TempDir(), "--app-version", fmt.Sprintf("1.%d.0", i)); code != 0 {
			t.Fatalf("up: %d %s", code, errOut)
		}
	}
	srv := natstest.Start(t)
	runBackground(t, "relay", "--all", "--db", c.URL("postgres"), "--nats", srv.URL(), "--max-conns", "20", "--db-conns", "2", "--discover", "200ms")
	deadline := time.Now().Add(30 * time.Second)
	var states []map[string]any
	for {
		code, out, errOut := ledgerIn(ctx, "fleet", "--nats", srv.URL(), "--json", "--release", "1.0.0")
		if code != 0 {
			t.Fatalf("fleet --nats: %d %s", code, errOut)
		}
		if err := json.Unmarshal([]byte(out), &states); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		// Three streams, each holding its ledger's events: a stream is
		// created a moment before its first message is stored.
		published := len(states) >= 3
		for _, st := range states {
			if seq, _ := st["seq"].(float64); seq < 1 {
				published = false
			}
		}
		if published || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(states) != 3 {
		t.Fatalf("fleet --nats: %d ledgers, want 3: %v", len(states), states)
	}
	for _, s := range states {
		for _, f := range []string{"name", "seq", "schema_version", "applied", "in_doubt", "failed", "drifted", "releases"} {
			if _, ok := s[f]; !ok {
				t.Errorf("ledger %v has no %q", s["name"], f)
			}
		}
		if s["seq"].(float64) < 1 {
			t.Errorf("ledger %v: seq %v", s["name"], s["seq"])
		}
	}
	code, out, _ := ledgerIn(ctx, "fleet", "--nats", srv.URL())
	if code != 0 || !strings.Contains(out, "3 ledger(s) on") {
		t.Errorf("fleet --nats (text): %d\n%s", code, out)
	}

	// watch --all guarding a release with no migrations: one migration it
	// does not know, applied on the 3 databases, is one grouped alert.
	w := runBackground(t, "watch", "--all", "--dir", t.TempDir(), "--app-version", "0.9.0", "--seen=false", "--group-window", "3s", "--nats", srv.URL())
	time.Sleep(time.Second)
	one := t.TempDir()
	if err := os.WriteFile(one+"/0001_t.up.sql", []byte("CREATE TABLE t (id int);"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		u := c.URL(dbNames[i])
		if code, _, errOut := ledgerIn(ctx, "up", "--db", u, "--dir", one, "--app-version", "1.9.0"); code != 0 {
			t.Fatalf("up: %d %s", code, errOut)
		}
	}
	deadline = time.Now().Add(20 * time.Second)
	for !strings.Contains(w.out.String(), "[3 ledgers: ") {
		if time.Now().After(deadline) {
			t.Fatalf("watch --all: no alert naming the 3 ledgers:\n%s\n%s", w.out.String(), w.errOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := strings.Count(w.out.String(), "ALERT unknown-migration release 0.9.0"); n != 1 {
		t.Errorf("watch --all printed %d unknown-migration alerts, want 1 (grouped):\n%s", n, w.out.String())
	}
}

// Production NATS: `ledger relay --replicas 3` on a 3-node JetStream
// cluster while the ledger is written to; a node is killed mid-stream,
// then the stream's leader; `ledger verify --nats` then finds the stream
// equal to the chain, every event once and in order.
func TestRelayCommandOnAThreeNodeClusterVerifies(t *testing.T) {
	ctx := context.Background()
	cl := natstest.StartCluster(t, 3)
	pool, db := pgtest.NewPool(t, 2)
	if code, _, errOut := ledgerIn(ctx, "init", "--db", db); code != 0 {
		t.Fatalf("init: %d %s", code, errOut)
	}
	st, err := ledger.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	r := runBackground(t, "relay", "--db", db, "--nats", cl.URL(), "--name", "r3", "--replicas", "3", "--poll", "100ms")
	_, js := natstest.Connect(t, cl.URL())
	wctx, stopWriting := context.WithCancel(ctx)
	written := make(chan error, 1)
	go func() {
		n := 0
		for wctx.Err() == nil {
			ev, err := projector.NewEvent(projector.TypeMigrationApplied, projector.Applied{ID: fmt.Sprintf("%06d_m", n), Checksum: "c", Transactional: true})
			if err == nil {
				err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { _, err := st.Append(ctx, tx, ev); return err })
			}
			if err != nil {
				written <- err
				return
			}
			n++
			time.Sleep(10 * time.Millisecond)
		}
		written <- nil
	}()
	leader := func() string {
		deadline := time.Now().Add(30 * time.Second)
		for {
			if s, err := js.Stream(ctx, "LEDGER_r3"); err == nil {
				if info, err := s.Info(ctx); err == nil && info.Cluster != nil && info.Cluster.Leader != "" && info.Config.Replicas == 3 {
					return info.Cluster.Leader
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no R3 stream with a leader:\n%s", r.out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(time.Second)
	first := leader()
	for _, name := range []string{"n1", "n2", "n3"} {
		if name != first {
			node := cl.Node(name)
			node.Stop() // a follower killed mid-stream
			time.Sleep(time.Second)
			node.Restart()
			break
		}
	}
	time.Sleep(2 * time.Second)
	lead := cl.Node(leader())
	lead.Stop() // then the leader
	time.Sleep(2 * time.Second)
	lead.Restart()
	time.Sleep(time.Second)
	stopWriting()
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	head, err := st.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("ok: stream LEDGER_r3 holds the database's events 1..%d, same seq, hash and prev hash\n", head.Seq)
	deadline := time.Now().Add(time.Minute)
	for {
		code, out, errOut := ledgerIn(ctx, "verify", "--db", db, "--dir", t.TempDir(), "--nats", cl.URL(), "--name", "r3")
		if code == 0 && strings.Contains(out, want) {
			break
		}
		if code == exitIntegrity || time.Now().After(deadline) {
			t.Fatalf("verify --nats: exit %d\n%s%s\nwant %q\nrelay:\n%s", code, out, errOut, want, r.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if head.Seq < 200 {
		t.Errorf("only %d events written during the failures", head.Seq)
	}
}

// relay --targets FILE (ledger rollout's syntax) relays the ledgers of the
// targets, a tenant's own included, and no other — here polled, within a
// budget too small for them to LISTEN.
func TestRelayCommandTargets(t *testing.T) {
	ctx := context.Background()
	var lines []string
	var want []string
	for i := range 3 {
		pool, u := pgtest.NewPool(t, 1)
		if code, _, errOut := ledgerIn(ctx, "init", "--db", u); code != 0 {
			t.Fatalf("init: %d %s", code, errOut)
		}
		cfg, err := pgx.ParseConfig(u)
		if err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			break // a database with a ledger that is not a target
		}
		lines = append(lines, u+" name=db"+fmt.Sprint(i))
		want = append(want, natsbus.DefaultName(cfg.Database, "ledger"))
		if i == 1 { // and a tenant of it
			st, err := ledger.New(pool, ledger.WithSchema("ledger_acme"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Init(ctx); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, u+" tenant=acme")
			want = append(want, natsbus.DefaultName(cfg.Database, "ledger_acme"))
		}
	}
	file := t.TempDir() + "/fleet.txt"
	if err := os.WriteFile(file, []byte("# the fleet\n"+strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := natstest.Start(t)
	// Two databases at 3 connections each do not fit in 2: both are polled.
	r := runBackground(t, "relay", "--targets", file, "--nats", srv.URL(), "--discover", "200ms", "--max-conns", "2", "--poll-interval", "200ms")
	_, js := natstest.Connect(t, srv.URL())
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got []string
		for n := range js.StreamNames(ctx).Name() {
			if strings.HasPrefix(n, "LEDGER_") {
				got = append(got, strings.TrimPrefix(n, "LEDGER_"))
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if slices.Equal(got, want) {
			if !strings.Contains(r.out.String(), "polling the others") {
				t.Errorf("the relay does not say it polls the databases:\n%s", r.out.String())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("streams %v, want %v\n%s", got, want, r.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
