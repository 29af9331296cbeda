package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// prepared is what most commands start with: validated options, the set, a pool.
type prepared struct {
	opts   []migrations.Option
	set    *migrations.Set
	runner *migrations.Runner
	policy policy.Policy
}

// prepare validates flags (exit 2 on bad input), loads the set and opens the
// pool (exit 1); code is non-zero when the command must stop.
func (e *env) prepare(ctx context.Context, needSet bool, extra ...migrations.Option) (p prepared, code int) {
	opts, err := e.options()
	if err != nil {
		return p, e.usageErr("%v", err)
	}
	p.opts = append(opts, extra...)
	p.policy, _ = policy.Parse(e.g.policy)
	p.set = &migrations.Set{}
	if needSet {
		if p.set, err = e.loadSet(); err != nil {
			return p, e.fail(err)
		}
	}
	if _, err := pgxpool.ParseConfig(e.g.db); err != nil { // pool_max_conns and the like too
		return p, e.usageErr("%v", e.dsnError(err))
	}
	pool, err := e.connect(ctx)
	if err != nil {
		return p, e.fail(err)
	}
	if p.runner, err = migrations.NewRunner(pool, p.set, p.opts...); err != nil {
		return p, e.usageErr("%v", err)
	}
	return p, 0
}

func noArgs(e *env, args []string) int {
	if len(args) > 0 {
		return e.usageErr("unexpected argument %q", args[0])
	}
	return 0
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
		example: "  ledger init --db postgres://app@localhost/app\n  ledger init --capture-ddl",
		flags: func(fs *flag.FlagSet, o *cmdFlags) {
			fs.BoolVar(&o.captureDDL, "capture-ddl", false, "record DDL run outside migrations as schema.changed events (needs a superuser)")
		},
		run: func(ctx context.Context, e *env, args []string) int {
			if c := noArgs(e, args); c != 0 {
				return c
			}
			p, c := e.prepare(ctx, false)
			if c != 0 {
				return c
			}
			res, err := p.runner.Store().Setup(ctx)
			if err != nil {
				return e.fail(err)
			}
			if e.f.captureDDL {
				e.captureDDL(ctx, p.runner.Store())
			}
			if e.g.json {
				return e.printJSON(map[string]any{"schema": e.g.schema, "created": res.Created, "upgraded_from": res.UpgradedFrom, "format": res.Format})
			}
			switch {
			case res.Created:
				fmt.Fprintf(e.stdout, "created ledger schema %q (format %d) in %s\n", e.g.schema, ledger.Format, e.where())
			case res.UpgradedFrom > 0:
				fmt.Fprintf(e.stdout, "upgraded ledger schema %q from format %d to %d in %s (recorded as ledger.upgraded)\n", e.g.schema, res.UpgradedFrom, res.Format, e.where())
			default:
				fmt.Fprintf(e.stdout, "ledger schema %q already exists in %s; nothing to do\n", e.g.schema, e.where())
			}
			return exitOK
		},
	}
}

// ---- check

