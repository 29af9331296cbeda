package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/projector"
)

// prepared is what most commands start with: the set and a runner.
type prepared struct {
	set    *migrations.Set
	runner *migrations.Runner
}

// prepare loads the set (needSet: the command has --dir and judges or runs
// it) and opens the pool and a runner with the options of the flag groups
// the command attached, then extra; code is non-zero when the command must
// stop.
func (e *env) prepare(ctx context.Context, needSet bool, extra ...migrations.Option) (p prepared, code int) {
	p.set = &migrations.Set{}
	pool, err := e.connect(ctx)
	if err != nil {
		return p, e.fail(err)
	}
	if needSet {
		// Connect while the files are read and checked (a big schema file
		// takes milliseconds to lex): the pool's first connection is ready
		// by the time the first query wants it.
		warm := make(chan error, 1)
		go func() {
			c, err := pool.Acquire(ctx)
			if err == nil {
				c.Release()
			}
			warm <- err
		}()
		if p.set, err = e.loadSet(); err != nil {
			return p, e.fail(err)
		}
		if err := <-warm; err != nil {
			return p, e.fail(err)
		}
	}
	if p.runner, err = migrations.NewRunner(pool, p.set, append(e.options(), extra...)...); err != nil {
		return p, e.usageErr("%v", err)
	}
	return p, 0
}

// options are the library options of the database and release groups the
// command attached.
func (e *env) options() []migrations.Option {
	opts := e.db.options()
	if e.rel != nil {
		opts = append(opts, e.rel.options()...)
	}
	return opts
}

func (e *env) printJSON(v any) int {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return e.fail(err)
	}
	return exitOK
}

// ---- init

func cmdInit() *command {
	return &command{
		name: "init", args: "[--schema NAME] [--capture-ddl]",
		short: "create the ledger schema (idempotent; up does it too)",
		long: `Creates the ledger's schema, tables and triggers and records ledger.initialized.
Running it again changes nothing. A ledger in a newer format than this binary
understands is refused and left untouched. A ledger in an older format is
verified and upgraded in place, in one transaction recorded as
ledger.upgraded (older releases then refuse it); one that does not verify
is refused and left untouched (exit 5).

--capture-ddl also installs an event trigger that records DDL run outside a
migration (a hand-run ALTER TABLE) as a schema.changed event: command,
objects, database user, application_name and time. It needs a superuser;
without one init says so and carries on without it.`,
		example:  "  ledger init --db postgres://app@localhost/app\n  ledger init --capture-ddl",
		newFlags: func() runnable { return &initCmd{} },
	}
}

type initCmd struct {
	db         dbFlags
	rel        releaseFlags
	out        outputFlags
	captureDDL bool
}

func (c *initCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.db, &c.rel, &c.out)
	fs.BoolVar(&c.captureDDL, "capture-ddl", false, "record DDL run outside migrations as schema.changed events (needs a superuser)")
}

func (c *initCmd) run(ctx context.Context, e *env, args []string) int {
	p, code := e.prepare(ctx, false)
	if code != 0 {
		return code
	}
	res, err := p.runner.Store().Setup(ctx)
	if err != nil {
		return e.fail(err)
	}
	if c.captureDDL {
		e.captureDDL(ctx, p.runner.Store())
	}
	if c.out.json {
		return e.printJSON(map[string]any{"schema": c.db.schema, "created": res.Created, "upgraded_from": res.UpgradedFrom, "format": res.Format})
	}
	switch {
	case res.Created:
		fmt.Fprintf(e.stdout, "created ledger schema %q (format %d) in %s\n", c.db.schema, ledger.Format, e.where())
	case res.UpgradedFrom > 0:
		fmt.Fprintf(e.stdout, "upgraded ledger schema %q from format %d to %d in %s (recorded as ledger.upgraded)\n", c.db.schema, res.UpgradedFrom, res.Format, e.where())
	default:
		fmt.Fprintf(e.stdout, "ledger schema %q already exists in %s; nothing to do\n", c.db.schema, e.where())
	}
	return exitOK
}

// ---- up

