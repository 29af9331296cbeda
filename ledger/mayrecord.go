package ledger

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// MayRecord finds, in one read and before anything runs, whether the
// connection's role may record in this ledger — create it (CREATE on the
// database, or on an empty ledger schema), or append to it (USAGE on the
// schema, INSERT on its events, UPDATE on its head: the owner's, the
// migrator's) — and returns a *PermissionError naming what it lacks. It
// reads the catalogs only, so a role without any grant is told too,
// instead of "permission denied for schema".
func (s *Store) MayRecord(ctx context.Context) error {
	var verdict error
	p := s.MayRecordProbe(&verdict)
	rows, err := s.db.Query(ctx, p.SQL, p.Args...)
	if err == nil {
		err = p.Scan(rows)
	}
	if err != nil {
		return fmt.Errorf("ledger schema %q: find whether this role may record in it: %w", s.schema, err)
	}
	return verdict
}

// MayRecordProbe is MayRecord's read as a Probe, for a caller that sends
// it with other reads (PresenceWith): after the batch, *verdict is what
// MayRecord would return (nil: the role may record).
func (s *Store) MayRecordProbe(verdict *error) Probe {
	return Probe{SQL: mayRecordSQL, Args: []any{s.schema}, Scan: func(rows pgx.Rows) error {
		defer rows.Close()
		var (
			role                                string
			schemaExists, eventsExist           bool
			createDB, usage, createSchema       bool
			insertEvents, updateHead, headExist bool
			database                            string
		)
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return err
			}
			return pgx.ErrNoRows
		}
		if err := rows.Scan(&role, &database, &schemaExists, &eventsExist, &headExist, &createDB, &usage, &createSchema, &insertEvents, &updateHead); err != nil {
			return err
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var missing []string
		switch {
		case !schemaExists:
			if !createDB {
				missing = append(missing, "CREATE on database "+displayIdent(database))
			}
		case !eventsExist || !headExist:
			if !usage {
				missing = append(missing, "USAGE on schema "+displayIdent(s.schema))
			}
			if !createSchema {
				missing = append(missing, "CREATE on schema "+displayIdent(s.schema))
			}
		default:
			if !usage {
				missing = append(missing, "USAGE on schema "+displayIdent(s.schema))
			}
			if !insertEvents {
				missing = append(missing, "INSERT on "+displayIdent(s.schema)+".events")
			}
			if !updateHead {
				missing = append(missing, "UPDATE on "+displayIdent(s.schema)+".head")
			}
		}
		*verdict = nil
		if len(missing) > 0 {
			*verdict = &PermissionError{Schema: s.schema, Write: true, Role: role, Missing: missing}
		}
		return nil
	}}
}

// mayRecordSQL reads what MayRecord judges, from the catalogs only.
const mayRecordSQL = `
SELECT current_user, current_database(), n.oid IS NOT NULL, e.oid IS NOT NULL, h.oid IS NOT NULL,
       has_database_privilege(current_database(), 'CREATE'),
       coalesce(has_schema_privilege(n.oid, 'USAGE'), false), coalesce(has_schema_privilege(n.oid, 'CREATE'), false),
       coalesce(has_table_privilege(e.oid, 'INSERT'), false), coalesce(has_table_privilege(h.oid, 'UPDATE'), false)
  FROM (SELECT) one
  LEFT JOIN pg_namespace n ON n.nspname = $1
  LEFT JOIN pg_class e ON e.relnamespace = n.oid AND e.relname = 'events'
  LEFT JOIN pg_class h ON h.relnamespace = n.oid AND h.relname = 'head'`

// displayIdent is an identifier as a user would type it: quoted only when
// it must be.
func displayIdent(name string) string {
	for i, c := range name {
		if !(c == '_' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return pgx.Identifier{name}.Sanitize()
		}
	}
	if name == "" {
		return `""`
	}
	return name
}

// TableLockers describes the sessions holding a lock on the ledger's table
// (events, sightings, …) — "pid 123 (role app, AccessExclusiveLock, since
// 2026-12-06T15:04:05Z)" — for a read that gave up waiting for it.
func (s *Store) TableLockers(ctx context.Context, table string) []string {
	rows, err := s.db.Query(ctx, `
SELECT format('pid %s (role %s, %s%s)', l.pid, coalesce(a.usename::text, '?'), l.mode,
              coalesce(', in a transaction since ' || to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), ''))
  FROM pg_locks l LEFT JOIN pg_stat_activity a USING (pid)
 WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid()
   AND l.relation = (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2)
   AND l.mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
 ORDER BY l.pid`, s.schema, table)
	if err != nil {
		return nil
	}
	out, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	return out
}
