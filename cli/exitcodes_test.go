package cli

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/schema-ledger/ledger/internal/pgtest"
)

// exitCodeTable reads the exit codes the README's table documents.
func exitCodeTable(t *testing.T) map[int]string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "### Exit codes\n")
	if !ok {
		t.Fatal("README.md has no ### Exit codes section")
	}
	codes := map[int]string{}
	row := regexp.MustCompile(`^\| (\d+) \| (.+) \|$`)
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, "#") {
			break
		}
		if m := row.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			codes[n] = m[2]
		}
	}
	return codes
}

// Every row of the README's exit-code table, run: each code is produced by
// the cases the README names for it, and no case exits with a code the
// table does not document.
func TestExitCodesFollowTheREADME(t *testing.T) {
	t.Parallel()
	table := exitCodeTable(t)
	db := pgtest.NewDatabase(t)
	dir := t.TempDir()
	write := func(name, sql string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(sql), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	remove := func(name string) {
		t.Helper()
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	// A server that takes the connection and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	silentURL := "postgres://u@" + silent.Addr().String() + "/x?sslmode=disable&connect_timeout=1"

	type step struct {
		name   string
		before func()
		args   []string
		code   int
		stderr string // a regexp the error output must match
	}
	steps := []step{
		{name: "usage: unknown flag", args: []string{"up", "--bogus"}, code: 2},
		{name: "usage: unknown policy lists every form", args: []string{"check", "--policy", "lax"}, code: 2, stderr: `strict, compatible, same-major, each optionally followed by \+out-of-order`},
		{name: "usage: unparseable pool_max_conns in --db", args: []string{"up", "--db", db + "&pool_max_conns=lots"}, code: 2, stderr: `invalid --db`},
		{name: "pending", before: func() {
			write("0001_a.up.sql", "CREATE TABLE a (id int);")
			write("0001_a.down.sql", "DROP TABLE a;")
			write("0002_b.up.sql", "CREATE TABLE b (id int);")
		}, args: []string{"check"}, code: 3},
		{name: "usage: up --to an unknown id", args: []string{"up", "--to", "0009_nope"}, code: 2, stderr: `target 0009_nope is not a migration`},
		{name: "ok: up", args: []string{"up"}, code: 0},
		{name: "ok: check runs", args: []string{"check"}, code: 0},
		{name: "usage: down --to an unknown id", args: []string{"down", "--to", "0009_nope"}, code: 2},
		{name: "refused: down without a down file", args: []string{"down", "--steps", "1"}, code: 4, stderr: `migration 0002_b has no down file`},
		{name: "error: a failing migration", before: func() { write("0003_c.up.sql", "SELECT 1/0;") }, args: []string{"up"}, code: 1, stderr: `division by zero`},
		{name: "ok: a newer release applies 0003_c", before: func() {
			write("0003_c.up.sql", "SELECT 1;")
		}, args: []string{"up"}, code: 0},
		{name: "refused: check on an older release", before: func() { remove("0003_c.up.sql") }, args: []string{"check"}, code: 4, stderr: ``},
		{name: "refused: up on an older release", args: []string{"up"}, code: 4, stderr: `up refused`},
		{name: "refused: down of a migration this release does not know", args: []string{"down", "--steps", "1"}, code: 4, stderr: `not in this set`},
		{name: "integrity: checksum mismatch", before: func() {
			write("0003_c.up.sql", "SELECT 1;")
			write("0001_a.up.sql", "CREATE TABLE a (id bigint);")
		}, args: []string{"check"}, code: 5},
		{name: "integrity: a down refused over a checksum mismatch", args: []string{"down", "--to", "0"}, code: 5, stderr: `checksum`},
		{name: "error: a server that never answers, within connect_timeout", args: []string{"check", "--db", silentURL}, code: 1, stderr: `timed out: no answer within 1s`},
	}
	seen := map[int]bool{}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		var out, errb bytes.Buffer
		getenv := func(k string) string {
			return map[string]string{"DATABASE_URL": db, "LEDGER_DIR": dir}[k]
		}
		t0 := time.Now()
		code := runWith(context.Background(), s.args, &out, &errb, getenv)
		if code != s.code {
			t.Fatalf("%s: ledger %s exited %d, want %d\nstdout: %s\nstderr: %s", s.name, strings.Join(s.args, " "), code, s.code, out.String(), errb.String())
		}
		if s.stderr != "" && !regexp.MustCompile(s.stderr).MatchString(errb.String()) {
			t.Errorf("%s: stderr does not match %q:\n%s", s.name, s.stderr, errb.String())
		}
		if _, ok := table[code]; !ok {
			t.Errorf("%s: exit code %d is not in the README's table", s.name, code)
		}
		if time.Since(t0) > 30*time.Second {
			t.Errorf("%s took %s", s.name, time.Since(t0))
		}
		seen[code] = true
	}
	for code, meaning := range table {
		if !seen[code] {
			t.Errorf("README row %d (%s) is not exercised", code, meaning)
		}
	}
}

// Without connect_timeout in --db, a connection attempt is still bounded.
func TestDefaultConnectTimeout(t *testing.T) {
	e := &env{db: &dbFlags{url: "postgres://u@127.0.0.1:1/x"}, name: "check", getenv: func(string) string { return "" }}
	cfg, err := parseForTest(e.db.url)
	if err != nil {
		t.Fatal(err)
	}
	e.tune(cfg)
	if cfg.ConnectTimeout != defaultConnectTimeout {
		t.Fatalf("connect timeout %s, want %s", cfg.ConnectTimeout, defaultConnectTimeout)
	}
	e.db.url = "postgres://u@127.0.0.1:1/x?connect_timeout=3"
	if cfg, err = parseForTest(e.db.url); err != nil {
		t.Fatal(err)
	}
	e.tune(cfg)
	if cfg.ConnectTimeout != 3*time.Second {
		t.Fatalf("connect timeout %s, want the URL's 3s", cfg.ConnectTimeout)
	}
}

func parseForTest(dsn string) (*pgx.ConnConfig, error) { return pgx.ParseConfig(dsn) }
