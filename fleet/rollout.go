package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// DefaultParallel is how many targets migrate at once unless told otherwise.
const DefaultParallel = 8

// DefaultConnectTimeout bounds a connection attempt to a target whose URL
// sets no connect_timeout.
const DefaultConnectTimeout = 10 * time.Second

// Options say how a rollout runs. Zero values take the defaults:
// DefaultParallel targets at once, the first failure halts, no canary, no
// soak, no health check, the strict policy.
type Options struct {
	// Canary targets (the first Canary of the list) run first, before any
	// other starts; any failure among them halts the rollout.
	Canary int
	// Parallel targets migrate at once (0: DefaultParallel). Each holds one
	// connection to its database at a time.
	Parallel int
	// PerHost: at most this many at once on one PostgreSQL server
	// (host:port); 0: no limit beyond Parallel.
	PerHost int
	// MaxFailures: the rollout halts once this many targets failed or were
	// refused (0: 1, the first halts). Targets in flight finish; no new one starts.
	MaxFailures int
	// Soak: how long to wait after the canary wave before the rest.
	Soak time.Duration
	// Health: SQL run on each target after it migrated or was found at the set (on a tenant, with
	// its schema first on search_path); it must return one boolean, and
	// false or an error counts as the target's failure.
	Health string
	// DryRun: plan each target (what it would apply, what it would
	// refuse); write nothing, record nothing.
	DryRun bool

	// AppVersion and Policy: the release that rolls out (recorded with
	// every event, and what each target's policy judges).
	AppVersion string
	Policy     policy.Policy
	// LedgerSchema is the targets' ledger schema, or for tenants the base
	// of theirs (ledger.TenantSchema); "" is ledger.DefaultSchema.
	LedgerSchema string
	// LockTimeout bounds each target's wait for its migration lock (0: migrations.DefaultLockTimeout).
	LockTimeout time.Duration
	// Migrate are further options for each target's runner (a DDL lock
	// timeout, the fleet window, a logger, ...).
	Migrate []migrations.Option

	// Word words a target's error for its outcome (the CLI passes the
	// words its up prints); nil: the library's.
	Word func(error) string
	// Progress is called, from one goroutine, when a target starts and
	// when it finishes.
	Progress func(Progress)
	// Who started the rollout ("": the operating-system user).
	Who string
}

func (o *Options) defaults() {
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = 1
	}
	if o.LedgerSchema == "" {
		o.LedgerSchema = ledger.DefaultSchema
	}
	if o.Policy == (policy.Policy{}) {
		o.Policy = policy.Strict
	}
	if o.Word == nil {
		o.Word = func(err error) string { return err.Error() }
	}
	if o.Who == "" {
		o.Who = whoAmI()
	}
}

func (o Options) validate() error {
	switch {
	case o.Canary < 0, o.PerHost < 0, o.Soak < 0, o.LockTimeout < 0:
		return fmt.Errorf("rollout options: canary, per-host, soak and lock timeout must not be negative")
	case o.AppVersion == "":
		return fmt.Errorf("rollout options: the release (app version) that rolls out is required: it is recorded on every target")
	}
	_, err := policy.ParseAppVersion(o.AppVersion)
	return err
}

func whoAmI() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// OutcomePending is a dry run's outcome for a target with migrations to
// apply; it is never recorded.
const OutcomePending = "pending"

// TargetResult is what happened on one target.
type TargetResult struct {
	Name     string        `json:"name"`
	URL      string        `json:"url"` // without its password
	Tenant   string        `json:"tenant,omitempty"`
	Outcome  string        `json:"outcome"` // projector.Outcome*, or OutcomePending in a dry run
	Applied  []string      `json:"applied,omitempty"`
	Planned  []string      `json:"planned,omitempty"` // a dry run: what it would apply
	Unknown  []string      `json:"unknown,omitempty"` // refused: the migrations there this release does not know
	SQLState string        `json:"sqlstate,omitempty"`
	Error    string        `json:"error,omitempty"`
	Err      error         `json:"-"` // the error itself, for a caller that words it
	Duration time.Duration `json:"duration_ns"`
	Seq      int64         `json:"seq"`            // the target ledger's head after
	Hash     string        `json:"hash,omitempty"` // hex
	Canary   bool          `json:"canary,omitempty"`
}

