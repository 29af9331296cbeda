package catalog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Stamps is what ReadSince needs to know of the catalog a snapshot was read
// from, read in one statement with its stamp (StampSQL's value, Stamp):
//   - the transactions that wrote the rows StampSQL covers (their
//     xmins): a row written since was written by a transaction that had
//     not committed then, and no row of it was there to be seen;
//   - per relation, how many rows of the catalogs whose rows can be
//     removed alone name it (its pg_class row, its indexes' pg_index rows,
//     its constraints, triggers, policies, rules, defaults and
//     inheritance), and how many rows belong to no relation (schemas,
//     types, functions, extensions ...; relation 0): a row removed since
//     lowers a count, a row written since has a new xmin, so together they
//     see every row written or removed (a column's pg_attribute row, a row
//     type's pg_type rows are removed only with their relation's or index's
//     pg_class row);
//   - the names of the relations whose objects the snapshot lists, to
//     know which of its objects are whose;
//   - the roles and the server's version, as StampSQL does.
//
// It is safe for concurrent reads.
type Stamps struct {
	Stamp  string
	xmins  []string
	counts map[uint32]int64
	names  map[uint32]relName
	roles  string
}

// relName is a relation as the snapshot names it: its kind (pg_class
// relkind) and qualified name.
type relName struct {
	kind  string
	qname string
}

// stampRowsSQL lists the rows StampSQL covers (the same catalogs, the same
// rows) as (rel, tableoid, xmin): rel is the pg_class oid of the relation
// a row is printed for (an index's pg_index row: its table's), 0 for a row
// of no relation (a composite type's pg_class row among them).
const stampRowsSQL = `SELECT 0::oid AS rel, tableoid, xmin FROM pg_catalog.pg_namespace
    UNION ALL SELECT CASE WHEN relkind = 'c' THEN 0 ELSE oid END, tableoid, xmin FROM pg_catalog.pg_class
    UNION ALL SELECT attrelid, tableoid, xmin FROM pg_catalog.pg_attribute
    UNION ALL SELECT adrelid, tableoid, xmin FROM pg_catalog.pg_attrdef
    UNION ALL SELECT indrelid, tableoid, xmin FROM pg_catalog.pg_index
    UNION ALL SELECT conrelid, tableoid, xmin FROM pg_catalog.pg_constraint
    UNION ALL SELECT tgrelid, tableoid, xmin FROM pg_catalog.pg_trigger
    UNION ALL SELECT polrelid, tableoid, xmin FROM pg_catalog.pg_policy
    UNION ALL SELECT inhrelid, tableoid, xmin FROM pg_catalog.pg_inherits
    UNION ALL SELECT partrelid, tableoid, xmin FROM pg_catalog.pg_partitioned_table
    UNION ALL SELECT seqrelid, tableoid, xmin FROM pg_catalog.pg_sequence
    UNION ALL SELECT ev_class, tableoid, xmin FROM pg_catalog.pg_rewrite
    UNION ALL SELECT 0, tableoid, xmin FROM pg_catalog.pg_proc
    UNION ALL SELECT 0, tableoid, xmin FROM pg_catalog.pg_language
    UNION ALL SELECT CASE WHEN t.typrelid <> 0 THEN t.typrelid ELSE coalesce(e.typrelid, 0) END, t.tableoid, t.xmin
    FROM pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND t.typelem <> 0
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
    UNION ALL SELECT 0, tableoid, xmin FROM pg_catalog.pg_depend WHERE deptype = 'e'`

