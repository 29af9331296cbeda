package watch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
	"github.com/schema-ledger/ledger/policy"
)

// ReleaseGuard is a release a fleet watcher guards on every ledger.
type ReleaseGuard struct {
	Manifest policy.Manifest
	Policy   policy.Policy
}

func (r ReleaseGuard) key() string {
	d := r.Manifest.Digest()
	return r.Manifest.AppVersion + "|" + r.Policy.String() + "|" + hex.EncodeToString(d[:])
}

// The fleet watcher's alerts stream and subjects, and the bucket of its
// durable positions.
const (
	FleetAlertStream   = "LEDGER_FLEET_ALERTS"
	FleetAlertPrefix   = "ledger_fleet.alerts"
	PositionsBucket    = "ledger_watch_positions"
	DefaultGroupWindow = 2 * time.Second
)

// FleetWatcher follows every ledger's stream on the server (or those
// named) with one subscription, and guards on each ledger the releases
// seen checking in there (the relays' check-ins) plus the releases given.
// Alerts are states, judged per ledger after its stream catches up with a
// burst (as Watcher's); the same cause on many ledgers within the group
// window is one alert naming them all, and a ledger with that cause later
// updates the group. With a durable name its position and what it
// alerted are kept in a bucket after each judgement: restarted, it reads
// each stream from where it stopped and alerts nothing again.
//
// Safe for concurrent use; Run runs once.
type FleetWatcher struct {
	sinks
	only      map[string]bool // ledger names; nil: all
	releases  []ReleaseGuard
	seen      bool // guard the releases seen checking in
	window    time.Duration
	settle    time.Duration
	durable   string
	guardOpts []GuardOption
	replicas  int

	mu      sync.Mutex
	ledgers map[string]*fleetLedger
	changed chan struct{} // closed and replaced at every judgement
	groups  map[string]*group
	// sightings are the check-ins read, by ledger name (written by Run's
	// loop only, after the first catch-up).
	sightings map[string]natsbus.Sightings
}

type fleetLedger struct {
	name    string
	names   natsbus.Names
	base    *Guard            // folds every event; judged for nothing
	guards  map[string]*Guard // by release key
	judgeAt time.Time         // zero: nothing to judge
	judged  int64             // the last seq judged
	dueAt   time.Time         // an in-doubt grace ends
	saved   int64             // the seq of the last snapshot saved
	// held counts this ledger's judged alerts still waiting in a group's
	// window (or a group's pending update): its position is not saved
	// until they are stored, so a watcher killed in the window judges
	// them again after its restart instead of forgetting them.
	held int
}

type group struct {
	alert   Alert
	opened  time.Time
	emitted bool
	dirty   bool // ledgers joined since it was alerted: one update at the next flush
	ledgers []string
	holding []*fleetLedger // ledgers whose alerts wait for this group's next emit
}

// FleetOption configures a FleetWatcher.
type FleetOption func(*FleetWatcher) error

// OnlyLedgers limits the watcher to these ledgers (names as in NATS).
func OnlyLedgers(names ...string) FleetOption {
	return func(w *FleetWatcher) error {
		w.only = map[string]bool{}
		for _, n := range names {
			w.only[natsbus.Sanitize(n)] = true
		}
		return nil
	}
}

// GuardReleases guards these releases on every ledger (--manifest).
func GuardReleases(rs ...ReleaseGuard) FleetOption {
	return func(w *FleetWatcher) error { w.releases = append(w.releases, rs...); return nil }
}

// GuardSeenReleases says whether the releases seen checking in on a
// ledger are guarded there (default true).
func GuardSeenReleases(on bool) FleetOption {
	return func(w *FleetWatcher) error { w.seen = on; return nil }
}

// WithGroupWindow sets how long alerts of the same cause on other ledgers
// are gathered into one (default DefaultGroupWindow; 0 alerts each at once).
func WithGroupWindow(d time.Duration) FleetOption {
	return func(w *FleetWatcher) error {
		if d < 0 {
			return fmt.Errorf("group window: want 0 or more, got %s", d)
		}
		w.window = d
		return nil
	}
}

