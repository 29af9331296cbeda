package projector

import (
	"encoding/json"
	"time"
)

// Event types. These names are stored in the ledger; never rename one.
const (
	TypeLedgerInitialized   = "ledger.initialized"
	TypeLedgerUpgraded      = "ledger.upgraded"
	TypeMigrationApplied    = "migration.applied"
	TypeMigrationReverted   = "migration.reverted"
	TypeMigrationFailed     = "migration.failed"
	TypeMigrationStarted    = "migration.started"
	TypeMigrationResolved   = "migration.resolved"
	TypeMigrationProgressed = "migration.progressed"
	TypeSchemaBaselined     = "schema.baselined"
	TypeSchemaFingerprinted = "schema.fingerprinted"
	TypeSchemaDrifted       = "schema.drifted"
	TypeSchemaDriftAccepted = "schema.drift_accepted"
	TypeSchemaChanged       = "schema.changed"
	TypeMigrationAccepted   = "migration.accepted"
	// TypeLeftoverDropped: before resuming a migration in doubt, what its
	// interrupted statement left behind (an invalid index) was dropped.
	TypeLeftoverDropped = "migration.leftover_dropped"

	// A rollout's events, recorded in a control ledger (a ledger schema of
	// its own, e.g. ledger_rollouts): see RolloutStarted and the fleet
	// package. They change no projection; each payload's "id" is the
	// rollout's id, so the store's migration_id column (payload->>'id')
	// indexes one rollout's events.
	TypeRolloutStarted     = "rollout.started"
	TypeRolloutTarget      = "rollout.target"
	TypeRolloutHalted      = "rollout.halted"
	TypeRolloutInterrupted = "rollout.interrupted"
	TypeRolloutResumed     = "rollout.resumed"
	TypeRolloutFinished    = "rollout.finished"
)

// PayloadVersion is the newest payload version this package understands, per
// event type. A stored event with a newer version is refused (fail closed).
var payloadVersions = map[string]int{
	TypeLedgerInitialized:   1,
	TypeLedgerUpgraded:      1,
	TypeMigrationApplied:    1,
	TypeMigrationReverted:   1,
	TypeMigrationFailed:     1,
	TypeMigrationStarted:    1,
	TypeMigrationResolved:   1,
	TypeMigrationProgressed: 1,
	TypeSchemaBaselined:     1,
	TypeSchemaFingerprinted: 1,
	TypeSchemaDrifted:       1,
	TypeSchemaDriftAccepted: 1,
	TypeSchemaChanged:       1,
	TypeMigrationAccepted:   1,
	TypeLeftoverDropped:     1,
	TypeRolloutStarted:      1,
	TypeRolloutTarget:       1,
	TypeRolloutHalted:       1,
	TypeRolloutInterrupted:  1,
	TypeRolloutResumed:      1,
	TypeRolloutFinished:     1,
}

// Types lists every event type this package knows, in a stable order.
func Types() []string {
	return []string{
		TypeLedgerInitialized, TypeMigrationApplied, TypeMigrationReverted,
		TypeMigrationFailed, TypeMigrationStarted, TypeMigrationResolved,
		TypeSchemaBaselined, TypeSchemaFingerprinted, TypeSchemaDrifted, TypeSchemaDriftAccepted,
		TypeLedgerUpgraded, TypeMigrationProgressed, TypeSchemaChanged, TypeMigrationAccepted,
		TypeLeftoverDropped,
		TypeRolloutStarted, TypeRolloutTarget, TypeRolloutHalted, TypeRolloutInterrupted,
		TypeRolloutResumed, TypeRolloutFinished,
	}
}

// KnownType reports whether t is an event type this package can fold.
func KnownType(t string) bool { _, ok := payloadVersions[t]; return ok }

