// Package adopt takes over a database that another migration tool (goose,
// golang-migrate, tern, Flyway) has been migrating, or one built by hand or
// restored from a dump (baseline): it records, in the ledger, one
// schema.baselined event followed by one migration.applied per migration
// taken over, marked as adopted with what the source kept about it. It
// never changes the other tool's table, and adopting twice records nothing
// new.
//
// It imports ledger, migrations, projector and pgx; nothing imports it but
// the CLI.
package adopt

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/internal/foreign"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/projector"
)

// Sources are the tools adopt reads, by the names --from takes.
var Sources = []string{string(foreign.Goose), string(foreign.GolangMigrate), string(foreign.Tern), string(foreign.Flyway)}

// FromBaseline is the Adoption.From and schema.baselined source of a baseline.
const FromBaseline = "baseline"

// Options say where the ledger is and how to record.
type Options struct {
	Schema      string        // ledger schema ("" : ledger.DefaultSchema)
	AppVersion  string        // recorded with the events
	Host        string        // recorded with the events ("" : os.Hostname)
	LockTimeout time.Duration // wait at most this for the migration lock (0 : migrations.DefaultLockTimeout)
	DryRun      bool          // read and map; record nothing
}

// Adopted is one migration taken over.
type Adopted struct {
	ID            string `json:"id"`
	SourceVersion string `json:"source_version,omitempty"`
	AppliedAt     string `json:"source_applied_at,omitempty"`
}

// Unmapped is a source row no migration of the set matches.
type Unmapped struct {
	Version string `json:"version"`
	Script  string `json:"script,omitempty"`
	Reason  string `json:"reason"`
}

// Report is what an adopt or baseline did (or, dry run, would do).
type Report struct {
	From            string     `json:"from"`
	Table           string     `json:"table,omitempty"`
	SourceVersion   string     `json:"source_version,omitempty"`
	Adopted         []Adopted  `json:"adopted"`          // recorded now
	AlreadyRecorded []string   `json:"already_recorded"` // in the ledger before: not recorded again
	Unmapped        []Unmapped `json:"unmapped"`
	Ignored         []string   `json:"ignored"` // source rows that do not say a migration is applied
	Pending         []string   `json:"pending"` // migrations of the set that are not applied: ledger up runs them
	// Mismatched: Flyway rows whose checksum is not their file's (the
	// adopt is refused with a *ChecksumError).
	Mismatched []ChecksumMismatch `json:"mismatched,omitempty"`
	DryRun     bool               `json:"dry_run,omitempty"`
	Head       ledger.Head        `json:"head"`
}

// Recorded reports whether the run recorded (or would record) anything.
func (r Report) Recorded() bool { return len(r.Adopted) > 0 }

// UnmappedError: the source holds rows that no migration of the set
// matches, so adopting would leave the ledger blind to them. Nothing was
// recorded; Report lists every such row.
type UnmappedError struct{ Report Report }

func (e *UnmappedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s history %s holds %d row(s) that map to no migration of the set (by number); nothing was recorded:", e.Report.From, e.Report.Table, len(e.Report.Unmapped))
	for _, u := range e.Report.Unmapped {
		fmt.Fprintf(&b, "\n  version %s", orDash(u.Version))
		if u.Script != "" {
			fmt.Fprintf(&b, " (%s)", u.Script)
		}
		fmt.Fprintf(&b, ": %s", u.Reason)
	}
	return b.String()
}

// AdoptOptions say which history to adopt.
type AdoptOptions struct {
	Options
	From          string // goose, golang-migrate (or migrate), tern, flyway
	Table         string // its history table, optionally schema-qualified ("": found by its columns)
	AllowUnmapped bool   // record even though some source rows map to no migration (they are listed in the schema.baselined event)
}

