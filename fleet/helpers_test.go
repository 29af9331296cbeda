package fleet_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/fleet"
	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/projector"
)

// databases creates n databases (4 at a time), dropped when the test
// ends, and returns their URLs.
func databases(t testing.TB, n int) []string {
	t.Helper()
	server := pgtest.ServerURL()
	ctx := context.Background()
	admin, err := pgxpool.New(ctx, server)
	if err != nil {
		t.Fatalf("cannot reach PostgreSQL at %s: %v\n%s", server, err, pgtest.HowToStart)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	prefix := "ledger_test_fleet_" + hex.EncodeToString(b[:]) + "_"
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	t.Cleanup(func() {
		defer admin.Close()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4)
		for _, name := range names {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
					t.Errorf("drop %s: %v", name, err)
				}
			}()
		}
		wg.Wait()
	})
	var wg sync.WaitGroup
	errs := make([]error, n)
	sem := make(chan struct{}, 4)
	for i, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, errs[i] = admin.Exec(ctx, "CREATE DATABASE "+name)
		}()
	}
	wg.Wait()
	urls := make([]string, n)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("create database %s: %v\n%s", names[i], err, pgtest.HowToStart)
		}
		urls[i] = withDB(t, server, names[i])
	}
	return urls
}

func withDB(t testing.TB, server, name string) string {
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func targetsOf(urls []string) []fleet.Target {
	out := make([]fleet.Target, len(urls))
	for i, u := range urls {
		out[i] = fleet.Target{URL: u, Name: fmt.Sprintf("db%02d", i)}
	}
	return out
}

// set is n migrations, each creating a table and counting its own run in
// table runs (created by the first).
func set(t testing.TB, n int, extra string) *migrations.Set {
	t.Helper()
	s, err := setOf(n, extra)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func setOf(n int, extra string) (*migrations.Set, error) {
	fsys := fstest.MapFS{}
	for i := 1; i <= n; i++ {
		sql := fmt.Sprintf("CREATE TABLE t%d (id int);\n%sINSERT INTO runs VALUES ('%d');\n", i, extra, i)
		if i == 1 {
			sql = "CREATE TABLE runs (migration text);\n" + sql
		}
		fsys[fmt.Sprintf("%d_m%d.up.sql", i, i)] = &fstest.MapFile{Data: []byte(sql)}
	}
	return migrations.Load(fsys)
}

// control is a control ledger on a database of its own.
func control(t testing.TB) (*fleet.Control, *pgxpool.Pool) {
	t.Helper()
	pool, url := pgtest.NewPool(t, 2)
	ctl, err := fleet.NewControl(pool, "", "test-controller")
	if err != nil {
		t.Fatal(err)
	}
	ctlMu.Lock()
	ctlPools[ctl] = url
	ctlMu.Unlock()
	return ctl, pool
}

func opts() fleet.Options {
	return fleet.Options{AppVersion: "1.0.0", LockTimeout: 30 * time.Second}
}

// targetLedger opens a target's ledger (schema ledger, or a tenant's).
func targetLedger(t testing.TB, url, schema string) (*ledger.Store, func()) {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url+"?pool_max_conns=1")
	if strings.Contains(url, "?") {
		pool, err = pgxpool.New(context.Background(), url+"&pool_max_conns=1")
	}
	if err != nil {
		t.Fatal(err)
	}
	st, err := ledger.New(pool, ledger.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	return st, pool.Close
}

// checkTarget: the target's ledger verifies, each of the set's migrations
// ran exactly once (table runs, and one migration.applied each), and the
// control ledger's latest outcome for it names its head.
func checkTarget(t testing.TB, url, tenant string, n int, st fleet.TargetStatus) {
	t.Helper()
	ctx := context.Background()
	schema := "ledger"
	if tenant != "" {
		schema = "ledger_" + tenant
	}
	store, closeIt := targetLedger(t, url, schema)
	defer closeIt()
	rep, err := store.Verify(ctx, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("%s: verify: %v\n%s", st.Name, err, rep)
	}
	head, err := store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Seq != head.Seq || st.Hash != hex.EncodeToString(head.Hash) {
		t.Errorf("%s: the control ledger says seq %d hash %.12s, the target's head is seq %d hash %.12x", st.Name, st.Seq, st.Hash, head.Seq, head.Hash)
	}
	applied := map[string]int{}
	for e, err := range store.Events(ctx, ledger.Filter{Types: []string{projector.TypeMigrationApplied}}) {
		if err != nil {
			t.Fatal(err)
		}
		var p projector.Applied
		_ = json.Unmarshal(e.Payload, &p)
		applied[p.ID]++
		if p.Rollout == "" {
			t.Errorf("%s: migration.applied of %s carries no rollout id", st.Name, p.ID)
		}
	}
	if len(applied) != n {
		t.Errorf("%s: %d migrations applied, want %d", st.Name, len(applied), n)
	}
	for id, c := range applied {
		if c != 1 {
			t.Errorf("%s: %s applied %d times", st.Name, id, c)
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	table := "runs"
	if tenant != "" {
		table = pgx.Identifier{tenant, "runs"}.Sanitize()
	}
	var runs, distinct int
	if err := conn.QueryRow(ctx, "SELECT count(*), count(DISTINCT migration) FROM "+table).Scan(&runs, &distinct); err != nil {
		t.Fatalf("%s: %v", st.Name, err)
	}
	if runs != n || distinct != n {
		t.Errorf("%s: %d runs of %d distinct migrations, want each of %d once", st.Name, runs, distinct, n)
	}
}

// checkControl: the control ledger verifies, and every outcome it records
// names an event of the target's chain (seq and hash): urls maps target
// names to their databases.
func checkControl(t testing.TB, ctl *fleet.Control, urls map[string]string) {
	t.Helper()
	ctx := context.Background()
	rep, err := ctl.Store().Verify(ctx, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("control ledger verify: %v\n%s", err, rep)
	}
	stores := map[string]*ledger.Store{}
	for e, err := range ctl.Store().Events(ctx, ledger.Filter{Types: []string{projector.TypeRolloutTarget}}) {
		if err != nil {
			t.Fatal(err)
		}
		var o projector.RolloutOutcome
		if err := json.Unmarshal(e.Payload, &o); err != nil {
			t.Fatal(err)
		}
		url, ok := urls[o.Target]
		if !ok || o.Outcome == projector.OutcomeSkipped || o.Seq == 0 {
			continue
		}
		st := stores[o.Target]
		if st == nil {
			var done func()
			st, done = targetLedger(t, url, "ledger")
			defer done()
			stores[o.Target] = st
		}
		found := false
		for te, err := range st.Events(ctx, ledger.Filter{AfterSeq: o.Seq - 1, UntilSeq: o.Seq}) {
			if err != nil {
				t.Fatal(err)
			}
			found = hex.EncodeToString(te.Hash) == o.Hash
		}
		if !found {
			t.Errorf("control seq %d: %s's outcome %s names seq %d hash %.12s, not in the target's chain", e.Seq, o.Target, o.Outcome, o.Seq, o.Hash)
		}
	}
}

func byName(urls []string) map[string]string {
	m := map[string]string{}
	for _, t := range targetsOf(urls) {
		m[t.Name] = t.URL
	}
	return m
}

func execSQL(t testing.TB, url, sql string) { t.Helper(); pgtest.Exec(t, url, sql) }

func tableExists(t testing.TB, url, table string) bool {
	t.Helper()
	var ok bool
	pgtest.QueryRow(t, url, "SELECT to_regclass('"+table+"') IS NOT NULL", &ok)
	return ok
}

func openPool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

var (
	ctlMu    sync.Mutex
	ctlPools = map[*fleet.Control]string{}
)

func ctlURL(t testing.TB, ctl *fleet.Control) string {
	t.Helper()
	ctlMu.Lock()
	defer ctlMu.Unlock()
	return ctlPools[ctl]
}
