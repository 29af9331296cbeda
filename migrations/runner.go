package migrations

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

// Runner applies and reverts the migrations of one set against one database,
// recording every step in the ledger.
type Runner struct {
	pool  *pgxpool.Pool
	db    ledger.DB // what the store reads through
	set   *Set
	store *ledger.Store
	cfg   config
}

// NewRunner returns a runner for set over pool. It does not touch the database.
func NewRunner(pool *pgxpool.Pool, set *Set, opts ...Option) (*Runner, error) {
	return newRunner(pool, pool, set, opts)
}

// newRunner reads the ledger through db; pool is for what needs
// connections of its own.
func newRunner(pool *pgxpool.Pool, db ledger.DB, set *Set, opts []Option) (*Runner, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	store, err := newStore(db, cfg)
	if err != nil {
		return nil, err
	}
	return &Runner{pool: pool, db: db, set: set, store: store, cfg: cfg}, nil
}

// newStore is the event store the options describe, read through db.
func newStore(db ledger.DB, cfg config) (*ledger.Store, error) {
	sopts := []ledger.Option{ledger.WithSchema(cfg.schema), ledger.WithAppVersion(cfg.appVersion), ledger.WithLockTimeout(cfg.lockTimeout)}
	if cfg.host != "" {
		sopts = append(sopts, ledger.WithHost(cfg.host))
	}
	return ledger.New(db, sopts...)
}

// Store is the runner's event store.
func (r *Runner) Store() *ledger.Store { return r.store }

// UpOptions say how far and how an up runs.
type UpOptions struct {
	Target   string // apply up to and including this id or version number ("": all pending)
	Steps    int    // or: apply the next Steps pending migrations
	DryRun   bool   // plan only: change nothing
	Rehearse bool   // run the pending transactional migrations in one transaction and roll it back; record nothing
}

// DownOptions say how far and how a down runs.
type DownOptions struct {
	Target      string // revert every applied migration ordered after this id or version number ("0": all)
	Steps       int    // or: revert the newest Steps
	UseRecorded bool   // revert migrations this set does not know with their recorded down SQL
	DryRun      bool
}

// StepResult is one migration a run applied or reverted.
type StepResult struct {
	ID       string        `json:"id"`
	Source   string        `json:"source,omitempty"` // down: "file" or "recorded"
	Duration time.Duration `json:"duration_ns"`
}

// Report is what a run did.
type Report struct {
	Plan         Plan          `json:"-"`
	Planned      []string      `json:"planned"`
	Done         []StepResult  `json:"done"`
	DryRun       bool          `json:"dry_run,omitempty"`
	Rehearsed    []string      `json:"rehearsed,omitempty"`
	NotRehearsed []string      `json:"not_rehearsed,omitempty"` // no-transaction migrations (and those after them)
	Head         ledger.Head   `json:"head"`
	Elapsed      time.Duration `json:"elapsed_ns"`
	Schema       SchemaReport  `json:"schema"` // drift found before migrating, snapshot recorded after
	// Breaking: running releases (seen within the fleet window) the plan
	// makes refuse — the reason an up is refused, or what it was allowed to break.
	Breaking []Broken `json:"breaking,omitempty"`
	// IgnoredSightings: sightings dated after now, which up's guard
	// ignored (check-ins are dated by the server's clock: these were
	// written by hand).
	IgnoredSightings []ledger.FutureSighting `json:"ignored_sightings,omitempty"`
}

// Up applies pending migrations, each in its own transaction together with
// its migration.applied event. It initializes the ledger if needed, takes the
// migration lock (waiting at most the lock timeout, honouring ctx), re-reads
// the ledger under it and plans from what it finds, so any number of
// migrators started at once apply each migration exactly once.
func (r *Runner) Up(ctx context.Context, o UpOptions) (Report, error) {
	target := r.target(DirUp, o.Target, o.Steps, false)
	noLedger := false
	if !o.DryRun && !o.Rehearse {
		var rep Report
		var ok bool
		if rep, ok, noLedger = r.upAtSet(ctx, target); ok {
			return rep, nil
		}
	}
	presence := ledger.PresenceOther
	var absent *absentReads
	switch {
	case o.DryRun || o.Rehearse:
	case noLedger:
		// The head read found no ledger (a fresh database): what creating
		// one needs to know goes with the presence, in its round trip.
		absent = &absentReads{}
		var read bool
		presence, read = r.store.PresenceWith(ctx, absent.probes(r.store)...)
		if !read {
			absent = nil
		}
	default:
		presence = r.store.Presence(ctx)
	}
	if presence == ledger.PresenceCurrent {
		// The usual case, in one round trip: the ledger exists in this
		// format. Whether it never migrated (and another tool's history
		// must refuse the up) is read from its state under the lock.
		return r.run(ctx, target, false, false, true)
	}
	if presence == ledger.PresenceAbsent && absent != nil {
		// No ledger, and what refuses to create one read already: another
		// tool's history first, as below, then the role's rights.
		if err := absent.refuse(ctx, r.db, r.store.Schema(), r.cfg.tenant); err != nil {
			return Report{}, err
		}
		if _, err := r.store.SetupAfter(ctx, presence); err != nil {
			return Report{}, err
		}
		return r.run(ctx, target, false, false, false)
	}
	if presence == ledger.PresenceAbsent {
		// No ledger: it never migrated, nothing more to read to know.
		if err := foreignError(ctx, r.db, r.store.Schema(), r.cfg.tenant); err != nil {
			return Report{}, err
		}
	} else if err := r.refuseForeign(ctx); err != nil {
		return Report{}, err
	}
	if !o.DryRun && !o.Rehearse {
		if err := r.initToRecordAfter(ctx, presence); err != nil {
			return Report{}, err
		}
	}
	return r.run(ctx, target, o.DryRun, o.Rehearse, false)
}

