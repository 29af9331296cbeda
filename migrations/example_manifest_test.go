package migrations_test

import (
	"context"
	"fmt"
	"testing/fstest"

	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
)

// A release built with its manifest (ledger manifest -o release.json, then
// //go:embed release.json) checks at startup without reading a migration
// file.
func ExampleCheckManifest() {
	ctx := context.Background()
	pool, drop, err := scratchDatabase(ctx) // in a server: pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer drop()

	// At build time: ledger manifest --dir migrations --app-version 1.2.0 -o release.json
	set, err := migrations.Load(fstest.MapFS{
		"0001_users.up.sql": {Data: []byte("CREATE TABLE users (id bigint PRIMARY KEY);")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := migrations.NewManifest(set, "1.2.0", policy.Strict)
	if err != nil {
		fmt.Println(err)
		return
	}
	releaseJSON := m.Marshal() // in a server: //go:embed release.json

	verdict, err := migrations.CheckManifest(ctx, pool, releaseJSON)
	if err != nil {
		fmt.Println("cannot decide:", err) // a damaged manifest, an unreachable database
		return
	}
	fmt.Println(verdict.Decision, verdict.AppVersion, verdict.Pending)
	// Output:
	// migrate 1.2.0 [0001_users]
}
