package ledger

import "fmt"

// TenantSchema is the ledger schema of a tenant when each tenant of a
// database is a schema of its own (schema-per-tenant): base + "_" + tenant,
// e.g. ledger_acme for tenant acme under the default base "ledger". Each
// tenant so has a ledger, a hash chain and a migration lock of its own,
// beside the others in one database. The name must be a valid ledger
// schema name (ValidateSchemaName): a tenant whose name does not fit is an
// error naming it.
func TenantSchema(base, tenant string) (string, error) {
	if tenant == "" {
		return "", fmt.Errorf("tenant: the schema name is empty")
	}
	name := base + "_" + tenant
	if err := ValidateSchemaName(name); err != nil {
		return "", fmt.Errorf("tenant %q: its ledger schema %q: %w", tenant, name, err)
	}
	return name, nil
}
