package cli

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
)

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
		newFlags: func() runnable { return &checkCmd{rel: releaseFlags{withPolicy: true}} },
	}
}

type checkCmd struct {
	db       dbFlags
	dir      dirFlags
	rel      releaseFlags
	out      outputFlags
	manifest string
	checkIn  bool
	instance string
}

func (c *checkCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.db, &c.dir, &c.rel, &c.out)
	fs.StringVar(&c.manifest, "manifest", "", "check the release described by manifest `FILE` (ledger manifest) instead of --dir; its app version and policy are the release's")
	fs.BoolVar(&c.checkIn, "check-in", false, "record a sighting of this release (see ledger fleet); a failure to record it is a warning and never changes the verdict")
	fs.StringVar(&c.instance, "instance", "", "with --check-in: this instance's `ID` (default: the host name)")
}

func (c *checkCmd) run(ctx context.Context, e *env, args []string) int {
	if c.instance != "" && !c.checkIn {
		return e.usageErr("--instance goes with --check-in")
	}
	if c.manifest != "" {
		return e.checkRelease(ctx, c)
	}
	if c.checkIn {
		return e.checkInFromDir(ctx, c)
	}
	// Fast path: only the up files' checksums, then one row read, on one
	// connection made while the files are read. Anything but Run loads
	// the whole directory, so a malformed file is reported rather than
	// judged.
	wait := e.dial(ctx)
	// Each file is read and hashed once: the whole set, if the verdict
	// needs it, is parsed from what the fast path read.
	dir, err := migrations.ReadDir(c.dir.path, e.loadOpts...)
	conn, cerr := wait()
	if cerr == nil {
		defer conn.Close(context.WithoutCancel(ctx))
	}
	var known []policy.Known
	if err == nil {
		known = dir.Known()
	} else {
		set, err := e.loadSet() // reports what is wrong with the directory
		if err != nil {
			return e.fail(err)
		}
		known = set.Manifest("").Migrations
	}
	if cerr != nil {
		return e.fail(cerr)
	}
	checker, err := migrations.NewManifestChecker(conn, known, e.options()...)
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

// checkRelease is check --manifest: one file read (its migration list is
// decoded only if the ledger does not hold exactly the release), one
// connection, one query.
func (e *env) checkRelease(ctx context.Context, c *checkCmd) int {
	wait := e.dial(ctx)
	data, rerr := os.ReadFile(c.manifest)
	conn, cerr := wait()
	if cerr == nil {
		defer conn.Close(context.WithoutCancel(ctx))
	}
	if rerr != nil {
		return e.fail(fmt.Errorf("read manifest: %w", rerr))
	}
	if cerr != nil {
		return e.fail(cerr)
	}
	opts := c.db.options()
	if c.checkIn {
		opts = append(opts, migrations.WithCheckIn(migrations.CheckIn{Instance: c.instance, Heartbeat: migrations.NoHeartbeat}))
	}
	checker, err := migrations.NewReleaseChecker(conn, data, opts...)
	if err != nil {
		return e.fail(manifestErr(err, c.manifest))
	}
	h, _ := checker.Release()
	if code := e.agreeWith(c.manifest, &c.rel, h.AppVersion, h.Policy); code != 0 {
		return code
	}
	v, err := checker.Check(ctx)
	if err != nil {
		return e.fail(manifestErr(err, c.manifest))
	}
	e.warnCheckIn(checker)
	return e.printVerdict(v)
}

// checkInFromDir is check --check-in with --dir: the whole directory is
// loaded, since the sighting records the release's manifest (a manifest,
// --manifest, is cheaper).
func (e *env) checkInFromDir(ctx context.Context, c *checkCmd) int {
	p, code := e.prepare(ctx, true)
	if code != 0 {
		return code
	}
	opts := append(e.options(), migrations.WithCheckIn(migrations.CheckIn{Instance: c.instance, Heartbeat: migrations.NoHeartbeat}))
	checker, err := migrations.NewChecker(e.pool, p.set, opts...)
	if err != nil {
		return e.usageErr("%v", err)
	}
	v, err := checker.Check(ctx)
	if err != nil {
		return e.fail(err)
	}
	e.warnCheckIn(checker)
	return e.printVerdict(v)
}

// warnCheckIn reports a check-in that was not recorded; the verdict stands.
func (e *env) warnCheckIn(c *migrations.Checker) {
	if err := c.CheckInError(); err != nil {
		fmt.Fprintf(e.stderr, "ledger %s: warning: %v\n  the verdict below stands; to record check-ins, run ledger up (or init) once with this binary and grant the role what the README's \"Check-ins\" section lists\n", e.name, err)
	}
}

// printVerdict prints check's verdict and returns its exit code.
func (e *env) printVerdict(v policy.Verdict) int {
	code := verdictCode(v)
	if e.out.json {
		if c := e.printJSON(v); c != 0 {
			return c
		}
		return code
	}
	fmt.Fprintln(e.stdout, v.MessageWith(e.advice))
	return code
}