// Event is the envelope of one ledger event, as stored. The event store fills
// Seq, ID, RecordedAt, Actor, PrevHash and Hash when it appends; a producer sets
// Type, PayloadVersion, Payload and, where it knows them, Host and AppVersion.
//
// Its JSON (EncodeEvent, eventjson.go) is written in that one place: the
// line of `ledger history --json`, the body of the message that carries the
// event on NATS, and what MarshalJSON and UnmarshalJSON read and write.
type Event struct {
	Seq            int64
	ID             string
	Type           string
	PayloadVersion int
	Payload        json.RawMessage
	RecordedAt     time.Time
	Actor          string
	Host           string
	AppVersion     string
	PrevHash       []byte
	Hash           []byte
	// State is what the ledger holds after this event, committed in the
	// event's hash (ledger format 2 and later; nil for the events of an
	// older format, which did not record it).
	State *Committed
}

// Committed is the state an event leaves behind, stored in the event's own
// hashed columns: a startup check compares the head with the newest event's
// Committed, so a forged head or projection row does not pass unless the
// newest event itself is rewritten (which breaks its hash).
type Committed struct {
	Format        int    `json:"format"`
	Digest        Digest `json:"digest"`
	InDoubt       int    `json:"in_doubt"`
	SchemaVersion string `json:"schema_version"`
}

// Committed is what s commits into the event that produced it.
func (s State) Committed() Committed {
	return Committed{Format: s.Format, Digest: s.Digest, InDoubt: len(s.InDoubt), SchemaVersion: s.SchemaVersion}
}

// NewEvent builds an event of the given type with the payload marshalled at
// the current payload version.
func NewEvent(typ string, payload any) (Event, error) {
	if !KnownType(typ) {
		return Event{}, &UnknownTypeError{Type: typ}
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return Event{}, err
	}
	return Event{Type: typ, PayloadVersion: payloadVersions[typ], Payload: b}, nil
}

// Initialized is the payload of ledger.initialized: the ledger's schema was created.
type Initialized struct {
	Format int    `json:"format"`
	Schema string `json:"schema"`
}

// Upgraded is the payload of ledger.upgraded: the ledger's own tables were
// upgraded in place from one format to the next (one event per step).
type Upgraded struct {
	From int `json:"from"`
	To   int `json:"to"`
}

// Applied is the payload of migration.applied.
type Applied struct {
	ID            string `json:"id"`
	Checksum      string `json:"checksum"`
	Compatible    string `json:"compatible,omitempty"`
	Transactional bool   `json:"transactional"`
	DownSQL       string `json:"down_sql,omitempty"`
	DownChecksum  string `json:"down_checksum,omitempty"`
	DurationMS    int64  `json:"duration_ms"`
	// Adopted: the migration was not run by ledger but taken over from
	// another tool's history (adopt) or declared applied (baseline).
	Adopted *Adoption `json:"adopted,omitempty"`
	// AllowedBreaking: the releases still running (seen within the fleet
	// window) that this migration made refuse, applied anyway because the
	// operator allowed it (up --allow-breaking).
	AllowedBreaking []BrokenRelease `json:"allowed_breaking,omitempty"`
	// Rollout: the id of the fleet rollout that applied it, if one did
	// (its events are in the rollout's control ledger).
	Rollout string `json:"rollout,omitempty"`
}

// BrokenRelease is a running release a migration was allowed to break.
type BrokenRelease struct {
	Release   string    `json:"release"` // its app version
	Policy    string    `json:"policy"`
	Instances int       `json:"instances"`
	LastSeen  time.Time `json:"last_seen"`
	LastHost  string    `json:"last_host"`
}

