package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
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

// command is one subcommand (or a family of them: `ledger rollout
// status`). Its flags live in a struct of its own, made fresh by newFlags,
// which attaches the flag groups it uses and registers its own flags; a
// flag it does not register does not exist for it.
//
// To add a command: write a struct with the groups and flags it reads, its
// flags method (e.attach(fs, &c.db, …) and fs.XxxVar for its own) and its
// run method, and list the command in commands().
type command struct {
	name    string
	args    string // the synopsis after the name
	short   string
	long    string
	example string
	// nargs is how many positional arguments it takes: 0 none, n exactly
	// n, -1 any number (run checks them).
	nargs int
	// argsWant says what the positional arguments are, for the error
	// when they are missing ("one migration ID").
	argsWant string
	newFlags func() runnable
	// subs are the commands of a family; with subs, a family has no
	// newFlags of its own unless it runs by itself too.
	subs []*command
}

// runnable is one command's flags and what it does with them.
type runnable interface {
	flags(fs *flag.FlagSet, e *env)
	run(ctx context.Context, e *env, args []string) int
}

// env is what a running command has: its output, the flag groups it
// attached (nil when it did not), and lazily a database pool.
type env struct {
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	name   string // the command's name as typed: "up", "rollout status"
	pool   *pgxpool.Pool
	// isTerminal reports whether stderr is a terminal (progress is shown only there).
	isTerminal bool
	// given holds the flags set on the command line.
	given map[string]bool

	started time.Time // when the command began: how long a connection that timed out was waited for
	// stdoutUsed: whether the command wrote to stdout (a --json command
	// that fails before it did prints its error as JSON there).
	stdoutUsed *countingWriter
	// loadOpts are what the migration set is loaded with: a program of its
	// own running the CLI (Run with WithGoMigrations) registers its Go
	// migrations here.
	loadOpts []migrations.LoadOption
	// embedNATS starts the demo's embedded nats-server (WithEmbeddedNATS:
	// cmd/ledger-demo); nil in the ledger binary, which does not link one.
	embedNATS func(dir string) (url string, stop func(), err error)

	groups []flagGroup
	db     *dbFlags
	dir    *dirFlags
	rel    *releaseFlags
	out    *outputFlags
}

// valueFlags are the shared flags that take a value, so that they may come
// before the command (ledger --db URL status) and the command is still
// found; they are handed to the command, which must know them.
var valueFlags = map[string]bool{"db": true, "dir": true, "schema": true, "app-version": true, "policy": true, "nats": true}

func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string, opts ...Option) int {
	counted := &countingWriter{w: stdout}
	e := &env{stdout: counted, stdoutUsed: counted, stderr: stderr, getenv: getenv, isTerminal: isTerminal(stderr), given: map[string]bool{}, out: &outputFlags{}, started: time.Now()}
	for _, o := range opts {
		o(e)
	}
	// ledger --version and -v, as most tools take them: the version command.
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version" || args[0] == "-v") {
		args = append([]string{"version"}, args[1:]...)
	}
	// Flags may come before the command too: ledger --db URL status.
	var before []string
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-" && args[0] != "--" {
		name := strings.TrimLeft(args[0], "-")
		if name == "h" || name == "help" {
			usage(stdout)
			return exitOK
		}
		before = append(before, args[0])
		args = args[1:]
		if name, _, hasValue := strings.Cut(name, "="); !hasValue && valueFlags[name] && len(args) > 0 {
			before = append(before, args[0])
			args = args[1:]
		}
	}
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	if args[0] == "help" {
		return help(stdout, stderr, args[1:])
	}
	c, rest, code := find(stdout, stderr, args)
	if c == nil {
		return code
	}
	e.name = c.path
	fs := flag.NewFlagSet("ledger "+c.path, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	r := c.cmd.newFlags()
	r.flags(fs, e)
	// Flags may follow positional arguments (ledger resolve ID --applied …);
	// "--" ends the flags.
	var positional []string
	for rest = append(before, rest...); ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				commandUsage(stdout, c.cmd, c.path)
				return exitOK
			}
			return e.usageErr("%v", err)
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
	switch n := c.cmd.nargs; {
	case n == 0 && len(positional) > 0:
		return e.usageErr("unexpected argument %q", positional[0])
	case n > 0 && len(positional) != n:
		return e.usageErr("want exactly %s, got %d arguments", c.cmd.argsWant, len(positional))
	}
	for _, g := range e.groups {
		if err := g.validate(e); err != nil {
			return e.usageErr("%v", err)
		}
	}
	defer func() {
		if e.pool != nil {
			e.pool.Close()
		}
	}()
	return r.run(ctx, e, positional)
}

