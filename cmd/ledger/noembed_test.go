//go:build ledger_nonatsserver

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The lean build (-tags ledger_nonatsserver) links no nats-server, says so
// in its version, and its demo asks for --nats instead of starting one.
// .ci/run runs this with the tag.
func TestLeanBuildHasNoEmbeddedNATS(t *testing.T) {
	out, err := exec.Command("go", "list", "-tags", "ledger_nonatsserver", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/nats-io/nats-server/") {
			t.Errorf("the lean build links %s", pkg)
		}
	}

	// The README's install line for this build names this very tag.
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "go install -tags ledger_nonatsserver github.com/schema-ledger/ledger/cmd/ledger@") {
		t.Error("README.md has no install line for the lean build (-tags ledger_nonatsserver)")
	}

	var stdout, stderr bytes.Buffer
	if code := runWith(context.Background(), []string{"version"}, &stdout, &stderr, func(string) string { return "" }); code != exitOK {
		t.Fatalf("version: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "without the demo's embedded nats-server") {
		t.Errorf("version does not say the build has no embedded nats-server: %q", stdout.String())
	}

	stdout.Reset()
	stderr.Reset()
	code := runWith(context.Background(), []string{"demo"}, &stdout, &stderr, func(string) string { return "" })
	if code != exitUsage || !strings.Contains(stderr.String(), "pass --nats URL") {
		t.Errorf("demo without --nats: exit %d, stderr %q; want exit %d asking for --nats", code, stderr.String(), exitUsage)
	}
	if stdout.Len() != 0 {
		t.Errorf("demo wrote %q before refusing", stdout.String())
	}
}
