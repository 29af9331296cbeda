package migrations

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/schema-ledger/ledger/internal/foreign"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

// ErrForeignHistory: the database holds another migration tool's history
// and no ledger; running this set would re-run migrations that tool applied.
var ErrForeignHistory = errors.New("the database is managed by another migration tool")

// ForeignHistory is another migration tool's history table found in a
// database without a ledger.
type ForeignHistory struct {
	Tool    string `json:"tool"`    // goose, golang-migrate, tern or flyway
	Table   string `json:"table"`   // schema-qualified
	Version string `json:"version"` // the tool's current version there ("" none, "?" unreadable)
	Rows    int    `json:"rows"`    // rows saying migrations are applied
	Problem string `json:"problem,omitempty"`
}

// Fix is what takes the history over, as data (FixAdopt): a caller words it
// (cmd/ledger as its adopt command).
func (h ForeignHistory) Fix() Fix {
	f := Fix{Action: FixAdopt, Tool: h.Tool}
	if tool, err := foreign.ParseTool(h.Tool); err != nil || h.Table != "public."+tool.DefaultTable() {
		f.Table = h.Table
	}
	return f
}

// ForeignHistoryError is returned by Check, Checker.Check and Runner.Up on
// a database that another tool has been migrating and that has no ledger:
// nothing was run. It names each tool, its version there and how to adopt
// its history (Fixes: one FixAdopt each).
type ForeignHistoryError struct {
	Schema    string // the ledger schema that does not exist
	Histories []ForeignHistory
}

func (e *ForeignHistoryError) Error() string { return e.ErrorWith(adoptAdvice) }

// ErrorWith is Error with each history's fix worded by advise (the whole
// line, e.g. "to take it over: …").
func (e *ForeignHistoryError) ErrorWith(advise Advice) string {
	var b strings.Builder
	fmt.Fprintf(&b, "this database has no ledger (schema %q) but holds the history of another migration tool, so nothing was run (it would re-run migrations already applied):", e.Schema)
	for _, h := range e.Histories {
		fmt.Fprintf(&b, "\n  %s: table %s, version %s", h.Tool, h.Table, orDash(h.Version))
		if h.Problem != "" {
			fmt.Fprintf(&b, " (%s)", h.Problem)
		}
		fmt.Fprintf(&b, "\n    %s", advise(h.Fix()))
	}
	return b.String()
}

// Fixes is one FixAdopt per history.
func (e *ForeignHistoryError) Fixes() []Fix {
	fixes := make([]Fix, len(e.Histories))
	for i, h := range e.Histories {
		fixes[i] = h.Fix()
	}
	return fixes
}

// adoptAdvice words a FixAdopt in the library's terms: package adopt.
func adoptAdvice(f Fix) string {
	s := fmt.Sprintf("to take it over: adopt its history into the ledger before the first up (adopt.Adopt, From %q", f.Tool)
	if f.Table != "" {
		s += fmt.Sprintf(", Table %q", f.Table)
	}
	return s + ")"
}

func (e *ForeignHistoryError) Unwrap() error { return ErrForeignHistory }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ForeignHistories looks for other migration tools' history tables that say
// migrations are applied (or that cannot be read). Only a database whose
// ledger has never applied or adopted a migration is looked at (no ledger,
// an empty one from ledger init, or one whose first up failed): once a
// history is adopted, the tool's table is history, left as it was.
func (r *Runner) ForeignHistories(ctx context.Context) ([]ForeignHistory, error) {
	head, err := r.store.Head(ctx)
	if !neverMigrated(ctx, r.store, head, err) {
		return nil, nil
	}
	return foreignHistories(ctx, r.db, r.store.Schema(), r.cfg.tenant)
}

// neverMigrated reports whether the ledger (its head read as head, err)
// does not exist, or has never recorded a migration applied or adopted.
// Errors other than a missing ledger are the caller's own read to report.
func neverMigrated(ctx context.Context, store *ledger.Store, head ledger.Head, err error) bool {
	switch {
	case errors.Is(err, ledger.ErrNotInitialized):
		return true
	case err != nil || head.SchemaVersion != "":
		return false
	}
	for _, err := range store.Events(ctx, ledger.Filter{Types: []string{projector.TypeMigrationApplied, projector.TypeSchemaBaselined}, Limit: 1}) {
		_ = err // an event (or an error reading one): not a never-migrated ledger we can vouch for
		return false
	}
	return true
}

// foreignCandidates is the first step of the search for other tools'
// history tables (foreign.CandidatesSQL) as a probe that goes beside
// another read, and the rest of the search among what it found.
type foreignCandidates struct {
	cands foreign.Candidates
	done  bool // the probe's rows were read
}

func (c *foreignCandidates) probe() ledger.Probe {
	return ledger.Probe{SQL: foreign.CandidatesSQL, Scan: func(rows pgx.Rows) (err error) {
		c.cands, err = foreign.ScanCandidates(rows)
		c.done = err == nil
		return err
	}}
}

