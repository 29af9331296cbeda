package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/schema-ledger/ledger/projector"
)

// Evaluate decides whether a binary shipping known may run against a
// database whose ledger projects to s, under policy p.
//
// The unknown set is the ledger's applied ids minus the manifest's ids: it is
// decided by sets, never by comparing app versions. Refused, whatever the
// policy: an applied migration whose checksum differs from the binary's, any
// migration in doubt (known or not), a pending migration ordered before an
// applied one (unless p.AllowOutOfOrder), and invalid input (an unparseable
// app version, a missing one when the policy needs it, a duplicate or
// malformed id, an empty checksum, an unknown rule). Otherwise pending
// migrations mean Migrate and none mean Run. A migration that failed and is
// not applied is simply pending; one in doubt is not pending (an operator must
// resolve it first).
//
// Evaluate never panics on bad input and never returns Run for it.
func Evaluate(known Manifest, s projector.State, p Policy) Verdict {
	v := Verdict{AppVersion: known.AppVersion, Policy: p.String(), Applied: len(s.Applied)}
	var (
		invalid, mismatch, inDoubt, unknown, incompatible, outOfOrder []Reason
	)
	invalidf := func(format string, args ...any) {
		invalid = append(invalid, Reason{CodeInvalidInput, fmt.Sprintf(format, args...)})
	}

	if !p.Rule.valid() {
		invalidf("policy rule %d is not one of %s", int(p.Rule), strings.Join(ruleNames[:], ", "))
	}
	var app *semver.Version
	if known.AppVersion != "" {
		var err error
		if app, err = ParseAppVersion(known.AppVersion); err != nil {
			invalidf("%v", err)
		}
	}

	index := make(map[string]Known, len(known.Migrations))
	for _, k := range known.Migrations {
		if _, dup := index[k.ID]; dup {
			invalidf("migration %s appears more than once in this binary's migration set", k.ID)
			continue
		}
		index[k.ID] = k
		if _, _, err := projector.ParseID(k.ID); err != nil {
			invalidf("this binary's migration set: %v", err)
		}
		if k.Checksum == "" {
			invalidf("migration %s in this binary's migration set has no checksum", k.ID)
		}
	}

	newest := ""
	for id := range s.Applied {
		if newest == "" || projector.CompareIDs(id, newest) > 0 {
			newest = id
		}
	}

	// Known migrations, in set order: mismatched, pending, out of order.
	seen := make(map[string]bool, len(known.Migrations))
	for _, k := range known.Migrations {
		if seen[k.ID] {
			continue
		}
		seen[k.ID] = true
		if m, ok := s.Applied[k.ID]; ok {
			if !m.Matches(k.Checksum) {
				mm := Mismatch{ID: k.ID, Recorded: m.AppliedChecksum(), Local: k.Checksum, AppliedAt: m.AppliedAt, AppVersion: m.AppVersion}
				if len(m.Accepted) > 0 {
					mm.Accepted = append(slices.Clone(m.Accepted[1:]), m.Checksum)
				}
				v.Mismatched = append(v.Mismatched, mm)
				mismatch = append(mismatch, Reason{CodeChecksumMismatch, fmt.Sprintf(
					"migration %s was applied with checksum %s%s, but this binary's file has checksum %s", k.ID, short(mm.Recorded), mm.acceptedSince(), short(k.Checksum))})
			}
			continue
		}
		if _, ok := s.InDoubt[k.ID]; ok {
			continue // neither applied nor pending until an operator resolves it
		}
		v.Pending = append(v.Pending, k.ID)
		if newest != "" && projector.CompareIDs(k.ID, newest) < 0 {
			v.OutOfOrder = append(v.OutOfOrder, k.ID)
			if !p.AllowOutOfOrder {
				outOfOrder = append(outOfOrder, Reason{CodeOutOfOrder, fmt.Sprintf(
					"migration %s is pending but ordered before %s, which is already applied", k.ID, newest)})
			}
		}
	}

	for _, d := range projector.SortedInDoubt(s.InDoubt) {
		v.InDoubt = append(v.InDoubt, d)
		inDoubt = append(inDoubt, Reason{CodeInDoubt, fmt.Sprintf(
			"migration %s started at %s (app version %s) and never finished: the database may hold part of it", d.ID, when(d.StartedAt), orUnknown(d.AppVersion))})
	}

	// Unknown migrations, judged one by one under the policy, in order —
	// sorted only when there are any: a ledger holding exactly this set
	// (every startup check that answers Run) needs no sort of it.
	var sorted []projector.Migration
	for id := range s.Applied {
		if _, ok := index[id]; !ok {
			sorted = s.Sorted()
			break
		}
	}
	needsApp := false
	for _, m := range sorted {
		if _, ok := index[m.ID]; ok {
			continue
		}
		u := Unknown{ID: m.ID, AppliedAt: m.AppliedAt, AppVersion: m.AppVersion, Host: m.Host, Actor: m.Actor, Compatible: m.Compatible, Seq: m.Seq}
		var byInput bool
		u.Allowed, u.Why, byInput = judge(p.Rule, app, known.AppVersion, m)
		needsApp = needsApp || byInput
		v.Unknown = append(v.Unknown, u)
		switch {
		case u.Allowed, byInput, !p.Rule.valid():
		case p.Rule == RuleStrict:
			unknown = append(unknown, Reason{CodeUnknown, fmt.Sprintf(
				"migration %s was applied by app version %s and is not in this binary's migration set", m.ID, orUnknown(m.AppVersion))})
		default:
			incompatible = append(incompatible, Reason{CodeIncompatible, fmt.Sprintf("migration %s is not in this binary's migration set and %s", m.ID, u.Why)})
		}
	}
	if needsApp && known.AppVersion == "" {
		invalidf(noAppVersion+", and policy %s needs one to judge the migrations it does not know", p.Rule)
	}

	if i := slices.IndexFunc(v.Unknown, func(u Unknown) bool { return !u.Allowed }); i >= 0 {
		first := v.Unknown[i].ID
		for _, m := range sorted {
			if projector.CompareIDs(m.ID, first) >= 0 {
				break
			}
			if _, ok := index[m.ID]; ok {
				v.RollbackTo = m.ID
			}
		}
	}

	for _, rs := range [][]Reason{invalid, mismatch, inDoubt, unknown, incompatible, outOfOrder} {
		v.Reasons = append(v.Reasons, rs...)
	}
	switch {
	case len(v.Reasons) > 0:
		v.Decision = Refuse
	case len(v.Pending) > 0:
		v.Decision = Migrate
		v.Reasons = []Reason{{CodePending, fmt.Sprintf("%s pending: %s", plural(len(v.Pending), "migration is", "migrations are"), strings.Join(v.Pending, ", "))}}
	default:
		v.Decision = Run
	}
	return v
}