// Adopt reads the history of o.From and records it in the ledger: every
// migration of set that the source says is applied, mapped by number.
// A source in a bad state (*foreign.StateError, via errors.As on
// *SourceStateError) or with rows that map to nothing (*UnmappedError,
// unless AllowUnmapped) is refused and nothing is recorded.
func Adopt(ctx context.Context, pool *pgxpool.Pool, set *migrations.Set, o AdoptOptions) (Report, error) {
	if err := CheckSource(o.From); err != nil {
		return Report{}, err
	}
	tool, _ := foreign.ParseTool(o.From)
	store, err := newStore(pool, o.Options)
	if err != nil {
		return Report{}, err
	}
	table, err := foreign.Find(ctx, pool, tool, o.Table, store.Schema())
	if err != nil {
		return Report{}, err
	}
	hist, err := foreign.Read(ctx, pool, table)
	if err != nil {
		var se *foreign.StateError
		if errors.As(err, &se) {
			return Report{From: string(tool), Table: table.String()}, &SourceStateError{Tool: string(tool), Table: table.String(), Problem: se.Problem, Fix: se.Fix}
		}
		return Report{}, err
	}
	m := mapHistory(set, hist)
	build := func(state projector.State) (Report, []projector.Event, error) {
		rep := m.report(set, state)
		rep.From, rep.Table, rep.SourceVersion, rep.DryRun = string(tool), table.String(), hist.Version, o.DryRun
		rep.Mismatched = m.mismatched
		if len(m.mismatched) > 0 {
			return rep, nil, &ChecksumError{Table: table.String(), Mismatched: m.mismatched}
		}
		if len(rep.Unmapped) > 0 && !o.AllowUnmapped {
			return rep, nil, &UnmappedError{Report: rep}
		}
		if err := inDoubt(state, rep.Adopted); err != nil {
			return rep, nil, err
		}
		if len(rep.Adopted) == 0 {
			return rep, nil, nil
		}
		base := projector.Baselined{Source: string(tool), Migrations: []projector.BaselineMigration{}, Table: table.String(), Version: hist.Version}
		for _, u := range rep.Unmapped {
			base.Unmapped = append(base.Unmapped, u.Version+" "+u.Script)
		}
		events, err := m.events(set, base, rep.Adopted, func(id string) projector.Adoption {
			a := m.facts[id]
			a.From, a.Table = string(tool), table.String()
			return a
		})
		return rep, events, err
	}
	return record(ctx, pool, store, o.Options, build)
}

// UnknownSourceError: adopt was asked for a tool it does not read.
type UnknownSourceError struct{ From string }

func (e *UnknownSourceError) Error() string {
	return fmt.Sprintf("unknown tool %q: adopt reads %s (or migrate, for golang-migrate)", e.From, strings.Join(Sources, ", "))
}

// CheckSource says whether adopt reads the history of the tool named from
// (one of Sources, or "migrate"): a *UnknownSourceError if not.
func CheckSource(from string) error {
	if _, err := foreign.ParseTool(from); err != nil {
		return &UnknownSourceError{From: from}
	}
	return nil
}

// Refused reports whether err is adopt refusing the history as it is —
// the source in a bad state, rows that map to nothing, files changed since
// the tool applied them — rather than failing to read or record it.
func Refused(err error) bool {
	var (
		se *SourceStateError
		ue *UnmappedError
		ce *ChecksumError
	)
	return errors.As(err, &se) || errors.As(err, &ue) || errors.As(err, &ce)
}

// SourceStateError: the other tool's history is in a state that must be
// fixed with that tool first (golang-migrate dirty, a failed Flyway row).
type SourceStateError struct {
	Tool, Table  string
	Problem, Fix string
}

func (e *SourceStateError) Error() string {
	return fmt.Sprintf("%s history %s cannot be adopted: %s\n  fix it first: %s", e.Tool, e.Table, e.Problem, e.Fix)
}

// BaselineOptions say how far a baseline goes and why.
type BaselineOptions struct {
	Options
	To     string // the newest migration the database already holds
	Reason string // recorded
}