// HeldBy reports whether head shows a ledger an up of this set has
// nothing to do on: this format, the set's digest (the same ids and
// checksums applied: nothing pending, unknown or changed, so no plan and
// nothing for the release guard to judge), nothing in doubt, and the
// schema's snapshot taken at the head (otherwise an up reads the catalog
// first, to record drift or a snapshot it lacks).
func (s *Set) HeldBy(head ledger.Head) bool {
	return head.Format == ledger.Format && head.InDoubt == 0 && head.Digest == s.Digest() &&
		head.Fingerprint != nil && head.Fingerprint.Seq == head.Seq
}

// upAtSet answers an up that has nothing to do with one head read and no
// lock: the deploy that changes nothing, and every start of a server that
// runs up. It answers only when the head is held by the set (Set.HeldBy)
// and drift is not to be refused (that reads the catalog). Head checks
// the newest event against the head as it reads it; anything else goes
// the locked way. The head is one committed state: the answer is the
// locked run's, ordered before any run still in flight.
//
// noLedger: the head read found no ledger (ledger.ErrNotInitialized).
func (r *Runner) upAtSet(ctx context.Context, target Target) (rep Report, ok, noLedger bool) {
	if r.cfg.refuseDrift {
		return Report{}, false, false
	}
	start := time.Now()
	head, err := r.store.Head(ctx)
	if err != nil || !r.set.HeldBy(head) {
		return Report{}, false, errors.Is(err, ledger.ErrNotInitialized)
	}
	// The plan from a ledger holding exactly the set: empty, with the
	// policy's verdict on it, or an error (a target not in the set) that
	// the locked way reports.
	exact := projector.NewState()
	for _, m := range r.set.Manifest(r.cfg.appVersion).Migrations {
		exact.Applied[m.ID] = projector.Migration{ID: m.ID, Checksum: m.Checksum}
	}
	plan, err := r.set.Plan(exact, target)
	if err != nil || len(plan.Steps) > 0 {
		return Report{}, false, false
	}
	return Report{Head: head, Plan: plan, Planned: plan.IDs(), Elapsed: time.Since(start)}, true, false
}

// Down reverts applied migrations newest first, each with its down SQL and
// its migration.reverted event in one transaction (or, for a no-transaction
// down, statement by statement between migration.started and
// migration.reverted).
func (r *Runner) Down(ctx context.Context, o DownOptions) (Report, error) {
	return r.run(ctx, r.target(DirDown, o.Target, o.Steps, o.UseRecorded), o.DryRun, false, false)
}

