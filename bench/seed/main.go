// Command ledger-seed grows a database's ledger to a given number of events
// with churn — one dummy migration, not in any benchmark set, applied and
// reverted over and over — appended through the store (ledger.Store.Append),
// 1000 events per transaction. The applied set is unchanged by the churn, so
// `ledger check` still answers "run" and `ledger verify` still verifies; only
// the event log grows. Used by bench/check-scale.sh and bench/verify-1m.sh.
//
//	DATABASE_URL=... ledger-seed -events 100000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

func main() {
	events := flag.Int64("events", 100_000, "grow the ledger to this many events (head seq)")
	per := flag.Int("per-tx", 1000, "events per transaction")
	id := flag.String("id", "999999_bench_churn", "the dummy migration's id (must not be in the migration set)")
	flag.Parse()
	if err := run(*events, *per, *id); err != nil {
		fmt.Fprintln(os.Stderr, "ledger-seed:", err)
		os.Exit(1)
	}
}

func run(target int64, per int, id string) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	st, err := ledger.New(conn, ledger.WithHost("bench-seed"), ledger.WithAppVersion("bench"))
	if err != nil {
		return err
	}
	if _, err := st.Init(ctx); err != nil {
		return err
	}
	state, h, err := st.State(ctx)
	if err != nil {
		return err
	}
	// Start with the dummy applied if a previous run left it so, then alternate.
	_, isApplied := state.Applied[id]
	applied := func() ledger.Event {
		return must(projector.NewEvent(projector.TypeMigrationApplied, projector.Applied{ID: id, Checksum: "churn-" + id, Transactional: true}))
	}
	reverted := func() ledger.Event {
		return must(projector.NewEvent(projector.TypeMigrationReverted, projector.Reverted{ID: id, Source: projector.DownFromFile}))
	}
	start, t0 := h.Seq, time.Now()
	// Stop with an even number of churn events where possible, so the dummy ends reverted.
	for seq := h.Seq; seq < target; {
		n := min(int64(per), target-seq)
		batch := make([]ledger.Event, 0, n)
		for range n {
			if isApplied {
				batch = append(batch, reverted())
			} else {
				batch = append(batch, applied())
			}
			isApplied = !isApplied
		}
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			h, err = st.Append(ctx, tx, batch...)
			return err
		}); err != nil {
			return fmt.Errorf("append at seq %d: %w", seq, err)
		}
		seq = h.Seq
	}
	if isApplied { // one more event, so the applied set is the migration set's again
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			h, err = st.Append(ctx, tx, reverted())
			return err
		}); err != nil {
			return err
		}
	}
	d := time.Since(t0)
	added := h.Seq - start
	rate := 0.0
	if d > 0 {
		rate = float64(added) / d.Seconds()
	}
	fmt.Printf("seeded %d events in %.1fs (%.0f events/s); head seq %d\n", added, d.Seconds(), rate, h.Seq)
	return nil
}

func must(e ledger.Event, err error) ledger.Event {
	if err != nil {
		panic(err)
	}
	return e
}
