package policy_test

import (
	"fmt"
	"time"

	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// A 1.2.5 server starts against a database that release 1.2.8 has migrated
// further. Under the strict policy it refuses, naming what it does not know.
func ExampleEvaluate() {
	at := time.Date(2026, 4, 2, 6, 30, 0, 0, time.UTC)
	var events []projector.Event
	add := func(app string, id string) {
		e, _ := projector.NewEvent(projector.TypeMigrationApplied, projector.Applied{ID: id, Checksum: "sha256:" + id, Compatible: ">=1.2.8", Transactional: true})
		e.Seq, e.RecordedAt, e.AppVersion, e.Host, e.Actor = int64(len(events)+1), at, app, "web-3", "release-bot"
		events = append(events, e)
		at = at.Add(time.Minute)
	}
	add("1.2.5", "0001_init")
	add("1.2.5", "0002_users")
	add("1.2.8", "0003_drop_column")
	state, err := projector.Fold(events)
	if err != nil {
		fmt.Println(err)
		return
	}

	binary := policy.Manifest{AppVersion: "1.2.5", Migrations: []policy.Known{
		{ID: "0001_init", Checksum: "sha256:0001_init"},
		{ID: "0002_users", Checksum: "sha256:0002_users"},
	}}
	v := policy.Evaluate(binary, state, policy.Strict)
	fmt.Println(v.Decision)
	fmt.Println(v.Message())

	v = policy.Evaluate(binary, state, policy.Compatible)
	fmt.Println(v.Decision, v.Reasons[0].Code)
	// Output:
	// refuse
	// refuse: this binary (app version 1.2.5, policy strict) does not know 1 migration applied to this database
	//   unknown: 0003_drop_column applied at 2026-04-02T06:32:00Z by app version 1.2.8 on host web-3 as release-bot, compatible ">=1.2.8": refused, policy strict refuses every migration this binary does not know
	//   to fix: deploy a release that ships these migrations, or roll the database back to 0002_users with the down SQL recorded when they were applied (from this binary or the newer one)
	// refuse incompatible
}
