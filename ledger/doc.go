// Package ledger is the event store: an append-only, hash-chained log of
// schema events in PostgreSQL, with its projection (applied migrations,
// migrations in doubt, failures and a head row) kept in tables that every
// append updates incrementally in the caller's transaction.
//
// Appends lock the head row, so seq is gapless and seq order is commit order.
// Reads (Head, State, Events) take no lock. Verify walks the chain and checks
// the projection against a full fold.
//
// It imports projector (what each event does), pgx and uuid; never policy,
// migrations or anything above it.
package ledger
