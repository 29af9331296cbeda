package report

import (
	"time"

	"github.com/schema-ledger/ledger/projector"
)

// Kind is what a transition did, as the page marks it.
type Kind string

// The kinds of transition. Every event type maps to exactly one (kindOf).
const (
	KindApplied   Kind = "applied"   // migration.applied, run by ledger
	KindReverted  Kind = "reverted"  // migration.reverted
	KindFailed    Kind = "failed"    // migration.failed
	KindInDoubt   Kind = "in-doubt"  // a migration.started that was left in doubt (never finished, or settled by an operator)
	KindResolved  Kind = "resolved"  // migration.resolved: an operator's decision about a migration in doubt
	KindDrifted   Kind = "drifted"   // schema.drifted: the schema changed outside the migrations
	KindChanged   Kind = "changed"   // schema.changed: DDL outside a migration, captured as it ran
	KindAccepted  Kind = "accepted"  // migration.accepted (a changed checksum) or schema.drift_accepted
	KindAdopted   Kind = "adopted"   // migration.applied taken over from another tool's history
	KindBaselined Kind = "baselined" // schema.baselined
	KindStarted   Kind = "started"   // migration.started that finished normally
	KindOther     Kind = "other"     // ledger.initialized, ledger.upgraded, schema.fingerprinted, migration.progressed
)

// Kinds lists every kind in the order the page's legend shows them.
func Kinds() []Kind {
	return []Kind{KindApplied, KindReverted, KindFailed, KindInDoubt, KindResolved, KindDrifted, KindChanged,
		KindAccepted, KindAdopted, KindBaselined, KindStarted, KindOther}
}

// Label is the kind in words.
func (k Kind) Label() string {
	switch k {
	case KindInDoubt:
		return "in doubt"
	case KindChanged:
		return "DDL outside a migration"
	case KindOther:
		return "ledger bookkeeping"
	}
	return string(k)
}

// Report is the model of one ledger's page. It is plain data: it marshals
// to JSON (the --json of `ledger report`) and RenderHTML draws it.
type Report struct {
	Title       string    `json:"title"`
	Ledger      Ledger    `json:"ledger"`
	GeneratedAt time.Time `json:"generated_at"`
	Cut         Cut       `json:"cut"`
	// Verification is the chain's verification, run while the report was made.
	Verification Verification `json:"verification"`
	// Now is the ledger as its newest verified event leaves it; AtCutEnd
	// is the ledger at the end of the cut (nil when the cut ends now).
	Now       State            `json:"now"`
	AtCutEnd  *State           `json:"at_cut_end,omitempty"`
	Timeline  Timeline         `json:"timeline"`
	Releases  []Release        `json:"releases"`
	Failures  List[Failure]    `json:"failures"`
	Drift     List[Drift]      `json:"drift"`
	Accepted  List[Acceptance] `json:"accepted"`
	InDoubt   List[Doubt]      `json:"in_doubt"`
	Baselines List[Baseline]   `json:"baselines"`
	// Detail is the transitions of the cut, every one when they are few,
	// else the newest Options.MaxDetail.
	Detail List[Transition] `json:"detail"`
	// Seen lists the releases that checked in within the window (their
	// running instances), newest first; empty without check-ins.
	Seen []Seen `json:"seen,omitempty"`
}

// Ledger names the ledger the page is about.
type Ledger struct {
	Database string `json:"database,omitempty"` // as the caller describes it (no password)
	Schema   string `json:"schema"`
	Format   int    `json:"format"`
}

// Cut is the part of the history the page shows: events recorded at or
// after Since, before Until, by Release (zero: no bound).
type Cut struct {
	Since   *time.Time `json:"since,omitempty"`
	Until   *time.Time `json:"until,omitempty"`
	Release string     `json:"release,omitempty"`
	// Events is how many events the cut holds, of Total in the ledger.
	Events int   `json:"events"`
	Total  int64 `json:"total"`
	// First and Last are the times of the cut's oldest and newest events.
	First *time.Time `json:"first,omitempty"`
	Last  *time.Time `json:"last,omitempty"`
}

// Whole reports whether the cut is the whole history.
func (c Cut) Whole() bool { return c.Since == nil && c.Until == nil && c.Release == "" }

