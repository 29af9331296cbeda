package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/fleet"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/projector"
)

// ---- rollout, rollout status, rollout list, rollout resume

func cmdRollout() *command {
	return &command{
		name: "rollout", args: "(--targets FILE | --targets-sql QUERY | --tenants PATTERN --db URL) --control-db URL [--canary N] [--parallel N] [--per-host N] [--max-failures N] [--soak D] [--health SQL] [--dry-run] [--json]",
		short: "apply the set on many databases or tenant schemas: waves, a failure budget, recorded and resumable",
		long: `Runs the migration set on every target, each through exactly what up does
there (validation, policy, release guard, migration lock, drift recording); a
target already at the set costs one head read. The rollout is recorded in a
control ledger (schema ledger_rollouts on --control-db): its plan, each
target's outcome with the target ledger's seq and hash after it, halts,
interruptions and its end — and each target's migration.applied events carry
the rollout's id. Killing the controller loses nothing: 'ledger rollout
resume ID' goes on with the targets not done, and every migration is applied
exactly once on every target.

Targets, one of:
  --targets FILE        one postgres:// URL per line; blank lines and # comments
                        ignored; extras after the URL: name=NAME (default: the
                        database name), tenant=SCHEMA (one tenant's schema)
  --targets-sql QUERY   run on --control-db: the first column is the URL,
                        columns named name and tenant are those extras
  --tenants PATTERN     schema-per-tenant: every schema of --db whose name is
                        LIKE PATTERN is a tenant ('%' for all; PostgreSQL's, public
                        and the ledgers' schemas never are); tenant acme's ledger
                        is ledger_acme (--schema is the base)

--canary N runs the first N targets first (any failure there halts the
rollout), then waits --soak, then the rest, --parallel at once and at most
--per-host at once on one server. The rollout halts once --max-failures targets
failed or were refused (default 1: the first): targets in flight finish, no new
one starts. --health SQL runs on each target after it migrated (or was found
at the set) and must return true. Ctrl-C stops starting targets, cancels the migrations in flight (rolled
back and recorded on each target, as up does) and records the rollout as
interrupted.

On a terminal a progress line shows done, failed, running and pending, the
rate and the time left; otherwise one line per finished target. --json writes
one JSON object per finished target, then the summary. --dry-run prints what
each target would apply or refuse and writes nothing.

Exit codes: 0 every target at the set; 1 a target failed, or the rollout halted
or was interrupted; 4 a target refused (by a policy or guard) and none failed.`,
		example: `  ledger rollout --targets fleet.txt --control-db $CONTROL_URL --dir ./migrations --app-version 1.4.0 --canary 2 --parallel 16 --max-failures 5
  ledger rollout --tenants 'tenant_%' --db $DATABASE_URL --app-version 1.4.0
  ledger rollout status --control-db $CONTROL_URL
  ledger rollout resume 20261206-153012-3f9a --control-db $CONTROL_URL --dir ./migrations --skip eu-7`,
		newFlags: func() runnable { return &rolloutCmd{rel: releaseFlags{withPolicy: true}} },
		subs:     []*command{cmdRolloutStatus(), cmdRolloutList(), cmdRolloutResume()},
	}
}

// controlFlags say where the control ledger is.
type controlFlags struct {
	url    string
	schema string
}

func (g *controlFlags) register(fs *flag.FlagSet, e *env) {
	g.url = e.getenv("LEDGER_CONTROL_DB")
	fs.StringVar(&g.url, "control-db", g.url, "the control database `URL`, where rollouts are recorded [LEDGER_CONTROL_DB; unset: --db / DATABASE_URL]")
	fs.StringVar(&g.schema, "control-schema", fleet.ControlSchema, "the control ledger's `schema`")
}

func (g *controlFlags) validate(e *env) error {
	if g.url == "" && e.db != nil {
		g.url = e.db.url
	}
	if g.url == "" {
		g.url = e.getenv("DATABASE_URL")
	}
	if _, err := pgxpool.ParseConfig(g.url); err != nil {
		return fmt.Errorf("--control-db: %v", redactErr(err, g.url))
	}
	return nil
}

