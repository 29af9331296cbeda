package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/catalog"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// Option configures a Watcher.
type Option func(*Watcher) error

// WithNames sets the ledger's stream and subject prefix in NATS (required).
// ledger is the name alerts carry (the <name> of ledger.<name>).
func WithNames(n natsbus.Names) Option {
	return func(w *Watcher) error {
		if err := n.Validate(); err != nil {
			return err
		}
		w.names = n
		return nil
	}
}

// WithOutput writes one line per alert to out (one JSON object per line
// when asJSON).
func WithOutput(out io.Writer, asJSON bool) Option {
	return func(w *Watcher) error { w.out, w.json = out, asJSON; return nil }
}

// WithWebhook POSTs each alert as JSON to url, retrying failures (network
// errors, 5xx, 429) up to attempts times with doubling waits from first.
func WithWebhook(url string, attempts int, first time.Duration) Option {
	return func(w *Watcher) error { return w.setWebhook(url, attempts, first) }
}

// WithSchemaPolling reads the schema's catalog through pool every interval
// and alerts drift from the last snapshot the stream recorded; store is
// the ledger in that database (its stored snapshots give the diff lines).
func WithSchemaPolling(pool *pgxpool.Pool, store *ledger.Store, interval time.Duration) Option {
	return func(w *Watcher) error {
		if interval <= 0 {
			return fmt.Errorf("schema polling interval: want a positive duration, got %s", interval)
		}
		w.pool, w.store, w.interval = pool, store, interval
		return nil
	}
}

// WithSettle sets how long the stream must stay quiet, once caught up,
// before the watcher judges the burst (default DefaultSettle); the end of
// a run (schema.fingerprinted) is judged at once. 0 judges after every
// event the stream has caught up with.
func WithSettle(d time.Duration) Option {
	return func(w *Watcher) error {
		if d < 0 {
			return fmt.Errorf("settle: want a duration of 0 or more, got %s", d)
		}
		w.settle = d
		return nil
	}
}

// DefaultStreamWait is how long a watcher waits for its ledger's stream
// while the server holds other ledgers' streams, before it calls the name
// wrong (a relay started with it creates the stream within seconds).
const DefaultStreamWait = 15 * time.Second

// WithStreamWait sets how long the watcher waits for a missing stream
// while the server has other ledgers' streams (default DefaultStreamWait);
// with none at all it waits for the relay however long it takes.
func WithStreamWait(d time.Duration) Option {
	return func(w *Watcher) error {
		if d < 0 {
			return fmt.Errorf("stream wait: want 0 or more, got %s", d)
		}
		w.streamWait = d
		return nil
	}
}

// WithReplicas keeps the alerts stream on n servers of a JetStream
// cluster (default 1).
func WithReplicas(n int) Option {
	return func(w *Watcher) error {
		if n < 1 || n > 5 {
			return fmt.Errorf("watch replicas: want 1 to 5 (JetStream's limit), got %d", n)
		}
		w.replicas = n
		return nil
	}
}

// WithGuardOptions passes options to the Guard (in-doubt grace, clock).
func WithGuardOptions(opts ...GuardOption) Option {
	return func(w *Watcher) error { w.guardOpts = append(w.guardOpts, opts...); return nil }
}

// WithLogger sets where the watcher logs retries and progress.
func WithLogger(l *slog.Logger) Option {
	return func(w *Watcher) error { w.log = l; return nil }
}

// Watcher follows a ledger's stream and guards one release. Its methods are
// safe for concurrent use; Run runs once.
type Watcher struct {
	sinks
	names       natsbus.Names
	alertStream string

	pool     *pgxpool.Pool
	store    *ledger.Store
	interval time.Duration
	poke     chan struct{} // read the schema now: the stream says DDL ran

	known     policy.Manifest
	policy    policy.Policy
	guardOpts []GuardOption
	replicas  int

	streamWait time.Duration

	mu       sync.Mutex // guards guard, caughtUp, judgedSeq, seqCh and runErr
	guard    *Guard
	caughtUp bool
	settle   time.Duration
	// judgedSeq is the last event of the last burst judged.
	judgedSeq int64
	seqCh     chan struct{} // closed and replaced at every judgement
	ended     chan struct{} // closed when Run returns
	runErr    error
}

