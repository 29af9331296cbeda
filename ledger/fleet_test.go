package ledger_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

// LedgerHeads reads every ledger's head of a database in one round trip
// when the ledgers are those known, and copes with ledgers created or
// dropped since: the list is always the database's own.
func TestLedgerHeads(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	for _, schema := range []string{"ledger", "ledger_a", "ledger_b"} {
		st, err := ledger.New(pool, ledger.WithSchema(schema))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Init(ctx); err != nil {
			t.Fatal(err)
		}
		if schema == "ledger_a" {
			ev, err := projector.NewEvent(projector.TypeMigrationApplied, projector.Applied{ID: "0001_a", Checksum: "c", Transactional: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { _, err := st.Append(ctx, tx, ev); return err }); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A visit's connection runs each statement unprepared, a pool's prepares.
	cfg := pool.Config().ConnConfig.Copy()
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	want := []ledger.LedgerHead{{Schema: "ledger", Seq: 1}, {Schema: "ledger_a", Seq: 2}, {Schema: "ledger_b", Seq: 1}}
	for _, db := range []ledger.DB{pool, conn} {
		for _, known := range [][]string{nil, {"ledger"}, {"ledger", "ledger_a", "ledger_b"}, {"ledger_gone", "ledger_a"}} {
			got, err := ledger.LedgerHeads(ctx, db, known)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("%T, known %v: %v %v, want %v", db, known, got, err, want)
			}
		}
	}
	if _, err := pool.Exec(ctx, "DROP SCHEMA ledger, ledger_a, ledger_b CASCADE"); err != nil {
		t.Fatal(err)
	}
	for _, db := range []ledger.DB{pool, conn} {
		if got, err := ledger.LedgerHeads(ctx, db, []string{"ledger", "ledger_a"}); err != nil || len(got) != 0 {
			t.Errorf("%T, every ledger dropped: %v %v, want none", db, got, err)
		}
	}
}

// Databases never holds more connections than its budget: a connection
// beyond it waits for one to close (or for its context).
func TestDatabasesBudget(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	dbs, err := ledger.NewDatabases([]string{url}, false, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer dbs.Close()
	list, err := dbs.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("%v %v", list, err)
	}
	name := list[0].Name
	inside, release := make(chan struct{}), make(chan struct{})
	for range 2 {
		go func() {
			_ = dbs.Visit(ctx, name, func(ledger.DB) error {
				inside <- struct{}{}
				<-release
				return nil
			})
		}()
	}
	<-inside
	<-inside
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err = dbs.Visit(short, name, func(ledger.DB) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a third connection in a budget of 2: %v, want it to wait until its context ends", err)
	}
	close(release)
	if err := dbs.Visit(ctx, name, func(db ledger.DB) error { _, err := db.Exec(ctx, "SELECT 1"); return err }); err != nil {
		t.Errorf("once the others closed: %v", err)
	}
	if n := dbs.Connections(); n > 2 {
		t.Errorf("%d connections held, budget 2", n)
	}
	if _, err := ledger.NewDatabases([]string{url}, false, 3, -1); err == nil {
		t.Error("a negative budget is accepted")
	}
}

// Activity's token of a database changes once a row is written there
// (PostgreSQL publishes the counters when the writing session ends).
func TestDatabasesActivity(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	dbs, err := ledger.NewDatabases([]string{url}, false, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer dbs.Close()
	list, err := dbs.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("%v %v", list, err)
	}
	name := list[0].Name
	before, err := dbs.Activity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if before[name] == "" {
		t.Fatalf("no token for %s: %v", name, before)
	}
	pgtest.Exec(t, url, "CREATE TABLE written (x int); INSERT INTO written VALUES (1)")
	deadline := time.Now().Add(15 * time.Second)
	for {
		after, err := dbs.Activity(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if after[name] != before[name] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the token of %s did not change after a write: %q", name, after[name])
		}
		time.Sleep(100 * time.Millisecond)
	}
}
