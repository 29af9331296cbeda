package watch

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// DefaultInDoubtGrace is how long a no-transaction migration may run
// (started, not finished, nothing after it in the ledger) before it is
// alerted as in doubt.
const DefaultInDoubtGrace = time.Minute

// Guard folds a ledger's events and judges, when asked (Judge: after the
// stream has caught up with a burst), the states of the ledger for one
// release under its policy: the unknown migrations it refuses, checksum
// mismatches, failed and in-doubt migrations, unaccepted drift. A state
// that appears or changes raises one alert stating it whole; one that ends
// raises a recovered alert; one that holds raises nothing. A Guard is not
// safe for concurrent use.
type Guard struct {
	known   policy.Manifest
	policy  policy.Policy
	state   projector.State
	verdict policy.Verdict
	judged  bool

	// touched is, per migration id, the last event that named it: the seq
	// a state made of those migrations is identified by.
	touched map[string]int64
	// last is the last event folded that is not a migration's progress: a
	// started migration with a later event than itself is in doubt at once.
	last  int64
	at    time.Time // when the last event folded was recorded
	grace time.Duration
	now   func() time.Time
	live  bool                // events folded now are seen as they happen
	seen  map[int64]time.Time // migration.started seq -> when a live guard folded it
	// failures are the seqs of migration.failed events: a failure an
	// operator recorded with resolve --failed is a decision, not an alert.
	failures map[int64]bool

	// drifts are the unaccepted changes made outside the migrations, in
	// the order seen; an accepted drift clears them (acceptedSeq).
	drifts      []Drift
	acceptedSeq int64
	moved       int64 // the last event that may have changed the schema through a migration
	// readsCatalog: the watcher reads the schema itself (SchemaFound), so
	// captured DDL (ddl) attributes the drift it finds instead of being a
	// drift of its own.
	readsCatalog bool
	ddl          *Drift

	alerted  map[Kind]raised // the last firing state alerted, per kind
	knownIDs map[string]bool
}

// raised is a state that was alerted.
type raised struct {
	State  string  `json:"state"`
	Cause  string  `json:"cause"`
	Facts  []Fact  `json:"facts,omitempty"`
	Drifts []Drift `json:"drifts,omitempty"`
}

// GuardOption configures a Guard.
type GuardOption func(*Guard)

// WithInDoubtGrace sets how long a started migration may run before it is
// in doubt (default DefaultInDoubtGrace).
func WithInDoubtGrace(d time.Duration) GuardOption { return func(g *Guard) { g.grace = d } }

// WithClock sets the guard's clock (default time.Now).
func WithClock(now func() time.Time) GuardOption { return func(g *Guard) { g.now = now } }

// NewGuard guards the release known under policy p.
func NewGuard(known policy.Manifest, p policy.Policy, opts ...GuardOption) *Guard {
	g := &Guard{
		known: known, policy: p, state: projector.NewState(),
		touched: map[string]int64{}, seen: map[int64]time.Time{}, failures: map[int64]bool{},
		alerted: map[Kind]raised{}, grace: DefaultInDoubtGrace, now: time.Now,
	}
	for _, o := range opts {
		o(g)
	}
	return g
}

// State is the fold of the events so far.
func (g *Guard) State() projector.State { return g.state }

// Seq is the last event folded.
func (g *Guard) Seq() int64 { return g.state.Seq }

// Release is the guarded app version.
func (g *Guard) Release() string { return g.known.AppVersion }

// Verdict is the release's verdict after the events so far.
func (g *Guard) Verdict() policy.Verdict {
	if !g.judged {
		g.verdict = policy.Evaluate(g.known, g.state, g.policy)
		g.judged = true
	}
	return g.verdict
}

// Live tells the guard that the events it folds from now on are seen as
// they happen (the stream has caught up): a migration started now is given
// the grace period from now, not from when it was recorded.
func (g *Guard) Live() { g.live = true }

