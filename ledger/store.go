package ledger

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/schema-ledger/ledger/projector"
)

// Format is the ledger format this binary creates, reads and writes: 1 + the
// number of upgrade steps. An older ledger is upgraded in place by Init.
const Format = 4

// DefaultSchema is the schema the ledger lives in unless WithSchema says otherwise.
const DefaultSchema = "ledger"

// maxSchemaName keeps "ledger." + name within PostgreSQL's 63-byte identifier
// limit, so the NOTIFY channel is never silently truncated.
const maxSchemaName = 48

// schemaFresh is the current format in its final form (sql/schema.sql): a
// new ledger is created from it in one script, never from format 1 and the
// steps.
//
//go:embed sql/schema.sql
var schemaFresh string

//go:embed sql/upgrade_v*.sql
var upgradeFiles embed.FS

// upgrades are the steps from each format to the next, in order: the step
// at index i takes format i+1 to i+2. A step is every file
// sql/upgrade_v<N>.sql and sql/upgrade_v<N>_<topic>.sql, run in name order in
// one transaction, so that separate changes to one format stay separate
// files. A new format is one or more such files (and Format one higher),
// and sql/schema.sql changed to match (TestFreshLedgerIsTheUpgradedOne):
// Init runs every step a ledger lacks, in one transaction, each recorded as
// a ledger.upgraded event; a new ledger is created from sql/schema.sql.
// They are read when first needed, not at every start of the program.
var upgrades = sync.OnceValue(func() []string { return upgradeSteps(upgradeFiles, Format) })

// upgradeSteps reads the upgrade files of formats 2..format; a format with
// no file is a build mistake, caught by TestUpgradeStepsAreEmbedded.
func upgradeSteps(fsys embed.FS, format int) []string {
	steps := make([]string, 0, format-1)
	for f := 2; f <= format; f++ {
		names, _ := fs.Glob(fsys, fmt.Sprintf("sql/upgrade_v%d*.sql", f))
		var step strings.Builder
		for _, name := range names {
			base := strings.TrimSuffix(path.Base(name), ".sql")
			if rest := strings.TrimPrefix(base, fmt.Sprintf("upgrade_v%d", f)); rest != "" && !strings.HasPrefix(rest, "_") {
				continue // upgrade_v40 is not a part of format 4
			}
			b, _ := fsys.ReadFile(name)
			step.Write(b)
			step.WriteString("\n")
		}
		steps = append(steps, step.String())
	}
	return steps
}

// sqlText fills a schema SQL template with this store's schema.
func (s *Store) sqlText(tmpl string) string {
	return strings.NewReplacer("{{schema}}", s.q, "{{schema_lit}}", "'"+s.schema+"'").Replace(tmpl)
}

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
	// lockTimeout bounds the store's own waits for locks (0: the
	// server's setting): what a migrator reads beside its lock.
	lockTimeout time.Duration
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

// WithLockTimeout bounds how long the store's reads beside the event log
// (the sightings) and Setup wait for a lock that another session holds: a
// migrator is never stalled past its own lock timeout by a role that
// locked a table it reads.
func WithLockTimeout(d time.Duration) Option {
	return func(s *Store) error {
		if d < 0 {
			return fmt.Errorf("lock timeout %s: want zero or a positive duration", d)
		}
		s.lockTimeout = d
		return nil
	}
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
	case strings.EqualFold(name, "information_schema"):
		// pg_dump never dumps it: the ledger would silently fall out of
		// every backup.
		return &SchemaNameError{Name: name, Reason: "it is a system schema, which pg_dump leaves out of every backup: give the ledger a schema of its own (the default is ledger)"}
	}
	for i, c := range name {
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9'
		if !ok {
			return &SchemaNameError{Name: name, Reason: fmt.Sprintf("character %q at %d: use letters, digits and underscores, starting with a letter or underscore", c, i)}
		}
	}
	return nil
}

