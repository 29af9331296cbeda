package cli

import (
	"context"
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
		example: "  ledger checkpoint > /secure/ledger-checkpoint\n  ledger verify --expect-head \"$(cat /secure/ledger-checkpoint)\"",
		run: func(ctx context.Context, e *env, args []string) int {
			if c := noArgs(e, args); c != 0 {
				return c
			}
			p, c := e.prepare(ctx, false)
			if c != 0 {
				return c
			}
			a, h, err := p.runner.Store().Checkpoint(ctx)
			if err != nil {
				return e.fail(err)
			}
			if e.g.json {
				return e.printJSON(struct {
					Schema     string    `json:"schema"`
					Seq        int64     `json:"seq"`
					Hash       string    `json:"hash"`
					Checkpoint string    `json:"checkpoint"`
					Format     int       `json:"format"`
					TakenAt    time.Time `json:"taken_at"`
				}{e.g.schema, a.Seq, fmt.Sprintf("%x", a.Hash), a.String(), h.Format, time.Now().UTC()})
			}
			if _, err := fmt.Fprintln(e.stdout, a.String()); err != nil {
				return e.fail(err)
			}
			return exitOK
		},
	}
}
