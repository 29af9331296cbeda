package migrations_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
)

// An accepted change to an applied migration's file keeps the checksum it
// replaced valid: the release that applied it, still shipping the old
// bytes, runs; the fleet judges it so; a third variant is refused with
// the checksums as they are (applied with the first, accepted as the
// second); and the ledger verifies.
func TestAcceptKeepsTheOldChecksumValid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	r120 := newRelease("1.2.0", ids120...)
	r120.up(t, pool, "deploy-1")
	checkIn(t, pool, r120, policy.Strict, "api-1")
	oldSum := load(t, r120.files).Migrations[2].Checksum

	r121 := r120.with("0003_orders_index", "-- the index on orders.user_id\n"+catalog["0003_orders_index"])
	r121.version = "1.2.1"
	run, err := migrations.NewRunner(pool, load(t, r121.files), r121.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := run.Accept(ctx, "0003_orders_index", "a comment")
	if err != nil {
		t.Fatal(err)
	}
	if acc.Previous != oldSum {
		t.Fatalf("accepted %+v, want previous %s", acc, oldSum)
	}
	wantDecision(t, r121.check(t, pool), policy.Run)
	wantDecision(t, r120.check(t, pool), policy.Run) // the old bytes: the same migration
	f, err := run.Fleet(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Releases) != 1 || f.Releases[0].Now == nil || f.Releases[0].Now.Decision != policy.Run {
		t.Errorf("fleet after accept: %+v, want 1.2.0 to run", f.Releases)
	}

	r122 := r120.with("0003_orders_index", "CREATE INDEX orders_user ON orders (user_id, id);")
	v := r122.check(t, pool)
	wantDecision(t, v, policy.Refuse, policy.CodeChecksumMismatch)
	msg := v.Message()
	short := func(s string) string { return s[:12] }
	for _, want := range []string{"with checksum " + short(oldSum) + " (accepted since as " + short(acc.Checksum) + ")"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the refusal lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "applied with checksum "+short(acc.Checksum)) || strings.Contains(msg, "with checksum "+short(acc.Checksum)+";") {
		t.Errorf("the refusal claims 0003 was applied with the accepted checksum:\n%s", msg)
	}
	verifyOK(t, run.Store())

	// A second accept of the old file: nothing to accept.
	old, err := migrations.NewRunner(pool, load(t, r120.files), r120.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Accept(ctx, "0003_orders_index", "back"); err == nil || !strings.Contains(err.Error(), "accepted for it already") {
		t.Errorf("accept of the old file: %v", err)
	}
	// The old release can revert it with its own down file's plan.
	if _, err := old.Down(ctx, migrations.DownOptions{Steps: 1, DryRun: true}); err != nil && strings.Contains(err.Error(), "checksum") {
		t.Errorf("down by the release that applied it: %v", err)
	}
}
