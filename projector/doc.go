// Package projector is the pure fold of the ledger: Apply(State, Event) returns
// the state after one event. It defines every event type, its versioned
// payload, and what each event does to the projection (applied migrations,
// migrations in doubt, failures, the schema version and the applied-set digest).
//
// It never touches a database or a network and imports only the standard
// library: the event store (package ledger) and the policy package build on
// it, never the other way round. Apply fails closed: an unknown event type or a
// payload version newer than this package knows is an error, never ignored.
package projector
