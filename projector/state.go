package projector

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// Migration is one applied migration as the projection holds it.
type Migration struct {
	ID            string    `json:"id"`
	Checksum      string    `json:"checksum"`
	Seq           int64     `json:"seq"` // the event that made it applied
	AppliedAt     time.Time `json:"applied_at"`
	AppVersion    string    `json:"app_version"`
	Actor         string    `json:"actor"`
	Host          string    `json:"host"`
	Compatible    string    `json:"compatible,omitempty"` // semver constraint recorded with it
	Transactional bool      `json:"transactional"`
	DownChecksum  string    `json:"down_checksum,omitempty"` // non-empty: its down SQL is recorded
	// Accepted are the checksums it had before migration.accepted events
	// replaced them, oldest first (the first is the one it was applied
	// with): an accepted change is the same migration, so a file with any
	// of them is this migration too.
	Accepted []string `json:"accepted_checksums,omitempty"`
}

// Matches reports whether a file with checksum is this migration: its
// checksum, or one it had before an accepted change.
func (m Migration) Matches(checksum string) bool {
	return m.Checksum == checksum || slices.Contains(m.Accepted, checksum)
}

// AppliedChecksum is the checksum it was applied with (before any
// accepted change).
func (m Migration) AppliedChecksum() string {
	if len(m.Accepted) > 0 {
		return m.Accepted[0]
	}
	return m.Checksum
}

// InDoubt is a no-transaction migration that started and never finished
// cleanly: the database may hold part of it. Only an operator's decision
// (migration.resolved) settles it. One that is also applied is a revert in
// doubt (State.Reverting).
type InDoubt struct {
	ID             string    `json:"id"`
	Checksum       string    `json:"checksum"`
	Seq            int64     `json:"seq"` // the migration.started event
	StartedAt      time.Time `json:"started_at"`
	AppVersion     string    `json:"app_version"`
	Actor          string    `json:"actor"`
	Host           string    `json:"host"`
	Compatible     string    `json:"compatible,omitempty"`
	DownChecksum   string    `json:"down_checksum,omitempty"`
	StatementsDone int       `json:"statements_done,omitempty"` // committed before a recorded failure
	// LeftBehind are the invalid indexes the failing statement left
	// ("schema.index"), as recorded with its failure.
	LeftBehind []string `json:"left_behind,omitempty"`
	Error      string   `json:"error,omitempty"` // the recorded failure, if any
}

// Failure is the latest recorded failure of a migration that is not applied.
type Failure struct {
	ID         string    `json:"id"`
	Checksum   string    `json:"checksum"`
	Seq        int64     `json:"seq"`
	FailedAt   time.Time `json:"failed_at"`
	AppVersion string    `json:"app_version"`
	Actor      string    `json:"actor"`
	Host       string    `json:"host"`
	Error      string    `json:"error"`
	SQLState   string    `json:"sqlstate,omitempty"`
	Statement  string    `json:"statement,omitempty"`
	Attempt    int       `json:"attempt"`
}

// Fingerprint is the latest recorded catalog fingerprint.
type Fingerprint struct {
	Value   string `json:"value"`
	Objects int    `json:"objects"`
	Seq     int64  `json:"seq"`
}

// State is the projection: what the events so far say about the database.
type State struct {
	Seq           int64                `json:"seq"`            // the last event folded
	Format        int                  `json:"format"`         // ledger format, from ledger.initialized
	SchemaVersion string               `json:"schema_version"` // the newest applied migration id ("" if none)
	Digest        Digest               `json:"digest"`         // of the applied set
	Applied       map[string]Migration `json:"applied"`
	InDoubt       map[string]InDoubt   `json:"in_doubt"`
	Failed        map[string]Failure   `json:"failed"`
	Fingerprint   *Fingerprint         `json:"fingerprint,omitempty"`
}

// NewState is the empty state, before any event.
func NewState() State {
	return State{Applied: map[string]Migration{}, InDoubt: map[string]InDoubt{}, Failed: map[string]Failure{}}
}