// Verification is what verifying the ledger found while the report was
// made, and the checkpoint to verify it against later.
type Verification struct {
	OK bool `json:"ok"`
	// Summary is the result in words, one line.
	Summary string `json:"summary"`
	// Checked names what was verified ("hash chain", "projection", …).
	Checked []string `json:"checked"`
	// Problems lists what does not check out, one line each.
	Problems []string `json:"problems,omitempty"`
	// Events is how many events were walked.
	Events int64 `json:"events"`
	// Checkpoint is SEQ:HASH of the newest event verified ("" for an empty
	// or unreadable ledger): kept elsewhere, it proves later that the
	// ledger still holds exactly this history.
	Checkpoint string `json:"checkpoint,omitempty"`
	// Recheck is how to verify the ledger against the checkpoint later,
	// in the caller's words (Options.Recheck); "" if it gave none.
	Recheck string `json:"recheck,omitempty"`
	// LiveDrift lists what differs between the live schema and the last
	// recorded snapshot, one object per line (RunnerVerifier), if it does.
	LiveDrift []string         `json:"live_drift,omitempty"`
	fold      *projector.State // the events' fold, from the walk (FromChain)
}

// State is what the ledger holds after an event.
type State struct {
	Seq           int64     `json:"seq"`
	At            time.Time `json:"at"`
	SchemaVersion string    `json:"schema_version"`
	Applied       int       `json:"applied"`
	AppliedIDs    []string  `json:"applied_ids,omitempty"` // in order
	InDoubt       []string  `json:"in_doubt,omitempty"`
	Failed        []string  `json:"failed,omitempty"`
	Fingerprint   string    `json:"fingerprint,omitempty"`
	// FoldError: the events do not fold (the ledger does not verify); the
	// other fields are the state before the event that failed.
	FoldError string `json:"fold_error,omitempty"`
}

// List is a bounded list: Items holds at most the limit the report was
// made with; Total counts them all.
type List[T any] struct {
	Total int `json:"total"`
	Items []T `json:"items"`
}

// Omitted is how many items the list leaves out.
func (l List[T]) Omitted() int { return l.Total - len(l.Items) }

// Transition is one event of the history, as the page lists it.
type Transition struct {
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
	Kind       Kind      `json:"kind"`
	Type       string    `json:"type"`
	Migration  string    `json:"migration,omitempty"`
	Release    string    `json:"release"` // the app version that recorded it
	Host       string    `json:"host"`
	Actor      string    `json:"actor"`
	DurationMS *int64    `json:"duration_ms,omitempty"`
	// Summary is the event in one line of words.
	Summary string `json:"summary"`
	note    string // what a release's list of steps says beside the migration
}

// Timeline is the history on a time axis: one lane per release (its band
// from its first event to its last in the cut) and either a mark per
// transition or, when there are more than Options.MaxMarks, the
// transitions counted by Bucket.
type Timeline struct {
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	Lanes []Lane    `json:"lanes"`
	Marks []Mark    `json:"marks,omitempty"`
	// Aggregated: Buckets holds the counts, Marks is empty.
	Aggregated bool     `json:"aggregated"`
	Bucket     string   `json:"bucket,omitempty"` // second, minute, hour, day, week or month
	Buckets    []Bucket `json:"buckets,omitempty"`
}

