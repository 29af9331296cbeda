package catalog_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/catalog"
)

func stamped(t *testing.T, pool *pgxpool.Pool) (catalog.Snapshot, string) {
	t.Helper()
	snap, stamp, err := catalog.ReadStamped(context.Background(), pool, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	if stamp == "" {
		t.Fatal("ReadStamped: no stamp, though nothing changed the catalog during the read")
	}
	alone, err := catalog.Stamp(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if alone != stamp {
		t.Fatalf("Stamp %s, ReadStamped's %s: the same catalog", alone, stamp)
	}
	return snap, stamp
}

// The stamp stands for the fingerprint: every change that changes an
// object's line changes the stamp (a change of the lines under an equal
// stamp would hide drift), including those that touch one catalog row
// of another object than the one whose line changes (a renamed schema, type,
// sequence or referenced column). What changes no line — data, VACUUM,
// ANALYZE — leaves the stamp as it was, so an up can trust it. (Not always:
// ANALYZE of a partitioned table that lost its last partition clears its
// relhassubclass with an ordinary update, so the next up reads the catalog
// once and finds nothing changed.)
func TestStampChangesWithEveryChangedLine(t *testing.T) {
	ctx := context.Background()
	changes := []string{
		`ALTER TABLE app.users ALTER COLUMN ratio SET NOT NULL`,
		`ALTER TABLE app.users RENAME COLUMN ratio TO fraction`,
		`ALTER TABLE app.users ALTER COLUMN fraction SET DEFAULT 0.2`,
		`ALTER TABLE app.users ALTER COLUMN fraction TYPE numeric`,
		`ALTER TABLE app.orders RENAME COLUMN user_id TO owner_id`, // the FK's and the index's lines
		`ALTER TABLE app.users RENAME COLUMN id TO user_key`,       // the referencing FK's line
		`ALTER SCHEMA app RENAME TO shop`,
		`ALTER TYPE shop.mood RENAME TO feeling`,
		`ALTER TYPE shop.feeling ADD VALUE 'great'`,
		`ALTER TYPE shop.pair ADD ATTRIBUTE c int`,
		`ALTER DOMAIN shop.email SET DEFAULT 'a@b'`,
		`ALTER SEQUENCE shop.tickets INCREMENT 7`,
		`ALTER SEQUENCE shop.orders_id_seq RENAME TO orders_seq`,
		`CREATE INDEX CONCURRENTLY orders_total ON shop.orders (total)`,
		`ALTER INDEX shop.orders_total RENAME TO orders_by_total`,
		`CREATE OR REPLACE VIEW shop.big_orders AS SELECT id, total FROM shop.orders WHERE total > 200`,
		`CREATE OR REPLACE FUNCTION shop.add(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE RETURN a + b + 0`,
		`ALTER FUNCTION shop.add(int, int) STABLE`,
		`ALTER TABLE shop.orders DISABLE TRIGGER ALL`,
		`ALTER TABLE shop.users DISABLE TRIGGER users_touch`,
		`ALTER POLICY own ON shop.orders USING (owner_id > 1)`,
		`ALTER TABLE shop.orders FORCE ROW LEVEL SECURITY`,
		`ALTER TABLE shop.events DETACH PARTITION shop.events_2026`,
		`CREATE EXTENSION IF NOT EXISTS plpgsql`,
		`DROP MATERIALIZED VIEW shop.order_count`,
		`CREATE TABLE public.later (x int)`,
		`ALTER TABLE public.later SET UNLOGGED`,
		`DROP TABLE public.later`,
	}
	pool := setup(t, base)
	snap, stamp := stamped(t, pool)
	for _, sql := range changes {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		next, nextStamp := stamped(t, pool)
		if next.Fingerprint != snap.Fingerprint && nextStamp == stamp {
			t.Fatalf("%s changed the objects (%q) but not the stamp %s", sql, catalogLines(snap, next), stamp)
		}
		if next.Fingerprint == snap.Fingerprint {
			t.Logf("%s: no line changed", sql)
		}
		snap, stamp = next, nextStamp
	}
	for _, sql := range []string{
		`INSERT INTO shop.users (email, name) SELECT g || '@x', 'n' || g FROM generate_series(1, 500) g`,
		`UPDATE shop.users SET name = name || '!'`,
		`VACUUM ANALYZE shop.users`,
		`VACUUM (FREEZE) shop.orders`,
		`ANALYZE shop.orders`,
		`DELETE FROM shop.users`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if _, now := stamped(t, pool); now != stamp {
			t.Fatalf("%s changed the stamp, though it changes no object: an up after it would read the catalog in vain", sql)
		}
	}
}

func catalogLines(old, new catalog.Snapshot) []string { return catalog.Lines(catalog.Diff(old, new)) }