// found is a command found on the command line, with its full name.
type found struct {
	cmd  *command
	path string
}

// find reads the command (and a family's subcommand) from args; on a
// mistake it prints what is wrong and returns the exit code.
func find(stdout, stderr io.Writer, args []string) (*found, []string, int) {
	c := lookup(commands(), args[0])
	if c == nil {
		fmt.Fprintf(stderr, "ledger: unknown command %q%s\nRun 'ledger help' for the list of commands.\n", args[0], suggest(commands(), args[0]))
		return nil, nil, exitUsage
	}
	path, rest := c.name, args[1:]
	for len(c.subs) > 0 {
		if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			sub := lookup(c.subs, rest[0])
			if sub == nil && c.newFlags == nil {
				fmt.Fprintf(stderr, "ledger %s: unknown command %q%s\nRun 'ledger help %s' for its commands.\n", path, rest[0], suggest(c.subs, rest[0]), path)
				return nil, nil, exitUsage
			}
			if sub != nil {
				c, path, rest = sub, path+" "+sub.name, rest[1:]
				continue
			}
		}
		if c.newFlags == nil {
			if len(rest) > 0 && (rest[0] == "-h" || rest[0] == "--help" || rest[0] == "-help") {
				commandUsage(stdout, c, path)
				return nil, nil, exitOK
			}
			fmt.Fprintf(stderr, "ledger %s: which one? %s\nRun 'ledger help %s' for usage.\n", path, subNames(c), path)
			return nil, nil, exitUsage
		}
		break
	}
	return &found{cmd: c, path: path}, rest, 0
}

func subNames(c *command) string {
	names := make([]string, len(c.subs))
	for i, s := range c.subs {
		names[i] = c.name + " " + s.name
	}
	return strings.Join(names, ", ")
}

// help is `ledger help [command [subcommand]]`.
func help(stdout, stderr io.Writer, args []string) int {
	if len(args) == 0 {
		usage(stdout)
		return exitOK
	}
	cmds, path := commands(), ""
	var c *command
	for _, name := range args {
		c = lookup(cmds, name)
		if c == nil {
			fmt.Fprintf(stderr, "ledger help: unknown command %q%s\n", strings.TrimSpace(path+" "+name), suggest(cmds, name))
			return exitUsage
		}
		path, cmds = strings.TrimSpace(path+" "+c.name), c.subs
	}
	commandUsage(stdout, c, path)
	return exitOK
}

func lookup(cmds []*command, name string) *command {
	for _, c := range cmds {
		if c.name == name {
			return c
		}
	}
	return nil
}