func cmdUp() *command {
	return &command{
		name: "up", args: "[--to ID|VERSION | --steps N] [--dry-run] [--rehearse] [--lock-timeout D] [--ddl-lock-timeout D] [--fleet-window D] [--allow-breaking]",
		short: "apply pending migrations, each in one transaction with its ledger event",
		long: `Creates the ledger if needed, takes the migration lock (any number of
migrators may start at once: each migration is applied exactly once), and
applies the pending migrations in order. A failing migration is rolled back
and recorded as migration.failed; the next up retries it.

Before it applies anything, up judges every release that checked in within
--fleet-window (ledger check --check-in, migrations.WithCheckIn) under the
policy it checked in with, against the state after the plan: if one would
refuse, up refuses (exit 4), naming the release, its instances and the
migrations that break it. --allow-breaking goes ahead and records the
releases broken in each such migration's event. With no check-ins it says
nothing.

--to takes an id or a version number as goose and migrate take it (--to 4
is 0004_…); --steps N applies only the next N (goose up-by-one, migrate up
N). --dry-run prints the plan (and the same analysis) with the SQL each
migration would run, and changes nothing. --rehearse runs the pending
transactional migrations in one transaction and rolls it back: proof that
they apply to this very database, recording nothing.`,
		example: `  ledger up --dir ./migrations --app-version 1.3.0
  ledger up --to 0007_add_orders --dry-run
  ledger up --steps 1
  ledger up --rehearse --ddl-lock-timeout 2s`,
		newFlags: func() runnable {
			return &upCmd{rel: releaseFlags{withPolicy: true}, migrate: runFlags{lock: lockFlags{withDDL: true}}}
		},
	}
}

type upCmd struct {
	db               dbFlags
	dir              dirFlags
	rel              releaseFlags
	out              outputFlags
	migrate          runFlags
	guard            guardFlags
	to               string
	steps            int
	dryRun, rehearse bool
}

func (c *upCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.db, &c.dir, &c.rel, &c.out, &c.migrate, &c.guard)
	fs.StringVar(&c.to, "to", "", "apply up to and including this migration `ID` or version number (4 is 0004_…)")
	fs.IntVar(&c.steps, "steps", 0, "apply only the next `N` pending migrations (goose up-by-one is --steps 1)")
	fs.BoolVar(&c.dryRun, "dry-run", false, "print the plan and the SQL that would run; change nothing")
	fs.BoolVar(&c.rehearse, "rehearse", false, "apply the pending transactional migrations in one transaction and roll it back")
}

func (c *upCmd) run(ctx context.Context, e *env, args []string) int {
	if c.dryRun && c.rehearse {
		return e.usageErr("--dry-run and --rehearse do not go together: a rehearsal already changes nothing")
	}
	switch {
	case c.steps < 0 || (e.given["steps"] && c.steps == 0):
		return e.usageErr("--steps %d: want a positive number", c.steps)
	case c.steps > 0 && c.to != "":
		return e.usageErr("give --to or --steps, not both")
	}
	p, code := e.prepare(ctx, true, append(c.migrate.options(e), c.guard.options()...)...)
	if code != 0 {
		return code
	}
	rep, err := p.runner.Up(ctx, migrations.UpOptions{Target: c.to, Steps: c.steps, DryRun: c.dryRun, Rehearse: c.rehearse})
	return e.report("up", c.rehearse, rep, err)
}

// runFlags are the flags of the commands that run migrations' statements:
// the lock group and --refuse-drift.
type runFlags struct {
	lock        lockFlags
	refuseDrift bool
}

func (g *runFlags) register(fs *flag.FlagSet, e *env) {
	g.lock.register(fs, e)
	fs.BoolVar(&g.refuseDrift, "refuse-drift", false, "exit 5 before migrating when the schema changed outside the migrations (the drift is recorded either way)")
}

func (g *runFlags) validate(e *env) error { return g.lock.validate(e) }

// options are the library options of a run: its locks, its drift rule,
// and progress on stdout (none with --json).
func (g *runFlags) options(e *env) []migrations.Option {
	opts := g.lock.options()
	if !e.out.json {
		opts = append(opts, migrations.WithProgress(e.progress))
	}
	if g.refuseDrift {
		opts = append(opts, migrations.WithRefuseDrift())
	}
	return opts
}

