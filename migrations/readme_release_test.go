package migrations_test

import (
	"os"
	goexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
)

// The README's release snippet (an embedded manifest, a check-in) is a
// whole program: it is built against this module with a real manifest.
func TestREADMEReleaseSnippetBuilds(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a program with the go command")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "<!-- release-snippet:")
	if ok {
		_, after, ok = strings.Cut(after, "```go\n")
	}
	code, _, ok2 := strings.Cut(after, "```\n")
	if !ok || !ok2 || !strings.HasPrefix(code, "package main\n") {
		t.Fatalf("README.md's release snippet is missing or not a whole program:\n%s", code)
	}
	set, err := migrations.Load(fstest.MapFS{"0001_users.up.sql": {Data: []byte("CREATE TABLE users (id bigint PRIMARY KEY);")}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := migrations.NewManifest(set, "1.0.0", policy.Strict)
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	mod := strings.Replace(string(gomod), "module github.com/schema-ledger/ledger", "module readmerelease", 1) +
		"\nrequire github.com/schema-ledger/ledger v0.0.0\nreplace github.com/schema-ledger/ledger => " + root + "\n"
	dir := t.TempDir()
	for name, data := range map[string][]byte{"go.mod": []byte(mod), "go.sum": sum, "main.go": []byte(code), "release.json": m.Marshal()} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := goexec.Command("go", "build", "-o", os.DevNull, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the README's release snippet does not build: %v\n%s\n--- snippet ---\n%s", err, out, code)
	}
}
