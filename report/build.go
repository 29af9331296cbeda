package report

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/projector"
)

// Defaults of Options.
const (
	DefaultMaxDetail  = 2000 // transitions listed one by one
	DefaultMaxMarks   = 1500 // transitions drawn one by one before the timeline is aggregated
	DefaultMaxRows    = 200  // rows of each other list (failures, drift, a release's steps, …)
	DefaultMaxBuckets = 180  // periods of an aggregated timeline, at most
)

// Options shape a report. The zero value reports the whole history.
type Options struct {
	// Since, Until and Release cut the history: events recorded at or
	// after Since, before Until, by the release (app version) Release.
	// The verification and the state "now" always cover the whole ledger.
	Since, Until time.Time
	Release      string
	// Database describes the database for the page's title (no password).
	Database string
	// Title is the page's title (default: "Schema history of" the database).
	Title string
	// Verify verifies the ledger; nil: ChainVerifier(store). The page
	// shows the events its walk visits.
	Verify Verifier
	// Recheck words how to verify the ledger against a checkpoint later
	// (the CLI: `ledger verify --expect-head SEQ:HASH`); nil: the page
	// names the checkpoint only.
	Recheck func(checkpoint string) string
	// SeenWindow: list the releases that checked in within it (0: the
	// fleet window, migrations.DefaultFleetWindow; negative: none).
	SeenWindow time.Duration
	// Limits; zero: the defaults above.
	MaxDetail, MaxMarks, MaxRows, MaxBuckets int
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Verifier verifies a ledger for a report, calling visit with each event
// its walk reads, in seq order (ledger.VerifyOptions.Visit): the page then
// shows exactly the events verified, read once. Verification.Events is the
// number of events walked. A Verifier that does not visit leaves the
// report to read the events it walked after it; one whose Verification
// was not made by FromChain or FromVerification (which carry the fold of
// the events) leaves the state now to the projection tables.
type Verifier func(ctx context.Context, visit func(ledger.Event)) (Verification, error)

// ChainVerifier verifies the hash chain, every event's committed state,
// the projection tables and the head against the fold of the events
// (ledger.Store.VerifyWith), and the expected anchors if any.
func ChainVerifier(store *ledger.Store, expect ...ledger.Anchor) Verifier {
	return func(ctx context.Context, visit func(ledger.Event)) (Verification, error) {
		rep, err := store.VerifyWith(ctx, ledger.VerifyOptions{Expect: expect, Visit: visit})
		if err != nil {
			return Verification{}, err
		}
		return FromChain(rep, len(expect) > 0), nil
	}
}

// FromChain is a chain verification in the report's terms; anchors: the
// report was checked against expected anchors.
func FromChain(rep ledger.VerifyReport, anchors bool) Verification {
	v := Verification{OK: rep.OK(), Events: rep.Events, fold: foldOf(rep),
		Checked: []string{"hash chain (every event's hash recomputed from its row and its predecessor's hash)",
			"the state each event commits, against the fold of the events up to it",
			"projection tables and head, against the fold of every event"}}
	if anchors {
		v.Checked = append(v.Checked, "checkpoints kept outside the database")
	}
	if rep.FirstBroken != 0 {
		v.Problems = append(v.Problems, fmt.Sprintf("the hash chain is broken at seq %d: %s", rep.FirstBroken, rep.Broken))
	}
	if rep.FoldError != "" {
		v.Problems = append(v.Problems, "the events do not fold: "+rep.FoldError)
	}
	if rep.State != "" {
		v.Problems = append(v.Problems, "committed state: "+rep.State)
	}
	if rep.Head != "" {
		v.Problems = append(v.Problems, "head: "+rep.Head)
	}
	for _, p := range rep.Projection {
		v.Problems = append(v.Problems, "projection: "+p)
	}
	v.Problems = append(v.Problems, rep.Anchors...)
	if v.OK {
		v.Summary = fmt.Sprintf("Verified while this report was made: %s events, the hash chain is intact, and the projection and head equal the fold of the events.", thousands(rep.Events))
	} else {
		v.Summary = fmt.Sprintf("This ledger FAILS verification: %d problem(s) in %s events walked, starting with: %s. Its history below cannot be trusted.", len(v.Problems), thousands(rep.Events), firstOr(v.Problems, "unknown"))
	}
	return v
}

// foldOf is the verified fold, if the events fold.
func foldOf(rep ledger.VerifyReport) *projector.State {
	if rep.FoldError != "" {
		return nil
	}
	f := rep.Fold
	return &f
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

func (o *Options) defaults() {
	if o.MaxDetail <= 0 {
		o.MaxDetail = DefaultMaxDetail
	}
	if o.MaxMarks <= 0 {
		o.MaxMarks = DefaultMaxMarks
	}
	o.MaxMarks = min(o.MaxMarks, o.MaxDetail) // a drawn mark links to its row
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultMaxRows
	}
	if o.MaxBuckets <= 0 {
		o.MaxBuckets = DefaultMaxBuckets
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SeenWindow == 0 {
		o.SeenWindow = migrations.DefaultFleetWindow
	}
}

// Build verifies the ledger in store and makes the model of its page from
// the events the verification walks (in its snapshot, streaming, read
// once). A ledger that fails verification is still reported, saying so;
// the error is for failing to read it at all.
func Build(ctx context.Context, store *ledger.Store, o Options) (*Report, error) {
	o.defaults()
	if !o.Since.IsZero() && !o.Until.IsZero() && !o.Until.After(o.Since) {
		return nil, &CutError{Since: o.Since, Until: o.Until}
	}
	verify := o.Verify
	if verify == nil {
		verify = ChainVerifier(store)
	}
	b := newBuilder(o)
	b.r.Ledger = Ledger{Database: o.Database, Schema: store.Schema()}
	// The state now is the verification's fold; the builder folds only
	// up to the cut's end, for the state there.
	b.folding = !o.Until.IsZero()
	// The builder runs beside the walk (which reads, hashes and, on a
	// goroutine of its own, folds), on batches of the events it visits.
	const batchSize = 256
	batches, free := make(chan []ledger.Event, 8), make(chan []ledger.Event, 10)
	built := make(chan struct{})
	go func() {
		defer close(built)
		for batch := range batches {
			for _, e := range batch {
				b.add(e)
			}
			select {
			case free <- batch[:0]:
			default:
			}
		}
	}()
	visited := false
	batch := make([]ledger.Event, 0, batchSize)
	ver, err := verify(ctx, func(e ledger.Event) {
		visited = true
		if batch = append(batch, e); len(batch) == batchSize {
			batches <- batch
			select {
			case batch = <-free:
			default:
				batch = make([]ledger.Event, 0, batchSize)
			}
		}
	})
	batches <- batch
	close(batches)
	<-built
	if err != nil {
		return nil, fmt.Errorf("verify ledger %q: %w", store.Schema(), err)
	}
	if !visited && ver.Events > 0 {
		for e, err := range store.Events(ctx, ledger.Filter{UntilSeq: ver.Events}) {
			if err != nil {
				return nil, fmt.Errorf("read the events of ledger %q: %w", store.Schema(), err)
			}
			b.add(e)
		}
	}
	switch {
	case ver.fold != nil:
		b.fold, b.foldErr = *ver.fold, ""
	case !ver.OK:
		b.foldErr = "the events do not fold (see the verification)"
	default:
		st, _, err := store.State(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the state of ledger %q: %w", store.Schema(), err)
		}
		b.fold = st
	}
	if b.lastSeq > 0 && b.lastSeq == ver.Events {
		ver.Checkpoint = ledger.Anchor{Seq: b.lastSeq, Hash: b.lastHash}.String()
		if o.Recheck != nil {
			ver.Recheck = o.Recheck(ver.Checkpoint)
		}
	}
	b.r.Verification = ver
	if o.SeenWindow > 0 {
		seen, _, err := store.ReleasesSeen(ctx, ledger.SeenQuery{Window: o.SeenWindow, Now: b.r.GeneratedAt})
		if err != nil {
			return nil, fmt.Errorf("read the releases seen in ledger %q: %w", store.Schema(), err)
		}
		for _, s := range seen {
			b.r.Seen = append(b.r.Seen, Seen{Release: s.AppVersion, Policy: s.Policy, Instances: s.Instances, Hosts: s.Hosts, LastSeen: s.LastSeen, Decisions: s.Decisions})
		}
	}
	return b.finish(), nil
}

// CutError is a cut that selects no time at all.
type CutError struct{ Since, Until time.Time }

func (e *CutError) Error() string {
	return fmt.Sprintf("the cut ends (until %s) before it starts (since %s)", e.Until.Format(time.RFC3339), e.Since.Format(time.RFC3339))
}

// point is one transition of the cut, compactly, for the timeline.
type point struct {
	seq  int64
	at   time.Time
	kind Kind
	lane int
}

// openStart is a migration.started not yet settled.
type openStart struct {
	seq   int64
	point int // index in points, -1 if outside the cut
	doubt Doubt
	left  bool // a failure left it in doubt
}

type builder struct {
	o        Options
	r        *Report
	fold     projector.State
	folding  bool // fold the events here, up to the cut's end
	foldErr  string
	lastSeq  int64  // the newest event added
	lastHash []byte // its hash
	lastAt   time.Time
	cutEnd   *State
	points   []point
	lanes    map[string]int
	releases []*releaseAcc
	open     map[string]*openStart
	doubtSeq map[int64]bool // started events left in doubt

	detail    ring[Transition]
	failures  ring[Failure]
	drift     ring[Drift]
	accepted  ring[Acceptance]
	doubts    ring[Doubt]
	baselines ring[Baseline]
}

type releaseAcc struct {
	r                 Release
	hosts, actors     map[string]bool
	applied, reverted ring[Step]
}

func newBuilder(o Options) *builder {
	b := &builder{o: o, r: &Report{GeneratedAt: o.Now().UTC()}, fold: projector.NewState(),
		lanes: map[string]int{}, open: map[string]*openStart{}, doubtSeq: map[int64]bool{}}
	b.detail.max = o.MaxDetail
	for _, r := range []interface{ setMax(int) }{&b.failures, &b.drift, &b.accepted, &b.doubts, &b.baselines} {
		r.setMax(o.MaxRows)
	}
	if !o.Since.IsZero() {
		t := o.Since.UTC()
		b.r.Cut.Since = &t
	}
	if !o.Until.IsZero() {
		t := o.Until.UTC()
		b.r.Cut.Until = &t
	}
	b.r.Cut.Release = o.Release
	return b
}

func (b *builder) inCut(e ledger.Event) bool {
	return (b.o.Since.IsZero() || !e.RecordedAt.Before(b.o.Since)) &&
		(b.o.Until.IsZero() || e.RecordedAt.Before(b.o.Until)) &&
		(b.o.Release == "" || e.AppVersion == b.o.Release)
}

func (b *builder) add(e ledger.Event) {
	if !b.o.Until.IsZero() && b.cutEnd == nil && !e.RecordedAt.Before(b.o.Until) {
		s := b.state()
		b.cutEnd = &s
		b.folding = false // the verification's fold is the state now
	}
	if b.folding && b.foldErr == "" {
		next, err := projector.Apply(b.fold, e)
		if err != nil {
			b.foldErr = fmt.Sprintf("seq %d: %v", e.Seq, err)
		} else {
			b.fold = next
		}
	}
	if e.Type == projector.TypeLedgerInitialized || e.Type == projector.TypeLedgerUpgraded {
		var p struct {
			Format int `json:"format"`
			To     int `json:"to"`
		}
		_ = json.Unmarshal(e.Payload, &p)
		b.r.Ledger.Format = max(b.r.Ledger.Format, p.Format, p.To)
	}
	b.lastSeq, b.lastHash, b.lastAt = e.Seq, e.Hash, e.RecordedAt
	b.r.Cut.Total = e.Seq
	in := b.inCut(e)
	t := b.transition(e, in)
	if !in {
		return
	}
	c := &b.r.Cut
	c.Events++
	// Times follow seq as far as the server's clock does: the cut's
	// bounds are its oldest and newest times, whatever their seqs.
	if at := e.RecordedAt; c.First == nil || at.Before(*c.First) {
		c.First = &at
	}
	if at := e.RecordedAt; c.Last == nil || at.After(*c.Last) {
		c.Last = &at
	}
	lane, ok := b.lanes[e.AppVersion]
	if !ok {
		lane = len(b.releases)
		b.lanes[e.AppVersion] = lane
		acc := &releaseAcc{r: Release{Version: e.AppVersion, First: e.RecordedAt, Counts: map[Kind]int{}},
			hosts: map[string]bool{}, actors: map[string]bool{}}
		acc.applied.max, acc.reverted.max = b.o.MaxRows, b.o.MaxRows
		b.releases = append(b.releases, acc)
	}
	acc := b.releases[lane]
	if e.RecordedAt.Before(acc.r.First) {
		acc.r.First = e.RecordedAt
	}
	if e.RecordedAt.After(acc.r.Last) {
		acc.r.Last = e.RecordedAt
	}
	acc.r.Events++
	acc.r.Counts[t.Kind]++
	acc.hosts[e.Host], acc.actors[e.Actor] = true, true
	switch t.Kind {
	case KindApplied, KindAdopted:
		acc.applied.add(Step{Seq: e.Seq, At: e.RecordedAt, Migration: t.Migration, Host: e.Host, Actor: e.Actor, DurationMS: t.DurationMS, Note: t.note})
	case KindReverted:
		acc.reverted.add(Step{Seq: e.Seq, At: e.RecordedAt, Migration: t.Migration, Host: e.Host, Actor: e.Actor, DurationMS: t.DurationMS, Note: t.note})
	}
	if t.Type == projector.TypeMigrationStarted {
		if os := b.open[t.Migration]; os != nil && os.seq == e.Seq {
			os.point = len(b.points)
		}
	}
	b.points = append(b.points, point{seq: e.Seq, at: e.RecordedAt, kind: t.Kind, lane: lane})
	b.detail.add(t)
}

// transition classifies e, keeps the lists it belongs to (when in the
// cut), and follows migrations in doubt (always: a start before the cut
// may be settled in it).
func (b *builder) transition(e ledger.Event, in bool) Transition {
	t := Transition{Seq: e.Seq, At: e.RecordedAt, Type: e.Type, Release: e.AppVersion, Host: e.Host, Actor: e.Actor, Kind: KindOther}
	switch e.Type {
	case projector.TypeLedgerInitialized:
		var p projector.Initialized
		_ = json.Unmarshal(e.Payload, &p)
		t.Summary = fmt.Sprintf("ledger created in schema %s (format %d)", p.Schema, p.Format)
	case projector.TypeLedgerUpgraded:
		var p projector.Upgraded
		_ = json.Unmarshal(e.Payload, &p)
		t.Summary = fmt.Sprintf("ledger upgraded from format %d to %d", p.From, p.To)
	case projector.TypeMigrationApplied:
		var p projector.Applied
		_ = json.Unmarshal(e.Payload, &p)
		t.Migration, t.Kind = p.ID, KindApplied
		if p.Adopted != nil {
			t.Kind = KindAdopted
			t.note = "adopted from " + p.Adopted.From
			if p.Adopted.Version != "" {
				t.note += " (its version " + p.Adopted.Version + ")"
			}
			t.Summary = "adopted " + p.ID + ": " + t.note
		} else {
			d := p.DurationMS
			t.DurationMS = &d
			t.Summary = fmt.Sprintf("applied %s in %s", p.ID, duration(d))
			if !p.Transactional {
				t.note = "no transaction"
				t.Summary += " (no transaction)"
			}
			if len(p.AllowedBreaking) > 0 {
				var rs []string
				for _, r := range p.AllowedBreaking {
					rs = append(rs, r.Release)
				}
				t.Summary += "; allowed to break running release(s) " + strings.Join(rs, ", ")
			}
		}
		b.settle(p.ID, e, false)
	case projector.TypeMigrationReverted:
		var p projector.Reverted
		_ = json.Unmarshal(e.Payload, &p)
		d := p.DurationMS
		t.Migration, t.Kind, t.DurationMS = p.ID, KindReverted, &d
		t.note = "down SQL from the " + map[string]string{projector.DownFromFile: "release's file", projector.DownFromRecorded: "recorded migration"}[p.Source]
		t.Summary = fmt.Sprintf("reverted %s in %s (%s)", p.ID, duration(d), t.note)
		b.settle(p.ID, e, false)
	case projector.TypeMigrationFailed:
		var p projector.Failed
		_ = json.Unmarshal(e.Payload, &p)
		t.Migration, t.Kind = p.ID, KindFailed
		dir := "up"
		if p.Direction == projector.DirectionDown {
			dir = "down"
		}
		left := p.StatementsDone > 0 || p.LeftBehind
		t.Summary = fmt.Sprintf("%s of %s failed", map[string]string{"up": "applying", "down": "reverting"}[dir], p.ID)
		if p.SQLState != "" && !strings.Contains(p.Error, p.SQLState) {
			t.Summary += " (SQLSTATE " + p.SQLState + ")"
		}
		t.Summary += ": " + oneLine(p.Error, 200)
		if left {
			t.Summary += "; left in doubt"
		}
		if in {
			b.failures.add(Failure{Seq: e.Seq, At: e.RecordedAt, Migration: p.ID, Release: e.AppVersion, Host: e.Host, Actor: e.Actor,
				Direction: dir, SQLState: p.SQLState, Error: clip(p.Error, maxText), Statement: clip(p.Statement, maxText), Attempt: p.Attempt, LeftInDoubt: left})
		}
		if os := b.open[p.ID]; os != nil && left {
			os.left, os.doubt.Error = true, p.Error
		} else {
			b.settle(p.ID, e, false)
		}
	case projector.TypeMigrationStarted:
		var p projector.Started
		_ = json.Unmarshal(e.Payload, &p)
		t.Migration, t.Kind = p.ID, KindStarted
		dir := "up"
		if p.Direction == projector.DirectionDown {
			dir = "down"
		}
		t.Summary = fmt.Sprintf("started %s of %s without a transaction", map[string]string{"up": "applying", "down": "reverting"}[dir], p.ID)
		b.open[p.ID] = &openStart{seq: e.Seq, point: -1, doubt: Doubt{Migration: p.ID, Direction: dir, StartedSeq: e.Seq, StartedAt: e.RecordedAt, Release: e.AppVersion, Host: e.Host}}
	case projector.TypeMigrationProgressed:
		var p projector.Progressed
		_ = json.Unmarshal(e.Payload, &p)
		t.Migration = p.ID
		t.Summary = fmt.Sprintf("%s: %d statement(s) done", p.ID, p.StatementsDone)
	case projector.TypeMigrationResolved:
		var p projector.Resolved
		_ = json.Unmarshal(e.Payload, &p)
		t.Migration, t.Kind = p.ID, KindResolved
		t.Summary = fmt.Sprintf("%s resolved as %s: %s", p.ID, p.Decision, oneLine(p.Reason, 200))
		if os := b.open[p.ID]; os != nil {
			os.doubt.Settled, os.doubt.ResolvedSeq, os.doubt.Decision, os.doubt.Reason, os.doubt.ResolvedBy = true, e.Seq, p.Decision, p.Reason, e.Actor+"@"+e.Host
			at := e.RecordedAt
			os.doubt.ResolvedAt = &at
			b.settle(p.ID, e, true)
		}
	case projector.TypeMigrationAccepted:
		var p projector.Accepted
		_ = json.Unmarshal(e.Payload, &p)
		t.Migration, t.Kind = p.ID, KindAccepted
		t.Summary = fmt.Sprintf("accepted the changed file of %s (checksum %s, was %s): %s", p.ID, short(p.Checksum), short(p.Previous), oneLine(p.Reason, 200))
		if in {
			b.accepted.add(Acceptance{Seq: e.Seq, At: e.RecordedAt, What: "checksum", Migration: p.ID, Previous: p.Previous, Now: p.Checksum, Reason: clip(p.Reason, maxText), Release: e.AppVersion, Host: e.Host, Actor: e.Actor})
		}
	case projector.TypeSchemaBaselined:
		var p projector.Baselined
		_ = json.Unmarshal(e.Payload, &p)
		t.Kind = KindBaselined
		n := len(p.Migrations) + len(p.Adopted)
		t.Summary = fmt.Sprintf("baselined from %s: %d migration(s)", p.Source, n)
		if p.Reason != "" {
			t.Summary += ": " + oneLine(p.Reason, 200)
		}
		if in {
			b.baselines.add(Baseline{Seq: e.Seq, At: e.RecordedAt, Source: p.Source, Table: p.Table, Version: p.Version, To: p.To, Reason: clip(p.Reason, maxText),
				Adopted: n, Unmapped: p.Unmapped, Release: e.AppVersion, Actor: e.Actor})
		}
	case projector.TypeSchemaFingerprinted:
		var p projector.Fingerprinted
		_ = json.Unmarshal(e.Payload, &p)
		t.Summary = fmt.Sprintf("schema snapshot %s recorded (%d objects)", short(p.Fingerprint), p.Objects)
	case projector.TypeSchemaDrifted:
		var p projector.Drifted
		_ = json.Unmarshal(e.Payload, &p)
		t.Kind = KindDrifted
		t.Summary = fmt.Sprintf("the schema changed outside the migrations: %d object(s) differ from snapshot %s", len(p.Changes), short(p.Recorded))
		if p.Refused {
			t.Summary += "; the run refused to migrate"
		}
		if in {
			b.drift.add(Drift{Seq: e.Seq, At: e.RecordedAt, Release: e.AppVersion, Host: e.Host, Actor: e.Actor, Changes: b.lines(p.Changes),
				Found: p.Fingerprint, Recorded: p.Recorded, Refused: p.Refused, Unreadable: p.Unreadable})
		}
	case projector.TypeSchemaDriftAccepted:
		var p projector.DriftAccepted
		_ = json.Unmarshal(e.Payload, &p)
		t.Kind = KindAccepted
		t.Summary = fmt.Sprintf("accepted the schema as it is (snapshot %s, %d change(s)): %s", short(p.Fingerprint), len(p.Changes), oneLine(p.Reason, 200))
		for i := range b.drift.items {
			if d := &b.drift.items[i]; d.AcceptedSeq == 0 && d.Seq < e.Seq {
				d.AcceptedSeq = e.Seq
			}
		}
		if in {
			b.accepted.add(Acceptance{Seq: e.Seq, At: e.RecordedAt, What: "drift", Previous: p.Recorded, Now: p.Fingerprint, Reason: clip(p.Reason, maxText), Changes: b.lines(p.Changes), Release: e.AppVersion, Host: e.Host, Actor: e.Actor})
		}
	case projector.TypeSchemaChanged:
		var p projector.Changed
		_ = json.Unmarshal(e.Payload, &p)
		t.Kind = KindChanged
		var lines []string
		for _, o := range p.Objects {
			lines = append(lines, p.CommandTag+" "+o.ObjectType+" "+o.Identity)
		}
		if len(lines) == 0 {
			lines = []string{p.CommandTag}
		}
		who := p.User
		if p.ApplicationName != "" {
			who += " (" + p.ApplicationName + ")"
		}
		t.Summary = fmt.Sprintf("%s outside a migration by %s: %s", p.CommandTag, who, oneLine(strings.Join(lines, "; "), 200))
		if in {
			b.drift.add(Drift{Seq: e.Seq, At: e.RecordedAt, Release: e.AppVersion, Host: e.Host, Actor: p.User, Changes: b.lines(lines), Captured: true})
		}
	default:
		t.Summary = e.Type
	}
	return t
}

// settle closes the migration's open start: the migration finished or
// failed cleanly (resolved false: it was never in doubt) or an operator
// resolved it.
func (b *builder) settle(id string, e ledger.Event, resolved bool) {
	os := b.open[id]
	if os == nil {
		return
	}
	delete(b.open, id)
	if !resolved && !os.left {
		return
	}
	b.markDoubt(os)
	inCut := b.inCut(e) || (os.point >= 0)
	if inCut {
		b.doubts.add(os.doubt)
	}
}

func (b *builder) markDoubt(os *openStart) {
	b.doubtSeq[os.seq] = true
	if os.point >= 0 {
		b.points[os.point].kind = KindInDoubt
	}
}

// state is the fold so far, in the report's terms.
func (b *builder) state() State {
	s := State{Seq: b.fold.Seq, At: b.lastAt, SchemaVersion: b.fold.SchemaVersion, Applied: len(b.fold.Applied), FoldError: b.foldErr}
	for id := range b.fold.Applied {
		s.AppliedIDs = append(s.AppliedIDs, id)
	}
	projector.SortIDs(s.AppliedIDs)
	for id := range b.fold.InDoubt {
		s.InDoubt = append(s.InDoubt, id)
	}
	for id := range b.fold.Failed {
		s.Failed = append(s.Failed, id)
	}
	projector.SortIDs(s.InDoubt)
	projector.SortIDs(s.Failed)
	if b.fold.Fingerprint != nil {
		s.Fingerprint = b.fold.Fingerprint.Value
	}
	return s
}

func (b *builder) finish() *Report {
	r := b.r
	// Migrations still in doubt at the end.
	var still []*openStart
	for _, os := range b.open {
		still = append(still, os)
	}
	sort.Slice(still, func(i, j int) bool { return still[i].seq < still[j].seq })
	for _, os := range still {
		b.markDoubt(os)
		if os.point >= 0 || b.o.Until.IsZero() {
			b.doubts.add(os.doubt)
		}
	}
	r.Now = b.state()
	r.AtCutEnd = b.cutEnd
	if r.Title = b.o.Title; r.Title == "" {
		r.Title = "Schema history: the ledger in schema " + r.Ledger.Schema
		if r.Ledger.Database != "" {
			r.Title = "Schema history of " + r.Ledger.Database
			if r.Ledger.Schema != ledger.DefaultSchema {
				r.Title += " (ledger " + r.Ledger.Schema + ")"
			}
		}
	}
	for _, acc := range b.releases {
		rel := acc.r
		rel.Hosts, rel.Actors = sortedKeys(acc.hosts), sortedKeys(acc.actors)
		rel.Applied, rel.Reverted = acc.applied.list(), acc.reverted.list()
		r.Releases = append(r.Releases, rel)
	}
	r.Detail = b.detail.list()
	for i := range r.Detail.Items {
		if t := &r.Detail.Items[i]; b.doubtSeq[t.Seq] {
			t.Kind = KindInDoubt
			t.Summary += "; left in doubt"
		}
	}
	r.Failures, r.Drift, r.Accepted, r.InDoubt, r.Baselines = b.failures.list(), b.drift.list(), b.accepted.list(), b.doubts.list(), b.baselines.list()
	r.Timeline = b.timeline()
	return r
}

// maxText bounds one recorded text on the page (an error, a statement, a
// reason): a page of a ledger whose failures quote megabytes of SQL stays
// a page. The ledger holds the whole text (ledger history).
const maxText = 4000

// clip cuts s to at most n bytes, saying so.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf(" … (%d more bytes; ledger history shows all)", len(s)-cut)
}

// lines bounds a list of drift lines to Options.MaxRows, saying how many
// more there are.
func (b *builder) lines(ls []string) []string {
	if len(ls) <= b.o.MaxRows {
		return ls
	}
	out := make([]string, 0, b.o.MaxRows+1)
	for _, l := range ls[:b.o.MaxRows] {
		out = append(out, clip(l, maxText))
	}
	return append(out, fmt.Sprintf("… and %d more object(s) (ledger history shows all)", len(ls)-b.o.MaxRows))
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// marked reports whether a kind is drawn on the timeline (the rest are
// bookkeeping, listed in the detail only).
func marked(k Kind) bool { return k != KindOther && k != KindStarted }

func (b *builder) timeline() Timeline {
	r := b.r
	var tl Timeline
	switch {
	case r.Cut.Since != nil:
		tl.From = *r.Cut.Since
	case r.Cut.First != nil:
		tl.From = *r.Cut.First
	default:
		tl.From = r.GeneratedAt
	}
	switch {
	case r.Cut.Until != nil && r.Cut.Until.Before(r.GeneratedAt):
		tl.To = *r.Cut.Until
	case r.Cut.Last != nil:
		tl.To = *r.Cut.Last
	default:
		tl.To = tl.From
	}
	if r.Cut.Until != nil && r.Cut.Last != nil && r.Cut.Last.After(tl.To) {
		tl.To = *r.Cut.Last
	}
	for _, acc := range b.releases {
		tl.Lanes = append(tl.Lanes, Lane{Release: acc.r.Version, First: acc.r.First, Last: acc.r.Last, Events: acc.r.Events})
	}
	nMarked := 0
	for _, p := range b.points {
		if marked(p.kind) {
			nMarked++
		}
	}
	if nMarked <= b.o.MaxMarks {
		byseq := map[int64]*Transition{}
		for i := range r.Detail.Items {
			byseq[r.Detail.Items[i].Seq] = &r.Detail.Items[i]
		}
		for _, p := range b.points {
			t := byseq[p.seq]
			if !marked(p.kind) || t == nil {
				continue
			}
			tl.Marks = append(tl.Marks, Mark{Seq: p.seq, At: p.at, Kind: p.kind, Lane: p.lane, Migration: t.Migration, Summary: t.Summary, Who: t.Actor + "@" + t.Host})
		}
		return tl
	}
	tl.Aggregated = true
	unit := pickUnit(tl.From, tl.To, b.o.MaxBuckets)
	tl.Bucket = unit.name
	oldestDetail := int64(0)
	if len(r.Detail.Items) > 0 {
		oldestDetail = r.Detail.Items[0].Seq
	}
	for start := unit.floor(tl.From.UTC()); !start.After(tl.To) || len(tl.Buckets) == 0; start = unit.next(start) {
		tl.Buckets = append(tl.Buckets, Bucket{Start: start, End: unit.next(start), Counts: map[Kind]int{}, InDetail: true})
	}
	for _, p := range b.points {
		i := sort.Search(len(tl.Buckets), func(i int) bool { return p.at.Before(tl.Buckets[i].End) })
		i = max(0, min(i, len(tl.Buckets)-1))
		bk := &tl.Buckets[i]
		bk.Total++
		bk.Counts[p.kind]++
		if p.seq < oldestDetail {
			bk.InDetail = false
		}
	}
	return tl
}

// unit is a period of an aggregated timeline.
type unit struct {
	name  string
	floor func(time.Time) time.Time
	next  func(time.Time) time.Time
}

var units = []unit{
	{"second", func(t time.Time) time.Time { return t.Truncate(time.Second) }, func(t time.Time) time.Time { return t.Add(time.Second) }},
	{"minute", func(t time.Time) time.Time { return t.Truncate(time.Minute) }, func(t time.Time) time.Time { return t.Add(time.Minute) }},
	{"hour", func(t time.Time) time.Time { return t.Truncate(time.Hour) }, func(t time.Time) time.Time { return t.Add(time.Hour) }},
	{"day", func(t time.Time) time.Time { y, m, d := t.Date(); return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) },
		func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
	{"week", func(t time.Time) time.Time {
		y, m, d := t.Date()
		day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7)) // Monday
	}, func(t time.Time) time.Time { return t.AddDate(0, 0, 7) }},
	{"month", func(t time.Time) time.Time { y, m, _ := t.Date(); return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC) },
		func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
}

