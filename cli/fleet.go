package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
)

// ---- fleet

func cmdFleet() *command {
	return &command{
		name: "fleet", args: "[--window D] [--json] | --nats URL [--release V] [--json]",
		short: "the releases that checked in recently: instances, hosts, last seen, and each one's verdict now",
		long: `Lists every release that checked in (ledger check --check-in, or
migrations.WithCheckIn in a server) within --window: its instances and hosts,
when it was last seen and where, the verdicts its instances reported, and
what it would be told against the ledger now — so an operator sees, before a
deploy, which releases still run and whether the database has moved past
any of them. It takes no lock.

With --nats (no database connection): the state of every ledger on the
NATS server, folded from its stream with the projector — name, seq,
schema version, applied, in doubt, failed, drifted, the last event (when,
who, which release) — and the releases seen checking in on each (the
relays' check-ins). --release V says, per ledger, whether V would run,
migrate or refuse there (from the manifest its instances stored when they
checked in; "unknown" where it was never seen).`,
		example: `  ledger fleet
  ledger fleet --window 1h --json | jq '.releases[] | select(.verdict_now.decision == "refuse")'
  ledger fleet --nats nats://nats:4222 --release 1.2.0 --json | jq '.[] | select(.verdict.decision == "refuse") | .name'`,
		newFlags: func() runnable { return &fleetCmd{nats: natsFlags{noName: true}} },
	}
}

type fleetCmd struct {
	db      dbFlags
	out     outputFlags
	nats    natsFlags
	window  time.Duration
	release string
}

func (c *fleetCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.db, &c.out, &c.nats)
	fs.DurationVar(&c.window, "window", 24*time.Hour, "releases seen within this `duration`")
	fs.StringVar(&c.release, "release", "", "with --nats: say per ledger whether release `V` would run, migrate or refuse there")
}

func (c *fleetCmd) run(ctx context.Context, e *env, args []string) int {
	if e.given["nats"] {
		if e.given["window"] {
			return e.usageErr("--window is the database's check-ins; with --nats the relays publish theirs (ledger relay --check-ins-window)")
		}
		return e.fleetFromNATS(ctx, c)
	}
	if c.release != "" {
		return e.usageErr("--release goes with --nats")
	}
	if err := positiveDuration("window", c.window); err != nil {
		return e.usageErr("%v", err)
	}
	p, code := e.prepare(ctx, false)
	if code != 0 {
		return code
	}
	f, err := p.runner.Fleet(ctx, c.window)
	if err != nil {
		return e.fail(err)
	}
	if c.out.json {
		if f.Releases == nil {
			f.Releases = []migrations.FleetRelease{}
		}
		return e.printJSON(f)
	}
	printFleet(e, f, time.Now())
	return exitOK
}

func printFleet(e *env, f migrations.Fleet, now time.Time) {
	fmt.Fprintf(e.stdout, "%s, ledger schema %q: seq %d, schema version %s\n", e.where(), e.db.schema, f.Seq, orDash(f.SchemaVersion))
	e.warnFuture(f.Future, "it is left out, and up's guard ignores it")
	if len(f.Releases) == 0 {
		fmt.Fprintf(e.stdout, "no release checked in within %s (check-ins are opt-in: ledger check --check-in, or migrations.WithCheckIn)\n", f.Window)
		return
	}
	fmt.Fprintf(e.stdout, "releases seen within %s: %d\n\n", f.Window, len(f.Releases))
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RELEASE\tPOLICY\tINSTANCES\tHOSTS\tLAST SEEN\tREPORTED\tVERDICT NOW")
	for _, r := range f.Releases {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s ago on %s\t%s\t%s\n", orDash(r.AppVersion), r.Policy, r.Instances,
			hostList(r.Hosts, 3), ago(now, r.LastSeen), r.LastHost, strings.Join(r.Reported, ","), verdictNow(r.Now))
	}
	tw.Flush()
}

// verdictNow is a release's verdict in a table cell.
func verdictNow(v *policy.Verdict) string {
	if v == nil {
		return "unknown (its manifest was never stored)"
	}
	first, _, _ := strings.Cut(v.Message(), "\n")
	if len(first) > 100 {
		first = first[:100] + "…"
	}
	return first
}

func hostList(hosts []string, max int) string {
	if len(hosts) <= max {
		return strings.Join(hosts, ",")
	}
	return fmt.Sprintf("%s,… (%d)", strings.Join(hosts[:max], ","), len(hosts))
}

// ago is a duration for people: 40s, 12m, 3h, 2d.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

// guardFlags are up's flags for its release guard.
type guardFlags struct {
	window        time.Duration
	allowBreaking bool
}

func (g *guardFlags) register(fs *flag.FlagSet, e *env) {
	fs.DurationVar(&g.window, "fleet-window", migrations.DefaultFleetWindow, "a release seen (checked in) within this `duration` counts as running: up refuses to make it refuse (an instance with a heartbeat counts until it misses three beats)")
	fs.BoolVar(&g.allowBreaking, "allow-breaking", false, "apply even migrations that make a running release refuse; each one's event records the releases it broke")
}

func (g *guardFlags) validate(*env) error { return positiveDuration("fleet-window", g.window) }

// options are up's options for its guard.
func (g *guardFlags) options() []migrations.Option {
	opts := []migrations.Option{migrations.WithFleetWindow(g.window)}
	if g.allowBreaking {
		opts = append(opts, migrations.WithAllowBreaking())
	}
	return opts
}

// breakingCode is the exit code of an up refused by its guard (4), with
// what to do.
func (e *env) breakingCode(err error) (int, bool) {
	var berr *migrations.BreakingError
	if !errors.As(err, &berr) {
		return 0, false
	}
	if !e.out.json {
		fmt.Fprintf(e.stderr, "  to go ahead anyway: ledger up --allow-breaking (each migration's event records the releases it broke); ledger fleet lists who runs what\n")
	}
	return exitRefused, true
}

// warnFuture names sightings dated after now, which check-ins (dated by
// the server's clock) cannot have written.
func (e *env) warnFuture(future []ledger.FutureSighting, what string) {
	for _, s := range future {
		e.warn("sighting of instance %s (host %s) is dated %s, in the future: check-ins are dated by the server's clock, so it was written by hand; %s",
			s.Instance, s.Host, s.LastSeen.UTC().Format(time.RFC3339), what)
	}
}

// warnBreaking names the running releases an up was allowed to break.
func (e *env) warnBreaking(rep migrations.Report, err error) {
	if err != nil {
		return
	}
	verb := "made"
	if rep.DryRun {
		verb = "would make"
	}
	for _, b := range rep.Breaking {
		fmt.Fprintf(e.stderr, "ledger %s: warning: %s %s release %s refuse (%d instance(s), last seen on %s); allowed by --allow-breaking\n",
			e.name, strings.Join(b.Migrations, ", "), verb, b.Name(), b.Instances, b.LastHost)
	}
}
