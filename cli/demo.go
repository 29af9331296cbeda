//go:build !ledger_nonats

package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/examples"
	"github.com/schema-ledger/ledger/fleet"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
	"github.com/schema-ledger/ledger/report"
)

func cmdDemo() *command {
	return &command{
		name: "demo", args: "[--db URL] [--nats URL] [--keep]",
		short: "the whole story on a scratch database, in one command",
		long: `Creates a scratch database on the server --db points at (or DATABASE_URL,
or the PG* defaults), tells the ledger's story step by step — releases
1.2.0, 1.2.3 and 1.3.0 migrating, checking, refusing, rolling back — and
drops the database at the end (--keep keeps it, to look around with status,
history and verify).

Beside the story, a NATS server runs with a relay of the scratch ledger, a
subscriber printing each event as it arrives and ledger watch guarding
release 1.2.0. ledger-demo embeds that server (JetStream in a temporary
directory); the ledger binary does not link one, so that every start of it
stays quick, and runs the demo on the server --nats URL (or NATS_URL)
names, deleting its streams at the end unless --keep.`,
		example:  "  go run github.com/schema-ledger/ledger/cmd/ledger-demo@latest    # in a checkout: go run ./cmd/ledger-demo\n  ledger demo --nats nats://127.0.0.1:4222 --db postgres://postgres@localhost:5432/postgres --keep",
		newFlags: func() runnable { return &demoCmd{} },
	}
}

type demoCmd struct {
	db   dbFlags
	nats natsFlags // --nats only: the story's stream is its own
	keep bool
}

func (c *demoCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.db)
	c.nats.url = e.getenv("NATS_URL")
	fs.StringVar(&c.nats.url, "nats", c.nats.url, "use the NATS server at `URL` (ledger-demo: instead of its embedded one) [NATS_URL]")
	fs.BoolVar(&c.keep, "keep", false, "keep the scratch database")
}

func (c *demoCmd) run(ctx context.Context, e *env, args []string) int {
	if _, err := c.nats.serverURL(); err != nil {
		return e.usageErr("%v", err)
	}
	if strings.TrimSpace(c.nats.url) == "" && e.embedNATS == nil {
		return e.usageErr("this binary embeds no NATS server (it would double its size and slow every start): run the demo as\n    go run github.com/schema-ledger/ledger/cmd/ledger-demo@latest    (in a checkout: go run ./cmd/ledger-demo)\n  which embeds one, or give a server: --nats URL / NATS_URL")
	}
	if err := e.demo(ctx, c); err != nil {
		return e.fail(err)
	}
	return exitOK
}

// demoRelease is one release of the story: its version, the host it runs
// on, and its embedded migration set.
type demoRelease struct {
	version, host, dir string
	set                *migrations.Set
}

