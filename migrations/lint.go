package migrations

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// Severity says how much a lint finding matters.
type Severity string

const (
	// SeverityError: up would refuse the directory, or a migration
	// contradicts what it declares. Lint fails.
	SeverityError Severity = "error"
	// SeverityWarning: worth a look, but up applies it (a comment-only
	// file, a file that is ignored, a release a migration makes refuse).
	// Lint fails on warnings only when asked to (strict).
	SeverityWarning Severity = "warning"
	// SeverityInfo: shown only when asked (verbose): a destructive statement
	// in a migration that declares no compatibility, which is safe, since
	// the releases before it refuse to run with it applied.
	SeverityInfo Severity = "info"
)

// Finding is one thing lint found, at a file (and a line, when known).
type Finding struct {
	File     string   `json:"file"`
	Line     int      `json:"line,omitempty"`
	Severity Severity `json:"severity"`
	Check    string   `json:"check"` // load, compatible, release
	Message  string   `json:"message"`
	Hint     string   `json:"hint,omitempty"`
	// Migration and Object say what a release-aware finding is about.
	Migration string `json:"migration,omitempty"`
	Object    string `json:"object,omitempty"`
	// Fix is the structured fix, when there is one (a caller words it).
	Fix *Fix `json:"fix,omitempty"`
}

// LintOptions say what Lint checks beyond loading the set.
type LintOptions struct {
	// Release, if set, is a release still running (its manifest): Lint
	// reports which migrations of the set it does not know would make it
	// refuse once applied — the release guard of up, offline.
	Release *Manifest
	// Verbose also reports destructive statements in migrations without a
	// -- ledger:compatible declaration (SeverityInfo).
	Verbose bool
	// AppVersion is the release that ships the set, if known. A declared
	// constraint contradicts a destructive statement only when it admits a
	// release older than this one (a release that ships the migration knows
	// what it removed): "-- ledger:compatible >=1.3.0" on a migration
	// shipped in 1.3.0 admits none. Unknown, every declaration does.
	AppVersion string
	// Load are the options the set is loaded with (WithGo, WithEnv).
	Load []LoadOption
}

// LintReport is what Lint found.
type LintReport struct {
	Dir        string    `json:"dir"`
	Migrations int       `json:"migrations"`
	Checks     []string  `json:"checks"`
	Findings   []Finding `json:"findings"` // errors first, then warnings, then info; by file and line within each
	// Pending are the set's migrations the release (LintOptions.Release)
	// does not know, and Refusing those among them it would refuse.
	Pending  []string `json:"pending,omitempty"`
	Refusing []string `json:"refusing,omitempty"`
}

// Count is the number of findings of a severity.
func (r LintReport) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// Failed reports whether the findings fail the lint: any error, or, when
// strict, any warning. Info never fails it.
func (r LintReport) Failed(strict bool) bool {
	return r.Count(SeverityError) > 0 || (strict && r.Count(SeverityWarning) > 0)
}

// LintDir lints the migration directory dir (see Lint).
func LintDir(dir string, o LintOptions) (LintReport, error) {
	if err := statDir(dir); err != nil {
		return LintReport{}, err
	}
	return lint(os.DirFS(dir), dir, o)
}

// Lint loads a set as up would, without a database, and reports every
// problem of every file — and every warning, even while errors exist —
// then checks each migration against what it declares:
//
//   - compatible: a migration declaring "-- ledger:compatible C" whose SQL
//     drops or renames a table or column, changes a column's type, or adds
//     NOT NULL without a default contradicts its declaration: a release
//     satisfying C may read or write what it removes (an error, at the
//     statement's line, naming the object). Without a declaration such a
//     statement is safe — the releases before it refuse to run with it
//     applied — and is reported only when Verbose (info).
//   - release (with Release): which of the set's migrations the release
//     does not know would make it refuse, under its policy (a warning each).
//
// An error is returned only when the directory cannot be read at all.
func Lint(fsys fs.FS, o LintOptions) (LintReport, error) { return lint(fsys, "", o) }

func lint(fsys fs.FS, dir string, o LintOptions) (LintReport, error) {
	rep := LintReport{Dir: dir, Checks: []string{"load", "compatible"}, Findings: []Finding{}}
	set, errs, err := loadSet(fsys, dir, newLoadConfig(o.Load))
	if err != nil {
		return rep, err
	}
	rep.Migrations = len(set.Migrations)
	for _, e := range errs {
		rep.Findings = append(rep.Findings, Finding{File: e.File, Line: e.Line, Severity: SeverityError, Check: "load", Message: e.Msg, Hint: e.Hint})
	}
	for _, w := range set.warnings {
		rep.Findings = append(rep.Findings, Finding{File: w.file, Severity: SeverityWarning, Check: "load", Message: w.msg})
	}
	var ships *semver.Version
	if o.AppVersion != "" {
		v, err := policy.ParseAppVersion(o.AppVersion)
		if err != nil {
			return rep, err
		}
		ships = v
	}
	for _, m := range set.Migrations {
		rep.Findings = append(rep.Findings, lintCompatible(m, o.Verbose, ships)...)
	}
	if o.Release != nil {
		rep.Checks = append(rep.Checks, "release")
		rep.Findings = append(rep.Findings, lintRelease(set, *o.Release, &rep)...)
	}
	rank := map[Severity]int{SeverityError: 0, SeverityWarning: 1, SeverityInfo: 2}
	slices.SortStableFunc(rep.Findings, func(a, b Finding) int {
		if c := rank[a.Severity] - rank[b.Severity]; c != 0 {
			return c
		}
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		return a.Line - b.Line
	})
	return rep, nil
}

