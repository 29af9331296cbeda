package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

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
		newFlags: func() runnable { return &manifestCmd{rel: releaseFlags{withPolicy: true}} },
	}
}

type manifestCmd struct {
	dir            dirFlags
	rel            releaseFlags
	out            outputFlags
	output, verify string
}

func (c *manifestCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.dir, &c.rel, &c.out)
	fs.StringVar(&c.output, "o", "", "write the manifest to `FILE` (default: standard output)")
	fs.StringVar(&c.verify, "verify", "", "check that manifest `FILE` matches --dir, --app-version and --policy; write nothing")
}

func (c *manifestCmd) run(ctx context.Context, e *env, args []string) int {
	if c.rel.version == nil {
		return e.usageErr("--app-version (or LEDGER_APP_VERSION) is required: a manifest is one release")
	}
	if c.output != "" && c.verify != "" {
		return e.usageErr("-o and --verify do not go together")
	}
	set, err := e.loadSet()
	if err != nil {
		return e.fail(err)
	}
	m, err := migrations.NewManifest(set, c.rel.appVersion(), c.rel.policy)
	if err != nil {
		return e.usageErr("%v", err)
	}
	if c.verify != "" {
		return c.verifyManifest(e, m, set)
	}
	data := m.Marshal()
	if c.output == "" {
		_, err = e.stdout.Write(data)
	} else {
		err = writeFileAtomic(c.output, data)
	}
	if err != nil {
		return e.fail(err)
	}
	if c.output != "" && !c.out.json {
		fmt.Fprintf(e.stdout, "wrote %s: release %s, %s\n", c.output, m, m.Digest)
	}
	return exitOK
}

// verifyManifest compares the manifest in --verify with the one the
// directory makes.
func (c *manifestCmd) verifyManifest(e *env, want migrations.Manifest, set *migrations.Set) int {
	got, err := migrations.ReadManifestFile(c.verify)
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
	if c.out.json {
		if diffs == nil {
			diffs = []string{}
		}
		e.printJSON(map[string]any{"manifest": c.verify, "ok": len(diffs) == 0, "differences": diffs})
	} else if len(diffs) == 0 {
		fmt.Fprintf(e.stdout, "ok: %s is the manifest of %s for release %s\n", c.verify, c.dir.path, got)
	} else {
		fmt.Fprintf(e.stdout, "%s does not match %s (%d difference(s)):\n", c.verify, c.dir.path, len(diffs))
		for _, d := range diffs {
			fmt.Fprintf(e.stdout, "  %s\n", d)
		}
		fmt.Fprintf(e.stdout, "regenerate it: ledger manifest --dir %s --app-version %s --policy %s -o %s\n", c.dir.path, want.AppVersion, want.Policy, c.verify)
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

// readRelease reads the manifest file: a release whose app version and
// policy --app-version and --policy (or their environment variables), when
// given, must agree with. rel then holds the manifest's, parsed.
func (e *env) readRelease(file string, rel *releaseFlags) (migrations.Manifest, int) {
	m, err := migrations.ReadManifestFile(file)
	if err != nil {
		return m, e.fail(manifestErr(err, file))
	}
	if code := e.agreeWith(file, rel, m.AppVersion, m.Policy); code != 0 {
		return m, code
	}
	rel.versionText, rel.policyText = m.AppVersion, m.Policy
	if err := rel.validate(e); err != nil {
		return m, e.fail(manifestErr(fmt.Errorf("%s: %w", file, err), file))
	}
	return m, 0
}

// manifestCommand is the command that writes the manifest file, with what
// this command was given (placeholders for what it was not).
func (e *env) manifestCommand(file string) string {
	version, pol := "VERSION", "strict"
	if e.rel != nil {
		if e.rel.versionText != "" {
			version = e.rel.versionText
		}
		pol = e.rel.policyText
	}
	if file == "" {
		file = "FILE"
	}
	dir := "./migrations"
	if e.dir != nil {
		dir = e.dir.path
	}
	return fmt.Sprintf("ledger manifest --dir %s --app-version %s --policy %s -o %s", shellWord(dir), shellWord(version), shellWord(pol), shellWord(file))
}

// manifestErr names the manifest file in a manifest's error.
func manifestErr(err error, file string) error {
	var me *migrations.ManifestError
	if errors.As(err, &me) {
		me.Source = file
	}
	return err
}

// agreeWith refuses --app-version and --policy (or their environment
// variables) that contradict the manifest's.
func (e *env) agreeWith(file string, rel *releaseFlags, appVersion, pol string) int {
	if rel.versionGiven && rel.versionText != appVersion {
		return e.usageErr("--app-version %s, but %s is the manifest of release %s: drop --app-version (the manifest says it) or use that release's manifest", rel.versionText, file, appVersion)
	}
	if rel.policyGiven {
		p, err := policy.Parse(rel.policyText)
		if want, _ := policy.Parse(pol); err != nil || p != want {
			return e.usageErr("--policy %s, but release %s's manifest says policy %s: drop --policy or regenerate the manifest", rel.policyText, appVersion, pol)
		}
	}
	return 0
}

// readRelease reads lint's --manifest; a manifest it cannot read is a
// problem of the manifest file.
func (c *lintCmd) readRelease(e *env, r *lintReport) (migrations.Manifest, bool) {
	m, err := migrations.ReadManifestFile(c.manifest)
	if err != nil {
		hint := ""
		if slices.ContainsFunc(migrations.Fixes(err), func(f migrations.Fix) bool { return f.Action == migrations.FixWriteManifest }) {
			hint = "write it again: " + e.manifestCommand(c.manifest)
		}
		r.add(lintProblem{File: c.manifest, Severity: "error", Check: "manifest", Message: err.Error(), Hint: hint})
		return m, false
	}
	return m, true
}

// lintManifest checks --manifest against --dir: the release's migrations
// must be the directory's, unchanged (each difference is a problem of the
// manifest file); the directory's migrations it does not list are pending
// for that release, which the release check of migrations.Lint judged.
func (c *lintCmd) lintManifest(e *env, m *migrations.Manifest, r *lintReport) {
	problem := func(msg, hint string) {
		r.add(lintProblem{File: c.manifest, Severity: "error", Check: "manifest", Message: msg, Hint: hint})
	}
	regen := fmt.Sprintf("regenerate it: ledger manifest --dir %s --app-version %s --policy %s -o %s", c.dir.path, m.AppVersion, m.Policy, c.manifest)
	if c.rel.versionGiven && c.rel.versionText != m.AppVersion && len(r.Pending) == 0 {
		problem(fmt.Sprintf("the manifest is release %s, --app-version says %s", m.AppVersion, c.rel.versionText), "")
	}
	set, err := migrations.LoadDir(c.dir.path, e.loadOpts...)
	if err != nil {
		return // the load check reports the directory's problems
	}
	pending := map[string]bool{}
	for _, id := range r.Pending {
		pending[id] = true
	}
	for _, d := range m.Diff(set) {
		if id, ok := strings.CutSuffix(d, " is in the directory but not in the manifest"); ok && pending[id] {
			continue // pending for that release: judged by the release check
		}
		problem(d, regen)
	}
}
