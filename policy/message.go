package policy

import (
	"fmt"
	"strings"
	"time"
)

// Message is the verdict for a human: the first line states the decision in
// plain words, the following lines (indented) name every migration involved
// and say what to do, in the library's own words: a server logs it, so it
// names no shell command (MessageWith lets a caller word the fixes). A Run
// verdict is one line.
func (v Verdict) Message() string { return v.MessageWith(LibraryAdvice) }

// Fix is what to do about a verdict or an error, as data: the library says
// which action and on what; a caller words it for its readers (an Advice:
// the library's own words name no program's command, the CLI's name ledger
// commands and flags). It is the one fix type of the module: migrations'
// errors carry the same type (migrations.Fix is this one), with the actions
// that package declares.
type Fix struct {
	Action FixAction
	ID     string   // the migration concerned, if any (FixSettle: the one in doubt)
	From   int      // FixSettle: the statement a resume goes on from (1-based)
	SQL    []string // FixSettle: statements to run first, e.g. DROP INDEX CONCURRENTLY of what a failed statement left behind
	// FixRollBack: the newest migration this binary knows, to roll back to;
	// empty when it knows none applied, and then Steps applied migrations
	// are to be reverted.
	To     string
	Steps  int
	Schema string // the ledger schema concerned, if any
	Tool   string // FixAdopt: the other migration tool (goose, golang-migrate, tern, flyway)
	Table  string // FixAdopt: its history table, schema-qualified, when it is not the tool's default
	File   string // FixWriteManifest: the manifest file, when known
}

// FixAction names a fix of a verdict.
type FixAction string

// The fixes a verdict's message suggests.
const (
	FixApply    FixAction = "apply"     // pending migrations: apply them
	FixVerify   FixAction = "verify"    // the ledger cannot be verified: see what is wrong
	FixSettle   FixAction = "settle"    // a migration in doubt: resume it, or record it as applied or failed
	FixRollBack FixAction = "roll-back" // unknown migrations refused: deploy a release that ships them, or roll back with their recorded down SQL
	// FixAppVersion: the policy needs this binary's app version to judge
	// the migrations it does not know, and it has none: give it one.
	FixAppVersion FixAction = "app-version"
)

// Advice words a Fix as the whole "to fix" line of a message (its text after
// the indentation).
type Advice func(Fix) string

// LibraryAdvice is Message's wording: what to do, in terms of the library
// and the ledger, naming no command of any program.
func LibraryAdvice(f Fix) string {
	switch f.Action {
	case FixApply:
		return "to apply: apply the pending migrations (the runner's Up, or auto-migrate at startup)"
	case FixVerify:
		return "to fix: verify the ledger to see what is wrong; if its format is newer than this binary understands, use a newer ledger release; if older, initialize it once with this release, which upgrades it in place"
	case FixAppVersion:
		return "to fix: give this binary the app version of its release (the release's manifest, or the checker's app version option)"
	case FixSettle:
		return fmt.Sprintf("to fix: check what %s left in the database, then resume it from statement %d, or record it as applied or as failed", f.ID, f.From)
	case FixRollBack:
		to := "to before the migrations this binary does not know"
		if f.To != "" {
			to = "to " + f.To
		}
		return fmt.Sprintf("to fix: deploy a release that ships these migrations, or roll the database back %s with the down SQL recorded when they were applied (from this binary or the newer one)", to)
	}
	return "to fix: " + string(f.Action)
}

// MessageWith is Message with the "to fix" lines worded by advise.
func (v Verdict) MessageWith(advise Advice) string {
	var b strings.Builder
	who := fmt.Sprintf("this binary (app version %s, policy %s)", orNone(v.AppVersion), v.Policy)
	allowed, refused := 0, 0
	for _, u := range v.Unknown {
		if u.Allowed {
			allowed++
		} else {
			refused++
		}
	}
	switch v.Decision {
	case Run:
		fmt.Fprintf(&b, "run: %s matches this database (%s applied, none pending)", who, plural(v.Applied, "migration", "migrations"))
		if allowed > 0 {
			fmt.Fprintf(&b, "; policy %s allows the %s it does not know", v.Policy, plural(allowed, "migration", "migrations"))
		}
		return b.String()
	case Migrate:
		fmt.Fprintf(&b, "migrate: %s has %s to apply to this database", who, plural(len(v.Pending), "pending migration", "pending migrations"))
		v.writePending(&b)
		v.writeUnknown(&b, refused, advise)
		b.WriteString("\n  " + advise(Fix{Action: FixApply}))
		return b.String()
	case Refuse:
	default:
		return fmt.Sprintf("invalid verdict (%s): refuse to run", v.Decision)
	}

	fmt.Fprintf(&b, "refuse: %s %s", who, strings.Join(v.problems(refused), "; "))
	for _, r := range v.Reasons {
		switch r.Code {
		case CodeInvalidInput:
			fmt.Fprintf(&b, "\n  invalid input: %s", r.Message)
			if strings.HasPrefix(r.Message, noAppVersion) {
				b.WriteString("\n  " + advise(Fix{Action: FixAppVersion}))
			}
		case CodeUnverifiable:
			fmt.Fprintf(&b, "\n  %s", r.Message)
			b.WriteString("\n  " + advise(Fix{Action: FixVerify}))
		}
	}
	for _, m := range v.Mismatched {
		fmt.Fprintf(&b, "\n  checksum mismatch: %s was applied %s by app version %s with checksum %s; this binary's file has %s",
			m.ID, when(m.AppliedAt), orUnknown(m.AppVersion), short(m.Recorded), short(m.Local))
	}
	if len(v.Mismatched) > 0 {
		b.WriteString("\n  to fix: restore the migration files exactly as they were applied; never edit an applied migration, add a new one instead")
	}
	for _, d := range v.InDoubt {
		fmt.Fprintf(&b, "\n  in doubt: %s started %s by app version %s on host %s as %s and never finished",
			d.ID, when(d.StartedAt), orUnknown(d.AppVersion), orUnknown(d.Host), orUnknown(d.Actor))
		switch {
		case d.Error != "":
			fmt.Fprintf(&b, " (failed after %s: %s)", plural(d.StatementsDone, "statement", "statements"), d.Error)
		case d.StatementsDone > 0:
			fmt.Fprintf(&b, " (%s done)", plural(d.StatementsDone, "statement", "statements"))
		}
		b.WriteString("\n  " + advise(Fix{Action: FixSettle, ID: d.ID, From: d.StatementsDone + 1}))
	}
	v.writeUnknown(&b, refused, advise)
	if len(v.OutOfOrder) > 0 && v.Has(CodeOutOfOrder) {
		for _, r := range v.Reasons {
			if r.Code == CodeOutOfOrder {
				fmt.Fprintf(&b, "\n  out of order: %s", r.Message)
			}
		}
		b.WriteString("\n  to fix: give these migrations ids after the newest applied one, or allow out-of-order migrations explicitly")
	} else if len(v.Pending) > 0 {
		fmt.Fprintf(&b, "\n  pending (not applied while refused): %s", strings.Join(v.Pending, ", "))
	}
	return b.String()
}

