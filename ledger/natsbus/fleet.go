package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/ledger"
)

// DatabaseLister is what a FleetRelay needs of a fleet's databases
// (ledger.Databases): their names, the connection budget, a pool for a
// database it LISTENs to, a short-lived connection for one it polls.
type DatabaseLister interface {
	// List returns the databases now; a FleetRelay asks again every
	// discovery interval.
	List(ctx context.Context) ([]ledger.Database, error)
	// Budget is the connections allowed in all (0: no limit) and those a
	// database served through its pool holds at most.
	Budget() (total, perDatabase int)
	// Pool is database name's pool, opened at the first call.
	Pool(ctx context.Context, name string) (ledger.DB, error)
	// ClosePool closes it once its connections are back.
	ClosePool(name string)
	// Visit calls fn with a connection of its own to database name and
	// closes it when fn returns.
	Visit(ctx context.Context, name string, fn func(ledger.DB) error) error
}

// ActivityReader is what a DatabaseLister may also offer (ledger.Databases
// does): a token per database that changes when rows are written there,
// read for every database at once (ledger.Databases.Activity), so that a
// sweep visits only the polled databases written to since their last
// visit — and each one at least every twelve poll intervals (at least a
// minute) whatever the tokens say.
type ActivityReader interface {
	Activity(ctx context.Context) (map[string]string, error)
}

// FleetRelay relays every ledger of many databases from one process,
// within the connection budget of its DatabaseLister.
//
// When every database fits in the budget with its pool (perDatabase
// connections each), each one LISTENs: one connection per database
// LISTENs on the channels of all its ledgers and wakes their relays, which
// read through that database's pool. When there are more databases than
// that, as many as the budget allows LISTEN — those whose ledgers were
// appended to most recently — and the others are polled: every poll
// interval (WithVisitInterval) each one written to since its last visit
// is visited with one short-lived connection (the rest of the budget is
// the visits' workers), which reads the heads of all its ledgers in one
// round trip and, for a ledger whose stream lacks events, publishes them
// on that connection. Which databases were written to comes from their
// row counters in pg_stat_database, one query per server a sweep
// (ActivityReader); PostgreSQL publishes a session's counters within a
// second of its commit when it goes idle, at the latest about ten seconds
// later when it stays busy, and at once when it disconnects; and every
// database is visited at least every twelve intervals (at least a minute)
// whatever they say. A polled database appended to on two visits in a
// row takes the listening slot of one that saw no append for ten
// intervals. So the delay from a commit to the stream is the LISTEN's (a
// few milliseconds) for the busiest databases, and for the others the
// counters' publication plus at most a poll interval (or a sweep, when
// that takes longer: logged) plus the visit.
//
// Each ledger keeps every guarantee of a Relay, whichever way it is
// served and however often that changes (stream seq = ledger seq, exactly
// once and in order beside any number of relays, resume from the stream,
// a foreign stream refused) on stream LEDGER_<database>_<schema>. Ledgers
// and databases that appear later are picked up at the next discovery
// (a polled database's new ledgers at its next visit). A database that
// cannot be reached, or is dropped, is reported (logged once, and in
// DatabaseStats) and retried, never stopping the others; a ledger whose
// relay stops on an error that retrying cannot fix (a foreign stream) is
// logged and left stopped.
//
// Safe for concurrent use; Run runs once.
type FleetRelay struct {
	js         jetstream.JetStream
	dbs        DatabaseLister
	log        *slog.Logger
	discover   time.Duration
	visitEvery time.Duration
	relayOpts  []RelayOption

	mu        sync.Mutex
	ledgers   map[string]*fleetLedger // by ledger name (DefaultName)
	failed    map[string]error
	databases map[string]*fleetDB // by database name
	plan      fleetPlan

	sweeps       atomic.Int64
	lastSweep    atomic.Int64 // nanoseconds
	lastVisited  atomic.Int64 // databases the last sweep visited
	activityNote sync.Once
}

