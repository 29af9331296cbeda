package ledger

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/schema-ledger/ledger/projector"
)

// Format is the newest ledger format this binary understands and creates.
const Format = 1

// DefaultSchema is the schema the ledger lives in unless WithSchema says otherwise.
const DefaultSchema = "ledger"

// maxSchemaName keeps "ledger." + name within PostgreSQL's 63-byte identifier
// limit, so the NOTIFY channel is never silently truncated.
const maxSchemaName = 48

//go:embed sql/schema_v1.sql
var schemaV1 string

// Event is the envelope of a ledger event (defined by the projector, which folds it).
type Event = projector.Event

// DB is what the store needs from a connection or pool: *pgxpool.Pool and
// *pgx.Conn both satisfy it.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// rowQuerier is the one method readFormat needs, from a pool or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Store is the event store in one schema of one database.
type Store struct {
	db         DB
	schema     string
	q          string // the quoted schema name, for SQL text
	host       string
	appVersion string
	sql        statements
}

// Option configures a Store.
type Option func(*Store) error

// WithSchema puts the ledger in the named schema (default "ledger"), so
// several applications can keep their own ledger in one database.
func WithSchema(name string) Option {
	return func(s *Store) error {
		if err := ValidateSchemaName(name); err != nil {
			return err
		}
		s.schema = name
		return nil
	}
}

// WithHost sets the host recorded with events that do not name one
// (default: os.Hostname).
func WithHost(host string) Option {
	return func(s *Store) error { s.host = host; return nil }
}

// WithAppVersion sets the app version recorded with events that do not name one.
func WithAppVersion(v string) Option {
	return func(s *Store) error { s.appVersion = v; return nil }
}

// New returns a store over db. It does not touch the database: Init creates
// the schema, and every read reports a missing one.
func New(db DB, opts ...Option) (*Store, error) {
	s := &Store{db: db, schema: DefaultSchema}
	s.host, _ = os.Hostname()
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	s.q = pgx.Identifier{s.schema}.Sanitize()
	s.sql = newStatements(s.q)
	return s, nil
}

// On returns the same ledger reached through db instead — e.g. the one
// connection a migrator holds its lock on, so that it needs no second
// connection from its pool while it runs.
func (s *Store) On(db DB) *Store {
	c := *s
	c.db = db
	return &c
}

// ValidateSchemaName accepts names an operator can type unquoted and that
// PostgreSQL keeps whole: a letter or underscore, then letters, digits,
// underscores, at most 48 bytes, not starting with "pg_" (reserved).
func ValidateSchemaName(name string) error {
	switch {
	case name == "":
		return &SchemaNameError{Name: name, Reason: "it is empty"}
	case len(name) > maxSchemaName:
		return &SchemaNameError{Name: name, Reason: fmt.Sprintf("longer than %d bytes", maxSchemaName)}
	case strings.HasPrefix(strings.ToLower(name), "pg_"):
		return &SchemaNameError{Name: name, Reason: `the prefix "pg_" is reserved for PostgreSQL's own schemas`}
	}
	for i, c := range name {
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9'
		if !ok {
			return &SchemaNameError{Name: name, Reason: fmt.Sprintf("character %q at %d: use letters, digits and underscores, starting with a letter or underscore", c, i)}
		}
	}
	return nil
}

// Schema is the name of the ledger schema.
func (s *Store) Schema() string { return s.schema }

// Channel is the LISTEN/NOTIFY channel that every append notifies with the new seq.
func (s *Store) Channel() string { return "ledger." + s.schema }

// Host is the host recorded with events that do not name one.
func (s *Store) Host() string { return s.host }

// LockKey is the session advisory lock key that migrators of this ledger
// schema take, so at most one migrates at a time.
func (s *Store) LockKey() int64 { return lockKey("migrate", s.schema) }

func lockKey(purpose, schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("schema-ledger:" + purpose + ":" + schema))
	return int64(h.Sum64())
}

// Init creates the ledger schema if it does not exist and records
// ledger.initialized. It is idempotent and safe to run concurrently. It
// reports whether it created the schema. A ledger in a newer format is
// refused with a *FormatError and left untouched.
func (s *Store) Init(ctx context.Context) (created bool, err error) {
	err = pgx.BeginFunc(ctx, txBeginner{s.db}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey("init", s.schema)); err != nil {
			return err
		}
		format, exists, err := s.readFormat(ctx, tx)
		if err != nil {
			return err
		}
		if exists {
			if format > Format {
				return &FormatError{Schema: s.schema, Found: format, Supported: Format}
			}
			if err := s.ensureSnapshots(ctx, tx); err != nil {
				return err
			}
			return s.ensureReleases(ctx, tx)
		}
		if _, err := tx.Exec(ctx, strings.ReplaceAll(schemaV1, "{{schema}}", s.q)); err != nil {
			return fmt.Errorf("create ledger schema %q: %w", s.schema, err)
		}
		if err := s.ensureSnapshots(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, s.sql.insertHead, make([]byte, 32), Format, make([]byte, 32)); err != nil {
			return fmt.Errorf("create ledger head: %w", err)
		}
		ev, err := projector.NewEvent(projector.TypeLedgerInitialized, projector.Initialized{Format: Format, Schema: s.schema})
		if err != nil {
			return err
		}
		if _, err := s.Append(ctx, tx, ev); err != nil {
			return err
		}
		created = true
		return s.ensureReleases(ctx, tx)
	})
	return created, err
}

// readFormat reads the ledger format from the head row; exists is false when
// there is no ledger in this schema at all.
func (s *Store) readFormat(ctx context.Context, q rowQuerier) (format int, exists bool, err error) {
	var reg *string
	if err := q.QueryRow(ctx, "SELECT to_regclass($1)::text", s.q+".head").Scan(&reg); err != nil {
		return 0, false, err
	}
	if reg == nil {
		return 0, false, nil
	}
	if err := q.QueryRow(ctx, "SELECT format FROM "+s.q+".head").Scan(&format); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, true, &CorruptHeadError{Schema: s.schema, Reason: "the head row is missing"}
		}
		return 0, true, err
	}
	return format, true, nil
}

// mapErr turns "relation does not exist" into a NotInitializedError.
func (s *Store) mapErr(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000" || pgErr.Code == "42883") {
		return &NotInitializedError{Schema: s.schema}
	}
	return err
}

// txBeginner adapts DB to pgx.BeginFunc.
type txBeginner struct{ db DB }

func (b txBeginner) Begin(ctx context.Context) (pgx.Tx, error) {
	return b.db.BeginTx(ctx, pgx.TxOptions{})
}
