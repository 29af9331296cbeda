package catalog

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Object is one object of the schema: its kind ("table", "column",
// "index" ...), its qualified name (identifiers quoted where PostgreSQL
// would need it) and its definition.
type Object struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	Def  string `json:"def,omitempty"`
}

// Key identifies the object across snapshots: two objects with the same key
// and different definitions are one object that changed.
func (o Object) Key() string { return o.Kind + " " + o.Name }

// String is the object's line: kind, name and definition.
func (o Object) String() string {
	if o.Def == "" {
		return o.Key()
	}
	return o.Key() + " " + o.Def
}

func compareObjects(a, b Object) int {
	return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Name, b.Name), strings.Compare(a.Def, b.Def))
}

// Snapshot is the schema at one moment: its objects sorted by kind, name and
// definition, and the fingerprint over them. It is safe for concurrent reads.
type Snapshot struct {
	Fingerprint string   `json:"fingerprint"`
	Objects     []Object `json:"objects"`
}

// NewSnapshot sorts objects and computes their fingerprint.
func NewSnapshot(objects []Object) Snapshot {
	objects = slices.Clone(objects)
	slices.SortFunc(objects, compareObjects)
	return Snapshot{Fingerprint: Fingerprint(objects), Objects: objects}
}

// Fingerprint is the hex sha256 over sorted objects, each field written as
// its length in bytes, ':', the bytes and a newline — so no name or
// definition, whatever it holds, can be mistaken for another.
func Fingerprint(sorted []Object) string {
	h := sha256.New()
	var buf []byte
	for _, o := range sorted {
		for _, f := range [...]string{o.Kind, o.Name, o.Def} {
			buf = strconv.AppendInt(buf[:0], int64(len(f)), 10)
			buf = append(buf, ':')
			buf = append(buf, f...)
			buf = append(buf, '\n')
			h.Write(buf)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Verify reports whether the fingerprint is the one the objects hash to and
// the objects are sorted: a stored snapshot that was altered fails it.
func (s Snapshot) Verify() error {
	if !slices.IsSortedFunc(s.Objects, compareObjects) {
		return fmt.Errorf("snapshot %.12s: its objects are not in order", s.Fingerprint)
	}
	if fp := Fingerprint(s.Objects); fp != s.Fingerprint {
		return fmt.Errorf("snapshot %.12s: its objects hash to %.12s", s.Fingerprint, fp)
	}
	return nil
}

// InvalidIndexes lists the indexes PostgreSQL does not use: a CREATE INDEX
// CONCURRENTLY (or REINDEX CONCURRENTLY) that failed or was interrupted
// leaves one behind, and it stays until dropped.
func (s Snapshot) InvalidIndexes() []Object {
	var out []Object
	for _, o := range s.Objects {
		if o.Kind == KindIndex && (strings.HasSuffix(o.Def, " "+invalidMark) || strings.HasSuffix(o.Def, " "+notReadyMark)) {
			out = append(out, o)
		}
	}
	return out
}

// Object kinds.
const (
	KindSchema           = "schema"
	KindExtension        = "extension"
	KindTable            = "table"
	KindColumn           = "column"
	KindIndex            = "index"
	KindConstraint       = "constraint"
	KindSequence         = "sequence"
	KindView             = "view"
	KindMaterializedView = "materialized-view"
	KindFunction         = "function"
	KindProcedure        = "procedure"
	KindAggregate        = "aggregate"
	KindType             = "type"
	KindTrigger          = "trigger"
	KindPolicy           = "policy"
)

// Marks at the end of an index's definition.
const (
	invalidMark  = "invalid"   // indisvalid is false: not used by queries
	notReadyMark = "not ready" // indisready is false: not even maintained by writes
)

// Querier is what Read needs: a pool, a connection or a transaction.
type Querier interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// settings fix every session setting that changes how the catalog prints
// an object: qualified names (search_path), constants in defaults and
// expressions (DateStyle, IntervalStyle, TimeZone, extra_float_digits,
// bytea_output), and the timeouts a migration may have left behind.
const settings = `SELECT set_config('search_path', 'pg_catalog', true),
	set_config('DateStyle', 'ISO, YMD', true), set_config('IntervalStyle', 'postgres', true),
	set_config('TimeZone', 'UTC', true), set_config('extra_float_digits', '1', true),
	set_config('bytea_output', 'hex', true), set_config('statement_timeout', '0', true),
	set_config('lock_timeout', '0', true)`

// Read reads the schema of every schema but PostgreSQL's own and exclude
// (the ledger's), in a read-only transaction of its own under fixed
// settings. Objects that belong to an extension are left out: the extension
// stands for them, with its version.
func Read(ctx context.Context, db Querier, exclude string) (Snapshot, error) {
	snap, _, err := read(ctx, db, exclude, "", false)
	return snap, err
}

// ReadSchema is Read limited to one schema: a tenant's, when each tenant
// of a database is a schema with a ledger of its own (exclude), so that
// one tenant's migrations are never another tenant's drift.
func ReadSchema(ctx context.Context, db Querier, exclude, only string) (Snapshot, error) {
	snap, _, err := read(ctx, db, exclude, only, false)
	return snap, err
}

// read reads the objects of every schema but PostgreSQL's own and exclude
// (only: of that schema alone), and with stamped the catalog's stamp first.
//
// On a connection outside any transaction, or a pool, the transaction is
// the batch's own (BEGIN and COMMIT queued with the reads): one round trip
// where Begin, the batch and Commit took three, for every run that
// migrates. Anything else (a transaction, whose Begin is a savepoint) goes
// through Begin.
func read(ctx context.Context, db Querier, exclude, only string, stamped bool) (Snapshot, string, error) {
	if b, ok := idleBatcher(db); ok {
		return readBatched(ctx, b, exclude, only, stamped)
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return Snapshot{}, "", fmt.Errorf("read the catalog: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only
	b := &pgx.Batch{}
	b.Queue("SET TRANSACTION ISOLATION LEVEL READ COMMITTED, READ ONLY")
	r := queueRead(b, exclude, only, stamped)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return Snapshot{}, "", fmt.Errorf("read the catalog: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Snapshot{}, "", fmt.Errorf("read the catalog: %w", err)
	}
	return NewSnapshot(r.objects), r.stamp, nil
}

// batcher is a connection or a pool that sends a batch.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// idleBatcher is db as a batcher when a BEGIN sent in a batch starts a
// transaction of the read's own: a *pgx.Conn outside any transaction, or
// a pool (it lends an idle connection, and closes one returned in a
// transaction).
func idleBatcher(db Querier) (batcher, bool) {
	switch c := db.(type) {
	case *pgx.Conn:
		return c, c.PgConn().TxStatus() == 'I'
	case interface {
		batcher
		Acquire(ctx context.Context) (*pgxpool.Conn, error)
	}:
		return c, true
	}
	return nil, false
}

// readBatched is read in one batch: BEGIN, the reads, COMMIT. A failed
// read leaves a connection in its aborted transaction, which is rolled
// back (a pool closes such a connection by itself).
func readBatched(ctx context.Context, db batcher, exclude, only string, stamped bool) (Snapshot, string, error) {
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY")
	r := queueRead(b, exclude, only, stamped)
	b.Queue("COMMIT")
	if err := db.SendBatch(ctx, b).Close(); err != nil {
		if c, ok := db.(*pgx.Conn); ok && c.PgConn().TxStatus() != 'I' && !c.IsClosed() {
			_, _ = c.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
		return Snapshot{}, "", fmt.Errorf("read the catalog: %w", err)
	}
	return NewSnapshot(r.objects), r.stamp, nil
}

// readResult is what a read's batch fills in.
type readResult struct {
	stamp   string
	objects []Object
}

// queueRead queues the settings and the reads (the stamp first, with
// stamped) on b, whose results fill the readResult.
func queueRead(b *pgx.Batch, exclude, only string, stamped bool) *readResult {
	r := &readResult{}
	b.Queue(settings)
	if stamped {
		b.Queue(StampSQL).QueryRow(func(row pgx.Row) error { return row.Scan(&r.stamp) })
	}
	b.Queue(objectsSQL, exclude, only).Query(func(rows pgx.Rows) error {
		var o Object
		_, err := pgx.ForEachRow(rows, []any{&o.Kind, &o.Name, &o.Def}, func() error {
			r.objects = append(r.objects, o)
			return nil
		})
		return err
	})
	return r
}