// Counts tallies targets by state.
type Counts struct {
	Pending int `json:"pending"`
	AtSet   int `json:"at_set"`
	Applied int `json:"applied"`
	Failed  int `json:"failed"`
	Refused int `json:"refused"`
	Skipped int `json:"skipped"`
}

// Done is how many targets need nothing more.
func (c Counts) Done() int { return c.AtSet + c.Applied + c.Skipped }

func (c *Counts) add(outcome string, n int) {
	switch outcome {
	case projector.OutcomeAtSet:
		c.AtSet += n
	case projector.OutcomeApplied:
		c.Applied += n
	case projector.OutcomeFailed:
		c.Failed += n
	case projector.OutcomeRefused:
		c.Refused += n
	case projector.OutcomeSkipped:
		c.Skipped += n
	default:
		c.Pending += n
	}
}

// Progress is where a running rollout is: one target started or finished.
type Progress struct {
	Started  string        // the target that starts now, or ""
	Finished *TargetResult // the target that finished now, or nil
	Counts   Counts        // over the whole rollout (earlier sessions included)
	Running  int
	Total    int
	Elapsed  time.Duration // since this session started
}

// Report is what a rollout (or a resume of one) did.
type Report struct {
	ID          string         `json:"id"`
	DryRun      bool           `json:"dry_run,omitempty"`
	Targets     []TargetResult `json:"targets"` // this session's, in the order they finished (a dry run: plan order)
	Counts      Counts         `json:"counts"`  // over the whole rollout
	Halted      string         `json:"halted,omitempty"`
	Interrupted bool           `json:"interrupted,omitempty"`
	InFlight    []string       `json:"in_flight,omitempty"` // interrupted while these ran: they have no outcome
	Finished    bool           `json:"finished"`
	Elapsed     time.Duration  `json:"elapsed_ns"`
}