// suggest names the closest command for a typo.
func suggest(cmds []*command, name string) string {
	best, bestD := "", 3
	for _, c := range cmds {
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
  ledger <command> [flags] [args]

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.short)
	}
	tw.Flush()
	fmt.Fprint(w, `
Common flags, on the commands that use them (environment variable in brackets):
  --db URL            PostgreSQL connection URL [DATABASE_URL; unset: PG* variables]
  --schema NAME       the ledger's schema [LEDGER_SCHEMA, default ledger]
  --dir DIR           migrations directory [LEDGER_DIR, default ./migrations]
  --app-version V     this release's version, e.g. 1.2.0 [LEDGER_APP_VERSION]
  --policy P          strict, compatible or same-major [LEDGER_POLICY, default strict]
  --nats URL          NATS server [NATS_URL]
  --json              JSON output for scripts
A flag a command does not use is an error there; 'ledger help <command>'
lists its flags.

Exit codes: 0 ok; 1 error; 2 usage; check also 3 pending, 4 refused, 5 integrity.
Run 'ledger help <command>' for a command's flags and an example.
`)
}

// flagSet is the command's flags, registered as a run registers them but
// with an empty environment (no defaults from it): for help and completion.
func (c *command) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.newFlags().flags(fs, &env{getenv: func(string) string { return "" }, given: map[string]bool{}})
	return fs
}

func commandUsage(w io.Writer, c *command, path string) {
	fmt.Fprintf(w, "Usage: ledger %s %s\n\n%s\n", path, c.args, c.short)
	if c.long != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.long))
	}
	if len(c.subs) > 0 {
		fmt.Fprintln(w, "\nCommands:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, s := range c.subs {
			fmt.Fprintf(tw, "  %s %s\t%s\n", path, s.name, s.short)
		}
		tw.Flush()
	}
	if c.newFlags != nil {
		fs := c.flagSet()
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
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
	cfg := e.db.cfg.Copy()
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
	// Every command runs each of its statements once or twice: one round
	// trip per query beats preparing it first. (up and down send each
	// migration and its record as one simple query, migrations/wire.go:
	// nothing of theirs is prepared either way.)
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "ledger " + e.name
	}
	// A server that accepts the connection and never answers must not hang
	// a container's entrypoint forever: connect_timeout in --db (or
	// PGCONNECT_TIMEOUT) says how long to wait, else defaultConnectTimeout.
	if cfg.ConnectTimeout == 0 && !strings.Contains(e.db.url, "connect_timeout") && e.getenv("PGCONNECT_TIMEOUT") == "" {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
}

// defaultConnectTimeout bounds a connection attempt when --db does not.
const defaultConnectTimeout = 10 * time.Second

// dsnError says that --db / DATABASE_URL does not parse, without its password.
func (e *env) dsnError(err error) error {
	return fmt.Errorf("invalid --db / DATABASE_URL: %v\n  want e.g. postgres://user@localhost:5432/app?sslmode=disable", redactErr(err, e.db.url))
}

// dial opens one connection in the background — for a command that reads
// a few rows once, with local work to do meanwhile — and returns what
// waits for it.
func (e *env) dial(ctx context.Context) func() (*pgx.Conn, error) {
	cfg := e.db.cfg.ConnConfig.Copy()
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
	return func() (*pgx.Conn, error) { d := <-ch; return d.conn, d.err }
}

// where describes the database without its password.
func (e *env) where() string {
	if e.db == nil || e.db.cfg == nil {
		return "(unparseable DSN)"
	}
	return describeDB(e.db.cfg.ConnConfig, e.db.cfg.ConnConfig.Database)
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

// fail prints an error with what to do, and returns the exit code. With
// --json, a command that wrote nothing to stdout yet writes the error
// there too, as {"error": …, "exit_code": …}: a script reading stdout
// always gets JSON.
func (e *env) fail(err error) int {
	msg := e.explain(err)
	fmt.Fprintf(e.stderr, "ledger %s: %s\n", e.name, msg)
	code := exitError
	switch {
	case isIntegrityError(err):
		code = exitIntegrity
	case errors.Is(err, migrations.ErrForeignHistory):
		code = exitRefused
	}
	if e.out != nil && e.out.json && e.stdoutUsed != nil && e.stdoutUsed.n == 0 {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			Command  string `json:"command"`
			Error    string `json:"error"`
			ExitCode int    `json:"exit_code"`
		}{e.name, msg, code})
	}
	return code
}

