// Package policy answers the startup question "may this binary run against
// this database?" as a pure function: Evaluate compares the migrations a
// binary ships (a Manifest) with the projection of the ledger
// (projector.State) under a Policy and returns a Verdict: Run, Migrate or
// Refuse, with every fact behind it.
//
// The decision is made by sets, never by comparing version numbers: the
// migrations the ledger says are applied minus the migrations this binary
// ships is the unknown set. Empty, the binary runs (or migrates, when it
// has pending migrations); non-empty, it is refused unless the policy and the
// metadata recorded with each unknown migration say it is safe. Checksum
// mismatches, migrations in doubt, pending migrations ordered before an
// applied one and a ledger that cannot be verified are always refused. A
// refusal is a Verdict, not an error: callers print Verdict.Message or encode
// the Verdict as JSON.
//
// The package does no I/O. It imports only the standard library,
// github.com/Masterminds/semver/v3 and the projector package; it must never
// import the event store, the migration runner, a database or network client.
package policy
