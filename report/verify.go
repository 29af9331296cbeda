package report

import (
	"context"
	"fmt"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
)

// RunnerVerifier verifies what `ledger verify` does — migrations'
// Runner.Verify: the chain, every event's committed state, the projection
// and the head, the anchors expect if any; the runner's set's files
// against the checksums recorded when they were applied (files: the
// runner has a set, so say so on the page); no migration in doubt; and
// the live schema against the last recorded snapshot (drift).
func RunnerVerifier(runner *migrations.Runner, files bool, expect ...ledger.Anchor) Verifier {
	return func(ctx context.Context, visit func(ledger.Event)) (Verification, error) {
		v, err := runner.Verify(ctx, migrations.VerifyOptions{Expect: expect, Visit: visit})
		if err != nil {
			return Verification{}, err
		}
		return FromVerification(v, files, len(expect) > 0), nil
	}
}

// FromVerification is migrations' whole verification in the report's
// terms; files: it checked a set's files; anchors: it checked anchors.
func FromVerification(mv migrations.Verification, files, anchors bool) Verification {
	v := FromChain(mv.Chain, anchors)
	if files {
		v.Checked = append(v.Checked, "each applied migration's file against the checksum recorded when it was applied")
	}
	v.Checked = append(v.Checked, "no migration in doubt", "the live schema against the last recorded snapshot (drift)")
	var extra []string
	for _, f := range mv.Files {
		extra = append(extra, "file changed: "+f.String())
	}
	for _, d := range mv.InDoubt {
		extra = append(extra, fmt.Sprintf("in doubt: %s started at %s by %s on %s and never finished", d.ID, when(d.StartedAt), releaseName(d.AppVersion), d.Host))
	}
	if mv.SchemaError != "" {
		extra = append(extra, "the schema was not compared: "+mv.SchemaError)
	}
	if st := mv.Schema; st != nil {
		if st.Drifted() {
			p := "drift: the schema changed outside the migrations since the snapshot recorded at seq " + fmt.Sprint(st.Recorded.Seq)
			v.LiveDrift = st.Lines
			if n := DefaultMaxRows; len(st.Lines) > n {
				v.LiveDrift = append(st.Lines[:n:n], fmt.Sprintf("… and %d more object(s) (ledger diff shows all)", len(st.Lines)-n))
			}
			if len(st.Lines) == 0 {
				v.LiveDrift = []string{"(the snapshot was recorded without its objects: the difference cannot be listed)"}
			}
			for _, l := range v.LiveDrift {
				p += "\n  " + l
			}
			extra = append(extra, p)
		}
		for _, o := range st.Invalid {
			extra = append(extra, "invalid index (a failed CREATE INDEX CONCURRENTLY left it): "+o.Name)
		}
	}
	if len(extra) > 0 {
		v.Problems = append(v.Problems, extra...)
		if v.OK {
			v.Summary = fmt.Sprintf("This ledger FAILS verification: its %s events' hash chain is intact, but %d problem(s) were found, starting with: %s.", thousands(mv.Chain.Events), len(extra), firstLine(extra[0]))
		}
	}
	v.OK = mv.OK()
	if v.OK {
		v.Summary = fmt.Sprintf("Verified while this report was made: %s events, the hash chain is intact, the projection and head equal the fold of the events, no migration is in doubt", thousands(mv.Chain.Events))
		if files {
			v.Summary += ", every applied migration's file has its recorded checksum"
		}
		v.Summary += " and the schema is as last recorded."
	}
	return v
}

func firstLine(s string) string {
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}