func (e *env) demo(ctx context.Context, c *demoCmd) error {
	w := e.stdout
	cfg := e.db.cfg.ConnConfig.Copy()
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("the demo needs a PostgreSQL server where it may create a scratch database, and cannot reach %s: %s\n  start one (e.g. pg_ctlcluster --skip-systemctl-redirect 15 main start), or point --db / DATABASE_URL at one, e.g.\n    go run ./cmd/ledger-demo --db postgres://postgres@127.0.0.1:5432/postgres", e.where(), redactErr(err, e.db.url))
	}
	defer admin.Close(context.WithoutCancel(ctx))
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "ledger_demo_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("create the scratch database %s on %s: %w\n  the demo needs a user allowed to CREATE DATABASE; point --db at such a server", name, e.where(), err)
	}
	keep := c.keep
	defer func() {
		if keep {
			return
		}
		if _, err := admin.Exec(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(e.stderr, "ledger demo: could not drop the scratch database %s: %v\n", name, err)
		}
	}()
	pcfg, err := pgxpool.ParseConfig("")
	if err != nil {
		return err
	}
	pcfg.ConnConfig = cfg.Copy()
	pcfg.ConnConfig.Database = name
	pcfg.MaxConns = 6 // the story's migrator and checks, and the relay (one to LISTEN, one to read)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	store, err := ledger.New(pool)
	if err != nil {
		return err
	}
	// The relay starts with the ledger (up would create it too).
	if _, err := store.Init(ctx); err != nil {
		return err
	}
	bus, err := e.startDemoBus(ctx, &c.nats, pool, store, name)
	if err != nil {
		return err
	}
	defer bus.close(context.WithoutCancel(ctx), keep)

	releases := map[string]*demoRelease{
		"1.2.0": {version: "1.2.0", host: "web-1", dir: "1.2.0"},
		"1.2.3": {version: "1.2.3", host: "web-2", dir: "1.2.0"}, // a patch: the same migrations
		"1.3.0": {version: "1.3.0", host: "deploy-7", dir: "1.3.0"},
	}
	for _, r := range releases {
		fsys, err := examples.Release(r.dir)
		if err != nil {
			return err
		}
		if r.set, err = migrations.Load(fsys); err != nil {
			return err
		}
	}
	opts := func(r *demoRelease, p policy.Policy) []migrations.Option {
		return []migrations.Option{migrations.WithAppVersion(r.version), migrations.WithHost(r.host), migrations.WithPolicy(p)}
	}
	check := func(r *demoRelease, p policy.Policy) (policy.Verdict, error) {
		c, err := migrations.NewChecker(pool, r.set, opts(r, p)...)
		if err != nil {
			return policy.Verdict{}, err
		}
		return c.Check(ctx)
	}
	showCheck := func(r *demoRelease, p policy.Policy) error {
		v, err := check(r, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\n  $ ledger check --app-version %s --policy %s     # on %s; exit %d\n", r.version, p, r.host, verdictCode(v))
		fmt.Fprint(w, indent(v.MessageWith(e.advice), "    "))
		return nil
	}
	runner := func(r *demoRelease) (*migrations.Runner, error) {
		return migrations.NewRunner(pool, r.set, opts(r, policy.Strict)...)
	}
	up := func(r *demoRelease) error {
		run, err := runner(r)
		if err != nil {
			return err
		}
		rep, err := run.Up(ctx, migrations.UpOptions{})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\n  $ ledger up --app-version %s     # on %s\n", r.version, r.host)
		for _, d := range rep.Done {
			fmt.Fprintf(w, "    applied %s\n", d.ID)
		}
		if len(rep.Done) == 0 {
			fmt.Fprintln(w, "    nothing to apply")
		}
		return nil
	}
	guard, err := startDemoWatch(ctx, bus, releases["1.2.0"].set.Manifest("1.2.0"), pool, store)
	if err != nil {
		return err
	}
	defer guard.close(context.WithoutCancel(ctx), bus, keep)
	var busErr error
	step := func(n int, title, text string) {
		// What the subscriber received during the previous step, and the
		// watcher's alerts.
		if busErr == nil {
			busErr = bus.flush(ctx, store)
		}
		if busErr == nil {
			busErr = guard.flush(ctx, w, store)
		}
		fmt.Fprintf(w, "\n%d. %s\n", n, title)
		if text = strings.TrimSpace(text); text != "" {
			fmt.Fprint(w, indent(text, "   "))
		}
	}

	fmt.Fprintf(w, "ledger demo: a scratch database %s on %s\n", name, e.where())
	fmt.Fprintf(w, "NATS: a relay publishes every ledger event to stream %s on %s;\na subscriber prints each one as it arrives ([nats] lines), and `ledger watch`\nguards release 1.2.0, alerting when the database drifts away from it ([watch 1.2.0] lines).\n", bus.names.Stream, bus.where)
	r120, r123, r130 := releases["1.2.0"], releases["1.2.3"], releases["1.3.0"]

	step(1, "Release 1.2.0 meets a fresh database.", `Its startup check finds its two migrations pending; it migrates, and the
check passes.`)
	if err := showCheck(r120, policy.Strict); err != nil {
		return err
	}
	if err := up(r120); err != nil {
		return err
	}
	if err := showCheck(r120, policy.Strict); err != nil {
		return err
	}

	step(2, "Release 1.2.3, a patch with no schema change, rolls out beside 1.2.0.", `Tools that compare one version number would make 1.2.0 refuse a database
"at 1.2.3". The ledger compares sets: 1.2.3 added no migration, so both run.`)
	if err := up(r123); err != nil {
		return err
	}
	if err := showCheck(r123, policy.Strict); err != nil {
		return err
	}
	if err := showCheck(r120, policy.Strict); err != nil {
		return err
	}

	step(3, "Release 1.3.0 adds a column (compatible with >=1.2.0) and drops another (compatible only with >=1.3.0).", "")
	if err := up(r130); err != nil {
		return err
	}

	step(4, "A 1.2.0 pod restarts. Its startup check refuses, naming what it does not know.", `Under the default strict policy any unknown migration refuses. Under the
compatible policy the additive 0003 is allowed by its recorded constraint;
the destructive 0004 still refuses.`)
	if err := showCheck(r120, policy.Strict); err != nil {
		return err
	}
	if err := showCheck(r120, policy.Compatible); err != nil {
		return err
	}

	step(5, "Who did what: the audit trail.", "\n  $ ledger history")
	var events []ledger.Event
	for ev, err := range store.Events(ctx, ledger.Filter{}) {
		if err != nil {
			return err
		}
		events = append(events, ev)
	}
	var hist strings.Builder
	printHistory(&hist, events)
	fmt.Fprint(w, indent(hist.String(), "    "))

	step(6, "1.3.0 is rolled back. The 1.2.0 binary takes the database back to its own schema.", `It does not ship 0003 and 0004, so a plain down refuses, naming them; with
--use-recorded it runs the down SQL 1.3.0 recorded when it applied them.`)
	old, err := runner(r120)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\n  $ ledger down --to 0002_create_orders --app-version 1.2.0")
	if _, err := old.Down(ctx, migrations.DownOptions{Target: "0002_create_orders"}); err != nil {
		var perr *migrations.PlanError
		if !errors.As(err, &perr) {
			return err
		}
		fmt.Fprint(w, indent(e.explain(err), "    ")) // as ledger down prints it
	} else {
		return fmt.Errorf("demo: the 1.2.0 down without --use-recorded was not refused")
	}
	fmt.Fprintln(w, "\n  $ ledger down --to 0002_create_orders --use-recorded --app-version 1.2.0")
	rep, err := old.Down(ctx, migrations.DownOptions{Target: "0002_create_orders", UseRecorded: true})
	if err != nil {
		return err
	}
	for _, d := range rep.Done {
		fmt.Fprintf(w, "    reverted %s (down SQL from: %s)\n", d.ID, d.Source)
	}

	step(7, "1.2.0 runs again, and the ledger verifies.", "")
	if err := showCheck(r120, policy.Strict); err != nil {
		return err
	}
	vr, err := store.Verify(ctx, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n  $ ledger verify\n    %s\n", vr.String())
	if !vr.OK() {
		return fmt.Errorf("demo: the ledger does not verify")
	}

	step(8, "Someone adds a column by hand, outside any migration: schema drift.", `The ledger's last schema snapshot no longer describes the database: verify
names the object and exits 5, and the watcher alerts (it reads the schema
every --interval; here, at once).`)
	fmt.Fprintln(w, "\n  $ psql -c 'ALTER TABLE accounts ADD COLUMN sneaky_hotfix integer'")
	if _, err := pool.Exec(ctx, "ALTER TABLE accounts ADD COLUMN sneaky_hotfix integer"); err != nil {
		return err
	}
	if err := guard.w.CheckSchema(ctx); err != nil {
		return err
	}
	run120, err := runner(r120)
	if err != nil {
		return err
	}
	st, err := run120.SchemaStatus(ctx)
	if err != nil {
		return err
	}
	if !st.Drifted() {
		return fmt.Errorf("demo: the hand-made column is not seen as drift")
	}
	fmt.Fprintln(w, "\n  $ ledger verify     # exit 5")
	var sb strings.Builder
	printSchemaStatus(&sb, st)
	fmt.Fprint(w, indent(sb.String(), "    "))
	if busErr == nil {
		busErr = bus.flush(ctx, store)
	}
	if busErr == nil {
		busErr = guard.flush(ctx, w, store)
	}
	if busErr != nil {
		return busErr
	}

	step(9, "A fleet: release 1.3.0 rolls out to four tenants, each a schema with a ledger of its own.", `One command instead of a shell loop: the canary first, alone, then the rest
two at a time; each tenant goes through everything up does there, and the
rollout itself is recorded, hash-chained, in a control ledger, so that
status says where it stands and resume finishes exactly what is not done.`)
	if err := demoRollout(ctx, e, admin, cfg, name, r130, keep); err != nil {
		return err
	}

	step(10, "The whole record as a page: what an auditor attaches to a change ticket.", `One self-contained HTML file — timeline, releases, failures, drift, and the
chain verified while the page was made, with the checkpoint that re-checks it.`)
	page, err := demoReport(ctx, store, run120, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n  $ ledger report -o %s\n    %s\n", page.file, page.summary)

	sum, err := bus.summary(ctx, store)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n  NATS: %s\n", sum)
	if keep {
		fmt.Fprintf(w, "\nkept the scratch database; look around with:\n  export DATABASE_URL=%s\n  ledger status --dir examples/release-1.2.0 --app-version 1.2.0\n  ledger history\n", demoURL(cfg, name))
	} else {
		fmt.Fprintf(w, "\ndone; the scratch database %s was dropped (--keep keeps it)\n", name)
	}
	return nil
}

// demoRollout rolls release r out over four tenant schemas of a database
// of their own (so that the story's drift watcher sees none of it), with
// the control ledger beside them, then again: every tenant at the set.
func demoRollout(ctx context.Context, e *env, admin *pgx.Conn, cfg *pgx.ConnConfig, name string, r *demoRelease, keep bool) error {
	w, fleetDB := e.stdout, name+"_fleet"
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+fleetDB); err != nil {
		return fmt.Errorf("create the fleet's scratch database %s: %w", fleetDB, err)
	}
	if !keep {
		defer func() {
			if _, err := admin.Exec(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+fleetDB+" WITH (FORCE)"); err != nil {
				fmt.Fprintf(e.stderr, "ledger demo: could not drop the scratch database %s: %v\n", fleetDB, err)
			}
		}()
	}
	pcfg, err := pgxpool.ParseConfig("")
	if err != nil {
		return err
	}
	pcfg.ConnConfig = cfg.Copy()
	pcfg.ConnConfig.Database = fleetDB
	pcfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	tenants := []string{"acme", "globex", "initech", "umbrella"}
	var targets []fleet.Target
	for _, t := range tenants {
		if _, err := pool.Exec(ctx, "CREATE SCHEMA "+t); err != nil {
			return err
		}
		u := &url.URL{Scheme: "postgres", User: url.User(cfg.User), Host: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), Path: "/" + fleetDB}
		if cfg.Password != "" {
			u.User = url.UserPassword(cfg.User, cfg.Password)
		}
		if strings.HasPrefix(cfg.Host, "/") {
			u.Host, u.RawQuery = "", "host="+url.QueryEscape(cfg.Host)+"&port="+strconv.Itoa(int(cfg.Port))
		}
		targets = append(targets, fleet.Target{Name: t, URL: u.String(), Tenant: t})
	}
	ctl, err := fleet.NewControl(pool, "", r.host)
	if err != nil {
		return err
	}
	o := fleet.Options{Canary: 1, Parallel: 2, AppVersion: r.version, Policy: policy.Strict, Who: "deploy-bot", Word: func(err error) string { return e.explain(err) }}
	for i, title := range []string{"\n  $ ledger rollout --db .../" + fleetDB + " --tenants '%' --canary 1 --parallel 2 --dir examples/release-1.3.0 --app-version 1.3.0", "\n  $ ledger rollout ...     # the same again"} {
		fmt.Fprintln(w, title)
		rep, err := fleet.Start(ctx, ctl, r.set, targets, o)
		if err != nil {
			return err
		}
		for _, t := range rep.Targets {
			what := t.Outcome
			switch {
			case len(t.Applied) > 0:
				what = fmt.Sprintf("applied %s", strings.Join(t.Applied, ", "))
			case t.Outcome == projector.OutcomeAtSet:
				what = "already at the set (one head read)"
			}
			canary := ""
			if t.Canary {
				canary = " (canary)"
			}
			fmt.Fprintf(w, "    %-9s %s; its ledger at seq %d%s\n", t.Name, what, t.Seq, canary)
		}
		c := rep.Counts
		fmt.Fprintf(w, "    rollout %s: %d applied, %d already at the set, %d failed, %d refused; finished %v\n", rep.ID, c.Applied, c.AtSet, c.Failed, c.Refused, rep.Finished)
		if !rep.Finished || c.Failed+c.Refused > 0 || (i == 0 && c.Applied != len(tenants)) || (i == 1 && c.AtSet != len(tenants)) {
			return fmt.Errorf("demo: the rollout did not go as told: %+v", rep)
		}
	}
	return nil
}