// progress prints each migration as it finishes; on a terminal also which
// one runs now, how many are left and the time so far.
func (e *env) progress(p migrations.Progress) {
	verb, doing := "applied", "applying"
	if p.Direction == migrations.DirDown {
		verb, doing = "reverted", "reverting"
	}
	if !p.Done {
		if e.isTerminal {
			fmt.Fprintf(e.stderr, "\r\033[K[%d/%d] %s %s … (%d left, %s elapsed)", p.Index, p.Total, doing, p.ID, p.Total-p.Index+1, p.Elapsed.Round(time.Millisecond))
		}
		return
	}
	if e.isTerminal {
		fmt.Fprint(e.stderr, "\r\033[K")
	}
	fmt.Fprintf(e.stdout, "%s %s\n", verb, p.ID)
}

// report prints a run's outcome and maps its error to an exit code.
func (e *env) report(verb string, rehearse bool, rep migrations.Report, err error) int {
	if e.out.json {
		out := struct {
			migrations.Report
			// Steps: a dry run's steps with the SQL each would run.
			Steps []dryStep `json:"steps,omitempty"`
			Error string    `json:"error,omitempty"`
		}{Report: rep}
		if rep.DryRun {
			for _, s := range rep.Plan.Steps {
				out.Steps = append(out.Steps, dryStepOf(s))
			}
		}
		if err != nil {
			out.Error = err.Error()
		}
		e.printJSON(out)
	} else {
		e.warnDrift(rep.Schema)
		e.warnBreaking(rep, err)
	}
	if !e.out.json && err == nil {
		switch {
		case rep.DryRun && len(rep.Planned) == 0:
			fmt.Fprintf(e.stdout, "dry run: nothing to %s\n", verb)
		case rep.DryRun:
			fmt.Fprintf(e.stdout, "dry run: %s would run %d migration(s), in this order:\n", verb, len(rep.Planned))
			for _, s := range rep.Plan.Steps {
				note := ""
				if s.UsesRecorded() {
					note = "  (recorded down SQL)"
				} else if s.Migration != nil && !s.Migration.Transactional() && s.Direction == migrations.DirUp {
					note = "  (no-transaction)"
				}
				fmt.Fprintf(e.stdout, "  %s%s\n", s.ID, note)
			}
			for _, s := range rep.Plan.Steps {
				printStepSQL(e.stdout, s)
			}
		case rehearse && len(rep.Planned) == 0:
			fmt.Fprintf(e.stdout, "rehearsal: nothing pending to rehearse; schema version %s\n", orDash(rep.Head.SchemaVersion))
		case rehearse:
			fmt.Fprintf(e.stdout, "rehearsal: %d migration(s) applied in one transaction and rolled back; nothing was changed or recorded\n", len(rep.Rehearsed))
			for _, id := range rep.Rehearsed {
				fmt.Fprintf(e.stdout, "  ok  %s\n", id)
			}
			for _, id := range rep.NotRehearsed {
				fmt.Fprintf(e.stdout, "  --  %s (not rehearsed: a no-transaction migration, or after one)\n", id)
			}
		case len(rep.Done) == 0:
			fmt.Fprintf(e.stdout, "nothing to %s: schema version %s\n", verb, orDash(rep.Head.SchemaVersion))
		default:
			fmt.Fprintf(e.stdout, "%s: %d migration(s) in %s; schema version %s (ledger seq %d)\n", verb, len(rep.Done), rep.Elapsed.Round(time.Millisecond), orDash(rep.Head.SchemaVersion), rep.Head.Seq)
		}
	}
	if err == nil {
		return exitOK
	}
	if !e.out.json {
		fmt.Fprintf(e.stderr, "ledger %s: %s\n", e.name, e.explain(err))
	}
	if c, ok := e.breakingCode(err); ok {
		return c
	}
	var perr *migrations.PlanError
	if errors.As(err, &perr) {
		switch {
		case perr.Verdict != nil:
			return verdictCode(*perr.Verdict)
		case perr.BadTarget:
			return exitUsage
		case perr.Integrity:
			return exitIntegrity
		default: // a refused down, as a refused up
			return exitRefused
		}
	}
	if errors.Is(err, migrations.ErrForeignHistory) {
		return exitRefused
	}
	if derr := (*migrations.DriftError)(nil); errors.As(err, &derr) || isIntegrityError(err) {
		return exitIntegrity
	}
	return exitError
}

// dryStep is a planned step in a dry run's JSON.
type dryStep struct {
	ID            string   `json:"id"`
	Direction     string   `json:"direction"`
	File          string   `json:"file,omitempty"`
	Transactional bool     `json:"transactional"`
	Go            bool     `json:"go,omitempty"` // a Go migration: no SQL
	Statements    []string `json:"statements"`
}

