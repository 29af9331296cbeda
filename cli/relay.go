//go:build !ledger_nonats

package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
)

// natsBuilt: this build has NATS — relay, watch, verify --nats, and the
// demo with its embedded nats-server. NATS more than doubles the binary
// and adds over a millisecond to every command's start (package
// initialisation), so a build for a server's startup check may leave it
// out with -tags ledger_nonats (see nonats.go).
const natsBuilt = true

func cmdRelay() *command {
	return &command{
		name: "relay", args: "[--nats URL] [--nats-creds FILE] [--name N | --stream S --subject-prefix P] [--json]",
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

It wakes on the ledger's LISTEN/NOTIFY and polls every --poll as well. While
NATS or PostgreSQL is unreachable it says so and retries with backoff.
Progress and lag (ledger head seq - stream last seq) are logged; --json
writes them as JSON lines.

The server is --nats or NATS_URL (default nats://127.0.0.1:4222; a comma-
separated list for a cluster; tls:// for TLS, verified against the
system's roots). Credentials: a nats://user:password@host URL (the password
is never printed), or --nats-creds with a .creds file (JWT and NKey).`,
		example: `  ledger relay --nats nats://127.0.0.1:4222
  NATS_URL=tls://nats.internal:4222 ledger relay --nats-creds /etc/ledger/relay.creds --json`,
		newFlags: func() runnable { return &relayCmd{nats: natsFlags{withStream: true}} },
	}
}

type relayCmd struct {
	db                dbFlags
	out               outputFlags
	nats              natsFlags
	poll, progress    time.Duration
	batch, maxPending int
}

func (c *relayCmd) flags(fs *flag.FlagSet, e *env) {
	e.attach(fs, &c.db, &c.out, &c.nats)
	fs.DurationVar(&c.poll, "poll", 2*time.Second, "look for new events every `duration` even without a notification")
	fs.DurationVar(&c.progress, "progress", 10*time.Second, "log progress every `duration` while a backlog drains")
	fs.IntVar(&c.batch, "batch", 1000, "events per read of the ledger")
	fs.IntVar(&c.maxPending, "max-pending", 2048, "publishes awaiting their acknowledgement at most")
}

// natsURL returns --nats / NATS_URL, checked: a comma-separated list of
// nats://, tls://, ws:// or wss:// URLs with a host (a bare host:port means
// nats://host:port).
func (g *natsFlags) serverURL() (string, error) {
	raw := strings.TrimSpace(g.url)
	if raw == "" {
		return nats.DefaultURL, nil
	}
	var out []string
	for _, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		if !strings.Contains(part, "://") {
			part = "nats://" + part
		}
		u, err := url.Parse(part)
		if err != nil {
			return "", fmt.Errorf("invalid --nats / NATS_URL %q: %v", natsbus.RedactURL(part), redactNATS(err, part))
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return "", fmt.Errorf("invalid --nats / NATS_URL %q: scheme %q; want nats://, tls://, ws:// or wss://", natsbus.RedactURL(part), u.Scheme)
		}
		if u.Hostname() == "" {
			return "", fmt.Errorf("invalid --nats / NATS_URL %q: no host; want e.g. nats://127.0.0.1:4222", natsbus.RedactURL(part))
		}
		out = append(out, part)
	}
	return strings.Join(out, ","), nil
}

// redactNATS removes the password of url from an error message.
func redactNATS(err error, raw string) string {
	msg := err.Error()
	if i := strings.Index(raw, "://"); i >= 0 {
		if at := strings.LastIndex(raw, "@"); at > i {
			if _, pass, ok := strings.Cut(raw[i+3:at], ":"); ok && pass != "" {
				msg = strings.ReplaceAll(msg, pass, "xxxxx")
			}
		}
	}
	return msg
}

// natsConnect connects to --nats with --nats-creds, reconnecting forever;
// a server that is not there yet is retried too (log says so).
func (e *env) natsConnect(g *natsFlags, serverURL string, log *slog.Logger) (*nats.Conn, error) {
	shown := natsbus.RedactURL(serverURL)
	opts := []nats.Option{
		nats.Name("ledger " + e.name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(time.Second),
		nats.ConnectHandler(func(nc *nats.Conn) {
			log.Info("nats: connected", "server", natsbus.RedactURL(nc.ConnectedUrl()))
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats: disconnected; reconnecting", "server", shown, "err", redactNATS(err, serverURL))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats: reconnected", "server", natsbus.RedactURL(nc.ConnectedUrl()))
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("nats: cannot reach the server; retrying", "server", shown, "err", redactNATS(err, serverURL))
		}),
	}
	if g.creds != "" {
		opts = append(opts, nats.UserCredentials(g.creds))
	}
	nc, err := nats.Connect(serverURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %s", shown, redactNATS(err, serverURL))
	}
	return nc, nil
}

// logger writes text lines, or JSON lines with --json, to stdout.
func (e *env) logger() *slog.Logger {
	if e.out.json {
		return slog.New(slog.NewJSONHandler(e.stdout, nil))
	}
	return slog.New(slog.NewTextHandler(e.stdout, nil))
}

// relayOptions turns the relay flags into options.
func (c *relayCmd) relayOptions(log *slog.Logger) ([]natsbus.RelayOption, error) {
	f := c.nats
	opts := []natsbus.RelayOption{natsbus.WithLogger(log)}
	if f.name != "" || f.stream != "" || f.prefix != "" {
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
	}{{"--poll", c.poll > 0}, {"--progress", c.progress > 0}, {"--batch", c.batch > 0}, {"--max-pending", c.maxPending > 0}} {
		if !o.ok {
			return nil, fmt.Errorf("%s: want a positive value", o.flag)
		}
	}
	return append(opts, natsbus.WithPollInterval(c.poll), natsbus.WithProgressInterval(c.progress),
		natsbus.WithBatchSize(c.batch), natsbus.WithMaxPending(c.maxPending)), nil
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
	pool, err := e.connect(ctx)
	if err != nil {
		return e.usageErr("%v", err)
	}
	store, err := ledger.New(pool, ledger.WithSchema(c.db.schema))
	if err != nil {
		return e.fail(err)
	}
	// Fail fast on what retrying cannot fix: no database, no ledger.
	if _, err := store.Head(ctx); err != nil {
		return e.fail(err)
	}
	nc, err := e.natsConnect(&c.nats, serverURL, log)
	if err != nil {
		return e.fail(err)
	}
	defer nc.Close()
	if !nc.IsConnected() {
		log.Warn("nats: cannot reach the server yet; retrying until it is there", "server", natsbus.RedactURL(serverURL))
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(10*time.Second))
	if err != nil {
		return e.fail(err)
	}
	r, err := natsbus.NewRelay(js, store, pool, opts...)
	if err != nil {
		return e.fail(err)
	}
	runErr := r.Run(ctx)
	st := r.Stats()
	n := r.Names()
	log.Info("relay: stopped", "stream", n.Stream, "stream_seq", st.StreamSeq, "head_seq", st.HeadSeq, "lag", st.Lag(),
		"published", st.Published, "conflicts", st.Conflicts, "retries", st.Retries)
	if runErr != nil {
		return e.fail(runErr)
	}
	_ = nc.Drain()
	return exitOK
}