// stampsHead is what both queries of Stamps read, in one pass over the
// catalogs (r): StampSQL's stamp from the same groups, the roles, and the
// counts — per relation, of its rows in the catalogs whose rows can be
// removed alone (pg_class, pg_index, pg_constraint, pg_trigger, pg_policy,
// pg_rewrite, pg_attrdef, pg_inherits); for 0, of every row of no relation
// (the row types' and their arrays' pg_type rows are their relation's,
// removed only with its pg_class row).
const stampsHead = `WITH r AS MATERIALIZED (
    ` + stampRowsSQL + `
), g AS MATERIALIZED (
    SELECT tableoid, xmin, count(*) AS n FROM r GROUP BY tableoid, xmin
)
SELECT 'stamp', NULL::oid, NULL::int8, (SELECT pg_catalog.md5(string_agg(x, ',' ORDER BY x)) FROM (
    SELECT tableoid::text || ':' || xmin::text || ':' || n AS x FROM g
    UNION ALL
    SELECT 'roles:' || pg_catalog.md5(string_agg(oid::text || ' ' || rolname, ',' ORDER BY oid)) FROM pg_catalog.pg_roles
    UNION ALL
    SELECT 'server:' || current_setting('server_version_num')
) s)
UNION ALL
SELECT 'roles', NULL, NULL, 'roles:' || pg_catalog.md5(string_agg(oid::text || ' ' || rolname, ',' ORDER BY oid)) || ' server:' || current_setting('server_version_num')
FROM pg_catalog.pg_roles
UNION ALL
SELECT 'count', rel, count(*), NULL FROM r
WHERE rel = 0 OR tableoid IN ('pg_catalog.pg_class'::pg_catalog.regclass, 'pg_catalog.pg_index'::pg_catalog.regclass,
    'pg_catalog.pg_constraint'::pg_catalog.regclass, 'pg_catalog.pg_trigger'::pg_catalog.regclass, 'pg_catalog.pg_policy'::pg_catalog.regclass,
    'pg_catalog.pg_rewrite'::pg_catalog.regclass, 'pg_catalog.pg_attrdef'::pg_catalog.regclass, 'pg_catalog.pg_inherits'::pg_catalog.regclass)
GROUP BY rel`

// stampsSQL reads Stamps ($1 and $2 are objectsSQL's: the schema left out,
// the only schema read): with stampsHead, the xmins and the names of the
// relations whose objects a snapshot lists.
const stampsSQL = stampsHead + `
UNION ALL
(SELECT DISTINCT 'xmin', NULL::oid, NULL::int8, xmin::text FROM g)
UNION ALL
SELECT 'name', c.oid, NULL, c.relkind::text || format('%I.%I', ns.nspname, c.relname)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S')
  AND ns.nspname <> $1 AND ($2::text = '' OR ns.nspname = $2::text) AND ns.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND ns.nspname NOT LIKE 'pg\_temp\_%' AND ns.nspname NOT LIKE 'pg\_toast\_temp\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend m WHERE m.deptype = 'e' AND m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND m.objid = c.oid)`

// writtenSQL is stampsSQL and the owners of the catalog rows written by
// transactions none of whose rows were there when the earlier stamps were
// read ($3: their xmins) — a transaction that had not committed then: a
// relation (an index's row: its table), or 0 for a row of no relation.
const writtenSQL = stampsSQL + `
UNION ALL
SELECT DISTINCT 'new', coalesce(CASE WHEN n.rel = 0 THEN 0 WHEN c.relkind IN ('i', 'I') THEN i.indrelid WHEN c.relkind = 'c' THEN 0 ELSE c.oid END, 0), NULL::int8, NULL
FROM (SELECT DISTINCT rel FROM r WHERE xmin NOT IN (SELECT x::xid FROM unnest($3::text[]) x)) n
LEFT JOIN pg_catalog.pg_class c ON c.oid = n.rel AND n.rel <> 0
LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid`

