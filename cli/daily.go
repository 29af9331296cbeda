package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/schema-ledger/ledger/migrations"
)

// ---- accept

func cmdAccept() *command {
	return &command{
		name: "accept", args: "ID --reason TEXT",
		short: "accept an intentional change to an applied migration's file (recorded, with the reason)",
		long: `An applied migration's file that changed is refused as a checksum mismatch
by check, up and verify. When the change is intentional and harmless (line
endings normalised, a comment fixed), accept records the file's new checksum
in a migration.accepted event, with the reason and the database user —
Flyway's repair, but audited. check then accepts the file as it is now.
Nothing is run.`,
		example: `  ledger accept 0007_add_orders --reason "CRLF -> LF, no SQL change"`,
		nargs:   1, argsWant: "one migration ID", newFlags: func() runnable { return &acceptCmd{} },
	}
}

type acceptCmd struct {
	db     dbFlags
	dir    dirFlags
	rel    releaseFlags
	out    outputFlags
	lock   lockFlags
	reason string
}

func (c *acceptCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.db, &c.dir, &c.rel, &c.out, &c.lock)
	fs.StringVar(&c.reason, "reason", "", "why the change is safe (`TEXT`, recorded)")
}

func (c *acceptCmd) run(ctx context.Context, e *env, args []string) int {
	if strings.TrimSpace(c.reason) == "" {
		return e.usageErr("--reason TEXT is required: it is recorded for the auditors")
	}
	p, code := e.prepare(ctx, true, c.lock.options()...)
	if code != 0 {
		return code
	}
	a, err := p.runner.Accept(ctx, args[0], c.reason)
	if err != nil {
		return e.fail(err)
	}
	if c.out.json {
		return e.printJSON(a)
	}
	fmt.Fprintf(e.stdout, "recorded: %s accepted with checksum %.12s (was %.12s): %s\n", a.ID, a.Checksum, a.Previous, a.Reason)
	return exitOK
}

// ---- redo

func cmdRedo() *command {
	return &command{
		name: "redo", args: "[--lock-timeout D]",
		short: "revert the newest migration and apply it again (for development)",
		long: `Reverts the newest applied migration with its down file, then applies it
again from its up file: the edit-and-retry loop of development. Both steps
are recorded (migration.reverted, migration.applied). A migration with no
down file, or one this directory does not have, cannot be redone.`,
		example: `  ledger redo`,
		newFlags: func() runnable {
			return &redoCmd{rel: releaseFlags{withPolicy: true}, migrate: runFlags{lock: lockFlags{withDDL: true}}}
		},
	}
}

type redoCmd struct {
	db      dbFlags
	dir     dirFlags
	rel     releaseFlags
	out     outputFlags
	migrate runFlags
}

func (c *redoCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.db, &c.dir, &c.rel, &c.out, &c.migrate)
}

func (c *redoCmd) run(ctx context.Context, e *env, args []string) int {
	p, code := e.prepare(ctx, true, c.migrate.options(e)...)
	if code != 0 {
		return code
	}
	down, err := p.runner.Down(ctx, migrations.DownOptions{Steps: 1})
	if err != nil || len(down.Done) == 0 {
		if err == nil {
			fmt.Fprintln(e.stdout, "nothing to redo: no migration is applied")
			return exitOK
		}
		return e.report("redo", false, down, err)
	}
	id := down.Done[0].ID
	up, err := p.runner.Up(ctx, migrations.UpOptions{Target: id})
	if err != nil {
		return e.report("redo", false, up, fmt.Errorf("%s was reverted, but applying it again failed (fix the file and run ledger up): %w", id, err))
	}
	if c.out.json {
		return e.printJSON(map[string]any{"id": id, "reverted": down.Done, "applied": up.Done, "head": up.Head})
	}
	fmt.Fprintf(e.stdout, "redo: %s reverted and applied again; schema version %s (ledger seq %d)\n", id, orDash(up.Head.SchemaVersion), up.Head.Seq)
	return exitOK
}
