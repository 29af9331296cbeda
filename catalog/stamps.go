package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Stamps is the catalog's stamp taken apart by owner: the rows each
// relation's objects are printed from (Relations: its pg_class, pg_attribute,
// pg_attrdef, pg_constraint, pg_trigger, pg_policy, pg_inherits,
// pg_partitioned_table, pg_sequence and pg_rewrite rows, its indexes' and
// its row type's), and every other row the stamp covers (Rest: schemas,
// types, functions, extensions, roles, the server's version ...). A
// relation's stamp is a digest of the (catalog, xmin) pairs of its rows,
// so it moves whenever one of them is written or removed — the argument of
// StampSQL, relation by relation. Stamp is StampSQL's value for the same
// catalog. It is safe for concurrent reads.
type Stamps struct {
	Stamp     string
	Rest      string
	Relations map[uint32]string // pg_class oid -> its stamp
}

// stampsSQL lists (owner, stamp): one row per relation that owns catalog
// rows (owner > 0), one for the rest (owner 0), and the whole catalog's
// stamp (owner NULL), computed from the same rows as StampSQL, in one
// statement (one snapshot of the catalogs).
const stampsSQL = `WITH ` + ownersSQL + `, r AS (
    SELECT 0::oid AS owner, tableoid, xmin FROM pg_catalog.pg_namespace
    UNION ALL SELECT coalesce(o.owner, 0), x.tableoid, x.xmin FROM pg_catalog.pg_class x LEFT JOIN cls o ON o.oid = x.oid
    UNION ALL SELECT coalesce(o.owner, 0), x.tableoid, x.xmin FROM pg_catalog.pg_attribute x LEFT JOIN cls o ON o.oid = x.attrelid
    UNION ALL SELECT coalesce(o.owner, 0), x.tableoid, x.xmin FROM pg_catalog.pg_attrdef x LEFT JOIN cls o ON o.oid = x.adrelid
    UNION ALL SELECT coalesce(o.owner, 0), x.tableoid, x.xmin FROM pg_catalog.pg_index x LEFT JOIN cls o ON o.oid = x.indexrelid
    UNION ALL SELECT coalesce(o.owner, 0), x.tableoid, x.xmin FROM pg_catalog.pg_constraint x LEFT JOIN cls o ON o.oid = x.conrelid
    UNION ALL SELECT coalesce(o.owner, 0), x.tableoid, x.xmin FROM pg_catalog.pg_trigger x LEFT JOIN cls o ON o.oid = x.tgrelid
    UNION ALL SELECT coalesce(o.owner, 0), x.tableoid, x.xmin FROM pg_catalog.pg_policy x LEFT JOIN cls o ON o.oid = x.polrelid
    UNION ALL SELECT coalesce(o.owner, 0), x.tableoid, x.xmin FROM pg_catalog.pg_inherits x LEFT JOIN cls o ON o.oid = x.inhrelid
    UNION ALL SELECT coalesce(o.owner, 0), x.tableoid, x.xmin FROM pg_catalog.pg_partitioned_table x LEFT JOIN cls o ON o.oid = x.partrelid
    UNION ALL SELECT coalesce(o.owner, 0), x.tableoid, x.xmin FROM pg_catalog.pg_sequence x LEFT JOIN cls o ON o.oid = x.seqrelid
    UNION ALL SELECT coalesce(o.owner, 0), x.tableoid, x.xmin FROM pg_catalog.pg_rewrite x LEFT JOIN cls o ON o.oid = x.ev_class
    UNION ALL SELECT 0, tableoid, xmin FROM pg_catalog.pg_proc
    UNION ALL SELECT 0, tableoid, xmin FROM pg_catalog.pg_language
    UNION ALL SELECT coalesce(o.owner, 0), x.tableoid, x.xmin FROM pg_catalog.pg_type x LEFT JOIN typ o ON o.oid = x.oid
    UNION ALL SELECT 0, tableoid, xmin FROM pg_catalog.pg_enum
    UNION ALL SELECT 0, tableoid, xmin FROM pg_catalog.pg_range
    UNION ALL SELECT 0, tableoid, xmin FROM pg_catalog.pg_collation
    UNION ALL SELECT 0, tableoid, xmin FROM pg_catalog.pg_operator
    UNION ALL SELECT 0, tableoid, xmin FROM pg_catalog.pg_opclass
    UNION ALL SELECT 0, tableoid, xmin FROM pg_catalog.pg_am
    UNION ALL SELECT 0, tableoid, xmin FROM pg_catalog.pg_cast
    UNION ALL SELECT 0, tableoid, xmin FROM pg_catalog.pg_ts_config
    UNION ALL SELECT 0, tableoid, xmin FROM pg_catalog.pg_ts_dict
    UNION ALL SELECT 0, tableoid, xmin FROM pg_catalog.pg_extension
    UNION ALL SELECT 0, tableoid, xmin FROM pg_catalog.pg_depend WHERE deptype = 'e'
), g AS (
    SELECT owner, tableoid, xmin, count(*) AS n FROM r GROUP BY owner, tableoid, xmin
), roles AS (
    SELECT 'roles:' || pg_catalog.md5(string_agg(oid::text || ' ' || rolname, ',' ORDER BY oid)) AS x FROM pg_catalog.pg_roles
    UNION ALL
    SELECT 'server:' || current_setting('server_version_num')
)
SELECT NULL::oid, pg_catalog.md5(string_agg(x, ',' ORDER BY x)) FROM (
    SELECT tableoid::text || ':' || xmin::text || ':' || sum(n) AS x FROM g GROUP BY tableoid, xmin
    UNION ALL SELECT x FROM roles
) s
UNION ALL
SELECT owner, pg_catalog.md5(string_agg(x, ',' ORDER BY x COLLATE "C")) FROM (
    SELECT owner, tableoid::text || ':' || xmin::text || ':' || n AS x FROM g
    UNION ALL SELECT 0, x FROM roles
) s GROUP BY owner`

