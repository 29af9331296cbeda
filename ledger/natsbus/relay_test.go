package natsbus_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/internal/natstest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
)

// defaultNames are the names a relay of st picks by default.
func defaultNames(t testing.TB, st *ledger.Store, db ledger.DB) natsbus.Names {
	t.Helper()
	name, err := ledger.DatabaseName(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return natsbus.NamesFor(natsbus.DefaultName(name, st.Schema()))
}

// 1. 10,000 events appended by 4 writers while 2 relays run: the stream
// holds exactly 10,000 messages, stream seq = ledger seq, in order, no
// duplicates.
func TestTwoRelaysFourWritersExactlyOnceInOrder(t *testing.T) {
	total := 10_000
	if testing.Short() {
		total = 2_000
	}
	srv := natstest.Start(t)
	st, pool, url := newLedger(t, 4)
	names := defaultNames(t, st, pool)
	var relays []*running
	for range 2 {
		rst, rpool := openPool(t, url, 2)
		_, js := natstest.Connect(t, srv.URL())
		relays = append(relays, startRelay(t, js, rst, rpool, natsbus.WithBatchSize(200)))
	}

	// Writers append 1 to 8 events per transaction until the ledger holds
	// total events (it starts with ledger.initialized).
	var wg sync.WaitGroup
	var mu sync.Mutex
	left := total - 1
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; {
				mu.Lock()
				k := min(1+(i+w)%8, left)
				left -= k
				mu.Unlock()
				if k <= 0 {
					return
				}
				appendTx(t, st, pool, churn(t, w+1, i, k)...)
				i += k
			}
		})
	}
	wg.Wait()

	_, js := natstest.Connect(t, srv.URL())
	waitStream(t, js, names.Stream, int64(total), time.Minute)
	// Let both relays see the end, then stop them.
	time.Sleep(300 * time.Millisecond)
	var published, dups int64
	for _, r := range relays {
		if err := r.stop(t); err != nil {
			t.Fatalf("relay: %v", err)
		}
		st := r.relay.Stats()
		published += st.Published
		dups += st.Duplicates
		t.Logf("relay: %+v", st)
	}
	if published != int64(total) {
		t.Errorf("the relays stored %d events between them, want %d (each exactly once)", published, total)
	}
	checkStream(t, js, names, st)
}

// 2. NATS stopped for 5 s in the middle of appends and restarted: nothing
// lost or duplicated; the relay reconnects by itself, with backoff.
func TestNATSDownFiveSecondsNothingLostNothingDuplicated(t *testing.T) {
	srv := natstest.Start(t)
	st, pool, url := newLedger(t, 2)
	names := defaultNames(t, st, pool)
	rst, rpool := openPool(t, url, 2)
	_, js := natstest.Connect(t, srv.URL())
	r := startRelay(t, js, rst, rpool, natsbus.WithAckWait(time.Second))

	ctx, stopWriting := context.WithCancel(context.Background())
	written := make(chan int)
	go func() {
		n := 0
		for ctx.Err() == nil {
			appendTx(t, st, pool, churn(t, 1, n, 2)...)
			n += 2
			time.Sleep(5 * time.Millisecond)
		}
		written <- n
	}()
	time.Sleep(time.Second)
	srv.Stop()
	retriesBefore := r.relay.Stats().Retries
	down := time.Now()
	time.Sleep(5 * time.Second)
	retries := r.relay.Stats().Retries - retriesBefore
	srv.Restart()
	t.Logf("NATS down for %s; the relay retried %d times meanwhile", time.Since(down).Round(time.Millisecond), retries)
	time.Sleep(time.Second)
	stopWriting()
	n := <-written
	if n < 100 {
		t.Fatalf("only %d events appended: the writer was too slow for the test to mean anything", n)
	}
	head, err := st.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	waitStream(t, js, names.Stream, head.Seq, time.Minute)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	stats := r.relay.Stats()
	checkStream(t, js, names, st)
	// Backoff: 50ms doubling to 1s gives about ten retries in 5s; a busy
	// loop would give thousands.
	if retries < 1 || retries > 25 {
		t.Errorf("the relay retried %d times while NATS was down for 5s; want a few (backoff), not none and not a busy loop", retries)
	}
	// Publishes the server stored but whose acks the outage lost are found
	// in the stream on resync, not counted: checkStream proved each event is
	// there exactly once.
	if stats.Published > head.Seq || stats.Published < head.Seq-100 {
		t.Errorf("published %d of %d events", stats.Published, head.Seq)
	}
}

