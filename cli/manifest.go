package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
)

// ---- manifest

func cmdManifest() *command {
	return &command{
		name: "manifest", args: "--app-version V [--policy P] [--dir D] [-o FILE] [--verify FILE]",
		short: "write a release's manifest (app version, policy, every migration's id, checksum, flags), or verify one",
		long: `A manifest is a release: its app version, the policy it runs under, and
every migration it ships — id, checksum, transactional flag and compatible
constraint — with a digest over it all. Write it at build time, ship it with
the release (or embed it: migrations.ParseManifest, migrations.CheckManifest),
and check with it instead of the directory:

  ledger check --manifest release.json

reads one file instead of hashing every migration file.

--verify FILE proves that FILE is exactly the manifest of --dir for
--app-version and --policy (for CI): exit 0 if so, 1 naming each difference.`,
		example: `  ledger manifest --dir ./migrations --app-version 1.3.0 --policy compatible -o release.json
  ledger manifest --dir ./migrations --app-version 1.3.0 --policy compatible --verify release.json`,
		flags: func(fs *flag.FlagSet, o *cmdFlags) {
			fs.StringVar(&o.output, "o", "", "write the manifest to `FILE` (default: standard output)")
			fs.StringVar(&o.verifyManifest, "verify", "", "check that manifest `FILE` matches --dir, --app-version and --policy; write nothing")
		},
		run: func(ctx context.Context, e *env, args []string) int {
			if c := noArgs(e, args); c != 0 {
				return c
			}
			if e.g.appVersion == "" {
				return e.usageErr("--app-version (or LEDGER_APP_VERSION) is required: a manifest is one release")
			}
			if e.f.output != "" && e.f.verifyManifest != "" {
				return e.usageErr("-o and --verify do not go together")
			}
			if _, err := e.options(); err != nil {
				return e.usageErr("%v", err)
			}
			p, _ := policy.Parse(e.g.policy)
			set, err := e.loadSet()
			if err != nil {
				return e.fail(err)
			}
			m, err := migrations.NewManifest(set, e.g.appVersion, p)
			if err != nil {
				return e.usageErr("%v", err)
			}
			if e.f.verifyManifest != "" {
				return e.verifyManifest(m, set)
			}
			data := m.Marshal()
			if e.f.output == "" {
				_, err = e.stdout.Write(data)
			} else {
				err = writeFileAtomic(e.f.output, data)
			}
			if err != nil {
				return e.fail(err)
			}
			if e.f.output != "" && !e.g.json {
				fmt.Fprintf(e.stdout, "wrote %s: release %s, %s\n", e.f.output, m, m.Digest)
			}
			return exitOK
		},
	}
}

// verifyManifest compares the manifest in --verify with the one the
// directory makes.
func (e *env) verifyManifest(want migrations.Manifest, set *migrations.Set) int {
	got, err := migrations.ReadManifestFile(e.f.verifyManifest)
	if err != nil {
		return e.fail(err)
	}
	diffs := got.Diff(set)
	if got.AppVersion != want.AppVersion {
		diffs = append(diffs, fmt.Sprintf("app version: the manifest says %s, --app-version %s", got.AppVersion, want.AppVersion))
	}
	if got.Policy != want.Policy {
		diffs = append(diffs, fmt.Sprintf("policy: the manifest says %s, --policy %s", got.Policy, want.Policy))
	}
	if e.g.json {
		if diffs == nil {
			diffs = []string{}
		}
		e.printJSON(map[string]any{"manifest": e.f.verifyManifest, "ok": len(diffs) == 0, "differences": diffs})
	} else if len(diffs) == 0 {
		fmt.Fprintf(e.stdout, "ok: %s is the manifest of %s for release %s\n", e.f.verifyManifest, e.g.dir, got)
	} else {
		fmt.Fprintf(e.stdout, "%s does not match %s (%d difference(s)):\n", e.f.verifyManifest, e.g.dir, len(diffs))
		for _, d := range diffs {
			fmt.Fprintf(e.stdout, "  %s\n", d)
		}
		fmt.Fprintf(e.stdout, "regenerate it: ledger manifest --dir %s --app-version %s --policy %s -o %s\n", e.g.dir, want.AppVersion, want.Policy, e.f.verifyManifest)
	}
	if len(diffs) > 0 {
		return exitError
	}
	return exitOK
}

// writeFileAtomic writes through a temporary file in the same directory,
// so a reader never sees half a manifest.
func writeFileAtomic(file string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), ".manifest-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

// readRelease reads --manifest and the options that check it: the
// manifest's app version and policy, which --app-version and --policy (or
// their environment variables), when given, must agree with.
func (e *env) readRelease() (migrations.Manifest, []migrations.Option, int) {
	m, err := migrations.ReadManifestFile(e.f.manifest)
	if err != nil {
		return m, nil, e.fail(e.manifestErr(err))
	}
	if c := e.agreeWith(m.AppVersion, m.Policy); c != 0 {
		return m, nil, c
	}
	e.g.appVersion, e.g.policy = m.AppVersion, m.Policy
	opts, err := e.options()
	if err != nil {
		return m, nil, e.usageErr("%v", err)
	}
	return m, opts, 0
}