// dependentsSQL lists the owners (relations, or 0 for the objects of no
// relation) of the objects that name an object of the relations $1
// (pg_depend): a foreign key naming a table's columns, a view over it, a
// default naming a sequence, a partition naming its parent, a function
// taking a table's row type.
const dependentsSQL = `WITH moved AS (
    SELECT unnest($1::oid[]) AS owner
), owned AS (
    SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::oid AS classid, c.oid AS objid FROM pg_catalog.pg_class c WHERE c.oid IN (SELECT owner FROM moved)
    UNION ALL SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::oid, i.indexrelid FROM pg_catalog.pg_index i WHERE i.indrelid IN (SELECT owner FROM moved)
    UNION ALL SELECT 'pg_catalog.pg_type'::pg_catalog.regclass::oid, t.oid FROM pg_catalog.pg_type t WHERE t.typrelid IN (SELECT owner FROM moved)
    UNION ALL SELECT 'pg_catalog.pg_type'::pg_catalog.regclass::oid, t.typarray FROM pg_catalog.pg_type t WHERE t.typrelid IN (SELECT owner FROM moved) AND t.typarray <> 0
    UNION ALL SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass::oid, k.oid FROM pg_catalog.pg_constraint k WHERE k.conrelid IN (SELECT owner FROM moved)
    UNION ALL SELECT 'pg_catalog.pg_trigger'::pg_catalog.regclass::oid, g.oid FROM pg_catalog.pg_trigger g WHERE g.tgrelid IN (SELECT owner FROM moved)
    UNION ALL SELECT 'pg_catalog.pg_policy'::pg_catalog.regclass::oid, p.oid FROM pg_catalog.pg_policy p WHERE p.polrelid IN (SELECT owner FROM moved)
    UNION ALL SELECT 'pg_catalog.pg_rewrite'::pg_catalog.regclass::oid, w.oid FROM pg_catalog.pg_rewrite w WHERE w.ev_class IN (SELECT owner FROM moved)
    UNION ALL SELECT 'pg_catalog.pg_attrdef'::pg_catalog.regclass::oid, d.oid FROM pg_catalog.pg_attrdef d WHERE d.adrelid IN (SELECT owner FROM moved)
), dep AS (
    SELECT DISTINCT d.classid, d.objid FROM pg_catalog.pg_depend d JOIN owned o ON d.refclassid = o.classid AND d.refobjid = o.objid
), rel AS (
    SELECT dep.objid AS rel FROM dep WHERE dep.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
    UNION ALL SELECT CASE WHEN t.typrelid <> 0 THEN t.typrelid ELSE e.typrelid END FROM dep
    JOIN pg_catalog.pg_type t ON t.oid = dep.objid LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND t.typelem <> 0
    WHERE dep.classid = 'pg_catalog.pg_type'::pg_catalog.regclass
    UNION ALL SELECT k.conrelid FROM dep JOIN pg_catalog.pg_constraint k ON k.oid = dep.objid WHERE dep.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass
    UNION ALL SELECT g.tgrelid FROM dep JOIN pg_catalog.pg_trigger g ON g.oid = dep.objid WHERE dep.classid = 'pg_catalog.pg_trigger'::pg_catalog.regclass
    UNION ALL SELECT p.polrelid FROM dep JOIN pg_catalog.pg_policy p ON p.oid = dep.objid WHERE dep.classid = 'pg_catalog.pg_policy'::pg_catalog.regclass
    UNION ALL SELECT w.ev_class FROM dep JOIN pg_catalog.pg_rewrite w ON w.oid = dep.objid WHERE dep.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
    UNION ALL SELECT d.adrelid FROM dep JOIN pg_catalog.pg_attrdef d ON d.oid = dep.objid WHERE dep.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass
    UNION ALL SELECT 0 FROM dep WHERE dep.classid NOT IN ('pg_catalog.pg_class'::pg_catalog.regclass, 'pg_catalog.pg_type'::pg_catalog.regclass,
        'pg_catalog.pg_constraint'::pg_catalog.regclass, 'pg_catalog.pg_trigger'::pg_catalog.regclass, 'pg_catalog.pg_policy'::pg_catalog.regclass,
        'pg_catalog.pg_rewrite'::pg_catalog.regclass, 'pg_catalog.pg_attrdef'::pg_catalog.regclass)
)
SELECT DISTINCT coalesce(CASE WHEN rel.rel = 0 THEN 0 WHEN c.relkind IN ('i', 'I') THEN i.indrelid WHEN c.relkind = 'c' THEN 0 ELSE c.oid END, 0)
FROM rel LEFT JOIN pg_catalog.pg_class c ON c.oid = rel.rel LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid`

