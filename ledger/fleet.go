package ledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Ledgers lists the ledger schemas of the database db reaches: every
// schema with the ledger's events and head tables, in name order. A
// database with none yields an empty list.
func Ledgers(ctx context.Context, db DB) ([]string, error) {
	rows, err := db.Query(ctx, ledgersQuery)
	if err != nil {
		return nil, fmt.Errorf("list the ledgers: %w", err)
	}
	return scanLedgers(rows)
}

const ledgersQuery = `
		SELECT n.nspname FROM pg_namespace n
		WHERE EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname = 'events' AND c.relkind IN ('r', 'p'))
		  AND EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname = 'head' AND c.relkind = 'r')
		ORDER BY 1`

func scanLedgers(rows pgx.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		if ValidateSchemaName(s) == nil {
			out = append(out, s)
		}
	}
	return out, rows.Err()
}

// LedgerHead is one ledger of a database and its head seq (0: not
// initialized yet).
type LedgerHead struct {
	Schema string
	Seq    int64
}

// LedgerHeads lists the ledger schemas of the database db reaches, as
// Ledgers, each with its head seq. known are the schemas the caller
// expects (those of its last call): their heads are read in the same
// round trip as the list, so a database whose ledgers did not change is
// one round trip. A poller reads a whole database's ledgers with it.
func LedgerHeads(ctx context.Context, db DB, known []string) ([]LedgerHead, error) {
	b := &pgx.Batch{}
	var list []string
	listed := false
	b.Queue(ledgersQuery).Query(func(rows pgx.Rows) error {
		var err error
		list, err = scanLedgers(rows)
		listed = err == nil
		return err
	})
	seqs := map[string]int64{}
	var headsErr error
	if len(known) > 0 {
		b.Queue(headsQuery(known)).Query(func(rows pgx.Rows) error {
			headsErr = scanHeads(rows, seqs)
			return nil // a schema dropped meanwhile: read again below
		})
	}
	if err := db.SendBatch(ctx, b).Close(); err != nil {
		if !listed {
			// A batch that prepares its statements fails as a whole when a
			// known schema is gone: list alone.
			var lerr error
			if list, lerr = Ledgers(ctx, db); lerr != nil {
				return nil, lerr
			}
		}
		headsErr = err
	}
	var missing []string
	for _, s := range list {
		if _, ok := seqs[s]; !ok {
			missing = append(missing, s)
		}
	}
	if headsErr != nil || len(missing) > 0 {
		if headsErr != nil {
			missing, seqs = list, map[string]int64{}
		}
		if len(missing) > 0 {
			rows, err := db.Query(ctx, headsQuery(missing))
			if err != nil {
				return nil, fmt.Errorf("read the ledgers' heads: %w", err)
			}
			if err := scanHeads(rows, seqs); err != nil {
				return nil, fmt.Errorf("read the ledgers' heads: %w", err)
			}
		}
	}
	out := make([]LedgerHead, 0, len(list))
	for _, s := range list {
		out = append(out, LedgerHead{Schema: s, Seq: seqs[s]})
	}
	return out, nil
}

// headsQuery reads the head seq of every schema in one statement.
func headsQuery(schemas []string) string {
	var q strings.Builder
	for i, s := range schemas {
		if i > 0 {
			q.WriteString(" UNION ALL ")
		}
		q.WriteString("SELECT ")
		q.WriteString(quoteLiteral(s))
		q.WriteString("::text, seq FROM ")
		q.WriteString(pgx.Identifier{s, "head"}.Sanitize())
	}
	return q.String()
}

func scanHeads(rows pgx.Rows, into map[string]int64) error {
	defer rows.Close()
	for rows.Next() {
		var s string
		var seq int64
		if err := rows.Scan(&s, &seq); err != nil {
			return err
		}
		into[s] = seq
	}
	return rows.Err()
}