func cmdCheck() *command {
	return &command{
		name: "check", args: "[--app-version V] [--policy P] [--manifest FILE] [--check-in [--instance ID]] [--json]",
		short: "may this release run against this database? (the startup gate)",
		long: `Compares this release's migrations (--dir) with the ledger and prints the
verdict. It takes no lock, writes nothing and never waits behind a running
migration; when the ledger holds exactly this release's migrations it is a
single row read.

Exit codes:
  0  run       the database holds exactly what this release expects
  3  pending   this release has migrations to apply (ledger up)
  4  refused   migrations this release does not know were applied (named,
               with release, time, host and actor), or the policy forbids them
  5  integrity a changed migration file, a migration in doubt, or a ledger
               that does not verify
  1  error     could not decide (database unreachable, bad directory)
  2  usage     bad flags`,
		example: `  # in a container entrypoint, before the server starts:
  ledger check --app-version "$APP_VERSION" || exit 1
  ledger check --manifest release.json || exit 1`,
		flags: func(fs *flag.FlagSet, o *cmdFlags) {
			fs.StringVar(&o.manifest, "manifest", "", "check the release described by manifest `FILE` (ledger manifest) instead of --dir; its app version and policy are the release's")
			fs.BoolVar(&o.checkIn, "check-in", false, "record a sighting of this release (see ledger fleet); a failure to record it is a warning and never changes the verdict")
			fs.StringVar(&o.instance, "instance", "", "with --check-in: this instance's `ID` (default: the host name)")
		},
		run: func(ctx context.Context, e *env, args []string) int {
			if c := noArgs(e, args); c != 0 {
				return c
			}
			if e.f.instance != "" && !e.f.checkIn {
				return e.usageErr("--instance goes with --check-in")
			}
			if e.f.manifest != "" {
				return e.checkRelease(ctx)
			}
			if e.f.checkIn {
				return e.checkInFromDir(ctx)
			}
			// Fast path: only the up files' checksums, then one row read,
			// on one connection made while the files are read. Anything
			// but Run loads the whole directory, so a malformed file is
			// reported rather than judged.
			opts, err := e.options()
			if err != nil {
				return e.usageErr("%v", err)
			}
			wait, err := e.dial(ctx)
			if err != nil {
				return e.usageErr("%v", err)
			}
			// Each file is read and hashed once: the whole set, if the
			// verdict needs it, is parsed from what the fast path read.
			dir, err := migrations.ReadDir(e.g.dir)
			conn, cerr := wait()
			if cerr == nil {
				defer conn.Close(context.WithoutCancel(ctx))
			}
			var known []policy.Known
			if err == nil {
				known = dir.Known()
			} else {
				full, c := e.prepare(ctx, true) // reports what is wrong with the directory
				if c != 0 {
					return c
				}
				known = full.set.Manifest("").Migrations
			}
			if cerr != nil {
				return e.fail(cerr)
			}
			checker, err := migrations.NewManifestChecker(conn, known, opts...)
			if err != nil {
				return e.usageErr("%v", err)
			}
			v, err := checker.Check(ctx)
			if err != nil {
				return e.fail(err)
			}
			if v.Decision != policy.Run && dir != nil {
				set, err := dir.Load()
				if err != nil {
					return e.fail(err)
				}
				e.reportSet(set)
			}
			return e.printVerdict(v)
		},
	}
}

func verdictCode(v policy.Verdict) int {
	switch {
	case v.Decision == policy.Run:
		return exitOK
	case v.Decision == policy.Migrate:
		return exitPending
	case v.Integrity():
		return exitIntegrity
	case v.Has(policy.CodeInvalidInput):
		return exitUsage
	default:
		return exitRefused
	}
}

// ---- up