type fleetLedger struct {
	database, schema string
	relay            *Relay
	store            *ledger.Store // on the database's pool once it LISTENs; else re-bound to each visit
	seenHead         int64         // head seq at the last visit
}

// fleetDB is one database's state. Its fields are the FleetRelay's mu's,
// but known, which only its visit touches.
type fleetDB struct {
	db         ledger.Database
	listening  bool
	stop       context.CancelFunc // while listening
	done       chan struct{}      // closed when serve returned
	lastActive time.Time          // an append seen last
	prevActive time.Time          // the one before (polled: the visit before that saw one)
	nextVisit  time.Time
	visitErr   error
	errSince   time.Time
	visits     int64
	activity   string    // the activity token read before its last visit
	visitedAt  time.Time // its last visit
	known      []string  // its ledgers at the last visit
}

// fleetPlan is how the budget is spent: listen slots of perDB
// connections, the rest visit workers.
type fleetPlan struct {
	listen, workers int
}

// FleetOption configures a FleetRelay.
type FleetOption func(*FleetRelay) error

// WithDiscoveryInterval sets how often databases and ledgers are looked up
// again (default 10s).
func WithDiscoveryInterval(d time.Duration) FleetOption {
	return func(f *FleetRelay) error {
		if d <= 0 {
			return fmt.Errorf("discovery interval: want a positive duration, got %s", d)
		}
		f.discover = d
		return nil
	}
}

// DefaultVisitInterval is how often a database without a listening slot
// is visited, by default.
const DefaultVisitInterval = 2 * time.Second

// WithVisitInterval sets how often each database without a listening
// slot is visited (default DefaultVisitInterval): the bound on the delay
// from a commit there to the stream, as long as one sweep of all of them
// takes less. Each visit is one connection made and closed: the server
// sees databases/interval connections a second.
func WithVisitInterval(d time.Duration) FleetOption {
	return func(f *FleetRelay) error {
		if d <= 0 {
			return fmt.Errorf("visit interval: want a positive duration, got %s", d)
		}
		f.visitEvery = d
		return nil
	}
}

// WithFleetLogger sets where the fleet relay logs.
func WithFleetLogger(l *slog.Logger) FleetOption {
	return func(f *FleetRelay) error { f.log = l; return nil }
}

// WithRelayOptions are given to every ledger's Relay (batch size, ack
// wait, replicas, …; WithNames is the fleet's to set).
func WithRelayOptions(opts ...RelayOption) FleetOption {
	return func(f *FleetRelay) error { f.relayOpts = append(f.relayOpts, opts...); return nil }
}

