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
	// Ctrl-C and SIGTERM cancel the command's context (up then stops
	// between migrations and records what it was doing) rather than kill
	// the process. They are registered off the main goroutine: registering
	// costs ~0.2 ms (the signal loop's goroutine and thread), which a
	// startup check should not wait for before it starts connecting.
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	go func() {
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		for range sigs {
			cancel()
		}
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	signal.Stop(sigs)
	cancel()
	os.Exit(code)
}
