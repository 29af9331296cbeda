package catalog

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// StampSQL is one query whose single text column is the catalog's stamp: a
// digest of which transaction wrote each row of the system catalogs an
// object's line is read from (the multiset of (catalog, xmin) pairs), of the
// roles' names, and of the server's version.
//
// Any change to a catalog row — CREATE, ALTER, DROP, RENAME, COMMENT,
// GRANT, a rewrite's new relfilenode — writes a new row version stamped
// with the writing transaction's id, which no earlier stamp can contain,
// or removes one; so an equal stamp means the same rows, and the same
// rows print the same objects: the stamp stands for the fingerprint
// without deparsing anything. The converse does not hold (a GRANT or a
// temporary table changes the stamp, not the objects): a different stamp
// only means the catalog must be read. The exceptions are PostgreSQL's
// in-place updates, which keep the row's xmin: VACUUM's and ANALYZE's
// statistics and frozen ids (relpages, reltuples, relfrozenxid, ...),
// which no line prints. Marking an index ready or valid (CREATE INDEX
// CONCURRENTLY) is a transactional update since PostgreSQL 12, so it does
// change the stamp.
//
// The multiset is digested without grouping or sorting its rows: each
// (catalog, xmin) pair is hashed twice (hashtextextended, 64 bits, with two
// seeds derived from the catalog), and the two sums over all rows — exact
// numerics, so every row counts with its multiplicity — go into the md5
// with the row count, the roles and the version. Two different multisets
// give the same stamp only if both 64-bit sums collide at once. Grouping
// the pairs and sorting their text (the stamp before) cost twice as much
// on a catalog written by thousands of transactions, which is what a
// database migrated for years holds (1,000 tables created one migration
// each: ~19 ms against ~10 ms).
//
// Reading it scans the catalogs' rows but computes nothing per object: it
// costs what scanning pg_attribute, pg_class, pg_type and pg_proc costs
// (~5 ms at 300 tables, ~10 ms at 1,000), where Read's deparsing of the
// same objects costs ~30 and ~100 ms in a fresh session.
const StampSQL = `SELECT pg_catalog.md5(concat_ws(' ', 'stamp2', r.a, r.b, r.n,
        (SELECT 'roles:' || pg_catalog.md5(string_agg(oid::text || ' ' || rolname, ',' ORDER BY oid)) FROM pg_catalog.pg_roles),
        'server:' || current_setting('server_version_num')))
FROM (
    SELECT sum(hashtextextended(x, t)) AS a, sum(hashtextextended(x, t + 4294967296)) AS b, count(*) AS n FROM (
        SELECT tableoid::int8 AS t, xmin::text AS x FROM (
            SELECT tableoid, xmin FROM pg_catalog.pg_namespace
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_class
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_attribute
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_attrdef
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_index
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_constraint
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_trigger
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_policy
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_inherits
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_partitioned_table
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_sequence
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_rewrite
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_proc
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_language
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_type
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_enum
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_range
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_collation
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_operator
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_opclass
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_am
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_cast
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_ts_config
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_ts_dict
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_extension
            UNION ALL SELECT tableoid, xmin FROM pg_catalog.pg_depend WHERE deptype = 'e'
        ) u OFFSET 0
    ) p
) r`

// Stamp reads the catalog's stamp (StampSQL).
func Stamp(ctx context.Context, db interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}) (string, error) {
	var stamp string
	if err := db.QueryRow(ctx, StampSQL).Scan(&stamp); err != nil {
		return "", fmt.Errorf("read the catalog's stamp: %w", err)
	}
	return stamp, nil
}

// ReadStamped is Read with the catalog's stamp, read first in the same
// batch. The objects are the catalog as it was when the stamp was read,
// or — if a change committed in between — as it was after: then the
// stamp's catalog is gone for good (no later catalog holds the same rows
// written by the same transactions), so no one will ever find that stamp
// again to be misled by the fingerprint recorded with it. A stamp read
// earlier (Stamp) is as good, by the same argument.
func ReadStamped(ctx context.Context, db Querier, exclude string) (Snapshot, string, error) {
	return read(ctx, db, exclude, "", true)
}

// ReadSchemaStamped is ReadSchema with the catalog's stamp. The stamp is
// the whole database's: a change in another schema makes it new too, which
// costs a full read of this schema and never hides a change in it.
func ReadSchemaStamped(ctx context.Context, db Querier, exclude, only string) (Snapshot, string, error) {
	return read(ctx, db, exclude, only, true)
}