// countingWriter counts what was written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
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
		// An error that words its own fixes is rendered with ours; the
		// library returns it unwrapped.
		var worded migrations.Worded
		if errors.As(err, &worded) && worded == err {
			msg = worded.ErrorWith(e.advice)
		}
		// The ledger's advice names library calls; the fixes below say it
		// as commands.
		if fx := ledger.Fixer(nil); errors.As(err, &fx) {
			msg = strings.Replace(msg, fx.Error(), fx.Fact(), 1)
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
		msg := redactErr(pgErr, e.db.url)
		if !strings.Contains(msg, pgErr.Code) {
			msg += " (SQLSTATE " + pgErr.Code + ")"
		}
		return fmt.Sprintf("PostgreSQL at %s refused the connection: %s\n  %s", e.where(), msg, advice)
	}
	if timedOut(err) {
		// What was waited for in truth: a connection may be tried more
		// than once (TLS, then without; each address), each attempt for
		// up to the connect timeout.
		wait := time.Since(e.started).Round(time.Second).String()
		if e.db.cfg != nil {
			cfg := e.db.cfg.ConnConfig.Copy()
			e.tune(cfg)
			if cfg.ConnectTimeout > 0 {
				wait += fmt.Sprintf(", at most %s per attempt", cfg.ConnectTimeout)
			}
		}
		return fmt.Sprintf("connecting to PostgreSQL at %s timed out: no answer in %s (%s)\n  the server took the connection but did not answer; check that --db points at PostgreSQL and that it is not overloaded, or wait longer with connect_timeout=SECONDS in --db (per attempt)", e.where(), wait, redactErr(err, e.db.url))
	}
	return fmt.Sprintf("cannot connect to PostgreSQL at %s: %s\n  is the server running? Point --db or DATABASE_URL at it (e.g. postgres://user@localhost:5432/app?sslmode=disable), or set the PG* variables", e.where(), redactErr(err, e.db.url))
}

// timedOut reports whether a connection attempt ran out of time.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// advise appends the "to fix" lines of an error's fixes, worded by advice
// (the fixes a Worded error words in place are not repeated).
func (e *env) advise(msg string, fixes []migrations.Fix) string {
	for _, f := range fixes {
		switch line := e.advice(f); {
		case line == "" || strings.Contains(msg, line):
		case strings.HasPrefix(line, ";"): // a clause of the message's own line
			msg += line
		default:
			msg += "\n  " + line
		}
	}
	return msg
}