// run plans toward target and runs each step under the migration lock; a
// dry run plans from the ledger as it is, without the lock; a rehearsal
// takes the lock (so it never races a real run) and records nothing. At
// the end of a run that changed anything it records the schema's
// fingerprint.
//
// refuseForeign: before anything else under the lock, refuse (as
// refuseForeign does) if the ledger never migrated and another tool's
// history is in the database.
func (r *Runner) run(ctx context.Context, target Target, dryRun, rehearse, refuseForeign bool) (Report, error) {
	start := time.Now()
	rep := Report{DryRun: dryRun}
	dir := target.Direction
	if dryRun {
		state, head, err := r.readState(ctx) // a missing ledger: all pending
		if err != nil {
			return rep, err
		}
		rep.Head = head
		plan, err := r.set.Plan(state, target)
		if err == nil {
			err = r.guard(ctx, r.store, state, &plan, &rep)
		}
		// The down SQL recorded in the ledger, so a dry run can show what
		// would run.
		for i := range plan.Steps {
			if st := &plan.Steps[i]; err == nil && st.Script == nil && st.UsesRecorded() {
				st.Script, err = recordedDown(ctx, r.store, st.ID)
			}
		}
		rep.Plan, rep.Planned = plan, plan.IDs()
		rep.Elapsed = time.Since(start)
		return rep, err
	}
	if rehearse {
		err := r.locked(ctx, lockRehearse, func(s *session) error {
			rep.Head = s.app.Head()
			plan, err := r.set.Plan(s.app.State(), target)
			rep.Plan, rep.Planned = plan, plan.IDs()
			if err != nil {
				return err
			}
			return r.rehearse(ctx, s.conn, plan, &rep)
		})
		rep.Elapsed = time.Since(start)
		return rep, err
	}
	verb := map[Direction]string{DirUp: "applied", DirDown: "reverted"}[dir]
	mode := lockWrite
	if dir == DirUp {
		mode = lockWriteChecked // Up found that it may record before it initialized the ledger
	}
	headKnown := false
	err := r.locked(ctx, mode, func(s *session) error {
		if st := s.app.State(); refuseForeign && len(st.Applied) == 0 && len(st.InDoubt) == 0 &&
			neverMigrated(ctx, s.store, s.app.Head(), nil) {
			if err := foreignError(ctx, s.conn, s.store.Schema(), r.cfg.tenant); err != nil {
				return err
			}
		}
		plan, err := r.set.Plan(s.app.State(), target)
		var schema schemaCheck
		if err != nil || len(plan.Steps) > 0 || s.needsSchemaCheck() {
			schema, err = s.beforeRun(ctx)
			rep.Schema = schema.report
			if err != nil {
				return err
			}
			plan, err = r.set.Plan(s.app.State(), target)
		}
		rep.Plan, rep.Planned = plan, plan.IDs()
		if err != nil {
			return err
		}
		for i := range plan.Steps {
			plan.Steps[i].Rollout = r.cfg.rollout
		}
		// Would the plan make a release that is still running refuse?
		if err = r.guard(ctx, s.store, s.app.State(), &plan, &rep); err != nil {
			return err
		}
		// Down SQL recorded in the ledger is read now, while the
		// connection is free, so that every step carries its script.
		for i := range plan.Steps {
			if st := &plan.Steps[i]; st.Script == nil && st.UsesRecorded() {
				if st.Script, err = recordedDown(ctx, s.store, st.ID); err != nil {
					return err
				}
			}
		}
		for i, step := range plan.Steps {
			// Stopped (Ctrl-C): a step not begun is not begun — but one
			// already sent ahead runs its course (or is cancelled) in its turn.
			if err = ctx.Err(); err != nil && !s.sentAhead() {
				break
			}
			var next *Step
			if i+1 < len(plan.Steps) {
				next = &plan.Steps[i+1]
			}
			r.progress(dir, step.ID, i, len(plan.Steps), false, start)
			t0 := time.Now()
			if err = s.exec(ctx, step, next); err != nil {
				break
			}
			d := time.Since(t0)
			source := ""
			if dir == DirDown {
				source = step.Source
			}
			rep.Done = append(rep.Done, StepResult{ID: step.ID, Source: source, Duration: d})
			r.cfg.logger.Info(verb, "id", step.ID, "source", source, "duration", d)
			r.progress(dir, step.ID, i, len(plan.Steps), true, start)
		}
		// What was sent ahead of a step that did not run is discarded
		// before the schema is read again.
		s.settle(ctx)
		if ctx.Err() == nil && !s.conn.IsClosed() {
			// A step that reset the session (RESET ALL before its record)
			// took the bound of its reads with it.
			s.boundReads(ctx)
			err = errors.Join(err, s.afterRun(ctx, &schema, len(rep.Done) > 0))
			rep.Schema = schema.report
		}
		if err == nil {
			// Everything this run recorded went through the Appender,
			// under the lock: its head is the ledger's.
			rep.Head, headKnown = s.app.Head(), true
		}
		return err
	})
	rep.Elapsed = time.Since(start)
	if !headKnown {
		if h, herr := r.store.Head(ctx); herr == nil {
			rep.Head = h
		}
	}
	return rep, err
}

// Resolution is what Resolve recorded, and what the database still holds
// of the migration.
type Resolution struct {
	ID             string `json:"id"`
	Decision       string `json:"decision"`
	StatementsDone int    `json:"statements_done"` // recorded as completed before it was resolved
	// Created and Left (ResolvedFailed): what its completed statements
	// created and its failing one left, still there. The next up runs it
	// from its first statement, which will meet them: drop them first.
	Created []string `json:"created,omitempty"`
	Left    []string `json:"left,omitempty"`
	Drop    []string `json:"drop,omitempty"` // the statements that drop them
}

// Warning says what a resolution as failed leaves in the way of the next
// up ("" if nothing).
func (r Resolution) Warning() string {
	if r.Decision != projector.ResolvedFailed || r.StatementsDone == 0 && len(r.Left) == 0 {
		return ""
	}
	msg := fmt.Sprintf("%s is recorded as failed, but %d of its statements were recorded as completed", r.ID, r.StatementsDone)
	if len(r.Created) > 0 || len(r.Left) > 0 {
		msg += "; still in the database: " + strings.Join(append(slices.Clone(r.Created), r.Left...), ", ")
		msg += "; the next up runs it from its first statement, which will find them: drop them first (" + strings.Join(r.Drop, " ") + ")"
	}
	return msg
}

