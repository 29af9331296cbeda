package ledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

// DDL run by hand appends schema.changed (command, objects, user,
// application_name) in its own transaction; DDL run by a session holding
// the migration lock (a migrator) does not; the chain still verifies.
func TestCaptureDDL(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 3)
	st, err := ledger.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if on, err := st.DDLCaptured(ctx); err != nil || on {
		t.Fatalf("captured before install: %v %v", on, err)
	}
	for range 2 { // idempotent
		if err := st.InstallDDLCapture(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if on, err := st.DDLCaptured(ctx); err != nil || !on {
		t.Fatalf("not captured after install: %v %v", on, err)
	}
	for _, sql := range []string{
		"SET application_name = 'psql-hotfix'",
		"CREATE TABLE users (id int)",
		"ALTER TABLE users ADD COLUMN sneaky_hotfix integer",
		"CREATE TEMP TABLE scratch (a int)",
		"DROP TABLE users",
	} {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if sql == "SET application_name = 'psql-hotfix'" {
			if _, err := conn.Exec(ctx, "CREATE TABLE t1 (a int)"); err != nil {
				t.Fatal(err)
			}
		}
		conn.Release()
	}
	// A migrator: holds the migration lock while it runs DDL.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", st.LockKey()); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE migrated (a int)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", st.LockKey()); err != nil {
		t.Fatal(err)
	}
	conn.Release()

	var got []string
	var first projector.Changed
	for e, err := range st.Events(ctx, ledger.Filter{Types: []string{projector.TypeSchemaChanged}}) {
		if err != nil {
			t.Fatal(err)
		}
		var p projector.Changed
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			first = p
		}
		for _, o := range p.Objects {
			got = append(got, p.CommandTag+" "+o.ObjectType+" "+o.Identity)
		}
		if e.Actor != "postgres" || p.User != "postgres" {
			t.Errorf("event %d by %q (user %q)", e.Seq, e.Actor, p.User)
		}
	}
	want := []string{
		"CREATE TABLE table public.t1",
		"CREATE TABLE table public.users",
		"ALTER TABLE table public.users",
		"DROP TABLE table public.users",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("captured %q, want %q", got, want)
	}
	if first.ApplicationName != "psql-hotfix" {
		t.Errorf("application_name %q", first.ApplicationName)
	}
	rep, err := st.Verify(ctx, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", rep, err)
	}
}

// Without the privilege, installing says what is missing and changes nothing.
func TestCaptureDDLNeedsASuperuser(t *testing.T) {
	ctx := context.Background()
	pool, url := pgtest.NewPool(t, 2)
	st, err := ledger.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Init(ctx); err != nil {
		t.Fatal(err)
	}
	role := pgtest.NewRole(t, url, "ledger_nosuper_")
	pgtest.Exec(t, url, "GRANT ALL ON SCHEMA ledger TO "+role)
	conn, err := pgx.Connect(ctx, pgtest.AsUser(t, url, role))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	err = st.On(conn).InstallDDLCapture(ctx)
	var cerr *ledger.CaptureDDLError
	if !errors.As(err, &cerr) || !cerr.NeedsSuperuser() || !strings.Contains(err.Error(), "needs a superuser") || strings.Contains(err.Error(), "`ledger ") {
		t.Fatalf("install as %s: %v, want a CaptureDDLError saying a superuser is needed", role, err)
	}
	if on, err := st.DDLCaptured(ctx); err != nil || on {
		t.Fatalf("captured after a refused install: %v %v", on, err)
	}
}
