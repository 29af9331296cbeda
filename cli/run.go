package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
)

// Exit codes. check uses all of them; other commands 0, 1, 2 (and verify 5).
const (
	exitOK        = 0
	exitError     = 1
	exitUsage     = 2
	exitPending   = 3
	exitRefused   = 4
	exitIntegrity = 5
)

// command is one subcommand.
type command struct {
	name    string
	args    string // the synopsis after the name
	short   string
	long    string
	example string
	flags   func(fs *flag.FlagSet, o *cmdFlags)
	run     func(ctx context.Context, e *env, args []string) int
}

// cmdFlags holds every command's own flags; each command registers those it uses.
type cmdFlags struct {
	to, migration, actor, since, until, reason string
	manifest, output, verifyManifest           string
	asOf, release, format                      string
	instance                                   string
	checkIn, allowBreaking                     bool
	window                                     time.Duration
	types, expectHead                          stringList
	steps, limit                               int
	dryRun, rehearse, useRecorded, keep        bool
	applied, failed, resume                    bool
	refuseDrift, captureDDL                    bool
	watch                                      watchFlags // watch (natsflags.go)
	lockTimeout, ddlLockTimeout                time.Duration
	adopt                                      adoptFlags // adopt, baseline, new, lint, accept (adopt.go)
	relay                                      relayFlags // relay, demo (natsflags.go)
}

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

// globals are the flags every command takes, defaulted from the environment.
type globals struct {
	db, dir, schema, appVersion, policy, nats string
	json                                      bool
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.db, "db", g.db, "PostgreSQL connection `URL` [DATABASE_URL; unset: the PG* variables and libpq defaults]")
	fs.StringVar(&g.dir, "dir", g.dir, "migrations `directory` [LEDGER_DIR]")
	fs.StringVar(&g.schema, "schema", g.schema, "ledger `schema` [LEDGER_SCHEMA]")
	fs.StringVar(&g.appVersion, "app-version", g.appVersion, "this release's `version`, e.g. 1.2.0 [LEDGER_APP_VERSION]")
	fs.StringVar(&g.policy, "policy", g.policy, "`policy` for migrations this release does not know: strict, compatible or same-major; +out-of-order (e.g. strict+out-of-order) also applies pending migrations ordered before an applied one [LEDGER_POLICY]")
	fs.StringVar(&g.nats, "nats", g.nats, "NATS server `URL` [NATS_URL]")
	fs.BoolVar(&g.json, "json", g.json, "write JSON for scripts")
}

func defaultGlobals(getenv func(string) string) globals {
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	return globals{
		db:         getenv("DATABASE_URL"),
		dir:        or(getenv("LEDGER_DIR"), "./migrations"),
		schema:     or(getenv("LEDGER_SCHEMA"), ledger.DefaultSchema),
		appVersion: getenv("LEDGER_APP_VERSION"),
		policy:     or(getenv("LEDGER_POLICY"), "strict"),
		nats:       getenv("NATS_URL"),
	}
}

// env is what a running command has: its flags, its output, and lazily a
// database pool.
type env struct {
	g      globals
	f      cmdFlags
	stdout io.Writer
	stderr io.Writer
	name   string
	pool   *pgxpool.Pool
	// isTerminal reports whether stderr is a terminal (progress is shown only there).
	isTerminal bool
	// given holds the global flags set on the command line or by their
	// environment variable, as opposed to left at their defaults.
	given map[string]bool
}

