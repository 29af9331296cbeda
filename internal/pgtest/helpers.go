package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// NewRole creates a login role of the test's own, named prefix plus a
// random suffix (roles are the server's, not a database's), and drops it
// when the test ends — after what it owns or was granted in the database
// at dbURL. Call it after creating that database, so that this cleanup
// runs before the database's.
func NewRole(t testing.TB, dbURL, prefix string) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	role := prefix + hex.EncodeToString(b[:])
	Exec(t, dbURL, "CREATE ROLE "+role+" LOGIN")
	DropRolesAtEnd(t, dbURL, role)
	return role
}

// DropRolesAtEnd drops roles a test created itself (say, by running the
// README's SQL) when it ends: first what they own or were granted in the
// database at dbURL, then the roles, on the test server.
func DropRolesAtEnd(t testing.TB, dbURL string, roles ...string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, dbURL); err == nil {
			for _, r := range roles {
				_, _ = c.Exec(ctx, "REASSIGN OWNED BY "+r+" TO CURRENT_USER")
				_, _ = c.Exec(ctx, "DROP OWNED BY "+r)
			}
			c.Close(ctx)
		}
		c, err := pgx.Connect(ctx, ServerURL())
		if err != nil {
			t.Errorf("drop roles %v: %v", roles, err)
			return
		}
		defer c.Close(ctx)
		for _, r := range roles {
			if _, err := c.Exec(ctx, "DROP ROLE IF EXISTS "+r); err != nil {
				t.Errorf("drop role %s: %v", r, err)
			}
		}
	})
}

// AsUser is the URL dbURL with user in place of its user (trust
// authentication: no password).
func AsUser(t testing.TB, dbURL, user string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil || u.Scheme == "" {
		t.Fatalf("AsUser needs a URL, not %q: %v", redact(dbURL), err)
	}
	u.User = url.User(user)
	return u.String()
}

// Exec runs sql (one or more statements) on a connection of its own to
// dbURL, failing the test on an error.
func Exec(t testing.TB, dbURL, sql string) {
	t.Helper()
	conn := connect(t, dbURL)
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// QueryRow scans the one row of sql, run on a connection of its own to
// dbURL, into dest, failing the test on an error.
func QueryRow(t testing.TB, dbURL, sql string, dest ...any) {
	t.Helper()
	conn := connect(t, dbURL)
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(), sql).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func connect(t testing.TB, dbURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", redact(dbURL), err)
	}
	return conn
}

// RestoreDump runs a plain pg_dump file (psql's backslash lines, such as
// \restrict, left out) on pool, then resets the pool: the dump empties
// search_path for its session, which its connection must not keep.
func RestoreDump(t testing.TB, pool *pgxpool.Pool, path string) {
	t.Helper()
	dump, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sql strings.Builder
	for _, line := range strings.SplitAfter(string(dump), "\n") {
		if !strings.HasPrefix(line, `\`) {
			sql.WriteString(line)
		}
	}
	if _, err := pool.Exec(context.Background(), sql.String()); err != nil {
		t.Fatalf("restore %s: %v", path, err)
	}
	pool.Reset()
}
