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
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/ledger"
)

// DatabaseLister lists a fleet's databases, each with a pool; a
// FleetRelay asks again every discovery interval (ledger.Databases).
type DatabaseLister interface {
	List(ctx context.Context) ([]ledger.Database, error)
}

// FleetRelay relays every ledger of many databases from one process: per
// database one connection LISTENs on the channels of all its ledgers and
// wakes their relays, which read through that database's pool, so the
// connections are the pools' and not one per ledger. Each ledger is a
// Relay of its own with every guarantee of one (stream seq = ledger seq,
// exactly once and in order beside any number of relays, resume from the
// stream, a foreign stream refused) on stream LEDGER_<database>_<schema>.
// Ledgers and databases that appear later are picked up at the next
// discovery. A ledger whose relay stops on an error that retrying cannot
// fix (a foreign stream) is logged and left stopped; the others go on.
//
// Safe for concurrent use; Run runs once.
type FleetRelay struct {
	js        jetstream.JetStream
	dbs       DatabaseLister
	log       *slog.Logger
	discover  time.Duration
	relayOpts []RelayOption

	mu      sync.Mutex
	ledgers map[string]*fleetLedger // by ledger name (DefaultName)
	failed  map[string]error
}

type fleetLedger struct {
	database, schema string
	relay            *Relay
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
	f := &FleetRelay{js: js, dbs: dbs, log: slog.New(slog.DiscardHandler), discover: 10 * time.Second,
		ledgers: map[string]*fleetLedger{}, failed: map[string]error{}}
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

// Run relays until ctx ends, then waits for every ledger's relay to stop
// (each waits for its publishes in flight) and returns nil. It returns an
// error only when the databases cannot be listed at the start for a
// reason that waiting cannot fix (ledger.ErrBudget).
func (f *FleetRelay) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	running := map[string]context.CancelFunc{} // by database
	defer func() {
		for _, cancel := range running {
			cancel()
		}
	}()
	t := time.NewTicker(f.discover)
	defer t.Stop()
	for {
		dbs, err := f.dbs.List(ctx)
		switch {
		case errors.Is(err, ledger.ErrBudget):
			return err
		case err != nil && ctx.Err() == nil:
			f.log.Warn("fleet relay: cannot list the databases; retrying", "err", err.Error(), "retry_in", f.discover.String())
		case err == nil:
			seen := map[string]bool{}
			for _, db := range dbs {
				seen[db.Name] = true
				if _, ok := running[db.Name]; ok {
					continue
				}
				dctx, cancel := context.WithCancel(ctx)
				running[db.Name] = cancel
				f.log.Info("fleet relay: serving database", "database", db.Name)
				wg.Go(func() { f.serve(dctx, db) })
			}
			for name, cancel := range running {
				if !seen[name] {
					f.log.Info("fleet relay: database gone", "database", name)
					cancel()
					delete(running, name)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// serve relays the ledgers of one database: it looks them up every
// discovery interval, runs a Relay for each, and LISTENs on all their
// channels on one connection.
func (f *FleetRelay) serve(ctx context.Context, db ledger.Database) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wakes := map[string]chan struct{}{} // by channel
	var stopListen context.CancelFunc = func() {}
	defer func() { stopListen() }()
	listening := 0
	t := time.NewTicker(f.discover)
	defer t.Stop()
	for {
		schemas, err := ledger.Ledgers(ctx, db.DB)
		if err != nil && ctx.Err() == nil {
			f.log.Warn("fleet relay: cannot list the ledgers; retrying", "database", db.Name, "err", err.Error())
		}
		for _, schema := range schemas {
			if db.Schemas != nil && !slices.Contains(db.Schemas, schema) {
				continue // not one of the targets
			}
			store, err := ledger.New(db.DB, ledger.WithSchema(schema))
			if err != nil {
				continue
			}
			if _, ok := wakes[store.Channel()]; ok {
				continue
			}
			name := DefaultName(db.Name, schema)
			wake := make(chan struct{}, 1)
			r, err := NewRelay(f.js, store, db.DB, append(slices.Clone(f.relayOpts), WithNames(NamesFor(name)))...)
			if err != nil {
				f.log.Error("fleet relay: ledger", "ledger", name, "err", err.Error())
				continue
			}
			r.wake = wake
			wakes[store.Channel()] = wake
			f.mu.Lock()
			f.ledgers[name] = &fleetLedger{database: db.Name, schema: schema, relay: r}
			f.mu.Unlock()
			f.log.Info("fleet relay: relaying ledger", "ledger", name, "database", db.Name, "schema", schema)
			wg.Go(func() {
				if err := r.Run(ctx); err != nil {
					f.log.Error("fleet relay: the ledger's relay stopped", "ledger", name, "err", err.Error())
					f.mu.Lock()
					f.failed[name] = err
					f.mu.Unlock()
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
			wg.Go(func() { f.listen(lctx, db, channels, byChannel) })
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
func (f *FleetRelay) listen(ctx context.Context, db ledger.Database, channels []string, wakes map[string]chan struct{}) {
	bo := 250 * time.Millisecond
	for {
		err := ledger.Listen(ctx, db.DB, channels, func(ch string, _ int64) {
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