// Clone returns a deep copy of s, for callers that keep a state while folding on.
func (s State) Clone() State {
	c := s
	c.Applied = maps.Clone(s.Applied)
	c.InDoubt = maps.Clone(s.InDoubt)
	c.Failed = maps.Clone(s.Failed)
	if s.Fingerprint != nil {
		f := *s.Fingerprint
		c.Fingerprint = &f
	}
	c.ensureMaps()
	return c
}

func (s *State) ensureMaps() {
	if s.Applied == nil {
		s.Applied = map[string]Migration{}
	}
	if s.InDoubt == nil {
		s.InDoubt = map[string]InDoubt{}
	}
	if s.Failed == nil {
		s.Failed = map[string]Failure{}
	}
}

// Change is what one event did to the projection, row by row: the event
// store writes exactly these rows, so the projection tables are updated
// incrementally and never rebuilt.
type Change struct {
	PutApplied  []Migration
	DelApplied  []string
	PutInDoubt  []InDoubt
	DelInDoubt  []string
	PutFailed   []Failure
	DelFailed   []string
	Format      int          // non-zero: the ledger format was set
	Fingerprint *Fingerprint // non-nil: a new fingerprint was recorded
}

// Apply folds one event into s and returns the new state. It reuses s's maps:
// keep a Clone if the state before the event is still needed. On error s is
// unchanged and the error says why the event cannot follow this state.
func Apply(s State, e Event) (State, error) {
	_, err := Step(&s, e)
	return s, err
}

// Fold applies events in order to the empty state.
func Fold(events []Event) (State, error) {
	s := NewState()
	for _, e := range events {
		var err error
		if s, err = Apply(s, e); err != nil {
			return s, err
		}
	}
	return s, nil
}

// Step applies e to *s in place and returns the row-level change. It
// validates the whole event before changing anything, so on error *s is
// unchanged. It is what Apply does; the event store uses the change to update
// its projection tables.
//
// Step needs from *s only the rows for the migrations e names, plus Seq,
// Format and Digest; SchemaVersion is recomputed from Applied, so a caller
// holding a partial Applied map must derive the schema version itself.
func Step(s *State, e Event) (Change, error) {
	s.ensureMaps()
	known, ok := payloadVersions[e.Type]
	if !ok {
		return Change{}, &UnknownTypeError{Type: e.Type}
	}
	if e.PayloadVersion < 1 || e.PayloadVersion > known {
		return Change{}, &PayloadVersionError{Type: e.Type, Version: e.PayloadVersion, Supported: known}
	}
	if e.Seq != s.Seq+1 {
		return Change{}, invalid(e, "follows seq %d: the ledger must be gapless", s.Seq)
	}
	var (
		c   Change
		err error
	)
	switch e.Type {
	case TypeLedgerInitialized:
		c, err = initialized(s, e)
	case TypeLedgerUpgraded:
		c, err = upgraded(s, e)
	case TypeMigrationApplied:
		c, err = applied(s, e)
	case TypeMigrationReverted:
		c, err = reverted(s, e)
	case TypeMigrationFailed:
		c, err = failed(s, e)
	case TypeMigrationStarted:
		c, err = started(s, e)
	case TypeMigrationResolved:
		c, err = resolved(s, e)
	case TypeMigrationProgressed:
		c, err = progressed(s, e)
	case TypeSchemaBaselined:
		c, err = baselined(s, e)
	case TypeSchemaFingerprinted:
		c, err = fingerprinted(s, e)
	case TypeSchemaDrifted:
		c, err = drifted(s, e)
	case TypeSchemaDriftAccepted:
		c, err = driftAccepted(s, e)
	case TypeSchemaChanged:
		c, err = changed(s, e)
	case TypeMigrationAccepted:
		c, err = accepted(s, e)
	case TypeLeftoverDropped:
		c, err = leftoverDropped(s, e)
	case TypeRolloutStarted, TypeRolloutTarget, TypeRolloutHalted, TypeRolloutInterrupted, TypeRolloutResumed, TypeRolloutFinished:
		c, err = rolloutEvent(e)
	}
	if err != nil {
		return Change{}, err
	}
	s.commit(c)
	s.Seq = e.Seq
	return c, nil
}

