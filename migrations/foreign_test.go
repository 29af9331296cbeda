package migrations_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
)

// Each tool's history table, built by hand from the tool's own schema (see
// internal/foreign), makes Check and Up refuse on a database without a
// ledger, naming the tool, its version there and how to adopt its history
// (in the library's words, and as a Fix); and they run nothing.
func TestForeignHistoryDetected(t *testing.T) {
	cases := []struct {
		tool, setup, version, table string // table: the FixAdopt's, "" for the tool's default
	}{
		{"goose", `CREATE TABLE goose_db_version (id serial NOT NULL, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp NULL default now(), PRIMARY KEY(id));
			INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (1, true), (2, true)`,
			"2", ""},
		{"golang-migrate", `CREATE TABLE app.migrations_log (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);
			INSERT INTO app.migrations_log VALUES (1, false)`,
			"1", "app.migrations_log"},
		{"tern", `CREATE TABLE public.schema_version (version int4 NOT NULL); INSERT INTO schema_version VALUES (2)`,
			"2", ""},
		{"flyway", `CREATE TABLE flyway_schema_history (installed_rank int NOT NULL PRIMARY KEY, version varchar(50), description varchar(200) NOT NULL,
			type varchar(20) NOT NULL, script varchar(1000) NOT NULL, checksum int, installed_by varchar(100) NOT NULL,
			installed_on timestamp NOT NULL DEFAULT now(), execution_time int NOT NULL, success boolean NOT NULL);
			INSERT INTO flyway_schema_history VALUES (1, '1', 'users', 'SQL', 'V1__users.sql', 12345, 'app', now(), 4, true)`,
			"1", ""},
	}
	fsys := fstest.MapFS{
		"0001_users.up.sql":  {Data: []byte("CREATE TABLE users (id int);\n")},
		"0002_orders.up.sql": {Data: []byte("CREATE TABLE orders (id int);\n")},
	}
	for _, c := range cases {
		t.Run(c.tool, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool, _ := pgtest.NewPool(t, 2)
			if _, err := pool.Exec(ctx, "CREATE SCHEMA app;\n"+c.setup); err != nil {
				t.Fatal(err)
			}
			_, err := migrations.Check(ctx, pool, fsys)
			var fe *migrations.ForeignHistoryError
			if !errors.As(err, &fe) || !errors.Is(err, migrations.ErrForeignHistory) {
				t.Fatalf("Check: got %v, want a *ForeignHistoryError", err)
			}
			if len(fe.Histories) != 1 || fe.Histories[0].Tool != c.tool || fe.Histories[0].Version != c.version {
				t.Errorf("histories = %+v, want %s at version %s", fe.Histories, c.tool, c.version)
			}
			want := migrations.Fix{Action: migrations.FixAdopt, Tool: c.tool, Table: c.table}
			if fixes := migrations.Fixes(err); len(fixes) != 1 || !reflect.DeepEqual(fixes[0], want) {
				t.Errorf("Fixes = %+v, want [%+v]", fixes, want)
			}
			if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("adopt.Adopt, From %q", c.tool)) || strings.Contains(msg, "ledger adopt") || strings.Contains(msg, "--from") {
				t.Errorf("message does not say how to adopt in the library's words:\n%s", msg)
			}
			set, err := migrations.Load(fsys)
			if err != nil {
				t.Fatal(err)
			}
			r, err := migrations.NewRunner(pool, set)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Up(ctx, migrations.UpOptions{}); !errors.As(err, &fe) {
				t.Fatalf("Up: got %v, want a *ForeignHistoryError", err)
			}
			var n int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename IN ('users', 'orders') OR schemaname = 'ledger'`).Scan(&n); err != nil || n != 0 {
				t.Errorf("Up ran something: %d tables (%v)", n, err)
			}
		})
	}
}

// A tool's table that says nothing is applied (goose's fresh table holds
// only its version 0 row) is no reason to refuse.
func TestForeignHistoryEmptyIsNoReason(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	if _, err := pool.Exec(ctx, `CREATE TABLE goose_db_version (id serial NOT NULL, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp NULL default now(), PRIMARY KEY(id));
		INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true)`); err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{"0001_users.up.sql": {Data: []byte("CREATE TABLE users (id int);\n")}}
	if _, err := migrations.Check(ctx, pool, fsys); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

// ledger init (or a first up that failed) leaves a ledger that never
// applied anything: that is no answer to another tool's history either.
// Once a migration is adopted, the other tool's table is history.
func TestForeignHistoryAfterInit(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	if _, err := pool.Exec(ctx, `CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);
		INSERT INTO schema_migrations VALUES (1, false); CREATE TABLE users (id int)`); err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{"0001_users.up.sql": {Data: []byte("CREATE TABLE users (id int);\n")}}
	set, err := migrations.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	r, err := migrations.NewRunner(pool, set)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Store().Init(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := migrations.Check(ctx, pool, fsys); !errors.Is(err, migrations.ErrForeignHistory) {
		t.Fatalf("Check after init: %v, want ErrForeignHistory", err)
	}
	if _, err := r.Up(ctx, migrations.UpOptions{}); !errors.Is(err, migrations.ErrForeignHistory) {
		t.Fatalf("Up after init: %v, want ErrForeignHistory", err)
	}
	if hs, err := r.ForeignHistories(ctx); err != nil || len(hs) != 1 {
		t.Fatalf("ForeignHistories after init: %v, %v", hs, err)
	}
	// Status reads whether the ledger ever migrated beside its state (one
	// round trip) and still names the history.
	st, err := r.Status(ctx, migrations.StatusOptions{})
	if err != nil || len(st.Foreign) != 1 || st.Foreign[0].Tool != "golang-migrate" || !st.Initialized {
		t.Fatalf("Status after init: %+v, %v; want golang-migrate's history in Foreign", st.Foreign, err)
	}
}

// A ledger that migrated once, everything reverted since (no schema
// version), is past adoption: a history table of another tool that appears
// later is not a reason to refuse, for Check or Status, which read whether
// it ever migrated beside the state.
func TestForeignHistoryAfterRevertedAll(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	fsys := fstest.MapFS{
		"0001_users.up.sql":   {Data: []byte("CREATE TABLE users (id int);\n")},
		"0001_users.down.sql": {Data: []byte("DROP TABLE users;\n")},
	}
	set, err := migrations.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	r, err := migrations.NewRunner(pool, set)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Down(ctx, migrations.DownOptions{Target: "0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);
		INSERT INTO schema_migrations VALUES (1, false)`); err != nil {
		t.Fatal(err)
	}
	v, err := migrations.Check(ctx, pool, fsys)
	if err != nil || v.Decision != policy.Migrate {
		t.Fatalf("Check: %v, %v; want Migrate", v.Decision, err)
	}
	st, err := r.Status(ctx, migrations.StatusOptions{})
	if err != nil || len(st.Foreign) != 0 || len(st.Pending) != 1 {
		t.Fatalf("Status: foreign %+v, pending %v, %v; want no foreign history and 0001 pending", st.Foreign, st.Pending, err)
	}
}

