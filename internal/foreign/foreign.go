// Package foreign reads the history tables other migration tools keep —
// goose, golang-migrate, tern and Flyway — so that a database one of them
// managed can be recognised (detection) and taken over (adopt). It only
// reads: it never changes another tool's table.
//
// The formats are the tools' own, as their sources create them:
//
//   - goose v3 (internal/dialect/dialectquery/postgres.go): goose_db_version
//     (id serial, version_id bigint, is_applied boolean, tstamp timestamp
//     default now()); one row per up (and, in old versions, per down with
//     is_applied = false); a down in v3 deletes the version's rows; row
//     version_id 0 is goose's own marker of an initialised table.
//   - golang-migrate v4 (database/postgres/postgres.go): schema_migrations
//     (version bigint primary key, dirty boolean); one row, the current
//     version; dirty = true after a migration failed half-way.
//   - tern (migrate/migrate.go): schema_version (version int4); one row, the
//     number of migrations applied (tern numbers its files 1..n).
//   - Flyway: flyway_schema_history (installed_rank, version, description,
//     type, script, checksum, installed_by, installed_on, execution_time,
//     success); one row per migration run, plus BASELINE and SCHEMA rows.
//
// It imports only pgx.
package foreign