// newID is a rollout id: the UTC time it started and 4 random hex digits.
func newID(now time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// Start plans a rollout of set over targets, records it in the control
// ledger (creating it if needed) and runs it. A dry run needs no control
// ledger (ctl may be nil) and records nothing.
func Start(ctx context.Context, ctl *Control, set *migrations.Set, targets []Target, o Options) (Report, error) {
	o.defaults()
	if err := o.validate(); err != nil {
		return Report{}, err
	}
	if len(targets) == 0 {
		return Report{}, errors.New("rollout: no targets")
	}
	rec, digest, err := recorded(targets, o.LedgerSchema)
	if err != nil {
		return Report{}, err
	}
	plan := projector.RolloutStarted{
		ID: newID(time.Now()), Release: o.AppVersion, Policy: o.Policy.String(),
		SetDigest: set.Digest().String(), Migrations: set.IDs(), Targets: rec, TargetsDigest: digest,
		Options: projector.RolloutOptions{
			Canary: min(o.Canary, len(targets)), Parallel: o.Parallel, PerHost: o.PerHost, MaxFailures: o.MaxFailures,
			SoakMS: o.Soak.Milliseconds(), Health: o.Health, LockTimeout: o.LockTimeout.Milliseconds(),
			LedgerSchema: o.LedgerSchema,
		},
		Who: o.Who,
	}
	e := &engine{ctl: ctl, set: set, targets: targets, o: o, h: newHistory()}
	e.h.plan = plan
	if o.DryRun {
		return e.dryRun(ctx)
	}
	if ctl == nil {
		return Report{}, errors.New("rollout: a control ledger is required to record it")
	}
	if _, err := ctl.store.Init(ctx); err != nil {
		return Report{}, fmt.Errorf("control ledger: %w", err)
	}
	unlock, err := ctl.lock(ctx, plan.ID)
	if err != nil {
		return Report{}, err
	}
	defer unlock()
	ev, err := projector.NewEvent(projector.TypeRolloutStarted, plan)
	if err != nil {
		return Report{}, err
	}
	if err := ctl.append(ctx, o.AppVersion, ev); err != nil {
		return Report{}, fmt.Errorf("record the rollout's start: %w", err)
	}
	return e.run(ctx, e.h.pendingNames())
}

// ChangedError: a resume was given a migration set or targets other than
// those the rollout started with.
type ChangedError struct {
	ID       string
	What     string // "migration set" or "targets"
	Recorded string // digest
	Given    string
}

func (e *ChangedError) Error() string {
	return fmt.Sprintf("rollout %s started with %s %.12s, this is %.12s: resume it with the same %s, or start a new rollout", e.ID, e.What, e.Recorded, e.Given, e.What)
}

// Resume goes on with rollout id: every target not done (never run, run
// without a recorded outcome, failed or refused) runs again, canaries
// first, under the options the rollout started with; skip names targets
// to leave out, each recorded as skipped. The set must be the one it
// started with. targets, if not nil, must be the ones it started with
// (same digest) and supply the connection strings (with passwords); nil
// uses the recorded URLs (which never hold one: use PGPASSWORD or
// .pgpass). In o, the waves, budget, health, release and policy are the
// recorded ones; Word, Progress, Migrate and Who are taken.
func Resume(ctx context.Context, ctl *Control, id string, set *migrations.Set, targets []Target, skip []string, o Options) (Report, error) {
	unlock, err := ctl.lock(ctx, id)
	if err != nil {
		return Report{}, err
	}
	defer unlock()
	h, err := ctl.read(ctx, id)
	if err != nil {
		return Report{}, err
	}
	p := h.plan
	if got := set.Digest().String(); got != p.SetDigest {
		return Report{}, &ChangedError{ID: id, What: "migration set", Recorded: p.SetDigest, Given: got}
	}
	pol, err := policy.Parse(p.Policy)
	if err != nil {
		return Report{}, fmt.Errorf("rollout %s: recorded policy: %w", id, err)
	}
	o.AppVersion, o.Policy = p.Release, pol
	o.Canary, o.Parallel, o.PerHost, o.MaxFailures = p.Options.Canary, p.Options.Parallel, p.Options.PerHost, p.Options.MaxFailures
	o.Soak, o.Health, o.LockTimeout = time.Duration(p.Options.SoakMS)*time.Millisecond, p.Options.Health, time.Duration(p.Options.LockTimeout)*time.Millisecond
	o.DryRun = false
	o.LedgerSchema = p.Options.LedgerSchema
	o.defaults()
	if targets == nil {
		for _, t := range p.Targets {
			targets = append(targets, Target{Name: t.Name, URL: t.URL, Tenant: t.Tenant})
		}
	} else {
		_, digest, err := recorded(targets, o.LedgerSchema)
		if err != nil {
			return Report{}, err
		}
		if digest != p.TargetsDigest {
			return Report{}, &ChangedError{ID: id, What: "targets", Recorded: p.TargetsDigest, Given: digest}
		}
	}
	var unknown []string
	for _, s := range skip {
		if !h.known(s) {
			unknown = append(unknown, s)
		}
	}
	if len(unknown) > 0 {
		return Report{}, fmt.Errorf("rollout %s has no target %s", id, strings.Join(unknown, ", "))
	}
	e := &engine{ctl: ctl, set: set, targets: targets, o: o, h: h}
	events := []projector.Event{}
	ev, err := projector.NewEvent(projector.TypeRolloutResumed, projector.RolloutResumed{ID: id, Skip: skip, Who: o.Who})
	if err != nil {
		return Report{}, err
	}
	events = append(events, ev)
	for _, s := range skip {
		oc := projector.RolloutOutcome{ID: id, Target: s, Outcome: projector.OutcomeSkipped}
		if ev, err = projector.NewEvent(projector.TypeRolloutTarget, oc); err != nil {
			return Report{}, err
		}
		events = append(events, ev)
	}
	if err := ctl.append(ctx, p.Release, events...); err != nil {
		return Report{}, fmt.Errorf("record the resume: %w", err)
	}
	h.resumes = append(h.resumes, projector.RolloutResumed{ID: id, Skip: skip, Who: o.Who})
	h.halted, h.interrupt, h.finished = nil, nil, nil
	for _, s := range skip {
		h.outcomes[s] = projector.RolloutOutcome{ID: id, Target: s, Outcome: projector.OutcomeSkipped}
	}
	return e.run(ctx, h.pendingNames())
}

// engine runs one session of a rollout.
type engine struct {
	ctl     *Control
	set     *migrations.Set
	targets []Target
	o       Options
	h       *history // the rollout so far; updated by the dispatcher only

	poolsMu sync.Mutex
	pools   map[string]*pgxpool.Pool // tenants' databases, shared by their targets
	plain   plainServers             // servers that refused TLS
}

// counts tallies the rollout's targets by their latest outcome.
func (e *engine) counts() Counts {
	var c Counts
	for _, t := range e.h.plan.Targets {
		o, ok := e.h.outcomes[t.Name]
		if !ok {
			c.Pending++
			continue
		}
		c.add(o.Outcome, 1)
	}
	return c
}

// finished is one target's result, as the dispatcher receives it.
type finished struct {
	index       int
	res         TargetResult
	interrupted bool // stopped by ctx: no outcome to record
}

// run runs the named targets: the canaries among them first, then (after
// the soak) the rest, recording each outcome, a halt, an interruption and
// the finish.
func (e *engine) run(ctx context.Context, names []string) (Report, error) {
	start := time.Now()
	rep := Report{ID: e.h.plan.ID}
	defer e.closePools()
	byName := map[string]int{}
	for i, t := range e.targets {
		byName[t.Name] = i
	}
	var canary, rest []int
	for _, n := range names {
		i, ok := byName[n]
		if !ok {
			return rep, fmt.Errorf("rollout %s: target %s has no connection string", rep.ID, n)
		}
		if i < e.h.plan.Options.Canary {
			canary = append(canary, i)
		} else {
			rest = append(rest, i)
		}
	}
	w := newWriter(ctx, e.ctl, e.o.AppVersion)
	failures := 0
	// Kept as outcomes arrive: progress is told the counts twice per
	// target, and counting every target each time made a rollout
	// quadratic in its targets.
	counts := e.counts()
	record := func(typ string, payload any) {
		ev, err := projector.NewEvent(typ, payload)
		if err != nil {
			w.fail(err)
			return
		}
		w.put(ev)
	}
	halt := func(reason string) {
		if rep.Halted == "" {
			rep.Halted = reason
			record(projector.TypeRolloutHalted, projector.RolloutHalted{ID: rep.ID, Reason: reason, Failures: failures})
		}
	}
	onResult := func(f finished) {
		if f.interrupted {
			rep.InFlight = append(rep.InFlight, f.res.Name)
			return
		}
		r := f.res
		rep.Targets = append(rep.Targets, r)
		oc := projector.RolloutOutcome{
			ID: rep.ID, Target: r.Name, Outcome: r.Outcome, Applied: r.Applied, Unknown: r.Unknown,
			SQLState: r.SQLState, Error: r.Error, DurationMS: r.Duration.Milliseconds(), Seq: r.Seq, Hash: r.Hash, Canary: r.Canary,
		}
		if prev, ok := e.h.outcomes[r.Name]; ok {
			counts.add(prev.Outcome, -1)
		} else {
			counts.Pending--
		}
		counts.add(r.Outcome, 1)
		e.h.outcomes[r.Name] = oc
		record(projector.TypeRolloutTarget, oc)
		if r.Outcome == projector.OutcomeFailed || r.Outcome == projector.OutcomeRefused {
			failures++
			switch {
			case r.Canary:
				halt(fmt.Sprintf("canary %s %s", r.Name, r.Outcome))
			case failures >= e.o.MaxFailures:
				halt(fmt.Sprintf("%d of at most %d targets failed or were refused (the last: %s)", failures, e.o.MaxFailures, r.Name))
			}
		}
	}
	progress := func(started string, fin *TargetResult, running int) {
		if e.o.Progress != nil {
			e.o.Progress(Progress{Started: started, Finished: fin, Counts: counts, Running: running, Total: len(e.h.plan.Targets), Elapsed: time.Since(start)})
		}
	}
	stopped := func() bool { return rep.Halted != "" || ctx.Err() != nil }

	e.wave(ctx, canary, true, stopped, onResult, progress)
	if len(canary) > 0 && len(rest) > 0 && !stopped() && e.o.Soak > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(e.o.Soak):
		}
	}
	e.wave(ctx, rest, false, stopped, onResult, progress)

	if ctx.Err() != nil {
		rep.Interrupted = true
		record(projector.TypeRolloutInterrupted, projector.RolloutInterrupted{ID: rep.ID, Reason: context.Cause(ctx).Error(), InFlight: rep.InFlight})
	} else if rep.Halted == "" {
		c := e.counts()
		if c.Pending == 0 {
			rep.Finished = true
			record(projector.TypeRolloutFinished, projector.RolloutFinished{ID: rep.ID, AtSet: c.AtSet, Applied: c.Applied, Failed: c.Failed, Refused: c.Refused, Skipped: c.Skipped})
		}
	}
	err := w.close()
	rep.Counts = e.counts()
	rep.Elapsed = time.Since(start)
	if err != nil {
		return rep, fmt.Errorf("record the rollout in the control ledger: %w", err)
	}
	return rep, nil
}

