package cli

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
)

// A flagGroup is a set of flags several commands share. It registers its
// flags (each help text written once, here), is attached only to the
// commands that use it, and checks what it was given before the command
// runs: a bad value is a usage error (exit 2) of exactly the commands that
// read it, and a flag no group or command registered does not exist there.
type flagGroup interface {
	register(fs *flag.FlagSet, e *env)
	validate(e *env) error
}

// attach registers groups on fs; runWith validates them after parsing.
func (e *env) attach(fs *flag.FlagSet, groups ...flagGroup) {
	for _, g := range groups {
		g.register(fs, e)
		e.groups = append(e.groups, g)
	}
}

// envOr is the environment variable name's value, or def.
func (e *env) envOr(name, def string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return def
}

// ---- database: --db, --schema

// dbFlags say which database and which ledger in it — or, with --tenant,
// which tenant of a schema-per-tenant database: its migrations run with
// its schema first on search_path, and its ledger is the schema
// ledger.TenantSchema(--schema, --tenant) (ledger_acme for tenant acme).
type dbFlags struct {
	url    string // a connection URL or key=value DSN; "" means the PG* variables
	schema string // the ledger's schema (with --tenant: the tenant's ledger, once validated)
	base   string // --schema as given
	tenant string
	cfg    *pgxpool.Config // url parsed, once (by validate)
}

func (g *dbFlags) register(fs *flag.FlagSet, e *env) {
	g.url, g.schema = e.getenv("DATABASE_URL"), e.envOr("LEDGER_SCHEMA", ledger.DefaultSchema)
	g.tenant = e.getenv("LEDGER_TENANT")
	fs.StringVar(&g.url, "db", g.url, "PostgreSQL connection `URL` [DATABASE_URL; unset: the PG* variables and libpq defaults]")
	fs.StringVar(&g.schema, "schema", g.schema, "the ledger's `schema` in that database (with --tenant: the base of the tenants' ledger schemas) [LEDGER_SCHEMA]")
	fs.StringVar(&g.tenant, "tenant", g.tenant, "one tenant of a schema-per-tenant database: its `schema`; its migrations run there and its ledger is <schema>_<tenant>, e.g. ledger_acme [LEDGER_TENANT]")
	e.db = g
}

// options are the library options that address this ledger (and tenant).
func (g *dbFlags) options() []migrations.Option {
	if g.tenant != "" {
		return []migrations.Option{migrations.WithSchema(g.base), migrations.WithTenant(g.tenant)}
	}
	return []migrations.Option{migrations.WithSchema(g.schema)}
}

func (g *dbFlags) validate(e *env) error {
	if err := ledger.ValidateSchemaName(g.schema); err != nil {
		return fmt.Errorf("--schema: %w", err)
	}
	g.base = g.schema
	if g.tenant != "" {
		s, err := ledger.TenantSchema(g.base, g.tenant)
		if err != nil {
			return fmt.Errorf("--tenant: %w", err)
		}
		g.schema = s
	}
	cfg, err := pgxpool.ParseConfig(g.url) // pool_max_conns and the like too
	if err != nil {
		return e.dsnError(err)
	}
	g.cfg = cfg
	if w := ledger.PlacementWarning(g.schema); w != "" {
		e.warn("%s", w)
	}
	return nil
}

// ---- directory: --dir

// dirFlags say where the migration files are.
type dirFlags struct{ path string }

func (g *dirFlags) register(fs *flag.FlagSet, e *env) {
	g.path = e.envOr("LEDGER_DIR", "./migrations")
	fs.StringVar(&g.path, "dir", g.path, "migrations `directory` [LEDGER_DIR]")
	e.dir = g
}

func (g *dirFlags) validate(*env) error { return nil }

// ---- release: --app-version (and --policy)

// releaseFlags are this release: its version, parsed once into a
// *semver.Version, and (where the command judges) its policy, parsed once
// into a policy.Policy. Commands that only record who wrote an event take
// the version alone.
type releaseFlags struct {
	withPolicy bool // register --policy too

	versionText, policyText string
	// versionGiven, policyGiven: set on the command line or by the
	// environment, rather than left at the default (a manifest's own
	// version and policy must agree with them).
	versionGiven, policyGiven bool

	version *semver.Version // nil: not given
	policy  policy.Policy
}

