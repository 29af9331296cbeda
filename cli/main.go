package cli

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/schema-ledger/ledger/migrations"
)

// Main runs the ledger command line on os.Args and exits with its code.
// Ctrl-C and SIGTERM cancel the command's context: a running migration is
// cancelled, rolled back and recorded, as `ledger up` promises.
//
// A program of its own calls it with options — its Go migrations, above
// all — and has every ledger command:
//
//	func main() { cli.Main(cli.WithGoMigrations(backfillEmails)) }
func Main(opts ...Option) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr, opts...)
	stop()
	os.Exit(code)
}

// Demo runs `ledger demo` with the arguments on os.Args (its flags: --db,
// --nats, --keep) and exits with its code: the main of cmd/ledger-demo,
// which passes WithEmbeddedNATS.
func Demo(opts ...Option) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, append([]string{"demo"}, os.Args[1:]...), os.Stdout, os.Stderr, opts...)
	stop()
	os.Exit(code)
}

// Option configures the command line a program of its own runs (Main, Run).
type Option func(*env)

// WithGoMigrations registers Go migrations (migrations.GoMigration) with
// the set every command loads from --dir: up runs them, status, check,
// verify, lint and manifest count them, down reverts them — as they would
// the files. Only a binary compiled with them can run them, so a project
// with Go migrations builds its own cmd/migrate around Main.
func WithGoMigrations(gos ...migrations.GoMigration) Option {
	return WithLoadOptions(migrations.WithGo(gos...))
}

// WithLoadOptions adds options the set is loaded with (migrations.WithGo,
// migrations.WithEnv).
func WithLoadOptions(opts ...migrations.LoadOption) Option {
	return func(e *env) { e.loadOpts = append(e.loadOpts, opts...) }
}

// WithEmbeddedNATS gives `ledger demo` a NATS server of its own when no
// --nats is given: start starts one with JetStream storing in dir and
// returns its client URL and how to stop it. cmd/ledger-demo passes
// internal/demonats.Start; the ledger binary links no server, so that its
// every start (a server's `ledger check`) does not pay for one.
func WithEmbeddedNATS(start func(dir string) (url string, stop func(), err error)) Option {
	return func(e *env) { e.embedNATS = start }
}

// Run runs one ledger command line (args without the program name),
// writing to stdout and stderr, and returns its exit code (see `ledger
// help`). It reads the environment (DATABASE_URL, LEDGER_DIR, …) as the
// ledger binary does.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, opts ...Option) int {
	return runWith(ctx, args, stdout, stderr, os.Getenv, opts...)
}
