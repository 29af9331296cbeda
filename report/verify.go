package report

import (
	"context"
	"fmt"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/projector"
)

// RunnerVerifier verifies what `ledger verify` does, through runner: the
// chain, every event's committed state, the projection and the head (its
// store's VerifyWith, against the anchors expect if any); each applied
// migration's file, when the runner's set holds it, against the checksum
// recorded when it was applied; no migration in doubt; and the live
// schema against the last recorded snapshot (drift). A ledger that does
// not check out is not compared with the live schema.
func RunnerVerifier(runner *migrations.Runner, expect ...ledger.Anchor) Verifier {
	return func(ctx context.Context) (Verification, error) {
		rep, err := runner.Store().VerifyWith(ctx, ledger.VerifyOptions{Expect: expect})
		if err != nil {
			return Verification{}, err
		}
		v := FromChain(rep, len(expect) > 0)
		if rep.FoldError != "" {
			return v, nil
		}
		var extra []string
		if set := runner.Set(); set != nil && len(set.Migrations) > 0 {
			v.Checked = append(v.Checked, "each applied migration's file against the checksum recorded when it was applied")
			for _, m := range rep.Fold.Sorted() {
				if local, ok := set.Lookup(m.ID); ok && local.Checksum != m.Checksum {
					extra = append(extra, fmt.Sprintf("file changed: %s has checksum %s, recorded %s when %s applied it", local.Up.File, short(local.Checksum), short(m.Checksum), releaseName(m.AppVersion)))
				}
			}
		}
		v.Checked = append(v.Checked, "no migration in doubt")
		for _, d := range projector.SortedInDoubt(rep.Fold.InDoubt) {
			extra = append(extra, fmt.Sprintf("in doubt: %s started at %s by %s on %s and never finished", d.ID, when(d.StartedAt), releaseName(d.AppVersion), d.Host))
		}
		if rep.OK() {
			v.Checked = append(v.Checked, "the live schema against the last recorded snapshot")
			st, err := runner.SchemaStatus(ctx)
			if err != nil {
				return Verification{}, err
			}
			switch {
			case st.Drifted():
				p := fmt.Sprintf("drift: the schema changed outside the migrations since the snapshot of seq %d (%d object(s) differ)", st.Recorded.Seq, len(st.Lines))
				for _, l := range st.Lines {
					p += "\n  " + l
				}
				extra = append(extra, p)
				v.LiveDrift = st.Lines
				if len(st.Lines) == 0 {
					v.LiveDrift = []string{"(the snapshot was recorded without its objects: the difference cannot be listed)"}
				}
			case len(st.Invalid) > 0:
				for _, o := range st.Invalid {
					extra = append(extra, "invalid index (a failed CREATE INDEX CONCURRENTLY left it): "+o.Name)
				}
			}
		}
		if len(extra) > 0 {
			v.Problems = append(v.Problems, extra...)
			if v.OK {
				v.OK = false
				v.Summary = fmt.Sprintf("This ledger FAILS verification: its %s events' hash chain is intact, but %d problem(s) were found, starting with: %s.", thousands(rep.Events), len(extra), firstLine(extra[0]))
			}
		}
		return v, nil
	}
}

func firstLine(s string) string {
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}