// DefaultSettle is how long the stream must stay quiet after it caught up
// before the watcher judges: the migrations of one run are committed
// milliseconds apart, and are one burst.
const DefaultSettle = 200 * time.Millisecond

// DuplicateWindow is how long the alerts stream remembers a Nats-Msg-Id:
// a watcher started within it after another one raised an alert does not
// raise it again.
const DuplicateWindow = 24 * time.Hour

// New returns a watcher over js for the release known under policy p.
func New(js jetstream.JetStream, known policy.Manifest, p policy.Policy, opts ...Option) (*Watcher, error) {
	w := &Watcher{sinks: newSinks(js), known: known, policy: p, settle: DefaultSettle, streamWait: DefaultStreamWait, seqCh: make(chan struct{}), poke: make(chan struct{}, 1), ended: make(chan struct{})}
	for _, o := range opts {
		if err := o(w); err != nil {
			return nil, err
		}
	}
	if w.names.Stream == "" {
		return nil, errors.New("watch: name the ledger's stream (WithNames)")
	}
	w.guard = NewGuard(w.known, w.policy, w.guardOpts...)
	if w.pool != nil {
		w.guard.ReadsCatalog()
	}
	if w.alertStream == "" {
		w.alertStream = w.names.Stream + "_ALERTS"
	}
	return w, nil
}

// AlertStreamConfig is the stream alerts are published to.
func (w *Watcher) AlertStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        w.alertStream,
		Description: "alerts of `ledger watch` (one per change, deduplicated by Nats-Msg-Id across watchers)",
		Subjects:    []string{w.names.Prefix + ".alerts.>"},
		Storage:     jetstream.FileStorage,
		Duplicates:  DuplicateWindow,
		Replicas:    max(1, w.replicas),
	}
}

// Verdict is the guarded release's verdict after the events folded so far,
// and the seq of the last of them.
func (w *Watcher) Verdict() (policy.Verdict, int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.guard.Verdict(), w.guard.Seq()
}

// WaitSeq blocks until the watcher has folded the event at seq and judged
// the burst it ends, its alerts emitted (or ctx ends).
func (w *Watcher) WaitSeq(ctx context.Context, seq int64) error {
	for {
		w.mu.Lock()
		done, ch := w.judgedSeq >= seq && w.caughtUp, w.seqCh
		w.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-w.ended:
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.judgedSeq >= seq && w.caughtUp {
				return nil
			}
			return fmt.Errorf("the watcher stopped at seq %d: %v", w.guard.Seq(), w.runErr)
		}
	}
}

// ErrNoStream: the ledger's stream does not exist while other ledgers'
// streams do — a mistyped name, not a relay that has not started yet.
var ErrNoStream = errors.New("no such ledger stream")

// NoStreamError names the stream looked for and the ledgers' streams the
// server has.
type NoStreamError struct {
	Stream string
	Have   []string // the streams named LEDGER_* on the server
}

func (e *NoStreamError) Error() string {
	return fmt.Sprintf("the NATS server has no stream %s; its ledger streams are %s: check the ledger's name (the relay's --name, or <database>_<schema>)", e.Stream, strings.Join(e.Have, ", "))
}

func (e *NoStreamError) Unwrap() error { return ErrNoStream }