// Database is one database of a fleet: its name and the ledger schemas
// wanted there (nil: every ledger it holds). Databases reaches it: a pool
// (Pool) while it is served continuously, or one short-lived connection at
// a time (Visit).
type Database struct {
	Name    string
	Schemas []string
}

// DatabaseSpec is one database of a list: its URL and the ledger schemas
// wanted there (nil: every ledger it holds).
type DatabaseSpec struct {
	URL     string
	Schemas []string
}

// Databases reaches the databases of a fleet within a budget of
// connections for all of them: the databases of a list of URLs, or (all)
// every database the server of one URL holds, looked up again at each
// List so that a database created later is found. Every connection it
// makes — a database's pool (Pool), a visit's (Visit), the listing of the
// server's databases — takes one of the budget's when it is dialled and
// gives it back when its socket closes, so the budget is never exceeded:
// a connection that would exceed it waits for one to close. It connects
// to nothing until asked. Safe for concurrent use; Close closes every pool.
type Databases struct {
	urls   []string
	specs  map[string][]string // URL -> schemas wanted (NewDatabasesOf)
	all    bool
	perDB  int32
	budget *connBudget // nil: no limit
	total  int

	mu      sync.Mutex
	configs map[string]*pgx.ConnConfig // by database name, as last listed
	pools   map[string]*pgxpool.Pool   // by database name
}

// ErrUnknownDatabase: a database Databases did not list (or no longer lists).
var ErrUnknownDatabase = errors.New("not a database of the fleet")

// NewDatabases serves the databases of urls (all: every database of the
// server of urls[0], which must be the only URL) with at most budget
// connections in all (0: no limit), perDB of them for a database served
// through a pool (one LISTENs, the others read). It connects to nothing
// until List.
func NewDatabases(urls []string, all bool, perDB int32, budget int) (*Databases, error) {
	if len(urls) == 0 {
		return nil, errors.New("fleet: no database URL")
	}
	if all && len(urls) != 1 {
		return nil, errors.New("fleet: every database of one server: give one URL")
	}
	if perDB < 2 {
		return nil, fmt.Errorf("fleet: %d connections per database; want at least 2 (one LISTENs)", perDB)
	}
	if budget < 0 {
		return nil, fmt.Errorf("fleet: a budget of %d connections; want 0 (no limit) or more", budget)
	}
	d := &Databases{urls: urls, all: all, perDB: perDB, total: budget,
		configs: map[string]*pgx.ConnConfig{}, pools: map[string]*pgxpool.Pool{}}
	if budget > 0 {
		d.budget = &connBudget{sem: make(chan struct{}, budget)}
	}
	return d, nil
}

// NewDatabasesOf serves the databases of specs (one entry per URL; the
// schemas of several entries with one URL are joined), as NewDatabases.
func NewDatabasesOf(specs []DatabaseSpec, perDB int32, budget int) (*Databases, error) {
	var urls []string
	by := map[string][]string{}
	for _, sp := range specs {
		if _, ok := by[sp.URL]; !ok {
			urls = append(urls, sp.URL)
		}
		if sp.Schemas == nil {
			by[sp.URL] = append(by[sp.URL], "") // every ledger
		}
		by[sp.URL] = append(by[sp.URL], sp.Schemas...)
	}
	d, err := NewDatabases(urls, false, perDB, budget)
	if err != nil {
		return nil, err
	}
	d.specs = by
	return d, nil
}

// Budget is the connection budget (0: no limit) and the connections a
// database served through its pool holds at most.
func (d *Databases) Budget() (total, perDatabase int) { return d.total, int(d.perDB) }

// Connections is how many connections of the budget are taken now (-1:
// no budget, not counted).
func (d *Databases) Connections() int {
	if d.budget == nil {
		return -1
	}
	return len(d.budget.sem)
}