// The search for other tools' history tables finds them by their columns,
// in two steps (the relations with a column such a table has, then those
// relations' columns): among look-alikes — a column named version that is
// optimistic locking, a view and a table with a dropped column that had a
// history table's shape, a renamed goose table with a column added — only
// the history table is named.
func TestForeignHistoryAmongLookAlikes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	if _, err := pool.Exec(ctx, `CREATE SCHEMA app;
		CREATE TABLE documents (id bigint PRIMARY KEY, version bigint NOT NULL);
		INSERT INTO documents VALUES (1, 3);
		CREATE TABLE jobs (id bigint, version_id bigint);
		CREATE INDEX ON jobs (version_id);
		INSERT INTO jobs VALUES (1, 1);
		CREATE VIEW app.schema_log AS SELECT 7::bigint AS version, false AS dirty;
		CREATE TABLE old_log (version bigint NOT NULL, dirty boolean NOT NULL);
		INSERT INTO old_log VALUES (2, false);
		ALTER TABLE old_log DROP COLUMN dirty;
		CREATE TABLE app.deploy_versions (id serial PRIMARY KEY, version_id bigint NOT NULL, is_applied boolean NOT NULL,
			tstamp timestamp NULL DEFAULT now(), note text);
		INSERT INTO app.deploy_versions (version_id, is_applied) VALUES (0, true), (1, true), (2, true)`); err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{"0001_users.up.sql": {Data: []byte("CREATE TABLE users (id int);\n")}}
	_, err := migrations.Check(ctx, pool, fsys)
	var fe *migrations.ForeignHistoryError
	if !errors.As(err, &fe) {
		t.Fatalf("Check: got %v, want a *ForeignHistoryError", err)
	}
	want := []migrations.ForeignHistory{{Tool: "goose", Table: "app.deploy_versions", Version: "2", Rows: 2}}
	if !reflect.DeepEqual(fe.Histories, want) {
		t.Errorf("histories = %+v, want %+v", fe.Histories, want)
	}
}
