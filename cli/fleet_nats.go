//go:build !ledger_nonats

package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schema-ledger/ledger/ledger/natsbus"
	"github.com/schema-ledger/ledger/watch"
)

// fleetFromNATS is fleet --nats: every ledger's state from its stream.
func (e *env) fleetFromNATS(ctx context.Context, c *fleetCmd) int {
	url, err := c.nats.serverURL()
	if err != nil {
		return e.usageErr("%v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nc, err := natsbus.Connect(cctx, c.nats.connectOptions("fleet", url, slog.New(slog.DiscardHandler)))
	if cctx.Err() != nil && ctx.Err() == nil {
		return e.fail(fmt.Errorf("cannot reach the NATS server at %s within 10s", natsbus.RedactURL(url)))
	}
	if err != nil {
		return e.fail(natsFlagError(err))
	}
	defer nc.Close()
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		return e.fail(err)
	}
	states, err := watch.FleetState(ctx, js, watch.FleetQuery{Release: c.release})
	if err != nil {
		return e.fail(err)
	}
	if c.out.json {
		if states == nil {
			states = []watch.LedgerState{}
		}
		return e.printJSON(states)
	}
	now := time.Now()
	fmt.Fprintf(e.stdout, "%d ledger(s) on %s\n\n", len(states), natsbus.RedactURL(url))
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	head := "LEDGER\tSEQ\tSCHEMA VERSION\tAPPLIED\tIN DOUBT\tFAILED\tDRIFTED\tLAST EVENT\tRELEASES SEEN"
	if c.release != "" {
		head += "\tRELEASE " + c.release
	}
	fmt.Fprintln(tw, head)
	for _, s := range states {
		last := "-"
		if s.Last != nil {
			last = fmt.Sprintf("%s %s ago by %s@%s (release %s)", s.Last.Type, ago(now, s.Last.At), orDash(s.Last.Actor), orDash(s.Last.Host), orDash(s.Last.AppVersion))
		}
		var rels []string
		for _, r := range s.Releases {
			rels = append(rels, fmt.Sprintf("%s×%d", orDash(r.AppVersion), r.Instances))
		}
		drifted := "no"
		if s.Drifted {
			drifted = "YES"
		}
		line := fmt.Sprintf("%s\t%d\t%s\t%d\t%d\t%d\t%s\t%s\t%s", s.Name, s.Seq, orDash(s.SchemaVersion), s.Applied, s.InDoubt, s.Failed, drifted, last, orDash(strings.Join(rels, ",")))
		if s.Verdict != nil {
			line += "\t" + s.Verdict.Decision
		}
		if s.Error != "" {
			line += "\t(" + s.Error + ")"
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
	return exitOK
}
