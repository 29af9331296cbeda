//go:build !ledger_nonats

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
)

// natsBuilt: this build has the NATS client — relay, watch, verify --nats
// and the demo (on a server it is given; cmd/ledger-demo embeds one). The
// client adds ~0.7 ms to every command's start and 6 MB to the binary, so
// an image that wants the smallest binary may leave it out with -tags
// ledger_nonats (see nonats.go); no NATS server is linked either way.
const natsBuilt = true

func cmdRelay() *command {
	return &command{
		name: "relay", args: "[--nats URL] [--nats-creds FILE] [--nats-ca F --nats-cert F --nats-key F] [--replicas N] [--name N | --stream S --subject-prefix P | (--all | --targets F | --targets-sql Q) [--max-conns N] [--poll-interval D]] [--json]",
		short: "publish every ledger event to NATS JetStream, exactly once and in order",
		long: `Runs until SIGINT or SIGTERM (then waits for the publishes in flight to be
acknowledged), publishing each committed ledger event, in seq order, to a
JetStream stream of this ledger's own (created if missing): by default
stream LEDGER_<name> with subjects ledger.<name>.events.<type>, where <name>
is the database name and the ledger schema joined by "_" (e.g.
ledger.app_ledger.events.migration.applied). The message is the event as
JSON (as in history --json, plus prev_hash and the committed state), with
headers Ledger-Seq, Ledger-Hash, Ledger-Prev-Hash, Ledger-Type, and
Nats-Msg-Id = the event id.

Stream sequence = ledger seq: each publish expects the stream to end at the
previous seq, so any number of relays may run at once (one per server
instance) without interleaving, reordering or duplicating an event. A relay
resumes after the stream's last message, and refuses (exit 1) a stream whose
last message is not this ledger's event at that seq (another database, a
restored backup), or a stream of that name with other subjects.

It wakes on the ledger's LISTEN/NOTIFY and polls every --poll as well.
While PostgreSQL or NATS is unreachable, or the ledger is not initialized
yet, it says so and waits (a sidecar started before its database or before
the first up does not crash-loop). Progress and lag (ledger head seq -
stream last seq) are logged; --json writes them as JSON lines. Every
--check-ins it also keeps the ledger's check-ins (releases seen running
against it) in the NATS key-value bucket ledger_sightings, outside the chain.

--all relays every ledger of every database on the server --db names, each
to LEDGER_<database>_<schema>, within --max-conns connections, finding new
databases and ledgers every --discover. --targets FILE or --targets-sql QUERY
(ledger rollout's syntax; tenant= is that tenant's ledger) relay just those
ledgers, the same way. When every database fits in --max-conns with
--db-conns each, each LISTENs (one connection for all its ledgers, the
others read). When there are more, half the budget LISTENs to the ones
appended to most recently and the other half polls the others: every
--poll-interval, one query of pg_stat_database's row counters tells which
were written to since their last visit, and each of those is visited with
one short-lived connection, which reads all its ledgers' heads in one query
and publishes what their streams lack; each is visited at least once a
minute whatever the counters say. A polled database that gets busy takes
the slot of an idle one. A commit on a polled database reaches its stream
within --poll-interval (or a sweep, when that takes longer; logged) plus
the visit, once PostgreSQL has published the session's counters (within a
second of the commit when it goes idle, at once when it disconnects, at
most about ten seconds when it stays busy). A database that cannot be
reached is logged once and retried at each visit; the others go on.

The server is --nats or NATS_URL (default nats://127.0.0.1:4222; a comma-
separated list for a cluster; tls:// for TLS). Credentials: a
nats://user:password@host URL (the password is never printed), or
--nats-creds with a .creds file (JWT and NKey); --nats-ca, --nats-cert and
--nats-key for a private CA and a client certificate. A server not there yet
is waited for; credentials or certificates it refuses, and malformed files,
fail at once. --replicas keeps the stream on N servers of a cluster.`,
		example: `  ledger relay --nats nats://127.0.0.1:4222
  NATS_URL=tls://nats.internal:4222 ledger relay --nats-creds /etc/ledger/relay.creds --json
  ledger relay --all --db postgres://relay@db1/postgres --max-conns 20 --nats tls://nats:4222 --nats-ca ca.pem --replicas 3`,
		newFlags: func() runnable { return &relayCmd{nats: natsFlags{withStream: true, withReplicas: true}} },
	}
}