// List returns the databases now; a database that is gone has its pool
// closed. It opens no pool.
func (d *Databases) List(ctx context.Context) ([]Database, error) {
	want := map[string]string{} // name -> URL
	schemas := map[string][]string{}
	if d.all {
		names, err := d.serverDatabases(ctx)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			u, err := withDatabase(d.urls[0], n)
			if err != nil {
				return nil, err
			}
			want[n] = u
		}
	} else {
		for _, u := range d.urls {
			cfg, err := pgx.ParseConfig(u)
			if err != nil {
				return nil, fmt.Errorf("fleet: %v", err)
			}
			want[cfg.Database] = u
			if sp, ok := d.specs[u]; ok && !slices.Contains(sp, "") {
				schemas[cfg.Database] = append(schemas[cfg.Database], sp...)
			}
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for name, p := range d.pools {
		if _, ok := want[name]; !ok {
			p.Close()
			delete(d.pools, name)
		}
	}
	for name := range d.configs {
		if _, ok := want[name]; !ok {
			delete(d.configs, name)
		}
	}
	out := make([]Database, 0, len(want))
	for name, u := range want {
		if _, ok := d.configs[name]; !ok {
			cfg, err := d.parse(u)
			if err != nil {
				return nil, err
			}
			d.configs[name] = cfg
		}
		out = append(out, Database{Name: name, Schemas: schemas[name]})
	}
	slices.SortFunc(out, func(a, b Database) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// parse parses u into a connection config whose dials take from the budget.
func (d *Databases) parse(u string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		return nil, fmt.Errorf("fleet: %v", err)
	}
	if d.budget != nil {
		cfg.DialFunc = d.budget.wrap(cfg.DialFunc) // fallback hosts dial through it too
	}
	return cfg, nil
}

// config is the connection config of a listed database.
func (d *Databases) config(name string) (*pgx.ConnConfig, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cfg, ok := d.configs[name]
	if !ok {
		return nil, fmt.Errorf("database %s: %w", name, ErrUnknownDatabase)
	}
	return cfg, nil
}

// Pool returns the pool of database name (opened at the first call, kept
// until ClosePool or Close): perDatabase connections at most, one of which
// a Listen takes for itself (its pool reads with the others).
func (d *Databases) Pool(ctx context.Context, name string) (DB, error) {
	cfg, err := d.config(name)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.pools[name]; ok {
		return p, nil
	}
	pcfg, err := pgxpool.ParseConfig(cfg.ConnString())
	if err != nil {
		return nil, fmt.Errorf("fleet: %v", err)
	}
	pcfg.ConnConfig.DialFunc = cfg.DialFunc
	// A Listen hijacks one connection, which leaves the pool's count:
	// the pool itself keeps perDB-1 so that the database holds perDB.
	pcfg.MaxConns = d.perDB - 1
	p, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("fleet: database %s: %w", name, err)
	}
	d.pools[name] = p
	return p, nil
}

// ClosePool closes the pool of database name, if open, once its
// connections are back (a Listen's is closed by the Listen).
func (d *Databases) ClosePool(name string) {
	d.mu.Lock()
	p, ok := d.pools[name]
	delete(d.pools, name)
	d.mu.Unlock()
	if ok {
		p.Close()
	}
}

// Visit calls fn with a connection of its own to database name, within
// the budget (waiting for one while the budget is in use), and closes it
// when fn returns.
func (d *Databases) Visit(ctx context.Context, name string, fn func(DB) error) error {
	cfg, err := d.config(name)
	if err != nil {
		return err
	}
	return d.visit(ctx, cfg, fn)
}

func (d *Databases) visit(ctx context.Context, cfg *pgx.ConnConfig, fn func(DB) error) error {
	cfg = cfg.Copy()
	// Each statement runs once on this connection: one round trip each
	// beats preparing it first.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return fn(conn)
}

// serverDatabases lists the databases of the server that allow
// connections, but the templates, on a connection of the budget's.
func (d *Databases) serverDatabases(ctx context.Context) ([]string, error) {
	cfg, err := d.parse(d.urls[0])
	if err != nil {
		return nil, err
	}
	var out []string
	err = d.visit(ctx, cfg, func(db DB) error {
		rows, err := db.Query(ctx, "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return err
			}
			out = append(out, n)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list the databases: %w", err)
	}
	return out, nil
}

// Close closes every pool.
func (d *Databases) Close() {
	d.mu.Lock()
	pools := d.pools
	d.pools = map[string]*pgxpool.Pool{}
	d.mu.Unlock()
	for _, p := range pools {
		p.Close()
	}
}

// connBudget counts the connections open: a dial takes a token, waiting
// while none is left, and closing the socket gives it back.
type connBudget struct {
	sem chan struct{}
}

func (b *connBudget) wrap(dial pgconn.DialFunc) pgconn.DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		select {
		case b.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for a connection of the budget (%d, all in use): %w", cap(b.sem), ctx.Err())
		}
		c, err := dial(ctx, network, addr)
		if err != nil {
			<-b.sem
			return nil, err
		}
		return &budgetConn{Conn: c, release: func() { <-b.sem }}, nil
	}
}

