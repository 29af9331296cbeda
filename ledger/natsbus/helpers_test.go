package natsbus_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/internal/syncbuf"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
	"github.com/schema-ledger/ledger/projector"
)

// newLedger makes a fresh database with an initialized ledger (1 event).
func newLedger(t testing.TB, conns int32) (*ledger.Store, *pgxpool.Pool, string) {
	t.Helper()
	pool, url := pgtest.NewPool(t, conns)
	st, err := ledger.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st, pool, url
}

// openPool opens another pool of conns connections to url.
func openPool(t testing.TB, url string, conns int32) (*ledger.Store, *pgxpool.Pool) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = conns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	st, err := ledger.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	return st, pool
}

func newEvent(t testing.TB, typ string, payload any) ledger.Event {
	t.Helper()
	e, err := projector.NewEvent(typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// churn returns n events for writer w: migrations applied and reverted in
// turn, with ids of their own.
func churn(t testing.TB, w, from, n int) []ledger.Event {
	t.Helper()
	var evs []ledger.Event
	for i := from; len(evs) < n; i++ {
		id := fmt.Sprintf("%d_w%d", 1_000_000+i, w)
		evs = append(evs, newEvent(t, projector.TypeMigrationApplied, projector.Applied{ID: id, Checksum: "sum-" + id, Transactional: true}))
		if len(evs) < n {
			evs = append(evs, newEvent(t, projector.TypeMigrationReverted, projector.Reverted{ID: id, Source: projector.DownFromFile}))
		}
	}
	return evs
}

// appendTx appends events in a transaction of their own.
func appendTx(t testing.TB, st *ledger.Store, db *pgxpool.Pool, events ...ledger.Event) ledger.Head {
	t.Helper()
	var h ledger.Head
	err := pgx.BeginFunc(context.Background(), db, func(tx pgx.Tx) error {
		var err error
		h, err = st.Append(context.Background(), tx, events...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// seed appends churn until the ledger holds n events, 1000 per transaction.
func seed(t testing.TB, st *ledger.Store, pool *pgxpool.Pool, n int) {
	t.Helper()
	h, err := st.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for total := int(h.Seq); total < n; {
		k := min(1000, n-total)
		if k%2 == 1 && k > 1 {
			k-- // keep applied/reverted pairs whole within a transaction
		}
		appendTx(t, st, pool, churn(t, 0, total, k)...)
		total += k
	}
}

// running is a relay started in the background.
type running struct {
	relay  *natsbus.Relay
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned, with err set
	err    error
	logs   *syncbuf.Buffer
}

// wait waits up to d for Run to return and reports whether it did.
func (r *running) wait(d time.Duration) bool {
	select {
	case <-r.done:
		return true
	case <-time.After(d):
		return false
	}
}

// stop cancels the relay and returns what Run returned.
func (r *running) stop(t testing.TB) error {
	t.Helper()
	r.cancel()
	if !r.wait(30 * time.Second) {
		t.Fatal("relay did not stop within 30s of its cancel")
	}
	return r.err
}

// startRelay runs a relay of st over js until the test ends or stop.
func startRelay(t testing.TB, js jetstream.JetStream, st *ledger.Store, pool *pgxpool.Pool, opts ...natsbus.RelayOption) *running {
	t.Helper()
	logs := &syncbuf.Buffer{}
	opts = append([]natsbus.RelayOption{
		natsbus.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		natsbus.WithPollInterval(200 * time.Millisecond),
		natsbus.WithBackoff(50*time.Millisecond, time.Second),
	}, opts...)
	r, err := natsbus.NewRelay(js, st, pool, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &running{relay: r, cancel: cancel, done: make(chan struct{}), logs: logs}
	go func() {
		run.err = r.Run(ctx)
		close(run.done)
	}()
	t.Cleanup(func() {
		cancel()
		run.wait(30 * time.Second)
		if t.Failed() {
			t.Logf("relay log:\n%s", logs.String())
		}
	})
	return run
}

// waitFor polls cond every 20ms until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (%s)", what, d, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitStream waits until the stream's last sequence is want.
func waitStream(t testing.TB, js jetstream.JetStream, stream string, want int64, d time.Duration) {
	t.Helper()
	waitFor(t, d, fmt.Sprintf("stream %s holding %d messages", stream, want), func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return false, err.Error()
		}
		info, err := s.Info(ctx)
		if err != nil {
			return false, err.Error()
		}
		return int64(info.State.LastSeq) == want, fmt.Sprintf("last seq %d, %d messages", info.State.LastSeq, info.State.Msgs)
	})
}

// checkStream reads the whole stream with an ordered consumer and checks
// it is the ledger exactly: as many messages as events, message k carries
// event k (id, hash, prev hash, type, payload bytes), on its subject.
func checkStream(t testing.TB, js jetstream.JetStream, names natsbus.Names, st *ledger.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := js.Stream(ctx, names.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	head, err := st.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if int64(info.State.Msgs) != head.Seq || int64(info.State.LastSeq) != head.Seq || info.State.FirstSeq != 1 {
		t.Fatalf("stream holds %d messages, seq %d..%d; the ledger %d events", info.State.Msgs, info.State.FirstSeq, info.State.LastSeq, head.Seq)
	}
	cons, err := js.OrderedConsumer(ctx, names.Stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	it, err := cons.Messages()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Stop()
	seq := int64(0)
	for ev, err := range st.Events(ctx, ledger.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		seq++
		m, err := it.Next()
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		got, err := natsbus.Decode(m)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		if got.Seq != ev.Seq || got.ID != ev.ID || !bytes.Equal(got.Hash, ev.Hash) || !bytes.Equal(got.PrevHash, ev.PrevHash) ||
			got.Type != ev.Type || !bytes.Equal(got.Payload, ev.Payload) || !got.RecordedAt.Equal(ev.RecordedAt) {
			t.Fatalf("stream message %d is not ledger event %d:\n got %+v\nwant %+v", seq, ev.Seq, got, ev)
		}
		if m.Subject() != names.Subject(ev.Type) {
			t.Fatalf("message %d on %s, want %s", seq, m.Subject(), names.Subject(ev.Type))
		}
	}
	if seq != head.Seq {
		t.Fatalf("read %d events, head is %d", seq, head.Seq)
	}
}
