// Package cli is the ledger command line: it parses typed flags, calls the
// library (migrations, ledger, adopt, watch, …), renders text, JSON or
// HTML, and maps outcomes to exit codes. It decides nothing itself: what a
// report says, whether a release may run, whether a chain verifies are
// the library's answers.
//
// cmd/ledger's main is cli.Main; a program of your own can call Run.
//
// Nothing in the module imports cli (internal/layering holds that).
package cli