// ReadStamps reads the catalog's stamps in one query (one snapshot of the
// catalogs). Its cost is StampSQL's and a little more: nothing is deparsed.
func ReadStamps(ctx context.Context, db interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}) (Stamps, error) {
	rows, err := db.Query(ctx, stampsSQL)
	if err != nil {
		return Stamps{}, fmt.Errorf("read the catalog's stamps: %w", err)
	}
	st, err := scanStamps(rows)
	if err != nil {
		return Stamps{}, fmt.Errorf("read the catalog's stamps: %w", err)
	}
	return st, nil
}

func scanStamps(rows pgx.Rows) (Stamps, error) {
	st := Stamps{Relations: map[uint32]string{}}
	var owner *uint32
	var stamp string
	_, err := pgx.ForEachRow(rows, []any{&owner, &stamp}, func() error {
		switch {
		case owner == nil:
			st.Stamp = stamp
		case *owner == 0:
			st.Rest = stamp
		default:
			st.Relations[*owner] = stamp
		}
		return nil
	})
	if err == nil && (st.Stamp == "" || st.Rest == "") {
		err = errors.New("no stamp for the whole catalog or for its rest")
	}
	return st, err
}

// Moved lists the relations whose stamp differs between s and now: changed,
// created or dropped. rest is true when the rest's stamp moved.
func (s Stamps) Moved(now Stamps) (relations []uint32, rest bool) {
	for oid, st := range now.Relations {
		if s.Relations[oid] != st {
			relations = append(relations, oid)
		}
	}
	for oid := range s.Relations {
		if _, ok := now.Relations[oid]; !ok {
			relations = append(relations, oid)
		}
	}
	return relations, s.Rest != now.Rest
}

// ReadWithStamps is Read (ReadSchema if only is not empty) with the
// catalog's stamps, read first in the same REPEATABLE READ transaction: the
// objects' rows are those the stamps were computed from. (The deparsers
// read the newest catalog, as in Read: a change committed in between moves
// the stamps of what it changed against any later stamps, so ReadSince
// reads it again.)
func ReadWithStamps(ctx context.Context, db Querier, exclude, only string) (Snapshot, Stamps, error) {
	snap, st, _, err := readSince(ctx, db, exclude, only, nil, Stamps{})
	return snap, st, err
}

// Reread says how ReadSince read the catalog.
type Reread struct {
	// Full: every object was printed; Why says why ("" when nothing was
	// kept to begin with).
	Full bool
	Why  string
	// Relations is the number of relations whose stamp moved.
	Relations int
	// Printed and Kept count the objects printed and taken from the last
	// snapshot.
	Printed, Kept int
}