// NewFleetRelay relays the ledgers of the databases dbs lists to js.
func NewFleetRelay(js jetstream.JetStream, dbs DatabaseLister, opts ...FleetOption) (*FleetRelay, error) {
	if js == nil || dbs == nil {
		return nil, errors.New("fleet relay: needs a JetStream context and the databases")
	}
	f := &FleetRelay{js: js, dbs: dbs, log: slog.New(slog.DiscardHandler), discover: 10 * time.Second, visitEvery: DefaultVisitInterval,
		ledgers: map[string]*fleetLedger{}, failed: map[string]error{}, databases: map[string]*fleetDB{}}
	for _, o := range opts {
		if err := o(f); err != nil {
			return nil, err
		}
	}
	var check Relay // the per-ledger options are checked once, here
	for _, o := range f.relayOpts {
		if err := o(&check); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// LedgerStats are one ledger's relay counters.
type LedgerStats struct {
	Name     string `json:"name"`
	Database string `json:"database"`
	Schema   string `json:"schema"`
	Stats
	Error string `json:"error,omitempty"` // why its relay stopped
}

// Stats returns every ledger's counters, by name.
func (f *FleetRelay) Stats() []LedgerStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]LedgerStats, 0, len(f.ledgers))
	for name, l := range f.ledgers {
		s := LedgerStats{Name: name, Database: l.database, Schema: l.schema, Stats: l.relay.Stats()}
		if err := f.failed[name]; err != nil {
			s.Error = err.Error()
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b LedgerStats) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// DatabaseStats are one database's state in a FleetRelay.
type DatabaseStats struct {
	Name       string    `json:"name"`
	Listening  bool      `json:"listening"` // it holds a listening slot; else it is polled
	Visits     int64     `json:"visits"`
	LastActive time.Time `json:"last_active,omitzero"`
	Error      string    `json:"error,omitempty"` // why its last visit failed
	ErrorSince time.Time `json:"error_since,omitzero"`
}

// FleetStats are the fleet relay's state: how the budget is spent and
// how long a sweep of the polled databases takes.
type FleetStats struct {
	Databases     []DatabaseStats `json:"databases"`
	ListenSlots   int             `json:"listen_slots"`
	VisitWorkers  int             `json:"visit_workers"` // connections visiting at once
	Sweeps        int64           `json:"sweeps"`
	LastSweep     time.Duration   `json:"last_sweep_ns"`
	LastVisited   int             `json:"last_visited"` // databases the last sweep visited (the others had not changed)
	VisitInterval time.Duration   `json:"visit_interval_ns"`
}

// Fleet returns the databases' state, by name.
func (f *FleetRelay) Fleet() FleetStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := FleetStats{ListenSlots: f.plan.listen, VisitWorkers: f.plan.workers, Sweeps: f.sweeps.Load(),
		LastSweep: time.Duration(f.lastSweep.Load()), LastVisited: int(f.lastVisited.Load()), VisitInterval: f.visitEvery}
	for name, d := range f.databases {
		s := DatabaseStats{Name: name, Listening: d.listening, Visits: d.visits, LastActive: d.lastActive, ErrorSince: d.errSince}
		if d.visitErr != nil {
			s.Error = d.visitErr.Error()
		}
		out.Databases = append(out.Databases, s)
	}
	slices.SortFunc(out.Databases, func(a, b DatabaseStats) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Run relays until ctx ends, then waits for every ledger's relay to stop
// (each waits for its publishes in flight) and returns nil.
func (f *FleetRelay) Run(ctx context.Context) error {
	defer func() {
		f.mu.Lock()
		var listening []*fleetDB
		for _, d := range f.databases {
			if d.listening {
				listening = append(listening, d)
			}
		}
		f.mu.Unlock()
		for _, d := range listening {
			f.stopListening(d)
		}
	}()
	var listed time.Time
	for ctx.Err() == nil {
		if time.Since(listed) >= f.discover {
			listed = time.Now()
			f.discoverDatabases(ctx)
			f.log.Debug("fleet relay: discovery", "took", time.Since(listed).Round(time.Millisecond).String())
		}
		f.rebalance(ctx)
		start := time.Now()
		next := listed.Add(f.discover)
		if due := f.sweep(ctx, start); !due.IsZero() && due.Before(next) {
			next = due
		}
		if !sleep(ctx, time.Until(next)) {
			break
		}
	}
	return nil
}

// discoverDatabases lists the databases: new ones are polled until
// rebalance gives them a slot, gone ones are stopped.
func (f *FleetRelay) discoverDatabases(ctx context.Context) {
	dbs, err := f.dbs.List(ctx)
	if err != nil {
		if ctx.Err() == nil {
			f.log.Warn("fleet relay: cannot list the databases; retrying", "err", err.Error(), "retry_in", f.discover.String())
		}
		return
	}
	seen := map[string]bool{}
	var gone []*fleetDB
	f.mu.Lock()
	for _, db := range dbs {
		seen[db.Name] = true
		if d, ok := f.databases[db.Name]; ok {
			d.db = db
			continue
		}
		f.databases[db.Name] = &fleetDB{db: db}
		f.log.Info("fleet relay: serving database", "database", db.Name)
	}
	for name, d := range f.databases {
		if !seen[name] {
			gone = append(gone, d)
			delete(f.databases, name)
		}
	}
	f.mu.Unlock()
	for _, d := range gone {
		f.log.Info("fleet relay: database gone", "database", d.db.Name)
		if d.listening {
			f.stopListening(d)
		}
	}
}

// rebalance spends the budget: every database LISTENs when all fit, else
// the free listen slots go to the databases appended to most recently, a
// busy polled database takes the slot of an idle listening one, and the
// rest of the budget visits the others.
func (f *FleetRelay) rebalance(ctx context.Context) {
	total, perDB := f.dbs.Budget()
	f.mu.Lock()
	n := len(f.databases)
	plan := fleetPlan{listen: n}
	if total > 0 && n*perDB > total {
		// Half the budget visits: how long a sweep of the polled databases
		// takes (the bound on their delay) depends on it, while a listening
		// slot helps one database.
		reserve := max(1, total/2)
		plan.listen = max(0, (total-reserve)/perDB)
		plan.workers = total - plan.listen*perDB
	}
	if plan != f.plan {
		if plan.workers > 0 {
			f.log.Info("fleet relay: more databases than the budget can LISTEN to; polling the others",
				"databases", n, "max_conns", total, "listening", plan.listen, "per_listening", perDB,
				"polled", n-plan.listen, "visit_conns", plan.workers, "poll_interval", f.visitEvery.String())
		} else if f.plan.workers > 0 {
			f.log.Info("fleet relay: every database fits in the budget; all LISTEN", "databases", n, "max_conns", total)
		}
		f.plan = plan
	}
	var listeners, polled []*fleetDB
	for _, d := range f.databases {
		if d.listening {
			listeners = append(listeners, d)
		} else if d.visitErr == nil {
			polled = append(polled, d)
		}
	}
	// Least recently active listeners first; most recently active polled first.
	slices.SortFunc(listeners, func(a, b *fleetDB) int {
		if c := a.lastActive.Compare(b.lastActive); c != 0 {
			return c
		}
		return strings.Compare(a.db.Name, b.db.Name)
	})
	slices.SortFunc(polled, func(a, b *fleetDB) int {
		if c := b.lastActive.Compare(a.lastActive); c != 0 {
			return c
		}
		return strings.Compare(a.db.Name, b.db.Name)
	})
	var demote, promote []*fleetDB
	for len(listeners) > plan.listen {
		demote, listeners = append(demote, listeners[0]), listeners[1:]
	}
	for len(listeners)+len(promote) < plan.listen && len(polled) > 0 {
		promote, polled = append(promote, polled[0]), polled[1:]
	}
	// A polled database is busy when two of its visits in a row found
	// appends within the window; a listening one is idle when it saw none
	// in the window. A busy one takes an idle one's slot (at most half the
	// slots change at a time), so that appends spread at random over the
	// fleet do not move the slots around.
	now, window := time.Now(), f.idleWindow()
	var busy []*fleetDB
	for _, d := range polled {
		if !d.prevActive.IsZero() && now.Sub(d.prevActive) <= window {
			busy = append(busy, d)
		}
	}
	swaps := max(1, plan.listen/2)
	for i := 0; i < len(listeners) && i < len(busy) && i < swaps; i++ {
		if now.Sub(listeners[i].lastActive) < window {
			break
		}
		demote, promote = append(demote, listeners[i]), append(promote, busy[i])
	}
	f.mu.Unlock()
	for _, d := range demote {
		f.log.Info("fleet relay: polling database (its LISTEN slot goes to a busier one)", "database", d.db.Name)
		f.stopListening(d)
	}
	for _, d := range promote {
		if plan.workers > 0 {
			f.log.Info("fleet relay: LISTENing to database", "database", d.db.Name)
		}
		f.startListening(ctx, d)
	}
}

// fullEvery is how often each polled database is visited whatever its
// activity token says: every twelve poll intervals, at least a minute.
func (f *FleetRelay) fullEvery() time.Duration { return max(12*f.visitEvery, time.Minute) }

// idleWindow is how long a listening database must have seen no append
// to give its slot to a busy polled one: ten poll intervals.
func (f *FleetRelay) idleWindow() time.Duration { return 10 * f.visitEvery }

// startListening serves d from a pool with a LISTEN, until stopListening.
func (f *FleetRelay) startListening(ctx context.Context, d *fleetDB) {
	dctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	f.mu.Lock()
	d.listening, d.stop, d.done = true, cancel, done
	db := d.db
	f.mu.Unlock()
	go func() {
		defer close(done)
		f.serve(dctx, db)
	}()
}

// stopListening stops d's relays and LISTEN, and closes its pool.
func (f *FleetRelay) stopListening(d *fleetDB) {
	f.mu.Lock()
	stop, done := d.stop, d.done
	d.listening, d.stop, d.done = false, nil, nil
	d.nextVisit = time.Time{}
	f.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	f.dbs.ClosePool(d.db.Name)
}

// noteActive records an append seen on database name.
func (f *FleetRelay) noteActive(name string) {
	f.mu.Lock()
	if d, ok := f.databases[name]; ok {
		d.prevActive, d.lastActive = d.lastActive, time.Now()
	}
	f.mu.Unlock()
}

// ledgerFor returns the ledger's relay (made at the first call; nil if its
// relay stopped for good), its store reaching the ledger through db.
func (f *FleetRelay) ledgerFor(database, schema string, db ledger.DB) (*fleetLedger, error) {
	name := DefaultName(database, schema)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed[name] != nil {
		return nil, nil
	}
	if l, ok := f.ledgers[name]; ok {
		l.store = l.store.On(db)
		l.relay.store, l.relay.db = l.store, db
		return l, nil
	}
	store, err := ledger.New(db, ledger.WithSchema(schema))
	if err != nil {
		return nil, err
	}
	r, err := NewRelay(f.js, store, db, append(slices.Clone(f.relayOpts), WithNames(NamesFor(name)))...)
	if err != nil {
		return nil, err
	}
	l := &fleetLedger{database: database, schema: schema, relay: r, store: store}
	f.ledgers[name] = l
	f.log.Info("fleet relay: relaying ledger", "ledger", name, "database", database, "schema", schema)
	return l, nil
}

// fail records that a ledger's relay stopped for good.
func (f *FleetRelay) fail(name string, err error) {
	f.log.Error("fleet relay: the ledger's relay stopped", "ledger", name, "err", err.Error())
	f.mu.Lock()
	f.failed[name] = err
	f.mu.Unlock()
}

// serve relays the ledgers of one database: it looks them up every
// discovery interval, runs a Relay for each, and LISTENs on all their
// channels on one connection.
func (f *FleetRelay) serve(ctx context.Context, db ledger.Database) {
	var wg sync.WaitGroup
	defer wg.Wait()
	pool, err := f.dbs.Pool(ctx, db.Name)
	if err != nil {
		f.log.Warn("fleet relay: cannot open the database's pool", "database", db.Name, "err", err.Error())
		return
	}
	wakes := map[string]chan struct{}{} // by channel
	served := map[string]bool{}         // by schema
	var stopListen context.CancelFunc = func() {}
	defer func() { stopListen() }()
	listening := 0
	t := time.NewTicker(f.discover)
	defer t.Stop()
	for {
		schemas, err := ledger.Ledgers(ctx, pool)
		if err != nil && ctx.Err() == nil {
			f.log.Warn("fleet relay: cannot list the ledgers; retrying", "database", db.Name, "err", err.Error())
		}
		for _, schema := range schemas {
			if db.Schemas != nil && !slices.Contains(db.Schemas, schema) {
				continue // not one of the targets
			}
			if served[schema] {
				continue
			}
			l, err := f.ledgerFor(db.Name, schema, pool)
			if err != nil {
				f.log.Error("fleet relay: ledger", "ledger", DefaultName(db.Name, schema), "err", err.Error())
				continue
			}
			if l == nil {
				continue // stopped for good
			}
			wake := make(chan struct{}, 1)
			l.relay.wake = wake
			l.relay.visitStream = nil
			wakes[l.store.Channel()] = wake
			served[schema] = true
			r, name := l.relay, DefaultName(db.Name, schema)
			wg.Go(func() {
				if err := r.Run(ctx); err != nil {
					f.fail(name, err)
				}
			})
		}
		if len(wakes) != listening {
			// (Re)LISTEN on every channel: a new ledger's too.
			stopListen()
			lctx, cancel := context.WithCancel(ctx)
			stopListen = cancel
			listening = len(wakes)
			channels := make([]string, 0, len(wakes))
			for ch := range wakes {
				channels = append(channels, ch)
			}
			byChannel := maps.Clone(wakes)
			wg.Go(func() { f.listen(lctx, db, pool, channels, byChannel) })
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// listen LISTENs on channels until ctx ends, again after a lost
// connection (waking every ledger then: notifications may have been missed).
func (f *FleetRelay) listen(ctx context.Context, db ledger.Database, pool ledger.DB, channels []string, wakes map[string]chan struct{}) {
	bo := 250 * time.Millisecond
	for {
		err := ledger.Listen(ctx, pool, channels, func(ch string, seq int64) {
			if seq > 0 {
				f.noteActive(db.Name)
			}
			if w, ok := wakes[ch]; ok {
				select {
				case w <- struct{}{}:
				default:
				}
			}
		})
		if ctx.Err() != nil {
			return
		}
		f.log.Warn("fleet relay: lost the LISTEN connection; the ledgers' relays poll until it is back", "database", db.Name, "err", err.Error(), "retry_in", bo.String())
		if !sleep(ctx, jitter(bo)) {
			return
		}
		bo = min(2*bo, 10*time.Second)
	}
}

// sweep visits every polled database that is due, with the plan's
// workers, and returns when the next one is due (zero: none is polled).
// now is when the loop woke: the databases visited now are due again at
// now plus the interval, when the loop wakes next.
func (f *FleetRelay) sweep(ctx context.Context, now time.Time) time.Time {
	f.mu.Lock()
	workers := f.plan.workers
	var due []*fleetDB
	polled := false
	for _, d := range f.databases {
		if d.listening {
			continue
		}
		polled = true
		if !d.nextVisit.After(now) {
			due = append(due, d)
		}
	}
	f.mu.Unlock()
	if len(due) == 0 {
		return f.nextDue(polled)
	}
	workers = max(1, workers)
	// Which databases were written to: the others are left until the
	// next sweep, unless their last visit is fullEvery old.
	var tokens map[string]string
	if ar, ok := f.dbs.(ActivityReader); ok {
		var err error
		if tokens, err = ar.Activity(ctx); err != nil && ctx.Err() == nil {
			f.activityNote.Do(func() {
				f.log.Warn("fleet relay: cannot tell which databases changed; visiting every polled one at each sweep", "err", err.Error())
			})
		}
	}
	f.mu.Lock()
	kept := due[:0]
	for _, d := range due {
		tok, ok := tokens[d.db.Name]
		if ok && tok == d.activity && d.visitErr == nil && now.Sub(d.visitedAt) < f.fullEvery() {
			d.nextVisit = now.Add(f.visitEvery)
			continue
		}
		d.activity = tok
		kept = append(kept, d)
	}
	due = kept
	f.mu.Unlock()
	slices.SortFunc(due, func(a, b *fleetDB) int {
		if c := a.nextVisit.Compare(b.nextVisit); c != 0 {
			return c
		}
		return strings.Compare(a.db.Name, b.db.Name)
	})
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for _, d := range due {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			f.visit(ctx, d, now)
		})
	}
	wg.Wait()
	took := time.Since(now)
	f.lastVisited.Store(int64(len(due)))
	f.log.Debug("fleet relay: sweep", "visited", len(due), "took", took.Round(time.Millisecond).String())
	f.sweeps.Add(1)
	f.lastSweep.Store(int64(took))
	if took > f.visitEvery && ctx.Err() == nil {
		f.log.Warn("fleet relay: a sweep of the polled databases takes longer than the poll interval; each is visited once a sweep",
			"databases", len(due), "took", took.Round(time.Millisecond).String(), "poll_interval", f.visitEvery.String(), "visit_conns", workers)
	}
	return f.nextDue(true)
}

// nextDue is when the first polled database is due (zero: none is polled).
func (f *FleetRelay) nextDue(polled bool) time.Time {
	if !polled {
		return time.Time{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var first time.Time
	for _, d := range f.databases {
		if !d.listening && (first.IsZero() || d.nextVisit.Before(first)) {
			first = d.nextVisit
		}
	}
	return first
}

// visit reads the heads of all the ledgers of d on one connection, and
// publishes what each ledger's stream lacks.
func (f *FleetRelay) visit(ctx context.Context, d *fleetDB, sweepStart time.Time) {
	start := time.Now()
	f.mu.Lock()
	db, known := d.db, d.known
	f.mu.Unlock()
	active, found, pending := false, 0, false
	err := f.dbs.Visit(ctx, db.Name, func(conn ledger.DB) error {
		heads, err := ledger.LedgerHeads(ctx, conn, known)
		if err != nil {
			return err
		}
		known = known[:0:0]
		for _, h := range heads {
			if db.Schemas != nil && !slices.Contains(db.Schemas, h.Schema) {
				continue // not one of the targets
			}
			known = append(known, h.Schema)
			found++
			l, err := f.ledgerFor(db.Name, h.Schema, conn)
			if err != nil {
				f.log.Error("fleet relay: ledger", "ledger", DefaultName(db.Name, h.Schema), "err", err.Error())
				continue
			}
			if l == nil {
				continue // stopped for good
			}
			r := l.relay
			if l.seenHead > 0 && h.Seq > l.seenHead {
				active = true
			}
			l.seenHead = h.Seq
			r.noteHead(h.Seq)
			if r.sightingsDue(start) {
				if err := r.sightingsTurn(ctx, l.store); err != nil && ctx.Err() == nil {
					f.log.Warn("fleet relay: cannot publish the check-ins now", "ledger", r.names.Prefix, "err", err.Error())
				}
			}
			if r.visitStream != nil && h.Seq <= r.streamSeq.Load() {
				continue // the stream holds the ledger
			}
			f.log.Debug("fleet relay: visit publishes", "ledger", r.names.Prefix, "head", h.Seq, "stream", r.streamSeq.Load())
			if err := r.catchUp(ctx, l.store); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if fatal(err) {
					f.fail(DefaultName(db.Name, h.Schema), err)
					continue
				}
				pending = true // visit it again next sweep, changed or not
				if errors.Is(err, ledger.ErrNotInitialized) {
					continue
				}
				f.log.Warn("fleet relay: cannot publish the ledger now; retrying at the next visit", "ledger", DefaultName(db.Name, h.Schema), "err", err.Error())
			}
		}
		return nil
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	d.visits++
	d.visitedAt = start
	next := f.visitEvery
	if found == 0 && err == nil {
		next = max(next, f.discover) // no ledger there yet: look again at each discovery
	}
	d.nextVisit = sweepStart.Add(next)
	if active {
		d.prevActive, d.lastActive = d.lastActive, time.Now()
	}
	if err == nil {
		d.known = known
	}
	if err != nil || pending {
		d.activity = "" // visit it again next time
	}
	switch {
	case ctx.Err() != nil:
	case err != nil && (d.visitErr == nil || d.visitErr.Error() != err.Error()):
		f.log.Warn("fleet relay: cannot reach the database; its ledgers wait, the others go on (retrying at each visit)",
			"database", db.Name, "err", err.Error(), "retry_in", next.String())
		if d.visitErr == nil {
			d.errSince = time.Now()
		}
		d.visitErr = err
	case err == nil && d.visitErr != nil:
		f.log.Info("fleet relay: the database is reachable again", "database", db.Name, "unreachable_for", time.Since(d.errSince).Round(time.Millisecond).String())
		d.visitErr, d.errSince = nil, time.Time{}
	}
}
