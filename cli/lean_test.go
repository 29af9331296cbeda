//go:build ledger_nonats

package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The lean build (-tags ledger_nonats) links no NATS package, says so in
// its version, and its NATS commands and flags refuse with a usage error
// instead of running. .ci/run runs this with the tag.
func TestLeanBuildHasNoNATS(t *testing.T) {
	out, err := exec.Command("go", "list", "-tags", "ledger_nonats", "-deps", "../cmd/ledger").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/nats-io/") || strings.HasSuffix(pkg, "/ledger/natsbus") || strings.HasSuffix(pkg, "ledger/watch") {
			t.Errorf("the lean build links %s", pkg)
		}
	}
	// The README's install line for this build names this very tag.
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "go install -tags ledger_nonats github.com/schema-ledger/ledger/cmd/ledger@") {
		t.Error("README.md has no install line for the lean build (-tags ledger_nonats)")
	}

	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := runWith(context.Background(), args, &stdout, &stderr, func(string) string { return "" })
		return code, stdout.String(), stderr.String()
	}
	if code, out, errOut := run("version"); code != exitOK || !strings.Contains(out, "without NATS") {
		t.Errorf("version: exit %d, %q %q; want it to say the build has no NATS", code, out, errOut)
	}
	for _, args := range [][]string{{"relay"}, {"watch"}, {"demo"}, {"verify", "--nats", "nats://127.0.0.1:4222"}} {
		code, out, errOut := run(args...)
		if code != exitUsage || !strings.Contains(errOut, "-tags ledger_nonats") || out != "" {
			t.Errorf("ledger %s: exit %d, stdout %q, stderr %q; want exit %d naming the tag", strings.Join(args, " "), code, out, errOut, exitUsage)
		}
	}
	if code, out, _ := run("help"); code != exitOK || !strings.Contains(out, "relay") || !strings.Contains(out, "(not in this build)") {
		t.Errorf("help: exit %d; want the NATS commands listed as not in this build:\n%s", code, out)
	}
}