// Baseline records every migration of set up to and including o.To as
// already applied (a database built by hand or restored from a dump).
func Baseline(ctx context.Context, pool *pgxpool.Pool, set *migrations.Set, o BaselineOptions) (Report, error) {
	if strings.TrimSpace(o.Reason) == "" {
		return Report{}, errors.New("baseline: give a reason: it is recorded for the auditors")
	}
	if _, ok := set.Lookup(o.To); !ok {
		return Report{}, fmt.Errorf("baseline up to %s: no such migration in the set (%d migrations)", o.To, len(set.Migrations))
	}
	store, err := newStore(pool, o.Options)
	if err != nil {
		return Report{}, err
	}
	m := mapping{facts: map[string]projector.Adoption{}}
	for _, mig := range set.Migrations {
		if projector.CompareIDs(mig.ID, o.To) > 0 {
			break
		}
		m.ids = append(m.ids, mig.ID)
		m.facts[mig.ID] = projector.Adoption{From: FromBaseline}
	}
	build := func(state projector.State) (Report, []projector.Event, error) {
		rep := m.report(set, state)
		rep.From, rep.DryRun = FromBaseline, o.DryRun
		if err := inDoubt(state, rep.Adopted); err != nil {
			return rep, nil, err
		}
		if len(rep.Adopted) == 0 {
			return rep, nil, nil
		}
		base := projector.Baselined{Source: FromBaseline, Migrations: []projector.BaselineMigration{}, To: o.To, Reason: o.Reason}
		events, err := m.events(set, base, rep.Adopted, func(id string) projector.Adoption { return m.facts[id] })
		return rep, events, err
	}
	return record(ctx, pool, store, o.Options, build)
}

func inDoubt(state projector.State, adopted []Adopted) error {
	for _, a := range adopted {
		if d, ok := state.InDoubt[a.ID]; ok {
			return fmt.Errorf("migration %s is in doubt in the ledger (started at seq %d): resolve it first", a.ID, d.Seq)
		}
	}
	return nil
}

func newStore(pool *pgxpool.Pool, o Options) (*ledger.Store, error) {
	schema := o.Schema
	if schema == "" {
		schema = ledger.DefaultSchema
	}
	opts := []ledger.Option{ledger.WithSchema(schema), ledger.WithAppVersion(o.AppVersion)}
	if o.Host != "" {
		opts = append(opts, ledger.WithHost(o.Host))
	}
	return ledger.New(pool, opts...)
}

// record reads the ledger under the migration lock (so no migrator runs
// meanwhile, and a second adopt sees the first one's events), builds the
// events from what it finds, creates the ledger if needed and appends them
// in one transaction. A dry run
// reads without the lock and records nothing.
func record(ctx context.Context, pool *pgxpool.Pool, store *ledger.Store, o Options, build func(projector.State) (Report, []projector.Event, error)) (Report, error) {
	if o.DryRun {
		state, head, err := store.State(ctx)
		if errors.Is(err, ledger.ErrNotInitialized) {
			state, err = projector.NewState(), nil
		}
		if err != nil {
			return Report{}, err
		}
		rep, _, err := build(state)
		rep.Head = head
		return rep, err
	}
	var rep Report
	err := migrations.Locked(ctx, pool, store, migrations.LockOptions{Timeout: o.LockTimeout}, func(conn *pgx.Conn, _ string) error {
		var err error
		rep, err = recordLocked(ctx, store.On(conn), conn, build)
		return err
	})
	return rep, err
}

// recordLocked builds the events under the migration lock, from the ledger's
// state read under it, and appends them.
func recordLocked(ctx context.Context, on *ledger.Store, conn *pgx.Conn, build func(projector.State) (Report, []ledger.Event, error)) (Report, error) {
	state, head, err := on.State(ctx)
	if errors.Is(err, ledger.ErrNotInitialized) {
		// The ledger is created only once there is something to record: a
		// refused adopt must leave the database as it found it, or up would
		// no longer see the other tool's history.
		state, err = projector.NewState(), nil
	}
	if err != nil {
		return Report{}, err
	}
	rep, events, err := build(state)
	rep.Head = head
	if err != nil || len(events) == 0 {
		return rep, err
	}
	if _, err := on.Init(ctx); err != nil {
		return rep, err
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		h, err := on.Append(ctx, tx, events...)
		rep.Head = h
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("record the adoption: %w", err)
	}
	return rep, nil
}

// mapping is a source's history mapped onto a set: the ids it says are
// applied (in the set's order), what the source kept about each, and the
// rows that map to nothing.
type mapping struct {
	ids        []string
	facts      map[string]projector.Adoption
	unmapped   []Unmapped
	ignored    []string
	mismatched []ChecksumMismatch
}

// ChecksumMismatch is a Flyway row whose checksum is not the checksum
// Flyway computes for the file it maps to: the file changed since Flyway
// applied it.
type ChecksumMismatch struct {
	ID       string `json:"id"`
	File     string `json:"file"`
	Version  string `json:"version"`
	Script   string `json:"script,omitempty"`
	Recorded int32  `json:"recorded"` // Flyway's, in its history
	File32   int32  `json:"file_checksum"`
}

