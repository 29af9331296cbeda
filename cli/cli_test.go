package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/schema-ledger/ledger/internal/demonats"
	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
)

// TestMain makes the test binary double as the ledger CLI: testscript puts a
// copy of it on the scripts' PATH as "ledger" (and "ledger-demo"), and
// running that copy runs Run() (Demo()), the very function main calls.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"ledger": func() { os.Exit(Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) },
		// cmd/ledger-demo's main: the demo with its embedded nats-server.
		"ledger-demo": func() { Demo(WithEmbeddedNATS(demonats.Start)) },
	})
}

// TestScripts runs testdata/script/*.txtar, in parallel, each against a
// PostgreSQL database of its own.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		Setup:               setupDatabase,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":  cmdExitCode,
			"sql":       cmdSQL,
			"forge":     cmdForge,
			"snapshot":  cmdSnapshot,
			"unchanged": cmdUnchanged,
			"jsonfield": cmdJSONField,
			"jsonlines": cmdJSONLines,
			"nodb":      cmdNoDB,
			"holdlock":  cmdHoldLock,
			"unlock":    cmdUnlock,
		},
	})
}

// setupDatabase creates ledger_cli_<random> on the test server, points
// DATABASE_URL at it and drops it (with force) when the script ends. The
// script's environment starts empty, so LEDGER_DIR and friends are unset.
func setupDatabase(env *testscript.Env) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, pgtest.ServerURL())
	if err != nil {
		return fmt.Errorf("cannot reach PostgreSQL at %s: %v\n%s", redactURL(pgtest.ServerURL()), err, pgtest.HowToStart)
	}
	defer admin.Close(context.Background())
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "ledger_cli_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("create test database %s: %v", name, err)
	}
	env.Defer(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, pgtest.ServerURL())
		if err != nil {
			env.T().Log("drop test database " + name + ": " + err.Error())
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			env.T().Log("drop test database " + name + ": " + err.Error())
		}
	})
	cfg, err := pgx.ParseConfig(pgtest.ServerURL())
	if err != nil {
		return err
	}
	env.Setenv("DATABASE_URL", describeURL(cfg, name))
	// Under -race every exited command would sleep a second before exiting.
	env.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	env.Setenv("DB_NAME", name)
	return nil
}

// describeURL is the server's URL with another database, password kept.
func describeURL(cfg *pgx.ConnConfig, db string) string {
	user := cfg.User
	if cfg.Password != "" {
		user += ":" + cfg.Password
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", user, cfg.Host, cfg.Port, db)
}

func redactURL(u string) string {
	cfg, err := pgx.ParseConfig(u)
	if err != nil || cfg.Password == "" {
		return u
	}
	return strings.ReplaceAll(u, cfg.Password, "xxxxx")
}

// exitcode N prog args... runs prog and wants exit code N.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %q is not a number", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

func connect(ts *testscript.TestScript) (*pgx.Conn, context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	conn, err := pgx.Connect(ctx, ts.Getenv("DATABASE_URL"))
	if err != nil {
		cancel()
		ts.Fatalf("connect to DATABASE_URL: %v\n%s", err, pgtest.HowToStart)
	}
	return conn, ctx, cancel
}

// sql QUERY runs QUERY against DATABASE_URL and prints each row's columns,
// separated by |, one row a line. With !, the query must fail.
// forge QUERY runs QUERY as a superuser past the ledger's triggers
// (session_replication_role = replica), as an attacker with those rights would.
func cmdForge(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: forge QUERY")
	}
	conn, ctx, cancel := connect(ts)
	defer cancel()
	defer conn.Close(ctx)
	_, err := conn.Exec(ctx, "SET session_replication_role = replica; "+args[0])
	if err != nil && !neg {
		ts.Fatalf("forge: %v", err)
	}
	if err == nil && neg {
		ts.Fatalf("forge: unexpected success")
	}
}

func cmdSQL(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: sql QUERY")
	}
	conn, ctx, cancel := connect(ts)
	defer cancel()
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, args[0])
	if err == nil {
		for rows.Next() {
			vals, verr := rows.Values()
			if verr != nil {
				err = verr
				break
			}
			cols := make([]string, len(vals))
			for i, v := range vals {
				cols[i] = fmt.Sprint(v)
			}
			fmt.Fprintln(ts.Stdout(), strings.Join(cols, "|"))
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	switch {
	case err != nil && !neg:
		ts.Fatalf("sql: %v", err)
	case err == nil && neg:
		ts.Fatalf("sql: unexpected success")
	case err != nil:
		fmt.Fprintln(ts.Stderr(), err)
	}
}

// state is what bad input must not change: the ledger's events and the
// relations in the database's own schemas.
func state(ts *testscript.TestScript) string {
	conn, ctx, cancel := connect(ts)
	defer cancel()
	defer conn.Close(ctx)
	var rels string
	err := conn.QueryRow(ctx, `SELECT coalesce(string_agg(n.nspname || '.' || c.relname, ',' ORDER BY 1), '')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')`).Scan(&rels)
	ts.Check(err)
	events := int64(-1) // no ledger yet
	var exists bool
	ts.Check(conn.QueryRow(ctx, `SELECT to_regclass('ledger.events') IS NOT NULL`).Scan(&exists))
	if exists {
		ts.Check(conn.QueryRow(ctx, `SELECT count(*) FROM ledger.events`).Scan(&events))
	}
	return fmt.Sprintf("events=%d relations=%s", events, rels)
}

// snapshot records the database's state; unchanged compares with it.
func cmdSnapshot(ts *testscript.TestScript, neg bool, args []string) {
	ts.Setenv("SNAPSHOT", state(ts))
}

func cmdUnchanged(ts *testscript.TestScript, neg bool, args []string) {
	want := ts.Getenv("SNAPSHOT")
	if want == "" {
		ts.Fatalf("unchanged: no snapshot taken")
	}
	if got := state(ts); got != want {
		ts.Fatalf("the database changed:\n  before: %s\n  after:  %s", want, got)
	}
}

// jsonfield FILE PATH WANT parses FILE (or stdout/stderr) as one JSON value
// and compares the value at PATH (dot-separated keys and array indexes;
// "." is the whole value; len(PATH) is a length) with WANT: strings as they
// are, anything else as compact JSON. With !, they must differ.
func cmdJSONField(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: jsonfield FILE PATH WANT")
	}
	var v any
	if err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &v); err != nil {
		ts.Fatalf("jsonfield: %s is not JSON: %v", args[0], err)
	}
	got := lookupJSON(ts, v, args[1])
	if (got == args[2]) == neg {
		ts.Fatalf("jsonfield %s: got %s, want %s%s", args[1], got, map[bool]string{true: "not "}[neg], args[2])
	}
}

