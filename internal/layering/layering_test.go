package layering

import (
	"os"
	"os/exec"
	"path/filepath"
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

// The layers of ARCHITECTURE.md, each line a rule: what a package must not
// depend on, directly or not.
func TestLayering(t *testing.T) {
	network := []string{"net/http", "database/sql", "crypto/tls", "github.com/jackc/pgx/v5", "github.com/jackc/pgx/v5/pgconn", "github.com/nats-io/nats.go"}
	above := func(pkgs ...string) []string {
		out := make([]string, len(pkgs))
		for i, p := range pkgs {
			out[i] = module + "/" + p
		}
		return out
	}
	pure := append(append([]string{"net"}, network...), above("ledger", "migrations", "catalog", "cli")...)
	rules := []struct {
		pkg       string
		forbidden []string
	}{
		{"projector", pure},
		{"policy", pure},
		{"internal/sqllex", append(pure, above("projector", "policy")...)},
		{"catalog", above("projector", "policy", "ledger", "migrations", "adopt", "watch", "cli")},
		{"ledger", append(above("migrations", "adopt", "watch", "fleet", "ledger/natsbus", "cli"), "github.com/nats-io/nats.go")},
		{"ledger/natsbus", above("migrations", "adopt", "watch", "cli")},
		{"migrations", append(above("adopt", "watch", "fleet", "ledger/natsbus", "cli"), "github.com/nats-io/nats.go")},
		{"fleet", append(above("adopt", "watch", "ledger/natsbus", "cli"), "github.com/nats-io/nats.go")},
		{"adopt", above("watch", "ledger/natsbus", "cli")},
		{"watch", above("adopt", "cli")},
		// The report's page loads nothing from a network, and its model
		// is the library's: no CLI, no NATS, no HTTP.
		{"report", append(above("adopt", "watch", "ledger/natsbus", "cli"), "github.com/nats-io/nats.go", "net/http")},
		// The binary `go install …/cmd/ledger` gives, whose every start
		// is a server's startup check, links no NATS server: only
		// cmd/ledger-demo embeds one (internal/demonats).
		{"cmd/ledger", []string{"github.com/nats-io/nats-server/v2/server", module + "/internal/demonats"}},
		{"cli", []string{"github.com/nats-io/nats-server/v2/server", module + "/internal/demonats"}},
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
		for _, d := range deps(t, module+"/"+r.pkg) {
			have[d] = true
		}
		for _, f := range r.forbidden {
			if have[f] {
				t.Errorf("%s depends on %s (ARCHITECTURE.md)", r.pkg, f)
			}
		}
	}

	// Nothing imports the CLI but its main and users' programs.
	out, err = exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}} {{join .TestImports \" \"}} {{join .XTestImports \" \"}}", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if f[0] == module+"/cli" || f[0] == module+"/cmd/ledger" || f[0] == module+"/cmd/ledger-demo" || strings.HasPrefix(f[0], module+"/examples/") {
			continue
		}
		for _, imp := range f[1:] {
			if imp == module+"/cli" {
				t.Errorf("%s imports the CLI (cli)", f[0])
			}
		}
	}
}

// The CLI decides nothing: verdicts and folds are the library's (a report
// such as migrations.Status or migrations.Verify), so a Go server, the CLI
// and its JSON show the same facts.
func TestCLIDecidesNothing(t *testing.T) {
	files, err := filepath.Glob("../../cli/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no CLI sources found: %v", err)
	}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, call := range []string{"policy.Evaluate(", "projector.Apply(", "projector.Fold(", "projector.NewState("} {
			if strings.Contains(string(src), call) {
				t.Errorf("%s calls %s…): that decision belongs in the library", filepath.Base(file), call)
			}
		}
	}
}