// PlacementWarning says what is wrong with putting a ledger in the schema
// name, though it is allowed, or "" — the schema public holds the
// application's own tables, beside which the ledger's generic names
// (events, head, applied, append, …) are easy to confuse and to drop.
func PlacementWarning(name string) string {
	if name == "public" {
		return `the ledger goes into schema "public", beside the application's own tables, with generic names (events, head, applied, in_doubt, failed, append, event_hash, …); give it a schema of its own (the default, ledger)`
	}
	return ""
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
// refused with a *FormatError and left untouched; one in an older format is
// first verified (the whole chain, the fold and the projection: a broken
// ledger is refused with an *UpgradeError and left untouched), then
// upgraded in place, each step recorded as a ledger.upgraded event — all in
// one transaction.
func (s *Store) Init(ctx context.Context) (created bool, err error) {
	r, err := s.Setup(ctx)
	return r.Created, err
}

// SetupResult says what Setup did.
type SetupResult struct {
	Created      bool `json:"created"`                 // the ledger was created
	UpgradedFrom int  `json:"upgraded_from,omitempty"` // the ledger was upgraded from this format
	Format       int  `json:"format"`                  // the ledger's format now
}

// Setup is Init, saying whether it created or upgraded the ledger.
//
// A ledger that is not there at all is created optimistically, in one
// round trip: the script takes the init lock and creates everything in
// one implicit transaction (createScript). If another session created
// the ledger meanwhile, or anything else is in the way, the script fails
// as a whole and Setup goes the locked way, which finds what is there.
func (s *Store) Setup(ctx context.Context) (res SetupResult, err error) {
	return s.SetupAfter(ctx, s.Presence(ctx))
}

// SetupAfter is Setup for a caller that has just read the ledger's
// Presence: it does not read it again.
func (s *Store) SetupAfter(ctx context.Context, p Presence) (res SetupResult, err error) {
	res.Format = Format
	switch p {
	case PresenceCurrent:
		return res, nil
	case PresenceAbsent:
		if inTransaction(s.db) {
			break // a failed script would abort the caller's transaction
		}
		script, err := s.createScript(true)
		if err != nil {
			return SetupResult{}, err
		}
		_, err = s.db.Exec(ctx, script)
		if err == nil {
			res.Created = true
			return res, nil
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code == "55P03" || pgErr.Code == "57014" {
			// No answer, a lock not granted within the lock timeout, a
			// cancelled statement: the locked way would only wait again.
			return SetupResult{}, fmt.Errorf("create ledger schema %q: %w", s.schema, err)
		}
		// A ledger (or part of one) appeared, or creating is refused: the
		// locked way finds what is there and says what is wrong.
	}
	err = pgx.BeginFunc(ctx, txBeginner{s.db}, func(tx pgx.Tx) error {
		if s.lockTimeout > 0 {
			if _, err := tx.Exec(ctx, "SELECT set_config('lock_timeout', $1, true)", strconv.FormatInt(s.lockTimeout.Milliseconds(), 10)+"ms"); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey("init", s.schema)); err != nil {
			return err
		}
		format, exists, err := s.readFormat(ctx, tx)
		if err != nil {
			return err
		}
		if exists {
			switch {
			case format > Format:
				return &FormatError{Schema: s.schema, Found: format, Supported: Format}
			case format < Format:
				res.UpgradedFrom = format
				if err := s.upgrade(ctx, tx, format); err != nil {
					return err
				}
			}
			return s.ensureReleases(ctx, tx)
		}
		script, err := s.createScript(false)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, script); err != nil {
			return fmt.Errorf("create ledger schema %q: %w", s.schema, err)
		}
		res.Created = true
		return nil
	})
	if err != nil {
		return SetupResult{}, err
	}
	return res, nil
}

// createScript is the SQL that creates a new ledger: the objects of
// sql/schema.sql, the head, and the ledger.initialized event appended
// through the append function like every other event (its head known:
// seq 0, the zero hash). One script, so one round trip and, run as one
// simple query, one implicit transaction. locked: it first takes the init
// lock (within the store's lock timeout), for a caller outside any
// transaction; without, the caller holds the lock in its transaction.
func (s *Store) createScript(locked bool) (string, error) {
	ev, err := projector.NewEvent(projector.TypeLedgerInitialized, projector.Initialized{Format: Format, Schema: s.schema})
	if err != nil {
		return "", err
	}
	st := projector.NewState()
	zero := make([]byte, 32)
	call, err := s.prepare(&st, &Head{Hash: zero}, time.Time{}, Recording{}, []Event{ev})
	if err != nil {
		return "", err
	}
	call.actorSQL = "current_user" // as Append records it
	appendSQL, err := call.text(s.q)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if locked {
		if s.lockTimeout > 0 {
			fmt.Fprintf(&b, "SELECT set_config('lock_timeout', '%dms', true);\n", s.lockTimeout.Milliseconds())
		}
		fmt.Fprintf(&b, "SELECT pg_advisory_xact_lock(%d);\n", lockKey("init", s.schema))
	}
	b.WriteString(s.sqlText(schemaFresh))
	fmt.Fprintf(&b, "\nSELECT set_config('ledger.append', %s, true);\n", s.sqlText("{{schema_lit}}"))
	fmt.Fprintf(&b, "INSERT INTO %s.head (seq, hash, format, digest) VALUES (0, %s, %d, %s);\n", s.q, byteaLit(zero), Format, byteaLit(zero))
	b.WriteString("SELECT set_config('ledger.append', '', true);\n")
	b.WriteString(appendSQL + ";\n")
	return b.String(), nil
}

// upgrade takes the ledger in tx from format `from` to Format: it runs the
// missing steps' SQL, verifies the ledger as it stands (a ledger whose
// chain, fold or projection does not check out is not built on), then
// records one ledger.upgraded event per step; the first of them is the
// first event to commit its state, computed from the fold just verified.
func (s *Store) upgrade(ctx context.Context, tx pgx.Tx, from int) error {
	if from < 1 {
		return &CorruptHeadError{Schema: s.schema, Reason: fmt.Sprintf("format %d", from)}
	}
	for f := from; f < Format; f++ {
		if _, err := tx.Exec(ctx, s.sqlText(upgrades()[f-1])); err != nil {
			return fmt.Errorf("upgrade ledger schema %q from format %d to %d: %w", s.schema, f, f+1, err)
		}
	}
	rep, err := s.verifyIn(ctx, tx, nil, nil, true)
	if err != nil {
		return fmt.Errorf("upgrade ledger schema %q: verify it first: %w", s.schema, err)
	}
	if !rep.OK() {
		return &UpgradeError{Schema: s.schema, From: from, Report: rep}
	}
	var events []Event
	for f := from; f < Format; f++ {
		ev, err := projector.NewEvent(projector.TypeLedgerUpgraded, projector.Upgraded{From: f, To: f + 1})
		if err != nil {
			return err
		}
		events = append(events, ev)
	}
	if _, err := s.append(ctx, tx, true, events); err != nil {
		return fmt.Errorf("upgrade ledger schema %q: %w", s.schema, err)
	}
	return nil
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
	if errors.As(err, &pgErr) && pgErr.Code == "42501" && strings.HasPrefix(pgErr.Message, "permission denied") {
		return &PermissionError{Schema: s.schema, Err: pgErr}
	}
	if errors.As(err, &pgErr) && pgErr.Code == "42703" {
		// Only format 1's tables lack a column this binary reads.
		return &FormatError{Schema: s.schema, Found: 1, Supported: Format}
	}
	return err
}

// WriteErr is an error from a write of the ledger — an Appender's
// statement, run by the caller — in the store's words: a role refused the
// write is a *PermissionError (Write) saying whose job writing the ledger
// is; a missing ledger is a *NotInitializedError.
func (s *Store) WriteErr(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" && strings.HasPrefix(pgErr.Message, "permission denied") {
		return &PermissionError{Schema: s.schema, Err: err, Write: true}
	}
	return s.mapErr(err)
}