// open connects to the control database (lazily) and returns its control ledger.
func (g *controlFlags) open(ctx context.Context, e *env) (*fleet.Control, *pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(g.url)
	if err != nil {
		return nil, nil, fmt.Errorf("--control-db: %v", redactErr(err, g.url))
	}
	cfg.MaxConns = 3 // the rollout's lock, the recorder, a read
	cfg.ConnConfig.RuntimeParams["application_name"] = "ledger " + e.name
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	ctl, err := fleet.NewControl(pool, g.schema, "")
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return ctl, pool, nil
}

// wavesFlags are a rollout's waves and budget.
type wavesFlags struct {
	canary, parallel, perHost, maxFailures int
	soak                                   time.Duration
	health                                 string
}

func (g *wavesFlags) register(fs *flag.FlagSet, _ *env) {
	fs.IntVar(&g.canary, "canary", 0, "run the first `N` targets first; any failure among them halts the rollout")
	fs.IntVar(&g.parallel, "parallel", fleet.DefaultParallel, "migrate at most `N` targets at once (one connection each)")
	fs.IntVar(&g.perHost, "per-host", 0, "at most `N` targets at once on one PostgreSQL server (0: no limit but --parallel)")
	fs.IntVar(&g.maxFailures, "max-failures", 1, "halt once `N` targets failed or were refused (in flight finish; none starts)")
	fs.DurationVar(&g.soak, "soak", 0, "wait this `duration` after the canaries before the rest")
	fs.StringVar(&g.health, "health", "", "`SQL` run on each target after it migrated; it must return true (false or an error: the target failed)")
}

func (g *wavesFlags) validate(*env) error {
	switch {
	case g.canary < 0, g.perHost < 0, g.soak < 0:
		return errors.New("--canary, --per-host and --soak must not be negative")
	case g.parallel < 1:
		return fmt.Errorf("--parallel %d: want at least 1", g.parallel)
	case g.maxFailures < 1:
		return fmt.Errorf("--max-failures %d: want at least 1 (1: the first failure halts)", g.maxFailures)
	}
	return nil
}

type rolloutCmd struct {
	db         dbFlags
	dir        dirFlags
	rel        releaseFlags
	out        outputFlags
	lock       lockFlags
	control    controlFlags
	waves      wavesFlags
	targets    string
	targetsSQL string
	tenants    string
	dryRun     bool
}

func (c *rolloutCmd) flags(fs *flag.FlagSet, e *env) {
	c.lock.withDDL = true
	e.attach(fs, &c.db, &c.dir, &c.rel, &c.out, &c.lock, &c.control, &c.waves)
	fs.StringVar(&c.targets, "targets", "", "the targets `FILE`: one postgres:// URL per line, extras name= and tenant=")
	fs.StringVar(&c.targetsSQL, "targets-sql", "", "a `QUERY` run on --control-db that lists the targets (url, and optional name and tenant columns)")
	fs.StringVar(&c.tenants, "tenants", "", "schema-per-tenant: every schema of --db LIKE `PATTERN` is a tenant")
	fs.BoolVar(&c.dryRun, "dry-run", false, "print what each target would apply or refuse; write nothing")
}

func (c *rolloutCmd) run(ctx context.Context, e *env, _ []string) int {
	n := 0
	for _, s := range []string{c.targets, c.targetsSQL, c.tenants} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return e.usageErr("give the targets with exactly one of --targets FILE, --targets-sql QUERY or --tenants PATTERN")
	}
	if c.db.tenant != "" {
		return e.usageErr("--tenant addresses one tenant; a rollout over tenants takes --tenants PATTERN")
	}
	if c.rel.appVersion() == "" {
		return e.usageErr("--app-version is required: the release that rolls out is recorded on every target")
	}
	set, err := e.loadSet()
	if err != nil {
		return e.fail(err)
	}
	ctl, cpool, err := c.control.open(ctx, e)
	if err != nil {
		return e.fail(err)
	}
	defer cpool.Close()
	targets, code := c.readTargets(ctx, e, cpool)
	if code != 0 {
		return code
	}
	o := rolloutOptions(e, &c.rel, &c.lock, c.db.base)
	o.Canary, o.Parallel, o.PerHost, o.MaxFailures = c.waves.canary, c.waves.parallel, c.waves.perHost, c.waves.maxFailures
	o.Soak, o.Health, o.DryRun = c.waves.soak, c.waves.health, c.dryRun
	if c.dryRun {
		rep, err := fleet.Start(ctx, nil, set, targets, o)
		if err != nil {
			return e.fail(err)
		}
		return e.renderDryRun(rep)
	}
	r := newRolloutView(e)
	o.Progress = r.progress
	rep, err := fleet.Start(ctx, ctl, set, targets, o)
	return r.finish(rep, err, &c.control)
}

