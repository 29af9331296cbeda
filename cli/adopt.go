package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/schema-ledger/ledger/adopt"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
)

// adoptFlags are the flags of adopt and baseline.
type adoptFlags struct {
	from, table                  string
	allowUnmapped, noTransaction bool
}

// adoptCommand words a FixAdopt (a database without a ledger but with
// another tool's history, which up, check and status report) as the adopt
// command, with the --schema and --dir this command was given: it is run
// as printed.
func (e *env) adoptCommand(f migrations.Fix) string {
	cmd := "ledger adopt --from " + f.Tool
	if f.Table != "" {
		cmd += " --table " + shellWord(f.Table)
	}
	if e.db != nil && e.db.schema != ledger.DefaultSchema {
		cmd += " --schema " + shellWord(e.db.schema)
	}
	if e.dir != nil && filepath.Clean(e.dir.path) != "migrations" {
		cmd += " --dir " + shellWord(e.dir.path)
	}
	return cmd
}

// shellWord quotes s for a POSIX shell if it needs it.
func shellWord(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+=:@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// adoptOptions are adopt's and baseline's options.
func (g *lockFlags) adoptOptions(e *env, dryRun bool) adopt.Options {
	return adopt.Options{Schema: e.db.schema, AppVersion: e.rel.appVersion(), LockTimeout: g.lockTimeout, DryRun: dryRun}
}

// ---- adopt

func cmdAdopt() *command {
	return &command{
		name: "adopt", args: "--from goose|golang-migrate|tern|flyway [--table NAME] [--dry-run] [--allow-unmapped]",
		short: "take over a database another migration tool has been migrating",
		long: `Reads the other tool's history table and records it in the ledger: one
schema.baselined event, then one migration.applied per migration the tool
says is applied, marked as adopted, with what the tool kept (goose's tstamp,
Flyway's checksum, installed_by, installed_on and execution time). The tool's
versions map to this set's migrations (--dir) by number (a Flyway
directory's by version); golang-migrate's and tern's single version means
every migration up to it: at version 5 with files 0001–0003, 0001–0003 are
applied and 4–5 are unmapped. Flyway's checksums are compared with its files'
(as flyway validate does).

The other tool's table is read, never changed. Adopting again records
nothing new. Refused, with what to fix first: golang-migrate's dirty flag, a
failed Flyway row (success = false), a Flyway checksum that is not its
file's (the file changed since Flyway applied it), and rows that map to no
migration of the set (every one is listed; --allow-unmapped records the rest
anyway and lists them in the schema.baselined event). goose versions whose
latest row says is_applied = false are not applied.

Exit codes: 0 recorded (or nothing to record), 1 error, 2 usage (an unknown
--from), 4 refused (what to fix first is said).

--table names the history table when it is not the tool's default (it may be
schema-qualified); otherwise it is found by its columns.`,
		example: `  ledger adopt --from golang-migrate --dry-run
  ledger adopt --from goose --dir ./db/migrations
  ledger adopt --from flyway --table app.flyway_schema_history`,
		newFlags: func() runnable { return &adoptCmd{} },
	}
}

type adoptCmd struct {
	db                    dbFlags
	dir                   dirFlags
	rel                   releaseFlags
	out                   outputFlags
	lock                  lockFlags
	from, table           string
	dryRun, allowUnmapped bool
}

func (c *adoptCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.db, &c.dir, &c.rel, &c.out, &c.lock)
	fs.StringVar(&c.from, "from", "", "the `tool` whose history to adopt: goose, golang-migrate, tern or flyway")
	fs.StringVar(&c.table, "table", "", "its history `table` (default: found by its columns)")
	fs.BoolVar(&c.dryRun, "dry-run", false, "show what would be recorded; record nothing")
	fs.BoolVar(&c.allowUnmapped, "allow-unmapped", false, "record even though some of the tool's rows map to no migration")
}

func (c *adoptCmd) run(ctx context.Context, e *env, args []string) int {
	if c.from == "" {
		return e.usageErr("say which tool's history to adopt: --from %s", strings.Join(adopt.Sources, "|"))
	}
	if err := adopt.CheckSource(c.from); err != nil {
		return e.usageErr("--from: %v", err)
	}
	p, code := e.prepare(ctx, true)
	if code != 0 {
		return code
	}
	rep, err := adopt.Adopt(ctx, e.pool, p.set, adopt.AdoptOptions{
		Options: c.lock.adoptOptions(e, c.dryRun), From: c.from, Table: c.table, AllowUnmapped: c.allowUnmapped,
	})
	return e.adoptReport(rep, err, "")
}

// ---- baseline

func cmdBaseline() *command {
	return &command{
		name: "baseline", args: "--to ID --reason TEXT [--dry-run]",
		short: "record a database built by hand or restored from a dump as holding the migrations up to ID",
		long: `Records every migration of the set (--dir) up to and including ID as already
applied, without running it: one schema.baselined event with the reason, then
one migration.applied per migration, marked as adopted. For a database whose
schema was built by hand, restored from a dump or migrated by a tool ledger
does not read. Migrations already in the ledger are not recorded again; the
ones after ID stay pending for ledger up.`,
		example:  `  ledger baseline --to 0042_orders_status --reason "restored from the 2026-11-01 dump"`,
		newFlags: func() runnable { return &baselineCmd{} },
	}
}

