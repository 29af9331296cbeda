package migrations

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// Check answers the question a server asks before it serves: may this
// binary, shipping the migrations in fsys, run against this database? Call
// it once in main:
//
//	verdict, err := migrations.Check(ctx, pool, migrationsFS,
//		migrations.WithAppVersion("1.2.0"), migrations.WithPolicy(policy.Strict))
//	if err != nil { ... }                      // could not decide (bad input, database unreachable)
//	if verdict.Decision != policy.Run { log.Fatal(verdict.Message()) }
//
// It takes no lock, writes nothing to the event log and never waits behind a
// running migration. Its fast path is one round trip that reads the ledger's
// head row: if the applied-set digest equals this set's, and nothing is in
// doubt, the verdict is Run. Only otherwise does it read the applied
// migrations to name what differs. With WithAutoMigrate a Migrate verdict
// runs Up and checks again.
func Check(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, opts ...Option) (policy.Verdict, error) {
	set, err := Load(fsys)
	if err != nil {
		return policy.Verdict{}, err
	}
	c, err := NewChecker(pool, set, opts...)
	if err != nil {
		return policy.Verdict{}, err
	}
	return c.Check(ctx)
}

// Checker checks one loaded set repeatedly (a watcher, a health endpoint).
type Checker struct {
	runner   *Runner
	manifest policy.Manifest
	digest   projector.Digest
	run      policy.Verdict // the verdict when the ledger holds exactly this set
	release  *releaseSource // the release's manifest, when checked from one
}

// NewChecker prepares the checks of set; it does not touch the database.
func NewChecker(pool *pgxpool.Pool, set *Set, opts ...Option) (*Checker, error) {
	r, err := NewRunner(pool, set, opts...)
	if err != nil {
		return nil, err
	}
	return newChecker(r, set.Manifest(r.cfg.appVersion).Migrations), nil
}

// NewManifestChecker prepares the checks of a set known only by its ids and
// checksums (see Checksums). It cannot auto-migrate: that needs the files.
// db is a pool, or a single connection (*pgx.Conn) for a process that
// checks once: it reads through it, one read at a time.
func NewManifestChecker(db ledger.DB, known []policy.Known, opts ...Option) (*Checker, error) {
	r, err := newRunner(nil, db, &Set{}, opts)
	if err != nil {
		return nil, err
	}
	if r.cfg.autoMigrate {
		return nil, fmt.Errorf("WithAutoMigrate needs the migration files: use NewChecker with a loaded set")
	}
	return newChecker(r, known), nil
}

func newChecker(r *Runner, known []policy.Known) *Checker {
	c := &Checker{runner: r, manifest: policy.Manifest{AppVersion: r.cfg.appVersion, Migrations: known}}
	c.digest = c.manifest.Digest()
	// What Evaluate says of a ledger holding exactly this set: Run, or a
	// refusal of the manifest itself (an invalid app version, say).
	exact := projector.NewState()
	for _, m := range known {
		exact.Applied[m.ID] = projector.Migration{ID: m.ID, Checksum: m.Checksum}
	}
	c.run = policy.Evaluate(c.manifest, exact, r.cfg.policy)
	return c
}

// Check returns the verdict for the database as it is now.
func (c *Checker) Check(ctx context.Context) (policy.Verdict, error) {
	v, err := c.check(ctx)
	if err != nil || v.Decision != policy.Migrate || !c.runner.cfg.autoMigrate {
		return v, err
	}
	if _, err := c.runner.Up(ctx, UpOptions{}); err != nil {
		return v, err
	}
	return c.check(ctx)
}

func (c *Checker) check(ctx context.Context) (policy.Verdict, error) {
	store := c.runner.store
	head, err := store.Head(ctx)
	if err == nil && head.Digest == c.digest && head.InDoubt == 0 {
		v := c.run
		v.Pending, v.Reasons = slices.Clone(v.Pending), slices.Clone(v.Reasons)
		return v, nil
	}
	if err := c.loadRelease(); err != nil {
		return policy.Verdict{}, err
	}
	var (
		format  *ledger.FormatError
		corrupt *ledger.CorruptHeadError
	)
	switch {
	case errors.Is(err, ledger.ErrNotInitialized):
		if err := c.runner.foreignError(ctx); err != nil {
			return policy.Verdict{}, err
		}
		return policy.Evaluate(c.manifest, projector.NewState(), c.runner.cfg.policy), nil
	case errors.As(err, &format), errors.As(err, &corrupt):
		return policy.Unverifiable(c.manifest, c.runner.cfg.policy, err), nil
	case err != nil:
		return policy.Verdict{}, err
	}
	state, _, err := store.State(ctx)
	switch {
	case errors.As(err, &format), errors.As(err, &corrupt):
		return policy.Unverifiable(c.manifest, c.runner.cfg.policy, err), nil
	case err != nil:
		return policy.Verdict{}, err
	}
	return policy.Evaluate(c.manifest, state, c.runner.cfg.policy), nil
}

// State reads the ledger's projection without a lock; a database without a
// ledger is the empty state.
func (c *Checker) State(ctx context.Context) (projector.State, error) {
	state, _, err := c.runner.readState(ctx)
	return state, err
}
