package cli

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

// errNoNATS: a NATS command or flag in a build without NATS.
var errNoNATS = errors.New("this ledger was built with -tags ledger_nonats, without NATS (relay, watch, verify --nats, demo): use a build without that tag")

// natsFlags say which NATS server, with which credentials, and the
// ledger's name there; withStream adds --stream and --subject-prefix for
// the commands that read or write the ledger's stream by other names.
type natsFlags struct {
	withStream   bool
	withReplicas bool // the command creates streams or buckets
	noName       bool // the command reads every ledger (fleet --nats)

	url, creds, name string
	stream, prefix   string
	ca, cert, key    string
	replicas         int
}

func (g *natsFlags) register(fs *flag.FlagSet, e *env) {
	g.url = e.getenv("NATS_URL")
	fs.StringVar(&g.url, "nats", g.url, "NATS server `URL`s, comma-separated (default nats://127.0.0.1:4222) [NATS_URL]")
	fs.StringVar(&g.creds, "nats-creds", "", "NATS credentials `file` (JWT and NKey, as nsc writes it)")
	fs.StringVar(&g.ca, "nats-ca", "", "verify the NATS server against the CA certificate(s) in PEM `file` (a private CA; implies TLS)")
	fs.StringVar(&g.cert, "nats-cert", "", "client certificate PEM `file` for NATS (mutual TLS; with --nats-key)")
	fs.StringVar(&g.key, "nats-key", "", "the client certificate's private key PEM `file`")
	if g.withReplicas {
		fs.IntVar(&g.replicas, "replicas", 1, "keep the streams and buckets it creates on `N` servers of a JetStream cluster (1-5)")
	}
	if g.noName {
		return
	}
	fs.StringVar(&g.name, "name", "", "the ledger's `name` in NATS: stream LEDGER_<name>, subjects ledger.<name>.> (default: <database>_<schema>, as ledger relay names it)")
	if g.withStream {
		fs.StringVar(&g.stream, "stream", "", "the ledger's JetStream stream `name` (default LEDGER_<name>)")
		fs.StringVar(&g.prefix, "subject-prefix", "", "subject `prefix` of the ledger's events and alerts (default ledger.<name>)")
	}
}

func (g *natsFlags) validate(e *env) error {
	if !natsBuilt && e.given["nats"] {
		return fmt.Errorf("--nats: %w", errNoNATS)
	}
	if g.creds != "" {
		if _, err := os.Stat(g.creds); err != nil {
			return fmt.Errorf("--nats-creds: %w", err)
		}
	}
	for _, f := range []struct{ flag, file string }{{"--nats-ca", g.ca}, {"--nats-cert", g.cert}, {"--nats-key", g.key}} {
		if f.file != "" {
			if _, err := os.Stat(f.file); err != nil {
				return fmt.Errorf("%s: %w", f.flag, err)
			}
		}
	}
	if (g.cert == "") != (g.key == "") {
		return errors.New("--nats-cert and --nats-key go together (a client certificate and its key)")
	}
	if g.withReplicas && (g.replicas < 1 || g.replicas > 5) {
		return fmt.Errorf("--replicas %d: want 1 to 5 (JetStream's limit)", g.replicas)
	}
	if g.name == "" && (g.stream == "") != (g.prefix == "") {
		return errors.New("--stream and --subject-prefix go together (or give --name, which sets both)")
	}
	return nil
}

// streamReport is what verify --nats found comparing the chain in the
// database with the copy the relay published to JetStream.
type streamReport struct {
	Stream     string `json:"stream"`
	StreamLast int64  `json:"stream_last"` // the stream's last seq
	HeadSeq    int64  `json:"head_seq"`    // the database's newest event
	Compared   int64  `json:"compared"`    // events compared, from seq 1
	// Divergence: the first seq where the two differ, and how.
	Divergence string `json:"divergence,omitempty"`
}

// OK reports whether every event the stream holds is the database's.
func (r streamReport) OK() bool { return r.Divergence == "" }

func (r streamReport) String() string {
	switch {
	case !r.OK():
		return fmt.Sprintf("BROKEN: the database's chain and the stream %s diverge: %s", r.Stream, r.Divergence)
	case r.HeadSeq > r.StreamLast:
		return fmt.Sprintf("ok: stream %s holds the database's events 1..%d, same seq, hash and prev hash (the relay has not published %d..%d yet)", r.Stream, r.StreamLast, r.StreamLast+1, r.HeadSeq)
	default:
		return fmt.Sprintf("ok: stream %s holds the database's events 1..%d, same seq, hash and prev hash", r.Stream, r.StreamLast)
	}
}
