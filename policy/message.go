package policy

import (
	"fmt"
	"strings"
	"time"
)

// Message is the verdict for a human: the first line states the decision in
// plain words, the following lines (indented) name every migration involved
// and say what to do. A Run verdict is one line.
func (v Verdict) Message() string {
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
		v.writeUnknown(&b, refused)
		b.WriteString("\n  to apply: run `ledger up` (or let the library auto-migrate at startup)")
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
		case CodeUnverifiable:
			fmt.Fprintf(&b, "\n  %s", r.Message)
			b.WriteString("\n  to fix: run `ledger verify` to see what is wrong; if the ledger format is newer than this binary understands, use a newer ledger release")
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
		fmt.Fprintf(&b, "\n  to fix: check what %s left in the database, then go on from statement %d with `ledger resolve %s --resume`, or record it with `ledger resolve %s --applied --reason ...` or `ledger resolve %s --failed --reason ...`", d.ID, d.StatementsDone+1, d.ID, d.ID, d.ID)
	}
	v.writeUnknown(&b, refused)
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
func (v Verdict) writeUnknown(b *strings.Builder, refused int) {
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
	down := fmt.Sprintf("ledger down --to %s --use-recorded", v.RollbackTo)
	if v.RollbackTo == "" {
		down = fmt.Sprintf("ledger down --steps %d --use-recorded", v.Applied)
	}
	fmt.Fprintf(b, "\n  to fix: deploy a release that ships these migrations, or roll the database back to this release's schema with `%s` (from this binary or the newer one)", down)
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
