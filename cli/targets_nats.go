//go:build !ledger_nonats

package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/schema-ledger/ledger/fleet"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
)

// readTargets reads --targets FILE (the syntax of ledger rollout:
// fleet.ParseTargets) or runs --targets-sql QUERY on --db.
func (e *env) readTargets(ctx context.Context, file, query string) ([]fleet.Target, error) {
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("--targets: %w", err)
		}
		defer f.Close()
		return fleet.ParseTargets(f, file)
	}
	pool, err := e.connect(ctx)
	if err != nil {
		return nil, err
	}
	return fleet.TargetsFromQuery(ctx, pool, query)
}

// targetLedger is the ledger schema a target names: the --schema ledger of
// its database, or a tenant's own (ledger.TenantSchema).
func targetLedger(t fleet.Target, base string) (string, error) {
	if t.Tenant == "" {
		return base, nil
	}
	return ledger.TenantSchema(base, t.Tenant)
}

// targetSpecs are the databases of the targets and the ledger schemas
// wanted in each.
func targetSpecs(ts []fleet.Target, base string) ([]ledger.DatabaseSpec, error) {
	var out []ledger.DatabaseSpec
	for _, t := range ts {
		schema, err := targetLedger(t, base)
		if err != nil {
			return nil, err
		}
		out = append(out, ledger.DatabaseSpec{URL: t.URL, Schemas: []string{schema}})
	}
	return out, nil
}

// targetNames are the targets' ledger names in NATS, as the relay names
// them (<database>_<schema>).
func targetNames(ts []fleet.Target, base string) ([]string, error) {
	var out []string
	for _, t := range ts {
		schema, err := targetLedger(t, base)
		if err != nil {
			return nil, err
		}
		cfg, err := pgx.ParseConfig(t.URL)
		if err != nil {
			return nil, err
		}
		out = append(out, natsbus.DefaultName(cfg.Database, schema))
	}
	return out, nil
}
