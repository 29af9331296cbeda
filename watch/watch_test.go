package watch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/internal/natstest"
	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/internal/syncbuf"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
	"github.com/schema-ledger/ledger/watch"
)

// env is one database with a ledger, an embedded NATS server and a relay
// publishing the ledger to it.
type env struct {
	t     testing.TB
	url   string // of the NATS server
	pool  *pgxpool.Pool
	store *ledger.Store
	js    jetstream.JetStream
	names natsbus.Names
}

func newEnv(t testing.TB) *env {
	t.Helper()
	pool, _ := pgtest.NewPool(t, 4)
	st, err := ledger.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := natstest.Start(t)
	_, js := natstest.Connect(t, srv.URL())
	names := natsbus.NamesFor("test_ledger")
	r, err := natsbus.NewRelay(js, st, pool, natsbus.WithNames(names), natsbus.WithPollInterval(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("relay did not stop")
		}
	})
	return &env{t: t, url: srv.URL(), pool: pool, store: st, js: js, names: names}
}

func (e *env) natsURL() string { return e.url }

func set(t testing.TB, files map[string]string) *migrations.Set {
	t.Helper()
	s, err := loadSet(files)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// loadSet loads the migration set of files (name: SQL).
func loadSet(files map[string]string) (*migrations.Set, error) {
	fsys := fstest.MapFS{}
	for name, sql := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(sql)}
	}
	return migrations.Load(fsys)
}

var (
	v120 = map[string]string{
		"0001_users.up.sql":   "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL);",
		"0001_users.down.sql": "DROP TABLE users;",
	}
	v130 = map[string]string{
		"0001_users.up.sql":    v120["0001_users.up.sql"],
		"0001_users.down.sql":  v120["0001_users.down.sql"],
		"0002_orders.up.sql":   "CREATE TABLE orders (id bigserial PRIMARY KEY, user_id bigint REFERENCES users);",
		"0002_orders.down.sql": "DROP TABLE orders;",
	}
)

func (e *env) runner(files map[string]string, version string, opts ...migrations.Option) *migrations.Runner {
	e.t.Helper()
	r, err := migrations.NewRunner(e.pool, set(e.t, files), append([]migrations.Option{migrations.WithAppVersion(version), migrations.WithHost("host-" + version)}, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

type running struct {
	w   *watch.Watcher
	out *syncbuf.Buffer
}

// watcher starts a watcher guarding the release of files, until the test ends.
func (e *env) watcher(files map[string]string, version string, opts ...watch.Option) *running {
	e.t.Helper()
	out := &syncbuf.Buffer{}
	w, err := watch.New(e.js, set(e.t, files).Manifest(version), policy.Strict,
		append([]watch.Option{watch.WithNames(e.names), watch.WithOutput(out, true)}, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("watcher: %v", err)
			}
		case <-time.After(30 * time.Second):
			e.t.Error("watcher did not stop")
		}
	})
	return &running{w: w, out: out}
}

func (e *env) head() int64 {
	e.t.Helper()
	h, err := e.store.Head(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return h.Seq
}

// caughtUp waits until every watcher folded the ledger's head.
func (e *env) caughtUp(ws ...*running) {
	e.t.Helper()
	seq := e.head()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, w := range ws {
		if err := w.w.WaitSeq(ctx, seq); err != nil {
			e.t.Fatalf("watcher did not reach seq %d: %v", seq, err)
		}
	}
}

// alerts reads the alerts stream whole.
func (e *env) alerts() []watch.Alert {
	e.t.Helper()
	ctx := context.Background()
	s, err := e.js.Stream(ctx, e.names.Stream+"_ALERTS")
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []watch.Alert
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			e.t.Fatal(err)
		}
		var a watch.Alert
		if err := json.Unmarshal(m.Data, &a); err != nil {
			e.t.Fatal(err)
		}
		if want := e.names.AlertSubject(string(a.Kind)); m.Subject != want {
			e.t.Errorf("alert on %s, want %s", m.Subject, want)
		}
		out = append(out, a)
	}
	return out
}