// WithDurable keeps the watcher's position and alerted states in the
// bucket PositionsBucket under name, to resume after a restart.
func WithDurable(name string) FleetOption {
	return func(w *FleetWatcher) error {
		if name == "" || strings.ContainsAny(name, ".*> ") {
			return fmt.Errorf("durable name %q: want letters, digits, - or _", name)
		}
		w.durable = name
		return nil
	}
}

// FleetOutput writes one line per alert to out (JSON when asJSON).
func FleetOutput(out io.Writer, asJSON bool) FleetOption {
	return func(w *FleetWatcher) error { w.out, w.json = out, asJSON; return nil }
}

// FleetWebhook POSTs each alert as JSON to url, as WithWebhook.
func FleetWebhook(url string, attempts int, first time.Duration) FleetOption {
	return func(w *FleetWatcher) error { return w.setWebhook(url, attempts, first) }
}

// FleetLogger sets where the watcher logs.
func FleetLogger(l *slog.Logger) FleetOption {
	return func(w *FleetWatcher) error { w.log = l; return nil }
}

// FleetSettle is WithSettle for every ledger.
func FleetSettle(d time.Duration) FleetOption {
	return func(w *FleetWatcher) error {
		if d < 0 {
			return fmt.Errorf("settle: want 0 or more, got %s", d)
		}
		w.settle = d
		return nil
	}
}

// FleetGuardOptions are given to every guard (in-doubt grace, clock).
func FleetGuardOptions(opts ...GuardOption) FleetOption {
	return func(w *FleetWatcher) error { w.guardOpts = append(w.guardOpts, opts...); return nil }
}

// FleetReplicas keeps the alerts stream and the positions bucket on n
// servers of a JetStream cluster.
func FleetReplicas(n int) FleetOption {
	return func(w *FleetWatcher) error {
		if n < 1 || n > 5 {
			return fmt.Errorf("replicas: want 1 to 5, got %d", n)
		}
		w.replicas = n
		return nil
	}
}

// NewFleet returns a fleet watcher over js.
func NewFleet(js jetstream.JetStream, opts ...FleetOption) (*FleetWatcher, error) {
	w := &FleetWatcher{sinks: newSinks(js), seen: true, window: DefaultGroupWindow, settle: DefaultSettle,
		ledgers: map[string]*fleetLedger{}, changed: make(chan struct{}), groups: map[string]*group{}, sightings: map[string]natsbus.Sightings{}}
	for _, o := range opts {
		if err := o(w); err != nil {
			return nil, err
		}
	}
	if !w.seen && len(w.releases) == 0 {
		return nil, errors.New("watch: nothing to guard: give a release (a manifest) or guard the releases seen checking in")
	}
	w.sinks.subject = func(a Alert) string { return FleetAlertPrefix + "." + string(a.Kind) }
	w.sinks.line = Alert.FleetLine
	return w, nil
}

// AlertStreamConfig is the stream the fleet's alerts are published to.
func (w *FleetWatcher) AlertStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name: FleetAlertStream, Description: "alerts of `ledger watch --all` (grouped by cause, deduplicated by Nats-Msg-Id)",
		Subjects: []string{FleetAlertPrefix + ".>"}, Storage: jetstream.FileStorage, Duplicates: DuplicateWindow, Replicas: max(1, w.replicas),
	}
}

// position is what the durable bucket keeps per ledger.
type position struct {
	Seq    int64                 `json:"seq"`
	Base   GuardSnapshot         `json:"base"`
	Guards map[string]savedGuard `json:"guards"`
}

// savedGuard is one release guarded on a ledger, with its state.
type savedGuard struct {
	Manifest policy.Manifest `json:"manifest"`
	Policy   string          `json:"policy"`
	Guard    GuardSnapshot   `json:"guard"`
}

// Ledgers is how many ledgers the watcher follows.
func (w *FleetWatcher) Ledgers() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.ledgers)
}

