//go:build !ledger_nonats

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/watch"
)

func cmdWatch() *command {
	return &command{
		name: "watch", args: "(--dir DIR --app-version V | --manifest FILE) [--policy P] [--nats URL] [--name N | --stream S --subject-prefix P] [--db URL [--interval D]] [--webhook URL] [--json] | --all [--manifest FILE]... [--durable NAME] [--group-window D]",
		short: "guard releases: alert when a database drifts away from them (from the NATS streams)",
		long: `Follows the ledger's JetStream stream (published by ledger relay) from its
first event and folds it with the projector itself — no database is needed
to see version drift. Alerts are states, not events: once the stream has
caught up with a burst (a run's end at once; otherwise --settle of quiet),
each state of the guarded release that appeared or changed raises one alert
stating it whole, and each that ended raises its kind's recovered:
unknown-migration, checksum-mismatch, migration-failed, in-doubt (started
and not finished after --in-doubt-grace, or the ledger moved on without it)
and schema-drift (one alert however it was seen). An alert goes to
ledger.<name>.alerts.<kind> with an id derived from its state — stored once
across any number of watchers, and new when the same state comes back after
a recovery — is printed on one line (--json: one JSON object per line) and,
with --webhook, POSTed as JSON (retried on network errors, 429 and 5xx). A
watcher started late replays the stream and alerts what holds now, once.

With --db (or DATABASE_URL) it also reads the schema every --interval and
alerts schema drift against the last snapshot the ledger recorded.

The ledger's name in NATS defaults to <database>_<schema>, as ledger relay's;
--name, --stream and --subject-prefix as for ledger relay. A name that
matches no stream while the server has other ledgers' streams is, after
--wait-stream, an error naming them (exit 1). Alerts are kept in <stream>_ALERTS (created if missing).

--all follows every ledger on the server (new ones too) with one
subscription and guards on each the releases seen checking in there (the
relays' check-ins; --seen=false to not) plus every --manifest given
(repeatable) and --dir at --app-version if given. The same cause on many
ledgers within --group-window is one alert naming them all (on
ledger_fleet.alerts.<kind>); a ledger with that cause later updates it.
With --durable NAME it keeps its position and what it alerted in the bucket
ledger_watch_positions, so a restart repeats nothing.
Stops cleanly on SIGINT/SIGTERM; reconnects to NATS by itself.`,
		example: `  ledger watch --dir ./migrations --app-version 1.2.0 --nats nats://nats:4222
  ledger watch --manifest release-1.2.0.json --db "$DATABASE_URL" --interval 10s --json
  ledger watch --all --durable oncall --manifest release-1.2.0.json --webhook https://hooks.example.com/ledger`,
		newFlags: func() runnable {
			return &watchCmd{rel: releaseFlags{withPolicy: true}, nats: natsFlags{withStream: true, withReplicas: true}}
		},
	}
}

type watchCmd struct {
	db        dbFlags
	dir       dirFlags
	rel       releaseFlags
	out       outputFlags
	nats      natsFlags
	manifests stringList
	manifest  string
	interval  time.Duration
	webhook   string
	attempts  int

	all                 bool
	durable             string
	groupWindow, settle time.Duration
	inDoubtGrace        time.Duration
	seen                bool
	streamWait          time.Duration
	targets             string
}

func (c *watchCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.db, &c.dir, &c.rel, &c.out, &c.nats)
	fs.Var(&c.manifests, "manifest", "guard the release described by manifest `FILE` (ledger manifest) instead of --dir; with --all, repeatable: each is guarded on every ledger")
	fs.StringVar(&c.targets, "targets", "", "like --all, but only the ledgers of the targets in `FILE` (ledger rollout's syntax), as the relay names them")
	fs.BoolVar(&c.all, "all", false, "follow every ledger on the NATS server (ledger.*.events.>), new ones included, guarding on each the releases seen checking in there plus each --manifest")
	fs.StringVar(&c.durable, "durable", "", "with --all: keep the position and what was alerted under `NAME` (bucket ledger_watch_positions), so a restart repeats nothing")
	fs.DurationVar(&c.groupWindow, "group-window", watch.DefaultGroupWindow, "with --all: alerts of the same cause on other ledgers within this `duration` are one alert naming them all (0: none grouped)")
	fs.DurationVar(&c.settle, "settle", watch.DefaultSettle, "judge a ledger once its stream has been quiet this `duration` (a run's end is judged at once)")
	fs.DurationVar(&c.inDoubtGrace, "in-doubt-grace", watch.DefaultInDoubtGrace, "a no-transaction migration started this `duration` ago with nothing after it is in doubt")
	fs.DurationVar(&c.streamWait, "wait-stream", watch.DefaultStreamWait, "wait this `duration` for the ledger's stream while the server has other ledgers' (then the name is wrong: exit 1); with none at all, wait for the relay")
	fs.BoolVar(&c.seen, "seen", true, "with --all: guard the releases seen checking in on each ledger (the relays' check-ins)")
	fs.DurationVar(&c.interval, "interval", 30*time.Second, "with --db: read the schema every `duration` for drift")
	fs.StringVar(&c.webhook, "webhook", "", "also POST each alert as JSON to `URL`")
	fs.IntVar(&c.attempts, "webhook-attempts", 5, "give up on a webhook delivery after `N` attempts")
}

