// Package cli is the ledger command line: it parses typed flags, calls the
// library (migrations, ledger, adopt, watch, …), renders text, JSON or
// HTML, and maps outcomes to exit codes. It decides nothing itself: what a
// report says, whether a release may run, whether a chain verifies are
// the library's answers.
//
// cmd/ledger's main is cli.Main; a program of your own can call Main or
// Run too, with options: WithGoMigrations registers its Go migrations
// (migrations.GoMigration) with the set every command loads, so the
// program has every ledger command and runs what only it compiles
// (examples/migrate).
//
// Each command has a struct of its own holding the flag groups it uses
// (flags.go: dbFlags, dirFlags, releaseFlags, lockFlags, outputFlags,
// natsFlags, …) and its own flags; a group registers its flags with one
// help text and validates them (exit 2) before the command runs, and is
// attached only where it means something, so a flag a command does not use
// is a usage error there. To add a command, see the command type in run.go.
//
// Nothing in the module imports cli (internal/layering holds that).
package cli
