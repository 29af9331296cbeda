package natsbus_test

import (
	"os"
	goexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The README's relay snippet is a whole program: it is extracted and built
// against this module, so it cannot drift from the API.
func TestREADMERelaySnippetBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program with the go command")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "## NATS: the relay")
	if !ok {
		t.Fatal("README.md has no ## NATS: the relay section")
	}
	_, code, ok := strings.Cut(after, "```go\n")
	if ok {
		code, _, ok = strings.Cut(code, "```\n")
	}
	if !ok || !strings.HasPrefix(code, "package main\n") {
		t.Fatalf("the relay's Go block is not a whole program:\n%s", code)
	}
	dir := t.TempDir()
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mod := strings.Replace(string(gomod), "module github.com/schema-ledger/ledger", "module readmerelay", 1) +
		"\nrequire github.com/schema-ledger/ledger v0.0.0\nreplace github.com/schema-ledger/ledger => " + root + "\n"
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"go.mod": mod, "go.sum": string(sum), "main.go": code} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := goexec.Command("go", "build", "-o", os.DevNull, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the README's relay snippet does not build: %v\n%s\n--- snippet ---\n%s", err, out, code)
	}
}