// wave runs targets (indexes into e.targets) at most Parallel at once and
// PerHost at once per server, starting none once stopped() says so; it
// returns when every target it started has finished.
func (e *engine) wave(ctx context.Context, idx []int, canary bool, stopped func() bool, onResult func(finished), progress func(string, *TargetResult, int)) {
	if len(idx) == 0 {
		return
	}
	results := make(chan finished)
	perHost := map[string]int{}
	servers := make(map[int]string, len(idx))
	for _, i := range idx {
		servers[i] = e.h.plan.Targets[i].Server
	}
	pending := slices.Clone(idx)
	running := 0
	for {
		for running < e.o.Parallel && len(pending) > 0 && !stopped() {
			k := 0
			if e.o.PerHost > 0 {
				k = slices.IndexFunc(pending, func(i int) bool { return perHost[servers[i]] < e.o.PerHost })
				if k < 0 {
					break
				}
			}
			i := pending[k]
			pending = slices.Delete(pending, k, k+1)
			perHost[servers[i]]++
			running++
			progress(e.targets[i].Name, nil, running)
			go func() {
				res, interrupted := e.runTarget(ctx, i, canary)
				results <- finished{index: i, res: res, interrupted: interrupted}
			}()
		}
		if running == 0 {
			return
		}
		f := <-results
		running--
		perHost[servers[f.index]]--
		onResult(f)
		if !f.interrupted {
			progress("", &f.res, running)
		}
	}
}