func (c *watchCmd) run(ctx context.Context, e *env, args []string) int {
	{
		wf := c
		if wf.interval <= 0 || wf.attempts < 1 {
			return e.usageErr("--interval must be positive and --webhook-attempts at least 1")
		}
		if wf.settle < 0 || wf.groupWindow < 0 || wf.inDoubtGrace <= 0 {
			return e.usageErr("--settle and --group-window want 0 or more, --in-doubt-grace a positive duration")
		}
		if wf.webhook != "" {
			if u, err := url.Parse(wf.webhook); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return e.usageErr("--webhook %q: want an http:// or https:// URL", wf.webhook)
			}
		}
		if c.all || c.targets != "" {
			return c.runAll(ctx, e)
		}
		for _, f := range []string{"durable", "group-window", "seen"} {
			if e.given[f] {
				return e.usageErr("--%s goes with --all", f)
			}
		}
		if len(c.manifests) > 1 {
			return e.usageErr("one --manifest without --all (a watcher of one ledger guards one release)")
		}
		if len(c.manifests) == 1 {
			c.manifest = c.manifests[0]
		}
		known, pol, code := c.release(e)
		if code != 0 {
			return code
		}
		names, err := c.watchNames(e)
		if err != nil {
			return e.usageErr("%v", err)
		}
		natsURL, err := c.nats.serverURL()
		if err != nil {
			return e.usageErr("%v", err)
		}
		logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		opts := []watch.Option{watch.WithNames(names), watch.WithOutput(e.stdout, c.out.json), watch.WithLogger(logger),
			watch.WithSettle(c.settle), watch.WithReplicas(c.nats.replicas), watch.WithStreamWait(c.streamWait), watch.WithGuardOptions(watch.WithInDoubtGrace(c.inDoubtGrace))}
		if wf.webhook != "" {
			opts = append(opts, watch.WithWebhook(wf.webhook, wf.attempts, 500*time.Millisecond))
		}
		if c.db.url != "" {
			pool, err := e.connect(ctx)
			if err != nil {
				return e.fail(err)
			}
			store, err := ledger.New(pool, ledger.WithSchema(c.db.schema))
			if err != nil {
				return e.usageErr("%v", err)
			}
			opts = append(opts, watch.WithSchemaPolling(pool, store, wf.interval))
		}
		nc, err := e.natsConnect(ctx, &c.nats, natsURL, logger)
		if err != nil {
			if ctx.Err() != nil {
				return exitOK
			}
			return e.fail(err)
		}
		defer nc.Close()
		js, err := natsbus.NewJetStream(nc)
		if err != nil {
			return e.fail(err)
		}
		w, err := watch.New(js, known, pol, opts...)
		if err != nil {
			return e.usageErr("%v", err)
		}
		if !c.out.json {
			fmt.Fprintf(e.stderr, "watching stream %s on %s for release %s, policy %s; alerts on %s.alerts.>\n", names.Stream, natsbus.RedactURL(natsURL), orDash(known.AppVersion), pol, names.Prefix)
		}
		if err := w.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			return e.fail(err)
		}
		return exitOK
	}
}

// release is the guarded release: --manifest, or --dir with --app-version
// and --policy.
func (c *watchCmd) release(e *env) (policy.Manifest, policy.Policy, int) {
	if c.manifest != "" {
		m, code := e.readRelease(c.manifest, &c.rel)
		if code != 0 {
			return policy.Manifest{}, policy.Policy{}, code
		}
		p, err := policy.Parse(m.Policy)
		if err != nil {
			return policy.Manifest{}, policy.Policy{}, e.fail(err)
		}
		return m.Known(), p, 0
	}
	set, err := e.loadSet()
	if err != nil {
		return policy.Manifest{}, policy.Policy{}, e.fail(err)
	}
	return set.Manifest(c.rel.appVersion()), c.rel.policy, 0
}