func dryStepOf(s migrations.Step) dryStep {
	d := dryStep{ID: s.ID, Direction: s.Direction.String(), Statements: []string{}}
	if sc := s.Script; sc != nil {
		d.File, d.Transactional, d.Go = sc.File, !sc.NoTransaction, sc.Go()
		for _, st := range sc.Statements {
			d.Statements = append(d.Statements, st.Text)
		}
	}
	return d
}

// printStepSQL prints the SQL a planned step would run, as it would run it.
func printStepSQL(w io.Writer, s migrations.Step) {
	sc := s.Script
	if sc == nil {
		fmt.Fprintf(w, "\n-- %s: its recorded down SQL, read when it runs\n", s.ID)
		return
	}
	how := "in one transaction with its ledger event"
	if sc.NoTransaction {
		how = "statement by statement, outside a transaction"
	}
	fmt.Fprintf(w, "\n-- %s %s (%s), %s\n", s.Direction, s.ID, sc.File, how)
	switch {
	case sc.Go():
		fmt.Fprintln(w, "-- a Go function, not SQL: it runs in the program that registered it")
	case sc.Empty():
		fmt.Fprintln(w, "-- no statement: recorded without changing anything")
	}
	for _, st := range sc.Statements {
		fmt.Fprintf(w, "%s;\n", st.Text)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ---- down

func cmdDown() *command {
	return &command{
		name: "down", args: "(--to ID | --steps N) [--use-recorded] [--dry-run] [--lock-timeout D]",
		short: "revert applied migrations, newest first",
		long: `Reverts applied migrations newest first, each with its down SQL and its
migration.reverted event in one transaction. --to ID keeps ID and reverts
everything after it (--to 0 reverts all; a version number names its
migration, as goose and migrate take it: --to 3); --steps N reverts the
newest N. --dry-run prints the plan and the SQL each step would run.

Migrations this release does not know (applied by a newer one) are refused,
named, unless --use-recorded: then the down SQL recorded when they were
applied runs. That is how a rolled-back release takes the database back to
exactly its own schema.`,
		example: `  ledger down --steps 1
  ledger down --to 0002_create_orders --use-recorded --app-version 1.2.0`,
		newFlags: func() runnable {
			return &downCmd{rel: releaseFlags{withPolicy: true}, migrate: runFlags{lock: lockFlags{withDDL: true}}}
		},
	}
}

type downCmd struct {
	db                  dbFlags
	dir                 dirFlags
	rel                 releaseFlags
	out                 outputFlags
	migrate             runFlags
	to                  string
	steps               int
	useRecorded, dryRun bool
}

func (c *downCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.db, &c.dir, &c.rel, &c.out, &c.migrate)
	fs.StringVar(&c.to, "to", "", "keep this migration `ID` (or version number: 3 is 0003_…), revert everything after it (0: revert all)")
	fs.IntVar(&c.steps, "steps", 0, "revert the newest `N` applied migrations")
	fs.BoolVar(&c.useRecorded, "use-recorded", false, "revert migrations unknown to this release with their recorded down SQL")
	fs.BoolVar(&c.dryRun, "dry-run", false, "print the plan and the SQL that would run; change nothing")
}

func (c *downCmd) run(ctx context.Context, e *env, args []string) int {
	switch {
	case c.to == "" && c.steps == 0:
		return e.usageErr("say how far: --to ID (keep ID, revert what follows; --to 0 reverts all) or --steps N")
	case c.to != "" && c.steps != 0:
		return e.usageErr("give --to or --steps, not both")
	case c.steps < 0:
		return e.usageErr("--steps %d: want a positive number", c.steps)
	}
	p, code := e.prepare(ctx, true, c.migrate.options(e)...)
	if code != 0 {
		return code
	}
	rep, err := p.runner.Down(ctx, migrations.DownOptions{Target: c.to, Steps: c.steps, UseRecorded: c.useRecorded, DryRun: c.dryRun})
	return e.report("down", false, rep, err)
}

// ---- resolve

func cmdResolve() *command {
	return &command{
		name: "resolve", args: "ID (--resume | (--applied | --failed) --reason TEXT)",
		short: "settle a migration in doubt: go on with it, or record an operator's decision",
		long: `A no-transaction migration (or revert) that started and never finished
is in doubt: the database may hold part of it, and every up and check
refuses until an operator looks and decides. Each statement that completed
is recorded, and status shows how many did.

--resume: go on from the statement after the last one recorded as done, in
the direction it was going (first remove what a failed statement left
behind, such as an invalid index: that statement runs again).
--applied: it took effect (an up joins the applied set; a revert removes
it). --failed: it did not (the next up runs it again from its first
statement; a revert leaves it applied). The reason is recorded for the
auditors.`,
		example: `  ledger resolve 0007_orders_idx --resume
  ledger resolve 0007_orders_idx --applied --reason "index exists, indisvalid = true"`,
		nargs: 1, argsWant: "one migration ID",
		newFlags: func() runnable { return &resolveCmd{lock: lockFlags{withDDL: true}} },
	}
}

type resolveCmd struct {
	db                      dbFlags
	dir                     dirFlags
	rel                     releaseFlags
	out                     outputFlags
	lock                    lockFlags
	resume, applied, failed bool
	reason                  string
}

func (c *resolveCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.db, &c.dir, &c.rel, &c.out, &c.lock)
	fs.BoolVar(&c.resume, "resume", false, "go on from the statement after the last one done")
	fs.BoolVar(&c.applied, "applied", false, "the migration took effect")
	fs.BoolVar(&c.failed, "failed", false, "the migration did not take effect")
	fs.StringVar(&c.reason, "reason", "", "why you decided so (`TEXT`, recorded)")
}