// checkRelease is check --manifest: one file read (its migration list is
// decoded only if the ledger does not hold exactly the release), one
// connection, one query.
func (e *env) checkRelease(ctx context.Context) int {
	if err := ledger.ValidateSchemaName(e.g.schema); err != nil {
		return e.usageErr("--schema: %v", err)
	}
	wait, err := e.dial(ctx)
	if err != nil {
		return e.usageErr("%v", err)
	}
	data, rerr := os.ReadFile(e.f.manifest)
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
	opts := []migrations.Option{migrations.WithSchema(e.g.schema)}
	if e.f.checkIn {
		opts = append(opts, migrations.WithCheckIn(migrations.CheckIn{Instance: e.f.instance}))
	}
	checker, err := migrations.NewReleaseChecker(conn, data, opts...)
	if err != nil {
		return e.fail(e.manifestErr(err))
	}
	h, _ := checker.Release()
	if c := e.agreeWith(h.AppVersion, h.Policy); c != 0 {
		return c
	}
	v, err := checker.Check(ctx)
	if err != nil {
		return e.fail(e.manifestErr(err))
	}
	e.warnCheckIn(checker)
	return e.printVerdict(v)
}

// checkInFromDir is check --check-in with --dir: the whole directory is
// loaded, since the sighting records the release's manifest (a manifest,
// --manifest, is cheaper).
func (e *env) checkInFromDir(ctx context.Context) int {
	p, c := e.prepare(ctx, true)
	if c != 0 {
		return c
	}
	opts := append(p.opts, migrations.WithCheckIn(migrations.CheckIn{Instance: e.f.instance}))
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

// manifestCommand is the command that writes the manifest this command
// reads, with what it was given (placeholders for what it was not).
func (e *env) manifestCommand() string {
	file, version := e.f.manifest, e.g.appVersion
	if file == "" {
		file = e.f.verifyManifest
	}
	if file == "" {
		file = "FILE"
	}
	if version == "" {
		version = "VERSION"
	}
	return fmt.Sprintf("ledger manifest --dir %s --app-version %s --policy %s -o %s", shellWord(e.g.dir), shellWord(version), shellWord(e.g.policy), shellWord(file))
}

// manifestErr names the --manifest file in a manifest's error.
func (e *env) manifestErr(err error) error {
	var me *migrations.ManifestError
	if errors.As(err, &me) {
		me.Source = e.f.manifest
	}
	return err
}

// agreeWith refuses --app-version and --policy (or their environment
// variables) that contradict the manifest's.
func (e *env) agreeWith(appVersion, pol string) int {
	if e.given["app-version"] && e.g.appVersion != appVersion {
		return e.usageErr("--app-version %s, but %s is the manifest of release %s: drop --app-version (the manifest says it) or use that release's manifest", e.g.appVersion, e.f.manifest, appVersion)
	}
	if e.given["policy"] {
		p, err := policy.Parse(e.g.policy)
		if want, _ := policy.Parse(pol); err != nil || p != want {
			return e.usageErr("--policy %s, but release %s's manifest says policy %s: drop --policy or regenerate the manifest", e.g.policy, appVersion, pol)
		}
	}
	return 0
}

// printVerdict prints check's verdict and returns its exit code.
func (e *env) printVerdict(v policy.Verdict) int {
	code := verdictCode(v)
	if e.g.json {
		if c := e.printJSON(v); c != 0 {
			return c
		}
		return code
	}
	fmt.Fprintln(e.stdout, v.MessageWith(cliAdvice))
	return code
}

// lintManifest is lint's check of --manifest against --dir: every
// difference is a problem of the manifest file. Without --manifest it
// checks nothing.
func lintManifest(e *env, r *lintReport) error {
	if e.f.manifest == "" {
		return nil
	}
	problem := func(msg, hint string) {
		r.Problems = append(r.Problems, lintProblem{File: e.f.manifest, Severity: "error", Message: msg, Hint: hint})
	}
	m, err := migrations.ReadManifestFile(e.f.manifest)
	if err != nil {
		hint := ""
		if slices.ContainsFunc(migrations.Fixes(err), func(f migrations.Fix) bool { return f.Action == migrations.FixWriteManifest }) {
			hint = "write it again: " + e.manifestCommand()
		}
		problem(err.Error(), hint)
		return nil
	}
	regen := fmt.Sprintf("regenerate it: ledger manifest --dir %s --app-version %s --policy %s -o %s", e.g.dir, m.AppVersion, m.Policy, e.f.manifest)
	if e.given["app-version"] && e.g.appVersion != m.AppVersion {
		problem(fmt.Sprintf("the manifest is release %s, --app-version says %s", m.AppVersion, e.g.appVersion), "")
	}
	set, err := migrations.LoadDir(e.g.dir)
	if err != nil {
		return nil // the migrations check reports the directory's problems
	}
	for _, d := range m.Diff(set) {
		problem(d, regen)
	}
	return nil
}