// Resolve records an operator's decision about a migration in doubt:
// projector.ResolvedApplied (it did take effect) or ResolvedFailed (it did
// not; a later up runs it again, from its first statement). It takes the
// migration lock. A migration resolved as failed whose statements were
// recorded as completed is resolved all the same; the Resolution says what
// they created and is still there (Warning).
func (r *Runner) Resolve(ctx context.Context, id, decision, reason string) (Resolution, error) {
	res := Resolution{ID: id, Decision: decision}
	if decision != projector.ResolvedApplied && decision != projector.ResolvedFailed {
		return res, fmt.Errorf("resolve %s: decision %q: want %q or %q", id, decision, projector.ResolvedApplied, projector.ResolvedFailed)
	}
	if strings.TrimSpace(reason) == "" {
		return res, fmt.Errorf("resolve %s: give a reason: it is recorded for the auditors", id)
	}
	err := r.locked(ctx, lockWrite, func(s *session) error {
		d, err := inDoubt(s.app.State(), id)
		if err != nil {
			return err
		}
		res.StatementsDone = d.StatementsDone
		if decision == projector.ResolvedFailed && !s.app.State().Reverting(id) {
			if m, ok := r.set.Lookup(id); ok && m.Up.NoTransaction && d.StatementsDone <= len(m.Up.Statements) {
				res.Created, res.Drop = s.createdBy(ctx, m.Up.Statements[:d.StatementsDone])
				_ = s.inspect(ctx, func(ctx context.Context, conn *pgx.Conn) error {
					for _, ix := range d.LeftBehind {
						if reg, exists, _, err := relationState(ctx, conn, ix); err == nil && exists {
							res.Left = append(res.Left, "invalid index "+reg)
							res.Drop = append(res.Drop, dropSQL("index", reg))
						}
					}
					return nil
				})
			}
		}
		ev, err := projector.NewEvent(projector.TypeMigrationResolved, projector.Resolved{ID: id, Decision: decision, Reason: reason})
		if err != nil {
			return err
		}
		return s.record(ctx, ev)
	})
	return res, err
}

// inDoubt returns the migration in doubt id, or an error naming those that are.
func inDoubt(state projector.State, id string) (projector.InDoubt, error) {
	if d, ok := state.InDoubt[id]; ok {
		return d, nil
	}
	var doubt []string
	for d := range state.InDoubt {
		doubt = append(doubt, d)
	}
	projector.SortIDs(doubt)
	if len(doubt) == 0 {
		return projector.InDoubt{}, fmt.Errorf("resolve %s: no migration is in doubt", id)
	}
	return projector.InDoubt{}, fmt.Errorf("resolve %s: it is not in doubt; in doubt: %s", id, strings.Join(doubt, ", "))
}

// Resume goes on with a no-transaction migration in doubt from the statement
// after the last one recorded as done (projector.InDoubt.StatementsDone),
// in the direction it was going, and records it applied (or reverted).
// What the interrupted statement left behind — the invalid indexes
// recorded with its failure, or the invalid index of the name it creates
// — is dropped concurrently first, recorded as migration.leftover_dropped;
// a valid index of that name, or invalid ones it cannot tell are its own,
// refuse the resume before anything runs (*ResumeError). The statement
// then runs again. It takes the migration lock and records the schema's
// fingerprint.
func (r *Runner) Resume(ctx context.Context, id string) (Report, error) {
	start := time.Now()
	var rep Report
	err := r.locked(ctx, lockWrite, func(s *session) error {
		state := s.app.State()
		d, err := inDoubt(state, id)
		if err != nil {
			return err
		}
		step := Step{ID: id, Direction: DirUp, Attempt: state.Failed[id].Attempt + 1}
		m, known := r.set.Lookup(id)
		if state.Reverting(id) {
			rec := state.Applied[id]
			step.Direction, step.Recorded = DirDown, &rec
			switch {
			case known && m.Down != nil && m.Checksum == d.Checksum:
				step.Migration, step.Script, step.Source = &m, m.Down, projector.DownFromFile
			default:
				step.Source = projector.DownFromRecorded
				if step.Script, err = recordedDown(ctx, s.store, id); err != nil {
					return fmt.Errorf("resume the revert of %s: %w", id, err)
				}
			}
		} else {
			if !known {
				return fmt.Errorf("resume %s: it is not a migration of this set", id)
			}
			if m.Checksum != d.Checksum {
				return fmt.Errorf("resume %s: its up file's checksum %s differs from the one it started with (%s): the statements done may not be those of this file", id, short(m.Checksum), short(d.Checksum))
			}
			step.Migration, step.Script = &m, &m.Up
		}
		if step.Script.Go() {
			return fmt.Errorf("resume %s: it is a Go migration, which cannot be resumed part-way; settle it with Resolve (applied or failed)", id)
		}
		if !step.Script.NoTransaction {
			return fmt.Errorf("resume %s: %s is not a no-transaction script", id, step.Script.File)
		}
		if d.StatementsDone > len(step.Script.Statements) {
			return fmt.Errorf("resume %s: %d statements are recorded as done, but %s holds %d", id, d.StatementsDone, step.Script.File, len(step.Script.Statements))
		}
		rep.Planned = []string{id}
		// What the interrupted statement left (an invalid index) is
		// dropped first, or the resume refused before anything runs.
		if err := s.clearLeftover(ctx, step, d, d.StatementsDone); err != nil {
			return err
		}
		t0 := time.Now()
		if err := s.execNoTx(ctx, step, d.StatementsDone, false); err != nil {
			return err
		}
		rep.Done = append(rep.Done, StepResult{ID: id, Source: step.Source, Duration: time.Since(t0)})
		var schema schemaCheck
		err = s.afterRun(ctx, &schema, true)
		rep.Schema = schema.report
		return err
	})
	rep.Elapsed = time.Since(start)
	if h, herr := r.store.Head(ctx); herr == nil {
		rep.Head = h
	}
	return rep, err
}

