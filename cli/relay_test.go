package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/internal/natstest"
	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/internal/syncbuf"
	"github.com/schema-ledger/ledger/ledger/natsbus"
)

// ledgerIn runs the CLI in-process and returns its exit code and output.
func ledgerIn(ctx context.Context, args ...string) (int, string, string) {
	var out, errOut syncbuf.Buffer
	code := runWith(ctx, args, &out, &errOut, func(string) string { return "" })
	return code, out.String(), errOut.String()
}

// `ledger relay` publishes the ledger, logs JSON lines with --json, never
// prints the password of its URL, and stops cleanly (exit 0) when its
// context — SIGINT/SIGTERM in main — is cancelled.
func TestRelayCommandPublishesAndStopsCleanly(t *testing.T) {
	srv := natstest.Start(t, func(o *server.Options) { o.Username, o.Password = "relay", "s3cret-pw" })
	port := strings.TrimPrefix(srv.URL(), "nats://127.0.0.1:")
	natsURL := "nats://relay:s3cret-pw@127.0.0.1:" + port
	db := pgtest.NewDatabase(t)
	ctx := context.Background()
	dir := t.TempDir()
	if code, _, errOut := ledgerIn(ctx, "up", "--db", db, "--dir", dir); code != 0 {
		t.Fatalf("up: %d %s", code, errOut)
	}

	rctx, stop := context.WithCancel(ctx)
	var out, errOut syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runWith(rctx, []string{"relay", "--db", db, "--nats", natsURL, "--json", "--name", "cli", "--poll", "100ms"}, &out, &errOut, func(string) string { return "" })
	}()
	_, js := natstest.Connect(t, natsURL)
	names := natsbus.NamesFor("cli")
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := js.Stream(ctx, names.Stream)
		if err == nil {
			if info, err := s.Info(ctx); err == nil && info.State.LastSeq >= 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("the relay published nothing within 20s:\n%s\n%s", out.String(), errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("relay exited %d after its cancel:\n%s\n%s", code, out.String(), errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("relay did not stop within 20s of its cancel")
	}
	all := out.String() + errOut.String()
	if strings.Contains(all, "s3cret-pw") {
		t.Errorf("the password was printed:\n%s", all)
	}
	var stopped map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q (%v)", line, err)
		}
		if m["msg"] == "relay: stopped" {
			stopped = m
		}
	}
	if stopped == nil || stopped["stream"] != "LEDGER_cli" || stopped["stream_seq"] != 1.0 || stopped["published"] != 1.0 || stopped["lag"] != 0.0 {
		t.Errorf("no 'relay: stopped' line with stream LEDGER_cli, stream_seq 1, published 1, lag 0:\n%s", out.String())
	}
	m, err := js.OrderedConsumer(ctx, names.Stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := m.Next()
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := natsbus.Decode(msg); err != nil || ev.Type != "ledger.initialized" {
		t.Errorf("first message: %+v, %v", ev, err)
	}
}

// 6. Bad input: a malformed --nats URL is a usage error (exit 2), as is a
// missing creds file; a stream with other subjects is refused (exit 1,
// saying why); an unreachable server is retried, saying so.
func TestRelayCommandBadInput(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	if code, _, errOut := ledgerIn(ctx, "init", "--db", db); code != 0 {
		t.Fatalf("init: %d %s", code, errOut)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nats", "http://127.0.0.1:4222"}, `scheme "http"`},
		{[]string{"--nats", "nats://"}, "no host"},
		{[]string{"--nats", "nats://u:pw-x@host:port"}, "invalid --nats"},
		{[]string{"--nats", "nats://127.0.0.1:4222", "--nats-creds", "/nonexistent.creds"}, "--nats-creds"},
		{[]string{"--nats", "nats://127.0.0.1:4222", "--stream", "S"}, "--stream and --subject-prefix go together"},
		{[]string{"--nats", "nats://127.0.0.1:4222", "--name", "x", "--subject-prefix", "a..b"}, "token 2 is empty"},
	} {
		code, _, errOut := ledgerIn(ctx, append([]string{"relay", "--db", db}, tc.args...)...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("relay %v: exit %d, %q; want exit 2 saying %q", tc.args, code, errOut, tc.want)
		}
		if strings.Contains(errOut, "pw-x") {
			t.Errorf("relay %v printed the password: %s", tc.args, errOut)
		}
	}

	srv := natstest.Start(t)
	_, js := natstest.Connect(t, srv.URL())
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LEDGER_taken", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := ledgerIn(ctx, "relay", "--db", db, "--nats", srv.URL(), "--name", "taken")
	if code != exitError || !strings.Contains(errOut, "stream LEDGER_taken exists with subjects [orders.>], not ledger.taken.events.>") {
		t.Errorf("stream with other subjects: exit %d, %s", code, errOut)
	}

	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := fmt.Sprintf("nats://127.0.0.1:%d", l.Addr().(*net.TCPAddr).Port)
	l.Close()
	rctx, cancel := context.WithTimeout(ctx, 2500*time.Millisecond)
	defer cancel()
	code, out, errOut := ledgerIn(rctx, "relay", "--db", db, "--nats", dead)
	if code != 0 {
		t.Errorf("relay against %s: exit %d after its cancel; %s", dead, code, errOut)
	}
	if !strings.Contains(out, "cannot reach the server") || strings.Count(out, "retrying") < 2 {
		t.Errorf("relay against %s does not say it cannot reach it and retries:\n%s", dead, out)
	}
}

// `ledger demo --nats URL` runs its relay and subscriber on that server
// and deletes its stream there at the end.
func TestDemoUsesTheNATSServerGiven(t *testing.T) {
	srv := natstest.Start(t)
	ctx := context.Background()
	code, out, errOut := ledgerIn(ctx, "demo", "--db", pgtest.ServerURL(), "--nats", srv.URL())
	if code != 0 {
		t.Fatalf("demo --nats: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "on the NATS server at "+srv.URL()+";") || !strings.Contains(out, "holds 10 messages, stream seq = ledger seq 1..10; the subscriber received all 10, in order") {
		t.Errorf("demo output:\n%s", out)
	}
	_, js := natstest.Connect(t, srv.URL())
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		t.Errorf("stream %s left on the server", name)
	}
	if err := names.Err(); err != nil {
		t.Error(err)
	}
}