// lintCompatible checks a migration's SQL against its declaration; ships
// is the release that ships it (nil: unknown).
func lintCompatible(m Migration, verbose bool, ships *semver.Version) []Finding {
	if m.Compatible == "" && !verbose {
		return nil
	}
	older := ""
	if m.Compatible != "" {
		older = admitsOlder(m.Compatible, ships)
	}
	var out []Finding
	for _, d := range DestructiveStatements(&m.Up) {
		f := Finding{File: d.File, Line: d.Line, Check: "compatible", Migration: m.ID, Object: d.Object}
		switch {
		case older != "":
			f.Severity = SeverityError
			f.Message = d.Sentence(m.Compatible) + ": it contradicts its -- ledger:compatible " + m.Compatible
			if ships != nil {
				f.Message += fmt.Sprintf(" (it admits %s, older than %s, which ships it)", older, ships)
			}
			f.Hint = "split it (expand/contract): keep this migration compatible, and " + strings.SplitN(d.What, " ", 2)[0] +
				" in a later migration without the declaration, once no release that uses " + d.Object + " runs; or narrow the constraint to the releases that no longer use it"
		case !verbose:
			continue
		case m.Compatible != "" && ships != nil:
			f.Severity = SeverityInfo
			f.Message = fmt.Sprintf("%s: safe, since its -- ledger:compatible %s admits only releases from %s on, which ship it", d.What, m.Compatible, ships)
		case m.Compatible != "":
			continue
		default:
			f.Severity = SeverityInfo
			f.Message = d.What + ": safe, since it declares no compatibility, so the releases before it refuse to run with it applied"
		}
		out = append(out, f)
	}
	return out
}

var versionLiteral = lazyRegexp(`[0-9]+(?:\.[0-9]+){0,2}`)

// admitsOlder names a release older than ships that constraint admits ("" if
// none is found). With ships unknown, any release it admits is taken as
// older: a declaration is made for the releases before the one shipping it.
// The releases tried are the versions the constraint names, the first ones
// there are, and those just below ships.
func admitsOlder(constraint string, ships *semver.Version) string {
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return ""
	}
	var candidates []*semver.Version
	for _, lit := range versionLiteral().FindAllString(constraint, -1) {
		if v, err := semver.NewVersion(lit); err == nil {
			candidates = append(candidates, v)
		}
	}
	for _, s := range []string{"0.0.0", "0.0.1", "0.1.0", "1.0.0"} {
		candidates = append(candidates, semver.MustParse(s))
	}
	if ships != nil {
		maj, min, pat := ships.Major(), ships.Minor(), ships.Patch()
		if pat > 0 {
			candidates = append(candidates, semver.New(maj, min, pat-1, "", ""))
		}
		if min > 0 {
			candidates = append(candidates, semver.New(maj, min-1, 0, "", ""), semver.New(maj, min-1, 99999, "", ""))
		}
		if maj > 0 {
			candidates = append(candidates, semver.New(maj-1, 0, 0, "", ""), semver.New(maj-1, 99999, 99999, "", ""))
		}
	}
	for _, v := range candidates {
		if (ships == nil || v.LessThan(ships)) && c.Check(v) {
			return v.String()
		}
	}
	return ""
}

// lintRelease judges the release against the set applied in full: which of
// the migrations it does not know would make it refuse.
func lintRelease(set *Set, release Manifest, rep *LintReport) []Finding {
	known := release.Known()
	in := map[string]bool{}
	for _, k := range known.Migrations {
		in[k.ID] = true
	}
	after := projector.NewState()
	var pending []string
	for i, m := range set.Migrations {
		after.Applied[m.ID] = projector.Migration{ID: m.ID, Checksum: m.Checksum, Seq: int64(i + 1), Compatible: m.Compatible, Transactional: m.Transactional()}
		if !in[m.ID] {
			pending = append(pending, m.ID)
		}
	}
	rep.Pending = pending
	v := policy.Evaluate(known, after, release.PolicyValue())
	var out []Finding
	byID := map[string]Migration{}
	for _, m := range set.Migrations {
		byID[m.ID] = m
	}
	for _, mm := range v.Mismatched {
		m := byID[mm.ID]
		out = append(out, Finding{File: m.Up.File, Severity: SeverityError, Check: "release", Migration: mm.ID,
			Message: fmt.Sprintf("release %s ships %s with another checksum: the file changed after the release was built", release.AppVersion, mm.ID),
			Hint:    "restore the file as the release shipped it; an applied migration's file must not change"})
	}
	for _, u := range v.Unknown {
		if u.Allowed {
			continue
		}
		m := byID[u.ID]
		rep.Refusing = append(rep.Refusing, u.ID)
		why := "it does not know it"
		switch rule := release.PolicyValue().Rule; {
		case rule == policy.RuleCompatible && m.Compatible == "":
			why = "it does not know it, and it declares no -- ledger:compatible"
		case rule == policy.RuleCompatible:
			why = fmt.Sprintf("it does not know it, and %s is not in its -- ledger:compatible %s", release.AppVersion, m.Compatible)
		case rule == policy.RuleSameMajor:
			why = "it does not know it, and which release will apply it (same major or not) is not known offline"
		}
		out = append(out, Finding{File: m.Up.File, Severity: SeverityWarning, Check: "release", Migration: u.ID,
			Message: fmt.Sprintf("applying %s makes release %s (policy %s) refuse: %s", u.ID, release.AppVersion, release.Policy, why),
			Hint:    fmt.Sprintf("deploy a release that ships it everywhere first; or, if %s can run with it applied, declare -- ledger:compatible >=%s", release.AppVersion, release.AppVersion),
			Fix:     &Fix{Action: FixDeployFirst, ID: u.ID}})
	}
	return out
}