func (g *releaseFlags) register(fs *flag.FlagSet, e *env) {
	g.versionText = e.getenv("LEDGER_APP_VERSION")
	g.versionGiven = g.versionText != ""
	fs.Func("app-version", "this release's `version`, e.g. 1.2.0 [LEDGER_APP_VERSION]", func(s string) error {
		g.versionText, g.versionGiven = s, true
		return nil
	})
	g.policyText = e.envOr("LEDGER_POLICY", "strict")
	g.policyGiven = e.getenv("LEDGER_POLICY") != ""
	if g.withPolicy {
		fs.Func("policy", "`policy` for migrations this release does not know: strict (default), compatible or same-major; +out-of-order (e.g. strict+out-of-order) also applies pending migrations ordered before an applied one [LEDGER_POLICY]", func(s string) error {
			g.policyText, g.policyGiven = s, true
			return nil
		})
	}
	e.rel = g
}

func (g *releaseFlags) validate(*env) error {
	if g.versionText != "" {
		v, err := policy.ParseAppVersion(g.versionText)
		if err != nil {
			return fmt.Errorf("--app-version: %w", err)
		}
		g.version = v
	}
	if !g.withPolicy {
		return nil
	}
	p, err := policy.Parse(g.policyText)
	if err != nil {
		return fmt.Errorf("--policy: %w", err)
	}
	g.policy = p
	return nil
}

// appVersion is the release's version as given ("" when not given).
func (g *releaseFlags) appVersion() string {
	if g == nil || g.version == nil {
		return ""
	}
	return g.versionText
}

// options are the library options of this release.
func (g *releaseFlags) options() []migrations.Option {
	var opts []migrations.Option
	if g.version != nil {
		opts = append(opts, migrations.WithAppVersion(g.versionText))
	}
	if g.withPolicy {
		opts = append(opts, migrations.WithPolicy(g.policy))
	}
	return opts
}

// ---- lock: --lock-timeout (and --ddl-lock-timeout)

// lockFlags bound how long a command that takes the migration lock waits
// for it, and (for commands that run migrations' statements) how long each
// statement waits for its table locks. The library checks the values.
type lockFlags struct {
	withDDL             bool
	lockTimeout, ddlLck time.Duration
}

func (g *lockFlags) register(fs *flag.FlagSet, e *env) {
	fs.DurationVar(&g.lockTimeout, "lock-timeout", migrations.DefaultLockTimeout, "wait at most this `duration` for the migration lock while another migrator holds it")
	if g.withDDL {
		fs.DurationVar(&g.ddlLck, "ddl-lock-timeout", 0, "lock_timeout for the migrations' own statements (0: the server's): fail fast instead of queueing behind traffic")
	}
}

func (g *lockFlags) validate(*env) error {
	if err := positiveDuration("lock-timeout", g.lockTimeout); err != nil {
		return err
	}
	if g.ddlLck < 0 {
		return fmt.Errorf("--ddl-lock-timeout %s: want zero (the server's) or a positive duration", g.ddlLck)
	}
	return nil
}

func (g *lockFlags) options() []migrations.Option {
	opts := []migrations.Option{migrations.WithLockTimeout(g.lockTimeout)}
	if g.withDDL {
		opts = append(opts, migrations.WithDDLLockTimeout(g.ddlLck))
	}
	return opts
}

// ---- output: --json

// outputFlags choose text for people or JSON for scripts.
type outputFlags struct{ json bool }

func (g *outputFlags) register(fs *flag.FlagSet, e *env) {
	fs.BoolVar(&g.json, "json", false, "write JSON for scripts")
	e.out = g
}

func (g *outputFlags) validate(*env) error { return nil }

// ---- small values

// stringList is a repeatable, comma-separable flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*s = append(*s, part)
		}
	}
	return nil
}

// positiveDuration is a duration flag that must be positive.
func positiveDuration(name string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("--%s %s: want a positive duration", name, d)
	}
	return nil
}
