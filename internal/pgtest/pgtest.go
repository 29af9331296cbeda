// Package pgtest gives each test a PostgreSQL database of its own, created on
// the real server and dropped when the test ends, so tests run in parallel.
//
// The server is LEDGER_TEST_DATABASE_URL, or postgres@127.0.0.1:5432 by
// default. An unreachable server fails the test with a message saying how to
// start one; it never skips.
//
// For faults that must not be done to the shared server, a test starts a
// Cluster of its own (a hot standby, a synchronous standby that never
// answers) or fills a Tablespace on a tmpfs (a full disk). Those need
// PostgreSQL's server programs and root; without them they skip, except
// under CI, where they fail.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultURL is the server tests use when LEDGER_TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL is the URL of the server tests create their databases on.
func ServerURL() string {
	if u := os.Getenv("LEDGER_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// HowToStart is what a test failing to reach PostgreSQL tells its reader.
const HowToStart = `start PostgreSQL with:
    pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
or point LEDGER_TEST_DATABASE_URL at a server where the user may CREATE DATABASE`

// NewDatabase creates a fresh database and returns its URL; the database is
// dropped (with force) when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return newDatabaseOn(t, ServerURL())
}

// newDatabaseOn creates a fresh database on the server at serverURL, dropped
// when the test ends, and returns its URL.
func newDatabaseOn(t testing.TB, serverURL string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		t.Fatalf("cannot reach PostgreSQL at %s: %v\n%s", redact(serverURL), err, HowToStart)
	}
	defer admin.Close(context.Background())

	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "ledger_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, serverURL)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	cfg, err := pgx.ParseConfig(serverURL)
	if err != nil {
		t.Fatalf("parse %s: %v", redact(serverURL), err)
	}
	return withDatabase(serverURL, cfg.Database, name)
}

// NewPool creates a fresh database and a pool of at most maxConns
// connections to it, closed when the test ends.
func NewPool(t testing.TB, maxConns int32) (*pgxpool.Pool, string) {
	t.Helper()
	return newPool(t, NewDatabase(t), maxConns)
}

// newPool opens a pool of at most maxConns connections to url, closed when
// the test ends.
func newPool(t testing.TB, url string, maxConns int32) (*pgxpool.Pool, string) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, url
}

// withDatabase swaps the database name in a URL or keyword/value DSN.
func withDatabase(url, old, name string) string {
	if strings.Contains(url, "://") {
		head, query, _ := strings.Cut(url, "?")
		if i := strings.LastIndex(head, "/"); i > strings.Index(head, "://")+2 {
			head = head[:i]
		}
		if query != "" {
			return head + "/" + name + "?" + query
		}
		return head + "/" + name
	}
	if old != "" && strings.Contains(url, "dbname=") {
		return strings.Replace(url, "dbname="+old, "dbname="+name, 1)
	}
	return url + " dbname=" + name
}

func redact(url string) string {
	cfg, err := pgx.ParseConfig(url)
	if err != nil || cfg.Password == "" {
		return url
	}
	return strings.Replace(url, cfg.Password, "xxxxx", 1)
}