// WaitJudged blocks until the ledger's events through seq are judged and
// their alerts handed to the grouping (or ctx ends).
func (w *FleetWatcher) WaitJudged(ctx context.Context, ledgerName string, seq int64) error {
	for {
		w.mu.Lock()
		l, ch := w.ledgers[ledgerName], w.changed
		done := l != nil && l.judged >= seq
		w.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Run follows the ledgers until ctx ends, then saves the positions and
// returns nil.
func (w *FleetWatcher) Run(ctx context.Context) error {
	if _, err := w.js.CreateOrUpdateStream(ctx, w.AlertStreamConfig()); err != nil {
		return fmt.Errorf("alerts stream %s: %w", FleetAlertStream, err)
	}
	var kv jetstream.KeyValue
	if w.durable != "" {
		var err error
		kv, err = w.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: PositionsBucket,
			Description: "positions of `ledger watch --all --durable` watchers", History: 1, Storage: jetstream.FileStorage, Replicas: max(1, w.replicas)})
		if err != nil {
			return fmt.Errorf("positions bucket %s: %w", PositionsBucket, err)
		}
	}
	live := make(chan *nats.Msg, 1<<16)
	sub, err := w.js.Conn().ChanSubscribe("ledger.*.events.>", live)
	if err != nil {
		return fmt.Errorf("subscribe to the ledgers' events: %w", err)
	}
	defer sub.Unsubscribe()
	_ = sub.SetPendingLimits(-1, -1)
	var sightings <-chan jetstream.KeyValueEntry
	if w.seen {
		if skv, err := natsbus.SightingsKV(ctx, w.js, w.replicas); err == nil {
			if watcher, err := skv.WatchAll(ctx); err == nil {
				defer watcher.Stop()
				sightings = watcher.Updates()
			}
		} else {
			w.log.Warn("watch: no check-ins bucket; guarding the releases given only", "err", err.Error())
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	w.startHooks(runCtx, &wg)

	w.sightings = map[string]natsbus.Sightings{}
	if w.seen {
		seen, err := natsbus.ReadSightings(ctx, w.js)
		if err != nil {
			return err
		}
		w.sightings = seen
	}
	// Every ledger there now, caught up in parallel.
	var streams []string
	names := w.js.StreamNames(ctx, jetstream.WithStreamListSubject("ledger.*.events.>"))
	for n := range names.Name() {
		if strings.HasPrefix(n, "LEDGER_") && !strings.HasSuffix(n, "_ALERTS") {
			streams = append(streams, strings.TrimPrefix(n, "LEDGER_"))
		}
	}
	work := make(chan string)
	var cwg sync.WaitGroup
	for range 16 {
		cwg.Go(func() {
			for name := range work {
				if err := w.open(ctx, kv, name); err != nil && ctx.Err() == nil {
					w.log.Warn("watch: ledger", "ledger", name, "err", err.Error())
				}
			}
		})
	}
	for _, n := range streams {
		work <- n
	}
	close(work)
	cwg.Wait()
	w.log.Info("watch: following the fleet", "ledgers", w.Ledgers())

	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	defer w.saveAll(context.WithoutCancel(ctx), kv)
	for {
		select {
		case <-ctx.Done():
			w.flushGroups(context.WithoutCancel(ctx), kv, true)
			return nil
		case m := <-live:
			w.onMessage(ctx, kv, m)
		case e := <-sightings:
			if e != nil && e.Operation() == jetstream.KeyValuePut {
				w.onSightings(e)
			}
		case <-tick.C:
			w.judgeDue(ctx, kv)
			w.flushGroups(ctx, kv, false)
		}
	}
}

// open starts following a ledger: from its saved position, or from its
// stream's start.
func (w *FleetWatcher) open(ctx context.Context, kv jetstream.KeyValue, name string) error {
	if w.only != nil && !w.only[name] {
		return nil
	}
	w.mu.Lock()
	if _, ok := w.ledgers[name]; ok {
		w.mu.Unlock()
		return nil
	}
	w.mu.Unlock()
	l := &fleetLedger{name: name, names: natsbus.NamesFor(name), guards: map[string]*Guard{},
		base: NewGuard(policy.Manifest{}, policy.Strict, w.guardOpts...)}
	for _, r := range w.releases {
		l.guards[r.key()] = NewGuard(r.Manifest, r.Policy, w.guardOpts...)
	}
	if kv != nil {
		if e, err := kv.Get(ctx, w.durable+"."+name); err == nil {
			var p position
			if err := json.Unmarshal(e.Value(), &p); err != nil {
				return fmt.Errorf("saved position: %w", err)
			}
			l.base.Restore(p.Base)
			for key, sg := range p.Guards {
				g, ok := l.guards[key]
				if !ok {
					pol, err := policy.Parse(sg.Policy)
					if err != nil {
						continue
					}
					g = NewGuard(sg.Manifest, pol, w.guardOpts...)
					l.guards[key] = g
				}
				g.Restore(sg.Guard)
			}
			l.judged, l.saved = p.Seq, p.Seq
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("saved position: %w", err)
		}
	}
	if err := w.catchUp(ctx, l); err != nil {
		return err
	}
	for _, g := range l.guards {
		g.Live()
	}
	l.base.Live()
	if sg, ok := w.sightings[name]; ok && w.seen {
		w.guardSeen(l, sg)
	}
	w.mu.Lock()
	w.ledgers[name] = l
	l.judgeAt = time.Now() // judge what the catch-up found
	w.mu.Unlock()
	return nil
}

// catchUp folds what the stream holds after the ledger's seq.
func (w *FleetWatcher) catchUp(ctx context.Context, l *fleetLedger) error {
	for ev, err := range natsbus.ReadEvents(ctx, w.js, l.names, l.base.Seq()) {
		if err != nil {
			return err
		}
		if err := w.fold(l, ev); err != nil {
			return err
		}
	}
	return nil
}

func (w *FleetWatcher) fold(l *fleetLedger, ev ledger.Event) error {
	if err := l.base.Fold(ev); err != nil {
		return fmt.Errorf("fold seq %d: %w", ev.Seq, err)
	}
	for _, g := range l.guards {
		if g.Seq() < ev.Seq {
			if err := g.Fold(ev); err != nil {
				return fmt.Errorf("fold seq %d: %w", ev.Seq, err)
			}
		}
	}
	return nil
}

// onMessage folds a live event; a gap (messages the subscription missed)
// is read from the stream.
func (w *FleetWatcher) onMessage(ctx context.Context, kv jetstream.KeyValue, m *nats.Msg) {
	parts := strings.Split(m.Subject, ".")
	if len(parts) < 4 {
		return
	}
	name := parts[1]
	w.mu.Lock()
	l, ok := w.ledgers[name]
	w.mu.Unlock()
	if !ok {
		if w.only != nil && !w.only[name] {
			return
		}
		// A ledger that appeared (a new tenant): its stream holds this event.
		if err := w.open(ctx, kv, name); err != nil && ctx.Err() == nil {
			w.log.Warn("watch: new ledger", "ledger", name, "err", err.Error())
		}
		return
	}
	ev, err := natsbus.DecodeMsg(m.Subject, m.Header, m.Data, 0)
	if err != nil {
		w.log.Warn("watch: a message that is not a ledger event", "subject", m.Subject, "err", err.Error())
		return
	}
	// Folding is Run's loop's alone; w.mu guards what other goroutines read.
	switch {
	case ev.Seq <= l.base.Seq():
		return // seen (read from the stream already)
	case ev.Seq > l.base.Seq()+1:
		err = w.catchUp(ctx, l)
	default:
		err = w.fold(l, ev)
	}
	if err != nil {
		w.log.Warn("watch: ledger", "ledger", name, "err", err.Error())
		return
	}
	w.mu.Lock()
	if ev.Type == "schema.fingerprinted" || w.settle == 0 {
		l.judgeAt = time.Now()
	} else {
		l.judgeAt = time.Now().Add(w.settle)
	}
	w.mu.Unlock()
}

// onSightings guards the releases newly seen checking in on a ledger.
func (w *FleetWatcher) onSightings(e jetstream.KeyValueEntry) {
	var s natsbus.Sightings
	if json.Unmarshal(e.Value(), &s) != nil {
		return
	}
	w.sightings[e.Key()] = s
	w.mu.Lock()
	defer w.mu.Unlock()
	if l, ok := w.ledgers[e.Key()]; ok {
		w.guardSeen(l, s)
	}
}

func (w *FleetWatcher) guardSeen(l *fleetLedger, s natsbus.Sightings) {
	for _, r := range s.Releases {
		if !r.Stored || len(r.IDs) != len(r.Checksums) {
			continue // its manifest is not known (yet): nothing to judge by
		}
		p, err := policy.Parse(r.Policy)
		if err != nil {
			continue
		}
		m := policy.Manifest{AppVersion: r.AppVersion}
		for i, id := range r.IDs {
			m.Migrations = append(m.Migrations, policy.Known{ID: id, Checksum: r.Checksums[i]})
		}
		rg := ReleaseGuard{Manifest: m, Policy: p}
		if _, ok := l.guards[rg.key()]; ok {
			continue
		}
		g := NewGuard(m, p, w.guardOpts...)
		snap := l.base.Snapshot()
		snap.Alerted = nil
		g.Restore(snap)
		g.Live()
		l.guards[rg.key()] = g
		l.judgeAt = time.Now()
	}
}

// judgeDue judges the ledgers whose burst has settled (or whose in-doubt
// grace ended), hands the alerts to the grouping and saves the positions.
func (w *FleetWatcher) judgeDue(ctx context.Context, kv jetstream.KeyValue) {
	now := time.Now()
	var save []*fleetLedger
	w.mu.Lock()
	for _, l := range w.ledgers {
		due := !l.judgeAt.IsZero() && !now.Before(l.judgeAt) || !l.dueAt.IsZero() && !now.Before(l.dueAt)
		if !due {
			continue
		}
		l.judgeAt, l.dueAt = time.Time{}, time.Time{}
		keys := make([]string, 0, len(l.guards))
		for k := range l.guards {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			g := l.guards[k]
			for _, a := range g.Judge() {
				a.Ledger = l.name
				w.addToGroup(a, l, now)
			}
			if d := g.NextDue(); !d.IsZero() && (l.dueAt.IsZero() || d.Before(l.dueAt)) {
				l.dueAt = d
			}
		}
		l.judged = l.base.Seq()
		save = append(save, l)
	}
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
	if w.window == 0 {
		w.flushGroups(ctx, kv, false)
	}
	w.saveSome(ctx, kv, save)
}

// addToGroup puts an alert of ledger l in the group of its cause (w.mu
// held); l is held unsaved until the group's next emit.
func (w *FleetWatcher) addToGroup(a Alert, l *fleetLedger, now time.Time) {
	key := strings.Join([]string{a.Release, a.Policy, string(a.Kind), string(a.Status), a.Cause}, "|")
	g, ok := w.groups[key]
	if ok && now.Sub(g.opened) > groupTTL(w.window) {
		ok = false
	}
	if !ok {
		g = &group{alert: a, opened: now}
		w.groups[key] = g
	}
	if slices.Contains(g.ledgers, a.Ledger) {
		return
	}
	g.ledgers = append(g.ledgers, a.Ledger)
	g.holding = append(g.holding, l)
	l.held++
	if g.emitted {
		g.alert, g.dirty = a, true // the newest facts; one update per flush
	}
}

// groupTTL is how long a group takes in ledgers after it was alerted.
func groupTTL(window time.Duration) time.Duration { return max(time.Hour, 100*window) }

// grouped is the alert of a group (w.mu held).
func (w *FleetWatcher) grouped(key string, g *group, update bool) Alert {
	a := g.alert
	if len(g.ledgers) == 1 && !update {
		a.Ledger = g.ledgers[0]
		return a
	}
	h := sha256.Sum256(fmt.Appendf(nil, "%s|%d", key, g.opened.UnixNano()))
	a.Group, a.Ledger, a.Update = hex.EncodeToString(h[:8]), "", update
	a.Ledgers, a.Count = slices.Clone(g.ledgers), len(g.ledgers)
	a.Message = fmt.Sprintf("on %d ledgers: %s", len(g.ledgers), a.Message)
	return a
}

// flushGroups emits the groups whose window passed (all, at the end) and
// the updates pending, then saves the positions of the ledgers no alert
// holds any more.
func (w *FleetWatcher) flushGroups(ctx context.Context, kv jetstream.KeyValue, all bool) {
	now := time.Now()
	w.mu.Lock()
	var out []Alert
	var released []*fleetLedger
	for key, g := range w.groups {
		emit := false
		if !g.emitted && (all || now.Sub(g.opened) >= w.window) {
			g.emitted, emit = true, true
			out = append(out, w.grouped(key, g, false))
		}
		if g.dirty {
			g.dirty, emit = false, true
			out = append(out, w.grouped(key, g, true))
		}
		if emit {
			released = append(released, g.holding...)
			g.holding = nil
		}
		if g.emitted && now.Sub(g.opened) > groupTTL(w.window) {
			delete(w.groups, key)
		}
	}
	w.mu.Unlock()
	slices.SortFunc(out, func(a, b Alert) int {
		return strings.Compare(a.Ledger+a.Group+string(a.Kind), b.Ledger+b.Group+string(b.Kind))
	})
	w.sinks.emit(ctx, out)
	if ctx.Err() != nil {
		return // not known to be stored: the saved positions judge them again
	}
	w.mu.Lock()
	for _, l := range released {
		l.held--
	}
	w.mu.Unlock()
	w.saveSome(ctx, kv, released)
}

// saveSome saves the positions of those ledgers no alert in a window holds.
func (w *FleetWatcher) saveSome(ctx context.Context, kv jetstream.KeyValue, ls []*fleetLedger) {
	if kv == nil {
		return
	}
	for _, l := range ls {
		w.mu.Lock()
		held := l.held > 0
		w.mu.Unlock()
		if !held {
			w.save(ctx, kv, l)
		}
	}
}

func (w *FleetWatcher) save(ctx context.Context, kv jetstream.KeyValue, l *fleetLedger) {
	w.mu.Lock()
	if l.saved == l.judged && l.judged == l.base.Seq() {
		w.mu.Unlock()
		return
	}
	p := position{Seq: l.judged, Base: l.base.Snapshot(), Guards: map[string]savedGuard{}}
	for k, g := range l.guards {
		p.Guards[k] = savedGuard{Manifest: g.known, Policy: g.policy.String(), Guard: g.Snapshot()}
	}
	w.mu.Unlock()
	data, err := json.Marshal(p)
	if err != nil {
		w.log.Error("watch: encode position", "ledger", l.name, "err", err.Error())
		return
	}
	if _, err := kv.Put(ctx, w.durable+"."+l.name, data); err != nil {
		w.log.Warn("watch: save position", "ledger", l.name, "err", err.Error())
		return
	}
	w.mu.Lock()
	l.saved = p.Seq
	w.mu.Unlock()
}

func (w *FleetWatcher) saveAll(ctx context.Context, kv jetstream.KeyValue) {
	if kv == nil {
		return
	}
	w.mu.Lock()
	ls := make([]*fleetLedger, 0, len(w.ledgers))
	for _, l := range w.ledgers {
		ls = append(ls, l)
	}
	w.mu.Unlock()
	w.saveSome(ctx, kv, ls)
}

// Guarded lists the releases (app versions) guarded on a ledger.
func (w *FleetWatcher) Guarded(ledgerName string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	l, ok := w.ledgers[ledgerName]
	if !ok {
		return nil
	}
	var out []string
	for _, g := range l.guards {
		out = append(out, g.known.AppVersion)
	}
	slices.Sort(out)
	return out
}