type relayCmd struct {
	db                dbFlags
	out               outputFlags
	nats              natsFlags
	poll, progress    time.Duration
	batch, maxPending int

	all                 bool
	targets, targetsSQL string
	maxConns, dbConn    int
	discover, pollEvery time.Duration
	sightings           time.Duration
	sightingsWindow     time.Duration
}

func (c *relayCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.db, &c.out, &c.nats)
	fs.DurationVar(&c.poll, "poll", 2*time.Second, "look for new events every `duration` even without a notification (with --all: 30s unless given)")
	fs.DurationVar(&c.progress, "progress", 10*time.Second, "log progress every `duration` while a backlog drains")
	fs.IntVar(&c.batch, "batch", 1000, "events per read of the ledger")
	fs.IntVar(&c.maxPending, "max-pending", 2048, "publishes awaiting their acknowledgement at most")
	fs.BoolVar(&c.all, "all", false, "relay every ledger of every database on the server of --db (each ledger to stream LEDGER_<database>_<schema>), picking up new ones")
	fs.StringVar(&c.targets, "targets", "", "relay the ledgers of the targets in `FILE` (ledger rollout's syntax: a postgres:// URL per line, name= and tenant= extras), each to LEDGER_<database>_<schema>")
	fs.StringVar(&c.targetsSQL, "targets-sql", "", "relay the ledgers of the targets `QUERY` returns, run on --db (ledger rollout's: the first column is the URL; columns name and tenant)")
	fs.IntVar(&c.maxConns, "max-conns", 20, "with --all or --targets: PostgreSQL connections at most, for all the databases (a LISTENing database holds --db-conns; the databases beyond are polled)")
	fs.IntVar(&c.dbConn, "db-conns", 3, "with --all or --targets: connections per LISTENing database: one LISTENs for all its ledgers, the others read")
	fs.DurationVar(&c.pollEvery, "poll-interval", natsbus.DefaultVisitInterval, "with --all or --targets: look for writes to the databases the budget cannot LISTEN to every `duration`, and visit those written to (one short-lived connection each)")
	fs.DurationVar(&c.discover, "discover", 10*time.Second, "with --all or --targets: look for new databases and ledgers every `duration`")
	fs.DurationVar(&c.sightings, "check-ins", 10*time.Second, "publish the ledger's check-ins (releases seen running) to the bucket ledger_sightings every `duration` (0: never)")
	fs.DurationVar(&c.sightingsWindow, "check-ins-window", time.Hour, "check-ins published: releases seen within this `duration`")
}

// serverURL returns --nats / NATS_URL, checked (natsbus.ParseServers): a
// comma-separated list of nats://, tls://, ws:// or wss:// URLs with a
// host and a port in range (a bare host:port means nats://host:port).
func (g *natsFlags) serverURL() (string, error) {
	u, err := natsbus.ParseServers(g.url)
	var ce *natsbus.ConnectError
	if errors.As(err, &ce) {
		return "", fmt.Errorf("invalid --nats / NATS_URL %s", ce.Reason)
	}
	return u, err
}

// connectOptions are the NATS group's flags as natsbus.Connect takes them.
func (g *natsFlags) connectOptions(name, serverURL string, log *slog.Logger) natsbus.ConnectOptions {
	return natsbus.ConnectOptions{Servers: serverURL, Name: "ledger " + name, CredsFile: g.creds,
		CAFile: g.ca, CertFile: g.cert, KeyFile: g.key, Logger: log}
}