func (r *Runner) target(dir Direction, id string, steps int, useRecorded bool) Target {
	return Target{Direction: dir, ID: id, Steps: steps, UseRecorded: useRecorded, AppVersion: r.cfg.appVersion, Policy: r.cfg.policy}
}

// readState reads the ledger without locking; a missing ledger is the empty state.
func (r *Runner) readState(ctx context.Context) (projector.State, ledger.Head, error) {
	state, head, err := r.store.State(ctx)
	if errors.Is(err, ledger.ErrNotInitialized) {
		return projector.NewState(), ledger.Head{}, nil
	}
	return state, head, err
}

func (r *Runner) progress(dir Direction, id string, i, total int, done bool, start time.Time) {
	if r.cfg.progress != nil {
		r.cfg.progress(Progress{Direction: dir, ID: id, Index: i + 1, Total: total, Done: done, Elapsed: time.Since(start)})
	}
}

// lockMode says what a run under the migration lock will do.
type lockMode int

const (
	lockWrite        lockMode = iota // it records: find first that the role may (MayRecord)
	lockWriteChecked                 // it records, and the caller found already that the role may
	lockRehearse                     // it records nothing; a database without a ledger is the empty state
)

// initToRecord finds that the role may record in the ledger, then creates
// or upgrades it: a role that may not is refused before anything runs and
// before any lock is taken, told what it lacks.
func (r *Runner) initToRecord(ctx context.Context) error {
	return r.initToRecordAfter(ctx, ledger.PresenceOther)
}

// initToRecordAfter is initToRecord after a read of the ledger's presence:
// a ledger found absent is created without reading it again.
func (r *Runner) initToRecordAfter(ctx context.Context, p ledger.Presence) error {
	if err := r.store.MayRecord(ctx); err != nil {
		return err
	}
	if p != ledger.PresenceAbsent {
		p = r.store.Presence(ctx)
	}
	_, err := r.store.SetupAfter(ctx, p)
	return err
}

// locked runs f on a connection holding the ledger's migration lock,
// reading the ledger under it. A run that records finds first, before it
// takes the lock, that its role may (unless the caller did).
//
// Under the lock, the session waits for any other lock no longer than the
// lock timeout while it reads (the ledger, the catalog, the sightings):
// whoever locks a table the migrator reads stalls it no longer than
// whoever holds its lock. A migration's own statements run under the
// server's lock_timeout, or the DDL lock timeout.
func (r *Runner) locked(ctx context.Context, mode lockMode, f func(*session) error) error {
	readOnly := mode == lockRehearse
	if mode == lockWrite {
		if err := r.store.MayRecord(ctx); err != nil {
			return err
		}
	}
	o := LockOptions{Timeout: r.cfg.lockTimeout, Logger: r.cfg.logger, BoundReads: true}
	return Locked(ctx, r.pool, r.store, o, func(conn *pgx.Conn, actor string) error {
		// Read the ledger only under the lock: what others did before is
		// now final. The run reads and writes through the lock's
		// connection only, so a pool of one connection is enough.
		store := r.store.On(conn)
		state, head, err := store.State(ctx)
		if readOnly && errors.Is(err, ledger.ErrNotInitialized) {
			state, head, err = projector.NewState(), ledger.Head{}, nil
		}
		if err != nil {
			return err
		}
		set := sessionSettings{logger: r.cfg.logger, refuseDrift: r.cfg.refuseDrift, ddlLockTimeout: r.cfg.ddlLockTimeout,
			readTimeout: lockTimeoutSQL(r.cfg.lockTimeout, false), pool: r.pool, tenant: r.cfg.tenant}
		return f(&session{set: set, conn: conn, store: store, app: store.NewAppender(state, head), actor: actor})
	})
}

