package catalog_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/catalog"
	"github.com/schema-ledger/ledger/internal/pgtest"
)

// base holds one object of every kind the snapshot lists, plus a ledger
// schema of its own that must be left out.
var base = []string{
	`CREATE SCHEMA app`,
	`CREATE SCHEMA ledger`,
	`CREATE TABLE ledger.events (seq bigint)`,
	`CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy')`,
	`CREATE DOMAIN app.email AS text NOT NULL CHECK (VALUE LIKE '%@%')`,
	`CREATE TYPE app.pair AS (a int, b text)`,
	`CREATE TYPE app.span AS RANGE (subtype = float8)`,
	`CREATE TABLE app.users (id bigserial PRIMARY KEY, email app.email UNIQUE, mood app.mood DEFAULT 'ok',
	    created timestamptz NOT NULL DEFAULT '2026-01-01 00:00:00+00', ratio float8 DEFAULT 0.1,
	    name text COLLATE "C", upper_name text GENERATED ALWAYS AS (upper(name)) STORED)`,
	`CREATE TABLE app.orders (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id bigint REFERENCES app.users (id),
	    total numeric(10,2) CHECK (total >= 0))`,
	`CREATE INDEX orders_user ON app.orders (user_id) WHERE total > 0`,
	`CREATE SEQUENCE app.tickets START 100 INCREMENT 5`,
	`CREATE VIEW app.big_orders AS SELECT id, total FROM app.orders WHERE total > 100`,
	`CREATE MATERIALIZED VIEW app.order_count AS SELECT count(*) AS n FROM app.orders`,
	`CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$`,
	`CREATE FUNCTION app.add(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE RETURN a + b`,
	`CREATE PROCEDURE app.noop() LANGUAGE sql AS $$SELECT 1$$`,
	`CREATE TRIGGER users_touch BEFORE UPDATE ON app.users FOR EACH ROW EXECUTE FUNCTION app.touch()`,
	`ALTER TABLE app.orders ENABLE ROW LEVEL SECURITY`,
	`CREATE POLICY own ON app.orders FOR SELECT TO PUBLIC USING (user_id > 0)`,
	`CREATE TABLE app.events (at date NOT NULL, what text) PARTITION BY RANGE (at)`,
	`CREATE TABLE app.events_2026 PARTITION OF app.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')`,
}

