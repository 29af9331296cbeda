package layering

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/schema-ledger/ledger"

// deps lists every package pkg depends on, directly or not (go list -deps).
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// The layering of DESIGN.md: projector and policy are pure (no database,
// no network); the event store knows nothing of the runner or the CLI;
// nothing imports the CLI.
func TestLayering(t *testing.T) {
	pure := []string{
		"net", "net/http", "database/sql", "crypto/tls",
		"github.com/jackc/pgx/v5", "github.com/jackc/pgx/v5/pgconn", "github.com/nats-io/nats.go",
		module + "/ledger", module + "/migrations", module + "/catalog", module + "/cli",
	}
	rules := []struct {
		pkg       string
		forbidden []string
	}{
		{module + "/projector", pure},
		{module + "/policy", pure},
		{module + "/ledger", []string{module + "/migrations", module + "/cli", module + "/adopt"}},
		{module + "/internal/sqllex", append(pure, module+"/projector", module+"/policy")},
	}
	// natsbus reads the store only through ledger: no pgx of its own.
	out, err := exec.Command("go", "list", "-f", "{{join .Imports \" \"}}", module+"/ledger/natsbus").Output()
	if err != nil {
		t.Fatalf("go list natsbus: %v", err)
	}
	for _, imp := range strings.Fields(string(out)) {
		if strings.HasPrefix(imp, "github.com/jackc/pgx") {
			t.Errorf("ledger/natsbus imports %s: it reads the store only through ledger", imp)
		}
	}
	for _, r := range rules {
		have := map[string]bool{}
		for _, d := range deps(t, r.pkg) {
			have[d] = true
		}
		for _, f := range r.forbidden {
			if have[f] {
				t.Errorf("%s depends on %s", r.pkg, f)
			}
		}
	}
	out, err = exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}} {{join .TestImports \" \"}} {{join .XTestImports \" \"}}", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, imp := range f[1:] {
			if imp == module+"/cmd/ledger" && f[0] != module+"/cmd/ledger" {
				t.Errorf("%s imports the CLI (cli)", f[0])
			}
		}
	}
}