// natsConnect connects to --nats with the group's credentials and TLS
// files: a server not there yet is waited for (the log says so); what
// waiting cannot fix (a refused password, a malformed .creds file, a
// certificate the server rejects) is an error at once.
func (e *env) natsConnect(ctx context.Context, g *natsFlags, serverURL string, log *slog.Logger) (*nats.Conn, error) {
	nc, err := natsbus.Connect(ctx, g.connectOptions(e.name, serverURL, log))
	if err != nil {
		return nil, natsFlagError(err)
	}
	return nc, nil
}

// natsFlagError words a connection error with the flag at fault.
func natsFlagError(err error) error {
	var ce *natsbus.ConnectError
	if !errors.As(err, &ce) {
		return err
	}
	flag := map[string]string{"url": "--nats / NATS_URL", "creds": "--nats-creds", "ca": "--nats-ca", "cert": "--nats-cert / --nats-key",
		"auth": "--nats credentials (a user:password in the URL, or --nats-creds)", "tls": "--nats-ca / --nats-cert / --nats-key"}[ce.Field]
	return fmt.Errorf("%w (check %s)", err, flag)
}

// logger writes text lines, or JSON lines with --json, to stdout.
func (e *env) logger() *slog.Logger { return e.loggerAt(slog.LevelInfo) }

// loggerAt is logger from level up.
func (e *env) loggerAt(level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if e.out.json {
		return slog.New(slog.NewJSONHandler(e.stdout, opts))
	}
	return slog.New(slog.NewTextHandler(e.stdout, opts))
}

// relayOptions turns the relay flags into options.
func (c *relayCmd) relayOptions(log *slog.Logger) ([]natsbus.RelayOption, error) {
	f := c.nats
	opts := []natsbus.RelayOption{natsbus.WithLogger(log)}
	if f.name != "" || f.stream != "" || f.prefix != "" {
		if c.all || c.targets != "" || c.targetsSQL != "" {
			return nil, errors.New("--all and --targets name each ledger's stream themselves (LEDGER_<database>_<schema>): leave out --name, --stream and --subject-prefix")
		}
		n := natsbus.NamesFor(f.name)
		if f.stream != "" {
			n.Stream = f.stream
		}
		if f.prefix != "" {
			n.Prefix = f.prefix
		}
		if err := n.Validate(); err != nil {
			return nil, err
		}
		opts = append(opts, natsbus.WithNames(n))
	}
	for _, o := range []struct {
		flag string
		ok   bool
	}{{"--poll", c.poll > 0}, {"--progress", c.progress > 0}, {"--batch", c.batch > 0}, {"--max-pending", c.maxPending > 0},
		{"--max-conns", c.maxConns > 0}, {"--discover", c.discover > 0}, {"--poll-interval", c.pollEvery > 0}, {"--check-ins-window", c.sightingsWindow > 0}} {
		if !o.ok {
			return nil, fmt.Errorf("%s: want a positive value", o.flag)
		}
	}
	if c.dbConn < 2 {
		return nil, fmt.Errorf("--db-conns %d: want at least 2 (one LISTENs, one reads)", c.dbConn)
	}
	if c.sightings < 0 {
		return nil, errors.New("--check-ins: want 0 (never) or a positive duration")
	}
	opts = append(opts, natsbus.WithPollInterval(c.poll), natsbus.WithProgressInterval(c.progress),
		natsbus.WithBatchSize(c.batch), natsbus.WithMaxPending(c.maxPending), natsbus.WithReplicas(c.nats.replicas))
	if c.sightings > 0 {
		opts = append(opts, natsbus.WithSightings(c.sightings, c.sightingsWindow))
	}
	return opts, nil
}

