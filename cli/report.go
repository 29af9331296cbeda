package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/fleet"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/report"
)

func cmdReport() *command {
	return &command{
		name: "report", args: "[-o FILE] [--since T] [--until T] [--release V] [--expect-head SEQ:HASH] [--json] [--targets FILE | --targets-sql QUERY]",
		short: "one self-contained HTML page of the history (or of a fleet), verified",
		long: `Writes one HTML page about the ledger: a timeline on a time axis (a band per
release, each transition marked: applied, reverted, failed, in doubt,
resolved, drifted, accepted, adopted, baselined), what each release applied
and when, failures with their SQLSTATE, drift with its lines, accepted
checksums and drift with their reasons, the schema version now, and the
ledger verified while the page was made — what ledger verify checks (the
hash chain, the projection, no migration in doubt, the live schema against
the last snapshot; with --dir also the files' checksums) — with the
checkpoint SEQ:HASH of the newest event and the command that re-checks it.
A ledger that fails verification says so at the top of its page.
--expect-head SEQ:HASH (a checkpoint kept from an earlier page or from
ledger checkpoint; repeatable) also proves the ledger still holds exactly
that history, as ledger verify --expect-head does.

The page is one file: its styles, script and drawing are inline, it loads
nothing from any network, reads the same with JavaScript off (the script
only filters), and prints on A4. Above 1,500 transitions the timeline
counts them per hour, day, … and the events table lists the newest 2,000.

--since and --until (RFC 3339, a date, or a duration ago such as 36h) and
--release cut the history to an audit period; the verification and the
schema version now always cover the whole ledger.

--targets FILE (a targets file as ledger rollout reads it: a postgres://
URL per line, then name=NAME, tenant=SCHEMA) or --targets-sql QUERY (run
on --db; its first column the URL, columns name and tenant optional) make
a page of the fleet instead: a row per ledger, and the matrix of ledgers by
migration (applied, failed, in doubt) and by release, with drifted, failed
and unverified ledgers marked; and every rollout recorded in the control
ledger (--control-db, --control-schema, as for ledger rollout) with each
target's outcome.

-o FILE writes the page there (- or no -o: standard output); --json writes
the page's model as JSON instead.

Exit codes: 0 written, and every ledger verifies; 5 written, and a ledger
fails verification (or drifted, or holds a migration in doubt); 1 error, or
a ledger of the fleet could not be read (its row says so).`,
		example: `  ledger report -o report.html
  ledger report --since 2026-07-01 --until 2026-10-01 -o q3-audit.html
  ledger report --release 1.3.0 --json | jq .failures
  ledger report --targets fleet.txt -o fleet.html`,
		newFlags: func() runnable { return &reportCmd{} },
	}
}

type reportCmd struct {
	db         dbFlags
	dir        dirFlags
	out        outputFlags
	control    controlFlags
	output     string
	since      string
	until      string
	release    string
	targets    string
	targetsSQL string
	window     time.Duration
	expectHead stringList
}

func (c *reportCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.db, &c.dir, &c.out, &c.control)
	fs.StringVar(&c.output, "o", "-", "write the page to `FILE` (-: standard output)")
	fs.StringVar(&c.since, "since", "", "only the history at or after `TIME`")
	fs.StringVar(&c.until, "until", "", "only the history before `TIME`")
	fs.StringVar(&c.release, "release", "", "only what release `VERSION` recorded")
	fs.StringVar(&c.targets, "targets", "", "a page of the fleet in targets `FILE` (as ledger rollout reads it)")
	fs.StringVar(&c.targetsSQL, "targets-sql", "", "a page of the fleet this `QUERY` lists (run on --db)")
	fs.DurationVar(&c.window, "seen-window", migrations.DefaultFleetWindow, "list the releases that checked in within this `duration`")
	fs.Var(&c.expectHead, "expect-head", "the ledger must still hold this checkpoint (`SEQ:HASH`, from an earlier page or ledger checkpoint); repeatable")
}

