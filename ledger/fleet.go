package ledger

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Ledgers lists the ledger schemas of the database db reaches: every
// schema with the ledger's events and head tables, in name order. A
// database with none yields an empty list.
func Ledgers(ctx context.Context, db DB) ([]string, error) {
	rows, err := db.Query(ctx, `
		SELECT n.nspname FROM pg_namespace n
		WHERE EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname = 'events' AND c.relkind IN ('r', 'p'))
		  AND EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname = 'head' AND c.relkind = 'r')
		ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("list the ledgers: %w", err)
	}
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

// Database is one database of a fleet: its name, a pool to it, and the
// ledger schemas wanted there (nil: every ledger it holds).
type Database struct {
	Name    string
	DB      DB // a *pgxpool.Pool (Listen takes one of its connections)
	Schemas []string
}

// DatabaseSpec is one database of a list: its URL and the ledger schemas
// wanted there (nil: every ledger it holds).
type DatabaseSpec struct {
	URL     string
	Schemas []string
}

// Databases keeps one small pool per database of a fleet, within a budget
// of connections for all of them: the databases of a list of URLs, or
// (all) every database the server of one URL holds, looked up again at
// each List so that a database created later is found. Safe for
// concurrent use; Close closes every pool.
type Databases struct {
	urls   []string
	specs  map[string][]string // URL -> schemas wanted (NewDatabasesOf)
	all    bool
	perDB  int32
	budget int

	mu    sync.Mutex
	pools map[string]*pgxpool.Pool // by database name
}

// ErrBudget: the connection budget cannot serve the databases.
var ErrBudget = errors.New("connection budget too small")

// BudgetError says how many connections the databases need.
type BudgetError struct {
	Databases, PerDatabase, Budget int
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("%d databases need %d connections each (one to LISTEN, the others to read), %d in all; the budget is %d: raise it, or relay the databases from more than one process",
		e.Databases, e.PerDatabase, e.Databases*e.PerDatabase, e.Budget)
}

func (e *BudgetError) Unwrap() error { return ErrBudget }

// NewDatabases serves the databases of urls (all: every database of the
// server of urls[0], which must be the only URL) with perDB connections
// each and at most budget in all. It connects to nothing until List.
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
	return &Databases{urls: urls, all: all, perDB: perDB, budget: budget, pools: map[string]*pgxpool.Pool{}}, nil
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

// List returns the databases now, opening a pool for each new one; a
// database that is gone is closed and left out.
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
			cfg, err := pgxpool.ParseConfig(u)
			if err != nil {
				return nil, fmt.Errorf("fleet: %v", err)
			}
			want[cfg.ConnConfig.Database] = u
			if sp, ok := d.specs[u]; ok && !slices.Contains(sp, "") {
				schemas[cfg.ConnConfig.Database] = append(schemas[cfg.ConnConfig.Database], sp...)
			}
		}
	}
	if d.budget > 0 && len(want)*int(d.perDB) > d.budget {
		return nil, &BudgetError{Databases: len(want), PerDatabase: int(d.perDB), Budget: d.budget}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for name, p := range d.pools {
		if _, ok := want[name]; !ok {
			p.Close()
			delete(d.pools, name)
		}
	}
	var out []Database
	for name, u := range want {
		p, ok := d.pools[name]
		if !ok {
			cfg, err := pgxpool.ParseConfig(u)
			if err != nil {
				return nil, fmt.Errorf("fleet: %v", err)
			}
			cfg.MaxConns = d.perDB
			if p, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
				return nil, fmt.Errorf("fleet: database %s: %w", name, err)
			}
			d.pools[name] = p
		}
		out = append(out, Database{Name: name, DB: p, Schemas: schemas[name]})
	}
	slices.SortFunc(out, func(a, b Database) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// serverDatabases lists the databases of the server that allow
// connections, but the templates.
func (d *Databases) serverDatabases(ctx context.Context) ([]string, error) {
	cfg, err := pgxpool.ParseConfig(d.urls[0])
	if err != nil {
		return nil, fmt.Errorf("fleet: %v", err)
	}
	d.mu.Lock()
	p, ok := d.pools[cfg.ConnConfig.Database]
	d.mu.Unlock()
	if !ok {
		cfg.MaxConns = 1
		if p, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
			return nil, err
		}
		defer p.Close()
	}
	rows, err := p.Query(ctx, "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1")
	if err != nil {
		return nil, fmt.Errorf("list the databases: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// Close closes every pool.
func (d *Databases) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for name, p := range d.pools {
		p.Close()
		delete(d.pools, name)
	}
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