// Run follows the stream from its first event until ctx ends (then it
// returns nil), judging the guarded release after each burst: once the
// stream has caught up and either the last event ends a run
// (schema.fingerprinted) or no event came for the settle time. NATS going
// away is waited out: the ordered consumer resumes after the last event
// folded. A stream that does not exist is waited for while the server has
// no ledger stream at all (the relay has not run yet); when it has others,
// for the stream wait only, then the name is wrong and Run returns a
// *NoStreamError.
func (w *Watcher) Run(ctx context.Context) (err error) {
	defer func() {
		w.mu.Lock()
		w.runErr = err
		w.mu.Unlock()
		close(w.ended)
	}()
	stream, err := w.waitStream(ctx)
	if err != nil || stream == nil {
		return err
	}
	if _, err := w.js.CreateOrUpdateStream(ctx, w.AlertStreamConfig()); err != nil {
		return fmt.Errorf("alerts stream %s: %w", w.alertStream, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", w.names.Stream, err)
	}
	w.mu.Lock()
	if info.State.LastSeq == 0 {
		w.caughtUp = true
		w.guard.Live()
	}
	w.mu.Unlock()
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{w.names.EventsFilter()},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("consume %s: %w", w.names.Stream, err)
	}
	msgs, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("consume %s: %w", w.names.Stream, err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type next struct {
		m   jetstream.Msg
		err error
	}
	in := make(chan next)
	wg.Add(1)
	go func() { // Next blocks; Stop ends it when ctx does
		defer wg.Done()
		<-runCtx.Done()
		msgs.Stop()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			m, err := msgs.Next()
			select {
			case in <- next{m, err}:
			case <-runCtx.Done():
				return
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
		}
	}()
	w.sinks.subject = func(a Alert) string { return w.names.AlertSubject(string(a.Kind)) }
	w.startHooks(runCtx, &wg)
	if w.pool != nil {
		wg.Add(1)
		go func() { defer wg.Done(); w.pollSchema(runCtx) }()
	}
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	due := time.NewTimer(time.Hour)
	due.Stop()
	defer settle.Stop()
	defer due.Stop()
	judge := func() {
		w.mu.Lock()
		alerts := w.guard.Judge()
		seq, nextDue := w.guard.Seq(), w.guard.NextDue()
		w.mu.Unlock()
		w.emit(ctx, alerts)
		w.mu.Lock()
		w.judgedSeq = seq
		close(w.seqCh)
		w.seqCh = make(chan struct{})
		w.mu.Unlock()
		if !nextDue.IsZero() {
			due.Reset(max(time.Until(nextDue), time.Millisecond))
		}
	}
	if info.State.LastSeq == 0 {
		judge()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-settle.C:
			judge()
		case <-due.C:
			judge()
		case n := <-in:
			if n.err != nil {
				if ctx.Err() != nil || errors.Is(n.err, jetstream.ErrMsgIteratorClosed) {
					return nil
				}
				w.log.Warn("watch: reading the stream", "err", n.err)
				continue
			}
			ev, err := natsbus.Decode(n.m)
			if err != nil {
				return fmt.Errorf("watch: %w", err)
			}
			meta, err := n.m.Metadata()
			if err != nil {
				return fmt.Errorf("watch: %w", err)
			}
			endsBurst, err := w.fold(ev, meta.NumPending == 0 && int64(meta.Sequence.Stream) >= int64(info.State.LastSeq))
			if err != nil {
				return fmt.Errorf("watch: fold seq %d: %w", ev.Seq, err)
			}
			if ev.Type == projector.TypeSchemaChanged && w.pool != nil {
				select { // the diff lines (which column ...) come from the catalog
				case w.poke <- struct{}{}:
				default:
				}
			}
			switch {
			case !endsBurst:
				settle.Stop()
			case ev.Type == projector.TypeSchemaFingerprinted || w.settle == 0:
				settle.Stop()
				judge()
			default:
				settle.Reset(w.settle)
			}
		}
	}
}