// demoPage is the report page the demo wrote.
type demoPage struct{ file, summary string }

// demoReport writes the scratch ledger's report page (verified with the
// files of release 1.2.0) to a file in the temporary directory.
func demoReport(ctx context.Context, store *ledger.Store, run *migrations.Runner, name string) (demoPage, error) {
	r, err := report.Build(ctx, store, report.Options{
		Database: name, Verify: report.RunnerVerifier(run, true),
		Recheck: func(cp string) string { return "ledger verify --expect-head " + cp },
	})
	if err != nil {
		return demoPage{}, err
	}
	var b bytes.Buffer
	if err := report.RenderHTML(&b, r); err != nil {
		return demoPage{}, err
	}
	file := filepath.Join(os.TempDir(), name+"-report.html")
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		return demoPage{}, err
	}
	verdict := "the chain verifies"
	if !r.Verification.OK {
		// The hand-made column of step 8 is live drift: the page says so at its top.
		verdict = "the page says at its top what does not verify (the hand-made column)"
	}
	return demoPage{file: file, summary: fmt.Sprintf("%d bytes, %d events; %s; checkpoint %s", b.Len(), r.Verification.Events, verdict, r.Verification.Checkpoint)}, nil
}

func demoURL(cfg *pgx.ConnConfig, db string) string {
	return describeDB(cfg, db)
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}