// 3. A relay cancelled mid-publish and restarted resumes at the right seq.
func TestRelayCancelledMidPublishResumesAtTheRightSeq(t *testing.T) {
	total := 20_000
	if testing.Short() {
		total = 5_000
	}
	srv := natstest.Start(t)
	st, pool, _ := newLedger(t, 2)
	seed(t, st, pool, total)
	names := defaultNames(t, st, pool)
	_, js := natstest.Connect(t, srv.URL())

	first := startRelay(t, js, st, pool, natsbus.WithBatchSize(100), natsbus.WithMaxPending(64))
	waitFor(t, time.Minute, "the first relay publishing", func() (bool, string) {
		s := first.relay.Stats()
		return s.StreamSeq >= 500, ""
	})
	if err := first.stop(t); err != nil {
		t.Fatal(err)
	}
	stopped := first.relay.Stats()
	if stopped.StreamSeq >= int64(total) {
		t.Fatalf("the first relay finished (%d) before it was cancelled; nothing to resume", stopped.StreamSeq)
	}
	// Cancelled: every publish it had in flight was acknowledged, so the
	// stream ends exactly where its count says.
	waitStream(t, js, names.Stream, stopped.StreamSeq, 5*time.Second)
	if stopped.Published != stopped.StreamSeq {
		t.Fatalf("first relay: published %d, stream at %d", stopped.Published, stopped.StreamSeq)
	}

	second := startRelay(t, js, st, pool)
	waitStream(t, js, names.Stream, int64(total), time.Minute)
	if err := second.stop(t); err != nil {
		t.Fatal(err)
	}
	s := second.relay.Stats()
	if !strings.Contains(second.logs.String(), "after_seq="+itoa(stopped.StreamSeq)) {
		t.Errorf("the second relay did not resume after seq %d:\n%s", stopped.StreamSeq, second.logs.String())
	}
	if s.Published != int64(total)-stopped.StreamSeq || s.Duplicates != 0 || s.Conflicts != 0 {
		t.Errorf("second relay: %+v; want %d published, no duplicates or conflicts", s, int64(total)-stopped.StreamSeq)
	}
	checkStream(t, js, names, st)
}

// 4a. A stream deleted (while the relay runs, and while it is stopped) and
// recreated is republished from seq 1.
func TestDeletedStreamIsRepublishedFromSeqOne(t *testing.T) {
	srv := natstest.Start(t)
	st, pool, _ := newLedger(t, 2)
	seed(t, st, pool, 50)
	names := defaultNames(t, st, pool)
	_, js := natstest.Connect(t, srv.URL())
	ctx := context.Background()

	r := startRelay(t, js, st, pool)
	waitStream(t, js, names.Stream, 50, 10*time.Second)
	if err := js.DeleteStream(ctx, names.Stream); err != nil {
		t.Fatal(err)
	}
	appendTx(t, st, pool, churn(t, 1, 0, 2)...) // the next publish finds no stream
	waitStream(t, js, names.Stream, 52, 20*time.Second)
	checkStream(t, js, names, st)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}

	// Deleted and recreated by hand, empty, while no relay runs.
	if err := js.DeleteStream(ctx, names.Stream); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, natsbus.StreamConfig(names)); err != nil {
		t.Fatal(err)
	}
	r = startRelay(t, js, st, pool)
	waitStream(t, js, names.Stream, 52, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	checkStream(t, js, names, st)
}

// 4b. A stream whose last message does not match the ledger is refused
// with a clear error, and nothing is published onto it.
func TestStreamOfAnotherLedgerIsRefused(t *testing.T) {
	srv := natstest.Start(t)
	_, js := natstest.Connect(t, srv.URL())
	a, apool, _ := newLedger(t, 2)
	seed(t, a, apool, 10)
	names := natsbus.NamesFor("shared")
	ra := startRelay(t, js, a, apool, natsbus.WithNames(names))
	waitStream(t, js, names.Stream, 10, 10*time.Second)
	if err := ra.stop(t); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		events int
		want   string
	}{
		{"longer ledger, other events", 20, "does not match this ledger: its message is event"},
		{"shorter ledger", 4, "the stream holds 10 messages, the ledger only 4 events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, bpool, _ := newLedger(t, 2)
			seed(t, b, bpool, tc.events)
			rb := startRelay(t, js, b, bpool, natsbus.WithNames(names))
			if !rb.wait(20 * time.Second) {
				t.Fatal("the relay did not refuse the stream of another ledger")
			}
			err := rb.err
			var mm *natsbus.StreamMismatchError
			if !errors.As(err, &mm) || !errors.Is(err, natsbus.ErrStreamMismatch) {
				t.Fatalf("Run: %v; want a *StreamMismatchError", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || !strings.Contains(msg, "stream LEDGER_shared at seq 10") || !strings.Contains(msg, "delete stream LEDGER_shared") {
				t.Errorf("error does not say what is wrong and what to do:\n%s", msg)
			}
			waitStream(t, js, names.Stream, 10, time.Second) // untouched
		})
	}
	checkStream(t, js, names, a)
}