// commit writes a validated change into s.
func (s *State) commit(c Change) {
	if c.Format != 0 {
		s.Format = c.Format
	}
	if c.Fingerprint != nil {
		f := *c.Fingerprint
		s.Fingerprint = &f
	}
	recompute := false
	for _, id := range c.DelApplied {
		m := s.Applied[id]
		s.Digest = s.Digest.Sub(id, m.Checksum)
		delete(s.Applied, id)
		recompute = recompute || id == s.SchemaVersion
	}
	for _, m := range c.PutApplied {
		s.Applied[m.ID] = m
		s.Digest = s.Digest.Add(m.ID, m.Checksum)
		if s.SchemaVersion == "" || CompareIDs(m.ID, s.SchemaVersion) > 0 {
			s.SchemaVersion = m.ID
		}
	}
	if recompute {
		s.SchemaVersion = ""
		var newest idKey // s.SchemaVersion's, parsed once
		for id := range s.Applied {
			if k := keyOf(id); s.SchemaVersion == "" || k.compare(newest) > 0 {
				s.SchemaVersion, newest = id, k
			}
		}
	}
	for _, id := range c.DelInDoubt {
		delete(s.InDoubt, id)
	}
	for _, d := range c.PutInDoubt {
		s.InDoubt[d.ID] = d
	}
	for _, id := range c.DelFailed {
		delete(s.Failed, id)
	}
	for _, f := range c.PutFailed {
		s.Failed[f.ID] = f
	}
}

func checkID(e Event, id string) error {
	if _, _, err := ParseID(id); err != nil {
		return invalid(e, "%v", err)
	}
	return nil
}

func initialized(s *State, e Event) (Change, error) {
	var p Initialized
	if err := decode(e, &p); err != nil {
		return Change{}, err
	}
	if s.Format != 0 {
		return Change{}, invalid(e, "the ledger is already initialized (format %d)", s.Format)
	}
	if p.Format < 1 {
		return Change{}, invalid(e, "format %d", p.Format)
	}
	return Change{Format: p.Format}, nil
}

func upgraded(s *State, e Event) (Change, error) {
	var p Upgraded
	if err := decode(e, &p); err != nil {
		return Change{}, err
	}
	if s.Format == 0 {
		return Change{}, invalid(e, "the ledger is not initialized")
	}
	if p.From != s.Format || p.To != p.From+1 {
		return Change{}, invalid(e, "upgrade from format %d to %d: the ledger is in format %d, and each step goes up by one", p.From, p.To, s.Format)
	}
	return Change{Format: p.To}, nil
}

func applied(s *State, e Event) (Change, error) {
	var p Applied
	if err := decode(e, &p); err != nil {
		return Change{}, err
	}
	if err := checkID(e, p.ID); err != nil {
		return Change{}, err
	}
	if p.Checksum == "" {
		return Change{}, invalid(e, "migration %s has no checksum", p.ID)
	}
	if m, ok := s.Applied[p.ID]; ok {
		return Change{}, invalid(e, "migration %s is already applied (seq %d)", p.ID, m.Seq)
	}
	c := Change{PutApplied: []Migration{{
		ID: p.ID, Checksum: p.Checksum, Seq: e.Seq, AppliedAt: e.RecordedAt,
		AppVersion: e.AppVersion, Actor: e.Actor, Host: e.Host,
		Compatible: p.Compatible, Transactional: p.Transactional, DownChecksum: p.DownChecksum,
	}}}
	if d, ok := s.InDoubt[p.ID]; ok {
		if d.Checksum != p.Checksum {
			return Change{}, invalid(e, "migration %s started with checksum %s, applied with %s", p.ID, d.Checksum, p.Checksum)
		}
		c.DelInDoubt = []string{p.ID}
	}
	if _, ok := s.Failed[p.ID]; ok {
		c.DelFailed = []string{p.ID}
	}
	return c, nil
}

func reverted(s *State, e Event) (Change, error) {
	var p Reverted
	if err := decode(e, &p); err != nil {
		return Change{}, err
	}
	if err := checkID(e, p.ID); err != nil {
		return Change{}, err
	}
	if p.Source != DownFromFile && p.Source != DownFromRecorded {
		return Change{}, invalid(e, "revert source %q: want %q or %q", p.Source, DownFromFile, DownFromRecorded)
	}
	if _, ok := s.Applied[p.ID]; !ok {
		return Change{}, invalid(e, "migration %s is not applied", p.ID)
	}
	c := Change{DelApplied: []string{p.ID}}
	if _, ok := s.InDoubt[p.ID]; ok { // a no-transaction revert finished
		c.DelInDoubt = []string{p.ID}
	}
	return c, nil
}

