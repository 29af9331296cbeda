package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/ledger"
)

// Relay publishes a ledger's events to its JetStream stream, in seq order,
// each exactly once (see the package doc). Run it beside other work — a
// server may run one per instance, any number at once — or alone with
// `ledger relay`.
//
// A Relay's methods are safe for concurrent use; Run runs once at a time.
type Relay struct {
	js    jetstream.JetStream
	store *ledger.Store
	db    ledger.DB

	names                          *Names
	log                            *slog.Logger
	poll, ackWait, progress        time.Duration
	backoffMin, backoffMax         time.Duration
	batch, window                  int
	published, duplicates, retries atomic.Int64
	conflicts                      atomic.Int64
	streamSeq, headSeq             atomic.Int64
	streamOpts                     []StreamOption
	// wake, when set, is where a FleetRelay's LISTEN on the whole database
	// wakes this relay; it holds no connection of its own then.
	wake chan struct{}
	// visitStream is the stream as catchUp last found and checked it (nil:
	// find and check it at the next visit).
	visitStream jetstream.Stream
	sight       sightState
	// sightEvery > 0: the check-ins are published every sightEvery
	// (WithSightings).
	sightEvery, sightWindow time.Duration
	mu                      sync.Mutex // guards names
}

// DefaultAckWait is how long a publish waits for its acknowledgement (and
// a stream request for its answer) before the relay retries: the one ack
// timeout of the relay, also the asynchronous publish timeout of the
// JetStream context NewJetStream makes.
const DefaultAckWait = 5 * time.Second

// NewJetStream is the JetStream context the relay (and watchers) use over
// nc, with DefaultAckWait as its asynchronous publish timeout.
func NewJetStream(nc *nats.Conn) (jetstream.JetStream, error) {
	return jetstream.New(nc, jetstream.WithPublishAsyncTimeout(DefaultAckWait))
}

// RelayOption configures a Relay.
type RelayOption func(*Relay) error

// WithNames sets the stream and subject prefix (default: NamesFor of
// DefaultName of the database and the store's schema).
func WithNames(n Names) RelayOption {
	return func(r *Relay) error {
		if err := n.Validate(); err != nil {
			return err
		}
		r.names = &n
		return nil
	}
}

// WithReplicas keeps the stream on n servers of a JetStream cluster
// (default 1); an existing stream with fewer is raised to n.
func WithReplicas(n int) RelayOption {
	return func(r *Relay) error {
		if n < 1 || n > 5 {
			return fmt.Errorf("relay replicas: want 1 to 5 (JetStream's limit), got %d", n)
		}
		r.streamOpts = append(r.streamOpts, WithStreamReplicas(n))
		return nil
	}
}

// replicas is the stream's replicas as the options set them.
func (r *Relay) replicas() int {
	var c jetstream.StreamConfig
	for _, o := range r.streamOpts {
		o(&c)
	}
	return max(1, c.Replicas)
}

// WithLogger sets where progress, lag and retries are logged (default: nowhere).
func WithLogger(l *slog.Logger) RelayOption {
	return func(r *Relay) error { r.log = l; return nil }
}

// WithPollInterval sets how often the relay looks for new events when no
// notification came (default 2s): a lost notification only delays.
func WithPollInterval(d time.Duration) RelayOption {
	return positive("poll interval", d, func(r *Relay) { r.poll = d })
}

// WithBatchSize sets how many events one read of the ledger returns (default 1000).
func WithBatchSize(n int) RelayOption {
	return positive("batch size", time.Duration(n), func(r *Relay) { r.batch = n })
}

// WithMaxPending sets the window of publishes awaiting their ack (default 2048).
func WithMaxPending(n int) RelayOption {
	return positive("max pending", time.Duration(n), func(r *Relay) { r.window = n })
}

// WithAckWait sets how long a publish or a stream request may wait for
// its answer before the relay retries (default DefaultAckWait).
func WithAckWait(d time.Duration) RelayOption {
	return positive("ack wait", d, func(r *Relay) { r.ackWait = d })
}

// WithProgressInterval sets how often progress is logged while a backlog
// drains (default 10s).
func WithProgressInterval(d time.Duration) RelayOption {
	return positive("progress interval", d, func(r *Relay) { r.progress = d })
}

