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
		flags: func(fs *flag.FlagSet, o *cmdFlags) {
			fs.StringVar(&o.reason, "reason", "", "why the change is safe (`TEXT`, recorded)")
			fs.DurationVar(&o.lockTimeout, "lock-timeout", migrations.DefaultLockTimeout, "wait at most this `duration` for a running migrator")
		},
		run: func(ctx context.Context, e *env, args []string) int {
			if len(args) != 1 {
				return e.usageErr("want exactly one migration ID, got %d arguments", len(args))
			}
			if strings.TrimSpace(e.f.reason) == "" {
				return e.usageErr("--reason TEXT is required: it is recorded for the auditors")
			}
			p, c := e.prepare(ctx, true, migrations.WithLockTimeout(e.f.lockTimeout))
			if c != 0 {
				return c
			}
			a, err := p.runner.Accept(ctx, args[0], e.f.reason)
			if err != nil {
				return e.fail(err)
			}
			if e.g.json {
				return e.printJSON(a)
			}
			fmt.Fprintf(e.stdout, "recorded: %s accepted with checksum %.12s (was %.12s): %s\n", a.ID, a.Checksum, a.Previous, a.Reason)
			return exitOK
		},
	}
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
		flags: func(fs *flag.FlagSet, o *cmdFlags) {
			fs.DurationVar(&o.lockTimeout, "lock-timeout", migrations.DefaultLockTimeout, "wait at most this `duration` for another migrator to finish")
			fs.DurationVar(&o.ddlLockTimeout, "ddl-lock-timeout", 0, "lock_timeout for the migration's statements (0: the server's)")
		},
		run: func(ctx context.Context, e *env, args []string) int {
			if c := noArgs(e, args); c != 0 {
				return c
			}
			if e.f.lockTimeout <= 0 || e.f.ddlLockTimeout < 0 {
				return e.usageErr("--lock-timeout must be positive and --ddl-lock-timeout zero or positive")
			}
			p, c := e.prepare(ctx, true, e.runOptions()...)
			if c != 0 {
				return c
			}
			down, err := p.runner.Down(ctx, migrations.DownOptions{Steps: 1})
			if err != nil || len(down.Done) == 0 {
				if err == nil {
					fmt.Fprintln(e.stdout, "nothing to redo: no migration is applied")
					return exitOK
				}
				return e.report("redo", down, err)
			}
			id := down.Done[0].ID
			up, err := p.runner.Up(ctx, migrations.UpOptions{Target: id})
			if err != nil {
				return e.report("redo", up, fmt.Errorf("%s was reverted, but applying it again failed (fix the file and run ledger up): %w", id, err))
			}
			if e.g.json {
				return e.printJSON(map[string]any{"id": id, "reverted": down.Done, "applied": up.Done, "head": up.Head})
			}
			fmt.Fprintf(e.stdout, "redo: %s reverted and applied again; schema version %s (ledger seq %d)\n", id, orDash(up.Head.SchemaVersion), up.Head.Seq)
			return exitOK
		},
	}
}