// refuse is foreignError among the candidates: their columns are read
// only when there are any (most databases have none).
func (c *foreignCandidates) refuse(ctx context.Context, db ledger.DB, schema, tenant string) error {
	tables, err := foreign.DetectAmong(ctx, db, c.cands, schema)
	if err != nil {
		return err
	}
	return historyError(ctx, db, tables, schema, tenant)
}

// foreignProbe asks, beside the state (Store.StateWith), whether an empty
// ledger ever migrated and which relations may be other tools' history
// tables: what refuseForeign reads in two round trips of its own.
type foreignProbe struct {
	foreignCandidates
	store    *ledger.Store
	created  bool // the ledger holds only the event that created it
	migrated bool
}

// newForeignProbe probes beside the state of a ledger whose head is head.
// A ledger at seq 1 holds only ledger.initialized, the event every ledger
// begins with: that it never migrated needs no read (a first up still
// running leaves it so).
func newForeignProbe(store *ledger.Store, head ledger.Head) *foreignProbe {
	return &foreignProbe{store: store, created: head.Seq == 1}
}

func (p *foreignProbe) probes() []ledger.Probe {
	if p.created {
		return []ledger.Probe{p.probe()}
	}
	return []ledger.Probe{p.store.EventsExist(&p.migrated, projector.TypeMigrationApplied, projector.TypeSchemaBaselined), p.probe()}
}

// refuse is foreignError from what the probe found, for a ledger that
// never migrated (nil otherwise).
func (p *foreignProbe) refuse(ctx context.Context, db ledger.DB, schema, tenant string) error {
	if p.migrated {
		return nil
	}
	return p.foreignCandidates.refuse(ctx, db, schema, tenant)
}

// absentReads are the reads an up makes of a database without a ledger
// before it creates one — other tools' history tables (Detect) and
// whether the role may create the ledger (MayRecord) — as probes that go
// with the ledger's presence (Store.PresenceWith): one round trip where
// they took three.
type absentReads struct {
	foreignCandidates
	mayRecord error
}

func (a *absentReads) probes(store *ledger.Store) []ledger.Probe {
	return []ledger.Probe{a.probe(), store.MayRecordProbe(&a.mayRecord)}
}

// refuse is foreignError, then MayRecord, from what the probes read.
func (a *absentReads) refuse(ctx context.Context, db ledger.DB, schema, tenant string) error {
	if err := a.foreignCandidates.refuse(ctx, db, schema, tenant); err != nil {
		return err
	}
	return a.mayRecord
}

// foreignHistories: with a tenant, only that tenant's schema is looked at
// (another tenant's tool history is not this one's).
func foreignHistories(ctx context.Context, db ledger.DB, schema, tenant string) ([]ForeignHistory, error) {
	tables, err := foreign.Detect(ctx, db, schema)
	if err != nil {
		return nil, err
	}
	return readForeign(ctx, db, tables, tenant)
}

// readForeign reads each detected table's history: the tables that say
// migrations are applied, or cannot be read.
func readForeign(ctx context.Context, db ledger.DB, tables []foreign.Table, tenant string) ([]ForeignHistory, error) {
	if tenant != "" {
		tables = slices.DeleteFunc(tables, func(t foreign.Table) bool { return t.Schema != tenant })
	}
	if len(tables) == 0 {
		return nil, nil
	}
	var out []ForeignHistory
	for _, t := range tables {
		fh := ForeignHistory{Tool: string(t.Tool), Table: t.String()}
		h, err := foreign.Read(ctx, db, t)
		var se *foreign.StateError
		switch {
		case errors.As(err, &se):
			fh.Version, fh.Problem = "?", se.Problem
		case err != nil:
			fh.Version, fh.Problem = "?", err.Error()
		case len(h.Rows) == 0:
			continue // it says nothing is applied: nothing to re-run
		default:
			fh.Version, fh.Rows = h.Version, len(h.Rows)
		}
		out = append(out, fh)
	}
	return out, nil
}

// refuseForeign fails with a *ForeignHistoryError when the ledger has never
// migrated anything (see ForeignHistories) and the database holds another
// tool's history.
func (r *Runner) refuseForeign(ctx context.Context) error {
	head, err := r.store.Head(ctx)
	if !neverMigrated(ctx, r.store, head, err) {
		return nil
	}
	return foreignError(ctx, r.db, r.store.Schema(), r.cfg.tenant)
}

// foreignError is refuseForeign for a caller that knows the ledger never migrated.
func foreignError(ctx context.Context, db ledger.DB, schema, tenant string) error {
	tables, err := foreign.Detect(ctx, db, schema)
	if err != nil {
		return err
	}
	return historyError(ctx, db, tables, schema, tenant)
}

// historyError is the refusal the detected tables that hold a history
// make (a *ForeignHistoryError), or nil when none does.
func historyError(ctx context.Context, db ledger.DB, tables []foreign.Table, schema, tenant string) error {
	hs, err := readForeign(ctx, db, tables, tenant)
	if err != nil {
		return err
	}
	if len(hs) > 0 {
		return &ForeignHistoryError{Schema: schema, Histories: hs}
	}
	return nil
}