// Fold applies an event without judging it.
func (g *Guard) Fold(ev projector.Event) error {
	if _, err := projector.Step(&g.state, ev); err != nil {
		return err
	}
	g.judged = false
	g.at = ev.RecordedAt
	for _, id := range projector.IDs(ev) {
		g.touched[id] = ev.Seq
	}
	if ev.Type != projector.TypeMigrationProgressed {
		g.last = ev.Seq
	}
	switch ev.Type {
	case projector.TypeMigrationApplied, projector.TypeMigrationReverted, projector.TypeMigrationStarted,
		projector.TypeMigrationFailed, projector.TypeMigrationResolved, projector.TypeSchemaBaselined:
		g.moved = ev.Seq
	}
	switch ev.Type {
	case projector.TypeMigrationFailed:
		g.failures[ev.Seq] = true
	case projector.TypeMigrationStarted:
		if g.live {
			g.seen[ev.Seq] = g.now()
		}
	}
	g.noteDrift(ev)
	return nil
}

// Apply folds an event and judges at once (a burst of one event).
func (g *Guard) Apply(ev projector.Event) ([]Alert, error) {
	if err := g.Fold(ev); err != nil {
		return nil, err
	}
	return g.Judge(), nil
}

// addDrift records a drift unless the same one (baseline and catalog
// found) is already there; it reports whether it was new.
func (g *Guard) addDrift(d Drift) bool {
	for _, have := range g.drifts {
		if have.key() == d.key() {
			return false
		}
	}
	g.drifts = append(g.drifts, d)
	return true
}

// noteDrift keeps the drifts the stream records until one is accepted.
func (g *Guard) noteDrift(ev projector.Event) {
	switch ev.Type {
	case projector.TypeSchemaDrifted:
		var p projector.Drifted
		if json.Unmarshal(ev.Payload, &p) != nil {
			return
		}
		msg := fmt.Sprintf("the schema changed outside the migrations (found by a run of release %s, %s@%s): %s",
			orDash(ev.AppVersion), orDash(ev.Actor), orDash(ev.Host), changesSummary(p.Changes, p.Unreadable))
		// Keyed by the snapshot compared with and the catalog found, as a
		// drift found by polling is: one drift whichever way it is seen.
		g.addDrift(Drift{Baseline: p.Recorded, BaselineSeq: p.RecordedSeq, Found: p.Fingerprint, Changes: p.Changes, Actor: ev.Actor, At: ev.RecordedAt, Message: msg})
	case projector.TypeSchemaChanged:
		// DDL captured as it ran (init --capture-ddl): drift, seen at once
		// and attributed. Each command is its own change.
		var p projector.Changed
		if json.Unmarshal(ev.Payload, &p) != nil {
			return
		}
		objs := make([]string, len(p.Objects))
		for i, o := range p.Objects {
			objs[i] = o.ObjectType + " " + o.Identity
		}
		msg := fmt.Sprintf("%s run outside the migrations by %s (%s) from %s: %s", p.CommandTag, orDash(p.User), orDash(p.ApplicationName), orDash(ev.Host), strings.Join(objs, ", "))
		d := Drift{Found: "ddl:" + ev.ID, Changes: objs, Actor: p.User, At: ev.RecordedAt, Message: msg}
		if fp := g.state.Fingerprint; fp != nil {
			d.Baseline, d.BaselineSeq = fp.Value, fp.Seq
		}
		if g.readsCatalog {
			// The catalog diff (SchemaFound) names what changed, column by
			// column; this says who did it.
			g.ddl = &d
			return
		}
		g.addDrift(d)
	case projector.TypeSchemaDriftAccepted:
		g.drifts, g.ddl, g.acceptedSeq = nil, nil, ev.Seq
	case projector.TypeSchemaFingerprinted:
		g.ddl = nil
	}
}

func changesSummary(changes []string, unreadable string) string {
	switch {
	case len(changes) == 0 && unreadable != "":
		return "what changed cannot be listed: " + unreadable
	case len(changes) == 0:
		return "no object listed"
	case len(changes) <= 5:
		return strings.Join(changes, "; ")
	}
	return strings.Join(changes[:5], "; ") + fmt.Sprintf("; and %d more", len(changes)-5)
}

