//go:build !ledger_nonats

package main

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// natsBuilt: this build has NATS — relay, watch, verify --nats, and the
// demo with its embedded nats-server. NATS more than doubles the binary
// and adds over a millisecond to every command's start (package
// initialisation), so a build for a server's startup check may leave it
// out with -tags ledger_nonats (see nonats.go).
const natsBuilt = true

// startEmbeddedNATS starts a nats-server with JetStream storing in dir, on a
// free port of 127.0.0.1.
func startEmbeddedNATS(dir string) (embeddedServer, error) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		return nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("the embedded nats-server did not start within 10s")
	}
	return srv, nil
}
