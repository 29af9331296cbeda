// Package demonats starts the nats-server that `ledger-demo` embeds: the
// demo's NATS side with nothing to install. It is linked into
// cmd/ledger-demo (and the CLI's tests) only, never into the ledger binary:
// nats-server doubles that binary's size and adds to every start of it,
// the startup check's above all.
package demonats

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Start starts a nats-server with JetStream storing in dir, on a free port
// of 127.0.0.1, and returns its client URL and how to stop it (stop waits
// until it has shut down).
func Start(dir string) (url string, stop func(), err error) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		return "", nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return "", nil, fmt.Errorf("the embedded nats-server did not start within 10s")
	}
	return srv.ClientURL(), func() { srv.Shutdown(); srv.WaitForShutdown() }, nil
}