// situation is one kind's state now: its lines (digested into the
// alert's id), the migrations or drifts it is made of, and its message.
type situation struct {
	kind    Kind
	lines   []string
	causes  []string // the lines without seqs: the same cause on another database has the same
	facts   []Fact
	drifts  []Drift
	seq     int64
	message string
}

// Judge evaluates the states now and returns an alert for each that
// appeared, changed or ended since the last Judge.
func (g *Guard) Judge() []Alert {
	now := g.now().UTC()
	v := g.Verdict()
	var out []Alert
	for _, s := range g.situations(v, now) {
		prev, was := g.alerted[s.kind]
		a := Alert{Kind: s.kind, Release: g.known.AppVersion, Policy: g.policy.String(), Decision: v.Decision.String(), At: now}
		switch {
		case len(s.lines) == 0 && was:
			delete(g.alerted, s.kind)
			a.Status, a.Seq, a.State, a.Cause = Recovered, s.seq, prev.State, prev.Cause
			a.Migrations, a.Drifts = prev.Facts, prev.Drifts // what ended
			var what []string
			for _, f := range prev.Facts {
				what = append(what, f.ID)
			}
			for _, d := range prev.Drifts {
				what = append(what, changesSummary(d.Changes, ""))
			}
			a.Message = fmt.Sprintf("%s no longer holds (was: %s); the release's verdict: %s", s.kind, strings.Join(what, "; "), v.Decision)
			out = append(out, a)
		case len(s.lines) > 0 && (!was || prev.State != digest(s.lines)):
			g.alerted[s.kind] = raised{State: digest(s.lines), Cause: digest(s.causes), Facts: s.facts, Drifts: s.drifts}
			a.Status, a.Seq, a.State, a.Cause = Firing, s.seq, digest(s.lines), digest(s.causes)
			a.Migrations, a.Drifts, a.Message = s.facts, s.drifts, s.message
			for _, d := range s.drifts {
				a.Changes = append(a.Changes, d.Changes...)
				if d.Actor != "" {
					a.Actor = d.Actor
				}
			}
			out = append(out, a)
		}
	}
	return out
}

// epochs are, per kind, the newest event that could have changed its
// state: every event about a migration the release does not know (unknown),
// about one it knows (mismatch), about any (failed, in-doubt); a drift's
// snapshot or its acceptance. A state is identified by its digest and its
// epoch, so the same state again after another (or after a recovery) is a
// new alert, while watchers that see the same events agree on the id.
func (g *Guard) epochs() (unknown, known, all int64) {
	for id, seq := range g.touched {
		if g.isKnown(id) {
			known = max(known, seq)
		} else {
			unknown = max(unknown, seq)
		}
		all = max(all, seq)
	}
	return unknown, known, all
}

func (g *Guard) isKnown(id string) bool {
	if g.knownIDs == nil {
		g.knownIDs = map[string]bool{}
		for _, k := range g.known.Migrations {
			g.knownIDs[k.ID] = true
		}
	}
	return g.knownIDs[id]
}