// ReadSince reads the catalog as Read does (ReadSchema if only is not
// empty), knowing that it was last (the snapshot) when its stamps were
// stamps: it prints again only the objects of the relations whose stamp
// moved since, of the relations whose objects name them (foreign keys,
// views, defaults naming sequences, partitions; pg_depend) and, if an
// object of no relation names one of them, those of no relation; every
// other object it lists by name and takes from last. The result is the
// snapshot Read would give, byte for byte: an object kept is printed from
// rows whose (catalog, xmin) pairs are those last was printed from, and
// names only objects whose rows are as unchanged. It falls back to printing
// everything when the rest's stamp moved (a schema, type, function or role
// changed: any object may name it), or when an object kept is not in last.
// It returns the stamps read with the objects.
func ReadSince(ctx context.Context, db Querier, exclude, only string, last Snapshot, stamps Stamps) (Snapshot, Stamps, Reread, error) {
	if stamps.Relations == nil {
		return Snapshot{}, Stamps{}, Reread{}, errors.New("read the catalog since: no stamps to compare with")
	}
	return readSince(ctx, db, exclude, only, &last, stamps)
}

func readSince(ctx context.Context, db Querier, exclude, only string, last *Snapshot, stamps Stamps) (Snapshot, Stamps, Reread, error) {
	var how Reread
	tx, err := beginRepeatable(ctx, db)
	if err != nil {
		return Snapshot{}, Stamps{}, how, fmt.Errorf("read the catalog: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only
	b := &pgx.Batch{}
	b.Queue(settings)
	var now Stamps
	b.Queue(stampsSQL).Query(func(rows pgx.Rows) error {
		var err error
		now, err = scanStamps(rows)
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return Snapshot{}, Stamps{}, how, fmt.Errorf("read the catalog's stamps: %w", err)
	}
	var moved []uint32
	switch {
	case last == nil:
		how.Full = true
	default:
		var rest bool
		moved, rest = stamps.Moved(now)
		how.Relations = len(moved)
		if rest {
			how.Full, how.Why = true, "the stamp of the objects of no relation moved"
		}
	}
	objects, err := printObjects(ctx, tx, exclude, only, how.Full, moved)
	if err != nil {
		return Snapshot{}, Stamps{}, how, err
	}
	if !how.Full {
		kept := make(map[string]int, len(last.Objects))
		for i, o := range last.Objects {
			if _, dup := kept[o.Key()]; dup {
				kept[o.Key()] = -1
				continue
			}
			kept[o.Key()] = i
		}
		for i := range objects {
			if objects[i].printed {
				how.Printed++
				continue
			}
			j, ok := kept[objects[i].Key()]
			if !ok || j < 0 {
				how.Full, how.Why = true, fmt.Sprintf("%s is not in the last snapshot once", objects[i].Key())
				break
			}
			objects[i].Def = last.Objects[j].Def
			how.Kept++
		}
		if how.Full {
			how.Printed, how.Kept = 0, 0
			if objects, err = printObjects(ctx, tx, exclude, only, true, nil); err != nil {
				return Snapshot{}, Stamps{}, how, err
			}
		}
	}
	if how.Full {
		how.Printed = len(objects)
	}
	if err := tx.Commit(ctx); err != nil {
		return Snapshot{}, Stamps{}, how, fmt.Errorf("read the catalog: %w", err)
	}
	out := make([]Object, len(objects))
	for i, o := range objects {
		out[i] = o.Object
	}
	return NewSnapshot(out), now, how, nil
}

// beginRepeatable begins a REPEATABLE READ, READ ONLY transaction: in its
// BEGIN when db can (a pool, a connection), else (a transaction: a
// savepoint in it) by SET TRANSACTION before any query.
func beginRepeatable(ctx context.Context, db Querier) (pgx.Tx, error) {
	if db, ok := db.(interface {
		BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
	}); ok {
		return db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"); err != nil {
		tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // the error is err
		return nil, err
	}
	return tx, nil
}

// line is an object as the objects query lists it: printed false means
// listed by name only.
type line struct {
	Object
	printed bool
}

// printObjects runs objectsSQL (all) or objectsSinceSQL (moved) in tx.
func printObjects(ctx context.Context, tx pgx.Tx, exclude, only string, all bool, moved []uint32) ([]line, error) {
	sql, args := objectsSQL, []any{exclude, only}
	if !all {
		sql, args = objectsSinceSQL, []any{exclude, only, moved}
	}
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("read the catalog: %w", err)
	}
	var out []line
	var l line
	_, err = pgx.ForEachRow(rows, []any{&l.Kind, &l.Name, &l.Def, &l.printed}, func() error {
		out = append(out, l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the catalog: %w", err)
	}
	return out, nil
}

// String is how the read went, for a log line.
func (r Reread) String() string {
	if r.Full {
		return strings.TrimSpace("in full " + r.Why)
	}
	return fmt.Sprintf("%d relations moved: %d objects printed, %d kept", r.Relations, r.Printed, r.Kept)
}
