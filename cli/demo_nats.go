//go:build !ledger_nonats

package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
	"github.com/schema-ledger/ledger/projector"
)

// demoBus is the NATS side of the demo: a nats-server (embedded by
// cmd/ledger-demo unless --nats names one), a relay of the scratch ledger,
// and a subscriber (an ordered consumer) that collects each event as it
// arrives.
type demoBus struct {
	w        io.Writer
	names    natsbus.Names
	where    string // the server, as shown
	embedded func() // stops the embedded server; nil on a server given by --nats
	storeDir string
	nc       *nats.Conn
	js       jetstream.JetStream
	relay    *natsbus.Relay
	stop     context.CancelFunc
	relayErr chan error
	consumer jetstream.ConsumeContext

	mu       sync.Mutex
	lines    []string // arrived, not printed yet
	lastSeq  int64    // the newest event received
	received int
	bad      error // a message that does not decode
}

// startDemoBus starts the server (or connects to --nats), the relay and
// the subscriber for the ledger of store in database dbName.
func (e *env) startDemoBus(ctx context.Context, nf *natsFlags, pool *pgxpool.Pool, store *ledger.Store, dbName string) (*demoBus, error) {
	b := &demoBus{w: e.stdout, names: natsbus.NamesFor(natsbus.DefaultName(dbName, store.Schema()))}
	url := ""
	if strings.TrimSpace(nf.url) == "" {
		dir, err := os.MkdirTemp("", "ledger-demo-nats-")
		if err != nil {
			return nil, err
		}
		b.storeDir = dir
		if url, b.embedded, err = e.embedNATS(dir); err != nil {
			b.close(context.Background(), false)
			return nil, err
		}
		b.where = "an embedded nats-server at " + url + " (JetStream in a temporary directory)"
	} else {
		var err error
		if url, err = nf.serverURL(); err != nil {
			return nil, err
		}
		b.where = "the NATS server at " + natsbus.RedactURL(url)
	}
	// Warnings (NATS unreachable, retries) go to stderr; progress nowhere.
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var err error
	if url == "" || b.embedded != nil {
		b.nc, err = nats.Connect(url, nats.Name("ledger demo"))
	} else {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		b.nc, err = e.natsConnect(cctx, nf, url, log)
		if cctx.Err() != nil && ctx.Err() == nil {
			instead := "leave out --nats / NATS_URL to use an embedded one"
			if e.embedNATS == nil {
				instead = "run the demo as go run github.com/schema-ledger/ledger/cmd/ledger-demo@latest, which embeds one"
			}
			err = fmt.Errorf("cannot reach the NATS server at %s; start one, or %s", natsbus.RedactURL(url), instead)
		}
		cancel()
	}
	if err != nil {
		b.close(context.Background(), false)
		return nil, err
	}
	if b.js, err = natsbus.NewJetStream(b.nc); err != nil {
		b.close(context.Background(), false)
		return nil, err
	}
	if b.relay, err = natsbus.NewRelay(b.js, store, pool, natsbus.WithNames(b.names), natsbus.WithLogger(log)); err != nil {
		b.close(context.Background(), false)
		return nil, err
	}
	rctx, stop := context.WithCancel(ctx)
	b.stop, b.relayErr = stop, make(chan error, 1)
	go func() { b.relayErr <- b.relay.Run(rctx) }()

	// The subscriber: the stream is there once the relay has published
	// ledger.initialized.
	if err := b.waitFor(ctx, 1); err != nil {
		b.close(context.Background(), false)
		return nil, err
	}
	cons, err := b.js.OrderedConsumer(ctx, b.names.Stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{b.names.EventsFilter()}})
	if err == nil {
		b.consumer, err = cons.Consume(b.arrived)
	}
	if err != nil {
		b.close(context.Background(), false)
		return nil, fmt.Errorf("subscribe to %s: %w", b.names.EventsFilter(), err)
	}
	return b, nil
}

// waitFor waits until the stream holds seq (the relay publishes it).
func (b *demoBus) waitFor(ctx context.Context, seq int64) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		if b.relay.Stats().StreamSeq >= seq {
			return nil
		}
		select {
		case err := <-b.relayErr:
			return fmt.Errorf("the relay stopped: %w", err)
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the relay did not publish event %d within 15s (stream %s on %s)", seq, b.names.Stream, b.where)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// arrived is the subscriber: it notes each event as it comes.
func (b *demoBus) arrived(m jetstream.Msg) {
	at := time.Now()
	ev, err := natsbus.Decode(m)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		b.bad = err
		return
	}
	what := strings.Join(projector.IDs(ev), ",")
	if ev.AppVersion != "" {
		what += " by " + ev.AppVersion
	}
	if ev.Host != "" {
		what += " on " + ev.Host
	}
	b.lines = append(b.lines, fmt.Sprintf("  [nats] %s  seq %d  %s  (+%s after its record)",
		m.Subject(), ev.Seq, strings.TrimSpace(what), at.Sub(ev.RecordedAt).Round(100*time.Microsecond)))
	b.lastSeq = ev.Seq
	b.received++
}

// flush prints what the subscriber received, once it has every event up
// to the ledger's head: so each step's events show right after it.
func (b *demoBus) flush(ctx context.Context, store *ledger.Store) error {
	h, err := store.Head(ctx)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		b.mu.Lock()
		done, bad := b.lastSeq >= h.Seq, b.bad
		if done || bad != nil {
			lines := b.lines
			b.lines = nil
			b.mu.Unlock()
			if bad != nil {
				return bad
			}
			if len(lines) > 0 {
				fmt.Fprintf(b.w, "\n%s\n", strings.Join(lines, "\n"))
			}
			return nil
		}
		b.mu.Unlock()
		if time.Now().After(deadline) {
			return fmt.Errorf("the subscriber did not receive event %d within 15s (stream %s on %s)", h.Seq, b.names.Stream, b.where)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// close stops the subscriber and the relay, checks the stream equals the
// ledger, deletes the stream from an outside server unless keep, and stops
// the embedded server.
func (b *demoBus) close(ctx context.Context, keep bool) {
	if b.consumer != nil {
		b.consumer.Stop()
	}
	if b.stop != nil {
		b.stop()
		<-b.relayErr
	}
	if b.js != nil && b.embedded == nil && !keep {
		_ = b.js.DeleteStream(ctx, b.names.Stream)
	}
	if b.nc != nil {
		b.nc.Close()
	}
	if b.embedded != nil {
		b.embedded()
	}
	if b.storeDir != "" {
		_ = os.RemoveAll(b.storeDir)
	}
}

// summary says what the stream holds, compared with the ledger.
func (b *demoBus) summary(ctx context.Context, store *ledger.Store) (string, error) {
	h, err := store.Head(ctx)
	if err != nil {
		return "", err
	}
	s, err := b.js.Stream(ctx, b.names.Stream)
	if err != nil {
		return "", err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return "", err
	}
	if int64(info.State.Msgs) != h.Seq || int64(info.State.LastSeq) != h.Seq {
		return "", fmt.Errorf("demo: stream %s holds %d messages (last seq %d), the ledger %d events", b.names.Stream, info.State.Msgs, info.State.LastSeq, h.Seq)
	}
	b.mu.Lock()
	received := b.received
	b.mu.Unlock()
	return fmt.Sprintf("stream %s holds %d messages, stream seq = ledger seq 1..%d; the subscriber received all %d, in order", b.names.Stream, info.State.Msgs, h.Seq, received), nil
}