// pool is the connection pool a target runs on: its own of one connection
// for a database, or its database's shared pool for a tenant.
func (e *engine) pool(ctx context.Context, t Target) (*pgxpool.Pool, func(), error) {
	if t.Tenant == "" {
		cfg, err := e.poolConfig(t.URL, 1)
		if err != nil {
			return nil, nil, err
		}
		p, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		return p, p.Close, nil
	}
	e.poolsMu.Lock()
	defer e.poolsMu.Unlock()
	if p, ok := e.pools[t.URL]; ok {
		return p, func() {}, nil
	}
	conns := e.o.Parallel
	if e.o.PerHost > 0 {
		conns = min(conns, e.o.PerHost)
	}
	cfg, err := e.poolConfig(t.URL, int32(conns))
	if err != nil {
		return nil, nil, err
	}
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	if e.pools == nil {
		e.pools = map[string]*pgxpool.Pool{}
	}
	e.pools[t.URL] = p
	return p, func() {}, nil
}

func (e *engine) poolConfig(url string, conns int32) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	e.plain.configure(&cfg.ConnConfig.Config, server(cfg.ConnConfig))
	cfg.MaxConns, cfg.MinConns = conns, 0
	cfg.ConnConfig.RuntimeParams["application_name"] = "ledger rollout " + e.h.plan.ID
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// A server that takes the connection and never answers fails its
		// target instead of holding a slot of the rollout forever.
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	return cfg, nil
}

