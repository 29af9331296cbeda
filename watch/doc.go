// Package watch guards releases against ledgers it follows from NATS
// JetStream: it folds each ledger's events with the projector itself (no
// database connection is needed to see version drift) and raises alerts
// about states, not events. Once a stream has caught up with a burst (a
// run's end, or a quiet settle time), each guarded release's states — the
// unknown migrations its policy refuses, checksum mismatches, failed
// migrations, migrations in doubt after a grace period, unaccepted drift —
// are compared with what was last alerted: a state that appeared or
// changed raises one alert stating it whole, one that ended raises that
// kind's recovered. An alert's id derives from its state, so watchers of
// the same release publish it once and a repeat after a recovery is new.
// Alerts go to NATS, to a webhook and to a writer.
//
// The Guard is the pure part (projector and policy only). The Watcher
// follows one ledger (and, with a database, polls its schema); the
// FleetWatcher follows every ledger on the server with one subscription,
// guards on each the releases seen checking in there plus those given,
// groups the same cause on many ledgers into one alert, and resumes from a
// durable position. FleetState folds every stream into the fleet's state.
//
// It imports natsbus, ledger, policy, projector and catalog; never the
// CLI, migrations or adopt.
package watch
