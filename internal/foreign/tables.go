package foreign

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Tool is another migration tool whose history this package reads.
type Tool string

// The tools, as named on ledger's command line.
const (
	Goose         Tool = "goose"
	GolangMigrate Tool = "golang-migrate"
	Tern          Tool = "tern"
	Flyway        Tool = "flyway"
)

// ParseTool accepts a tool's name (and "migrate" for golang-migrate).
func ParseTool(s string) (Tool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "goose":
		return Goose, nil
	case "golang-migrate", "migrate":
		return GolangMigrate, nil
	case "tern":
		return Tern, nil
	case "flyway":
		return Flyway, nil
	}
	return "", fmt.Errorf("unknown tool %q: want goose, golang-migrate, tern or flyway", s)
}

// DefaultTable is the history table the tool uses unless configured otherwise.
func (t Tool) DefaultTable() string {
	switch t {
	case Goose:
		return "goose_db_version"
	case GolangMigrate:
		return "schema_migrations"
	case Tern:
		return "schema_version"
	case Flyway:
		return "flyway_schema_history"
	}
	return ""
}

// Table is one history table found in a database.
type Table struct {
	Tool   Tool   `json:"tool"`
	Schema string `json:"schema"`
	Name   string `json:"table"`
}

// String is the table's qualified name as an operator types it.
func (t Table) String() string { return t.Schema + "." + t.Name }

// ident is the table's qualified name quoted for SQL text.
func (t Table) ident() string { return pgx.Identifier{t.Schema, t.Name}.Sanitize() }

// Querier is what reading needs: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// candidatesSQL lists the columns of the relations that identify needs
// to see in a history table, and their types (see mayBeHistory). Most
// databases have no relation with such columns, and then this is the whole
// search. Written for a fresh connection (every CLI run is one): one
// catalog, from FirstNormalObjectId (16384) on — every object made after
// initdb has an OID at or above it, wrapped-around OIDs too, so the system
// catalogs and information_schema are below it, and a small database's
// (attrelid, attname) index range is short — the names in a list that
// index can test, the rest in a CASE, which the planner gives a default
// selectivity instead of looking up statistics for each column it names.
// Planned and run in ~0.6 ms on a fresh connection to a new database,
// where the search as one query (tablesSQL over all of pg_attribute) took
// ~1.5 ms (EXPLAIN ANALYZE, medians of 7); with 1,000 tables both scan
// pg_attribute (3–6 ms), but where every table had a bigint version
// column, the one query read all their columns (~22 ms) and this, none.
const candidatesSQL = `
SELECT attrelid, attname::text, atttypid FROM pg_attribute
WHERE attrelid >= 16384 AND attname IN ('version', 'version_id', 'installed_rank', 'dirty', 'is_applied')
  AND CASE WHEN attnum > 0 AND NOT attisdropped THEN true END`

// The types identify accepts, by OID (format_type's integer, bigint, boolean).
const (
	typeInt4 = 23
	typeInt8 = 20
	typeBool = 16
)

// mayBeHistory says whether a relation with these of candidatesSQL's
// columns (name → type OID) may be one identify accepts: each of its rules
// needs at least this much. A bigint version column without a dirty flag
// (optimistic locking, say) is no candidate.
func mayBeHistory(cols map[string]uint32) bool {
	isInt := func(c string) bool { t, ok := cols[c]; return ok && (t == typeInt4 || t == typeInt8) }
	_, flyway := cols["installed_rank"]
	return flyway ||
		isInt("version_id") && cols["is_applied"] == typeBool || // goose
		isInt("version") && cols["dirty"] == typeBool || // golang-migrate
		cols["version"] == typeInt4 // tern
}

// tablesSQL lists the ordinary tables outside the system schemas among
// the candidates ($1), with their columns and their types.
const tablesSQL = `
SELECT n.nspname::text, c.relname::text,
       array(SELECT a.attname::text FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum),
       array(SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = ANY($1::oid[]) AND c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
ORDER BY n.nspname, c.relname`

// Detect finds the history tables of the tools in the database, by their
// columns (any table name: every tool lets its table be renamed). It never
// reports a table in the schemas listed in skip (the ledger's own). One
// query when no relation has a column such a table has (most databases);
// a second reads the columns of those that do.
func Detect(ctx context.Context, q Querier, skip ...string) ([]Table, error) {
	rows, err := q.Query(ctx, CandidatesSQL)
	if err != nil {
		return nil, fmt.Errorf("look for other migration tools' history tables: %w", err)
	}
	cands, err := ScanCandidates(rows)
	if err != nil {
		return nil, fmt.Errorf("look for other migration tools' history tables: %w", err)
	}
	return DetectAmong(ctx, q, cands, skip...)
}

// CandidatesSQL is Detect's first query, for a caller that sends it in a
// batch with other reads (one round trip); ScanCandidates reads its rows
// and DetectAmong finishes the search.
const CandidatesSQL = candidatesSQL

// Candidates are the relations a history table may be among: what
// CandidatesSQL finds.
type Candidates []uint32

