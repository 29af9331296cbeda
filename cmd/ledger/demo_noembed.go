//go:build ledger_nonatsserver

package main

// embeddedNATS: this build (-tags ledger_nonatsserver) leaves out the
// demo's embedded nats-server, for a smaller binary that starts faster; the
// demo needs --nats (or NATS_URL) instead.
const embeddedNATS = false

func startEmbeddedNATS(string) (embeddedServer, error) { return nil, errNoEmbeddedNATS }