func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{g: defaultGlobals(getenv), stdout: stdout, stderr: stderr, isTerminal: isTerminal(stderr), given: map[string]bool{}}
	for flagName, envName := range map[string]string{"app-version": "LEDGER_APP_VERSION", "policy": "LEDGER_POLICY"} {
		e.given[flagName] = getenv(envName) != ""
	}
	// Global flags may come before the command too: ledger --db URL status.
	pre := flag.NewFlagSet("ledger", flag.ContinueOnError)
	pre.SetOutput(io.Discard)
	e.g.register(pre)
	if err := pre.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "ledger: %v\nRun 'ledger help' for usage.\n", err)
		return exitUsage
	}
	pre.Visit(func(f *flag.Flag) { e.given[f.Name] = true })
	args = pre.Args()
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" {
		if len(args) > 1 {
			c := lookup(args[1])
			if c == nil {
				fmt.Fprintf(stderr, "ledger help: unknown command %q%s\n", args[1], suggest(args[1]))
				return exitUsage
			}
			commandUsage(stdout, c)
			return exitOK
		}
		usage(stdout)
		return exitOK
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(stderr, "ledger: unknown command %q%s\nRun 'ledger help' for the list of commands.\n", name, suggest(name))
		return exitUsage
	}
	e.name = c.name
	fs := flag.NewFlagSet("ledger "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e.g.register(fs)
	if c.flags != nil {
		c.flags(fs, &e.f)
	}
	// Flags may follow positional arguments (ledger resolve ID --applied …);
	// "--" ends the flags.
	var positional []string
	for rest := args[1:]; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				commandUsage(stdout, c)
				return exitOK
			}
			fmt.Fprintf(stderr, "ledger %s: %v\nRun 'ledger help %s' for usage.\n", c.name, err, c.name)
			return exitUsage
		}
		fs.Visit(func(f *flag.Flag) { e.given[f.Name] = true })
		if fs.NArg() == 0 {
			break
		}
		if consumed := len(rest) - fs.NArg(); consumed > 0 && rest[consumed-1] == "--" {
			positional = append(positional, fs.Args()...)
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	defer func() {
		if e.pool != nil {
			e.pool.Close()
		}
	}()
	return c.run(ctx, e, positional)
}

func lookup(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return c
		}
	}
	return nil
}