// budgetConn gives its token back once, when closed.
type budgetConn struct {
	net.Conn
	closed  atomic.Bool
	release func()
}

func (c *budgetConn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return c.Conn.Close()
	}
	// The server's backend leaves pg_stat_activity before its end of the
	// socket closes: the token is given back once it has (pgx sent its
	// Terminate; the half-close ends a backend that did not get it), so
	// the budget counts what the server sees.
	go func() {
		if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_ = c.Conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, _ = io.Copy(io.Discard, c.Conn)
		_ = c.Conn.Close()
		c.release()
	}()
	return nil
}

// withDatabase is raw with its database replaced by name.
func withDatabase(raw, name string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("fleet: every database of a server needs a postgres:// URL, not %q", raw)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// ErrNoActivity: the server keeps no activity counters (track_counts is
// off), so Activity cannot tell which databases changed.
var ErrNoActivity = errors.New("the server keeps no activity counters (track_counts is off)")

// Activity reads, for every database listed, a token of its activity
// counters (pg_stat_database: rows inserted, updated and deleted, and when
// they were last reset), on one short-lived connection per server: a
// token that did not change since an earlier read means no row was
// written there meanwhile — as far as PostgreSQL has published its
// sessions' counters, which it does within a second of a commit when the
// session goes idle, at most about ten seconds later when it stays busy,
// and at once when it disconnects. Reads only change none of them.
func (d *Databases) Activity(ctx context.Context) (map[string]string, error) {
	d.mu.Lock()
	servers := map[string][]*pgx.ConnConfig{} // a few databases' configs per server
	for _, cfg := range d.configs {
		key := fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
		if len(servers[key]) < 3 {
			servers[key] = append(servers[key], cfg)
		}
	}
	wanted := len(d.configs)
	d.mu.Unlock()
	out := make(map[string]string, wanted)
	for _, cfgs := range servers {
		var err error
		for _, cfg := range cfgs { // the next one when a database cannot be reached (dropped)
			if err = d.activityOn(ctx, cfg, out); err == nil || errors.Is(err, ErrNoActivity) || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("read the databases' activity: %w", err)
		}
	}
	return out, nil
}

// activityOn reads the activity tokens of a server's databases into out.
func (d *Databases) activityOn(ctx context.Context, cfg *pgx.ConnConfig, out map[string]string) error {
	return d.visit(ctx, cfg, func(db DB) error {
		var on bool
		if err := db.QueryRow(ctx, "SELECT current_setting('track_counts')::bool").Scan(&on); err != nil {
			return err
		}
		if !on {
			return ErrNoActivity
		}
		rows, err := db.Query(ctx, `SELECT datname, concat_ws('/', tup_inserted, tup_updated, tup_deleted, extract(epoch FROM stats_reset))
				FROM pg_stat_database WHERE datname IS NOT NULL`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var name, token string
			if err := rows.Scan(&name, &token); err != nil {
				return err
			}
			out[name] = token
		}
		return rows.Err()
	})
}
