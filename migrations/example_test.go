package migrations_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
)

// A server asks at startup whether it may run against the database, and
// refuses to serve unless the verdict is Run.
func ExampleCheck() {
	ctx := context.Background()
	pool, drop, err := scratchDatabase(ctx) // in a server: pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer drop()

	// In a server: //go:embed migrations/*.sql, then fs.Sub(embedded, "migrations").
	migrationsFS := fstest.MapFS{
		"0001_users.up.sql":  {Data: []byte("CREATE TABLE users (id bigint PRIMARY KEY, email text);")},
		"0002_orders.up.sql": {Data: []byte("CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users);")},
	}
	opts := []migrations.Option{migrations.WithAppVersion("1.2.0"), migrations.WithPolicy(policy.Strict)}

	verdict, err := migrations.Check(ctx, pool, migrationsFS, opts...)
	if err != nil {
		fmt.Println("cannot decide:", err) // bad input or an unreachable database
		return
	}
	fmt.Println("before up:", verdict.Decision, verdict.Pending)

	// `ledger up`, or migrations.WithAutoMigrate() in the Check above.
	set, err := migrations.Load(migrationsFS)
	if err != nil {
		fmt.Println(err)
		return
	}
	runner, err := migrations.NewRunner(pool, set, opts...)
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := runner.Up(ctx, migrations.UpOptions{}); err != nil {
		fmt.Println(err)
		return
	}

	verdict, err = migrations.Check(ctx, pool, migrationsFS, opts...)
	if err != nil {
		fmt.Println("cannot decide:", err)
		return
	}
	fmt.Println("after up:", verdict.Decision)

	// An older release that does not ship 0002_orders must not serve.
	older := fstest.MapFS{"0001_users.up.sql": migrationsFS["0001_users.up.sql"]}
	verdict, err = migrations.Check(ctx, pool, older, migrations.WithAppVersion("1.1.0"))
	if err != nil {
		fmt.Println("cannot decide:", err)
		return
	}
	if verdict.Decision != policy.Run {
		fmt.Println("release 1.1.0:", verdict.Decision, "unknown", verdict.Unknown[0].ID, "applied by", verdict.Unknown[0].AppVersion)
	}
	// Output:
	// before up: migrate [0001_users 0002_orders]
	// after up: run
	// release 1.1.0: refuse unknown 0002_orders applied by 1.2.0
}

// scratchDatabase creates a database of its own on the test server (see
// internal/pgtest) and returns a pool on it, and a function that drops it.
// An unreachable server fails the example: its output says how to start one.
func scratchDatabase(ctx context.Context) (*pgxpool.Pool, func(), error) {
	fail := func(err error) (*pgxpool.Pool, func(), error) {
		return nil, nil, fmt.Errorf("example database: %w\n%s", err, pgtest.HowToStart)
	}
	admin, err := pgx.Connect(ctx, pgtest.ServerURL())
	if err != nil {
		return fail(err)
	}
	defer admin.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "ledger_example_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return fail(err)
	}
	drop := func() {
		if c, err := pgx.Connect(ctx, pgtest.ServerURL()); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = c.Close(ctx)
		}
	}
	cfg, err := pgxpool.ParseConfig(pgtest.ServerURL())
	if err != nil {
		drop()
		return fail(err)
	}
	cfg.ConnConfig.Database, cfg.MaxConns = name, 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		drop()
		return fail(err)
	}
	return pool, func() { pool.Close(); drop() }, nil
}