func (e *engine) closePools() {
	e.poolsMu.Lock()
	defer e.poolsMu.Unlock()
	for _, p := range e.pools {
		p.Close()
	}
	e.pools = nil
}

// runTarget migrates one target as up does. interrupted: ctx was cancelled
// and the target did not finish (it has no outcome to record).
func (e *engine) runTarget(ctx context.Context, i int, canary bool) (TargetResult, bool) {
	t := e.targets[i]
	rt := e.h.plan.Targets[i]
	t0 := time.Now()
	res := TargetResult{Name: t.Name, URL: t.Redacted(), Tenant: t.Tenant, Canary: canary}
	fail := func(err error) (TargetResult, bool) {
		res.Outcome, res.Err, res.Error = projector.OutcomeFailed, err, e.o.Word(err)
		res.Duration = time.Since(t0)
		return res, ctx.Err() != nil
	}
	pool, release, err := e.pool(ctx, t)
	if err != nil {
		return fail(err)
	}
	defer release()
	store, err := ledger.New(oneTrip{pool}, ledger.WithSchema(rt.Ledger))
	if err != nil {
		return fail(err)
	}
	// At the set already, as up would find it (Set.HeldBy): one head read.
	head, herr := store.Head(ctx)
	if herr == nil && e.set.HeldBy(head) {
		res.Outcome, res.Seq, res.Hash = projector.OutcomeAtSet, head.Seq, hex.EncodeToString(head.Hash)
		if e.o.DryRun {
			res.Duration = time.Since(t0)
			return res, false
		}
		return e.health(ctx, pool, t, res, t0)
	}
	if ctx.Err() != nil {
		return res, true
	}
	if t.Tenant != "" {
		var exists bool
		if err := pool.QueryRow(ctx, "SELECT to_regnamespace($1) IS NOT NULL", pgx.Identifier{t.Tenant}.Sanitize()).Scan(&exists); err != nil {
			return fail(err)
		}
		if !exists {
			return fail(fmt.Errorf("tenant schema %q does not exist in %s", t.Tenant, t.Redacted()))
		}
	}
	opts := []migrations.Option{migrations.WithSchema(e.o.LedgerSchema), migrations.WithAppVersion(e.o.AppVersion), migrations.WithPolicy(e.o.Policy)}
	if t.Tenant != "" {
		opts = append(opts, migrations.WithTenant(t.Tenant))
	}
	if e.o.LockTimeout > 0 {
		opts = append(opts, migrations.WithLockTimeout(e.o.LockTimeout))
	}
	if !e.o.DryRun {
		opts = append(opts, migrations.WithRollout(e.h.plan.ID))
	}
	opts = append(opts, e.o.Migrate...)
	runner, err := migrations.NewRunner(pool, e.set, opts...)
	if err != nil {
		return fail(err)
	}
	rep, err := runner.Up(ctx, migrations.UpOptions{DryRun: e.o.DryRun})
	for _, d := range rep.Done {
		res.Applied = append(res.Applied, d.ID)
	}
	res.Seq, res.Hash = rep.Head.Seq, hex.EncodeToString(rep.Head.Hash)
	if err != nil {
		if refused(err, &res) {
			res.Outcome, res.Err, res.Error = projector.OutcomeRefused, err, e.o.Word(err)
			res.Duration = time.Since(t0)
			return res, false
		}
		var merr *migrations.MigrationError
		if errors.As(err, &merr) {
			res.SQLState = merr.SQLState
		}
		return fail(err)
	}
	if e.o.DryRun {
		res.Planned, res.Outcome = rep.Planned, projector.OutcomeAtSet
		if len(rep.Planned) > 0 {
			res.Outcome = OutcomePending
		}
		res.Duration = time.Since(t0)
		return res, false
	}
	res.Outcome = projector.OutcomeApplied
	if len(res.Applied) == 0 {
		res.Outcome = projector.OutcomeAtSet
	}
	return e.health(ctx, pool, t, res, t0)
}