// 6a. Unreachable NATS: a clear error in the log, retried with backoff
// until the server is there; then the relay publishes.
func TestUnreachableNATSIsRetriedWithAClearError(t *testing.T) {
	srv := natstest.Start(t)
	url := srv.URL()
	srv.Stop()
	st, pool, _ := newLedger(t, 2)
	seed(t, st, pool, 10)
	names := defaultNames(t, st, pool)
	nc, js := natstest.Connect(t, url)
	r := startRelay(t, js, st, pool, natsbus.WithAckWait(200*time.Millisecond))
	waitFor(t, 10*time.Second, "a few retries", func() (bool, string) {
		return r.relay.Stats().Retries >= 3, ""
	})
	logs := r.logs.String()
	if !strings.Contains(logs, "not connected to NATS at "+url) {
		t.Errorf("the log does not say NATS is unreachable:\n%s", logs)
	}
	if r.wait(0) {
		t.Fatalf("the relay gave up: %v", r.err)
	}
	srv.Restart()
	waitFor(t, 10*time.Second, "reconnect", func() (bool, string) { return nc.IsConnected(), nc.Status().String() })
	waitStream(t, js, names.Stream, 10, 20*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	checkStream(t, js, names, st)
}

// 6b. A stream of that name with other subjects: a clear error, at once.
func TestStreamWithOtherSubjectsIsRefused(t *testing.T) {
	srv := natstest.Start(t)
	_, js := natstest.Connect(t, srv.URL())
	st, pool, _ := newLedger(t, 2)
	names := natsbus.NamesFor("orders")
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: names.Stream, Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, js, st, pool, natsbus.WithNames(names))
	if !r.wait(10 * time.Second) {
		t.Fatal("the relay did not refuse a stream with other subjects")
	}
	err := r.err
	if !errors.Is(err, natsbus.ErrStreamConfig) {
		t.Fatalf("Run: %v; want ErrStreamConfig", err)
	}
	want := "stream LEDGER_orders exists with subjects [orders.>], not ledger.orders.events.>"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error:\n%s\nwant it to say: %s", err, want)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// ReadEvents gives back what the relay published, from any seq on, and
// says so when the stream is missing.
func TestReadEventsGivesTheLedgerBack(t *testing.T) {
	srv := natstest.Start(t)
	st, pool, _ := newLedger(t, 2)
	seed(t, st, pool, 30)
	names := natsbus.NamesFor("read")
	_, js := natstest.Connect(t, srv.URL())
	ctx := context.Background()
	for _, err := range natsbus.ReadEvents(ctx, js, names, 0) {
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Fatalf("no stream yet: %v; want ErrStreamNotFound", err)
		}
	}
	r := startRelay(t, js, st, pool, natsbus.WithNames(names))
	waitStream(t, js, names.Stream, 30, 10*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	for _, after := range []int64{0, 17, 30} {
		want := after + 1
		for ev, err := range natsbus.ReadEvents(ctx, js, names, after) {
			if err != nil {
				t.Fatalf("after %d: %v", after, err)
			}
			dbEv, err := st.Event(ctx, want)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Seq != want || ev.ID != dbEv.ID || string(ev.Hash) != string(dbEv.Hash) {
				t.Fatalf("after %d: got event %d %s, want %d %s", after, ev.Seq, ev.ID, want, dbEv.ID)
			}
			want++
		}
		if want != 31 {
			t.Errorf("after %d: read up to %d, want 30", after, want-1)
		}
		// ReadRange, told where the stream ends, gives the same.
		want = after + 1
		for ev, err := range natsbus.ReadRange(ctx, js, names, after, 30) {
			if err != nil || ev.Seq != want {
				t.Fatalf("ReadRange after %d: event %d, %v; want %d", after, ev.Seq, err, want)
			}
			want++
		}
		if want != 31 {
			t.Errorf("ReadRange after %d: read up to %d, want 30", after, want-1)
		}
	}
}