// flywayMismatch compares a Flyway row's checksum with the file it maps
// to, as Flyway's validate does (migrations.FlywayChecksum). Only SQL rows
// onto whole files (a Flyway or .up.sql file) can be compared.
func flywayMismatch(mig migrations.Migration, r foreign.Row) (ChecksumMismatch, bool) {
	if r.Checksum == nil || r.Type != "SQL" || (mig.Format != migrations.FormatFlyway && mig.Format != migrations.FormatPair) {
		return ChecksumMismatch{}, false
	}
	sum := migrations.FlywayChecksum([]byte(mig.Up.Text))
	if sum == *r.Checksum {
		return ChecksumMismatch{}, false
	}
	return ChecksumMismatch{ID: mig.ID, File: mig.Up.File, Version: r.Version, Script: r.Script, Recorded: *r.Checksum, File32: sum}, true
}

// ChecksumError: Flyway's history records, for some migrations, a checksum
// that is not their file's: the files changed after Flyway applied them,
// so adopting would record files as applied that never ran as they are.
// Nothing was recorded.
type ChecksumError struct {
	Table      string
	Mismatched []ChecksumMismatch
}

func (e *ChecksumError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "flyway history %s records checksums that are not their files' (they changed after Flyway applied them); nothing was recorded:", e.Table)
	for _, m := range e.Mismatched {
		fmt.Fprintf(&b, "\n  version %s (%s): Flyway recorded %d, %s has %d", m.Version, orDash(m.Script), m.Recorded, m.File, m.File32)
	}
	b.WriteString("\n  fix it first: restore the files as they were applied, or, if the changes are intended, run `flyway repair` (it records the files' checksums), then adopt again")
	return b.String()
}

// mapHistory maps the source's rows onto the set's migrations by number:
// a row for version N is the migration numbered N; a row saying
// "everything up to N" (golang-migrate, tern, a Flyway BASELINE) is every
// migration numbered N or less.
func mapHistory(set *migrations.Set, h foreign.History) mapping {
	m := mapping{facts: map[string]projector.Adoption{}}
	byNumber := map[string]migrations.Migration{}
	byFlyway := map[string]migrations.Migration{} // a Flyway directory's files, by canonical version
	for _, mig := range set.Migrations {
		byNumber[strings.TrimLeft(mig.Number, "0")] = mig
		if mig.Format == migrations.FormatFlyway {
			byFlyway[migrations.FlywayVersion(mig.Version)] = mig
		}
	}
	for _, r := range h.Ignored {
		m.ignored = append(m.ignored, describeRow(r))
	}
	adopt := func(id string, r foreign.Row) {
		if _, ok := m.facts[id]; ok {
			return
		}
		a := projector.Adoption{Version: r.Version, AppliedAt: r.AppliedAt, Rank: r.Rank, Checksum: r.Checksum,
			InstalledBy: r.InstalledBy, ExecutionMS: r.ExecutionMS, Script: r.Script, Type: r.Type}
		m.facts[id] = a
		m.ids = append(m.ids, id)
	}
	exact := func(mig migrations.Migration, r foreign.Row) {
		adopt(mig.ID, r)
		if mm, ok := flywayMismatch(mig, r); ok {
			m.mismatched = append(m.mismatched, mm)
		}
	}
	for _, r := range h.Rows {
		number := r.Number
		if len(byFlyway) > 0 && r.Version != "" {
			// A Flyway history onto a Flyway directory: by version, as
			// Flyway pairs them (1.1 is V1.1__…, V1_1__… or V1.01__…).
			if mig, ok := byFlyway[migrations.FlywayVersion(r.Version)]; ok && !r.UpTo {
				exact(mig, r)
				continue
			}
			if n, err := migrations.FlywayNumber(r.Version); err == nil {
				number = n
			}
		}
		if number == "" {
			reason := fmt.Sprintf("version %q is not a whole number; ledger maps versions to migration ids by number", r.Version)
			if r.Version == "" {
				reason = "a repeatable migration (no version); ledger has no repeatable migrations"
			}
			m.unmapped = append(m.unmapped, Unmapped{Version: r.Version, Script: r.Script, Reason: reason})
			continue
		}
		n := strings.TrimLeft(number, "0")
		mig, ok := byNumber[n]
		if !r.UpTo {
			if !ok {
				m.unmapped = append(m.unmapped, Unmapped{Version: r.Version, Script: r.Script,
					Reason: fmt.Sprintf("no migration numbered %s in the set", r.Number)})
				continue
			}
			exact(mig, r)
			continue
		}
		// Everything up to n is applied: each migration of the set numbered
		// n or less is; if none is numbered n, the source applied
		// migrations the set does not hold, after the last one it does.
		last := ""
		for _, mig := range set.Migrations {
			if projector.CompareNumbers(strings.TrimLeft(mig.Number, "0"), n) > 0 {
				break
			}
			adopt(mig.ID, r)
			last = strings.TrimLeft(mig.Number, "0")
		}
		if !ok && r.Type != "BASELINE" {
			from := "1"
			if last != "" {
				from = decimalAdd1(last)
			}
			missing := from + "–" + n
			if from == n {
				missing = n
			}
			newest := "holds no migration numbered below it"
			if last != "" {
				newest = "holds migrations up to " + last + " only"
			}
			reason := fmt.Sprintf("no migration numbered %s in the set", r.Number)
			if from != n {
				reason = fmt.Sprintf("the history says every migration up to %s is applied, but the set %s: the migrations numbered %s that were applied are not in it", r.Version, newest, missing)
			}
			m.unmapped = append(m.unmapped, Unmapped{Version: missing, Script: r.Script, Reason: reason})
		}
	}
	projector.SortIDs(m.ids)
	return m
}

