//go:build ledger_nonats

package cli

import (
	"context"
	"flag"

	"github.com/schema-ledger/ledger/ledger"
)

// natsBuilt: this build (-tags ledger_nonats) has no NATS — no relay, watch,
// verify --nats or demo — for a smaller binary that starts sooner: the
// build for a server's startup check and its migrations. Those commands
// are still listed, and say why they do not run.
const natsBuilt = false

func cmdRelay() *command { return withoutNATS("relay", "publish every ledger event to NATS JetStream") }
func cmdWatch() *command {
	return withoutNATS("watch", "alert on NATS the moment the database drifts from a release")
}
func cmdDemo() *command {
	return withoutNATS("demo", "the whole story on a scratch database, in one command")
}

// withoutNATS is a NATS command in a build without NATS: it refuses.
func withoutNATS(name, short string) *command {
	return &command{
		name: name, short: short + " (not in this build)",
		long:  errNoNATS.Error() + ".",
		nargs: -1, newFlags: func() runnable { return notBuilt{} },
	}
}

// notBuilt is a command this build does not have: it says so.
type notBuilt struct{}

func (notBuilt) flags(*flag.FlagSet, *env) {}
func (notBuilt) run(ctx context.Context, e *env, args []string) int {
	return e.usageErr("%v", errNoNATS)
}

func (g *natsFlags) serverURL() (string, error) { return "", errNoNATS }

func (e *env) verifyNATS(context.Context, *ledger.Store, *natsFlags) (streamReport, error) {
	return streamReport{}, errNoNATS
}

func (e *env) fleetFromNATS(context.Context, *fleetCmd) int { return e.usageErr("%v", errNoNATS) }
