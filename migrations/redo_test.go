package migrations_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
)

// A redo is judged whole before it touches anything. Release 1.2.0 runs
// (and refuses already: 1.3.0 applied 0004, allowed to break it): the
// redo of 0004 neither breaks nor mends it, so up's guard lets it through
// — it used to revert, then refuse the re-apply, leaving 0004 reverted.
// And a re-apply that cannot be planned (a migration pending before it)
// refuses the redo before the revert.
func TestRedoIsJudgedWhole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	r120 := newRelease("1.2.0", ids120...)
	r120.up(t, pool, "deploy-1")
	checkIn(t, pool, r120, policy.Strict, "api-1")
	r130 := r120.with("0004_users_email", catalog["0004_users_email"]).with("0004_users_email.down", "ALTER TABLE users DROP COLUMN email;")
	r130.version = "1.3.0"
	if _, err := upWith(t, pool, r130, migrations.UpOptions{}, migrations.WithAllowBreaking()); err != nil {
		t.Fatal(err)
	}
	run, err := migrations.NewRunner(pool, load(t, r130.files), r130.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := run.Redo(ctx)
	if err != nil || rep.ID != "0004_users_email" || len(rep.Reverted) != 1 || len(rep.Applied) != 1 {
		t.Fatalf("redo of 0004 while 1.2.0 (refusing already) runs: %v, %+v", err, rep)
	}
	verifyOK(t, run.Store())

	// A migration pending before 0004: the re-apply would apply it too.
	r131 := r130.with("0000_setup", "SELECT 1;")
	before := allEvents(t, pool)
	run, err = migrations.NewRunner(pool, load(t, r131.files), r131.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	rep, err = run.Redo(ctx)
	if err == nil || len(rep.Reverted) != 0 || !strings.Contains(err.Error(), "it would be reverted, but not applied again") {
		t.Fatalf("redo with a migration pending before it: %v (reverted %v)", err, rep.Reverted)
	}
	if after := allEvents(t, pool); !slices.Equal(before, after) {
		t.Errorf("a refused redo recorded: %v", after[len(before):])
	}
	if n := scalar[int64](t, pool, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'email'"); n != 1 {
		t.Error("0004 was reverted")
	}
}

// A release that checked in without an app version is named by its
// manifest in up's guard, without advice about a constraint it cannot
// satisfy.
func TestGuardNamesAReleaseWithoutAppVersion(t *testing.T) {
	t.Parallel()
	pool, _, r130 := fleetStory(t, dropLegacy)
	exec(t, pool, "DELETE FROM ledger.sightings")
	c, err := migrations.NewChecker(pool, load(t, newRelease("", ids120...).files), migrations.WithCheckIn(migrations.CheckIn{Instance: "api-7", Heartbeat: migrations.NoHeartbeat}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Check(context.Background()); err != nil || c.CheckInError() != nil {
		t.Fatalf("check without an app version: %v, check-in %v", err, c.CheckInError())
	}
	_, err = upWith(t, pool, r130, migrations.UpOptions{DryRun: true})
	var berr *migrations.BreakingError
	if !errors.As(err, &berr) {
		t.Fatalf("up: %v, want a *BreakingError", err)
	}
	says(t, err.Error(), []string{"would make release without an app version (manifest ", "deploy 1.3.0 everywhere first, or allow breaking it"},
		[]string{"release  refuse", ">= if", "compatible >=", "  can run"})
}