// ScanCandidates reads the rows of CandidatesSQL, and closes them.
func ScanCandidates(rows pgx.Rows) (Candidates, error) {
	defer rows.Close()
	var order []uint32
	cols := map[uint32]map[string]uint32{}
	for rows.Next() {
		var rel, typ uint32
		var name string
		if err := rows.Scan(&rel, &name, &typ); err != nil {
			return nil, err
		}
		if cols[rel] == nil {
			cols[rel] = map[string]uint32{}
			order = append(order, rel)
		}
		cols[rel][name] = typ
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var cands Candidates
	for _, rel := range order {
		if mayBeHistory(cols[rel]) {
			cands = append(cands, rel)
		}
	}
	return cands, nil
}

// DetectAmong is Detect among the candidates found: no query when there
// are none.
func DetectAmong(ctx context.Context, q Querier, cands Candidates, skip ...string) ([]Table, error) {
	if len(cands) == 0 {
		return nil, nil
	}
	rows, err := q.Query(ctx, tablesSQL, []uint32(cands))
	if err != nil {
		return nil, fmt.Errorf("look for other migration tools' history tables: %w", err)
	}
	defer rows.Close()
	var found []Table
	for rows.Next() {
		var schema, name string
		var cols, types []string
		if err := rows.Scan(&schema, &name, &cols, &types); err != nil {
			return nil, fmt.Errorf("look for other migration tools' history tables: %w", err)
		}
		if slices.Contains(skip, schema) {
			continue
		}
		if tool, ok := identify(name, cols, types); ok {
			found = append(found, Table{Tool: tool, Schema: schema, Name: name})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look for other migration tools' history tables: %w", err)
	}
	return found, nil
}

// identify decides by the columns which tool's history a table is. Extra
// columns are allowed (some projects' migrations add one to the tool's
// table: Harbor's to golang-migrate's schema_migrations).
func identify(name string, cols, types []string) (Tool, bool) {
	typ := map[string]string{}
	for i, c := range cols {
		typ[c] = types[i]
	}
	has := func(c string, want ...string) bool {
		t, ok := typ[c]
		return ok && (len(want) == 0 || slices.Contains(want, t))
	}
	switch {
	case has("installed_rank") && has("version") && has("script") && has("success") && has("checksum"):
		return Flyway, true
	case has("version_id", "bigint", "integer") && has("is_applied", "boolean"):
		return Goose, true
	case has("version", "bigint", "integer") && has("dirty", "boolean"):
		return GolangMigrate, true
	case len(cols) == 1 && has("version", "integer") && name == Tern.DefaultTable():
		// tern's table has one int4 column; any other name is too common a
		// shape to claim without being told (adopt --from tern --table …).
		return Tern, true
	}
	return "", false
}

// Find returns the history table of tool: the one named (schema-qualified
// or not), else the one Detect finds for that tool. An unqualified name is
// looked up on the search path.
func Find(ctx context.Context, q Querier, tool Tool, name string, skip ...string) (Table, error) {
	if name == "" {
		all, err := Detect(ctx, q, skip...)
		if err != nil {
			return Table{}, err
		}
		var mine []Table
		for _, t := range all {
			if t.Tool == tool {
				mine = append(mine, t)
			}
		}
		switch len(mine) {
		case 1:
			return mine[0], nil
		case 0:
			return Table{}, &NotFoundError{Tool: tool, Table: tool.DefaultTable(), Others: all}
		default:
			var names []string
			for _, t := range mine {
				names = append(names, t.String())
			}
			return Table{}, fmt.Errorf("%d tables look like %s's history (%s): name one with --table", len(mine), tool, strings.Join(names, ", "))
		}
	}
	rows, err := q.Query(ctx, `SELECT n.nspname::text, c.relname::text
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = to_regclass($1)`, name)
	if err != nil {
		return Table{}, fmt.Errorf("look up table %s: %w", name, err)
	}
	t := Table{Tool: tool}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Table, error) {
		return t, r.Scan(&t.Schema, &t.Name)
	})
	if err != nil {
		return Table{}, fmt.Errorf("look up table %s: %w", name, err)
	}
	if len(found) == 0 {
		return Table{}, &NotFoundError{Tool: tool, Table: name}
	}
	return found[0], nil
}

// NotFoundError: the tool's history table is not in the database.
type NotFoundError struct {
	Tool   Tool
	Table  string
	Others []Table // the history tables there are
}

func (e *NotFoundError) Error() string {
	msg := fmt.Sprintf("no %s history table %s in this database", e.Tool, e.Table)
	if len(e.Others) > 0 {
		var names []string
		for _, t := range e.Others {
			names = append(names, fmt.Sprintf("%s (%s)", t, t.Tool))
		}
		msg += "; found " + strings.Join(names, ", ")
	}
	return msg
}

// normalise writes a decimal version without leading zeros ("" for one
// that is not a non-negative integer).
func normalise(v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return ""
		}
	}
	v = strings.TrimLeft(v, "0")
	if v == "" {
		return "0"
	}
	return v
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
