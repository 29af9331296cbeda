package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/schema-ledger/ledger/cli"
	"github.com/schema-ledger/ledger/internal/pgtest"
)

// The example is built as a program of its own and run against
// PostgreSQL: its Go migrations run in order among the goose files, and it
// has every ledger command. The plain ledger binary, which does not compile
// them, refuses the database they migrated (issue 25, item 7).
func TestProgramOfItsOwn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program with the go command")
	}
	bin := filepath.Join(t.TempDir(), "migrate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	db := pgtest.NewDatabase(t)
	run := func(want int, args ...string) string {
		t.Helper()
		args = append(args, "--dir", "migrations")
		if args[0] != "lint" { // lint needs no database, and takes no --db
			args = append(args, "--db", db)
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "LEDGER_APP_VERSION=", "DATABASE_URL=")
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != want {
			t.Fatalf("migrate %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out.String(), errOut.String())
		}
		return out.String()
	}

	out := run(0, "up")
	for _, id := range []string{"00001_init", "00002_v0_2", "00003_backfill_step_names", "00004_readable_id_not_null", "00005_index_steps_by_worker", "00006_comment_steps"} {
		if !strings.Contains(out, "applied "+id+"\n") {
			t.Errorf("up did not apply %s:\n%s", id, out)
		}
	}
	var names string
	pgtest.QueryRow(t, db, "SELECT string_agg(readable_id, ',' ORDER BY id) FROM steps", &names)
	if names != "email-send,slack-post" {
		t.Errorf("readable ids %q", names)
	}
	var status struct {
		Applied []struct {
			ID            string `json:"id"`
			Transactional bool   `json:"transactional"`
		} `json:"applied"`
	}
	if err := json.Unmarshal([]byte(run(0, "status", "--json")), &status); err != nil || len(status.Applied) != 6 {
		t.Fatalf("status: %+v %v", status, err)
	}
	if !status.Applied[2].Transactional || status.Applied[4].Transactional || status.Applied[1].Transactional {
		t.Errorf("transactional flags: %+v", status.Applied)
	}
	run(0, "check")
	run(0, "verify")
	run(0, "lint", "--strict")

	// The plain ledger does not compile the Go migrations: it refuses.
	var stdout bytes.Buffer
	code := cli.Run(context.Background(), []string{"check", "--dir", "migrations", "--db", db}, &stdout, &bytes.Buffer{})
	if code != 4 || !strings.Contains(stdout.String(), "unknown: 00003_backfill_step_names") {
		t.Errorf("ledger check without the Go migrations: exit %d\n%s", code, stdout.String())
	}

	out = run(0, "down", "--to", "0")
	if !strings.Contains(out, "reverted 00003_backfill_step_names\n") || !strings.Contains(out, "reverted 00006_comment_steps\n") {
		t.Errorf("down --to 0:\n%s", out)
	}
	out = run(0, "up", "--steps", "3")
	if !strings.HasSuffix(strings.TrimSpace(strings.Split(out, "\n")[2]), "00003_backfill_step_names") {
		t.Errorf("up --steps 3:\n%s", out)
	}
	run(3, "check")
}