func (g *Guard) situations(v policy.Verdict, now time.Time) []situation {
	eu, ek, ea := g.epochs()
	unknown := situation{kind: KindUnknown, seq: eu}
	for _, u := range v.Unknown {
		if u.Allowed {
			continue
		}
		m := g.state.Applied[u.ID]
		f := Fact{ID: u.ID, Seq: u.Seq, At: u.AppliedAt, AppVersion: u.AppVersion, Actor: u.Actor, Host: u.Host, Checksum: m.Checksum, Compatible: u.Compatible}
		unknown.add(f, u.ID+"|"+m.Checksum, u.ID+"|"+m.Checksum, g.touched[u.ID])
	}
	unknown.message = fmt.Sprintf("%d migration(s) this release does not know: %s", len(unknown.facts), describeAll(unknown.facts))

	mismatch := situation{kind: KindMismatch, seq: ek}
	for _, m := range v.Mismatched {
		a := g.state.Applied[m.ID]
		f := Fact{ID: m.ID, Seq: a.Seq, At: m.AppliedAt, AppVersion: m.AppVersion, Actor: a.Actor, Host: a.Host, Checksum: m.Recorded, Local: m.Local}
		mismatch.add(f, m.ID+"|"+m.Recorded+"|"+m.Local, m.ID+"|"+m.Recorded+"|"+m.Local, g.touched[m.ID])
	}
	mismatch.message = fmt.Sprintf("%d applied migration(s) differ from this release's files: %s", len(mismatch.facts), describeAll(mismatch.facts))

	doubt := situation{kind: KindInDoubt, seq: ea}
	for _, d := range v.InDoubt {
		if !g.doubtful(d, now) {
			continue
		}
		f := Fact{ID: d.ID, Seq: d.Seq, At: d.StartedAt, AppVersion: d.AppVersion, Actor: d.Actor, Host: d.Host, Checksum: d.Checksum, Error: d.Error}
		doubt.add(f, fmt.Sprintf("%s|%d", d.ID, d.Seq), d.ID+"|"+d.Checksum, g.touched[d.ID])
	}
	doubt.message = fmt.Sprintf("%d no-transaction migration(s) started and never finished; the database may hold part of them: %s", len(doubt.facts), describeAll(doubt.facts))

	failed := situation{kind: KindFailed, seq: ea}
	ids := make([]string, 0, len(g.state.Failed))
	for id := range g.state.Failed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var msgs []string
	for _, id := range ids {
		f := g.state.Failed[id]
		if !g.failures[f.Seq] {
			continue
		}
		fact := Fact{ID: id, Seq: f.Seq, At: f.FailedAt, AppVersion: f.AppVersion, Actor: f.Actor, Host: f.Host, Checksum: f.Checksum, SQLState: f.SQLState, Error: f.Error, Statement: f.Statement}
		failed.add(fact, fmt.Sprintf("%s|%d", id, f.Seq), id+"|"+f.Checksum+"|"+f.SQLState, g.touched[id])
		msg := fmt.Sprintf("%s failed (attempt %d", describe(fact), f.Attempt)
		if f.SQLState != "" {
			msg += ", SQLSTATE " + f.SQLState
		}
		msgs = append(msgs, msg+"): "+oneLine(f.Error))
	}
	failed.message = strings.Join(msgs, "; ")

	drift := situation{kind: KindDrift, drifts: g.drifts, seq: g.acceptedSeq}
	var dmsgs []string
	for _, d := range g.drifts {
		drift.lines = append(drift.lines, d.key())
		drift.causes = append(drift.causes, strings.Join(d.Changes, "\n"))
		drift.seq = max(drift.seq, d.BaselineSeq)
		dmsgs = append(dmsgs, d.Message)
	}
	drift.message = strings.Join(dmsgs, "; ")
	return []situation{unknown, mismatch, doubt, failed, drift}
}

func (s *situation) add(f Fact, line, cause string, touched int64) {
	s.facts = append(s.facts, f)
	s.lines = append(s.lines, line)
	s.causes = append(s.causes, cause)
	s.seq = max(s.seq, touched)
}

// doubtful: started and not finished, and either something else happened
// in the ledger after it (the run that started it moved on or ended) or
// the grace period has passed.
func (g *Guard) doubtful(d projector.InDoubt, now time.Time) bool {
	if d.Error != "" || g.last > d.Seq {
		return true
	}
	return !now.Before(g.dueAt(d))
}

func (g *Guard) dueAt(d projector.InDoubt) time.Time {
	if seen, ok := g.seen[d.Seq]; ok {
		return seen.Add(g.grace)
	}
	return d.StartedAt.Add(g.grace)
}

