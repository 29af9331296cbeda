// Package report builds the model of one page about a ledger's history —
// a timeline on a time axis with releases as bands and every transition
// marked, what each release applied, failures with their SQLSTATE, drift
// with its lines, accepted checksums and drift with their reasons, the
// schema version now, and the chain's verification with the checkpoint to
// re-check it against — and of a fleet of ledgers (a matrix of ledgers by
// migration and by release). It renders that model as one self-contained
// HTML file (RenderHTML: every style, script and drawing inline, nothing
// fetched from a network, readable without JavaScript, printable on A4) or
// as JSON, so a Go server, `ledger report` and other tools show the same
// facts.
//
// It reads a ledger only through package ledger (Store.Events, Store.Head,
// the verification) and migrations (RunnerVerifier), and folds with
// projector. It may import migrations, ledger, projector and policy; it
// must not import the CLI (package cli, which words the commands a page
// shows, through Options), the NATS side or net/http (internal/layering
// holds that).
package report
