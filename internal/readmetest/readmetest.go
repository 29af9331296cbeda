// Package readmetest builds the Go programs shown in the project's README
// against this module, so a snippet cannot drift from the API. It is for
// tests only and imports nothing of the module.
package readmetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Root is the module's root directory, found from the test's working
// directory (the package's own directory) by walking up to go.mod.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// GoBlock is the first ```go block after marker in the README; it must be a
// whole program (package main).
func GoBlock(t testing.TB, marker string) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(Root(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), marker)
	if !ok {
		t.Fatalf("README.md has no %q", marker)
	}
	_, code, ok := strings.Cut(after, "```go\n")
	if ok {
		code, _, ok = strings.Cut(code, "```\n")
	}
	if !ok || !strings.HasPrefix(code, "package main\n") {
		t.Fatalf("README.md's Go block after %q is not a whole program:\n%s", marker, code)
	}
	return code
}

// Build builds the README's Go block after marker as a program of its own
// module that requires this one from this tree, with files beside main.go
// (e.g. the migrations or manifest it embeds). Under -short it skips: it
// runs the go command, which is slow, and the full test run (CI) builds it.
func Build(t *testing.T, marker string, files map[string][]byte) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a program with the go command")
	}
	root := Root(t)
	code := GoBlock(t, marker)
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	mod := strings.Replace(string(gomod), "module github.com/schema-ledger/ledger", "module readmesnippet", 1) +
		"\nrequire github.com/schema-ledger/ledger v0.0.0\nreplace github.com/schema-ledger/ledger => " + root + "\n"
	all := map[string][]byte{"go.mod": []byte(mod), "go.sum": sum, "main.go": []byte(code)}
	for name, data := range files {
		all[name] = data
	}
	dir := t.TempDir()
	for name, data := range all {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-o", os.DevNull, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the README's Go block after %q does not build: %v\n%s\n--- snippet ---\n%s", marker, err, out, code)
	}
}