// suggest names the closest command for a typo.
func suggest(name string) string {
	best, bestD := "", 3
	for _, c := range commands() {
		if d := editDistance(name, c.name); d < bestD {
			best, bestD = c.name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func usage(w io.Writer) {
	fmt.Fprint(w, `ledger — an event-sourced migration ledger for PostgreSQL

Every schema change is an append-only, hash-chained event. A release knows
exactly which migrations it does not know were applied after it, by whom,
when and from which release — and refuses to run instead of guessing.

Usage:
  ledger [global flags] <command> [flags] [args]

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.short)
	}
	tw.Flush()
	fmt.Fprint(w, `
Global flags (environment variable in brackets):
  --db URL            PostgreSQL connection URL [DATABASE_URL; unset: PG* variables]
  --dir DIR           migrations directory [LEDGER_DIR, default ./migrations]
  --schema NAME       ledger schema [LEDGER_SCHEMA, default ledger]
  --app-version V     this release's version, e.g. 1.2.0 [LEDGER_APP_VERSION]
  --policy P          strict, compatible or same-major [LEDGER_POLICY, default strict]
  --nats URL          NATS server [NATS_URL]
  --json              JSON output for scripts

Exit codes: 0 ok; 1 error; 2 usage; check also 3 pending, 4 refused, 5 integrity.
Run 'ledger help <command>' for a command's flags and an example.
`)
}

func commandUsage(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage: ledger %s %s\n\n%s\n", c.name, c.args, c.short)
	if c.long != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.long))
	}
	if c.flags != nil {
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		var f cmdFlags
		c.flags(fs, &f)
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	fmt.Fprintln(w, "\nGlobal flags: --db, --dir, --schema, --app-version, --policy, --nats, --json (see 'ledger help').")
	if c.example != "" {
		fmt.Fprintf(w, "\nExample:\n%s\n", c.example)
	}
}

// connect opens the pool lazily; the first query connects. Errors name the
// server without its password and say what to do.
func (e *env) connect(ctx context.Context) (*pgxpool.Pool, error) {
	if e.pool != nil {
		return e.pool, nil
	}
	cfg, err := pgxpool.ParseConfig(e.g.db)
	if err != nil {
		return nil, e.dsnError(err)
	}
	cfg.MaxConns = 4
	e.tune(cfg.ConnConfig)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	e.pool = pool
	return pool, nil
}

// tune sets what every connection of a command gets.
func (e *env) tune(cfg *pgx.ConnConfig) {
	// Commands that run each statement once or twice: one round trip per
	// query beats preparing it first. up and down repeat theirs per
	// migration, where prepared statements pay off.
	if e.name != "up" && e.name != "down" {
		cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "ledger " + e.name
	}
	// A server that accepts the connection and never answers must not hang
	// a container's entrypoint forever: connect_timeout in --db (or
	// PGCONNECT_TIMEOUT) says how long to wait, else defaultConnectTimeout.
	if cfg.ConnectTimeout == 0 && !strings.Contains(e.g.db, "connect_timeout") && os.Getenv("PGCONNECT_TIMEOUT") == "" {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
}

// defaultConnectTimeout bounds a connection attempt when --db does not.
const defaultConnectTimeout = 10 * time.Second

// dsnError says that --db / DATABASE_URL does not parse, without its password.
func (e *env) dsnError(err error) error {
	return fmt.Errorf("invalid --db / DATABASE_URL: %v\n  want e.g. postgres://user@localhost:5432/app?sslmode=disable", redactErr(err, e.g.db))
}

// dial opens one connection in the background — for a command that reads
// a few rows once, with local work to do meanwhile — and returns what
// waits for it.
func (e *env) dial(ctx context.Context) (func() (*pgx.Conn, error), error) {
	cfg, err := pgx.ParseConfig(e.g.db)
	if err != nil {
		return nil, e.dsnError(err)
	}
	e.tune(cfg)
	type dialed struct {
		conn *pgx.Conn
		err  error
	}
	ch := make(chan dialed, 1)
	go func() {
		c, err := pgx.ConnectConfig(ctx, cfg)
		ch <- dialed{c, err}
	}()
	return func() (*pgx.Conn, error) { d := <-ch; return d.conn, d.err }, nil
}

// where describes the database without its password.
func (e *env) where() string {
	cfg, err := pgx.ParseConfig(e.g.db)
	if err != nil {
		return "(unparseable DSN)"
	}
	return describeDB(cfg, cfg.Database)
}

// describeDB names a database as a URL without the password.
func describeDB(cfg *pgx.ConnConfig, db string) string {
	if db == "" {
		db = cfg.User
	}
	if strings.HasPrefix(cfg.Host, "/") {
		return fmt.Sprintf("postgres://%s@/%s?host=%s", cfg.User, db, cfg.Host)
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, db)
}

func redactErr(err error, dsn string) string {
	msg := err.Error()
	if cfg, perr := pgx.ParseConfig(dsn); perr == nil && cfg.Password != "" {
		msg = strings.ReplaceAll(msg, cfg.Password, "xxxxx")
	}
	return msg
}

// fail prints an error with what to do, and returns the exit code.
func (e *env) fail(err error) int {
	fmt.Fprintf(e.stderr, "ledger %s: %s\n", e.name, e.explain(err))
	if isIntegrityError(err) {
		return exitIntegrity
	}
	if errors.Is(err, migrations.ErrForeignHistory) {
		return exitRefused
	}
	return exitError
}

// explain adds advice to errors a user can act on: the library's fixes
// worded as ledger commands and flags.
func (e *env) explain(err error) string {
	// A migration that failed (a connection lost mid-run, a failed attempt
	// to record it on a new one) says what happened itself: it is no
	// advice about --db.
	var merr *migrations.MigrationError
	if !isConnectError(err) || errors.As(err, &merr) {
		msg := err.Error()
		if perr := (*migrations.PlanError)(nil); errors.As(err, &perr) {
			msg = strings.Replace(msg, perr.Error(), perr.ErrorWith(cliAdvice), 1)
		}
		if fe := (*migrations.ForeignHistoryError)(nil); errors.As(err, &fe) {
			msg = strings.Replace(msg, fe.Error(), fe.ErrorWith(e.adoptCommand), 1)
		}
		return e.advise(msg, migrations.Fixes(err))
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		advice := "check --db or DATABASE_URL"
		switch pgErr.Code {
		case "3D000":
			advice = "create the database, or point --db / DATABASE_URL at an existing one"
		case "28000", "28P01":
			advice = "check the user and password in --db / DATABASE_URL (or PGUSER, PGPASSWORD, ~/.pgpass)"
		case "53300":
			advice = "the server has no free connection slot; retry later or raise max_connections"
		}
		msg := redactErr(pgErr, e.g.db)
		if !strings.Contains(msg, pgErr.Code) {
			msg += " (SQLSTATE " + pgErr.Code + ")"
		}
		return fmt.Sprintf("PostgreSQL at %s refused the connection: %s\n  %s", e.where(), msg, advice)
	}
	if timedOut(err) {
		wait := "the connect timeout"
		if cfg, perr := pgx.ParseConfig(e.g.db); perr == nil {
			e.tune(cfg)
			wait = cfg.ConnectTimeout.String()
		}
		return fmt.Sprintf("connecting to PostgreSQL at %s timed out: no answer within %s (%s)\n  the server took the connection but did not answer; check that --db points at PostgreSQL and that it is not overloaded, or wait longer with connect_timeout=SECONDS in --db", e.where(), wait, redactErr(err, e.g.db))
	}
	return fmt.Sprintf("cannot connect to PostgreSQL at %s: %s\n  is the server running? Point --db or DATABASE_URL at it (e.g. postgres://user@localhost:5432/app?sslmode=disable), or set the PG* variables", e.where(), redactErr(err, e.g.db))
}

// timedOut reports whether a connection attempt ran out of time.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// advise words the library's fixes (structured, so that the library holds
// no shell advice) as ledger commands and flags.
func (e *env) advise(msg string, fixes []migrations.Fix) string {
	for _, f := range fixes {
		switch f.Action {
		case migrations.FixInit:
			msg += "\n  to fix: run `ledger init` (or `ledger up`, which creates it)"
		case migrations.FixUpgrade:
			msg += "\n  to fix: run `ledger init` (or `ledger up`) once with this release to upgrade it in place"
		case migrations.FixNewerRelease:
			msg += "\n  to fix: use a newer ledger binary (go install github.com/schema-ledger/ledger/cmd/ledger@latest)"
		case migrations.FixVerify:
			if e.name != "verify" {
				msg += "\n  to fix: run `ledger verify` to see every difference, and restore the ledger from a backup"
			}
		case migrations.FixSuperuser:
			msg += "\n  to fix: run `ledger init --capture-ddl` once with --db as a superuser, or go without: drift is still found by verify, up and watch --db"
		case migrations.FixWriteManifest:
			msg += "\n  to fix: write it again: " + e.manifestCommand()
		case migrations.FixAdopt:
			// Worded in place, per history (ForeignHistoryError.ErrorWith).
		case migrations.FixChooseDir:
			msg += "; pass --dir or set LEDGER_DIR"
		case migrations.FixWaitForLock:
			msg += "\n  to fix: wait for it to finish, or raise --lock-timeout"
		case migrations.FixUseRecorded:
			msg += "\n  to fix: run this down with --use-recorded to use the down SQL recorded when they were applied"
		case migrations.FixDDLLockTimeout:
			msg += "\n  to fix: retry when traffic is lower, or raise --ddl-lock-timeout"
		case migrations.FixSettle:
			first := ""
			if len(f.SQL) > 0 {
				first = "run " + strings.Join(f.SQL, " ") + " then "
			}
			msg += fmt.Sprintf("\n  to fix: %s`ledger resolve %s --resume` goes on from statement %d; `--failed --reason TEXT` lets the next up run it from its first statement; `--applied --reason TEXT` records it as done", first, f.ID, f.From)
		}
	}
	return msg
}

func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}

// loadSet loads the migrations directory.
func (e *env) loadSet() (*migrations.Set, error) {
	set, err := migrations.LoadDir(e.g.dir)
	if err != nil {
		return nil, err
	}
	e.reportSet(set)
	return set, nil
}

// reportSet prints a loaded set's warnings and the files it ignored.
func (e *env) reportSet(set *migrations.Set) {
	for _, w := range set.Warnings {
		fmt.Fprintf(e.stderr, "ledger %s: warning: %s\n", e.name, w)
	}
	for _, name := range set.Ignored {
		fmt.Fprintf(e.stderr, "ledger %s: note: %s in %s is not a migration (want <id>.up.sql or <id>.down.sql); ignored\n", e.name, name, e.g.dir)
	}
}

// options turns the global flags into library options, validating them.
func (e *env) options() ([]migrations.Option, error) {
	opts := []migrations.Option{migrations.WithSchema(e.g.schema)}
	if err := ledger.ValidateSchemaName(e.g.schema); err != nil {
		return nil, fmt.Errorf("--schema: %w", err)
	}
	if w := ledger.PlacementWarning(e.g.schema); w != "" {
		fmt.Fprintf(e.stderr, "ledger %s: warning: %s\n", e.name, w)
	}
	if e.g.appVersion != "" {
		if _, err := policy.ParseAppVersion(e.g.appVersion); err != nil {
			return nil, fmt.Errorf("--app-version: %w", err)
		}
		opts = append(opts, migrations.WithAppVersion(e.g.appVersion))
	}
	p, err := policy.Parse(e.g.policy)
	if err != nil {
		return nil, fmt.Errorf("--policy: %w", err)
	}
	return append(opts, migrations.WithPolicy(p)), nil
}

// usageErr reports bad input and returns exit code 2.
func (e *env) usageErr(format string, args ...any) int {
	fmt.Fprintf(e.stderr, "ledger %s: %s\nRun 'ledger help %s' for usage.\n", e.name, fmt.Sprintf(format, args...), e.name)
	return exitUsage
}

func commands() []*command {
	return []*command{
		cmdInit(), cmdStatus(), cmdCheck(), cmdUp(), cmdDown(), cmdHistory(),
		cmdVerify(), cmdCheckpoint(), cmdResolve(), cmdRelay(), cmdDemo(), cmdVersion(), cmdManifest(), cmdFleet(),
		cmdDiff(), cmdAcceptDrift(),
		cmdWatch(),
		cmdAdopt(), cmdBaseline(), cmdNew(), cmdCreate(), cmdLint(), cmdAccept(), cmdRedo(),
	}
}

// cliAdvice words a verdict's fixes as ledger commands (the library's own
// wording, policy.LibraryAdvice, names none).
func cliAdvice(f policy.Fix) string {
	switch f.Action {
	case policy.FixApply:
		return "to apply: run `ledger up` (or let the library auto-migrate at startup)"
	case policy.FixVerify:
		return "to fix: run `ledger verify` to see what is wrong; if the ledger format is newer than this binary understands, use a newer ledger release; if older, run `ledger init` (or `ledger up`) once with this release to upgrade it in place"
	case policy.FixAppVersion:
		return "to fix: give this release's version with --app-version or LEDGER_APP_VERSION"
	case policy.FixSettle:
		return fmt.Sprintf("to fix: check what %s left in the database, then go on from statement %d with `ledger resolve %s --resume`, or record it with `ledger resolve %s --applied --reason ...` or `ledger resolve %s --failed --reason ...`", f.ID, f.From, f.ID, f.ID, f.ID)
	case policy.FixRollBack:
		down := fmt.Sprintf("ledger down --to %s --use-recorded", f.To)
		if f.To == "" {
			down = fmt.Sprintf("ledger down --steps %d --use-recorded", f.Steps)
		}
		return fmt.Sprintf("to fix: deploy a release that ships these migrations, or roll the database back to this release's schema with `%s` (from this binary or the newer one)", down)
	}
	return policy.LibraryAdvice(f)
}
