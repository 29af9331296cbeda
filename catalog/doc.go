// Package catalog reads a PostgreSQL database's schema as a snapshot: one
// line per object (schema, table, column, index, constraint, sequence, view,
// function, type, trigger, policy, extension), sorted, with a fingerprint
// over them, and diffs two snapshots object by object. Its stamp
// (StampSQL, Stamp) says in one cheap query whether the catalog is still the
// one a snapshot was read from, without deparsing anything; its Stamps
// (ReadStamps) say which relations' rows were written or removed since, so
// that ReadSince prints again only their objects (and those of the
// relations naming them) and keeps the others from the snapshot.
//
// It reads the catalog under settings of its own (search_path, DateStyle,
// TimeZone, extra_float_digits ...), so the text of an object never depends
// on the session that reads it. It imports pgx and nothing of this module.
package catalog