// readTargets reads the targets from the one source given.
func (c *rolloutCmd) readTargets(ctx context.Context, e *env, control *pgxpool.Pool) ([]fleet.Target, int) {
	var (
		ts  []fleet.Target
		err error
	)
	switch {
	case c.targets != "":
		f, ferr := os.Open(c.targets)
		if ferr != nil {
			return nil, e.usageErr("--targets: %v", ferr)
		}
		defer f.Close()
		ts, err = fleet.ParseTargets(f, c.targets)
	case c.targetsSQL != "":
		ts, err = fleet.TargetsFromQuery(ctx, control, c.targetsSQL)
	default:
		pool, perr := e.connect(ctx)
		if perr != nil {
			return nil, e.fail(perr)
		}
		url := c.db.url
		if url == "" {
			url = pool.Config().ConnString()
		}
		ts, err = fleet.Tenants(ctx, pool, url, c.tenants, c.db.base)
	}
	var terr *fleet.TargetsError
	if errors.As(err, &terr) {
		return nil, e.usageErr("%v", err)
	}
	if err != nil {
		return nil, e.fail(err)
	}
	return ts, 0
}

// rolloutOptions are what every rollout session takes from the flags.
func rolloutOptions(e *env, rel *releaseFlags, lock *lockFlags, base string) fleet.Options {
	o := fleet.Options{LedgerSchema: base, LockTimeout: lock.lockTimeout, Migrate: []migrations.Option{migrations.WithDDLLockTimeout(lock.ddlLck)}}
	if rel != nil {
		o.AppVersion, o.Policy = rel.appVersion(), rel.policy
	}
	// A target's refusal or failure in the words up prints.
	o.Word = func(err error) string {
		if isConnectError(err) {
			return "cannot connect: " + err.Error()
		}
		return e.explain(err)
	}
	return o
}

// rolloutView renders a running rollout: a progress line on a terminal,
// one line per finished target otherwise (failures always), or JSON lines.
type rolloutView struct {
	e        *env
	start    time.Time
	finished int       // targets finished in this session (the rate's)
	shown    bool      // a progress line is on the terminal
	drawn    time.Time // when it was drawn
}

// redraw is how often at most the progress line is drawn again: a
// rollout of targets at the set finishes hundreds a second.
const redraw = 100 * time.Millisecond

func newRolloutView(e *env) *rolloutView { return &rolloutView{e: e, start: time.Now()} }

func (r *rolloutView) progress(p fleet.Progress) {
	e := r.e
	if f := p.Finished; f != nil {
		r.finished++
		if e.out.json {
			b, _ := json.Marshal(struct {
				Event string `json:"event"`
				fleet.TargetResult
			}{"target", *f})
			fmt.Fprintln(e.stdout, string(b))
		} else if !e.isTerminal || f.Outcome == projector.OutcomeFailed || f.Outcome == projector.OutcomeRefused {
			r.clear()
			fmt.Fprintln(e.stdout, targetLine(*f))
		}
	}
	if e.isTerminal && !e.out.json && (!r.shown || time.Since(r.drawn) >= redraw) {
		c := p.Counts
		rate := float64(r.finished) / max(time.Since(r.start).Seconds(), 0.001)
		eta := "–"
		if rate > 0 && c.Pending > 0 {
			eta = (time.Duration(float64(c.Pending) / rate * float64(time.Second))).Round(time.Second).String()
		}
		fmt.Fprintf(e.stderr, "\r\033[K%d/%d done, %d failed, %d running, %d pending — %.1f/s, ETA %s",
			c.Done(), p.Total, c.Failed+c.Refused, p.Running, c.Pending-p.Running, rate, eta)
		r.shown, r.drawn = true, time.Now()
	}
}

func (r *rolloutView) clear() {
	if r.shown {
		fmt.Fprint(r.e.stderr, "\r\033[K")
		r.shown = false
	}
}