// ReadStamps reads the catalog's Stamps in one statement (one snapshot of
// the catalogs), nothing deparsed. exclude and only are Read's and
// ReadSchema's.
func ReadStamps(ctx context.Context, db interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}, exclude, only string) (Stamps, error) {
	st, _, err := readStamps(ctx, db, exclude, only, nil)
	return st, err
}

func readStamps(ctx context.Context, db interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}, exclude, only string, since *Stamps) (Stamps, []uint32, error) {
	sql, args := stampsSQL, []any{exclude, only}
	if since != nil {
		sql, args = writtenSQL, append(args, since.xmins)
	}
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return Stamps{}, nil, fmt.Errorf("read the catalog's stamps: %w", err)
	}
	st := Stamps{counts: map[uint32]int64{}, names: map[uint32]relName{}}
	var written []uint32
	var what string
	var owner *uint32
	var n *int64
	var text *string
	_, err = pgx.ForEachRow(rows, []any{&what, &owner, &n, &text}, func() error {
		switch {
		case what == "stamp" && text != nil:
			st.Stamp = *text
		case what == "roles" && text != nil:
			st.roles = *text
		case what == "xmin" && text != nil:
			st.xmins = append(st.xmins, *text)
		case what == "new" && owner != nil:
			written = append(written, *owner)
		case what == "count" && owner != nil && n != nil:
			st.counts[*owner] = *n
		case what == "name" && owner != nil && text != nil && len(*text) > 1:
			st.names[*owner] = relName{kind: (*text)[:1], qname: (*text)[1:]}
		default:
			return fmt.Errorf("an unexpected row %q", what)
		}
		return nil
	})
	if err == nil && (st.Stamp == "" || st.roles == "" || len(st.xmins) == 0) {
		err = errors.New("no stamp")
	}
	if err != nil {
		return Stamps{}, nil, fmt.Errorf("read the catalog's stamps: %w", err)
	}
	return st, written, nil
}

// moved lists the relations whose rows were written (written: the owners
// of the rows whose xmin s did not hold) or removed (a count changed)
// since s; rest says why anything of no relation moved ("" if nothing did).
func (s Stamps) moved(now Stamps, written []uint32) (relations []uint32, rest string) {
	seen := map[uint32]bool{}
	add := func(oid uint32, why string) {
		if oid == 0 {
			rest = why
		} else if !seen[oid] {
			seen[oid] = true
			relations = append(relations, oid)
		}
	}
	for _, oid := range written {
		add(oid, "rows of no relation were written")
	}
	for oid, n := range now.counts {
		if s.counts[oid] != n {
			add(oid, "rows of no relation were added or removed")
		}
	}
	for oid := range s.counts {
		if _, ok := now.counts[oid]; !ok {
			add(oid, "rows of no relation were removed")
		}
	}
	if s.roles != now.roles {
		rest = "the roles changed"
	}
	slices.Sort(relations)
	return relations, rest
}

// ReadWithStamps is Read (ReadSchema if only is not empty) with the
// catalog's Stamps, read first in the same REPEATABLE READ transaction: the
// objects' rows are those the stamps were read from. (The deparsers
// read the newest catalog, as in Read; a change committed in between has
// rows newer than the stamps, so ReadSince reads it again.)
func ReadWithStamps(ctx context.Context, db Querier, exclude, only string) (Snapshot, Stamps, error) {
	snap, st, _, err := readSince(ctx, db, exclude, only, nil, Stamps{})
	return snap, st, err
}

// Reread says how ReadSince read the catalog.
type Reread struct {
	// Full: every object was printed; Why says why ("" when there was no
	// snapshot to start from).
	Full bool
	Why  string
	// Moved is the number of relations whose rows were written or removed;
	// Relations the number whose objects were printed (those and the ones
	// naming them).
	Moved, Relations int
	// Printed and Kept count the objects printed and taken from the last
	// snapshot.
	Printed, Kept int
}