func (c *reportCmd) run(ctx context.Context, e *env, args []string) int {
	now := time.Now()
	o := report.Options{Release: c.release, SeenWindow: c.window}
	var err error
	if o.Since, err = parseTime(c.since, now); err != nil {
		return e.usageErr("--since: %v", err)
	}
	if o.Until, err = parseTime(c.until, now); err != nil {
		return e.usageErr("--until: %v", err)
	}
	if !o.Since.IsZero() && !o.Until.IsZero() && !o.Until.After(o.Since) {
		return e.usageErr("--until %s is not after --since %s", c.until, c.since)
	}
	if c.window <= 0 {
		return e.usageErr("--seen-window %s: want a positive duration", c.window)
	}
	if c.targets != "" && c.targetsSQL != "" {
		return e.usageErr("--targets and --targets-sql: give one")
	}
	var anchors []ledger.Anchor
	for _, a := range c.expectHead {
		anchor, err := ledger.ParseAnchor(a)
		if err != nil {
			return e.usageErr("--expect-head: %v (the checkpoint as the page or `ledger checkpoint` gives it)", err)
		}
		anchors = append(anchors, anchor)
	}
	if c.targets != "" || c.targetsSQL != "" {
		if len(anchors) > 0 {
			return e.usageErr("--expect-head: a checkpoint is one ledger's; not with --targets or --targets-sql")
		}
		return c.fleet(ctx, e, o)
	}
	p, code := e.prepare(ctx, e.given["dir"])
	if code != 0 {
		return code
	}
	o.Verify = report.RunnerVerifier(p.runner, e.given["dir"], anchors...)
	o.Database = e.where()
	o.Recheck = func(checkpoint string) string {
		cmd := "ledger verify --db '" + e.where() + "'"
		if c.db.schema != ledger.DefaultSchema {
			cmd += " --schema " + c.db.schema
		}
		return cmd + " --expect-head " + checkpoint
	}
	r, err := report.Build(ctx, p.runner.Store(), o)
	if err != nil {
		return e.fail(err)
	}
	var page bytes.Buffer
	if c.out.json {
		err = writeIndentedJSON(&page, r)
	} else {
		err = report.RenderHTML(&page, r)
	}
	if err != nil {
		return e.fail(err)
	}
	if code := c.write(e, page.Bytes()); code != exitOK {
		return code
	}
	if c.output != "-" {
		fmt.Fprintf(e.stderr, "ledger report: wrote %s (%s): %d events of ledger %s; %s\n", c.output, size(page.Len()), r.Cut.Events, c.db.schema, verdictWords(r.Verification))
	}
	if !r.Verification.OK {
		return exitIntegrity
	}
	return exitOK
}

// fleet reports every ledger of the targets.
func (c *reportCmd) fleet(ctx context.Context, e *env, o report.Options) int {
	targets, code := c.readTargets(ctx, e)
	if code != 0 {
		return code
	}
	var members []report.Member
	for _, t := range targets {
		m := report.Member{Name: t.name, Where: t.where}
		cfg, err := pgxpool.ParseConfig(t.url)
		if err != nil {
			m.Err = fmt.Errorf("%s: %s", t.where, redactErr(err, t.url))
			members = append(members, m)
			continue
		}
		cfg.MaxConns = 3 // the events, the verification, the live schema
		e.tune(cfg.ConnConfig)
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err == nil {
			err = pool.Ping(ctx)
		}
		if err != nil {
			m.Err = fmt.Errorf("cannot reach %s: %s", t.where, redactErr(err, t.url))
			members = append(members, m)
			continue
		}
		defer pool.Close()
		run, err := migrations.NewRunner(pool, &migrations.Set{}, migrations.WithSchema(t.schema))
		if err != nil {
			m.Err = err
			members = append(members, m)
			continue
		}
		m.Store, m.Verify = run.Store(), report.RunnerVerifier(run, false)
		members = append(members, m)
	}
	f, err := report.BuildFleet(ctx, members, o)
	if err != nil {
		return e.fail(err)
	}
	if f.Rollouts, err = c.rollouts(ctx, e); err != nil {
		return e.fail(fmt.Errorf("the rollouts of control ledger %s: %w", c.control.schema, err))
	}
	var page bytes.Buffer
	if c.out.json {
		err = writeIndentedJSON(&page, f)
	} else {
		err = report.RenderFleetHTML(&page, f)
	}
	if err != nil {
		return e.fail(err)
	}
	if code := c.write(e, page.Bytes()); code != exitOK {
		return code
	}
	unreadable, failing := 0, 0
	for _, l := range f.Ledgers {
		switch {
		case l.Error != "":
			unreadable++
		case !l.Verification.OK:
			failing++
		}
	}
	if c.output != "-" {
		fmt.Fprintf(e.stderr, "ledger report: wrote %s (%s): %d ledgers, %d need attention\n", c.output, size(page.Len()), len(f.Ledgers), f.Problems)
	}
	for _, l := range f.Ledgers {
		if l.Error != "" {
			fmt.Fprintf(e.stderr, "ledger report: %s could not be read: %s\n", l.Name, l.Error)
		}
	}
	switch {
	case failing > 0:
		return exitIntegrity
	case unreadable > 0:
		return exitError
	}
	return exitOK
}