// waitAlerts waits until the alerts stream holds n alerts, and a little
// longer to see that no more come.
func (e *env) waitAlerts(n int) []watch.Alert {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		as := e.alerts()
		if len(as) >= n || time.Now().After(deadline) {
			time.Sleep(200 * time.Millisecond)
			return e.alerts()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func alertKinds(as []watch.Alert) []string {
	var out []string
	for _, a := range as {
		ids := ""
		for _, m := range a.Migrations {
			ids += " " + m.ID
		}
		k := string(a.Kind)
		if a.Status == watch.Recovered {
			k += " recovered"
		}
		out = append(out, k+ids)
	}
	return out
}

// Test 1: a watcher guarding 1.2.0; 1.3.0 applies a migration 1.2.0 does
// not know → exactly one unknown-migration alert naming it; the rollback →
// one recovered. Two watchers for the same release: still one alert each
// in the alerts stream.
func TestUnknownMigrationAlertedOnceAcrossWatchers(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if _, err := e.runner(v120, "1.2.0").Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	w1, w2 := e.watcher(v120, "1.2.0"), e.watcher(v120, "1.2.0")
	e.caughtUp(w1, w2)
	if as := e.alerts(); len(as) != 0 {
		t.Fatalf("alerts before anything happened: %v", alertKinds(as))
	}
	r13 := e.runner(v130, "1.3.0")
	const rounds = 3
	for i := range rounds {
		if _, err := r13.Up(ctx, migrations.UpOptions{}); err != nil {
			t.Fatal(err)
		}
		as := e.waitAlerts(2*i + 1)
		if got := alertKinds(as[2*i:]); !slices.Equal(got, []string{"unknown-migration 0002_orders"}) {
			t.Fatalf("round %d, after 1.3.0's up: alerts %v", i, got)
		}
		a := as[2*i]
		if f := a.Migrations[0]; f.AppVersion != "1.3.0" || f.Host != "host-1.3.0" || f.Actor != "postgres" || f.At.IsZero() || a.Release != "1.2.0" || a.Decision != "refuse" {
			t.Fatalf("alert facts: %+v", a)
		}
		if _, err := r13.Down(ctx, migrations.DownOptions{Target: "0001_users"}); err != nil {
			t.Fatal(err)
		}
		as = e.waitAlerts(2*i + 2)
		if got := alertKinds(as[2*i+1:]); !slices.Equal(got, []string{"unknown-migration recovered 0002_orders"}) {
			t.Fatalf("round %d, after the rollback: alerts %v", i, got)
		}
	}
	e.caughtUp(w1, w2)
	for _, w := range []*running{w1, w2} {
		if n := strings.Count(w.out.String(), `"kind":"unknown-migration","status":"firing"`); n != rounds {
			t.Errorf("a watcher printed %d unknown-migration alerts, want %d:\n%s", n, rounds, w.out)
		}
	}
}

// Test 2: a hand-run ALTER TABLE ... ADD COLUMN → a schema-drift alert
// naming table and column within one polling interval; verify's diff says
// the same.
func TestSchemaDriftAlertedByPolling(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	r := e.runner(v120, "1.2.0")
	if _, err := r.Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	w := e.watcher(v120, "1.2.0", watch.WithSchemaPolling(e.pool, e.store, 100*time.Millisecond))
	e.caughtUp(w)
	time.Sleep(300 * time.Millisecond) // a few polls of an unchanged schema: nothing
	if as := e.alerts(); len(as) != 0 {
		t.Fatalf("alerts for an unchanged schema: %v", alertKinds(as))
	}
	if _, err := e.pool.Exec(ctx, "ALTER TABLE users ADD COLUMN sneaky_hotfix integer"); err != nil {
		t.Fatal(err)
	}
	as := e.waitAlerts(1)
	want := "+ column public.users.sneaky_hotfix integer null"
	if len(as) != 1 || as[0].Kind != watch.KindDrift || !slices.Equal(as[0].Changes, []string{want}) {
		t.Fatalf("alerts %+v, want one schema-drift with %q", as, want)
	}
	st, err := r.SchemaStatus(ctx)
	if err != nil || !st.Drifted() || !slices.Equal(st.Lines, []string{want}) {
		t.Fatalf("verify's diff: %q %v", st.Lines, err)
	}
	// The next up records the drift in the stream: the same drift, not
	// alerted again; the snapshot it takes ends it.
	if _, err := r.Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	e.caughtUp(w)
	time.Sleep(300 * time.Millisecond)
	if as := e.alerts(); len(as) != 1 {
		t.Fatalf("alerts after up recorded the drift: %v", alertKinds(as))
	}
}

// Test 4: a failed migration → migration-failed with its SQLSTATE; an
// interrupted no-transaction migration → in-doubt. Also delivered to a
// webhook that fails once first.
func TestFailedAndInDoubtAlerts(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	var posts atomic.Int32
	var mu sync.Mutex
	var got []watch.Alert
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if posts.Add(1) == 1 {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		var a watch.Alert
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil || r.Header.Get("Idempotency-Key") != a.MsgID() {
			t.Errorf("webhook body: %v", err)
		}
		mu.Lock()
		got = append(got, a)
		mu.Unlock()
	}))
	defer hook.Close()
	w := e.watcher(v130, "1.3.0", watch.WithWebhook(hook.URL, 5, 10*time.Millisecond), watch.WithGuardOptions(watch.WithInDoubtGrace(300*time.Millisecond)))
	e.caughtUp(w)
	bad := map[string]string{"0001_users.up.sql": "CREATE TABLE users (id int REFERENCES nowhere (id));"}
	if _, err := e.runner(bad, "1.3.0").Up(ctx, migrations.UpOptions{}); err == nil {
		t.Fatal("a migration referencing a missing table applied")
	}
	as := e.waitAlerts(1)
	if len(as) != 1 || as[0].Kind != watch.KindFailed || as[0].Migrations[0].SQLState != "42P01" || !strings.Contains(as[0].Message, "SQLSTATE 42P01") {
		t.Fatalf("alerts %+v, want migration-failed with SQLSTATE 42P01", as)
	}
	// A no-transaction migration interrupted: started, and nothing after.
	ev, err := projector.NewEvent(projector.TypeMigrationStarted, projector.Started{ID: "0002_orders", Checksum: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error { _, err := e.store.Append(ctx, tx, ev); return err }); err != nil {
		t.Fatal(err)
	}
	as = e.waitAlerts(2)
	if got := alertKinds(as); !slices.Equal(got, []string{"migration-failed 0001_users", "in-doubt 0002_orders"}) {
		t.Fatalf("alerts %v", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if kinds := alertKinds(got); !slices.Equal(kinds, []string{"migration-failed 0001_users", "in-doubt 0002_orders"}) || posts.Load() != 3 {
		t.Fatalf("webhook got %v in %d posts, want both alerts, the first retried once", kinds, posts.Load())
	}
}

// Test 5: a watcher started after the events happened replays the stream
// and reaches the verdict `ledger check` reaches on the database; it
// alerts what holds now, once.
func TestReplayReachesTheCheckVerdict(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if _, err := e.runner(v130, "1.3.0").Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.runner(v130, "1.3.0").Down(ctx, migrations.DownOptions{Steps: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.runner(v130, "1.3.0").Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []struct {
		files   map[string]string
		version string
	}{{v120, "1.2.0"}, {v130, "1.3.0"}, {map[string]string{}, "1.0.0"}} {
		c, err := migrations.NewChecker(e.pool, set(t, rel.files), migrations.WithAppVersion(rel.version))
		if err != nil {
			t.Fatal(err)
		}
		want, err := c.Check(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w := e.watcher(rel.files, rel.version)
		e.caughtUp(w)
		got, seq := w.w.Verdict()
		if seq != e.head() || got.Decision != want.Decision || fmt.Sprint(unknownIDs(got)) != fmt.Sprint(unknownIDs(want)) || !slices.Equal(got.Pending, want.Pending) {
			t.Errorf("release %s: watcher %v (unknown %v, pending %v) at seq %d; check %v (unknown %v, pending %v)",
				rel.version, got.Decision, unknownIDs(got), got.Pending, seq, want.Decision, unknownIDs(want), want.Pending)
		}
	}
	// 1.2.0 and 1.0.0 refuse now: one unknown-migration alert each, nothing
	// for the history before.
	as := e.waitAlerts(2)
	if got := alertKinds(as); len(got) != 2 || got[0] != "unknown-migration 0002_orders" || got[1] != "unknown-migration 0001_users 0002_orders" {
		t.Fatalf("alerts after replay: %v", got)
	}
}

func unknownIDs(v policy.Verdict) []string {
	var out []string
	for _, u := range v.Unknown {
		out = append(out, u.ID)
	}
	return out
}

// Test 2 with --capture-ddl: the hand-run ALTER TABLE is in the stream
// itself (schema.changed), so the watcher alerts at once, with no database
// of its own, naming the command, the table and who ran it.
func TestSchemaDriftAlertedFromCapturedDDL(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if err := e.store.InstallDDLCapture(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.runner(v120, "1.2.0").Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	w := e.watcher(v120, "1.2.0")
	e.caughtUp(w)
	if as := e.alerts(); len(as) != 0 {
		t.Fatalf("alerts for migrations run by the runner: %v", alertKinds(as))
	}
	if _, err := e.pool.Exec(ctx, "ALTER TABLE users ADD COLUMN sneaky_hotfix integer"); err != nil {
		t.Fatal(err)
	}
	as := e.waitAlerts(1)
	if len(as) != 1 || as[0].Kind != watch.KindDrift || as[0].Actor != "postgres" ||
		!slices.Equal(as[0].Changes, []string{"table public.users"}) || !strings.Contains(as[0].Message, "ALTER TABLE run outside the migrations by postgres") {
		t.Fatalf("alerts %+v", as)
	}
}

// With --capture-ddl and --db: one alert for the change, with the catalog's
// diff line (the column) and who ran the DDL.
func TestCapturedDDLWithPollingIsOneAlert(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if err := e.store.InstallDDLCapture(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.runner(v120, "1.2.0").Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	w := e.watcher(v120, "1.2.0", watch.WithSchemaPolling(e.pool, e.store, time.Hour))
	e.caughtUp(w)
	if _, err := e.pool.Exec(ctx, "ALTER TABLE users ADD COLUMN sneaky_hotfix integer"); err != nil {
		t.Fatal(err)
	}
	as := e.waitAlerts(1)
	time.Sleep(300 * time.Millisecond)
	as = e.alerts()
	if len(as) != 1 || !slices.Equal(as[0].Changes, []string{"+ column public.users.sneaky_hotfix integer null"}) ||
		as[0].Actor != "postgres" || !strings.Contains(as[0].Message, "ALTER TABLE run outside the migrations by postgres") {
		t.Fatalf("alerts %+v, want one naming the column and who ran the DDL", as)
	}
}