func lookupJSON(ts *testscript.TestScript, v any, path string) string {
	length := strings.HasPrefix(path, "len(") && strings.HasSuffix(path, ")")
	if length {
		path = path[len("len(") : len(path)-1]
	}
	if path != "." && path != "" {
		for _, k := range strings.Split(path, ".") {
			switch x := v.(type) {
			case map[string]any:
				var ok bool
				if v, ok = x[k]; !ok {
					ts.Fatalf("jsonfield: no key %q in %s", k, path)
				}
			case []any:
				i, err := strconv.Atoi(k)
				if err != nil || i < 0 || i >= len(x) {
					ts.Fatalf("jsonfield: no index %q in %s (length %d)", k, path, len(x))
				}
				v = x[i]
			default:
				ts.Fatalf("jsonfield: %s: %q is neither an object nor an array", path, k)
			}
		}
	}
	if length {
		switch x := v.(type) {
		case []any:
			return strconv.Itoa(len(x))
		case map[string]any:
			return strconv.Itoa(len(x))
		default:
			ts.Fatalf("jsonfield: %s is not an array but %T", path, v)
		}
	}
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// jsonlines FILE N [PATH=WANT...] wants FILE to hold exactly N lines, each
// one JSON object, each matching every PATH=WANT (as jsonfield).
func cmdJSONLines(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: jsonlines FILE N [PATH=WANT...]")
	}
	want, err := strconv.Atoi(args[1])
	if err != nil {
		ts.Fatalf("jsonlines: %q is not a number", args[1])
	}
	text := ts.ReadFile(args[0])
	if !strings.HasSuffix(text, "\n") && text != "" {
		ts.Fatalf("jsonlines: %s does not end with a newline", args[0])
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if text == "" {
		lines = nil
	}
	if len(lines) != want {
		ts.Fatalf("jsonlines: %d lines, want %d", len(lines), want)
	}
	for i, l := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			ts.Fatalf("jsonlines: line %d is not a JSON object: %v\n%s", i+1, err, l)
		}
		for _, cond := range args[2:] {
			path, w, ok := strings.Cut(cond, "=")
			if !ok {
				ts.Fatalf("jsonlines: %q: want PATH=WANT", cond)
			}
			if got := lookupJSON(ts, obj, path); got != w {
				ts.Fatalf("jsonlines: line %d: %s is %s, want %s\n%s", i+1, path, got, w, l)
			}
		}
	}
}

var demoDB = regexp.MustCompile(`scratch database (ledger_demo_[0-9a-f]+)`)

// nodb FILE wants the scratch database the demo named in FILE (its
// "a scratch database ledger_demo_…" line) gone from the server. Only that
// one: other tests may run a demo of their own at the same time.
func cmdNoDB(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: nodb FILE")
	}
	m := demoDB.FindStringSubmatch(ts.ReadFile(args[0]))
	if m == nil {
		ts.Fatalf("nodb: %s names no ledger_demo_ database", args[0])
	}
	conn, ctx, cancel := connect(ts)
	defer cancel()
	defer conn.Close(ctx)
	var n int
	ts.Check(conn.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname IN ($1, $2)`, m[1], m[1]+"_fleet").Scan(&n))
	if n != 0 {
		ts.Fatalf("the demo left its scratch database %s (or %s_fleet) behind", m[1], m[1])
	}
}

// lockHolders are the connections holding a ledger's migration lock, by script.
var lockHolders sync.Map // *testscript.TestScript → *pgx.Conn

// holdlock takes the migration lock of the default ledger schema on a
// connection of its own and keeps it until unlock or the end of the script:
// another migrator, stuck.
func cmdHoldLock(ts *testscript.TestScript, neg bool, args []string) {
	conn, ctx, cancel := connect(ts)
	defer cancel()
	store, err := ledger.New(conn)
	ts.Check(err)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", store.LockKey()); err != nil {
		conn.Close(ctx)
		ts.Fatalf("holdlock: %v", err)
	}
	if _, loaded := lockHolders.LoadOrStore(ts, conn); loaded {
		conn.Close(ctx)
		ts.Fatalf("holdlock: already held")
	}
	ts.Defer(func() { releaseLock(ts) })
}

func cmdUnlock(ts *testscript.TestScript, neg bool, args []string) {
	if !releaseLock(ts) {
		ts.Fatalf("unlock: no lock held")
	}
}

func releaseLock(ts *testscript.TestScript) bool {
	c, ok := lockHolders.LoadAndDelete(ts)
	if ok {
		c.(*pgx.Conn).Close(context.Background())
	}
	return ok
}
