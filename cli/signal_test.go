package cli

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/internal/pgtest"
)

// Ctrl-C (SIGINT) during `ledger up` cancels the running migration instead
// of killing the process: the statement is cancelled, the migration rolled
// back and recorded as failed, and up exits 1 saying so. This is the
// binary, built as users build it, with main's own signal handling.
func TestInterruptCancelsUp(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	dir := writeDir(t, map[string]string{"0001_slow.up.sql": "SELECT pg_sleep(60);"})
	code, _, stderr := interruptOnceSleeping(t, url, 1, "up", "--db", url, "--dir", dir)
	if code != exitError {
		t.Errorf("exit code %d, want %d", code, exitError)
	}
	if !strings.Contains(stderr, "interrupted: it was rolled back and recorded as migration.failed; run up again to apply it") {
		t.Errorf("stderr does not say the migration was rolled back and recorded:\n%s", stderr)
	}
	if got := ledgerEvents(t, url); got != "ledger.initialized, migration.failed 0001_slow" {
		t.Errorf("events: %s", got)
	}
	// Nothing of it runs on.
	var n int
	pgtest.QueryRow(t, url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()", &n)
	if n != 0 {
		t.Errorf("the cancelled migration still runs on %d backend(s)", n)
	}
}

// interruptOnceSleeping runs the ledger binary, built as users build it
// (with main's own signal handling), with args; once sleepers of its
// backends in url's database are inside pg_sleep, it sends SIGINT, and it
// returns the exit code and output once the process stopped (at most 20s
// later).
func interruptOnceSleeping(t *testing.T, url string, sleepers int, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ledger")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/ledger").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		pgtest.QueryRow(t, url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep' AND pid <> pg_backend_pid()", &n)
		if n >= sleepers {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("ledger %s: the migrations never started\nstdout:\n%s\nstderr:\n%s", args[0], out.String(), errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("ledger %s did not stop within 20s of SIGINT\nstderr:\n%s", args[0], errOut.String())
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}