func failed(s *State, e Event) (Change, error) {
	var p Failed
	if err := decode(e, &p); err != nil {
		return Change{}, err
	}
	if err := checkID(e, p.ID); err != nil {
		return Change{}, err
	}
	if p.StatementsDone < 0 || p.Attempt < 0 {
		return Change{}, invalid(e, "negative statements_done or attempt")
	}
	_, isApplied := s.Applied[p.ID]
	var c Change
	switch p.Direction {
	case DirectionUp:
		if isApplied {
			return Change{}, invalid(e, "migration %s is applied; it cannot fail", p.ID)
		}
		c.PutFailed = []Failure{{
			ID: p.ID, Checksum: p.Checksum, Seq: e.Seq, FailedAt: e.RecordedAt,
			AppVersion: e.AppVersion, Actor: e.Actor, Host: e.Host,
			Error: p.Error, SQLState: p.SQLState, Statement: p.Statement, Attempt: p.Attempt,
		}}
	case DirectionDown:
		if !isApplied {
			return Change{}, invalid(e, "migration %s is not applied; its revert cannot fail", p.ID)
		}
	default:
		return Change{}, invalid(e, "direction %q: want %q or %q", p.Direction, DirectionUp, DirectionDown)
	}
	if d, ok := s.InDoubt[p.ID]; ok {
		if p.StatementsDone > 0 || p.LeftBehind {
			// Part of it took effect: the database is neither before nor after it.
			d.StatementsDone, d.Error, d.LeftBehind = p.StatementsDone, p.Error, slices.Clone(p.LeftIndexes)
			c.PutInDoubt = []InDoubt{d}
		} else {
			c.DelInDoubt = []string{p.ID}
		}
	} else if p.StatementsDone > 0 || p.LeftBehind {
		return Change{}, invalid(e, "migration %s failed after %d statements but never started", p.ID, p.StatementsDone)
	}
	return c, nil
}

// leftoverDropped: what a migration in doubt's interrupted statement left
// is gone; it stays in doubt (a resume goes on).
func leftoverDropped(s *State, e Event) (Change, error) {
	var p LeftoverDropped
	if err := decode(e, &p); err != nil {
		return Change{}, err
	}
	if err := checkID(e, p.ID); err != nil {
		return Change{}, err
	}
	d, ok := s.InDoubt[p.ID]
	switch {
	case !ok:
		return Change{}, invalid(e, "migration %s is not in doubt", p.ID)
	case p.Statement != d.StatementsDone+1:
		return Change{}, invalid(e, "statement %d of %s: the interrupted one is %d", p.Statement, p.ID, d.StatementsDone+1)
	case len(p.Indexes) == 0:
		return Change{}, invalid(e, "nothing dropped")
	}
	d.LeftBehind = slices.DeleteFunc(slices.Clone(d.LeftBehind), func(ix string) bool { return slices.Contains(p.Indexes, ix) })
	if len(d.LeftBehind) == 0 {
		d.LeftBehind = nil
	}
	return Change{PutInDoubt: []InDoubt{d}}, nil
}

// progressed records how many statements of a migration in doubt completed.
func progressed(s *State, e Event) (Change, error) {
	var p Progressed
	if err := decode(e, &p); err != nil {
		return Change{}, err
	}
	if err := checkID(e, p.ID); err != nil {
		return Change{}, err
	}
	d, ok := s.InDoubt[p.ID]
	if !ok {
		return Change{}, invalid(e, "migration %s is not in progress", p.ID)
	}
	if p.StatementsDone < 1 {
		return Change{}, invalid(e, "statements_done %d: want at least 1", p.StatementsDone)
	}
	d.StatementsDone = p.StatementsDone
	return Change{PutInDoubt: []InDoubt{d}}, nil
}

