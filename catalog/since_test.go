package catalog_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/catalog"
)

// since reads the catalog with ReadSince from last and its stamps, reads it
// in full, and fails unless both are the same snapshot, object for object.
// It returns the snapshot, its stamps and how ReadSince read it.
func since(t *testing.T, pool *pgxpool.Pool, what string, last catalog.Snapshot, stamps catalog.Stamps) (catalog.Snapshot, catalog.Stamps, catalog.Reread) {
	t.Helper()
	ctx := context.Background()
	got, now, how, err := catalog.ReadSince(ctx, pool, "ledger", "", last, stamps)
	if err != nil {
		t.Fatalf("%s: ReadSince: %v", what, err)
	}
	if err := got.Verify(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	full := read(t, pool)
	if got.Fingerprint != full.Fingerprint {
		t.Fatalf("%s: ReadSince (%s) differs from Read:\n%s", what, how, strings.Join(catalog.Lines(catalog.Diff(full, got)), "\n"))
	}
	return got, now, how
}

// ReadStamps's stamp is StampSQL's for the same catalog, and
// ReadWithStamps reads what Read reads.
func TestStampsAgreeWithStamp(t *testing.T) {
	ctx := context.Background()
	pool := setup(t, base)
	for try := 1; ; try++ {
		before := roles(t, pool)
		st, err := catalog.ReadStamps(ctx, pool, "ledger", "")
		if err != nil {
			t.Fatal(err)
		}
		alone, err := catalog.Stamp(ctx, pool)
		if err != nil {
			t.Fatal(err)
		}
		if alone == st.Stamp {
			break
		}
		if roles(t, pool) == before && try >= 3 {
			t.Fatalf("ReadStamps' stamp %s, Stamp's %s: the same catalog", st.Stamp, alone)
		}
	}
	snap, _, err := catalog.ReadWithStamps(ctx, pool, "ledger", "")
	if err != nil {
		t.Fatal(err)
	}
	if full := read(t, pool); full.Fingerprint != snap.Fingerprint {
		t.Fatalf("ReadWithStamps differs from Read:\n%s", strings.Join(catalog.Lines(catalog.Diff(full, snap)), "\n"))
	}
}

// references adds to base the objects that name other relations: a
// foreign key, a view and a materialized view over a join, a policy with a
// subquery, a default naming a sequence, a column, a function and a
// composite type naming a table's row type, inheritance and a trigger
// naming another table (a constraint trigger's FROM).
var references = []string{
	`CREATE TABLE app.items (id int PRIMARY KEY, order_id int REFERENCES app.orders (id), price numeric DEFAULT 0)`,
	`CREATE VIEW app.order_items AS SELECT o.id, i.price FROM app.orders o JOIN app.items i ON i.order_id = o.id`,
	`CREATE MATERIALIZED VIEW app.item_prices AS SELECT id, price FROM app.items`,
	`CREATE POLICY sub ON app.items USING (order_id IN (SELECT id FROM app.orders))`,
	`CREATE TABLE app.counters (id int DEFAULT nextval('app.tickets'), n int)`,
	`CREATE TABLE app.holder (u app.users, us app.users[])`,
	`CREATE FUNCTION app.user_email(u app.users) RETURNS text LANGUAGE sql RETURN u.email`,
	`CREATE FUNCTION app.item_count() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT count(*) FROM app.items; END`,
	`CREATE TYPE app.wrap AS (o app.orders)`,
	`CREATE TABLE app.base (a int)`,
	`CREATE TABLE app.child (b int) INHERITS (app.base)`,
	`CREATE FUNCTION app.check_item() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$`,
	`CREATE CONSTRAINT TRIGGER items_check AFTER INSERT ON app.counters FROM app.items FOR EACH ROW EXECUTE FUNCTION app.check_item()`,
	`CREATE TABLE app.typed OF app.pair`,
}

// After each kind of change, ReadSince from the snapshot before gives what
// Read gives, byte for byte — the changes that touch relations only by
// printing those relations and the ones naming them, the others (a
// schema, a type, a function) by printing everything.
func TestReadSinceEqualsReadForEveryKindOfChange(t *testing.T) {
	ctx := context.Background()
	changes := []struct {
		sql         string
		incremental bool // only relations' rows change: nothing else need be printed
	}{
		{`CREATE TABLE app.newt (id bigint PRIMARY KEY, note text DEFAULT 'x')`, true},
		{`ALTER TABLE app.newt ADD COLUMN x int DEFAULT 3`, true},
		{`CREATE INDEX newt_note ON app.newt (note)`, true},
		{`DROP TABLE app.newt`, true},
		{`ALTER TABLE app.orders RENAME COLUMN id TO order_key`, true},
		{`ALTER TABLE app.orders RENAME TO purchases`, true},
		{`ALTER TABLE app.users RENAME TO members`, true},
		{`ALTER TABLE app.members RENAME COLUMN email TO mail`, true},
		{`ALTER SEQUENCE app.tickets RENAME TO tix`, true},
		{`ALTER SEQUENCE app.tix INCREMENT 9`, true},
		{`ALTER TABLE app.events RENAME TO happenings`, true},
		{`CREATE TABLE app.happenings_2027 PARTITION OF app.happenings FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')`, true},
		{`ALTER TABLE app.happenings DETACH PARTITION app.events_2026`, true},
		{`ALTER TABLE app.base RENAME TO root`, true},
		{`ALTER TABLE app.root ADD COLUMN c int`, true},
		{`ALTER TABLE app.root RENAME COLUMN a TO aa`, true},
		{`ALTER INDEX app.orders_user RENAME TO orders_by_user`, true},
		{`CREATE INDEX CONCURRENTLY items_price ON app.items (price)`, true},
		{`ALTER TABLE app.counters ALTER COLUMN n TYPE bigint`, true},
		{`ALTER TABLE app.items RENAME COLUMN price TO cost`, true},
		{`VACUUM FULL app.purchases`, true},
		{`TRUNCATE app.members CASCADE`, true},
		{`CREATE OR REPLACE VIEW app.order_items AS SELECT o.order_key AS id, i.cost AS price FROM app.purchases o JOIN app.items i ON i.order_id = o.order_key WHERE i.cost > 1`, true},
		{`ALTER TABLE app.items DROP CONSTRAINT items_order_id_fkey`, true},
		{`ALTER TABLE app.items ADD CONSTRAINT items_order FOREIGN KEY (order_id) REFERENCES app.purchases (order_key) ON DELETE CASCADE`, true},
		{`ALTER TABLE app.items ENABLE ROW LEVEL SECURITY`, true},
		{`ALTER POLICY sub ON app.items USING (order_id > 7)`, true},
		{`ALTER TABLE app.members DISABLE TRIGGER users_touch`, true},
		{`ALTER TABLE app.counters SET UNLOGGED`, true},
		{`ALTER TABLE app.counters ALTER COLUMN n SET NOT NULL`, true},
		{`DROP VIEW app.order_items`, true},
		{`DROP MATERIALIZED VIEW app.item_prices`, true},
		{`DROP TABLE app.items CASCADE`, false}, // and app.item_count(), whose body names it
		{`CREATE TABLE public.later (x int GENERATED BY DEFAULT AS IDENTITY, y app.pair)`, true},
		{`ALTER TABLE public.later ADD CONSTRAINT y_set CHECK (y IS NOT NULL) NOT VALID`, true},
		{`DROP TABLE public.later`, true},
		{`ALTER TYPE app.mood RENAME TO feeling`, false},
		{`ALTER TYPE app.pair ADD ATTRIBUTE c int CASCADE`, false},
		{`CREATE FUNCTION app.one() RETURNS int LANGUAGE sql RETURN 1`, false},
		{`ALTER SCHEMA app RENAME TO shop`, false},
		{`CREATE TABLE shop.after_rename (id int REFERENCES shop.purchases (order_key))`, true},
	}
	pool := setup(t, append(append([]string(nil), base...), references...))
	snap, stamps, err := catalog.ReadWithStamps(ctx, pool, "ledger", "")
	if err != nil {
		t.Fatal(err)
	}
	incremental := 0
	for _, c := range changes {
		if _, err := pool.Exec(ctx, c.sql); err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		var how catalog.Reread
		snap, stamps, how = since(t, pool, c.sql, snap, stamps)
		t.Logf("%s: %s", c.sql, how)
		if !how.Full {
			incremental++
		}
		// Other packages' tests create and drop roles meanwhile: the
		// roles are the rest's, and a change of them a full read.
		if c.incremental && how.Full && how.Why != "(the roles changed)" {
			t.Errorf("%s: read in full %s, though only relations changed", c.sql, how.Why)
		}
		if !c.incremental && !how.Full {
			t.Errorf("%s: read incrementally (%s), though the rest changed", c.sql, how)
		}
	}
	if incremental == 0 {
		t.Fatal("no change was read incrementally")
	}
	// Nothing changed: nothing is printed.
	if _, _, how := since(t, pool, "nothing", snap, stamps); !how.Full && how.Printed != 0 {
		t.Errorf("nothing changed, yet %s", how)
	}
}

// A random walk of changes over a schema of tables that reference each
// other (foreign keys, views, defaults naming sequences, partitions): after
// every step ReadSince from the last step's snapshot is Read, byte for byte.
func TestReadSinceEqualsReadOnARandomWalk(t *testing.T) {
	ctx := context.Background()
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 26))
	const n = 12
	stmts := []string{`CREATE SCHEMA w`, `CREATE SEQUENCE w.s0`, `CREATE SEQUENCE w.s1`}
	for i := range n {
		stmts = append(stmts, fmt.Sprintf(`CREATE TABLE w.t%d (id int PRIMARY KEY, a int, b text DEFAULT 'b')`, i))
	}
	pool := setup(t, stmts)
	snap, stamps, err := catalog.ReadWithStamps(ctx, pool, "ledger", "")
	if err != nil {
		t.Fatal(err)
	}
	tables := map[int]string{} // live table -> its current name
	for i := range n {
		tables[i] = fmt.Sprintf("t%d", i)
	}
	pick := func() (int, string) {
		for {
			i := rnd.IntN(n)
			if name, ok := tables[i]; ok {
				return i, name
			}
		}
	}
	steps, incremental := 0, 0
	for step := 0; steps < 80 && step < 400; step++ {
		i, t1 := pick()
		_, t2 := pick()
		k := rnd.IntN(1000)
		var sql string
		after := func() {}
		switch rnd.IntN(14) {
		case 0:
			sql = fmt.Sprintf(`ALTER TABLE w.%s ADD COLUMN c%d int DEFAULT %d`, t1, k, k)
		case 1:
			sql = fmt.Sprintf(`ALTER TABLE w.%s RENAME COLUMN a TO a%d`, t1, k)
		case 2:
			name := fmt.Sprintf("r%d_%d", i, k)
			sql = fmt.Sprintf(`ALTER TABLE w.%s RENAME TO %s`, t1, name)
			after = func() { tables[i] = name }
		case 3:
			sql = fmt.Sprintf(`CREATE INDEX ON w.%s (b, id)`, t1)
		case 4:
			sql = fmt.Sprintf(`ALTER TABLE w.%s ADD CONSTRAINT fk%d FOREIGN KEY (id) REFERENCES w.%s (id)`, t1, k, t2)
		case 5:
			sql = fmt.Sprintf(`CREATE VIEW w.v%d AS SELECT x.id, y.b FROM w.%s x JOIN w.%s y USING (id)`, k, t1, t2)
		case 6:
			sql = fmt.Sprintf(`ALTER TABLE w.%s ALTER COLUMN b TYPE varchar(%d)`, t1, 10+k)
		case 7:
			sql = fmt.Sprintf(`ALTER TABLE w.%s ALTER COLUMN id SET DEFAULT nextval('w.s%d')`, t1, k%2)
		case 8:
			sql = fmt.Sprintf(`ALTER SEQUENCE w.s%d RENAME TO s%d_%d`, k%2, k%2, k)
			sql = fmt.Sprintf(`DO $$BEGIN IF to_regclass('w.s%d') IS NOT NULL THEN %s; ALTER SEQUENCE w.s%d_%d RENAME TO s%d; END IF; END$$`,
				k%2, sql, k%2, k, k%2)
		case 9:
			sql = fmt.Sprintf(`ALTER TABLE w.%s ADD CONSTRAINT ck%d CHECK (a > -%d)`, t1, k, k)
		case 10:
			sql = fmt.Sprintf(`DROP TABLE w.%s CASCADE`, t1)
			after = func() { delete(tables, i) }
			if len(tables) < 4 {
				continue
			}
		case 11:
			sql = fmt.Sprintf(`CREATE TABLE w.p%d (at int, v int) PARTITION BY RANGE (at); CREATE TABLE w.p%d_1 PARTITION OF w.p%d FOR VALUES FROM (0) TO (10)`, k, k, k)
		case 12:
			sql = fmt.Sprintf(`ALTER TABLE w.%s RENAME COLUMN b TO b%d`, t1, k)
		case 13:
			sql = fmt.Sprintf(`COMMENT ON TABLE w.%s IS 'c%d'; ANALYZE w.%s`, t1, k, t1)
		}
		if _, err := pool.Exec(ctx, sql); err != nil {
			continue // a name taken, a column renamed away: skipped
		}
		after()
		steps++
		var how catalog.Reread
		snap, stamps, how = since(t, pool, sql, snap, stamps)
		if !how.Full {
			incremental++
		}
	}
	if incremental < steps/2 {
		t.Errorf("only %d of %d steps read incrementally", incremental, steps)
	}
}

// A change another session began before the stamps were read and committed
// after — in a subtransaction, whose xid no snapshot lists — is read again:
// its rows' xmins are none the stamps saw.
func TestReadSinceSeesATransactionThatCommittedAfterTheStamps(t *testing.T) {
	ctx := context.Background()
	pool := setup(t, base)
	for _, savepoint := range []bool{false, true} {
		name := fmt.Sprintf("app.concurrent_%v", savepoint)
		conn, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stmts := []string{"CREATE TABLE " + name + " (x int DEFAULT 1 PRIMARY KEY)"}
		if savepoint {
			stmts = append([]string{"SAVEPOINT a"}, append(stmts, "RELEASE a")...)
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		snap, stamps, err := catalog.ReadWithStamps(ctx, pool, "ledger", "")
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		conn.Release()
		got, _, how := since(t, pool, name, snap, stamps)
		found := false
		for _, o := range got.Objects {
			found = found || o.Kind == catalog.KindTable && o.Name == name
		}
		if !found {
			t.Fatalf("%s committed after the stamps is not in the snapshot (%s)", name, how)
		}
	}
}
