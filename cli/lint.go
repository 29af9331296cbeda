package cli

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/schema-ledger/ledger/migrations"
)

// lintProblem is one thing lint found, at a file (and line, if known): a
// migrations.Finding as lint's JSON and text show it.
type lintProblem struct {
	File      string `json:"file"`
	Line      int    `json:"line,omitempty"`
	Severity  string `json:"severity"` // error (fails lint), warning (fails it with --strict), info (--verbose)
	Check     string `json:"check"`    // load, compatible, release, manifest
	Message   string `json:"message"`
	Hint      string `json:"hint,omitempty"`
	Migration string `json:"migration,omitempty"`
	Object    string `json:"object,omitempty"`
}

func (p lintProblem) String() string {
	where := p.File
	if p.Line > 0 {
		where = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	s := fmt.Sprintf("%s: %s: %s", where, p.Severity, p.Message)
	if p.Hint != "" {
		s += "\n    hint: " + p.Hint
	}
	return s
}

// lintReport is lint's JSON.
type lintReport struct {
	Dir        string        `json:"dir"`
	Migrations int           `json:"migrations"`
	Checks     []string      `json:"checks"`
	Strict     bool          `json:"strict"`
	Errors     int           `json:"errors"`
	Warnings   int           `json:"warnings"`
	Problems   []lintProblem `json:"problems"`
	// Release: with --manifest of an older release, the directory's
	// migrations it does not know, and those that would make it refuse.
	Release  string   `json:"release,omitempty"`
	Pending  []string `json:"pending,omitempty"`
	Refusing []string `json:"refusing,omitempty"`
}

func (r *lintReport) add(p lintProblem) {
	r.Problems = append(r.Problems, p)
	switch p.Severity {
	case string(migrations.SeverityError):
		r.Errors++
	case string(migrations.SeverityWarning):
		r.Warnings++
	}
}

// failed: any error; with --strict, any warning too.
func (r *lintReport) failed() bool { return r.Errors > 0 || (r.Strict && r.Warnings > 0) }

func cmdLint() *command {
	return &command{
		name: "lint", args: "[--dir D] [--manifest FILE] [--strict] [--verbose] [--json]",
		short: "check the migration files without a database (exit 0 clean or warnings only, 1 errors)",
		long: `Loads the migration directory exactly as up and check would — file names,
numbering, directives, goose / Flyway / tern files, transaction control,
statements that cannot run in a transaction, psql meta-commands, invalid
UTF-8 — and reports every problem of every file with file:line and a hint.
It needs no database, so CI can gate migration files on any runner.

Errors are what up would refuse; warnings (a comment-only placeholder, a
file that looks like a migration and is ignored) are shown and do not fail
lint unless --strict. While an error exists, every warning is still shown.

It knows releases: a migration declaring -- ledger:compatible C whose SQL
drops or renames a table or column, changes a column's type, or adds NOT
NULL without a default contradicts its declaration (an error naming the
line and the object: releases matching C may read what it removes). With
--app-version (the release that ships the directory), only a C admitting
an older release contradicts (>=1.3.0 on a migration shipped in 1.3.0 does
not: the releases it admits know what it removed). The same statements
without a declaration are safe (older releases refuse to run with them
applied) and are listed with --verbose.

--manifest FILE is a release's manifest (ledger manifest). Its migrations
must be the directory's, unchanged; the directory's migrations it does not
list are pending for that release, and lint names those that would make it
refuse under its policy once applied (warnings): up's release guard,
offline. A manifest of this very directory lists them all: it is then the
proof that the manifest matches the directory.

Exit codes: 0 no errors (warnings allowed), 1 errors (or warnings with
--strict, or the directory is missing), 2 usage.`,
		example: `  ledger lint --dir ./migrations
  ledger lint --strict --manifest release-1.2.0.json
  ledger lint --json | jq -r '.problems[] | "\(.file):\(.line) \(.severity) \(.message)"'`,
		newFlags: func() runnable { return &lintCmd{} },
	}
}

type lintCmd struct {
	dir      dirFlags
	rel      releaseFlags
	out      outputFlags
	manifest string
	strict   bool
	verbose  bool
}

func (c *lintCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.dir, &c.rel, &c.out)
	fs.StringVar(&c.manifest, "manifest", "", "a release's manifest `FILE` (ledger manifest): prove its migrations are the directory's, and name the pending ones that would make it refuse")
	fs.BoolVar(&c.strict, "strict", false, "fail (exit 1) on warnings too")
	fs.BoolVar(&c.verbose, "verbose", false, "also list destructive statements of migrations that declare no compatibility (safe: older releases refuse them)")
}

func (c *lintCmd) run(ctx context.Context, e *env, args []string) int {
	r := lintReport{Dir: c.dir.path, Strict: c.strict, Problems: []lintProblem{}}
	opts := migrations.LintOptions{Verbose: c.verbose, Load: e.loadOpts, AppVersion: c.rel.appVersion()}
	var release *migrations.Manifest
	if c.manifest != "" {
		if m, ok := c.readRelease(e, &r); ok {
			release = &m
			opts.Release = release
		}
	}
	rep, err := migrations.LintDir(c.dir.path, opts)
	if err != nil {
		return e.fail(err) // not a finding: there is nothing to lint
	}
	r.Migrations, r.Checks = rep.Migrations, rep.Checks
	for _, f := range rep.Findings {
		r.add(lintProblem{File: f.File, Line: f.Line, Severity: string(f.Severity), Check: f.Check, Message: f.Message, Hint: f.Hint, Migration: f.Migration, Object: f.Object})
	}
	if release != nil {
		r.Release, r.Pending, r.Refusing = release.AppVersion, rep.Pending, rep.Refusing
		c.lintManifest(e, release, &r)
	}
	slices.SortStableFunc(r.Problems, func(a, b lintProblem) int { return severityRank[a.Severity] - severityRank[b.Severity] })
	code := exitOK
	if r.failed() {
		code = exitError
	}
	if c.out.json {
		if c := e.printJSON(r); c != 0 {
			return c
		}
		return code
	}
	for _, p := range r.Problems {
		fmt.Fprintln(e.stdout, p)
	}
	if release != nil {
		fmt.Fprintf(e.stdout, "release %s (%s): %d pending migration(s)", release.AppVersion, release.Policy, len(r.Pending))
		if len(r.Refusing) > 0 {
			fmt.Fprintf(e.stdout, ", %d would make it refuse: %s", len(r.Refusing), strings.Join(r.Refusing, ", "))
		}
		fmt.Fprintln(e.stdout)
	}
	switch {
	case r.Errors == 0 && r.Warnings == 0:
		fmt.Fprintf(e.stdout, "%s: %d migration(s), no problems\n", c.dir.path, r.Migrations)
	default:
		fmt.Fprintf(e.stdout, "%s: %d migration(s), %d error(s), %d warning(s)", c.dir.path, r.Migrations, r.Errors, r.Warnings)
		if r.Errors == 0 && !c.strict {
			fmt.Fprint(e.stdout, " (warnings do not fail lint; --strict makes them)")
		}
		fmt.Fprintln(e.stdout)
	}
	return code
}

var severityRank = map[string]int{"error": 0, "warning": 1, "info": 2}
