package cli

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Main runs the ledger command line on os.Args and exits with its code.
// Ctrl-C and SIGTERM cancel the command's context: a running migration is
// cancelled, rolled back and recorded, as `ledger up` promises.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Run runs one ledger command line (args without the program name),
// writing to stdout and stderr, and returns its exit code (see `ledger
// help`). It reads the environment (DATABASE_URL, LEDGER_DIR, …) as the
// ledger binary does.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWith(ctx, args, stdout, stderr, os.Getenv)
}
