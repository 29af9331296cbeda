package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/ledger"
)

// rawTarget is one line of a targets file (or row of a targets query).
type rawTarget struct {
	url, name, tenant string
}

// parseTargets reads a targets file in the syntax of ledger rollout: one
// target per line, a postgres:// URL, then optional name=NAME (default:
// the database name, then "/tenant") and tenant=SCHEMA; blank lines and
// what follows a # (at the start of a line or after a space) are ignored.
// Every problem is reported at once, by line.
//
// It is the report's own reading of that syntax, until the rollout's
// package (issue 21) is on main to share its parser.
func parseTargets(data []byte, source string) ([]rawTarget, error) {
	var out []rawTarget
	var lines []int
	var problems []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		for _, sep := range []string{" #", "\t#"} {
			if i := strings.Index(text, sep); i >= 0 {
				text = text[:i]
			}
		}
		fields := strings.Fields(text)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		t := rawTarget{url: fields[0]}
		for _, f := range fields[1:] {
			k, v, ok := strings.Cut(f, "=")
			switch {
			case !ok || v == "":
				problems = append(problems, fmt.Sprintf("line %d: %q: want name=NAME or tenant=SCHEMA after the URL", line, f))
			case k == "name":
				t.name = v
			case k == "tenant":
				t.tenant = v
			default:
				problems = append(problems, fmt.Sprintf("line %d: unknown extra %q: want name= or tenant=", line, k))
			}
		}
		out = append(out, t)
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	problems = append(problems, checkTargets(out, func(i int) string { return fmt.Sprintf("line %d", lines[i]) })...)
	if len(problems) == 0 && len(out) == 0 {
		problems = []string{"no targets: want one postgres:// URL per line"}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s: %s", source, strings.Join(problems, "; "))
	}
	return out, nil
}

// checkTargets fills default names and lists what is wrong.
func checkTargets(ts []rawTarget, where func(int) string) []string {
	var problems []string
	seen := map[string]int{}
	for i := range ts {
		t := &ts[i]
		if !strings.HasPrefix(t.url, "postgres://") && !strings.HasPrefix(t.url, "postgresql://") {
			problems = append(problems, fmt.Sprintf("%s: not a postgres:// URL", where(i)))
			continue
		}
		cfg, err := pgx.ParseConfig(t.url)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %s", where(i), redactErr(err, t.url)))
			continue
		}
		if t.tenant != "" {
			if err := ledger.ValidateSchemaName(ledger.DefaultSchema + "_" + t.tenant); err != nil {
				problems = append(problems, fmt.Sprintf("%s: tenant %q: %v", where(i), t.tenant, err))
			}
		}
		if t.name == "" {
			t.name = cfg.Database
			if t.tenant != "" {
				t.name += "/" + t.tenant
			}
		}
		if j, dup := seen[t.name]; dup {
			problems = append(problems, fmt.Sprintf("%s: name %q is also %s's: give each a name=", where(i), t.name, where(j)))
			continue
		}
		seen[t.name] = i
	}
	return problems
}

// targetsFromQuery runs query and makes a target of each row: the first
// column is the URL; columns named name and tenant are those extras.
func targetsFromQuery(ctx context.Context, pool *pgxpool.Pool, query string) ([]rawTarget, error) {
	rows, err := pool.Query(ctx, query)
	if err != nil {
		return nil, err
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
	var out []rawTarget
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		str := func(i int) string {
			if i < 0 || vals[i] == nil {
				return ""
			}
			return fmt.Sprint(vals[i])
		}
		out = append(out, rawTarget{url: str(0), name: str(nameCol), tenant: str(tenantCol)})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if problems := checkTargets(out, func(i int) string { return fmt.Sprintf("row %d", i+1) }); len(problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the query returned no rows")
	}
	return out, nil
}