// WithBackoff sets the first and the longest wait between retries while
// NATS or PostgreSQL is unreachable (default 250ms and 10s, doubling, with
// jitter).
func WithBackoff(first, longest time.Duration) RelayOption {
	return func(r *Relay) error {
		if first <= 0 || longest < first {
			return fmt.Errorf("relay backoff: want 0 < first <= longest, got %s and %s", first, longest)
		}
		r.backoffMin, r.backoffMax = first, longest
		return nil
	}
}

func positive(what string, v time.Duration, set func(*Relay)) RelayOption {
	return func(r *Relay) error {
		if v <= 0 {
			return fmt.Errorf("relay %s: want a positive value, got %d", what, v)
		}
		set(r)
		return nil
	}
}

// NewRelay returns a relay of store's ledger to js. db is the database
// of store, a pool (*pgxpool.Pool): the relay holds one of its connections
// to LISTEN for appends while it runs (ledger.Listen), and the store's
// reads need another, so give it at least two. It touches neither NATS
// nor the database until Run.
func NewRelay(js jetstream.JetStream, store *ledger.Store, db ledger.DB, opts ...RelayOption) (*Relay, error) {
	if js == nil || store == nil || db == nil {
		return nil, errors.New("relay: needs a JetStream context, a ledger store and its pool")
	}
	r := &Relay{
		js: js, store: store, db: db,
		log:  slog.New(slog.DiscardHandler),
		poll: 2 * time.Second, ackWait: DefaultAckWait, progress: 10 * time.Second,
		backoffMin: 250 * time.Millisecond, backoffMax: 10 * time.Second,
		batch: 1000, window: 2048,
	}
	for _, o := range opts {
		if err := o(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Stats are a relay's counters since it was made.
type Stats struct {
	StreamSeq  int64 `json:"stream_seq"` // the stream's last sequence as last seen (acknowledged or read back)
	HeadSeq    int64 `json:"head_seq"`   // the ledger's head seq as last seen
	Published  int64 `json:"published"`  // events this relay stored in the stream
	Duplicates int64 `json:"duplicates"` // publishes the server answered as duplicates (another relay had stored the event)
	Conflicts  int64 `json:"conflicts"`  // "wrong last sequence" answers: another relay got there first
	Retries    int64 `json:"retries"`    // times the relay backed off and started over after an error
}

// Lag is how many events of the ledger the stream does not hold yet, as last seen.
func (s Stats) Lag() int64 { return max(0, s.HeadSeq-s.StreamSeq) }

// Stats returns the relay's counters.
func (r *Relay) Stats() Stats {
	return Stats{
		StreamSeq: r.streamSeq.Load(), HeadSeq: r.headSeq.Load(),
		Published: r.published.Load(), Duplicates: r.duplicates.Load(),
		Conflicts: r.conflicts.Load(), Retries: r.retries.Load(),
	}
}

// Names returns the stream and subjects the relay publishes to; before Run
// has resolved the defaults, only those given with WithNames.
func (r *Relay) Names() Names {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names == nil {
		return Names{}
	}
	return *r.names
}

// ResolveNames fills in the default names (reading the database name) if
// none were given, and returns them. Run does it first.
func (r *Relay) ResolveNames(ctx context.Context) (Names, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names == nil {
		dbName, err := ledger.DatabaseName(ctx, r.db)
		if err != nil {
			return Names{}, err
		}
		n := NamesFor(DefaultName(dbName, r.store.Schema()))
		r.names = &n
	}
	return *r.names, nil
}

// fatal errors stop Run: retrying cannot help. A ledger not initialized
// yet is waited for (a server may start its relay before it migrates).
func fatal(err error) bool {
	var fe *ledger.FormatError
	var ce *ledger.CorruptHeadError
	return errors.Is(err, ErrStreamMismatch) || errors.Is(err, ErrStreamConfig) || errors.Is(err, ErrConnectConfig) ||
		errors.As(err, &fe) || errors.As(err, &ce)
}

// errConflict: a publish was answered "wrong last sequence".
var errConflict = errors.New("another relay published first")

// Run resolves the names, then publishes until ctx is cancelled, then waits for the publishes in
// flight to be acknowledged (at most the ack wait) and returns nil. It
// retries, with backoff, whatever may pass (NATS or PostgreSQL unreachable,
// a stream deleted under it); it returns errors that cannot pass: a
// stream that does not match the ledger (*StreamMismatchError) or carries
// other subjects (*StreamConfigError), a ledger in a newer format or with a
// corrupt head. A ledger not initialized yet is waited for.
func (r *Relay) Run(ctx context.Context) error {
	bo := r.backoffMin
	var err error
	for {
		if _, err = r.ResolveNames(ctx); err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		r.log.Warn("relay: cannot read the database name; retrying", "err", err.Error(), "retry_in", bo.String())
		if !sleep(ctx, bo) {
			return nil
		}
		bo = min(2*bo, r.backoffMax)
	}
	if r.sightEvery > 0 {
		sctx, stopSightings := context.WithCancel(ctx)
		var swg sync.WaitGroup
		swg.Go(func() { r.publishSightings(sctx) })
		defer func() { stopSightings(); swg.Wait() }()
	}
	wake := r.wake
	if wake == nil {
		wake = make(chan struct{}, 1)
		lctx, stopListen := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { r.listen(lctx, wake) })
		defer func() { stopListen(); wg.Wait() }()
	}

	bo = r.backoffMin
	for {
		err := r.session(ctx, wake, &bo)
		if ctx.Err() != nil {
			return nil
		}
		if fatal(err) {
			return err
		}
		r.retries.Add(1)
		wait := jitter(bo)
		if errors.Is(err, ledger.ErrNotInitialized) {
			r.log.Info("relay: the ledger is not initialized yet; waiting for `ledger init` or the first migration", "err", err.Error(), "retry_in", wait.Round(time.Millisecond).String())
		} else {
			r.log.Warn("relay: cannot publish now; retrying", "err", err.Error(), "retry_in", wait.Round(time.Millisecond).String())
		}
		if !sleep(ctx, wait) {
			return nil
		}
		bo = min(2*bo, r.backoffMax)
	}
}

// session finds the stream and where it ends, then publishes and waits for
// more, until an error.
func (r *Relay) session(ctx context.Context, wake <-chan struct{}, bo *time.Duration) error {
	n := *r.names
	s, err := r.openStream(ctx, r.store)
	if err != nil {
		return err
	}
	r.log.Info("relay: publishing", "stream", n.Stream, "subjects", n.EventsFilter(), "after_seq", r.streamSeq.Load())
	*bo = r.backoffMin

	poll := time.NewTicker(r.poll)
	defer poll.Stop()
	for {
		err := r.pump(ctx, r.store)
		if errors.Is(err, errConflict) {
			r.conflicts.Add(1)
			opCtx, cancel := context.WithTimeout(ctx, r.ackWait)
			last, err := CheckLast(opCtx, s, r.store)
			cancel()
			if err != nil {
				return err
			}
			r.log.Debug("relay: another relay published first; going on after the stream's last sequence", "stream_seq", last)
			r.streamSeq.Store(last)
			continue
		}
		if err != nil {
			return err
		}
		*bo = r.backoffMin
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-poll.C:
			if h, err := r.store.Head(ctx); err == nil {
				r.noteHead(h.Seq)
			}
		}
	}
}

// openStream finds (or creates) the stream and checks that its last
// message is the ledger's event at that seq, reading the ledger through
// st; the stream's last sequence is where publishing goes on.
func (r *Relay) openStream(ctx context.Context, st *ledger.Store) (jetstream.Stream, error) {
	if nc := r.js.Conn(); nc.IsClosed() {
		return nil, closedError(nc)
	} else if !nc.IsConnected() {
		return nil, fmt.Errorf("not connected to NATS at %s (%s): %w", RedactURL(strings.Join(nc.Servers(), ",")), nc.Status(), nats.ErrDisconnected)
	}
	opCtx, cancel := context.WithTimeout(ctx, r.ackWait)
	defer cancel()
	s, err := EnsureStream(opCtx, r.js, *r.names, r.streamOpts...)
	if err != nil {
		return nil, err
	}
	last, err := CheckLast(opCtx, s, st)
	if err != nil {
		return nil, err
	}
	r.streamSeq.Store(last)
	r.noteHead(last)
	return s, nil
}

// catchUp publishes what the stream lacks of the ledger, reading it
// through st (a FleetRelay's visit: one short-lived connection), and
// returns once the stream ends at the ledger's head as read, or on an
// error. The first call (and the first after an error) finds the stream
// and checks its last message against the ledger as a session does;
// after that, publishing relies on the expected last sequence alone, as a
// session's does. Not safe for concurrent use, nor beside Run.
func (r *Relay) catchUp(ctx context.Context, st *ledger.Store) (err error) {
	defer func() {
		if err != nil {
			r.visitStream = nil // find and check the stream again next time
			if !fatal(err) && ctx.Err() == nil {
				r.retries.Add(1)
			}
		}
	}()
	if r.visitStream == nil {
		if r.visitStream, err = r.openStream(ctx, st); err != nil {
			return err
		}
	}
	for {
		err := r.pump(ctx, st)
		if !errors.Is(err, errConflict) {
			return err
		}
		r.conflicts.Add(1)
		opCtx, cancel := context.WithTimeout(ctx, r.ackWait)
		last, err := CheckLast(opCtx, r.visitStream, st)
		cancel()
		if err != nil {
			return err
		}
		r.streamSeq.Store(last)
	}
}

// flight is one publish awaiting its ack.
type flight struct {
	seq int64
	paf jetstream.PubAckFuture
}

// pump publishes every event after the stream's last sequence, keeping at
// most window publishes in flight, and returns when it has caught up and
// every publish is acknowledged, or on the first error. When ctx is
// cancelled it stops reading and waits for the acks in flight.
func (r *Relay) pump(ctx context.Context, st *ledger.Store) error {
	var pending []flight
	timer := time.NewTimer(r.ackWait)
	defer timer.Stop()
	acked := func(f flight, ack *jetstream.PubAck) error {
		if ack.Sequence != uint64(f.seq) {
			return &StreamMismatchError{Stream: r.names.Stream, Seq: f.seq, Reason: fmt.Sprintf("the server holds event %d at stream sequence %d", f.seq, ack.Sequence)}
		}
		if ack.Duplicate {
			r.duplicates.Add(1)
		} else {
			r.published.Add(1)
		}
		if f.seq > r.streamSeq.Load() {
			r.streamSeq.Store(f.seq)
		}
		return nil
	}
	settle := func() error {
		f := pending[0]
		pending = pending[1:]
		timer.Reset(r.ackWait)
		select {
		case ack := <-f.paf.Ok():
			return acked(f, ack)
		case err := <-f.paf.Err():
			if isWrongLastSeq(err) {
				return errConflict
			}
			return fmt.Errorf("publish event %d: %w", f.seq, err)
		case <-timer.C:
			return fmt.Errorf("publish event %d: no acknowledgement within %s", f.seq, r.ackWait)
		}
	}
	// abandon waits (briefly) for the publishes still in flight after a
	// failure, so their late acks cannot race the resync. Some may still
	// succeed: after a "wrong last sequence", the next publish expects the
	// seq the other relay just stored.
	abandon := func(err error) error {
		deadline := time.NewTimer(r.ackWait)
		defer deadline.Stop()
		for _, f := range pending {
			select {
			case ack := <-f.paf.Ok():
				if e := acked(f, ack); e != nil && !fatal(err) {
					err = e
				}
			case <-f.paf.Err():
			case <-deadline.C:
				return err
			}
		}
		return err
	}

	start, published := time.Now(), r.published.Load()
	lastLog := start
	next := r.streamSeq.Load() + 1
	// The next batch is read while this one is published.
	rctx, stopReading := context.WithCancel(ctx)
	batches := r.readAhead(rctx, st, next-1)
	defer func() {
		stopReading()
		for range batches { // let the reader finish
		}
	}()
	for b := range batches {
		if b.err != nil {
			if ctx.Err() != nil {
				break
			}
			return abandon(b.err)
		}
		for _, ev := range b.events {
			if ctx.Err() != nil {
				break
			}
			if ev.Seq != next {
				return abandon(fmt.Errorf("ledger read: want event %d, got %d", next, ev.Seq))
			}
			for len(pending) >= r.window {
				if err := settle(); err != nil {
					return abandon(err)
				}
			}
			m, err := Encode(*r.names, ev)
			if err != nil {
				return abandon(err)
			}
			paf, err := r.js.PublishMsgAsync(m, jetstream.WithExpectLastSequence(uint64(ev.Seq-1)), jetstream.WithExpectStream(r.names.Stream))
			if err != nil {
				return abandon(fmt.Errorf("publish event %d: %w", ev.Seq, err))
			}
			pending = append(pending, flight{ev.Seq, paf})
			next = ev.Seq + 1
		}
		if ctx.Err() != nil {
			break
		}
		if now := time.Now(); now.Sub(lastLog) >= r.progress {
			lastLog = now
			st := r.Stats()
			r.log.Info("relay: progress", "stream_seq", st.StreamSeq, "head_seq", st.HeadSeq, "lag", st.Lag(),
				"events_per_sec", int(float64(st.Published-published)/now.Sub(start).Seconds()))
		}
	}
	for len(pending) > 0 {
		if err := settle(); err != nil {
			return abandon(err)
		}
	}
	if n := r.published.Load() - published; n > 0 {
		st := r.Stats()
		d := time.Since(start)
		r.log.Info("relay: caught up", "stream_seq", st.StreamSeq, "head_seq", st.HeadSeq, "lag", st.Lag(),
			"published", n, "took", d.Round(time.Millisecond).String())
	}
	return nil
}

// batch is one read of the ledger.
type batch struct {
	events []ledger.Event
	err    error
}

// readAhead reads batches after seq after, one ahead of the publisher,
// until a short batch (caught up), an error or ctx's end; then it closes
// the channel.
func (r *Relay) readAhead(ctx context.Context, st *ledger.Store, after int64) <-chan batch {
	out := make(chan batch, 1)
	go func() {
		defer close(out)
		for {
			evs, err := r.read(ctx, st, after)
			select {
			case out <- batch{evs, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(evs) < r.batch {
				return
			}
			after = evs[len(evs)-1].Seq
		}
	}()
	return out
}

// read returns up to batch events after seq after.
func (r *Relay) read(ctx context.Context, st *ledger.Store, after int64) ([]ledger.Event, error) {
	events := make([]ledger.Event, 0, min(r.batch, 64))
	for ev, err := range st.Events(ctx, ledger.Filter{AfterSeq: after, Limit: r.batch}) {
		if err != nil {
			return nil, fmt.Errorf("read the ledger after seq %d: %w", after, err)
		}
		events = append(events, ev)
	}
	if n := len(events); n > 0 {
		r.noteHead(events[n-1].Seq)
	}
	return events, nil
}

// noteHead raises the head seq seen so far.
func (r *Relay) noteHead(seq int64) {
	for {
		cur := r.headSeq.Load()
		if seq <= cur || r.headSeq.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// listen holds one connection LISTENing on the ledger's channel and wakes
// the publisher on each notification (and on every new LISTEN, since
// notifications may have been missed while it was gone).
func (r *Relay) listen(ctx context.Context, wake chan<- struct{}) {
	signal := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	bo := r.backoffMin
	for {
		err := r.listenOnce(ctx, signal, &bo)
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("relay: lost the LISTEN connection; polling until it is back", "err", err.Error(), "poll", r.poll.String(), "retry_in", bo.String())
		if !sleep(ctx, jitter(bo)) {
			return
		}
		bo = min(2*bo, r.backoffMax)
	}
}

func (r *Relay) listenOnce(ctx context.Context, signal func(), bo *time.Duration) error {
	return ledger.Listen(ctx, r.db, []string{r.store.Channel()}, func(_ string, seq int64) {
		if seq > 0 {
			r.noteHead(seq)
		} else {
			*bo = r.backoffMin // listening again
		}
		signal()
	})
}

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// jitter spreads d by ±20% so relays that failed together do not retry together.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}