// refused reports whether err is a refusal by a policy or guard (what up
// exits 4 for), noting the unknown migrations on res.
func refused(err error, res *TargetResult) bool {
	var perr *migrations.PlanError
	if errors.As(err, &perr) && !perr.BadTarget {
		if perr.Verdict != nil {
			for _, u := range perr.Verdict.Unknown {
				if !u.Allowed {
					res.Unknown = append(res.Unknown, u.ID)
				}
			}
		}
		return true
	}
	var ferr *migrations.ForeignHistoryError
	var berr *migrations.BreakingError
	var derr *migrations.DriftError
	var fmtErr *ledger.FormatError
	return errors.As(err, &ferr) || errors.As(err, &berr) || errors.As(err, &derr) || errors.As(err, &fmtErr)
}

// health runs the health SQL on a target that migrated (or was there).
func (e *engine) health(ctx context.Context, pool *pgxpool.Pool, t Target, res TargetResult, t0 time.Time) (TargetResult, bool) {
	defer func() { res.Duration = time.Since(t0) }()
	if e.o.Health == "" {
		res.Duration = time.Since(t0)
		return res, false
	}
	var ok bool
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if t.Tenant != "" {
			if _, err := tx.Exec(ctx, "SET LOCAL search_path = "+pgx.Identifier{t.Tenant}.Sanitize()+", public"); err != nil {
				return err
			}
		}
		return tx.QueryRow(ctx, e.o.Health).Scan(&ok)
	})
	switch {
	case err != nil:
		err = fmt.Errorf("health check: %w", err)
	case !ok:
		err = errors.New("health check: it returned false")
	}
	if err != nil {
		res.Outcome, res.Err, res.Error = projector.OutcomeFailed, err, e.o.Word(err)
	}
	res.Duration = time.Since(t0)
	return res, false
}

// dryRun plans every target, Parallel at once, and records nothing.
func (e *engine) dryRun(ctx context.Context) (Report, error) {
	start := time.Now()
	rep := Report{ID: e.h.plan.ID, DryRun: true, Targets: make([]TargetResult, len(e.targets))}
	defer e.closePools()
	idx := make([]int, len(e.targets))
	for i := range idx {
		idx[i] = i
	}
	e.wave(ctx, idx, false, func() bool { return ctx.Err() != nil }, func(f finished) {
		rep.Targets[f.index] = f.res
		if f.interrupted {
			rep.Targets[f.index].Outcome = ""
		}
	}, func(string, *TargetResult, int) {})
	for _, r := range rep.Targets {
		rep.Counts.add(r.Outcome, 1)
	}
	rep.Interrupted = ctx.Err() != nil
	rep.Elapsed = time.Since(start)
	return rep, nil
}