// String is how the read went, for a log line.
func (r Reread) String() string {
	if r.Full {
		return strings.TrimSpace("in full " + r.Why)
	}
	return fmt.Sprintf("%d relations moved, %d printed: %d objects printed, %d kept", r.Moved, r.Relations, r.Printed, r.Kept)
}

// ReadSince reads the catalog as Read does (ReadSchema if only is not
// empty), knowing that it was last (the snapshot) when its stamps were
// stamps. It prints again only the objects of the relations whose catalog
// rows were written or removed since, and of the relations whose objects
// name them (foreign keys, views, defaults naming sequences, partitions;
// pg_depend); every other object it takes from last. The result is the
// snapshot Read would give, byte for byte: an object kept is printed from
// rows that are the rows last was printed from, naming only objects whose
// rows are as unchanged. It prints everything when anything of no relation
// changed (a schema, type, function, extension or role: any object may
// name it), when an object of no relation names a relation that changed,
// or when an object of last cannot be told whose it is. It returns the
// stamps read with the objects.
func ReadSince(ctx context.Context, db Querier, exclude, only string, last Snapshot, stamps Stamps) (Snapshot, Stamps, Reread, error) {
	if stamps.counts == nil {
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
	if _, err := tx.Exec(ctx, settings); err != nil {
		return Snapshot{}, Stamps{}, how, fmt.Errorf("read the catalog: %w", err)
	}
	var since *Stamps
	if last != nil {
		since = &stamps
	}
	now, written, err := readStamps(ctx, tx, exclude, only, since)
	if err != nil {
		return Snapshot{}, Stamps{}, how, err
	}
	var objects []Object
	if last == nil {
		how.Full = true
	} else {
		objects, err = reprint(ctx, tx, exclude, only, *last, stamps, now, written, &how)
		if err != nil {
			return Snapshot{}, Stamps{}, how, err
		}
	}
	if how.Full {
		if objects, err = printObjects(ctx, tx, objectsSQL, exclude, only); err != nil {
			return Snapshot{}, Stamps{}, how, err
		}
		how.Printed, how.Kept = len(objects), 0
	}
	if err := tx.Commit(ctx); err != nil {
		return Snapshot{}, Stamps{}, how, fmt.Errorf("read the catalog: %w", err)
	}
	return NewSnapshot(objects), now, how, nil
}

// reprint gives the objects of the catalog now from last and what moved
// since stamps, or sets how.Full (and returns nothing) when it cannot.
func reprint(ctx context.Context, tx pgx.Tx, exclude, only string, last Snapshot, stamps, now Stamps, written []uint32, how *Reread) ([]Object, error) {
	moved, rest := stamps.moved(now, written)
	how.Moved = len(moved)
	if rest != "" {
		how.Full, how.Why = true, "("+rest+")"
		return nil, nil
	}
	if len(moved) == 0 {
		how.Kept = len(last.Objects)
		return slices.Clone(last.Objects), nil
	}
	printed := map[uint32]bool{}
	for _, oid := range moved {
		printed[oid] = true
	}
	rows, err := tx.Query(ctx, dependentsSQL, moved)
	if err != nil {
		return nil, fmt.Errorf("read the catalog: %w", err)
	}
	var oid uint32
	if _, err := pgx.ForEachRow(rows, []any{&oid}, func() error { printed[oid] = true; return nil }); err != nil {
		return nil, fmt.Errorf("read the catalog: %w", err)
	}
	owners, ok := stamps.owners(last)
	if !ok {
		how.Full, how.Why = true, "(an object of the last snapshot could not be told whose)"
		return nil, nil
	}
	list := make([]uint32, 0, len(printed))
	for oid := range printed {
		list = append(list, oid)
	}
	slices.Sort(list)
	how.Relations = len(list)
	objects, err := printObjects(ctx, tx, objectsOfSQL, exclude, only, list)
	if err != nil {
		return nil, err
	}
	how.Printed = len(objects)
	for i, o := range last.Objects {
		if !printed[owners[i]] {
			objects = append(objects, o)
			how.Kept++
		}
	}
	return objects, nil
}

// owners says, for each object of last, the relation it is printed from
// (0: none), by the names the relations had when last was read (s.names).
// ok is false if an object that must be a relation's names none.
func (s Stamps) owners(last Snapshot) (owners []uint32, ok bool) {
	byName := make(map[string]uint32, len(s.names))
	for oid, n := range s.names {
		byName[n.qname] = oid
	}
	owners = make([]uint32, len(last.Objects))
	for i, o := range last.Objects {
		switch o.Kind {
		case KindTable, KindView, KindMaterializedView, KindSequence:
			oid, found := byName[o.Name]
			if !found {
				return nil, false
			}
			owners[i] = oid
		case KindColumn, KindConstraint, KindTrigger, KindPolicy:
			parts := identifiers(o.Name)
			oid, found := uint32(0), false
			if len(parts) == 3 {
				oid, found = byName[parts[0]+"."+parts[1]]
			}
			switch {
			case found && (o.Kind != KindConstraint || strings.Contains("rpf", s.names[oid].kind)):
				owners[i] = oid
			case o.Kind == KindConstraint && len(parts) == 3:
				owners[i] = 0 // a domain's
			default:
				return nil, false
			}
		case KindIndex:
			oid, found := byName[indexTable(o.Def)]
			if !found {
				return nil, false
			}
			owners[i] = oid
		}
	}
	return owners, true
}

// identifiers splits a qualified name printed with %I into its
// identifiers, each as printed (quoted or not).
func identifiers(name string) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '"':
			quoted = !quoted // a doubled quote flips twice
		case c == '.' && !quoted:
			out = append(out, name[start:i])
			start = i + 1
		}
	}
	return append(out, name[start:])
}