func started(s *State, e Event) (Change, error) {
	var p Started
	if err := decode(e, &p); err != nil {
		return Change{}, err
	}
	if err := checkID(e, p.ID); err != nil {
		return Change{}, err
	}
	if p.Checksum == "" {
		return Change{}, invalid(e, "migration %s has no checksum", p.ID)
	}
	if d, ok := s.InDoubt[p.ID]; ok {
		return Change{}, invalid(e, "migration %s is in doubt since seq %d; resolve it first", p.ID, d.Seq)
	}
	m, isApplied := s.Applied[p.ID]
	switch {
	case p.Direction == DirectionUp && isApplied:
		return Change{}, invalid(e, "migration %s is already applied", p.ID)
	case p.Direction == DirectionDown && !isApplied:
		return Change{}, invalid(e, "migration %s is not applied; its revert cannot start", p.ID)
	case p.Direction == DirectionDown && m.Checksum != p.Checksum:
		return Change{}, invalid(e, "migration %s was applied with checksum %s, its revert started with %s", p.ID, m.Checksum, p.Checksum)
	case p.Direction != DirectionUp && p.Direction != DirectionDown:
		return Change{}, invalid(e, "direction %q: want %q or %q", p.Direction, DirectionUp, DirectionDown)
	}
	return Change{PutInDoubt: []InDoubt{{
		ID: p.ID, Checksum: p.Checksum, Seq: e.Seq, StartedAt: e.RecordedAt,
		AppVersion: e.AppVersion, Actor: e.Actor, Host: e.Host,
		Compatible: p.Compatible, DownChecksum: p.DownChecksum,
	}}}, nil
}

func resolved(s *State, e Event) (Change, error) {
	var p Resolved
	if err := decode(e, &p); err != nil {
		return Change{}, err
	}
	d, ok := s.InDoubt[p.ID]
	if !ok {
		return Change{}, invalid(e, "migration %s is not in doubt", p.ID)
	}
	if p.Reason == "" {
		return Change{}, invalid(e, "resolving %s needs a reason", p.ID)
	}
	c := Change{DelInDoubt: []string{p.ID}}
	if _, reverting := s.Applied[p.ID]; reverting {
		// A revert in doubt: "applied" says the revert took effect.
		switch p.Decision {
		case ResolvedApplied:
			c.DelApplied = []string{p.ID}
		case ResolvedFailed:
		default:
			return Change{}, invalid(e, "decision %q: want %q or %q", p.Decision, ResolvedApplied, ResolvedFailed)
		}
		return c, nil
	}
	switch p.Decision {
	case ResolvedApplied:
		c.PutApplied = []Migration{{
			ID: d.ID, Checksum: d.Checksum, Seq: e.Seq, AppliedAt: e.RecordedAt,
			AppVersion: d.AppVersion, Actor: e.Actor, Host: e.Host,
			Compatible: d.Compatible, DownChecksum: d.DownChecksum,
		}}
		if _, ok := s.Failed[p.ID]; ok {
			c.DelFailed = []string{p.ID}
		}
	case ResolvedFailed:
		c.PutFailed = []Failure{{
			ID: d.ID, Checksum: d.Checksum, Seq: e.Seq, FailedAt: e.RecordedAt,
			AppVersion: d.AppVersion, Actor: e.Actor, Host: e.Host,
			Error: "resolved as failed: " + p.Reason,
		}}
	default:
		return Change{}, invalid(e, "decision %q: want %q or %q", p.Decision, ResolvedApplied, ResolvedFailed)
	}
	return c, nil
}

func baselined(s *State, e Event) (Change, error) {
	var p Baselined
	if err := decode(e, &p); err != nil {
		return Change{}, err
	}
	var c Change
	seen := map[string]bool{}
	for _, m := range p.Migrations {
		if err := checkID(e, m.ID); err != nil {
			return Change{}, err
		}
		if m.Checksum == "" {
			return Change{}, invalid(e, "migration %s has no checksum", m.ID)
		}
		if _, ok := s.Applied[m.ID]; ok || seen[m.ID] {
			return Change{}, invalid(e, "migration %s is already applied", m.ID)
		}
		if _, ok := s.InDoubt[m.ID]; ok {
			return Change{}, invalid(e, "migration %s is in doubt; resolve it first", m.ID)
		}
		seen[m.ID] = true
		c.PutApplied = append(c.PutApplied, Migration{
			ID: m.ID, Checksum: m.Checksum, Seq: e.Seq, AppliedAt: e.RecordedAt,
			AppVersion: e.AppVersion, Actor: e.Actor, Host: e.Host,
		})
		if _, ok := s.Failed[m.ID]; ok {
			c.DelFailed = append(c.DelFailed, m.ID)
		}
	}
	return c, nil
}

