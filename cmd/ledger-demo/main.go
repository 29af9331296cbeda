// Command ledger-demo is `ledger demo` with a nats-server embedded: the
// whole story on a scratch database, with a relay, a subscriber and a
// watcher on NATS, and nothing to install but PostgreSQL:
//
//	go run github.com/schema-ledger/ledger/cmd/ledger-demo@latest [--db URL] [--keep]
//
// The ledger binary itself runs the demo only on a NATS server it is given
// (ledger demo --nats URL): the server is linked here, not there, so that
// every `ledger check` at a server's start does not pay for it.
package main

import (
	"github.com/schema-ledger/ledger/cli"
	"github.com/schema-ledger/ledger/internal/demonats"
)

func main() { cli.Demo(cli.WithEmbeddedNATS(demonats.Start)) }