func (c *relayCmd) run(ctx context.Context, e *env, args []string) int {
	serverURL, err := c.nats.serverURL()
	if err != nil {
		return e.usageErr("%v", err)
	}
	log := e.logger()
	opts, err := c.relayOptions(log)
	if err != nil {
		return e.usageErr("%v", err)
	}
	// PostgreSQL down, or a ledger not initialized yet, is waited for by the
	// relay (a sidecar started beside its service must not crash-loop).
	var relayer interface{ Run(context.Context) error }
	var stats func()
	if n := btoi(c.all) + btoi(c.targets != "") + btoi(c.targetsSQL != ""); n > 1 {
		return e.usageErr("--all, --targets and --targets-sql are three ways to name the ledgers: give one")
	}
	if c.all || c.targets != "" || c.targetsSQL != "" {
		var dbs *ledger.Databases
		if c.all {
			if c.db.url == "" {
				return e.usageErr("--all needs --db (or DATABASE_URL): a postgres:// URL of the server, whose every database is relayed")
			}
			dbs, err = ledger.NewDatabases([]string{c.db.url}, true, int32(c.dbConn), c.maxConns)
		} else {
			ts, terr := e.readTargets(ctx, c.targets, c.targetsSQL)
			if terr != nil {
				return e.fail(terr)
			}
			if e.pool != nil { // --targets-sql's: no connection beside --max-conns
				e.pool.Close()
				e.pool = nil
			}
			specs, serr := targetSpecs(ts, c.db.schema)
			if serr != nil {
				return e.usageErr("%v", serr)
			}
			dbs, err = ledger.NewDatabasesOf(specs, int32(c.dbConn), c.maxConns)
		}
		if err != nil {
			return e.usageErr("%v", err)
		}
		defer dbs.Close()
		nc, js, code := c.connectNATS(ctx, e, serverURL, log)
		if code >= 0 {
			return code
		}
		defer nc.Close()
		// Each ledger's relay logs what goes wrong, not its progress: a
		// thousand ledgers would drown the fleet's own lines.
		perLedger := append([]natsbus.RelayOption{natsbus.WithLogger(e.loggerAt(slog.LevelWarn))}, opts[1:]...)
		if !e.given["poll"] {
			// LISTEN wakes every ledger; the poll is only the fallback.
			perLedger = append(perLedger, natsbus.WithPollInterval(30*time.Second))
		}
		f, err := natsbus.NewFleetRelay(js, dbs, natsbus.WithFleetLogger(log), natsbus.WithDiscoveryInterval(c.discover),
			natsbus.WithVisitInterval(c.pollEvery), natsbus.WithRelayOptions(perLedger...))
		if err != nil {
			return e.usageErr("%v", err)
		}
		relayer = f
		stats = func() {
			var published, lag int64
			ls := f.Stats()
			for _, s := range ls {
				published += s.Published
				lag += s.Lag()
			}
			log.Info("relay: stopped", "ledgers", len(ls), "published", published, "lag", lag)
		}
	} else {
		pool, err := e.connect(ctx)
		if err != nil {
			return e.usageErr("%v", err)
		}
		store, err := ledger.New(pool, ledger.WithSchema(c.db.schema))
		if err != nil {
			return e.fail(err)
		}
		nc, js, code := c.connectNATS(ctx, e, serverURL, log)
		if code >= 0 {
			return code
		}
		defer nc.Close()
		r, err := natsbus.NewRelay(js, store, pool, opts...)
		if err != nil {
			return e.fail(err)
		}
		relayer = r
		stats = func() {
			st, n := r.Stats(), r.Names()
			log.Info("relay: stopped", "stream", n.Stream, "stream_seq", st.StreamSeq, "head_seq", st.HeadSeq, "lag", st.Lag(),
				"published", st.Published, "conflicts", st.Conflicts, "retries", st.Retries)
		}
	}
	runErr := relayer.Run(ctx)
	stats()
	if runErr != nil {
		return e.fail(natsFlagError(runErr))
	}
	return exitOK
}

// connectNATS connects (waiting for a server not there yet); code is -1
// when connected, else the exit code.
func (c *relayCmd) connectNATS(ctx context.Context, e *env, serverURL string, log *slog.Logger) (*nats.Conn, jetstream.JetStream, int) {
	nc, err := e.natsConnect(ctx, &c.nats, serverURL, log)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, exitOK
		}
		return nil, nil, e.fail(err)
	}
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		nc.Close()
		return nil, nil, e.fail(err)
	}
	return nc, js, -1
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
