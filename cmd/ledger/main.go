// Command ledger is the CLI of the migration ledger: apply and revert
// migrations, check at startup whether this release may run against a
// database, and audit every schema change. Run `ledger help` for the
// commands. The commands themselves are package cli, which a program of
// your own can run too.
package main

import "github.com/schema-ledger/ledger/cli"

func main() { cli.Main() }
