package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SkipOrFail skips a test that needs what this machine does not allow
// (root, mount, a PostgreSQL installation) — unless CI is set: CI must
// never pass by skipping, so there it fails.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI=%s: "+format, append([]any{os.Getenv("CI")}, args...)...)
	}
	t.Skipf(format, args...)
}

// Cluster is a throwaway PostgreSQL cluster of one test's own, on a random
// loopback port, for what a test must not do to the shared server: make it
// a hot standby, change its configuration. It is stopped and its directory
// removed when the test ends.
//
// initdb and postgres refuse to run as root; as root the cluster runs as
// the operating system's postgres user (which a PostgreSQL installation
// creates).
type Cluster struct {
	t    testing.TB
	bin  string // the PostgreSQL server's bin directory
	dir  string
	data string
	port int
	as   string // "": the current user
}

// NewCluster initdb's and starts a cluster. It skips (fails under CI) when
// PostgreSQL's server programs cannot be run here.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := serverBin()
	if bin == "" {
		SkipOrFail(t, "no PostgreSQL server programs (initdb, pg_ctl) found: pg_config --bindir names none, and they are not on PATH")
	}
	c := &Cluster{t: t, bin: bin}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			SkipOrFail(t, "running as root, and there is no postgres user to run a cluster as: %v", err)
		}
		c.as = "postgres"
	}
	dir, err := os.MkdirTemp("", "ledger-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir, c.data = dir, filepath.Join(dir, "data")
	t.Cleanup(func() {
		c.Stop()
		_ = os.RemoveAll(dir)
	})
	if c.as != "" {
		if out, err := exec.Command("chown", c.as, dir).CombinedOutput(); err != nil {
			t.Fatalf("chown %s %s: %v\n%s", c.as, dir, err, out)
		}
	}
	c.port = freePort(t)
	c.run("initdb", "-D", c.data, "-U", "postgres", "-A", "trust", "--no-sync", "--no-instructions")
	c.Start()
	return c
}

// serverBin is the directory of initdb and pg_ctl.
func serverBin() string {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err == nil {
			return dir
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p)
	}
	// Debian's layout, newest version last.
	if found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl"); len(found) > 0 {
		return filepath.Dir(found[len(found)-1])
	}
	return ""
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// run runs one of the server's programs as the cluster's user.
func (c *Cluster) run(prog string, args ...string) {
	c.t.Helper()
	name, argv := filepath.Join(c.bin, prog), args
	if c.as != "" {
		name, argv = "runuser", append([]string{"-u", c.as, "--", filepath.Join(c.bin, prog)}, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, name, argv...).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		c.t.Fatalf("%s %s: %v\n%s\nserver log:\n%s", prog, strings.Join(args, " "), err, out, log)
	}
}

// Start starts the cluster (again), with settings given as name=value.
func (c *Cluster) Start(settings ...string) {
	c.t.Helper()
	opts := "-p " + strconv.Itoa(c.port) + " -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off -c max_connections=20"
	for _, s := range settings {
		opts += " -c " + s
	}
	c.run("pg_ctl", "-D", c.data, "-l", filepath.Join(c.dir, "server.log"), "-w", "-t", "60", "-o", opts, "start")
}

// Stop stops the cluster (fast shutdown), if it runs.
func (c *Cluster) Stop() {
	c.t.Helper()
	if _, err := os.Stat(filepath.Join(c.data, "postmaster.pid")); err != nil {
		return
	}
	c.run("pg_ctl", "-D", c.data, "-m", "fast", "-w", "-t", "60", "stop")
}

// RestartAsStandby stops the cluster and starts it again as a hot standby
// with no primary: it serves reads and refuses every write, as a
// replica does.
func (c *Cluster) RestartAsStandby() {
	c.t.Helper()
	c.Stop()
	signal := filepath.Join(c.data, "standby.signal")
	if err := os.WriteFile(signal, nil, 0o600); err != nil {
		c.t.Fatal(err)
	}
	if c.as != "" {
		if out, err := exec.Command("chown", c.as, signal).CombinedOutput(); err != nil {
			c.t.Fatalf("chown %s: %v\n%s", signal, err, out)
		}
	}
	c.Start()
	conn, err := pgx.Connect(context.Background(), c.URL("postgres"))
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var standby bool
	if err := conn.QueryRow(context.Background(), "SELECT pg_is_in_recovery()").Scan(&standby); err != nil || !standby {
		c.t.Fatalf("the cluster restarted with standby.signal is not in recovery: %v %v", standby, err)
	}
}

// NewPool creates a fresh database on the cluster and a pool of at most
// maxConns connections to it; the pool is closed and the database dropped
// when the test ends.
func (c *Cluster) NewPool(maxConns int32) (*pgxpool.Pool, string) {
	c.t.Helper()
	return newPool(c.t, newDatabaseOn(c.t, c.URL("postgres")), maxConns)
}

// URL is the URL of database db on the cluster, as its superuser postgres.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}