type baselineCmd struct {
	db         dbFlags
	dir        dirFlags
	rel        releaseFlags
	out        outputFlags
	lock       lockFlags
	to, reason string
	dryRun     bool
}

func (c *baselineCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.db, &c.dir, &c.rel, &c.out, &c.lock)
	fs.StringVar(&c.to, "to", "", "the newest migration `ID` the database already holds")
	fs.StringVar(&c.reason, "reason", "", "why (`TEXT`, recorded)")
	fs.BoolVar(&c.dryRun, "dry-run", false, "show what would be recorded; record nothing")
}

func (c *baselineCmd) run(ctx context.Context, e *env, args []string) int {
	if c.to == "" {
		return e.usageErr("--to ID is required: the newest migration the database already holds")
	}
	if strings.TrimSpace(c.reason) == "" {
		return e.usageErr("--reason TEXT is required: it is recorded for the auditors")
	}
	p, code := e.prepare(ctx, true)
	if code != 0 {
		return code
	}
	if _, ok := p.set.Lookup(c.to); !ok {
		return e.usageErr("--to %s: no such migration in %s", c.to, c.dir.path)
	}
	rep, err := adopt.Baseline(ctx, e.pool, p.set, adopt.BaselineOptions{Options: c.lock.adoptOptions(e, c.dryRun), To: c.to, Reason: c.reason})
	return e.adoptReport(rep, err, c.to)
}

// adoptReport prints what adopt or baseline (to: its --to) did and maps
// its error to an exit code.
func (e *env) adoptReport(rep adopt.Report, err error, to string) int {
	var unmapped *adopt.UnmappedError
	if errors.As(err, &unmapped) {
		rep = unmapped.Report
	}
	if e.out.json {
		out := struct {
			adopt.Report
			Error string `json:"error,omitempty"`
		}{Report: rep}
		if err != nil {
			out.Error = err.Error()
		}
		e.printJSON(out)
		return adoptCode(err)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "ledger %s: %s\n", e.name, e.explain(err))
		if unmapped != nil {
			fmt.Fprintf(e.stderr, "  check --dir (%s) is this database's migration directory; --allow-unmapped records the rest and lists these rows in the schema.baselined event\n", e.dir.path)
		}
		return adoptCode(err)
	}
	w := e.stdout
	src := rep.From
	if rep.Table != "" {
		src = fmt.Sprintf("%s (table %s, version %s)", rep.From, rep.Table, orDash(rep.SourceVersion))
	}
	switch {
	case len(rep.Adopted) == 0 && len(rep.AlreadyRecorded) > 0 && rep.From == adopt.FromBaseline:
		fmt.Fprintf(w, "nothing to record: the %d migration(s) up to %s are in the ledger already\n", len(rep.AlreadyRecorded), to)
	case len(rep.Adopted) == 0 && len(rep.AlreadyRecorded) > 0:
		fmt.Fprintf(w, "nothing to record: the %d migration(s) %s says are applied are in the ledger already\n", len(rep.AlreadyRecorded), src)
	case len(rep.Adopted) == 0:
		fmt.Fprintf(w, "nothing to record: %s says no migration of %s is applied\n", src, e.dir.path)
	case rep.DryRun:
		fmt.Fprintf(w, "dry run: would record from %s, in ledger schema %q: schema.baselined, then migration.applied (adopted) for %d migration(s):\n", src, e.db.schema, len(rep.Adopted))
	default:
		fmt.Fprintf(w, "recorded from %s, in ledger schema %q: schema.baselined, then migration.applied (adopted) for %d migration(s); ledger seq %d, schema version %s:\n", src, e.db.schema, len(rep.Adopted), rep.Head.Seq, orDash(rep.Head.SchemaVersion))
	}
	for _, a := range rep.Adopted {
		facts := ""
		if a.SourceVersion != "" {
			facts = " version " + a.SourceVersion
		}
		if a.AppliedAt != "" {
			facts += ", applied " + a.AppliedAt
		}
		if facts != "" {
			facts = "  (" + rep.From + facts + ")"
		}
		fmt.Fprintf(w, "  %s%s\n", a.ID, facts)
	}
	if len(rep.AlreadyRecorded) > 0 && len(rep.Adopted) > 0 {
		fmt.Fprintf(w, "already in the ledger, not recorded again: %s\n", strings.Join(rep.AlreadyRecorded, ", "))
	}
	for _, u := range rep.Unmapped {
		fmt.Fprintf(w, "unmapped (recorded in schema.baselined only): version %s %s: %s\n", orDash(u.Version), u.Script, u.Reason)
	}
	for _, s := range rep.Ignored {
		fmt.Fprintf(w, "ignored: %s\n", s)
	}
	if len(rep.Pending) > 0 {
		fmt.Fprintf(w, "pending (ledger up applies them): %s\n", strings.Join(rep.Pending, ", "))
	}
	return exitOK
}

// adoptCode is adopt's exit code: 4 when it refused the history as it is
// (the exit code table's "refused"), 1 when it could not do it.
func adoptCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case adopt.Refused(err):
		return exitRefused
	}
	return exitError
}
