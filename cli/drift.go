package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/projector"
)

// ---- drift: diff, accept-drift, up/down --refuse-drift

// captureDDL installs DDL capture for init --capture-ddl; without the
// privilege it says what is missing and init carries on.
func (e *env) captureDDL(ctx context.Context, st *ledger.Store) {
	if err := st.InstallDDLCapture(ctx); err != nil {
		fmt.Fprintf(e.stderr, "warning: %s\n", e.advise(err.Error(), migrations.Fixes(err)))
		return
	}
	if !e.out.json {
		fmt.Fprintln(e.stdout, "DDL capture on: DDL run outside a migration is recorded as schema.changed")
	}
}

// warnDrift tells an up or down run what it found about the schema before
// it migrated.
func (e *env) warnDrift(r migrations.SchemaReport) {
	switch {
	case r.Drifted:
		what := "recorded as schema.drifted"
		if !r.DriftRecorded {
			what = "already recorded as schema.drifted"
		}
		fmt.Fprintf(e.stderr, "warning: the schema changed outside the migrations since the last snapshot (%s):\n", what)
		for _, l := range r.Drift {
			fmt.Fprintf(e.stderr, "  %s\n", l)
		}
	case r.Stale && r.Fingerprint != "":
		fmt.Fprintln(e.stderr, "note: the schema snapshot was stale (migrations ran after it); a fresh one is recorded")
	}
}

// printSchemaStatus says how the live schema compares with the last
// recorded snapshot: drift one object per line, a stale snapshot, invalid
// indexes.
func printSchemaStatus(w io.Writer, st migrations.SchemaStatus) {
	switch {
	case st.Recorded == nil:
		fmt.Fprintf(w, "schema: no snapshot recorded yet (%d objects now); `ledger up` records one\n", st.Objects)
	case st.Recorded.Value == st.Found:
		fmt.Fprintf(w, "ok: schema matches the snapshot recorded at seq %d (%d objects)\n", st.Recorded.Seq, st.Objects)
	case st.Stale:
		fmt.Fprintf(w, "stale: migrations ran after the schema snapshot at seq %d (the last at seq %d) with no snapshot after them — not drift; the next `ledger up` records a fresh one\n", st.Recorded.Seq, st.StaleSince)
	default:
		fmt.Fprintf(w, "drift: the schema changed outside the migrations since the snapshot at seq %d (%.12s, now %.12s)", st.Recorded.Seq, st.Recorded.Value, st.Found)
		if st.Unlisted {
			fmt.Fprint(w, "; that snapshot was recorded without its objects, so what changed cannot be listed")
		}
		fmt.Fprintln(w)
		for _, l := range st.Lines {
			fmt.Fprintln(w, l)
		}
		fmt.Fprintln(w, "  to keep it: `ledger accept-drift --reason TEXT`; otherwise undo it")
	}
	for _, ix := range st.Invalid {
		fmt.Fprintf(w, "invalid index: %s (%s): PostgreSQL does not use it (a CREATE INDEX CONCURRENTLY failed or was interrupted); drop it with `DROP INDEX CONCURRENTLY %s` and build it again\n", ix.Name, ix.Def, ix.Name)
	}
}

func cmdDiff() *command {
	return &command{
		name: "diff", args: "[--json]",
		short: "show how the schema differs from the last recorded snapshot",
		long: `Reads the catalog (every schema but PostgreSQL's own and the ledger's) and
compares it, object by object, with the snapshot recorded at the end of the
last up or down (or by accept-drift): one line per object that appeared (+),
disappeared (-) or changed (~). It also names invalid indexes. When
migrations ran after that snapshot (a run killed before its end), the
snapshot is stale: that is reported, not called drift.

Exit codes: 0 the schema matches (or the snapshot is stale); 5 drift or an
invalid index; 1 error.`,
		example:  "  ledger diff\n  ledger diff --json | jq -r '.changes[]'",
		newFlags: func() runnable { return &diffCmd{} },
	}
}

type diffCmd struct {
	db  dbFlags
	out outputFlags
}

func (c *diffCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.db, &c.out)
}

func (c *diffCmd) run(ctx context.Context, e *env, args []string) int {
	p, code := e.prepare(ctx, false)
	if code != 0 {
		return code
	}
	st, err := p.runner.SchemaStatus(ctx)
	if err != nil {
		return e.fail(err)
	}
	if c.out.json {
		e.printJSON(st)
	} else {
		printSchemaStatus(e.stdout, st)
	}
	if st.Drifted() || len(st.Invalid) > 0 {
		return exitIntegrity
	}
	return exitOK
}

func cmdAcceptDrift() *command {
	return &command{
		name: "accept-drift", args: "--reason TEXT [--lock-timeout D]",
		short: "record the schema as it is now, changes made by hand included, with a reason",
		long: `A change made outside the migrations (a hotfix, a hand-run ALTER TABLE) is
drift: verify and diff report it and up records it as schema.drifted. When
the change is meant to stay, accept-drift records the current schema as the
ledger's snapshot (schema.drift_accepted), with your reason and the
database user, and lists what it accepted. It takes the migration lock.`,
		example:  `  ledger accept-drift --reason "hotfix INC-1234: index on orders(created_at)"`,
		newFlags: func() runnable { return &acceptDriftCmd{} },
	}
}

type acceptDriftCmd struct {
	db     dbFlags
	rel    releaseFlags
	out    outputFlags
	lock   lockFlags
	reason string
}

func (c *acceptDriftCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.db, &c.rel, &c.out, &c.lock)
	fs.StringVar(&c.reason, "reason", "", "why the change stays (`TEXT`, recorded)")
}

func (c *acceptDriftCmd) run(ctx context.Context, e *env, args []string) int {
	if strings.TrimSpace(c.reason) == "" {
		return e.usageErr("--reason TEXT is required: it is recorded for the auditors")
	}
	p, code := e.prepare(ctx, false, c.lock.options()...)
	if code != 0 {
		return code
	}
	acc, err := p.runner.AcceptDrift(ctx, c.reason)
	if err != nil {
		return e.fail(err)
	}
	if c.out.json {
		return e.printJSON(struct {
			Accepted bool `json:"accepted"`
			projector.DriftAccepted
		}{acc.Fingerprint != "", acc})
	}
	if acc.Fingerprint == "" {
		fmt.Fprintln(e.stdout, "nothing to accept: the schema matches the last recorded snapshot")
		return exitOK
	}
	fmt.Fprintf(e.stdout, "accepted: schema %.12s (%d objects) recorded as schema.drift_accepted\n", acc.Fingerprint, acc.Objects)
	for _, l := range acc.Changes {
		fmt.Fprintf(e.stdout, "  %s\n", l)
	}
	return exitOK
}
