package migrations_test

import (
	"context"
	"reflect"
	"regexp"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
)

// shellAdvice matches what a library error must not say: a ledger command
// or a command-line flag. The words are the caller's (cmd/ledger words the
// fixes as its commands; see its testdata/script/ledger_error_advice.txtar).
var shellAdvice = regexp.MustCompile("`ledger |(^|[\\s(])--[a-z]")

// The ledger's errors, met on a real database, say what to do in the
// library's words, and Fixes reads them as data.
func TestLedgerErrorFixes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	initialized := func(t *testing.T) (*pgxpool.Pool, string, *ledger.Store) {
		pool, url := pgtest.NewPool(t, 2)
		st, err := ledger.New(pool)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Init(ctx); err != nil {
			t.Fatal(err)
		}
		return pool, url, st
	}
	// forge writes past the ledger's triggers, as a superuser could.
	forge := func(t *testing.T, pool *pgxpool.Pool, sql string) {
		if _, err := pool.Exec(ctx, "SET session_replication_role = replica; "+sql+"; RESET session_replication_role"); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		err  func(t *testing.T) error
		want migrations.FixAction
	}{
		{"not initialized", func(t *testing.T) error {
			pool, _ := pgtest.NewPool(t, 2)
			st, err := ledger.New(pool)
			if err != nil {
				t.Fatal(err)
			}
			_, err = st.Head(ctx)
			return err
		}, migrations.FixInit},
		{"older format", func(t *testing.T) error {
			// A ledger written by the code before format 2 (ledger's own fixture).
			pool, _ := pgtest.NewPool(t, 2)
			pgtest.RestoreDump(t, pool, "../ledger/testdata/format1/dump.sql")
			st, err := ledger.New(pool)
			if err != nil {
				t.Fatal(err)
			}
			_, err = st.Head(ctx)
			return err
		}, migrations.FixUpgrade},
		{"newer format", func(t *testing.T) error {
			pool, _, st := initialized(t)
			forge(t, pool, "UPDATE ledger.head SET format = "+strconv.Itoa(ledger.Format+1))
			_, err := st.Head(ctx)
			return err
		}, migrations.FixNewerRelease},
		{"corrupt head", func(t *testing.T) error {
			pool, _, st := initialized(t)
			forge(t, pool, "UPDATE ledger.head SET hash = sha256(hash)")
			_, err := st.Head(ctx)
			return err
		}, migrations.FixVerify},
		{"DDL capture without a superuser", func(t *testing.T) error {
			_, url, st := initialized(t)
			role := pgtest.NewRole(t, url, "ledger_fix_")
			pgtest.Exec(t, url, "GRANT ALL ON SCHEMA ledger TO "+role)
			conn, err := pgx.Connect(ctx, pgtest.AsUser(t, url, role))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close(context.Background()) })
			return st.On(conn).InstallDDLCapture(ctx)
		}, migrations.FixSuperuser},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := c.err(t)
			if err == nil {
				t.Fatal("no error")
			}
			want := []migrations.Fix{{Action: c.want, Schema: ledger.DefaultSchema}}
			if got := migrations.Fixes(err); !reflect.DeepEqual(got, want) {
				t.Errorf("Fixes(%v) = %+v, want %+v", err, got, want)
			}
			if m := shellAdvice.FindString(err.Error()); m != "" {
				t.Errorf("the library's error names a command or a flag (%q):\n%s", m, err)
			}
		})
	}
}