// rollouts reads every rollout of the control ledger, with each target's
// outcome (none when no rollout ever ran there).
func (c *reportCmd) rollouts(ctx context.Context, e *env) ([]report.Rollout, error) {
	ctl, pool, err := c.control.open(ctx, e)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	list, err := ctl.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []report.Rollout
	for _, l := range list {
		st, err := ctl.Status(ctx, l.ID)
		if err != nil {
			return nil, err
		}
		r := report.Rollout{ID: st.ID, State: st.State, Release: st.Release, Policy: st.Policy, Migrations: st.Migrations,
			Who: st.Actor + "@" + st.Host, Started: st.Started, Last: st.Last, Why: st.Halted + st.Interrupted}
		if st.Who != "" {
			r.Who = st.Who + " (" + r.Who + ")"
		}
		for _, t := range st.Targets {
			rt := report.RolloutTarget{Name: t.Name, Outcome: t.State, Applied: t.Applied, SQLState: t.SQLState, Error: t.Error,
				Attempts: t.Attempts, Duration: t.Duration, At: t.At, Canary: t.Canary}
			if t.Seq > 0 && t.Hash != "" {
				rt.Checkpoint = fmt.Sprintf("%d:%s", t.Seq, t.Hash)
			}
			r.Targets = append(r.Targets, rt)
		}
		out = append(out, r)
	}
	return out, nil
}

// write puts the page where -o says.
func (c *reportCmd) write(e *env, page []byte) int {
	if c.output == "-" {
		if _, err := e.stdout.Write(page); err != nil {
			return e.fail(err)
		}
		return exitOK
	}
	if err := writeFileAtomic(c.output, page); err != nil {
		return e.fail(fmt.Errorf("write %s: %w", c.output, err))
	}
	return exitOK
}

// reportTarget is one ledger of a fleet.
type reportTarget struct {
	name, url, where, schema string
}

// readTargets reads --targets or runs --targets-sql (on --db), as ledger
// rollout does; a tenant's ledger is in its own schema (ledger.TenantSchema).
func (c *reportCmd) readTargets(ctx context.Context, e *env) ([]reportTarget, int) {
	var ts []fleet.Target
	if c.targets != "" {
		f, err := os.Open(c.targets)
		if err != nil {
			return nil, e.usageErr("--targets: %v", err)
		}
		defer f.Close()
		if ts, err = fleet.ParseTargets(f, c.targets); err != nil {
			return nil, e.usageErr("--targets: %v", err)
		}
	} else {
		pool, err := e.connect(ctx)
		if err != nil {
			return nil, e.fail(err)
		}
		if ts, err = fleet.TargetsFromQuery(ctx, pool, c.targetsSQL); err != nil {
			return nil, e.fail(fmt.Errorf("--targets-sql: %w", err))
		}
	}
	var out []reportTarget
	for _, t := range ts {
		schema := c.db.schema
		if t.Tenant != "" {
			var err error
			if schema, err = ledger.TenantSchema(c.db.schema, t.Tenant); err != nil {
				return nil, e.usageErr("target %s: %v", t.Name, err)
			}
		}
		where := t.Redacted()
		if cfg, err := pgx.ParseConfig(t.URL); err == nil {
			where = describeDB(cfg, cfg.Database)
		}
		out = append(out, reportTarget{name: t.Name, url: t.URL, where: where, schema: schema})
	}
	return out, 0
}

func writeIndentedJSON(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func size(n int) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.0f kB", float64(n)/1024)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}

func verdictWords(v report.Verification) string {
	if v.OK {
		return "verification passed"
	}
	return "it FAILS verification (the page says why)"
}