// problems phrases each kind of reason for a refusal, most important first.
func (v Verdict) problems(refused int) []string {
	var out []string
	seen := map[Code]bool{}
	for _, r := range v.Reasons {
		if seen[r.Code] {
			continue
		}
		seen[r.Code] = true
		switch r.Code {
		case CodeInvalidInput:
			out = append(out, "was given invalid input")
		case CodeUnverifiable:
			out = append(out, "cannot verify the ledger of this database")
		case CodeChecksumMismatch:
			out = append(out, fmt.Sprintf("finds %s whose checksum differs from its own file", plural(len(v.Mismatched), "applied migration", "applied migrations")))
		case CodeInDoubt:
			out = append(out, fmt.Sprintf("finds %s in doubt (started, never finished)", plural(len(v.InDoubt), "migration", "migrations")))
		case CodeUnknown:
			out = append(out, fmt.Sprintf("does not know %s applied to this database", plural(len(v.Unknown), "migration", "migrations")))
		case CodeIncompatible:
			them := "them"
			if refused == 1 && len(v.Unknown) == 1 {
				them = "it"
			} else if refused < len(v.Unknown) {
				them = fmt.Sprintf("%d of them", refused)
			}
			out = append(out, fmt.Sprintf("does not know %s applied to this database, and the policy refuses %s",
				plural(len(v.Unknown), "migration", "migrations"), them))
		case CodeOutOfOrder:
			out = append(out, fmt.Sprintf("has %s ordered before an applied one", plural(countOutOfOrder(v), "pending migration", "pending migrations")))
		default:
			out = append(out, string(r.Code))
		}
	}
	if len(out) == 0 {
		out = append(out, "must not run against this database")
	}
	return out
}

func countOutOfOrder(v Verdict) int {
	n := 0
	for _, r := range v.Reasons {
		if r.Code == CodeOutOfOrder {
			n++
		}
	}
	return n
}

func (v Verdict) writePending(b *strings.Builder) {
	ooo := map[string]bool{}
	for _, id := range v.OutOfOrder {
		ooo[id] = true
	}
	for _, id := range v.Pending {
		fmt.Fprintf(b, "\n  pending: %s", id)
		if ooo[id] {
			b.WriteString(" (ordered before an applied migration; allowed by the policy)")
		}
	}
}

// writeUnknown lists the unknown migrations and, if any is refused, how to
// get out of the situation.
func (v Verdict) writeUnknown(b *strings.Builder, refused int, advise Advice) {
	for _, u := range v.Unknown {
		fmt.Fprintf(b, "\n  unknown: %s applied %s by app version %s on host %s as %s",
			u.ID, when(u.AppliedAt), orUnknown(u.AppVersion), orUnknown(u.Host), orUnknown(u.Actor))
		if u.Compatible != "" {
			fmt.Fprintf(b, ", compatible %q", u.Compatible)
		}
		verdict := "refused"
		if u.Allowed {
			verdict = "allowed"
		}
		fmt.Fprintf(b, ": %s, %s", verdict, u.Why)
	}
	if refused == 0 {
		return
	}
	b.WriteString("\n  " + advise(Fix{Action: FixRollBack, To: v.RollbackTo, Steps: v.Applied}))
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	if sum == "" {
		return "(none)"
	}
	return sum
}

func when(t time.Time) string {
	if t.IsZero() {
		return "at an unknown time"
	}
	return "at " + t.UTC().Format(time.RFC3339)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