// decimalAdd1 is n+1 for a decimal without leading zeros, however long.
func decimalAdd1(n string) string {
	b := []byte(n)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < '9' {
			b[i]++
			return string(b)
		}
		b[i] = '0'
	}
	return "1" + string(b)
}

// report splits the mapping by what the ledger already holds.
func (m mapping) report(set *migrations.Set, state projector.State) Report {
	rep := Report{Adopted: []Adopted{}, AlreadyRecorded: []string{}, Unmapped: m.unmapped, Ignored: m.ignored, Pending: []string{}}
	if rep.Unmapped == nil {
		rep.Unmapped = []Unmapped{}
	}
	if rep.Ignored == nil {
		rep.Ignored = []string{}
	}
	for _, id := range m.ids {
		if _, ok := state.Applied[id]; ok {
			rep.AlreadyRecorded = append(rep.AlreadyRecorded, id)
			continue
		}
		f := m.facts[id]
		rep.Adopted = append(rep.Adopted, Adopted{ID: id, SourceVersion: f.Version, AppliedAt: f.AppliedAt})
	}
	for _, mig := range set.Migrations {
		if _, ok := m.facts[mig.ID]; ok {
			continue
		}
		if _, ok := state.Applied[mig.ID]; !ok {
			rep.Pending = append(rep.Pending, mig.ID)
		}
	}
	return rep
}

// events are the schema.baselined event and one migration.applied per
// adopted migration, marked as adopted.
func (m mapping) events(set *migrations.Set, base projector.Baselined, adopted []Adopted, facts func(string) projector.Adoption) ([]projector.Event, error) {
	for _, a := range adopted {
		base.Adopted = append(base.Adopted, a.ID)
	}
	ev, err := projector.NewEvent(projector.TypeSchemaBaselined, base)
	if err != nil {
		return nil, err
	}
	events := []projector.Event{ev}
	for _, a := range adopted {
		mig, ok := set.Lookup(a.ID)
		if !ok {
			return nil, fmt.Errorf("adopt: %s is not in the set", a.ID)
		}
		f := facts(a.ID)
		p := projector.Applied{ID: mig.ID, Checksum: mig.Checksum, Compatible: mig.Compatible, Transactional: mig.Transactional(), Adopted: &f}
		if mig.Down != nil {
			p.DownSQL, p.DownChecksum = mig.Down.Text, mig.Down.Checksum
		}
		ev, err := projector.NewEvent(projector.TypeMigrationApplied, p)
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	return events, nil
}

func describeRow(r foreign.Row) string {
	s := "version " + orDash(r.Version)
	if r.Script != "" {
		s += " (" + r.Script + ")"
	}
	if r.Type != "" {
		s += ": " + r.Type
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