// Adoption is what another tool's history kept about a migration that
// ledger adopted, as that tool stored it.
type Adoption struct {
	From        string `json:"from"`                   // goose, golang-migrate, tern, flyway, or "baseline"
	Table       string `json:"table,omitempty"`        // the source's history table, schema-qualified
	Version     string `json:"version,omitempty"`      // the source's version of this migration (or, for a source keeping one row, its current version)
	AppliedAt   string `json:"applied_at,omitempty"`   // goose's tstamp, Flyway's installed_on (timestamp without time zone, as text)
	Rank        *int64 `json:"rank,omitempty"`         // goose's row id, Flyway's installed_rank
	Checksum    *int32 `json:"checksum,omitempty"`     // Flyway's checksum of its file
	InstalledBy string `json:"installed_by,omitempty"` // Flyway
	ExecutionMS *int64 `json:"execution_ms,omitempty"` // Flyway's execution_time
	Script      string `json:"script,omitempty"`       // Flyway
	Type        string `json:"type,omitempty"`         // Flyway's row type (SQL, BASELINE, …)
}

// Accepted is the payload of migration.accepted: an operator accepted an
// intentional change to an applied migration's file (line endings
// normalised, a comment fixed) — Flyway's repair, audited. The applied
// migration's checksum becomes Checksum; Previous is the one it replaces.
type Accepted struct {
	ID       string `json:"id"`
	Previous string `json:"previous_checksum"`
	Checksum string `json:"checksum"`
	Reason   string `json:"reason"`
}

// Down sources for migration.reverted.
const (
	DownFromFile     = "file"     // the down file of the set the reverting binary ships
	DownFromRecorded = "recorded" // the down SQL recorded in the migration.applied event
)

// Reverted is the payload of migration.reverted.
type Reverted struct {
	ID           string `json:"id"`
	Source       string `json:"source"`
	DownChecksum string `json:"down_checksum,omitempty"`
	DurationMS   int64  `json:"duration_ms"`
}

// Directions of migration.started and migration.failed: a migration is
// applied (up, the default) or reverted (down).
const (
	DirectionUp   = ""
	DirectionDown = "down"
)

// Failed is the payload of migration.failed, recorded in its own transaction
// after the failed migration was rolled back. StatementsDone counts statements
// of a no-transaction migration that had committed before the failure: when it
// is not zero the database holds part of the migration, so it stays in doubt.
// LeftBehind says the failing statement itself may have left something
// behind (a failed CREATE INDEX CONCURRENTLY leaves an invalid index): the
// migration stays in doubt too. A failed revert (Direction "down") leaves
// the migration applied, or in doubt.
type Failed struct {
	ID             string `json:"id"`
	Checksum       string `json:"checksum"`
	Error          string `json:"error"`
	SQLState       string `json:"sqlstate,omitempty"`
	Statement      string `json:"statement,omitempty"`
	Attempt        int    `json:"attempt"`
	StatementsDone int    `json:"statements_done,omitempty"`
	LeftBehind     bool   `json:"left_behind,omitempty"`
	// LeftIndexes are the invalid indexes the failing statement left, as
	// found after it failed ("schema.index"), when it left any.
	LeftIndexes []string `json:"left_indexes,omitempty"`
	Direction   string   `json:"direction,omitempty"`
}

// LeftoverDropped is the payload of migration.leftover_dropped: before a
// resume ran statement Statement (1-based) of a migration in doubt again,
// the invalid indexes that statement had left behind when it was
// interrupted were dropped (DROP INDEX CONCURRENTLY), so that it can run.
type LeftoverDropped struct {
	ID        string   `json:"id"`
	Statement int      `json:"statement"`
	Indexes   []string `json:"indexes"`
}

// Progressed is the payload of migration.progressed: a statement of a
// no-transaction migration in progress completed, so StatementsDone of them
// have taken effect. An interrupted migration can be resumed from there.
type Progressed struct {
	ID             string `json:"id"`
	StatementsDone int    `json:"statements_done"`
}

// Started is the payload of migration.started, recorded before a
// no-transaction migration runs. Until a migration.applied, migration.failed
// (with no statement done) or migration.resolved follows, it is in doubt.
// With Direction "down" it starts the revert of an applied migration, which
// is then in doubt until migration.reverted, migration.failed or
// migration.resolved.
type Started struct {
	ID           string `json:"id"`
	Checksum     string `json:"checksum"`
	Compatible   string `json:"compatible,omitempty"`
	DownSQL      string `json:"down_sql,omitempty"`
	DownChecksum string `json:"down_checksum,omitempty"`
	Direction    string `json:"direction,omitempty"`
}