// Current reports, in one round trip and without the init lock, whether
// the ledger exists in this binary's format with its release views up to
// date, and this role may record in it (MayRecord's test): every up's
// case, which then needs no transaction of Setup's. Any other answer (or
// error) is for MayRecord and Setup's locked path to sort out.
func (s *Store) Current(ctx context.Context) bool { return s.Presence(ctx) == PresenceCurrent }

// Presence is what one read (Store.Presence) found of a ledger.
type Presence int

const (
	// PresenceOther: anything but the two below (an older format, no
	// release views yet, a role that may not record, an error): Setup's
	// locked path sorts it out.
	PresenceOther Presence = iota
	// PresenceCurrent: the ledger is in this binary's format with its
	// release views, and this role may record in it.
	PresenceCurrent
	// PresenceAbsent: there is no ledger in the schema (no head table);
	// Setup creates one in one script.
	PresenceAbsent
)

// Presence is Current's read, telling also a ledger that is not there at
// all: one round trip, no lock.
func (s *Store) Presence(ctx context.Context) Presence {
	p, _ := s.PresenceWith(ctx)
	return p
}

// PresenceWith is Presence with the probes' reads in the same round trip
// — for a caller that expects no ledger, and what it must read then (the
// role's rights, other tools' history tables): read is whether every
// probe read its rows. They run before the ledger's format is read, which
// fails when there is no ledger (and would take the rest of the batch
// with it). On a connection that prepares a batch's statements before it
// runs any (pgx's default QueryExecModeCacheStatement) the format read's
// failure to prepare stops them all: the presence is still known, the
// probes are not read. A probe that fails makes the presence
// PresenceOther (but "relation does not exist" where the head is missing,
// which is PresenceAbsent, unread).
func (s *Store) PresenceWith(ctx context.Context, probes ...Probe) (p Presence, read bool) {
	var marker string
	var format int
	var mayRecord, headExists bool
	scanned := 0
	b := &pgx.Batch{}
	b.Queue("SELECT to_regclass($3) IS NOT NULL, coalesce(obj_description(to_regclass($1), 'pg_class'), ''), "+
		"coalesce(has_table_privilege(to_regclass($2), 'INSERT') AND has_table_privilege(to_regclass($3), 'UPDATE'), false)",
		s.q+".timeline", s.q+".events", s.q+".head").QueryRow(func(row pgx.Row) error { return row.Scan(&headExists, &marker, &mayRecord) })
	for _, pr := range probes {
		b.Queue(pr.SQL, pr.Args...).Query(func(rows pgx.Rows) error {
			if err := pr.Scan(rows); err != nil {
				return err
			}
			scanned++
			return nil
		})
	}
	b.Queue("SELECT format FROM " + s.q + ".head").QueryRow(func(row pgx.Row) error { return row.Scan(&format) })
	err := s.db.SendBatch(ctx, b).Close()
	read = scanned == len(probes)
	switch {
	case err == nil && format == Format && marker == releasesMarker && mayRecord:
		return PresenceCurrent, read
	case !headExists && isUndefinedTable(err):
		return PresenceAbsent, read
	}
	return PresenceOther, read
}

// inTransaction: db is a transaction, or a connection inside one.
func inTransaction(db DB) bool {
	switch c := db.(type) {
	case pgx.Tx:
		return true
	case interface{ PgConn() *pgconn.PgConn }:
		return c.PgConn().TxStatus() != 'I'
	}
	return false
}

// isUndefinedTable: err is PostgreSQL's "relation does not exist".
func isUndefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}

// txBeginner adapts DB to pgx.BeginFunc.
type txBeginner struct{ db DB }

func (b txBeginner) Begin(ctx context.Context) (pgx.Tx, error) {
	return b.db.BeginTx(ctx, pgx.TxOptions{})
}