// LockOptions say how long Locked waits for the migration lock and where
// it says that it waits.
type LockOptions struct {
	Timeout time.Duration // 0: DefaultLockTimeout
	Logger  *slog.Logger  // nil: no log
	// BoundReads: f's session waits for other locks no longer than Timeout
	// (lock_timeout, set for the session; f's own statements that must
	// not be bounded set theirs).
	BoundReads bool
}

// Locked runs f on a connection of pool holding the migration lock of
// store's ledger (a session advisory lock keyed by the schema), with the
// connection's current_user. It is the one lock of every path that writes
// the ledger under it (the runner, adopt): it polls, waiting at most
// o.Timeout and honouring ctx, names the holders when it gives up, starts
// f from a clean session, and releases the lock — on a context that a
// cancelled ctx does not cancel — with the session reset, or closes the
// connection (the lock goes with it) when it cannot.
func Locked(ctx context.Context, pool *pgxpool.Pool, store *ledger.Store, o LockOptions, f func(conn *pgx.Conn, actor string) error) error {
	if o.Timeout <= 0 {
		o.Timeout = DefaultLockTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	pc, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := pc.Conn()
	key := store.LockKey()
	// Every step starts from the same clean session state, whatever the
	// caller's pool left on this connection; with BoundReads, what the
	// session reads waits for locks no longer than the lock timeout. The
	// reset goes with each try for the lock (one round trip).
	reset := cleanSession[:len(cleanSession):len(cleanSession)]
	if o.BoundReads {
		reset = append(reset, lockTimeoutSQL(o.Timeout, false))
	}
	actor, err := acquire(ctx, conn, key, store.Schema(), o, strings.Join(reset, "; "))
	if err != nil {
		pc.Release()
		return err
	}
	defer func() {
		// The connection goes back to the caller's pool carrying nothing a
		// migration set. One whose reset or unlock failed may still hold
		// the lock: close it rather than hand it back.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		release := strings.Join(cleanSession, "; ") + "; DISCARD TEMP; DISCARD SEQUENCES; SELECT pg_advisory_unlock(" + strconv.FormatInt(key, 10) + ")"
		if conn.IsClosed() || conn.PgConn().TxStatus() != 'I' {
			_ = conn.Close(cctx)
		} else if _, err := conn.PgConn().Exec(cctx, release).ReadAll(); err != nil {
			_ = conn.Close(cctx)
		}
		pc.Release()
	}()
	return f(conn, actor)
}

// Lock polling: the first retry after lockPollMin, doubling up to
// lockPollMax, each wait drawn at random from its upper half so migrators
// started together do not poll in step.
const (
	lockPollMin = 5 * time.Millisecond
	lockPollMax = 500 * time.Millisecond
)

// acquire takes the migration lock on conn, polling pg_try_advisory_lock
// until the lock timeout, and returns the connection's current_user (as
// it was before then, the SQL each try sends after its own, ran).
//
// It never waits inside the server: a session blocked in pg_advisory_lock
// holds a snapshot for as long as it waits, and CREATE INDEX CONCURRENTLY
// run by the holder waits for every older snapshot to go — a deadlock that
// PostgreSQL breaks by aborting one of the two (40P01), possibly leaving an
// invalid index behind. Between polls this session holds nothing.
func acquire(ctx context.Context, conn *pgx.Conn, key int64, schema string, o LockOptions, then string) (string, error) {
	deadline := time.Now().Add(o.Timeout)
	wait := lockPollMin
	logged := false
	try := "SELECT pg_try_advisory_lock(" + strconv.FormatInt(key, 10) + "), current_user"
	if then != "" {
		try += "; " + then
	}
	for {
		res, err := conn.PgConn().Exec(ctx, try).ReadAll()
		if err == nil && (len(res) == 0 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) != 2) {
			err = errors.New("no answer to pg_try_advisory_lock")
		}
		if err != nil {
			// The lock may have been granted before what followed it
			// failed: the connection goes, and the lock with it.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			_ = conn.Close(cctx)
			cancel()
			return "", fmt.Errorf("take the migration lock: %w", err)
		}
		got, actor := string(res[0].Rows[0][0]) == "t", string(res[0].Rows[0][1])
		if got {
			return actor, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return "", &LockTimeoutError{Schema: schema, Waited: o.Timeout, Holders: lockHolders(ctx, conn, key, schema)}
		}
		if !logged {
			logged = true
			o.Logger.Info("waiting for the migration lock", "schema", schema, "held_by", lockHolders(ctx, conn, key, schema), "timeout", o.Timeout)
		}
		sleep := min(wait/2+rand.N(wait/2+1), left)
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("take the migration lock: %w", context.Cause(ctx))
		case <-time.After(sleep):
		}
		wait = min(2*wait, lockPollMax)
	}
}

