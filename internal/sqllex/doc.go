// Package sqllex is the SQL lexer and statement splitter of migration
// files: it understands comments, quotes, dollar quotes, E'…' strings and
// psql's rules for where a statement ends, and classifies the statements
// the loader must judge (transaction control, statements that cannot run in
// a transaction block). It imports nothing but the standard library and
// never panics.
package sqllex
