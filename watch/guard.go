package watch

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// Guard folds a ledger's events and says, after each, what changed for
// one release: its verdict under its policy, and the alerts the change
// raises. Each condition is alerted once, when it appears — not again for
// every event while it lasts — and the end of a refusal is alerted as
// recovered. A Guard is not safe for concurrent use.
type Guard struct {
	known   policy.Manifest
	policy  policy.Policy
	state   projector.State
	verdict policy.Verdict
	judged  bool
	// What is alerted and still holds, by migration id (failures by id and
	// seq): a condition that ends and comes back is alerted again.
	unknown, mismatched, inDoubt map[string]bool
	failed                       map[string]int64
	refusing                     bool
	// drift is the newest schema.drifted not yet followed by a snapshot
	// (replayed watchers alert it once); driftSeen the drifts alerted.
	drift     *Alert
	driftSeen map[string]bool
	at        time.Time // when the last event folded was recorded
	moved     int64     // the last event that may have changed the schema through a migration
	// readsCatalog: the watcher reads the schema itself (SchemaFound), so
	// captured DDL (ddl) attributes the drift it finds instead of being an
	// alert of its own.
	readsCatalog bool
	ddl          *Alert
	// failures are the seqs of migration.failed events: a failure an
	// operator recorded with resolve --failed is a decision, not an alert.
	failures map[int64]bool
}

// NewGuard guards the release known under policy p.
func NewGuard(known policy.Manifest, p policy.Policy) *Guard {
	return &Guard{
		known: known, policy: p, state: projector.NewState(),
		unknown: map[string]bool{}, mismatched: map[string]bool{}, inDoubt: map[string]bool{},
		failed: map[string]int64{}, driftSeen: map[string]bool{}, failures: map[int64]bool{},
	}
}

// State is the fold of the events so far.
func (g *Guard) State() projector.State { return g.state }

// Seq is the last event folded.
func (g *Guard) Seq() int64 { return g.state.Seq }

// Verdict is the release's verdict after the events so far.
func (g *Guard) Verdict() policy.Verdict {
	if !g.judged {
		g.verdict = policy.Evaluate(g.known, g.state, g.policy)
		g.judged = true
	}
	return g.verdict
}

// Fold applies an event without judging it: for catching up on a stream's
// history, after which Judge raises what still holds, once.
func (g *Guard) Fold(ev projector.Event) error {
	if _, err := projector.Step(&g.state, ev); err != nil {
		return err
	}
	g.judged = false
	g.at = ev.RecordedAt
	switch ev.Type {
	case projector.TypeMigrationApplied, projector.TypeMigrationReverted, projector.TypeMigrationStarted,
		projector.TypeMigrationFailed, projector.TypeMigrationResolved, projector.TypeSchemaBaselined:
		g.moved = ev.Seq
	}
	if ev.Type == projector.TypeMigrationFailed {
		g.failures[ev.Seq] = true
	}
	g.noteDrift(ev)
	return nil
}

// Apply folds an event and returns the alerts the change raises.
func (g *Guard) Apply(ev projector.Event) ([]Alert, error) {
	if err := g.Fold(ev); err != nil {
		return nil, err
	}
	return g.Judge(), nil
}

