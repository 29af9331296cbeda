package cli

import (
	"context"
	"flag"
	"fmt"
	"time"
)

// ---- checkpoint

func cmdCheckpoint() *command {
	return &command{
		name: "checkpoint", args: "[--json]",
		short: "print the head's SEQ:HASH, to keep outside the database",
		long: `Prints the newest event's seq and hash as SEQ:HASH, after checking the head
against that event (as check does). Keep it where the database's superuser
cannot write — a release pipeline's artifacts, a ticket, another system —
and prove later that the ledger still holds exactly this history with
ledger verify --expect-head SEQ:HASH: every hash covers its predecessor's,
so a history rewritten and re-chained inside the database, or a cut tail,
cannot match it.

Exit codes: 0 printed; 5 the head does not check out; 1 error.`,
		example:  "  ledger checkpoint > /secure/ledger-checkpoint\n  ledger verify --expect-head \"$(cat /secure/ledger-checkpoint)\"",
		newFlags: func() runnable { return &checkpointCmd{} },
	}
}

type checkpointCmd struct {
	db  dbFlags
	out outputFlags
}

func (c *checkpointCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.db, &c.out)
}

func (c *checkpointCmd) run(ctx context.Context, e *env, args []string) int {
	p, code := e.prepare(ctx, false)
	if code != 0 {
		return code
	}
	a, h, err := p.runner.Store().Checkpoint(ctx)
	if err != nil {
		return e.fail(err)
	}
	if c.out.json {
		return e.printJSON(struct {
			Schema     string    `json:"schema"`
			Seq        int64     `json:"seq"`
			Hash       string    `json:"hash"`
			Checkpoint string    `json:"checkpoint"`
			Format     int       `json:"format"`
			TakenAt    time.Time `json:"taken_at"`
		}{c.db.schema, a.Seq, fmt.Sprintf("%x", a.Hash), a.String(), h.Format, time.Now().UTC()})
	}
	if _, err := fmt.Fprintln(e.stdout, a.String()); err != nil {
		return e.fail(err)
	}
	return exitOK
}