func cmdUp() *command {
	return &command{
		name: "up", args: "[--to ID] [--dry-run] [--rehearse] [--lock-timeout D] [--ddl-lock-timeout D] [--fleet-window D] [--allow-breaking]",
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

--dry-run prints the plan (and the same analysis) and changes nothing. --rehearse runs the pending
transactional migrations in one transaction and rolls it back: proof that
they apply to this very database, recording nothing.`,
		example: `  ledger up --dir ./migrations --app-version 1.3.0
  ledger up --to 0007_add_orders --dry-run
  ledger up --rehearse --ddl-lock-timeout 2s`,
		flags: func(fs *flag.FlagSet, o *cmdFlags) {
			fs.StringVar(&o.to, "to", "", "apply up to and including this migration `ID`")
			fs.BoolVar(&o.dryRun, "dry-run", false, "print the plan; change nothing")
			fs.BoolVar(&o.rehearse, "rehearse", false, "apply the pending transactional migrations in one transaction and roll it back")
			fs.DurationVar(&o.lockTimeout, "lock-timeout", migrations.DefaultLockTimeout, "wait at most this `duration` for another migrator to finish")
			fs.DurationVar(&o.ddlLockTimeout, "ddl-lock-timeout", 0, "lock_timeout for the migrations' own statements (0: the server's); fails fast instead of queueing behind traffic")

			refuseDriftFlag(fs, o)
			fleetGuardFlags(fs, o)
		},
		run: func(ctx context.Context, e *env, args []string) int {
			if c := noArgs(e, args); c != 0 {
				return c
			}
			if e.f.window <= 0 {
				return e.usageErr("--fleet-window %s: want a positive duration", e.f.window)
			}
			if e.f.dryRun && e.f.rehearse {
				return e.usageErr("--dry-run and --rehearse do not go together: a rehearsal already changes nothing")
			}
			if e.f.lockTimeout <= 0 || e.f.ddlLockTimeout < 0 {
				return e.usageErr("--lock-timeout must be positive and --ddl-lock-timeout zero or positive")
			}
			p, c := e.prepare(ctx, true, append(e.runOptions(), e.guardOptions()...)...)
			if c != 0 {
				return c
			}
			rep, err := p.runner.Up(ctx, migrations.UpOptions{Target: e.f.to, DryRun: e.f.dryRun, Rehearse: e.f.rehearse})
			return e.report("up", rep, err)
		},
	}
}

// runOptions are the options of commands that migrate.
func (e *env) runOptions() []migrations.Option {
	opts := []migrations.Option{migrations.WithLockTimeout(e.f.lockTimeout), migrations.WithDDLLockTimeout(e.f.ddlLockTimeout)}
	if !e.g.json {
		opts = append(opts, migrations.WithProgress(e.progress))
	}
	if e.f.refuseDrift {
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
func (e *env) report(verb string, rep migrations.Report, err error) int {
	if e.g.json {
		out := struct {
			migrations.Report
			Error string `json:"error,omitempty"`
		}{Report: rep}
		if err != nil {
			out.Error = err.Error()
		}
		e.printJSON(out)
	} else {
		e.warnDrift(rep.Schema)
		e.warnBreaking(rep, err)
	}
	if !e.g.json && err == nil {
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
		case e.f.rehearse && len(rep.Planned) == 0:
			fmt.Fprintf(e.stdout, "rehearsal: nothing pending to rehearse; schema version %s\n", orDash(rep.Head.SchemaVersion))
		case e.f.rehearse:
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
	if !e.g.json {
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
everything after it (--to 0 reverts all); --steps N reverts the newest N.

Migrations this release does not know (applied by a newer one) are refused,
named, unless --use-recorded: then the down SQL recorded when they were
applied runs. That is how a rolled-back release takes the database back to
exactly its own schema.`,
		example: `  ledger down --steps 1
  ledger down --to 0002_create_orders --use-recorded --app-version 1.2.0`,
		flags: func(fs *flag.FlagSet, o *cmdFlags) {
			fs.StringVar(&o.to, "to", "", "keep this migration `ID`, revert everything after it (0: revert all)")
			fs.IntVar(&o.steps, "steps", 0, "revert the newest `N` applied migrations")
			fs.BoolVar(&o.useRecorded, "use-recorded", false, "revert migrations unknown to this release with their recorded down SQL")
			fs.BoolVar(&o.dryRun, "dry-run", false, "print the plan; change nothing")
			fs.DurationVar(&o.lockTimeout, "lock-timeout", migrations.DefaultLockTimeout, "wait at most this `duration` for another migrator to finish")
			fs.DurationVar(&o.ddlLockTimeout, "ddl-lock-timeout", 0, "lock_timeout for the down statements (0: the server's)")

			refuseDriftFlag(fs, o)
		},
		run: func(ctx context.Context, e *env, args []string) int {
			if c := noArgs(e, args); c != 0 {
				return c
			}
			switch {
			case e.f.to == "" && e.f.steps == 0:
				return e.usageErr("say how far: --to ID (keep ID, revert what follows; --to 0 reverts all) or --steps N")
			case e.f.to != "" && e.f.steps != 0:
				return e.usageErr("give --to or --steps, not both")
			case e.f.steps < 0:
				return e.usageErr("--steps %d: want a positive number", e.f.steps)
			case e.f.lockTimeout <= 0 || e.f.ddlLockTimeout < 0:
				return e.usageErr("--lock-timeout must be positive and --ddl-lock-timeout zero or positive")
			}
			p, c := e.prepare(ctx, true, e.runOptions()...)
			if c != 0 {
				return c
			}
			rep, err := p.runner.Down(ctx, migrations.DownOptions{Target: e.f.to, Steps: e.f.steps, UseRecorded: e.f.useRecorded, DryRun: e.f.dryRun})
			return e.report("down", rep, err)
		},
	}
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
		flags: func(fs *flag.FlagSet, o *cmdFlags) {
			fs.BoolVar(&o.resume, "resume", false, "go on from the statement after the last one done")
			fs.BoolVar(&o.applied, "applied", false, "the migration took effect")
			fs.BoolVar(&o.failed, "failed", false, "the migration did not take effect")
			fs.StringVar(&o.reason, "reason", "", "why you decided so (`TEXT`, recorded)")
			fs.DurationVar(&o.lockTimeout, "lock-timeout", migrations.DefaultLockTimeout, "wait at most this `duration` for a running migrator")
			fs.DurationVar(&o.ddlLockTimeout, "ddl-lock-timeout", 0, "with --resume: lock_timeout for the statements (0: the server's)")
		},
		run: func(ctx context.Context, e *env, args []string) int {
			if len(args) != 1 {
				return e.usageErr("want exactly one migration ID, got %d arguments", len(args))
			}
			if e.f.resume {
				if e.f.applied || e.f.failed {
					return e.usageErr("give --resume, or one of --applied or --failed, not both")
				}
				return resume(ctx, e, args[0])
			}
			if e.f.applied == e.f.failed {
				return e.usageErr("give exactly one of --applied or --failed (or --resume)")
			}
			if strings.TrimSpace(e.f.reason) == "" {
				return e.usageErr("--reason TEXT is required: it is recorded for the auditors")
			}
			p, c := e.prepare(ctx, false, migrations.WithLockTimeout(e.f.lockTimeout))
			if c != 0 {
				return c
			}
			decision := projector.ResolvedApplied
			if e.f.failed {
				decision = projector.ResolvedFailed
			}
			if err := p.runner.Resolve(ctx, args[0], decision, e.f.reason); err != nil {
				return e.fail(err)
			}
			if e.g.json {
				return e.printJSON(map[string]string{"id": args[0], "decision": decision, "reason": e.f.reason})
			}
			fmt.Fprintf(e.stdout, "recorded: %s resolved as %s\n", args[0], decision)
			return exitOK
		},
	}
}