// watchNames are the ledger's stream and subject prefix: --name, --stream
// and --subject-prefix as for relay, defaulting to the name relay gives the
// database of --db / DATABASE_URL.
func (c *watchCmd) watchNames(e *env) (natsbus.Names, error) {
	f := c.nats
	name := f.name
	if name == "" {
		name = natsbus.DefaultName(c.db.cfg.ConnConfig.Database, c.db.schema)
	}
	n := natsbus.NamesFor(name)
	if f.stream != "" {
		n.Stream = f.stream
	}
	if f.prefix != "" {
		n.Prefix = f.prefix
	}
	return n, n.Validate()
}

// runAll is watch --all: one watcher for every ledger on the server.
func (c *watchCmd) runAll(ctx context.Context, e *env) int {
	if e.given["db"] {
		return e.usageErr("--all and --targets follow the ledgers from NATS alone: leave out --db (a watcher of one ledger reads its schema with --db)")
	}
	var only []string
	if c.targets != "" {
		if c.all {
			return e.usageErr("--all or --targets: give one")
		}
		ts, err := e.readTargets(ctx, c.targets, "")
		if err != nil {
			return e.fail(err)
		}
		if only, err = targetNames(ts, c.db.schema); err != nil {
			return e.usageErr("%v", err)
		}
	}
	if c.nats.name != "" || c.nats.stream != "" || c.nats.prefix != "" {
		return e.usageErr("--all follows every ledger: leave out --name, --stream and --subject-prefix")
	}
	var guards []watch.ReleaseGuard
	for _, file := range c.manifests {
		m, err := migrations.ReadManifestFile(file)
		if err != nil {
			return e.fail(manifestErr(err, file))
		}
		p, err := policy.Parse(m.Policy)
		if err != nil {
			return e.fail(fmt.Errorf("%s: %w", file, err))
		}
		guards = append(guards, watch.ReleaseGuard{Manifest: m.Known(), Policy: p})
	}
	if e.given["app-version"] {
		set, err := e.loadSet()
		if err != nil {
			return e.fail(err)
		}
		guards = append(guards, watch.ReleaseGuard{Manifest: set.Manifest(c.rel.appVersion()), Policy: c.rel.policy})
	}
	if len(guards) == 0 && !c.seen {
		return e.usageErr("nothing to guard: give --manifest (or --dir with --app-version), or leave --seen on")
	}
	natsURL, err := c.nats.serverURL()
	if err != nil {
		return e.usageErr("%v", err)
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := []watch.FleetOption{watch.FleetOutput(e.stdout, c.out.json), watch.FleetLogger(logger), watch.GuardReleases(guards...),
		watch.GuardSeenReleases(c.seen), watch.WithGroupWindow(c.groupWindow), watch.FleetSettle(c.settle),
		watch.FleetReplicas(c.nats.replicas), watch.FleetGuardOptions(watch.WithInDoubtGrace(c.inDoubtGrace))}
	if c.durable != "" {
		opts = append(opts, watch.WithDurable(c.durable))
	}
	if only != nil {
		opts = append(opts, watch.OnlyLedgers(only...))
	}
	if c.webhook != "" {
		opts = append(opts, watch.FleetWebhook(c.webhook, c.attempts, 500*time.Millisecond))
	}
	w, err := watch.NewFleet(nil, opts...)
	if err != nil {
		return e.usageErr("%v", err)
	}
	nc, err := e.natsConnect(ctx, &c.nats, natsURL, logger)
	if err != nil {
		if ctx.Err() != nil {
			return exitOK
		}
		return e.fail(err)
	}
	defer nc.Close()
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		return e.fail(err)
	}
	if w, err = watch.NewFleet(js, opts...); err != nil {
		return e.usageErr("%v", err)
	}
	if !c.out.json {
		fmt.Fprintf(e.stderr, "watching every ledger on %s (%d release(s) given%s); alerts on %s.>\n", natsbus.RedactURL(natsURL), len(guards),
			map[bool]string{true: ", and the releases seen checking in", false: ""}[c.seen], watch.FleetAlertPrefix)
	}
	if err := w.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return e.fail(err)
	}
	return exitOK
}