// fold applies one event and reports whether the stream has caught up
// with it (nothing more pending).
func (w *Watcher) fold(ev ledger.Event, caughtUp bool) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ev.Seq <= w.guard.Seq() {
		return false, nil // already folded (redelivered after a reconnect)
	}
	if err := w.guard.Fold(ev); err != nil {
		return false, err
	}
	if caughtUp && !w.caughtUp {
		w.caughtUp = true
		w.guard.Live()
	}
	return caughtUp || w.caughtUp && ev.Type == projector.TypeSchemaFingerprinted, nil
}

func (w *Watcher) waitStream(ctx context.Context) (jetstream.Stream, error) {
	wait := 250 * time.Millisecond
	started := time.Now()
	for {
		s, err := w.js.Stream(ctx, w.names.Stream)
		if err == nil {
			return s, nil
		}
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			var have []string
			names := w.js.StreamNames(ctx, jetstream.WithStreamListSubject("ledger.>"))
			for n := range names.Name() {
				if strings.HasPrefix(n, "LEDGER_") && !strings.HasSuffix(n, "_ALERTS") {
					have = append(have, n)
				}
			}
			if slices.Contains(have, w.names.Stream) {
				continue // created between the lookup and the listing
			}
			if len(have) > 0 && time.Since(started) >= w.streamWait {
				slices.Sort(have)
				return nil, &NoStreamError{Stream: w.names.Stream, Have: have}
			}
			if len(have) > 0 && ctx.Err() == nil {
				w.log.Warn("watch: no such ledger stream, while the server has others; waiting for its relay a little, then giving up", "stream", w.names.Stream, "others", len(have), "give_up_after", w.streamWait.String())
			}
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) && ctx.Err() == nil {
			w.log.Warn("watch: looking for the ledger's stream", "stream", w.names.Stream, "err", err)
		} else if ctx.Err() == nil {
			w.log.Info("watch: no ledger stream on the server yet; waiting for the relay (natsbus.Relay) to create it", "stream", w.names.Stream)
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// emit publishes, prints and posts the alerts of this ledger.
func (w *Watcher) emit(ctx context.Context, alerts []Alert) {
	for i := range alerts {
		alerts[i].Ledger = w.names.Prefix
	}
	w.sinks.emit(ctx, alerts)
}

// pollSchema reads the catalog every interval, once the stream is caught
// up, and alerts a fingerprint that differs from the last snapshot the
// stream recorded.
func (w *Watcher) pollSchema(ctx context.Context) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		if err := w.CheckSchema(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("watch: read the schema", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.poke:
		}
	}
}

// CheckSchema reads the catalog now and alerts drift (what the interval
// does; exported for a caller that knows the schema just changed).
func (w *Watcher) CheckSchema(ctx context.Context) error {
	if w.pool == nil {
		return errors.New("watch: no database to read the schema from (WithSchemaPolling)")
	}
	w.mu.Lock()
	fp, ready := w.guard.State().Fingerprint, w.caughtUp
	w.mu.Unlock()
	if !ready || fp == nil {
		return nil
	}
	snap, err := catalog.Read(ctx, w.pool, w.store.Schema())
	if err != nil || snap.Fingerprint == fp.Value {
		return err
	}
	// Read after the catalog: a migration that committed before that read
	// is in the ledger by now, and the watcher must have folded it before
	// it may call the difference drift.
	head, err := w.store.Head(ctx)
	if err != nil {
		return err
	}
	var changes []string
	if old, err := w.store.Snapshot(ctx, fp.Value); err == nil {
		changes = catalog.Lines(catalog.Diff(old, snap))
	} else if !errors.Is(err, ledger.ErrNoSnapshot) {
		return err
	}
	w.mu.Lock()
	var alerts []Alert
	if w.guard.Seq() >= head.Seq && w.guard.State().Fingerprint.Value == fp.Value &&
		w.guard.SchemaFound(snap.Fingerprint, changes, time.Now().UTC()) {
		alerts = w.guard.Judge()
	}
	w.mu.Unlock()
	w.emit(ctx, alerts)
	return nil
}