// indexTable is the qualified name of the table in an index's definition
// (pg_get_indexdef: "CREATE [UNIQUE] INDEX name ON [ONLY] schema.table
// USING ..."), "" if it has none.
func indexTable(def string) string {
	rest, ok := strings.CutPrefix(def, "CREATE INDEX ")
	if !ok {
		if rest, ok = strings.CutPrefix(def, "CREATE UNIQUE INDEX "); !ok {
			return ""
		}
	}
	// The index's name: one identifier, quoted or not.
	i := 0
	if strings.HasPrefix(rest, `"`) {
		for i = 1; i < len(rest); i++ {
			if rest[i] == '"' {
				if i+1 < len(rest) && rest[i+1] == '"' {
					i++
					continue
				}
				break
			}
		}
		i++
	} else {
		i = strings.IndexByte(rest, ' ')
		if i < 0 {
			return ""
		}
	}
	rest, ok = strings.CutPrefix(rest[i:], " ON ")
	if !ok {
		return ""
	}
	rest = strings.TrimPrefix(rest, "ONLY ")
	// schema.table: two identifiers and a dot, up to " USING ".
	parts, n := 0, 0
	quoted := false
	for n = 0; n < len(rest); n++ {
		c := rest[n]
		if c == '"' {
			quoted = !quoted
		} else if !quoted && c == ' ' {
			break
		} else if !quoted && c == '.' {
			parts++
		}
	}
	if parts != 1 || !strings.HasPrefix(rest[n:], " USING ") {
		return ""
	}
	return rest[:n]
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

// printObjects runs an objects query in tx.
func printObjects(ctx context.Context, tx pgx.Tx, sql, exclude, only string, oids ...[]uint32) ([]Object, error) {
	args := []any{exclude, only}
	for _, o := range oids {
		args = append(args, o)
	}
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("read the catalog: %w", err)
	}
	var out []Object
	var o Object
	_, err = pgx.ForEachRow(rows, []any{&o.Kind, &o.Name, &o.Def}, func() error {
		out = append(out, o)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the catalog: %w", err)
	}
	return out, nil
}