// lockHolders describes the sessions holding the migration lock.
//
// Any role may take any advisory lock — PostgreSQL does not guard them by
// privilege — so a holder whose role may not write the ledger (no INSERT
// on its events) is named as what it is: a session that may not migrate,
// stalling every up.
func lockHolders(ctx context.Context, conn *pgx.Conn, key int64, schema string) string {
	rows, err := conn.Query(ctx, `
		SELECT CASE WHEN a.backend_start IS NULL
		            -- pg_stat_activity hides other roles' sessions from a role without pg_read_all_stats.
		            THEN format('pid %s, %s (since when and from where is hidden from this role: grant it pg_read_all_stats)', a.pid, a.usename)
		            ELSE format('pid %s, %s@%s, %s, since %s', a.pid, a.usename, coalesce(host(a.client_addr), 'local'),
		                        coalesce(nullif(a.application_name, ''), 'unnamed'), to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
		       END
		    || CASE WHEN to_regclass($2) IS NULL OR has_table_privilege(a.usesysid, to_regclass($2), 'INSERT') THEN ''
		       ELSE format(': role %s may not migrate (it has no INSERT on %s), yet holds the lock and stalls every up; end its session with SELECT pg_terminate_backend(%s)',
		                   a.usename, to_regclass($2), a.pid) END
		FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND l.classid = (($1::bigint >> 32) & 4294967295)::oid AND l.objid = ($1::bigint & 4294967295)::oid AND l.objsubid = 1`, key, pgx.Identifier{schema}.Sanitize()+".events")
	if err != nil {
		return ""
	}
	holders, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return ""
	}
	return strings.Join(holders, "; ")
}

// stepSettings are the settings a migration's statements run under: the
// DDL lock timeout and, for a tenant, its schema first on search_path
// (SET LOCAL: for the step's transaction only). Without a DDL lock
// timeout, a step's transaction sets lock_timeout back to the server's
// setting: the session's own reads are bounded by the lock timeout
// (Runner.locked), its migrations' statements are not. (A no-transaction
// step's statements run after RESET ALL, which does the same.)
func stepSettings(ddlLockTimeout time.Duration, tenant string, local bool) []string {
	var out []string
	switch set := lockTimeoutSQL(ddlLockTimeout, local); {
	case set != "":
		out = append(out, set)
	case local:
		out = append(out, "SET LOCAL lock_timeout TO DEFAULT")
	}
	if tenant != "" {
		scope := "SET "
		if local {
			scope = "SET LOCAL "
		}
		out = append(out, scope+"search_path = "+pgx.Identifier{tenant}.Sanitize()+", public")
	}
	return out
}

// lockTimeoutSQL sets lock_timeout to d for a migration's statements (SET
// LOCAL: for its transaction only); "" when d is not positive.
func lockTimeoutSQL(d time.Duration, local bool) string {
	if d <= 0 {
		return ""
	}
	scope := "SET "
	if local {
		scope = "SET LOCAL "
	}
	return scope + "lock_timeout = '" + strconv.FormatInt(d.Milliseconds(), 10) + "ms'"
}

// recordedDown reads the down SQL recorded when id was applied (in its
// migration.applied event, or the migration.started of a no-transaction one)
// and makes a script of it.
func recordedDown(ctx context.Context, store *ledger.Store, id string) (*Script, error) {
	filter := ledger.Filter{MigrationID: id, Types: []string{projector.TypeMigrationApplied, projector.TypeMigrationStarted}, Newest: true}
	for e, err := range store.Events(ctx, filter) {
		if err != nil {
			return nil, err
		}
		var p struct {
			DownSQL      string `json:"down_sql"`
			DownChecksum string `json:"down_checksum"`
			Direction    string `json:"direction"`
		}
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return nil, fmt.Errorf("recorded down of %s (seq %d): %w", id, e.Seq, err)
		}
		if p.Direction != projector.DirectionUp || p.DownChecksum == "" && p.DownSQL == "" {
			continue
		}
		name := fmt.Sprintf("%s.down.sql (recorded at seq %d)", id, e.Seq)
		return recordedScript(name, p.DownSQL)
	}
	return nil, fmt.Errorf("migration %s: no down SQL was recorded when it was applied", id)
}

// statementFailure is an error from running a migration's SQL, with the
// index of the failing statement when it is known.
type statementFailure struct {
	err   error
	index int
	known bool
	// notRun: the server ran none of it — the query was not sent whole,
	// or the server refused the transaction before its SQL.
	notRun bool
	// posBase is how many characters of the query came before the
	// migration's SQL (the body of a transactional script, or the one
	// statement run): a server error position is mapped through it to the
	// file. -1: the error is not in the migration's SQL.
	posBase int
}

// execBody runs a migration body in one round trip (simple protocol,
// several statements) inside the open transaction on conn.
func execBody(ctx context.Context, conn *pgx.Conn, body string, stmts []Statement, prefix []string) *statementFailure {
	sql, offset := body, len(prefix)
	if len(prefix) > 0 {
		sql = strings.Join(prefix, ";\n") + ";\n" + body
	}
	results, err := conn.PgConn().Exec(ctx, sql).ReadAll()
	f := failureOf(results, err, offset, stmts)
	if f != nil {
		f.posBase = utf8.RuneCountInString(sql) - utf8.RuneCountInString(body)
	}
	return f
}