// resume goes on with a migration in doubt from its next statement.
func resume(ctx context.Context, e *env, id string) int {
	if e.f.lockTimeout <= 0 || e.f.ddlLockTimeout < 0 {
		return e.usageErr("--lock-timeout must be positive and --ddl-lock-timeout zero or positive")
	}
	p, c := e.prepare(ctx, true, migrations.WithLockTimeout(e.f.lockTimeout), migrations.WithDDLLockTimeout(e.f.ddlLockTimeout))
	if c != 0 {
		return c
	}
	rep, err := p.runner.Resume(ctx, id)
	if err != nil {
		return e.fail(err)
	}
	if e.g.json {
		return e.printJSON(map[string]any{"id": id, "decision": "resumed", "done": rep.Done, "head": rep.Head})
	}
	fmt.Fprintf(e.stdout, "resumed: %s finished (ledger seq %d)\n", id, rep.Head.Seq)
	return exitOK
}

// ---- version

func cmdVersion() *command {
	return &command{
		name: "version", args: "", short: "print the ledger version and the ledger format it understands",
		run: func(ctx context.Context, e *env, args []string) int {
			v := "(devel)"
			if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
				v = bi.Main.Version
			}
			if e.g.json {
				return e.printJSON(map[string]any{"version": v, "ledger_format": ledger.Format, "go": runtime.Version(), "nats": natsBuilt})
			}
			build := ""
			if !natsBuilt {
				build = ", without NATS: built with -tags ledger_nonats"
			}
			fmt.Fprintf(e.stdout, "ledger %s (ledger format %d, %s%s)\n", v, ledger.Format, runtime.Version(), build)
			return exitOK
		},
	}
}
