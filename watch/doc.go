// Package watch guards one release against a ledger it follows from NATS
// JetStream: it folds the ledger's events with the projector itself (no
// database connection is needed to see version drift), re-evaluates the
// release's verdict with policy.Evaluate after each event, and raises an
// alert once per change — a migration the release does not know, a
// checksum mismatch, a failed or in-doubt migration, schema drift, and the
// recovery from them — to NATS (ledger.<name>.alerts.<kind>, deduplicated
// across watchers by Nats-Msg-Id), to a webhook and to a writer.
//
// The Guard is the pure part (projector and policy only) and is safe for
// use by one goroutine; the Watcher adds the stream, the sinks and, with a
// database, polling of the schema's fingerprint.
package watch
