package fleet

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

// Target is one place a rollout migrates: a database, or one tenant's
// schema in a database.
type Target struct {
	// Name is unique within a rollout: what status, resume --skip and the
	// outcomes call it. Default: the database name, and "/tenant" for a tenant.
	Name string
	// URL is the connection string (a postgres:// URL). It may hold a
	// password; what a rollout records never does (Redacted).
	URL string
	// Tenant is the tenant's schema (schema-per-tenant), or "".
	Tenant string
}

// Redacted is the URL without its password.
func (t Target) Redacted() string { return redact(t.URL) }

// redact removes the password from a URL (and a password= parameter).
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return s
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.User(u.User.Username())
		}
	}
	if q := u.Query(); q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// server is host:port of the target's PostgreSQL server, what PerHost
// counts by.
func server(cfg *pgx.ConnConfig) string {
	return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
}

// TargetsError is a targets file (or query result) that cannot be used;
// every problem is listed at once.
type TargetsError struct {
	Source   string   // the file name, or "targets query"
	Problems []string // "line 3: ...", one per problem
}

func (e *TargetsError) Error() string {
	return fmt.Sprintf("%s: %s", e.Source, strings.Join(e.Problems, "; "))
}

// ParseTargets reads a targets file: one target per line, a postgres://
// URL followed by optional extras, separated by spaces:
//
//	postgres://app@db1.internal:5432/shop_eu   name=eu
//	postgres://app@db2.internal/shop_us        name=us
//	postgres://app@db3.internal/saas           tenant=acme   # one tenant schema
//
// Extras: name=NAME (default: the database name, then "/tenant"), tenant=SCHEMA
// (the target is that schema of the database, schema-per-tenant). Blank
// lines and everything after a # that starts a line or follows a space are
// ignored. Names must be unique; every problem of the file is reported at
// once, by line.
func ParseTargets(r io.Reader, source string) ([]Target, error) {
	var out []Target
	var lines []int
	terr := &TargetsError{Source: source}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.Index(text, " #"); i >= 0 {
			text = text[:i]
		}
		if i := strings.Index(text, "\t#"); i >= 0 {
			text = text[:i]
		}
		fields := strings.Fields(text)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		t := Target{URL: fields[0]}
		for _, f := range fields[1:] {
			k, v, ok := strings.Cut(f, "=")
			switch {
			case !ok || v == "":
				terr.Problems = append(terr.Problems, fmt.Sprintf("line %d: %q: want name=NAME or tenant=SCHEMA after the URL", line, f))
			case k == "name":
				t.Name = v
			case k == "tenant":
				t.Tenant = v
			default:
				terr.Problems = append(terr.Problems, fmt.Sprintf("line %d: unknown extra %q: want name= or tenant=", line, k))
			}
		}
		out = append(out, t)
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	problems := checkTargets(out, func(i int) string { return fmt.Sprintf("line %d", lines[i]) })
	terr.Problems = append(terr.Problems, problems...)
	if len(terr.Problems) > 0 {
		return nil, terr
	}
	if len(out) == 0 {
		return nil, &TargetsError{Source: source, Problems: []string{"no targets: want one postgres:// URL per line"}}
	}
	return out, nil
}

// checkTargets fills default names and lists what is wrong with targets.
func checkTargets(ts []Target, where func(int) string) []string {
	var problems []string
	seen := map[string]int{}
	for i := range ts {
		t := &ts[i]
		if !strings.HasPrefix(t.URL, "postgres://") && !strings.HasPrefix(t.URL, "postgresql://") {
			problems = append(problems, fmt.Sprintf("%s: %q is not a postgres:// URL", where(i), redact(t.URL)))
			continue
		}
		cfg, err := pgx.ParseConfig(t.URL)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", where(i), err))
			continue
		}
		if t.Tenant != "" {
			if _, err := ledger.TenantSchema(ledger.DefaultSchema, t.Tenant); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", where(i), err))
			}
		}
		if t.Name == "" {
			t.Name = cfg.Database
			if t.Tenant != "" {
				t.Name += "/" + t.Tenant
			}
		}
		if j, dup := seen[t.Name]; dup {
			problems = append(problems, fmt.Sprintf("%s: name %q is also %s's: give each a name=", where(i), t.Name, where(j)))
			continue
		}
		seen[t.Name] = i
	}
	return problems
}