// noteDrift keeps the newest drift the stream recorded, until a snapshot
// follows it.
func (g *Guard) noteDrift(ev projector.Event) {
	switch ev.Type {
	case projector.TypeSchemaDrifted:
		var p projector.Drifted
		if json.Unmarshal(ev.Payload, &p) != nil {
			return
		}
		msg := fmt.Sprintf("the schema changed outside the migrations (found by a run of release %s, %s@%s): %s",
			orDash(ev.AppVersion), orDash(ev.Actor), orDash(ev.Host), changesSummary(p.Changes, p.Unreadable))
		// Seq is the snapshot compared with, as for a drift found by polling:
		// the same drift gets the same Nats-Msg-Id whichever way it is seen.
		g.drift = &Alert{Kind: KindDrift, Seq: p.RecordedSeq, At: ev.RecordedAt, Actor: ev.Actor, Changes: p.Changes, Fingerprint: p.Fingerprint, Message: msg}
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
		a := &Alert{Kind: KindDrift, Seq: ev.Seq, At: ev.RecordedAt, Actor: p.User, Changes: objs, Fingerprint: "ddl", Message: msg}
		if g.readsCatalog {
			// The catalog diff (SchemaFound) names what changed, column by
			// column; this says who did it.
			g.ddl = a
			return
		}
		g.drift = a
	case projector.TypeSchemaFingerprinted, projector.TypeSchemaDriftAccepted:
		g.drift, g.ddl = nil, nil
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

// Judge evaluates the state and returns the alerts for conditions not
// alerted yet (and recovered when a refusal ended).
func (g *Guard) Judge() []Alert {
	v := g.Verdict()
	var out []Alert
	add := func(a Alert) {
		a.Release, a.Policy, a.Decision = g.known.AppVersion, g.policy.String(), v.Decision.String()
		out = append(out, a)
	}

	// Unknown migrations the policy refuses.
	refused := map[string]bool{}
	var fresh []Fact
	for _, u := range v.Unknown {
		if u.Allowed {
			continue
		}
		refused[u.ID] = true
		if !g.unknown[u.ID] {
			m := g.state.Applied[u.ID]
			fresh = append(fresh, Fact{ID: u.ID, Seq: u.Seq, At: u.AppliedAt, AppVersion: u.AppVersion, Actor: u.Actor, Host: u.Host, Checksum: m.Checksum, Compatible: u.Compatible})
		}
	}
	g.unknown = refused
	if len(fresh) > 0 {
		add(Alert{Kind: KindUnknown, Seq: maxSeq(fresh), At: newest(fresh).At, Migrations: fresh,
			Message: fmt.Sprintf("%d migration(s) this release does not know: %s", len(fresh), describeAll(fresh))})
	}

	// Checksum mismatches.
	now := map[string]bool{}
	fresh = nil
	for _, m := range v.Mismatched {
		now[m.ID] = true
		if !g.mismatched[m.ID] {
			a := g.state.Applied[m.ID]
			fresh = append(fresh, Fact{ID: m.ID, Seq: a.Seq, At: m.AppliedAt, AppVersion: m.AppVersion, Actor: a.Actor, Host: a.Host, Checksum: m.Recorded, Local: m.Local})
		}
	}
	g.mismatched = now
	if len(fresh) > 0 {
		add(Alert{Kind: KindMismatch, Seq: maxSeq(fresh), At: newest(fresh).At, Migrations: fresh,
			Message: fmt.Sprintf("applied migration(s) differ from this release's files: %s", describeAll(fresh))})
	}

	// Migrations in doubt.
	now = map[string]bool{}
	fresh = nil
	for _, d := range v.InDoubt {
		now[d.ID] = true
		if !g.inDoubt[d.ID] {
			fresh = append(fresh, Fact{ID: d.ID, Seq: d.Seq, At: d.StartedAt, AppVersion: d.AppVersion, Actor: d.Actor, Host: d.Host, Checksum: d.Checksum, Error: d.Error})
		}
	}
	g.inDoubt = now
	if len(fresh) > 0 {
		msg := fmt.Sprintf("no-transaction migration(s) started and never finished; the database may hold part of them: %s", describeAll(fresh))
		add(Alert{Kind: KindInDoubt, Seq: maxSeq(fresh), At: newest(fresh).At, Migrations: fresh, Message: msg})
	}

	// Failures, each recorded failure once.
	ids := make([]string, 0, len(g.state.Failed))
	for id := range g.state.Failed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	failedNow := map[string]int64{}
	for _, id := range ids {
		f := g.state.Failed[id]
		failedNow[id] = f.Seq
		if g.failed[id] == f.Seq || !g.failures[f.Seq] {
			continue
		}
		fact := Fact{ID: id, Seq: f.Seq, At: f.FailedAt, AppVersion: f.AppVersion, Actor: f.Actor, Host: f.Host, Checksum: f.Checksum, SQLState: f.SQLState, Error: f.Error, Statement: f.Statement}
		msg := fmt.Sprintf("%s failed (attempt %d", describe(fact), f.Attempt)
		if f.SQLState != "" {
			msg += ", SQLSTATE " + f.SQLState
		}
		msg += "): " + oneLine(f.Error)
		add(Alert{Kind: KindFailed, Seq: f.Seq, At: f.FailedAt, Migrations: []Fact{fact}, Message: msg})
	}
	g.failed = failedNow

	// Schema drift the stream recorded.
	if g.drift != nil && !g.driftSeen[g.drift.MsgID()] {
		g.driftSeen[g.drift.MsgID()] = true
		add(*g.drift)
	}

	// The end of a refusal.
	refusing := v.Decision == policy.Refuse
	if g.refusing && !refusing {
		add(Alert{Kind: KindRecovered, Seq: g.state.Seq, At: g.at, Message: fmt.Sprintf("the release's verdict no longer refuses: %s", v.Decision)})
	}
	g.refusing = refusing
	return out
}

func maxSeq(fs []Fact) int64 { return newest(fs).Seq }

func newest(fs []Fact) Fact {
	n := fs[0]
	for _, f := range fs[1:] {
		if f.Seq > n.Seq {
			n = f
		}
	}
	return n
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
// than raising an alert of its own.
func (g *Guard) ReadsCatalog() { g.readsCatalog = true }

// SchemaFound reports the catalog's fingerprint read from the database
// (polling): when it differs from the last recorded snapshot and no
// migration ran after that snapshot, it is drift, alerted once per
// fingerprint found. changes are the diff lines against that snapshot.
func (g *Guard) SchemaFound(fingerprint string, changes []string, at time.Time) []Alert {
	fp := g.state.Fingerprint
	if fp == nil || fp.Value == fingerprint || g.moved > fp.Seq {
		return nil
	}
	a := Alert{Kind: KindDrift, Seq: fp.Seq, At: at, Changes: changes, Fingerprint: fingerprint,
		Message: fmt.Sprintf("the schema changed outside the migrations since the snapshot at seq %d: %s", fp.Seq, changesSummary(changes, "")),
		Release: g.known.AppVersion, Policy: g.policy.String(), Decision: g.Verdict().Decision.String()}
	if g.ddl != nil {
		a.Actor = g.ddl.Actor
		a.Message += " (last DDL: " + g.ddl.Message + ")"
	}
	if g.driftSeen[a.MsgID()] {
		return nil
	}
	g.driftSeen[a.MsgID()] = true
	return []Alert{a}
}