// advice is the CLI's one wording of a fix, a verdict's or an error's: the
// whole "to fix" line, naming ledger commands and flags ("" for a fix that
// needs no line here).
func (e *env) advice(f policy.Fix) string {
	switch f.Action {
	case policy.FixApply:
		return "to apply: run `ledger up` (or let the library auto-migrate at startup)"
	case policy.FixAppVersion:
		return "to fix: give this release's version with --app-version or LEDGER_APP_VERSION"
	case policy.FixRollBack:
		down := fmt.Sprintf("ledger down --to %s --use-recorded", f.To)
		if f.To == "" {
			down = fmt.Sprintf("ledger down --steps %d --use-recorded", f.Steps)
		}
		return fmt.Sprintf("to fix: deploy a release that ships these migrations, or roll the database back to this release's schema with `%s` (from this binary or the newer one)", down)
	case policy.FixSettle:
		resume := fmt.Sprintf("`ledger resolve %s --resume` goes on from statement %d", f.ID, f.From)
		if len(f.Leftover) > 0 {
			resume += fmt.Sprintf(" (it drops invalid index %s concurrently first)", strings.Join(f.Leftover, ", "))
		}
		startOver := fmt.Sprintf("`ledger resolve %s --failed --reason TEXT` lets the next up run it from its first statement", f.ID)
		if len(f.SQL) > 0 {
			startOver = fmt.Sprintf("to start over, run %s then `ledger resolve %s --failed --reason TEXT` (the next up runs it from its first statement)", strings.Join(f.SQL, " "), f.ID)
		}
		return fmt.Sprintf("to fix: check what %s left in the database; then %s; or %s; `ledger resolve %s --applied --reason TEXT` records it as done", f.ID, resume, startOver, f.ID)
	case policy.FixVerify:
		if e.name == "verify" {
			return ""
		}
		return "to fix: run `ledger verify` to see what is wrong, every difference; restore a ledger that was tampered with from a backup (a ledger in a newer format needs a newer ledger release; one in an older format is upgraded by `ledger init`)"
	case migrations.FixInit:
		return "to fix: run `ledger init` (or `ledger up`, which creates it)"
	case migrations.FixUpgrade:
		return "to fix: run `ledger init` (or `ledger up`) once with this release to upgrade it in place"
	case migrations.FixNewerRelease:
		return "to fix: use a newer ledger binary (go install github.com/schema-ledger/ledger/cmd/ledger@latest)"
	case migrations.FixSuperuser:
		return "to fix: run `ledger init --capture-ddl` once with --db as a superuser, or go without: drift is still found by verify, up and watch --db"
	case migrations.FixWriteManifest:
		return "to fix: write it again: " + e.manifestCommand(f.File)
	case migrations.FixAdopt:
		return "to take it over: " + e.adoptCommand(f)
	case migrations.FixChooseDir:
		return "; pass --dir or set LEDGER_DIR"
	case migrations.FixWaitForLock:
		return "to fix: wait for it to finish, or raise --lock-timeout"
	case migrations.FixUseRecorded:
		return "to fix: run this down with --use-recorded to use the down SQL recorded when they were applied"
	case migrations.FixDDLLockTimeout:
		return "to fix: retry when traffic is lower, or raise --ddl-lock-timeout"
	}
	return policy.LibraryAdvice(f)
}

func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}

// loadSet loads the migrations directory.
func (e *env) loadSet() (*migrations.Set, error) {
	set, err := migrations.LoadDir(e.dir.path, e.loadOpts...)
	if err != nil {
		return nil, err
	}
	e.reportSet(set)
	return set, nil
}

// reportSet prints a loaded set's warnings and the files it ignored.
func (e *env) reportSet(set *migrations.Set) {
	for _, w := range set.Warnings {
		e.warn("%s", w)
	}
	for _, name := range set.Ignored {
		fmt.Fprintf(e.stderr, "ledger %s: note: %s in %s is not a migration (want <id>.up.sql or <id>.down.sql); ignored\n", e.name, name, e.dir.path)
	}
}

// usageErr reports bad input and returns exit code 2.
func (e *env) usageErr(format string, args ...any) int {
	fmt.Fprintf(e.stderr, "ledger %s: %s\nRun 'ledger help %s' for usage.\n", e.name, fmt.Sprintf(format, args...), e.name)
	return exitUsage
}

// warn prints a warning that does not stop the command.
func (e *env) warn(format string, args ...any) {
	fmt.Fprintf(e.stderr, "ledger %s: warning: %s\n", e.name, fmt.Sprintf(format, args...))
}

func commands() []*command {
	return []*command{
		cmdInit(), cmdStatus(), cmdCheck(), cmdUp(), cmdDown(), cmdHistory(),
		cmdVerify(), cmdCheckpoint(), cmdResolve(), cmdRelay(), cmdDemo(), cmdVersion(), cmdManifest(), cmdFleet(),
		cmdDiff(), cmdAcceptDrift(), cmdReport(),
		cmdWatch(),
		cmdAdopt(), cmdBaseline(), cmdNew(), cmdCreate(), cmdLint(), cmdAccept(), cmdRedo(),
		cmdRollout(),
		cmdCompletion(),
	}
}