// NextDue is when a migration now running becomes in doubt if nothing
// happens before (zero if none is running): the watcher judges again then.
func (g *Guard) NextDue() time.Time {
	var next time.Time
	for _, d := range g.state.InDoubt {
		if d.Error != "" || g.last > d.Seq {
			continue
		}
		if due := g.dueAt(d); next.IsZero() || due.Before(next) {
			next = due
		}
	}
	return next
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// ReadsCatalog tells the guard that SchemaFound will report the catalog:
// DDL captured in the stream then attributes the drift found there rather
// than being a drift of its own.
func (g *Guard) ReadsCatalog() { g.readsCatalog = true }

// SchemaFound reports the catalog's fingerprint read from the database
// (polling): when it differs from the last recorded snapshot and no
// migration ran after that snapshot, it is drift — the same drift a run's
// schema.drifted records later. It reports whether the drift is new; the
// next Judge alerts it. changes are the diff lines against that snapshot.
func (g *Guard) SchemaFound(fingerprint string, changes []string, at time.Time) bool {
	fp := g.state.Fingerprint
	if fp == nil || fp.Value == fingerprint || g.moved > fp.Seq {
		return false
	}
	d := Drift{Baseline: fp.Value, BaselineSeq: fp.Seq, Found: fingerprint, Changes: changes, At: at,
		Message: fmt.Sprintf("the schema changed outside the migrations since the snapshot at seq %d: %s", fp.Seq, changesSummary(changes, ""))}
	if g.ddl != nil {
		d.Actor = g.ddl.Actor
		d.Message += " (last DDL: " + g.ddl.Message + ")"
	}
	return g.addDrift(d)
}

// GuardSnapshot is a Guard's whole state, to resume a watcher where it
// stopped without reading the stream from its start or alerting again
// what it alerted (Snapshot, Restore).
type GuardSnapshot struct {
	State       projector.State     `json:"state"`
	Touched     map[string]int64    `json:"touched"`
	Last        int64               `json:"last"`
	At          time.Time           `json:"at"`
	Failures    []int64             `json:"failures,omitempty"`
	Drifts      []Drift             `json:"drifts,omitempty"`
	AcceptedSeq int64               `json:"accepted_seq,omitempty"`
	Moved       int64               `json:"moved,omitempty"`
	Alerted     map[Kind]raised     `json:"alerted,omitempty"`
	Seen        map[int64]time.Time `json:"seen,omitempty"`
}

// Snapshot is the guard's state now.
func (g *Guard) Snapshot() GuardSnapshot {
	s := GuardSnapshot{State: g.state.Clone(), Touched: maps.Clone(g.touched), Last: g.last, At: g.at,
		Drifts: slices.Clone(g.drifts), AcceptedSeq: g.acceptedSeq, Moved: g.moved, Alerted: maps.Clone(g.alerted), Seen: maps.Clone(g.seen)}
	for seq := range g.failures {
		s.Failures = append(s.Failures, seq)
	}
	slices.Sort(s.Failures)
	return s
}

// Restore makes the guard the one a snapshot was taken of (its release
// and policy stay the guard's own).
func (g *Guard) Restore(s GuardSnapshot) {
	g.state, g.touched, g.last, g.at = s.State.Clone(), maps.Clone(s.Touched), s.Last, s.At
	if g.touched == nil {
		g.touched = map[string]int64{}
	}
	g.failures = map[int64]bool{}
	for _, seq := range s.Failures {
		g.failures[seq] = true
	}
	g.drifts, g.acceptedSeq, g.moved = slices.Clone(s.Drifts), s.AcceptedSeq, s.Moved
	g.alerted = maps.Clone(s.Alerted)
	if g.alerted == nil {
		g.alerted = map[Kind]raised{}
	}
	g.seen = maps.Clone(s.Seen)
	if g.seen == nil {
		g.seen = map[int64]time.Time{}
	}
	g.judged = false
}

// Drifted reports whether a change made outside the migrations is not
// accepted yet.
func (g *Guard) Drifted() bool { return len(g.drifts) > 0 }
