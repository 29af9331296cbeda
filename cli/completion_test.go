package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The bash completion completes commands, and each command's own flags
// only: the script is run by bash itself.
func TestBashCompletion(t *testing.T) {
	var script bytes.Buffer
	if code := runWith(context.Background(), []string{"completion", "bash"}, &script, &bytes.Buffer{}, func(string) string { return "" }); code != exitOK {
		t.Fatalf("completion bash: exit %d", code)
	}
	file := filepath.Join(t.TempDir(), "ledger.bash")
	if err := os.WriteFile(file, script.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	complete := func(words ...string) []string {
		t.Helper()
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + w + "'"
		}
		prog := "source " + file + "; COMP_WORDS=(" + strings.Join(quoted, " ") + "); COMP_CWORD=" + strconv.Itoa(len(words)-1) + "; _ledger; printf '%s\\n' \"${COMPREPLY[@]}\""
		out, err := exec.Command("bash", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return strings.Fields(string(out))
	}
	if got := complete("ledger", "ver"); strings.Join(got, " ") != "verify version" {
		t.Errorf("ledger ver<TAB>: %v, want verify version", got)
	}
	up := strings.Join(complete("ledger", "up", "--"), " ")
	for _, want := range []string{"--db", "--dir", "--app-version", "--policy", "--lock-timeout", "--ddl-lock-timeout", "--dry-run", "--json"} {
		if !strings.Contains(up+" ", want+" ") {
			t.Errorf("ledger up --<TAB> lacks %s: %s", want, up)
		}
	}
	history := strings.Join(complete("ledger", "history", "--"), " ")
	if strings.Contains(history, "--policy") || strings.Contains(history, "--dir ") || !strings.Contains(history, "--since") {
		t.Errorf("ledger history --<TAB> offers what history does not take, or lacks --since: %s", history)
	}
	var fish bytes.Buffer
	if code := runWith(context.Background(), []string{"completion", "fish"}, &fish, &bytes.Buffer{}, func(string) string { return "" }); code != exitOK || !strings.Contains(fish.String(), "complete -c ledger -n '__fish_seen_subcommand_from up' -l dry-run") {
		t.Errorf("completion fish: exit %d\n%s", code, fish.String())
	}
	if code := runWith(context.Background(), []string{"completion", "tcsh"}, &bytes.Buffer{}, &bytes.Buffer{}, func(string) string { return "" }); code != exitUsage {
		t.Errorf("completion tcsh: exit %d, want %d", code, exitUsage)
	}
}