func fingerprinted(_ *State, e Event) (Change, error) {
	var p Fingerprinted
	if err := decode(e, &p); err != nil {
		return Change{}, err
	}
	if p.Fingerprint == "" {
		return Change{}, invalid(e, "empty fingerprint")
	}
	return Change{Fingerprint: &Fingerprint{Value: p.Fingerprint, Objects: p.Objects, Seq: e.Seq}}, nil
}

// Reverting reports whether the migration in doubt id is a revert in doubt
// (it is still applied) rather than an apply.
func (s State) Reverting(id string) bool {
	_, doubt := s.InDoubt[id]
	_, applied := s.Applied[id]
	return doubt && applied
}

// drifted changes no projection: the drift is in the history, and the
// recorded fingerprint stays until a run or an operator records a new one.
func drifted(_ *State, e Event) (Change, error) {
	var p Drifted
	if err := decode(e, &p); err != nil {
		return Change{}, err
	}
	if p.Fingerprint == "" {
		return Change{}, invalid(e, "empty fingerprint")
	}
	return Change{}, nil
}

// changed changes no projection: DDL run outside a migration is drift, in
// the history for verify, up and watch to name.
func changed(_ *State, e Event) (Change, error) {
	var p Changed
	if err := decode(e, &p); err != nil {
		return Change{}, err
	}
	if p.CommandTag == "" {
		return Change{}, invalid(e, "no command tag")
	}
	return Change{}, nil
}

func driftAccepted(_ *State, e Event) (Change, error) {
	var p DriftAccepted
	if err := decode(e, &p); err != nil {
		return Change{}, err
	}
	if p.Fingerprint == "" {
		return Change{}, invalid(e, "empty fingerprint")
	}
	if p.Reason == "" {
		return Change{}, invalid(e, "accepted drift without a reason")
	}
	return Change{Fingerprint: &Fingerprint{Value: p.Fingerprint, Objects: p.Objects, Seq: e.Seq}}, nil
}

// accepted replaces an applied migration's checksum, keeping the one it
// replaces as accepted (a file with it is the same migration); everything
// else recorded when it was applied (seq, time, release, actor) stays.
func accepted(s *State, e Event) (Change, error) {
	var p Accepted
	if err := decode(e, &p); err != nil {
		return Change{}, err
	}
	if err := checkID(e, p.ID); err != nil {
		return Change{}, err
	}
	m, ok := s.Applied[p.ID]
	switch {
	case !ok:
		return Change{}, invalid(e, "migration %s is not applied", p.ID)
	case p.Reason == "":
		return Change{}, invalid(e, "accepting a change to %s needs a reason", p.ID)
	case p.Checksum == "" || p.Checksum == p.Previous:
		return Change{}, invalid(e, "migration %s: the accepted checksum must be new and not empty", p.ID)
	case m.Checksum != p.Previous:
		return Change{}, invalid(e, "migration %s has checksum %s, not %s", p.ID, m.Checksum, p.Previous)
	}
	m.Accepted = append(slices.Clone(m.Accepted), m.Checksum)
	m.Checksum = p.Checksum
	return Change{DelApplied: []string{p.ID}, PutApplied: []Migration{m}}, nil
}

// Sorted returns the applied migrations ordered by id (CompareIDs).
func (s State) Sorted() []Migration {
	out := make([]Migration, 0, len(s.Applied))
	for _, m := range s.Applied {
		out = append(out, m)
	}
	sortMigrations(out)
	return out
}

// String summarises the state in one line.
func (s State) String() string {
	return fmt.Sprintf("seq %d, schema version %q, %d applied, %d in doubt, %d failed", s.Seq, s.SchemaVersion, len(s.Applied), len(s.InDoubt), len(s.Failed))
}
