package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/internal/pgtest"
)

// silentServer takes connections and never answers; its URL.
func silentServer(t *testing.T, params string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return "postgres://u@" + l.Addr().String() + "/x?" + params
}

// A server that never answers: up says how long it truly waited (TLS, then
// without: two attempts of connect_timeout each), and check --json still
// writes JSON.
func TestSilentServerWords(t *testing.T) {
	t.Parallel()
	dir := writeDir(t, map[string]string{"0001_a.up.sql": "CREATE TABLE a (id int);"})
	url := silentServer(t, "sslmode=prefer&connect_timeout=1")
	start := time.Now()
	code, _, errOut := ledgerCLI(t, url, "--dir", dir, "up")
	took := time.Since(start)
	m := regexp.MustCompile(`no answer in ([0-9]+)s, at most 1s per attempt`).FindStringSubmatch(errOut)
	if code != exitError || m == nil {
		t.Fatalf("up against a silent server: exit %d\n%s", code, errOut)
	}
	said, _ := strconv.Atoi(m[1])
	if d := time.Duration(said)*time.Second - took; d > time.Second || d < -time.Second {
		t.Errorf("up waited %s and says %ss:\n%s", took, m[1], errOut)
	}

	var out, errb bytes.Buffer
	code = runWith(context.Background(), []string{"check", "--json", "--dir", dir, "--db", url}, &out, &errb, func(string) string { return "" })
	var got struct {
		Command  string `json:"command"`
		Error    string `json:"error"`
		ExitCode int    `json:"exit_code"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || code != exitError || got.ExitCode != code || got.Command != "check" || !strings.Contains(got.Error, "timed out") {
		t.Fatalf("check --json against a silent server: exit %d, stdout %q (%v)\nstderr: %s", code, out.String(), err, errb.String())
	}
}

// No CLI message names a library call, and verify prints no Go struct.
func TestNoLibraryWordsInTheShell(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	dir := writeDir(t, map[string]string{"0001_a.up.sql": "CREATE TABLE a (id int);"})
	var all strings.Builder
	run := func(args ...string) {
		code, out, errOut := ledgerCLI(t, url, append([]string{"--dir", dir}, args...)...)
		all.WriteString(out + errOut)
		t.Logf("ledger %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	run("status") // no ledger yet
	run("verify")
	run("history")
	run("verify", "--expect-head", "nocolon")
	mustCLI(t, url, "--dir", dir, "up")
	// A forged head: check, status and verify see a ledger that cannot be trusted.
	forgeSQL(t, url, `UPDATE ledger.head SET digest = '\x00'::bytea || substr(digest, 2)`)
	run("check")
	run("status")
	run("verify")
	forgeSQL(t, url, `UPDATE ledger.head SET format = 3`)
	run("check")
	run("status")
	forgeSQL(t, url, `UPDATE ledger.head SET format = 99`)
	run("check")
	run("history")
	text := all.String()
	for _, bad := range []string{"Store.", "Runner.", "Anchor.", "Checker.", "{ID:", "&{", "%!"} {
		if strings.Contains(text, bad) {
			t.Errorf("a CLI message says %q:\n%s", bad, text)
		}
	}
}