// Lane is one release's band on the timeline.
type Lane struct {
	Release string    `json:"release"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
	Events  int       `json:"events"`
}

// Mark is one transition on the timeline.
type Mark struct {
	Seq       int64     `json:"seq"`
	At        time.Time `json:"at"`
	Kind      Kind      `json:"kind"`
	Lane      int       `json:"lane"`
	Migration string    `json:"migration,omitempty"`
	Summary   string    `json:"summary"`
	Who       string    `json:"who"` // actor@host
}

// Bucket counts the transitions of one period of an aggregated timeline.
type Bucket struct {
	Start  time.Time    `json:"start"`
	End    time.Time    `json:"end"`
	Total  int          `json:"total"`
	Counts map[Kind]int `json:"counts"`
	// InDetail: the page's Detail holds every transition of this period.
	InDetail bool `json:"in_detail"`
}

// Release is what one release (app version) recorded in the cut.
type Release struct {
	Version  string       `json:"version"`
	First    time.Time    `json:"first"`
	Last     time.Time    `json:"last"`
	Events   int          `json:"events"`
	Counts   map[Kind]int `json:"counts"`
	Hosts    []string     `json:"hosts"`
	Actors   []string     `json:"actors"`
	Applied  List[Step]   `json:"applied"`  // applied or adopted by it, oldest first
	Reverted List[Step]   `json:"reverted"` // reverted by it, oldest first
}

// Step is a migration a release applied or reverted, and when.
type Step struct {
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
	Migration  string    `json:"migration"`
	Host       string    `json:"host"`
	Actor      string    `json:"actor"`
	DurationMS *int64    `json:"duration_ms,omitempty"`
	Note       string    `json:"note,omitempty"` // adopted from …, down SQL from …
}

// Failure is one recorded failure of a migration.
type Failure struct {
	Seq       int64     `json:"seq"`
	At        time.Time `json:"at"`
	Migration string    `json:"migration"`
	Release   string    `json:"release"`
	Host      string    `json:"host"`
	Actor     string    `json:"actor"`
	Direction string    `json:"direction"` // up or down
	SQLState  string    `json:"sqlstate,omitempty"`
	Error     string    `json:"error"`
	Statement string    `json:"statement,omitempty"`
	Attempt   int       `json:"attempt,omitempty"`
	// LeftInDoubt: statements had committed (or the statement left
	// something behind), so the migration stayed in doubt.
	LeftInDoubt bool `json:"left_in_doubt,omitempty"`
}

// Drift is a change of the schema made outside the migrations: recorded
// by a run that found it (schema.drifted) or captured as it ran
// (schema.changed).
type Drift struct {
	Seq     int64     `json:"seq"`
	At      time.Time `json:"at"`
	Release string    `json:"release"`
	Host    string    `json:"host"`
	Actor   string    `json:"actor"`
	// Changes lists what differs, one object per line.
	Changes    []string `json:"changes"`
	Found      string   `json:"found,omitempty"`    // the catalog's fingerprint
	Recorded   string   `json:"recorded,omitempty"` // the snapshot it differed from
	Refused    bool     `json:"refused,omitempty"`  // the run stopped there
	Unreadable string   `json:"unreadable,omitempty"`
	Captured   bool     `json:"captured,omitempty"` // schema.changed (DDL captured as it ran)
	// AcceptedSeq is the schema.drift_accepted that kept it (0: none yet).
	AcceptedSeq int64 `json:"accepted_seq,omitempty"`
}

// Acceptance is an operator's acceptance, with the reason: a changed
// checksum of an applied migration (migration.accepted) or drift kept
// (schema.drift_accepted).
type Acceptance struct {
	Seq       int64     `json:"seq"`
	At        time.Time `json:"at"`
	What      string    `json:"what"` // "checksum" or "drift"
	Migration string    `json:"migration,omitempty"`
	Previous  string    `json:"previous,omitempty"` // the checksum or snapshot replaced
	Now       string    `json:"now,omitempty"`      // the checksum or snapshot accepted
	Reason    string    `json:"reason"`
	Changes   []string  `json:"changes,omitempty"`
	Release   string    `json:"release"`
	Host      string    `json:"host"`
	Actor     string    `json:"actor"`
}

// Doubt is a migration that was left in doubt: started (without a
// transaction) and never finished cleanly, and how it was settled.
type Doubt struct {
	Migration  string    `json:"migration"`
	Direction  string    `json:"direction"` // up or down
	StartedSeq int64     `json:"started_seq"`
	StartedAt  time.Time `json:"started_at"`
	Release    string    `json:"release"`
	Host       string    `json:"host"`
	// Settled: an operator resolved it (Decision, Reason, by Actor at
	// ResolvedAt); otherwise it is still in doubt.
	Settled     bool       `json:"settled"`
	ResolvedSeq int64      `json:"resolved_seq,omitempty"`
	ResolvedAt  *time.Time `json:"resolved_at,omitempty"`
	Decision    string     `json:"decision,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	ResolvedBy  string     `json:"resolved_by,omitempty"`
	Error       string     `json:"error,omitempty"` // the failure that left it in doubt
}

// Baseline is an existing database or another tool's history adopted.
type Baseline struct {
	Seq      int64     `json:"seq"`
	At       time.Time `json:"at"`
	Source   string    `json:"source"`
	Table    string    `json:"table,omitempty"`
	Version  string    `json:"version,omitempty"`
	To       string    `json:"to,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Adopted  int       `json:"adopted"` // migrations taken over
	Unmapped []string  `json:"unmapped,omitempty"`
	Release  string    `json:"release"`
	Actor    string    `json:"actor"`
}

// Seen is a release seen running (check-ins) within the window.
type Seen struct {
	Release   string    `json:"release"`
	Policy    string    `json:"policy"`
	Instances int       `json:"instances"`
	Hosts     []string  `json:"hosts"`
	LastSeen  time.Time `json:"last_seen"`
	Decisions []string  `json:"decisions"`
}