// targetLine is one finished target, for people.
func targetLine(f fleet.TargetResult) string {
	d := f.Duration.Round(time.Millisecond)
	switch f.Outcome {
	case projector.OutcomeApplied:
		return fmt.Sprintf("applied  %s: %d migration(s) in %s (ledger seq %d)", f.Name, len(f.Applied), d, f.Seq)
	case projector.OutcomeAtSet:
		return fmt.Sprintf("at set   %s (ledger seq %d)", f.Name, f.Seq)
	case projector.OutcomeRefused:
		return fmt.Sprintf("REFUSED  %s: %s\n    %s", f.Name, indentRest(f.Error), lookAt(f))
	default:
		return fmt.Sprintf("FAILED   %s: %s\n    %s", f.Name, indentRest(f.Error), lookAt(f))
	}
}

// lookAt says how to address one target with the single-database commands.
func lookAt(f fleet.TargetResult) string {
	s := "look at it with: ledger status --db " + shellWord(f.URL)
	if f.Tenant != "" {
		s += " --tenant " + shellWord(f.Tenant)
	}
	return s
}

func indentRest(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ") }

// finish prints the summary and maps the rollout to an exit code.
func (r *rolloutView) finish(rep fleet.Report, err error, control *controlFlags) int {
	e := r.e
	r.clear()
	if err != nil && rep.ID == "" {
		return e.fail(err)
	}
	c := rep.Counts
	if e.out.json {
		out := struct {
			Event string `json:"event"`
			fleet.Report
			Error string `json:"error,omitempty"`
		}{Event: "summary", Report: rep}
		out.Targets = nil
		if err != nil {
			out.Error = err.Error()
		}
		b, _ := json.Marshal(out)
		fmt.Fprintln(e.stdout, string(b))
	} else {
		fmt.Fprintf(e.stdout, "rollout %s: %d at the set, %d applied, %d failed, %d refused, %d skipped, %d pending (%s)\n",
			rep.ID, c.AtSet, c.Applied, c.Failed, c.Refused, c.Skipped, c.Pending, rep.Elapsed.Round(time.Millisecond))
	}
	resume := fmt.Sprintf("ledger rollout resume %s --control-db URL --dir %s", rep.ID, shellWord(e.dir.path))
	switch {
	case err != nil:
		fmt.Fprintf(e.stderr, "ledger %s: %v\n  the targets' own ledgers hold what ran; go on with `%s`\n", e.name, err, resume)
	case rep.Interrupted:
		fmt.Fprintf(e.stderr, "ledger %s: interrupted; %d target(s) were stopped mid-run (rolled back and recorded on each)\n  to go on: %s\n", e.name, len(rep.InFlight), resume)
	case rep.Halted != "":
		fmt.Fprintf(e.stderr, "ledger %s: halted: %s\n  see `ledger rollout status %s`; fix the targets, then `%s` (--skip NAME leaves one out)\n", e.name, rep.Halted, rep.ID, resume)
	case c.Failed+c.Refused > 0:
		fmt.Fprintf(e.stderr, "ledger %s: not every target is at the set; see `ledger rollout status %s`, then `%s`\n", e.name, rep.ID, resume)
	}
	return rolloutCode(c, err != nil || rep.Interrupted || rep.Halted != "" && c.Failed > 0)
}

// rolloutCode: 0 every target at the set; 4 refusals only; 1 otherwise.
func rolloutCode(c fleet.Counts, failed bool) int {
	switch {
	case failed || c.Failed > 0:
		return exitError
	case c.Refused > 0:
		return exitRefused
	case c.Pending > 0:
		return exitError
	}
	return exitOK
}

// renderDryRun prints what each target would do.
func (e *env) renderDryRun(rep fleet.Report) int {
	if e.out.json {
		return e.printJSON(rep)
	}
	for _, t := range rep.Targets {
		switch t.Outcome {
		case fleet.OutcomePending:
			fmt.Fprintf(e.stdout, "would apply  %s: %d migration(s): %s\n", t.Name, len(t.Planned), strings.Join(t.Planned, ", "))
		case projector.OutcomeAtSet:
			fmt.Fprintf(e.stdout, "at set       %s\n", t.Name)
		case projector.OutcomeRefused:
			fmt.Fprintf(e.stdout, "would refuse %s: %s\n", t.Name, indentRest(t.Error))
		default:
			fmt.Fprintf(e.stdout, "cannot plan  %s: %s\n", t.Name, indentRest(t.Error))
		}
	}
	c := rep.Counts
	fmt.Fprintf(e.stdout, "dry run: %d would apply, %d at the set, %d would refuse, %d cannot be planned; nothing was written\n", c.Pending, c.AtSet, c.Refused, c.Failed)
	return rolloutCode(fleet.Counts{Failed: c.Failed, Refused: c.Refused}, false)
}

// ---- rollout status [ID]

func cmdRolloutStatus() *command {
	return &command{
		name: "status", args: "[ID] [--control-db URL] [--json]", nargs: -1,
		short: "a rollout target by target: states, counts, durations, what halted it (default: the newest)",
		long: `Reads the rollout from the control ledger. Its state is running (a controller
holds its lock now), halted, interrupted, finished, or abandoned (its
controller died: resume it). Exit 0 when every target is at the
set, applied or skipped; 4 when the only ones left were refused; 1 otherwise
(failed, halted, interrupted or still running).`,
		example: `  ledger rollout status --control-db $CONTROL_URL
  ledger rollout status 20261206-153012-3f9a --json`,
		newFlags: func() runnable { return &rolloutStatusCmd{} },
	}
}

type rolloutStatusCmd struct {
	out     outputFlags
	control controlFlags
}

func (c *rolloutStatusCmd) flags(fs *flag.FlagSet, e *env) { e.attach(fs, &c.out, &c.control) }

func (c *rolloutStatusCmd) run(ctx context.Context, e *env, args []string) int {
	if len(args) > 1 {
		return e.usageErr("want at most one rollout ID")
	}
	ctl, pool, err := c.control.open(ctx, e)
	if err != nil {
		return e.fail(err)
	}
	defer pool.Close()
	id := ""
	if len(args) == 1 {
		id = args[0]
	} else if id, err = ctl.Latest(ctx); err != nil {
		return e.fail(err)
	} else if id == "" {
		return e.fail(fmt.Errorf("the control ledger %q holds no rollout", c.control.schema))
	}
	st, err := ctl.Status(ctx, id)
	if err != nil {
		return e.fail(err)
	}
	if e.out.json {
		e.printJSON(st)
	} else {
		renderStatus(e, st)
	}
	return rolloutCode(st.Counts, st.State != fleet.StateFinished)
}

func renderStatus(e *env, st fleet.Status) {
	w := e.stdout
	fmt.Fprintf(w, "rollout %s: %s\n", st.ID, st.State)
	fmt.Fprintf(w, "  release %s (policy %s), %d migration(s), set %.12s\n", st.Release, st.Policy, len(st.Migrations), st.SetDigest)
	fmt.Fprintf(w, "  started %s by %s on %s; last event %s\n", st.Started.UTC().Format(time.RFC3339), st.Who, st.Host, st.Last.UTC().Format(time.RFC3339))
	o := st.Options
	fmt.Fprintf(w, "  canary %d, parallel %d, per-host %d, max-failures %d, soak %s\n", o.Canary, o.Parallel, o.PerHost, o.MaxFailures, time.Duration(o.SoakMS)*time.Millisecond)
	c := st.Counts
	fmt.Fprintf(w, "  %d targets: %d at the set, %d applied, %d failed, %d refused, %d skipped, %d pending\n", len(st.Targets), c.AtSet, c.Applied, c.Failed, c.Refused, c.Skipped, c.Pending)
	if st.Halted != "" {
		fmt.Fprintf(w, "  halted: %s\n", st.Halted)
	}
	if st.Interrupted != "" {
		fmt.Fprintf(w, "  interrupted: %s; stopped mid-run: %s\n", st.Interrupted, orDash(strings.Join(st.InFlight, ", ")))
	}
	for _, r := range st.Resumes {
		if len(r.Skip) > 0 {
			fmt.Fprintf(w, "  resumed by %s, skipping %s\n", r.Who, strings.Join(r.Skip, ", "))
		} else {
			fmt.Fprintf(w, "  resumed by %s\n", r.Who)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nTARGET\tSTATE\tATTEMPTS\tAPPLIED\tSEQ\tDURATION\tERROR")
	for _, t := range st.Targets {
		errText := t.Error
		if i := strings.IndexByte(errText, '\n'); i >= 0 {
			errText = errText[:i]
		}
		if len(t.Unknown) > 0 {
			errText = "unknown: " + strings.Join(t.Unknown, ", ") + "; " + errText
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", t.Name, t.State, t.Attempts, len(t.Applied), t.Seq, t.Duration, errText)
	}
	tw.Flush()
}

// ---- rollout list

func cmdRolloutList() *command {
	return &command{
		name: "list", args: "[--control-db URL] [--json]",
		short:    "every rollout of the control ledger, oldest first",
		newFlags: func() runnable { return &rolloutListCmd{} },
	}
}

type rolloutListCmd struct {
	out     outputFlags
	control controlFlags
}

func (c *rolloutListCmd) flags(fs *flag.FlagSet, e *env) { e.attach(fs, &c.out, &c.control) }

func (c *rolloutListCmd) run(ctx context.Context, e *env, _ []string) int {
	ctl, pool, err := c.control.open(ctx, e)
	if err != nil {
		return e.fail(err)
	}
	defer pool.Close()
	list, err := ctl.List(ctx)
	if err != nil {
		return e.fail(err)
	}
	if e.out.json {
		return e.printJSON(list)
	}
	if len(list) == 0 {
		fmt.Fprintf(e.stdout, "no rollouts in control ledger %q\n", c.control.schema)
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tRELEASE\tTARGETS\tDONE\tFAILED\tREFUSED\tPENDING\tSTARTED\tBY")
	for _, s := range list {
		c := s.Counts
		total := c.Done() + c.Failed + c.Refused + c.Pending
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s@%s\n", s.ID, s.State, s.Release, total, c.Done(), c.Failed, c.Refused, c.Pending, s.Started.UTC().Format(time.RFC3339), s.Who, s.Host)
	}
	tw.Flush()
	return exitOK
}

// ---- rollout resume ID

func cmdRolloutResume() *command {
	return &command{
		name: "resume", args: "ID [--skip NAME]... [--targets FILE] [--control-db URL] [--dir DIR] [--json]", nargs: 1, argsWant: "one rollout ID",
		short: "go on with a rollout: the targets not done run again (failed ones retried), under its recorded options",
		long: `Runs every target of the rollout that is not at the set, applied or skipped
— never run, run without a recorded outcome (a killed controller), failed or
refused — canaries first, under the waves, budget, release and policy the
rollout started with. --dir must hold the same migration set. --skip NAME
leaves a target out, recorded as skipped (repeatable). The recorded target
URLs hold no password: give --targets FILE again (the same targets) when they
need one, or use PGPASSWORD / ~/.pgpass.`,
		example:  `  ledger rollout resume 20261206-153012-3f9a --control-db $CONTROL_URL --dir ./migrations --skip eu-7`,
		newFlags: func() runnable { return &rolloutResumeCmd{} },
	}
}

type rolloutResumeCmd struct {
	dir     dirFlags
	out     outputFlags
	lock    lockFlags
	control controlFlags
	skip    stringList
	targets string
}

func (c *rolloutResumeCmd) flags(fs *flag.FlagSet, e *env) {
	c.lock.withDDL = true
	e.attach(fs, &c.dir, &c.out, &c.lock, &c.control)
	fs.Var(&c.skip, "skip", "leave out the target `NAME` (repeatable), recorded as skipped")
	fs.StringVar(&c.targets, "targets", "", "the targets `FILE` the rollout started with (for connection strings with passwords)")
}

func (c *rolloutResumeCmd) run(ctx context.Context, e *env, args []string) int {
	set, err := e.loadSet()
	if err != nil {
		return e.fail(err)
	}
	ctl, pool, err := c.control.open(ctx, e)
	if err != nil {
		return e.fail(err)
	}
	defer pool.Close()
	var targets []fleet.Target
	if c.targets != "" {
		f, err := os.Open(c.targets)
		if err != nil {
			return e.usageErr("--targets: %v", err)
		}
		targets, err = fleet.ParseTargets(f, c.targets)
		f.Close()
		if err != nil {
			return e.usageErr("%v", err)
		}
	}
	o := rolloutOptions(e, nil, &c.lock, "")
	r := newRolloutView(e)
	o.Progress = r.progress
	rep, err := fleet.Resume(ctx, ctl, args[0], set, targets, c.skip, o)
	var cerr *fleet.ChangedError
	if errors.As(err, &cerr) || errors.Is(err, fleet.ErrNoRollout) {
		return e.fail(err)
	}
	return r.finish(rep, err, &c.control)
}