func setup(t *testing.T, stmts []string) *pgxpool.Pool {
	t.Helper()
	pool, _ := pgtest.NewPool(t, 2)
	for _, s := range stmts {
		if _, err := pool.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return pool
}

func read(t *testing.T, pool *pgxpool.Pool) catalog.Snapshot {
	t.Helper()
	s, err := catalog.Read(context.Background(), pool, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSnapshotListsEveryKindAndLeavesTheLedgerOut(t *testing.T) {
	pool := setup(t, base)
	s := read(t, pool)
	kinds := map[string]bool{}
	for _, o := range s.Objects {
		kinds[o.Kind] = true
		if strings.Contains(o.Name, "ledger") {
			t.Errorf("the ledger's own schema is in the snapshot: %s", o)
		}
	}
	for _, k := range []string{"schema", "extension", "table", "column", "index", "constraint", "sequence", "view",
		"materialized-view", "function", "procedure", "type", "trigger", "policy"} {
		if !kinds[k] {
			t.Errorf("no %s in the snapshot", k)
		}
	}
	want := []string{
		"column app.users.ratio double precision null default 0.1",
		"column app.users.created timestamp with time zone not null default '2026-01-01 00:00:00+00'::timestamp with time zone",
		"column app.users.id bigint not null default nextval('app.users_id_seq'::regclass)",
		"column app.users.name text collate pg_catalog.\"C\" null",
		"column app.orders.id integer not null generated always as identity",
		"index app.orders_user CREATE INDEX orders_user ON app.orders USING btree (user_id) WHERE (total > (0)::numeric)",
		"type app.mood enum ('sad', 'ok', 'happy')",
		"table app.events_2026 partition of app.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
		"policy app.orders.own permissive for select to public using ((user_id > 0))",
	}
	lines := map[string]bool{}
	for _, o := range s.Objects {
		lines[o.String()] = true
	}
	for _, w := range want {
		if !lines[w] {
			t.Errorf("missing line %q", w)
		}
	}
	if t.Failed() {
		for _, o := range s.Objects {
			t.Log(o)
		}
	}
}

// The fingerprint is stable across reads, sessions with other settings,
// VACUUM and ANALYZE, and the order the objects were created in.
func TestFingerprintIsStable(t *testing.T) {
	ctx := context.Background()
	pool := setup(t, base)
	first := read(t, pool)
	for _, s := range []string{`INSERT INTO app.users (email, name) VALUES ('a@b', 'x')`, `VACUUM FULL`, `VACUUM`, `ANALYZE`, `REFRESH MATERIALIZED VIEW app.order_count`, `SELECT nextval('app.tickets')`} {
		if _, err := pool.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if got := read(t, pool); got.Fingerprint != first.Fingerprint {
		t.Errorf("changed by VACUUM/ANALYZE/use:\n%s", strings.Join(catalog.Lines(catalog.Diff(first, got)), "\n"))
	}
	// A session whose settings differ in every way that changes how an
	// object prints.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`SET search_path = app, public`, `SET DateStyle = 'German, DMY'`, `SET TimeZone = 'Asia/Kolkata'`,
		`SET extra_float_digits = 3`, `SET IntervalStyle = 'sql_standard'`, `SET statement_timeout = '1ms'`} {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := catalog.Read(ctx, conn, "ledger")
	conn.Release()
	if err != nil {
		t.Fatal(err)
	}
	if got.Fingerprint != first.Fingerprint {
		t.Errorf("changed by session settings:\n%s", strings.Join(catalog.Lines(catalog.Diff(first, got)), "\n"))
	}
	// The same schema created in another order, in another database.
	reversed := append([]string(nil), base[:3]...)
	order := []int{4, 3, 6, 5, 10, 15, 14, 13, 7, 16, 8, 12, 11, 9, 19, 20, 18, 17}
	for _, i := range order {
		reversed = append(reversed, base[i])
	}
	if len(reversed) != len(base) {
		t.Fatalf("reordered %d of %d statements", len(reversed), len(base))
	}
	// Unrelated objects created and dropped first shift every oid.
	other := setup(t, append([]string{`CREATE TABLE filler (a int)`, `DROP TABLE filler`}, reversed...))
	if got := read(t, other); got.Fingerprint != first.Fingerprint {
		t.Errorf("changed by creation order:\n%s", strings.Join(catalog.Lines(catalog.Diff(first, got)), "\n"))
	}
}

// Every kind of object changes the fingerprint, and the diff names it.
func TestFingerprintChangesForEveryKind(t *testing.T) {
	cases := []struct {
		kind, change, line string
	}{
		{"schema", `CREATE SCHEMA extra`, "+ schema extra"},
		{"extension", `CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA app`, "+ extension pgcrypto"},
		{"table", `CREATE TABLE app.more (a int)`, "+ table app.more"},
		{"column added", `ALTER TABLE app.users ADD COLUMN sneaky_hotfix integer`, "+ column app.users.sneaky_hotfix integer null"},
		{"column type", `ALTER TABLE app.users ALTER COLUMN ratio TYPE numeric`, "~ column app.users.ratio: double precision null default 0.1 -> numeric null"},
		{"column nullability", `ALTER TABLE app.users ALTER COLUMN name SET NOT NULL`, "~ column app.users.name:"},
		{"column default", `ALTER TABLE app.users ALTER COLUMN ratio SET DEFAULT 0.2`, "~ column app.users.ratio:"},
		{"index", `CREATE INDEX users_name ON app.users (name)`, "+ index app.users_name"},
		{"index dropped", `DROP INDEX app.orders_user`, "- index app.orders_user"},
		{"constraint", `ALTER TABLE app.users ADD CONSTRAINT name_len CHECK (length(name) < 100) NOT VALID`, "+ constraint app.users.name_len CHECK ((length(name) < 100)) NOT VALID"},
		{"domain constraint", `ALTER DOMAIN app.email ADD CONSTRAINT short CHECK (length(VALUE) < 300)`, "+ constraint app.email.short"},
		{"sequence", `ALTER SEQUENCE app.tickets INCREMENT 10`, "~ sequence app.tickets:"},
		{"view", `CREATE OR REPLACE VIEW app.big_orders AS SELECT id, total FROM app.orders WHERE total > 200`, "~ view app.big_orders:"},
		{"materialized view", `DROP MATERIALIZED VIEW app.order_count`, "- materialized-view app.order_count"},
		{"function body", `CREATE OR REPLACE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.name := 'x'; RETURN NEW; END$$`, "~ function app.touch():"},
		{"function", `CREATE FUNCTION app.one() RETURNS int LANGUAGE sql RETURN 1`, "+ function app.one() returns integer language sql body"},
		{"procedure", `DROP PROCEDURE app.noop()`, "- procedure app.noop()"},
		{"enum", `ALTER TYPE app.mood ADD VALUE 'angry'`, "~ type app.mood: enum ('sad', 'ok', 'happy') -> enum ('sad', 'ok', 'happy', 'angry')"},
		{"composite", `ALTER TYPE app.pair ADD ATTRIBUTE c date`, "~ type app.pair:"},
		{"trigger", `ALTER TABLE app.users DISABLE TRIGGER users_touch`, "~ trigger app.users.users_touch:"},
		{"policy", `CREATE POLICY mine ON app.orders FOR UPDATE USING (true)`, "+ policy app.orders.mine permissive for update to public using (true)"},
		{"row security", `ALTER TABLE app.users ENABLE ROW LEVEL SECURITY`, "~ table app.users: (nothing) -> row security"},
		{"partition", `CREATE TABLE app.events_2027 PARTITION OF app.events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')`, "+ table app.events_2027 partition of app.events"},
		{"invalid index", `CREATE UNIQUE INDEX CONCURRENTLY users_dup ON app.users (mood)`, "+ index app.users_dup CREATE UNIQUE INDEX users_dup ON app.users USING btree (mood) invalid"},
	}
	for _, c := range cases {
		t.Run(c.kind, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool := setup(t, base)
			if c.kind == "invalid index" {
				// Two equal moods: the unique index build fails and leaves an invalid index behind.
				if _, err := pool.Exec(ctx, `INSERT INTO app.users (email) VALUES ('a@b'), ('c@d')`); err != nil {
					t.Fatal(err)
				}
			}
			before := read(t, pool)
			if _, err := pool.Exec(ctx, c.change); err != nil && c.kind != "invalid index" {
				t.Fatal(err)
			}
			after := read(t, pool)
			if after.Fingerprint == before.Fingerprint {
				t.Fatalf("%s did not change the fingerprint", c.change)
			}
			lines := catalog.Lines(catalog.Diff(before, after))
			found := false
			for _, l := range lines {
				found = found || strings.HasPrefix(l, c.line)
			}
			if !found {
				t.Errorf("diff has no line starting %q:\n%s", c.line, strings.Join(lines, "\n"))
			}
			if c.kind == "invalid index" {
				inv := after.InvalidIndexes()
				if len(inv) != 1 || inv[0].Name != "app.users_dup" {
					t.Errorf("InvalidIndexes = %v, want app.users_dup", inv)
				}
			}
		})
	}
}

func TestDiffOrder(t *testing.T) {
	a := catalog.NewSnapshot([]catalog.Object{{"table", "a", ""}, {"table", "b", ""}, {"column", "b.x", "int null"}})
	b := catalog.NewSnapshot([]catalog.Object{{"table", "b", "unlogged"}, {"table", "c", ""}, {"column", "b.x", "int null"}})
	got := strings.Join(catalog.Lines(catalog.Diff(a, b)), "\n")
	want := "- table a\n~ table b: (nothing) -> unlogged\n+ table c"
	if got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
	if d := catalog.Diff(b, b); d != nil {
		t.Errorf("diff of a snapshot with itself: %v", d)
	}
}

// A read on a connection outside any transaction or on a pool is one
// batch with its own BEGIN and COMMIT; in a caller's transaction it is a
// savepoint's. All three read the same objects and a stamp, and leave the
// session as they found it: no transaction left open on the connection,
// its own settings back, the caller's transaction still open.
func TestReadOnEveryQuerierLeavesTheSessionAsItWas(t *testing.T) {
	ctx := context.Background()
	pool := setup(t, base)
	want, wantStamp, err := catalog.ReadStamped(ctx, pool, "ledger")
	if err != nil || wantStamp == "" {
		t.Fatalf("read on the pool: %q %v", wantStamp, err)
	}
	conn, err := pgx.Connect(ctx, pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SET search_path = app, public; SET TimeZone = 'Asia/Tokyo'"); err != nil {
		t.Fatal(err)
	}
	settings := func() string {
		t.Helper()
		var s string
		if err := conn.QueryRow(ctx, "SELECT current_setting('search_path') || ' ' || current_setting('TimeZone') || ' ' || current_setting('transaction_read_only')").Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := settings()
	same := func(how string, got catalog.Snapshot, stamp string) {
		t.Helper()
		// The stamp covers the server's roles, which other tests create
		// meanwhile: it is there, not necessarily the same.
		if got.Fingerprint != want.Fingerprint || len(stamp) != 32 {
			t.Fatalf("read %s: fingerprint %.12s stamp %q, want %.12s and a stamp", how, got.Fingerprint, stamp, want.Fingerprint)
		}
	}

	got, stamp, err := catalog.ReadStamped(ctx, conn, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	same("on a connection", got, stamp)
	if st := conn.PgConn().TxStatus(); st != 'I' {
		t.Fatalf("the connection is left in transaction status %c", st)
	}
	if after := settings(); after != before {
		t.Fatalf("the connection's settings after the read: %q, want %q", after, before)
	}

	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE app.in_tx (id int)"); err != nil {
		t.Fatal(err)
	}
	inTx, _, err := catalog.ReadStamped(ctx, tx, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	if inTx.Fingerprint == want.Fingerprint {
		t.Fatal("the read in a transaction does not see the transaction's own table")
	}
	if st := conn.PgConn().TxStatus(); st != 'T' {
		t.Fatalf("the caller's transaction after the read: status %c, want still open", st)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	got, stamp, err = catalog.ReadStamped(ctx, conn, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	same("after the rolled-back transaction", got, stamp)
}
