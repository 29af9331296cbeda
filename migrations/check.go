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

// Checker checks one set repeatedly (a watcher, a health endpoint): a small
// type over the event store, which it only reads. It is safe for
// concurrent use when db is a pool.
type Checker struct {
	store    *ledger.Store
	db       ledger.DB
	cfg      config
	set      *Set    // the files, when checked from them (NewChecker)
	migrate  *Runner // with WithAutoMigrate: what runs up on a Migrate verdict
	manifest policy.Manifest
	digest   projector.Digest
	run      policy.Verdict // the verdict when the ledger holds exactly this set
	release  *releaseSource // the release's manifest, when checked from one
	checkIns checkInState
}

// NewChecker prepares the checks of set; it does not touch the database.
func NewChecker(pool *pgxpool.Pool, set *Set, opts ...Option) (*Checker, error) {
	c, err := newReader(pool, opts)
	if err != nil {
		return nil, err
	}
	if c.cfg.autoMigrate {
		if c.migrate, err = NewRunner(pool, set, opts...); err != nil {
			return nil, err
		}
	}
	c.set = set
	return c.expect(set.Manifest(c.cfg.appVersion).Migrations), nil
}

// newReader is a Checker that reads the ledger through db and has yet to
// learn what it expects.
func newReader(db ledger.DB, opts []Option) (*Checker, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	store, err := newStore(db, cfg)
	if err != nil {
		return nil, err
	}
	return &Checker{store: store, db: db, cfg: cfg, set: &Set{}}, nil
}

// NewManifestChecker prepares the checks of a set known only by its ids and
// checksums (see Checksums). It cannot auto-migrate: that needs the files.
// db is a pool, or a single connection (*pgx.Conn) for a process that
// checks once: it reads through it, one read at a time.
func NewManifestChecker(db ledger.DB, known []policy.Known, opts ...Option) (*Checker, error) {
	c, err := newReader(db, opts)
	if err != nil {
		return nil, err
	}
	if c.cfg.autoMigrate {
		return nil, ErrAutoMigrateNeedsFiles
	}
	if c.cfg.checkIn != nil {
		return nil, fmt.Errorf("WithCheckIn records the release's manifest: use NewReleaseChecker or NewChecker with a loaded set")
	}
	return c.expect(known), nil
}

// expect makes c check for the known set.
func (c *Checker) expect(known []policy.Known) *Checker {
	c.manifest = policy.Manifest{AppVersion: c.cfg.appVersion, Migrations: known}
	c.digest = c.manifest.Digest()
	// What Evaluate says of a ledger holding exactly this set: Run, or a
	// refusal of the manifest itself (an invalid app version, say).
	exact := projector.NewState()
	for _, m := range known {
		exact.Applied[m.ID] = projector.Migration{ID: m.ID, Checksum: m.Checksum}
	}
	c.run = policy.Evaluate(c.manifest, exact, c.cfg.policy)
	return c
}

// Check returns the verdict for the database as it is now.
func (c *Checker) Check(ctx context.Context) (policy.Verdict, error) {
	v, err := c.checkAndCheckIn(ctx)
	if err != nil || v.Decision != policy.Migrate || c.migrate == nil {
		return v, err
	}
	if _, err := c.migrate.Up(ctx, UpOptions{}); err != nil {
		// Another release may have migrated between the read and the
		// lock: the plan, made under the lock, refused. That refusal is
		// the verdict now — not an error beside a stale one.
		var perr *PlanError
		if errors.As(err, &perr) && perr.Verdict != nil {
			return *perr.Verdict, nil
		}
		return policy.Verdict{}, err
	}
	return c.checkAndCheckIn(ctx)
}

// check decides; with rec (WithCheckIn) its head read also records the
// sighting when the fast path answers.
func (c *Checker) check(ctx context.Context, rec *checkInResult) (policy.Verdict, error) {
	store := c.store
	head, err := c.readHead(ctx, rec)
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
		if err := foreignError(ctx, c.db, c.store.Schema(), c.cfg.tenant); err != nil {
			return policy.Verdict{}, err
		}
		return policy.Evaluate(c.manifest, projector.NewState(), c.cfg.policy), nil
	case errors.As(err, &format), errors.As(err, &corrupt):
		return policy.Unverifiable(c.manifest, c.cfg.policy, factOf(err)), nil
	case err != nil:
		return policy.Verdict{}, err
	}
	// What the verdict stands on (no failures), in one more round trip:
	// with an empty ledger (ledger init, or a first up that failed or is
	// still running), whether it ever migrated and the relations that may
	// be another tool's history table go in the same batch — a database
	// another tool migrated must be adopted. Only if there are such
	// relations does a third round trip read them.
	var probes []ledger.Probe
	var fp *foreignProbe
	if head.SchemaVersion == "" {
		fp = newForeignProbe(store, head)
		probes = fp.probes()
	}
	state, _, err := store.VerdictState(ctx, probes...)
	if fp != nil && fp.done {
		if err := fp.refuse(ctx, c.db, store.Schema(), c.cfg.tenant); err != nil {
			return policy.Verdict{}, err
		}
	}
	switch {
	case errors.As(err, &format), errors.As(err, &corrupt):
		return policy.Unverifiable(c.manifest, c.cfg.policy, factOf(err)), nil
	case err != nil:
		return policy.Verdict{}, err
	}
	return policy.Evaluate(c.manifest, state, c.cfg.policy), nil
}

// State reads the ledger's projection without a lock; a database without a
// ledger is the empty state.
func (c *Checker) State(ctx context.Context) (projector.State, error) {
	state, _, err := c.store.State(ctx)
	if errors.Is(err, ledger.ErrNotInitialized) {
		return projector.NewState(), nil
	}
	return state, err
}