func (c *resolveCmd) run(ctx context.Context, e *env, args []string) int {
	id := args[0]
	if c.resume {
		if c.applied || c.failed {
			return e.usageErr("give --resume, or one of --applied or --failed, not both")
		}
		return c.resumeIt(ctx, e, id)
	}
	if c.applied == c.failed {
		return e.usageErr("give exactly one of --applied or --failed (or --resume)")
	}
	if strings.TrimSpace(c.reason) == "" {
		return e.usageErr("--reason TEXT is required: it is recorded for the auditors")
	}
	if e.given["ddl-lock-timeout"] {
		return e.usageErr("--ddl-lock-timeout goes with --resume: --applied and --failed run no statement")
	}
	p, code := e.prepare(ctx, false, c.lock.options()...)
	if code != 0 {
		return code
	}
	decision := projector.ResolvedApplied
	if c.failed {
		decision = projector.ResolvedFailed
	}
	if err := p.runner.Resolve(ctx, id, decision, c.reason); err != nil {
		return e.fail(err)
	}
	if c.out.json {
		return e.printJSON(map[string]string{"id": id, "decision": decision, "reason": c.reason})
	}
	fmt.Fprintf(e.stdout, "recorded: %s resolved as %s\n", id, decision)
	return exitOK
}

// resumeIt goes on with a migration in doubt from its next statement.
func (c *resolveCmd) resumeIt(ctx context.Context, e *env, id string) int {
	if c.reason != "" {
		return e.usageErr("--reason goes with --applied or --failed: --resume records no decision")
	}
	p, code := e.prepare(ctx, true, c.lock.options()...)
	if code != 0 {
		return code
	}
	rep, err := p.runner.Resume(ctx, id)
	if err != nil {
		return e.fail(err)
	}
	if c.out.json {
		return e.printJSON(map[string]any{"id": id, "decision": "resumed", "done": rep.Done, "head": rep.Head})
	}
	fmt.Fprintf(e.stdout, "resumed: %s finished (ledger seq %d)\n", id, rep.Head.Seq)
	return exitOK
}

// ---- version

func cmdVersion() *command {
	return &command{
		name: "version", args: "[--json]", short: "print the ledger version and the ledger format it understands",
		newFlags: func() runnable { return &versionCmd{} },
	}
}

type versionCmd struct{ out outputFlags }

func (c *versionCmd) flags(fs *flag.FlagSet, e *env) { e.attach(fs, &c.out) }

func (c *versionCmd) run(ctx context.Context, e *env, args []string) int {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v = bi.Main.Version
	}
	if c.out.json {
		return e.printJSON(map[string]any{"version": v, "ledger_format": ledger.Format, "go": runtime.Version(), "nats": natsBuilt})
	}
	build := ""
	if !natsBuilt {
		build = ", without NATS: built with -tags ledger_nonats"
	}
	fmt.Fprintf(e.stdout, "ledger %s (ledger format %d, %s%s)\n", v, ledger.Format, runtime.Version(), build)
	return exitOK
}
