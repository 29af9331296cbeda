// Package natsbus carries the ledger to NATS JetStream: the Relay publishes
// every committed ledger event, in seq order and exactly once, to a stream of
// its own for that ledger, and Decode turns a stream message back into the
// ledger event it carries, for watchers and for verify's comparison of the
// stream with the chain.
//
// # The stream
//
// One stream per ledger (Names): by default the stream LEDGER_<name> with the
// subjects ledger.<name>.events.>, where <name> is the database name and the
// ledger schema, sanitized (DefaultName). Each event goes to
// ledger.<name>.events.<type>, e.g. ledger.app_ledger.events.migration.applied.
//
// Stream sequence = ledger seq. Every publish carries the expected last
// stream sequence (seq-1), so any number of relays — every server instance
// may run one — can never interleave, reorder or duplicate events, also
// beyond the server's duplicate window: a relay that loses a race is told
// "wrong last sequence", reads the stream's last sequence back and goes on
// after it. A relay resumes after the stream's last message, read back from
// JetStream (there is no bookkeeping table that could disagree), and refuses
// to publish onto a stream whose last message is not the ledger's event at
// that seq (a different database, a restored backup).
//
// # Many ledgers, check-ins, connecting
//
// A FleetRelay relays every ledger of many databases from one process
// within a connection budget (each ledger a Relay with every guarantee
// above): one LISTEN connection per database for all its ledgers while
// the databases fit in the budget; beyond that the busiest LISTEN and the
// others are polled, each visited every poll interval with a short-lived
// connection. It picks up ledgers and databases that appear later. WithSightings keeps a ledger's check-ins (the releases
// seen running against it) in the key-value bucket ledger_sightings,
// outside the chain. Connect waits for a server that is not there yet and
// fails at once on what waiting cannot fix (credentials, TLS files);
// WithReplicas keeps the stream on several servers of a cluster.
//
// # Reading it back
//
// Decode turns a consumed message back into its ledger.Event (a watcher
// folds these with the projector); ReadEvents yields the stream's events
// in order from any seq, for comparing the stream with the chain.
//
// # The message
//
// The body is the event as JSON, in the shape of `ledger history --json`
// (seq, id, type, payload_version, payload, recorded_at, actor, host,
// app_version, hash) plus prev_hash and, from ledger format 2 on, the
// state the event commits (state: format, digest, in_doubt,
// schema_version); hashes are hex, the payload is the
// stored jsonb text byte for byte (payload::text), so the event's hash can be
// recomputed from the message alone. Headers repeat what a filter or a
// watcher needs without parsing the body: Ledger-Seq, Ledger-Hash,
// Ledger-Prev-Hash, Ledger-Type, and Nats-Msg-Id = the event id.
//
// It imports ledger, projector and nats.go — never pgx: it reads the store
// only through ledger (events, head, ledger.Listen for LISTEN/NOTIFY,
// ledger.DatabaseName). Nothing imports it but the CLI and the NATS-side
// features above the store (watch, verify --nats, the fleet).
package natsbus
