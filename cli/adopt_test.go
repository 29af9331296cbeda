package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// peerTool is another migration tool the adopt tests run for real, at a
// pinned version. It is installed for the tests only (here or by .ci/run),
// never a dependency of ledger's packages.
type peerTool struct {
	bin, pkg, version string
	tags              string
}

var peerTools = []peerTool{
	{bin: "goose", pkg: "github.com/pressly/goose/v3/cmd/goose", version: "v3.30.0"},
	{bin: "migrate", pkg: "github.com/golang-migrate/migrate/v4/cmd/migrate", version: "v4.20.1", tags: "postgres"},
}

var (
	peerOnce sync.Once
	peerPath string
	peerErr  error
)

// peerToolsDir returns a directory holding every peer tool at its pinned
// version, installing them with `go install` into the user cache the first
// time (LEDGER_PEER_TOOLS names another directory, e.g. one .ci/run filled).
func peerToolsDir() (string, error) {
	peerOnce.Do(func() {
		dir := os.Getenv("LEDGER_PEER_TOOLS")
		if dir == "" {
			cache, err := os.UserCacheDir()
			if err != nil {
				cache = os.TempDir()
			}
			dir = filepath.Join(cache, "ledger-peer-tools", "goose-v3.30.0_migrate-v4.20.1")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			peerErr = err
			return
		}
		for _, t := range peerTools {
			if _, err := os.Stat(filepath.Join(dir, t.bin)); err == nil {
				continue
			}
			args := []string{"install"}
			if t.tags != "" {
				args = append(args, "-tags", t.tags)
			}
			args = append(args, t.pkg+"@"+t.version)
			cmd := exec.Command("go", args...)
			cmd.Env = append(os.Environ(), "GOBIN="+dir)
			if out, err := cmd.CombinedOutput(); err != nil {
				peerErr = fmt.Errorf("cannot install %s %s for the adopt tests (go %s): %v\n%s\n"+
					"install it by hand into %s (GOBIN=%s go %s), or set LEDGER_PEER_TOOLS to a directory holding goose and migrate at these versions",
					t.bin, t.version, strings.Join(args, " "), err, out, dir, dir, strings.Join(args, " "))
				return
			}
		}
		peerPath = dir
	})
	return peerPath, peerErr
}

// TestAdoptScripts runs testdata/adopt/*.txtar: goose and golang-migrate at
// their pinned versions migrate a database, ledger adopts it and carries on.
func TestAdoptScripts(t *testing.T) {
	dir, err := peerToolsDir()
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/adopt",
		Setup: func(env *testscript.Env) error {
			if err := setupDatabase(env); err != nil {
				return err
			}
			env.Setenv("PATH", dir+string(os.PathListSeparator)+env.Getenv("PATH"))
			env.Setenv("HOME", env.WorkDir)
			return nil
		},
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":  cmdExitCode,
			"sql":       cmdSQL,
			"snapshot":  cmdSnapshot,
			"unchanged": cmdUnchanged,
			"jsonfield": cmdJSONField,
		},
	})
}