// failureOf finds whether a multi-statement query failed and, from how many
// statements completed, which of stmts it was (offset statements were
// prepended to them).
func failureOf(results []*pgconn.Result, err error, offset int, stmts []Statement) *statementFailure {
	completed := 0
	for _, res := range results {
		if res.Err != nil {
			err = cmp.Or(err, res.Err)
			break
		}
		completed++
	}
	if err == nil {
		return nil
	}
	f := &statementFailure{err: err, index: completed - offset}
	f.known = f.index >= 0 && f.index < len(stmts)
	return f
}

// newMigrationError describes a step's failure: its file, statement, line
// and column, the server's SQLSTATE, and (for 55P03 under a DDL lock
// timeout) the timeout that was exceeded.
func newMigrationError(step Step, f *statementFailure, ddlLockTimeout time.Duration) *MigrationError {
	sc := step.Script
	e := &MigrationError{ID: step.ID, Direction: step.Direction, File: sc.File, Err: f.err}
	if f.known {
		st := sc.Statements[f.index]
		e.Statement, e.Line = st.Text, st.Line
	}
	var pgErr *pgconn.PgError
	if !errors.As(f.err, &pgErr) {
		return e
	}
	e.SQLState = pgErr.Code
	if pgErr.Position > 0 && f.posBase >= 0 {
		// Where in the file the server's error position points: a syntax
		// error fails the whole query before anything runs, so this is
		// also how its statement is found.
		text, base := sc.Body, sc.bodyOffset
		if sc.NoTransaction && f.known {
			text, base = e.Statement, sc.Statements[f.index].Offset
		}
		if off, ok := runeOffset(text, int(pgErr.Position)-1-f.posBase); ok {
			off += base
			e.Line, e.Column, e.LineText = lineAt(sc.Text, off)
			if !f.known {
				for _, st := range sc.Statements {
					if st.Offset <= off {
						e.Statement = st.Text
					}
				}
			}
		}
	}
	if pgErr.Code == "55P03" && ddlLockTimeout > 0 {
		e.DDLLockTimeout = ddlLockTimeout
	}
	return e
}

// runeOffset is the byte offset of the n-th (0-based) character of s.
func runeOffset(s string, n int) (int, bool) {
	if n < 0 {
		return 0, false
	}
	for i := range s {
		if n == 0 {
			return i, true
		}
		n--
	}
	return 0, false
}

// lineAt gives the 1-based line and column (in characters) of byte offset
// off in text, and that line's text.
func lineAt(text string, off int) (line, col int, lineText string) {
	start := strings.LastIndexByte(text[:off], '\n') + 1
	end := strings.IndexByte(text[off:], '\n')
	if end < 0 {
		end = len(text)
	} else {
		end += off
	}
	return 1 + strings.Count(text[:off], "\n"), utf8.RuneCountInString(text[start:off]) + 1, strings.TrimRight(text[start:end], "\r")
}

// recordedScript checks recorded down SQL as it would a down file and
// shapes it as a script to run.
func recordedScript(name, sql string) (*Script, error) {
	a, errs := analyze(name, []byte(sql), true)
	if len(errs) > 0 {
		all := make([]error, len(errs))
		for i, e := range errs {
			all[i] = e
		}
		return nil, errors.Join(all...)
	}
	return &a.script, nil
}

// rehearse runs the plan's transactional migrations in one transaction on
// conn and rolls it back: proof that they apply to this very database,
// recording nothing. It stops before the first no-transaction migration,
// which cannot be rehearsed, and reports it and those after it.
func (r *Runner) rehearse(ctx context.Context, conn *pgx.Conn, plan Plan, rep *Report) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // the point is to roll back
	for i, step := range plan.Steps {
		if step.Script.NoTransaction {
			rep.NotRehearsed = plan.IDs()[i:]
			return nil
		}
		if step.Script.Go() {
			for _, set := range stepSettings(r.cfg.ddlLockTimeout, r.cfg.tenant, true) {
				if _, err := tx.Exec(ctx, set); err != nil {
					return err
				}
			}
			if err := step.Script.goFn.tx(ctx, tx); err != nil {
				return &MigrationError{ID: step.ID, Direction: step.Direction, File: step.Script.File, Err: err, Rehearsal: true}
			}
			rep.Rehearsed = append(rep.Rehearsed, step.ID)
			continue
		}
		if f := execBody(ctx, conn, step.Script.Body, step.Script.Statements, stepSettings(r.cfg.ddlLockTimeout, r.cfg.tenant, true)); f != nil {
			merr := newMigrationError(step, f, r.cfg.ddlLockTimeout)
			merr.Rehearsal = true
			return merr
		}
		rep.Rehearsed = append(rep.Rehearsed, step.ID)
	}
	return nil
}
