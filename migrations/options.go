package migrations

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/policy"
)

// Option configures Check and the Runner.
type Option func(*config) error

type config struct {
	schema         string
	appVersion     string
	host           string
	policy         policy.Policy
	logger         *slog.Logger
	lockTimeout    time.Duration
	ddlLockTimeout time.Duration
	progress       func(Progress)
	autoMigrate    bool
	refuseDrift    bool
	// Releases over time (checkin.go, guard.go).
	checkIn       *CheckIn
	clock         func() time.Time // nil: the database server's clock
	fleetWindow   time.Duration
	allowBreaking bool
	// Fleets (the fleet package): a tenant schema, the rollout recorded in
	// each migration.applied.
	tenant  string
	rollout string
}

// DefaultLockTimeout is how long a migrator waits for the migration lock.
const DefaultLockTimeout = time.Minute

func newConfig(opts []Option) (config, error) {
	c := config{
		schema:      ledger.DefaultSchema,
		policy:      policy.Strict,
		logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		lockTimeout: DefaultLockTimeout,
		fleetWindow: DefaultFleetWindow,
	}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return c, err
		}
	}
	if c.tenant != "" {
		schema, err := ledger.TenantSchema(c.schema, c.tenant)
		if err != nil {
			return c, err
		}
		c.schema = schema
	}
	return c, nil
}

// WithTenant runs the set in one tenant's schema of a database that holds
// a schema per tenant: each migration runs with that schema first on
// search_path (then public, for shared extensions), so its unqualified
// names are the tenant's; the ledger is the tenant's own, in schema
// ledger.TenantSchema(base, tenant) where base is WithSchema's name
// (default "ledger": tenant acme's ledger is ledger_acme); drift and
// fingerprints cover that schema only. Safe with a pool shared by many
// tenants: the search_path is set for each migration, never left behind.
func WithTenant(schema string) Option {
	return func(c *config) error {
		if schema == "" {
			return fmt.Errorf("WithTenant: empty schema name")
		}
		c.tenant = schema
		return nil
	}
}

// WithRollout records the id of the fleet rollout this run is part of in
// each migration.applied it records.
func WithRollout(id string) Option {
	return func(c *config) error { c.rollout = id; return nil }
}

// WithSchema names the ledger schema (default "ledger").
func WithSchema(name string) Option {
	return func(c *config) error {
		if err := ledger.ValidateSchemaName(name); err != nil {
			return err
		}
		c.schema = name
		return nil
	}
}

// WithAppVersion is this binary's release ("1.2.0" or "v1.2.0"): recorded
// with every event it writes, and what the compatible and same-major
// policies compare with.
func WithAppVersion(v string) Option {
	return func(c *config) error {
		if _, err := policy.ParseAppVersion(v); err != nil {
			return err
		}
		c.appVersion = v
		return nil
	}
}

// WithHost sets the host recorded with events (default: os.Hostname).
func WithHost(host string) Option {
	return func(c *config) error { c.host = host; return nil }
}

// WithPolicy decides what unknown migrations mean (default policy.Strict).
func WithPolicy(p policy.Policy) Option {
	return func(c *config) error {
		if _, err := policy.Parse(p.String()); err != nil {
			return err
		}
		c.policy = p
		return nil
	}
}

// WithLogger receives one record per migration applied, reverted or failed.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("WithLogger: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithLockTimeout bounds the wait for the migration lock (default 1 minute)
// that keeps two migrators from running at once.
func WithLockTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("lock timeout %s: want a positive duration", d)
		}
		c.lockTimeout = d
		return nil
	}
}

// WithDDLLockTimeout sets lock_timeout for the migrations' own statements,
// so an ALTER TABLE queued behind production traffic fails fast with a clear
// error instead of stalling every query queued behind it. Zero keeps the
// server's setting.
func WithDDLLockTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("DDL lock timeout %s: want zero or a positive duration", d)
		}
		c.ddlLockTimeout = d
		return nil
	}
}

// WithProgress is called before and after each migration a run applies or reverts.
func WithProgress(f func(Progress)) Option {
	return func(c *config) error { c.progress = f; return nil }
}

// WithAutoMigrate makes Check run Up when its verdict is Migrate, then check again.
func WithAutoMigrate() Option {
	return func(c *config) error { c.autoMigrate = true; return nil }
}

// Progress reports where a run is.
type Progress struct {
	Direction Direction
	ID        string
	Index     int // 1-based position of this step in the run
	Total     int
	Done      bool          // false: about to run; true: finished
	Elapsed   time.Duration // since the run started
}
