// Package fleet rolls one migration set out over many targets — databases,
// or the tenant schemas of one database — in waves, within a failure
// budget, and records the rollout itself as events in a control ledger, so
// that it can be watched, audited and resumed exactly.
//
// Targets come from a targets file (ParseTargets: one connection URL per
// line, with optional name= and tenant= extras), from a query run on the
// control database (TargetsFromQuery), or from the schemas of one database
// (Tenants: schema-per-tenant). A tenant's migrations run with its schema
// first on search_path, and its ledger is a schema of its own,
// ledger.TenantSchema(base, tenant) — ledger_acme for tenant acme.
//
// Each target goes through exactly what migrations.Runner.Up does there
// (validation, policy, release guard, migration lock, drift recording),
// except that a target already at the set costs one head read. The
// control ledger (ControlSchema, "ledger_rollouts" by default) is an
// ordinary ledger — hash-chained, verifiable, relayable — holding
// rollout.started (the plan), one rollout.target per outcome with the
// target ledger's seq and hash after it, rollout.halted,
// rollout.interrupted, rollout.resumed and rollout.finished. Each target's
// own migration.applied events carry the rollout's id.
//
// Killing the controller at any moment loses nothing: a target's
// migrations are exactly-once by its own ledger and lock, and a target
// without a recorded outcome is simply run again by Resume (costing one
// head read when it got there).
//
// The package may import migrations, ledger, projector, policy, catalog
// and pgx; it must never import cmd/ledger, which only renders its reports.
package fleet