// noAppVersion begins the invalid-input reason for a missing app version;
// Verdict.MessageWith follows it with a FixAppVersion.
const noAppVersion = "this binary has no app version"

// judge decides whether one unknown migration is allowed under rule, for a
// binary with app version app (nil when missing or invalid; raw as given).
// byInput reports a refusal caused by the binary's own invalid or missing app
// version rather than by the migration.
func judge(rule Rule, app *semver.Version, raw string, m projector.Migration) (allowed bool, why string, byInput bool) {
	if !rule.valid() {
		return false, "the policy is not valid", true
	}
	if rule == RuleStrict {
		return false, "policy strict refuses every migration this binary does not know", false
	}
	if app == nil {
		if raw == "" {
			return false, fmt.Sprintf("policy %s cannot judge it: this binary has no app version", rule), true
		}
		return false, fmt.Sprintf("policy %s cannot judge it: this binary's app version %q is not a semantic version", rule, raw), true
	}
	switch rule {
	case RuleCompatible:
		if m.Compatible == "" {
			return false, "it recorded no compatibility constraint", false
		}
		c, err := semver.NewConstraint(m.Compatible)
		if err != nil {
			return false, fmt.Sprintf("its recorded compatibility constraint %q is not valid: %v", m.Compatible, err), false
		}
		if ok, errs := c.Validate(app); !ok {
			msgs := make([]string, len(errs))
			for i, e := range errs {
				msgs[i] = e.Error()
			}
			return false, fmt.Sprintf("app version %s does not satisfy its compatibility constraint %q (%s)", raw, m.Compatible, strings.Join(msgs, "; ")), false
		}
		return true, fmt.Sprintf("app version %s satisfies its compatibility constraint %q", raw, m.Compatible), false
	default: // RuleSameMajor
		if m.AppVersion == "" {
			return false, "the release that applied it recorded no app version", false
		}
		rec, err := ParseAppVersion(m.AppVersion)
		if err != nil {
			return false, fmt.Sprintf("its recorded app version %q is not a semantic version", m.AppVersion), false
		}
		if rec.Major() != app.Major() {
			return false, fmt.Sprintf("it was applied by app version %s (major %d), and this binary is %s (major %d)", m.AppVersion, rec.Major(), raw, app.Major()), false
		}
		return true, fmt.Sprintf("it was applied by app version %s, the same major version (%d) as this binary's %s", m.AppVersion, rec.Major(), raw), false
	}
}

// Unverifiable is the verdict for a ledger that cannot be trusted or read:
// its head does not match its newest event, its hash chain is broken, or its
// format is newer than this binary understands. The caller detects it; err
// says what it found. The verdict is always Refuse with code "unverifiable".
func Unverifiable(known Manifest, p Policy, err error) Verdict {
	msg := "the ledger cannot be verified"
	if err != nil {
		msg += ": " + err.Error()
	}
	return Verdict{
		Decision:   Refuse,
		AppVersion: known.AppVersion,
		Policy:     p.String(),
		Reasons:    []Reason{{CodeUnverifiable, msg}},
	}
}
