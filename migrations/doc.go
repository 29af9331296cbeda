// Package migrations loads a migration set from an fs.FS and runs it.
//
// A set is a directory (an embed.FS in a server, os.DirFS for the CLI) of
// <id>.up.sql files and optional <id>.down.sql files, id = <number>_<name>.
// Load reads and checks it without touching a database: file names, ordering
// (projector.CompareIDs), checksums, header directives (-- ledger:compatible,
// -- ledger:no-transaction), statement splitting, and the statements that
// cannot run the way the file asks (transaction control, statements that
// cannot run in a transaction block, psql meta-commands). Every problem of a
// directory is reported at once, each naming its file and line, so nothing
// runs until the whole set is sound.
//
// The runner (up, down, check) and the pure planning it builds on live here
// too. The package may import ledger, policy, projector and pgx; it must not
// import cmd/ledger or the NATS side, and nothing in ledger, policy or
// projector may import it.
package migrations