// Querier is what TargetsFromQuery and Tenants read through: a pool or a connection.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// TargetsFromQuery runs query (typically on the control database) and
// makes a target of each row: the first column is the URL; columns named
// name and tenant, if the query has them, are those extras.
//
//	SELECT url, slug AS name FROM tenants WHERE active ORDER BY slug
func TargetsFromQuery(ctx context.Context, db Querier, query string) ([]Target, error) {
	rows, err := db.Query(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("targets query: %w", err)
	}
	defer rows.Close()
	nameCol, tenantCol := -1, -1
	for i, f := range rows.FieldDescriptions() {
		switch f.Name {
		case "name":
			nameCol = i
		case "tenant":
			tenantCol = i
		}
	}
	var out []Target
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, fmt.Errorf("targets query: %w", err)
		}
		str := func(i int) string {
			if i < 0 || vals[i] == nil {
				return ""
			}
			return fmt.Sprint(vals[i])
		}
		out = append(out, Target{URL: str(0), Name: str(nameCol), Tenant: str(tenantCol)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("targets query: %w", err)
	}
	if problems := checkTargets(out, func(i int) string { return fmt.Sprintf("row %d", i+1) }); len(problems) > 0 {
		return nil, &TargetsError{Source: "targets query", Problems: problems}
	}
	if len(out) == 0 {
		return nil, &TargetsError{Source: "targets query", Problems: []string{"it returned no rows"}}
	}
	return out, nil
}

// Tenants makes a target of each tenant schema of the database at dbURL
// (read through db, a connection to it) whose name matches like (a LIKE
// pattern; "" or "%" for every schema). PostgreSQL's own schemas, public,
// and ledger schemas (base and base_*, the tenants' ledgers) are never
// tenants. Each target is named after its schema.
func Tenants(ctx context.Context, db Querier, dbURL, like, base string) ([]Target, error) {
	if like == "" {
		like = "%"
	}
	rows, err := db.Query(ctx, `
		SELECT nspname FROM pg_namespace
		WHERE nspname LIKE $1 AND nspname NOT LIKE 'pg\_%' AND nspname NOT IN ('information_schema', 'public', $2)
		  AND left(nspname, length($2) + 1) <> $2 || '_'
		ORDER BY nspname`, like, base)
	if err != nil {
		return nil, fmt.Errorf("list the tenant schemas: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list the tenant schemas: %w", err)
	}
	out := make([]Target, len(names))
	for i, n := range names {
		out[i] = Target{Name: n, URL: dbURL, Tenant: n}
	}
	if problems := checkTargets(out, func(i int) string { return fmt.Sprintf("schema %q", out[i].Tenant) }); len(problems) > 0 {
		return nil, &TargetsError{Source: "tenant schemas", Problems: problems}
	}
	if len(out) == 0 {
		return nil, &TargetsError{Source: "tenant schemas", Problems: []string{fmt.Sprintf("no schema matches %q", like)}}
	}
	return out, nil
}

// recorded is the targets as a plan records them, with their digest:
// sha256 over each target's name, redacted URL and tenant.
func recorded(ts []Target, base string) ([]projector.RolloutTarget, string, error) {
	out := make([]projector.RolloutTarget, len(ts))
	h := sha256.New()
	for i, t := range ts {
		cfg, err := pgx.ParseConfig(t.URL)
		if err != nil {
			return nil, "", fmt.Errorf("target %s: %w", t.Name, err)
		}
		ls := base
		if t.Tenant != "" {
			if ls, err = ledger.TenantSchema(base, t.Tenant); err != nil {
				return nil, "", fmt.Errorf("target %s: %w", t.Name, err)
			}
		}
		out[i] = projector.RolloutTarget{Name: t.Name, URL: t.Redacted(), Tenant: t.Tenant, Ledger: ls, Server: server(cfg)}
		fmt.Fprintf(h, "%d:%s\n%d:%s\n%d:%s\n", len(t.Name), t.Name, len(out[i].URL), out[i].URL, len(t.Tenant), t.Tenant)
	}
	return out, hex.EncodeToString(h.Sum(nil)), nil
}
