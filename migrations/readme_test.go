package migrations_test

import (
	"os"
	goexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The README's library snippet is a whole program: it is extracted and
// built against this module, so it cannot drift from the API.
func TestREADMESnippetBuilds(t *testing.T) {
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
	_, after, ok := strings.Cut(string(readme), "## The startup check")
	if !ok {
		t.Fatal("README.md has no ## The startup check section")
	}
	_, code, ok := strings.Cut(after, "```go\n")
	if ok {
		code, _, ok = strings.Cut(code, "```\n")
	}
	if !ok || !strings.HasPrefix(code, "package main\n") {
		t.Fatalf("the startup check's Go block is not a whole program:\n%s", code)
	}
	dir := t.TempDir()
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	// The module's own requirements, and the module itself from this tree.
	mod := strings.Replace(string(gomod), "module github.com/schema-ledger/ledger", "module readmesnippet", 1) +
		"\nrequire github.com/schema-ledger/ledger v0.0.0\nreplace github.com/schema-ledger/ledger => " + root + "\n"
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"go.mod":                       mod,
		"go.sum":                       string(sum),
		"main.go":                      code,
		"migrations/0001_users.up.sql": "CREATE TABLE users (id bigint PRIMARY KEY);\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := goexec.Command("go", "build", "-o", os.DevNull, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the README's snippet does not build: %v\n%s\n--- snippet ---\n%s", err, out, code)
	}
}