// pickUnit is the shortest period that splits [from, to] into at most
// max buckets (months beyond that).
func pickUnit(from, to time.Time, max int) unit {
	from, to = from.UTC(), to.UTC()
	for _, u := range units[:len(units)-1] {
		n := 0
		for s := u.floor(from); !s.After(to) && n <= max; s = u.next(s) {
			n++
		}
		if n <= max {
			return u
		}
	}
	return units[len(units)-1]
}

// ring keeps the newest max items of a list and counts them all.
type ring[T any] struct {
	items []T
	next  int
	total int
	max   int
}

func (r *ring[T]) setMax(n int) { r.max = n }

func (r *ring[T]) add(v T) {
	r.total++
	if len(r.items) < r.max {
		r.items = append(r.items, v)
		return
	}
	r.items[r.next] = v
	r.next = (r.next + 1) % r.max
}

// list is the items kept, oldest first.
func (r *ring[T]) list() List[T] {
	out := make([]T, 0, len(r.items))
	out = append(out, r.items[r.next:]...)
	out = append(out, r.items[:r.next]...)
	return List[T]{Total: r.total, Items: out}
}

func duration(ms int64) string {
	if ms < 1000 {
		return strconv.FormatInt(ms, 10) + " ms"
	}
	return (time.Duration(ms) * time.Millisecond).Round(100 * time.Millisecond).String()
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8Start(c byte) bool { return c&0xC0 != 0x80 }

// thousands writes n with thousands separators: 100,000.
func thousands[T int | int64](n T) string {
	s := strconv.FormatInt(int64(n), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