// Decisions for migration.resolved.
const (
	ResolvedApplied = "applied"
	ResolvedFailed  = "failed"
)

// Resolved is the payload of migration.resolved: an operator's decision about
// a migration in doubt.
type Resolved struct {
	ID       string `json:"id"`
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
}

// BaselineMigration is one migration adopted by schema.baselined.
type BaselineMigration struct {
	ID       string `json:"id"`
	Checksum string `json:"checksum"`
}

// Baselined is the payload of schema.baselined: an existing database (or
// another tool's history) adopted as already holding these migrations.
//
// adopt and baseline record it with no Migrations, followed by one
// migration.applied (with Adopted set) per migration taken over; the
// fields after Migrations say where the baseline came from.
type Baselined struct {
	Source     string              `json:"source"`
	Migrations []BaselineMigration `json:"migrations"`
	Table      string              `json:"table,omitempty"`    // the other tool's history table
	Version    string              `json:"version,omitempty"`  // its current version there
	To         string              `json:"to,omitempty"`       // baseline --to: the newest migration declared applied
	Reason     string              `json:"reason,omitempty"`   // the operator's reason
	Adopted    []string            `json:"adopted,omitempty"`  // ids recorded by the migration.applied events that follow
	Unmapped   []string            `json:"unmapped,omitempty"` // source rows that map to no migration of the set (recorded with --allow-unmapped)
}

// Fingerprinted is the payload of schema.fingerprinted: a digest of the
// catalog at the end of an up or down run.
type Fingerprinted struct {
	Fingerprint string `json:"fingerprint"`
	Objects     int    `json:"objects"`
}

// Drifted is the payload of schema.drifted: before it migrated, a run found
// the catalog differing from the last recorded snapshot — a change made
// outside any migration. It records what differs; it does not move the
// recorded fingerprint (the run's own schema.fingerprinted does that, so
// the drift stays in the history and is never absorbed silently).
type Drifted struct {
	Fingerprint string   `json:"fingerprint"`          // the catalog found
	Objects     int      `json:"objects"`              // its number of objects
	Recorded    string   `json:"recorded"`             // the snapshot it was compared with
	RecordedSeq int64    `json:"recorded_seq"`         // the event that recorded it
	Changes     []string `json:"changes,omitempty"`    // one line per object that appeared, disappeared or changed
	Refused     bool     `json:"refused,omitempty"`    // the run stopped here (--refuse-drift)
	Unreadable  string   `json:"unreadable,omitempty"` // why the changes could not be listed (no snapshot stored)
}

// DriftAccepted is the payload of schema.drift_accepted: an operator keeps
// a change made outside the migrations, with a reason; the snapshot found
// becomes the recorded one.
type DriftAccepted struct {
	Fingerprint string   `json:"fingerprint"`
	Objects     int      `json:"objects"`
	Recorded    string   `json:"recorded,omitempty"` // the snapshot it replaces
	Reason      string   `json:"reason"`
	Changes     []string `json:"changes,omitempty"`
}

// ChangedObject is one object a DDL command created, altered or dropped.
type ChangedObject struct {
	ObjectType string `json:"object_type"` // "table", "table column", "index" ...
	Identity   string `json:"identity"`    // e.g. public.users.sneaky_hotfix
}

// Changed is the payload of schema.changed, appended by the event trigger
// of ledger init --capture-ddl for DDL run outside a migration, in the
// DDL's own transaction: who ran what, when (the event's time).
type Changed struct {
	CommandTag      string          `json:"command_tag"` // e.g. ALTER TABLE
	Objects         []ChangedObject `json:"objects"`
	User            string          `json:"user"` // the session's user
	ApplicationName string          `json:"application_name"`
}
