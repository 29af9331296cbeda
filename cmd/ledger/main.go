// Command ledger is the CLI of the migration ledger: apply and revert
// migrations, check at startup whether this release may run against a
// database, and audit every schema change. Run `ledger help` for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
