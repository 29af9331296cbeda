package migrations_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/projector"
)

func exec(t *testing.T, pool ledger.DB, sql string) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func schemaStatus(t *testing.T, r *migrations.Runner) migrations.SchemaStatus {
	t.Helper()
	st, err := r.SchemaStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func payloads[T any](t *testing.T, st *ledger.Store, typ string) []T {
	t.Helper()
	var out []T
	for e, err := range st.Events(context.Background(), ledger.Filter{Types: []string{typ}}) {
		if err != nil {
			t.Fatal(err)
		}
		var p T
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

var usersSet = map[string]string{
	"0001_users": "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL);",
}

// A hand-run change is drift: SchemaStatus lists it; the next up records
// schema.drifted with the diff before it migrates, warns, goes on, and does
// not record the same drift twice.
func TestUpRecordsDriftBeforeMigrating(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	r := runner(t, pool, load(t, usersSet))
	if _, err := r.Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	if st := schemaStatus(t, r); st.Drifted() || st.Stale || st.Recorded == nil {
		t.Fatalf("straight after up: %+v", st)
	}
	exec(t, pool, "ALTER TABLE users ADD COLUMN sneaky_hotfix integer")
	st := schemaStatus(t, r)
	want := []string{"+ column public.users.sneaky_hotfix integer null"}
	if !st.Drifted() || !slices.Equal(st.Lines, want) {
		t.Fatalf("after a hand-run ALTER TABLE: drifted %v, lines %q; want %q", st.Drifted(), st.Lines, want)
	}

	next := map[string]string{"0002_orders": "CREATE TABLE orders (id int);"}
	for k, v := range usersSet {
		next[k] = v
	}
	r2 := runner(t, pool, load(t, next))
	rep, err := r2.Up(ctx, migrations.UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Schema.Drifted || !rep.Schema.DriftRecorded || !slices.Equal(rep.Schema.Drift, want) || len(rep.Done) != 1 {
		t.Fatalf("up after the drift: %+v, done %v", rep.Schema, rep.Done)
	}
	types := eventTypes(t, r.Store(), ledger.Filter{})
	wantTypes := []string{"ledger.initialized", "migration.applied 0001_users", "schema.fingerprinted",
		"schema.drifted", "migration.applied 0002_orders", "schema.fingerprinted"}
	if !slices.Equal(types, wantTypes) {
		t.Fatalf("events %q, want %q", types, wantTypes)
	}
	d := payloads[projector.Drifted](t, r.Store(), projector.TypeSchemaDrifted)
	if len(d) != 1 || !slices.Equal(d[0].Changes, want) || d[0].RecordedSeq != 3 {
		t.Fatalf("schema.drifted: %+v", d)
	}
	if st := schemaStatus(t, r2); st.Drifted() {
		t.Fatalf("after the up that recorded the drift: %+v", st)
	}
	// Nothing pending, nothing changed: nothing recorded.
	if rep, err := r2.Up(ctx, migrations.UpOptions{}); err != nil || rep.Schema.Drifted || rep.Schema.Fingerprint != "" {
		t.Fatalf("idle up: %+v %v", rep.Schema, err)
	}
	if n := len(eventTypes(t, r.Store(), ledger.Filter{})); n != len(wantTypes) {
		t.Fatalf("an idle up recorded %d events", n-len(wantTypes))
	}
	verifyOK(t, r.Store())
}

// --refuse-drift: the drift is recorded once, the run stops before
// migrating with a DriftError, and a refused retry records nothing new.
func TestRefuseDrift(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	if _, err := runner(t, pool, load(t, usersSet)).Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	exec(t, pool, "CREATE INDEX users_email ON users (email)")
	next := map[string]string{"0002_orders": "CREATE TABLE orders (id int);"}
	for k, v := range usersSet {
		next[k] = v
	}
	r := runner(t, pool, load(t, next), migrations.WithRefuseDrift())
	for i := range 2 {
		rep, err := r.Up(ctx, migrations.UpOptions{})
		var derr *migrations.DriftError
		if !errors.As(err, &derr) || len(rep.Done) != 0 {
			t.Fatalf("run %d: %v, done %v; want a DriftError and nothing applied", i, err, rep.Done)
		}
		if !strings.Contains(err.Error(), "+ index public.users_email CREATE INDEX users_email ON public.users USING btree (email)") {
			t.Errorf("the error does not list the index: %v", err)
		}
		if rep.Schema.DriftRecorded != (i == 0) {
			t.Errorf("run %d: drift recorded %v", i, rep.Schema.DriftRecorded)
		}
	}
	if d := payloads[projector.Drifted](t, r.Store(), projector.TypeSchemaDrifted); len(d) != 1 || !d[0].Refused {
		t.Fatalf("schema.drifted events: %+v, want one, refused", d)
	}
	if slices.Contains(tables(t, pool), "orders") {
		t.Fatal("a refused run migrated")
	}
}

// A snapshot older than the last migration is stale, not drift: verify
// says so, and the next up — with nothing pending — records a fresh one.
func TestStaleSnapshotIsNotDrift(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	all := map[string]string{"0002_orders": "CREATE TABLE orders (id int);"}
	for k, v := range usersSet {
		all[k] = v
	}
	set := load(t, all)
	if _, err := runner(t, pool, set).Up(ctx, migrations.UpOptions{Target: "0001_users"}); err != nil {
		t.Fatal(err)
	}
	// 0002 commits with its event, and the run dies before its end-of-run
	// snapshot: what a kill between the two leaves.
	m, _ := set.Lookup("0002_orders")
	store := runner(t, pool, set).Store()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "CREATE TABLE orders (id int)"); err != nil {
			return err
		}
		ev, err := projector.NewEvent(projector.TypeMigrationApplied, projector.Applied{ID: m.ID, Checksum: m.Checksum, Transactional: true})
		if err != nil {
			return err
		}
		_, err = store.Append(ctx, tx, ev)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r := runner(t, pool, set)
	st := schemaStatus(t, r)
	if !st.Stale || st.Drifted() || st.StaleSince != 4 {
		t.Fatalf("after a migration with no snapshot: %+v; want stale since seq 4, not drifted", st)
	}
	rep, err := r.Up(ctx, migrations.UpOptions{})
	if err != nil || len(rep.Done) != 0 || !rep.Schema.Stale || rep.Schema.Drifted || rep.Schema.Fingerprint == "" {
		t.Fatalf("up with nothing pending: %+v %v", rep.Schema, err)
	}
	if st := schemaStatus(t, r); st.Stale || st.Drifted() || st.Recorded.Value != st.Found {
		t.Fatalf("after that up: %+v", st)
	}
	if n := len(eventTypes(t, store, ledger.Filter{Types: []string{projector.TypeSchemaDrifted}})); n != 0 {
		t.Fatalf("%d schema.drifted recorded for a stale snapshot", n)
	}
}

// A migration's own session settings (no LOCAL) do not show up as drift:
// the snapshot is read under settings the runner controls.
func TestMigrationSettingsAreNotDrift(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	r := runner(t, pool, load(t, map[string]string{
		"0001_settings": `SET search_path = pg_catalog;
SET TimeZone = 'Asia/Kolkata';
SET DateStyle = 'German, DMY';
SET extra_float_digits = 3;
CREATE TABLE public.t (id serial PRIMARY KEY, at timestamptz DEFAULT '2026-01-01 12:00:00+00', f float8 DEFAULT 0.1);`,
	}))
	if _, err := r.Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	if st := schemaStatus(t, r); st.Drifted() || st.Stale {
		t.Fatalf("drift straight after up: %q", st.Lines)
	}
}

// Issue 11 bug 3: an invalid index is not invisible. Its validity is part of
// the snapshot, so it changes the fingerprint, and SchemaStatus names it.
func TestInvalidIndexIsSeen(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	r := runner(t, pool, load(t, map[string]string{
		"0001_users": "CREATE TABLE users (id int, email text); CREATE INDEX users_email ON users (email);",
	}))
	if _, err := r.Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	// What a REINDEX CONCURRENTLY or CREATE INDEX CONCURRENTLY interrupted
	// at the wrong moment leaves: the index exists and is not valid.
	exec(t, pool, "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'users_email'::regclass")
	st := schemaStatus(t, r)
	want := "~ index public.users_email: CREATE INDEX users_email ON public.users USING btree (email) -> CREATE INDEX users_email ON public.users USING btree (email) invalid"
	if !st.Drifted() || !slices.Equal(st.Lines, []string{want}) {
		t.Fatalf("lines %q, want %q", st.Lines, want)
	}
	if len(st.Invalid) != 1 || st.Invalid[0].Name != "public.users_email" {
		t.Fatalf("invalid indexes %v", st.Invalid)
	}
	// Left by a migration, it is no drift but still named.
	r2 := runner(t, pool, load(t, map[string]string{
		"0001_users": "CREATE TABLE users (id int, email text); CREATE INDEX users_email ON users (email);",
		"0002_dup":   "-- ledger:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY users_id ON users (id);",
	}))
	if _, err := r2.AcceptDrift(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	exec(t, pool, "INSERT INTO users VALUES (1, 'a'), (1, 'b')")
	if _, err := r2.Up(ctx, migrations.UpOptions{}); err == nil {
		t.Fatal("a unique index over duplicates was built")
	}
	st = schemaStatus(t, r2)
	var names []string
	for _, ix := range st.Invalid {
		names = append(names, ix.Name)
	}
	if !slices.Equal(names, []string{"public.users_email", "public.users_id"}) {
		t.Fatalf("invalid indexes %v", names)
	}
}

// accept-drift records the schema as it is with a reason and the database
// user; drift is gone; with nothing to accept it records nothing.
func TestAcceptDrift(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	r := runner(t, pool, load(t, usersSet))
	if _, err := r.Up(ctx, migrations.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AcceptDrift(ctx, "  "); err == nil || !strings.Contains(err.Error(), "give a reason") || strings.Contains(err.Error(), "--") {
		t.Fatalf("accept without a reason: %v", err)
	}
	exec(t, pool, "CREATE TABLE hotfix (id int)")
	acc, err := r.AcceptDrift(ctx, "INC-1: hotfix table")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"+ column public.hotfix.id integer null", "+ table public.hotfix"}
	if !slices.Equal(acc.Changes, want) || acc.Reason != "INC-1: hotfix table" {
		t.Fatalf("accepted %+v, want changes %q", acc, want)
	}
	if st := schemaStatus(t, r); st.Drifted() || st.Recorded.Value != st.Found {
		t.Fatalf("after accept-drift: %+v", st)
	}
	var actor string
	for e, err := range r.Store().Events(ctx, ledger.Filter{Types: []string{projector.TypeSchemaDriftAccepted}}) {
		if err != nil {
			t.Fatal(err)
		}
		actor = e.Actor
	}
	if actor != "postgres" {
		t.Errorf("accepted by %q, want the database user", actor)
	}
	if acc, err := r.AcceptDrift(ctx, "again"); err != nil || acc.Fingerprint != "" {
		t.Fatalf("second accept: %+v %v", acc, err)
	}
	if rep, err := r.Up(ctx, migrations.UpOptions{}); err != nil || rep.Schema.Drifted {
		t.Fatalf("up after accept: %+v %v", rep.Schema, err)
	}
	verifyOK(t, r.Store())
}

// fullReads counts the runs' full catalog reads (their debug log line).
type fullReads struct{ n atomic.Int64 }

func (f *fullReads) Enabled(context.Context, slog.Level) bool { return true }
func (f *fullReads) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "read the catalog in full" {
		f.n.Add(1)
	}
	return nil
}
func (f *fullReads) WithAttrs([]slog.Attr) slog.Handler { return f }
func (f *fullReads) WithGroup(string) slog.Handler      { return f }

// A run with nothing to do reads no catalog (unless it is to refuse
// drift); a run that migrates first asks the server for the catalog's stamp
// and reads every object only when the stamp is new; the snapshot it
// records is the one a full read gives (SchemaStatus finds no drift). Drift is still
// recorded exactly: a change made while nothing is pending is recorded,
// with its diff against the last snapshot, by the next up that migrates
// (or refused at once with WithRefuseDrift); one made between two ups
// likewise; a change of the stamp that changes no object (a GRANT, a
// temporary table elsewhere) costs a full read and records nothing.
func TestStampedUpsRecordDriftExactly(t *testing.T) {
	ctx := context.Background()
	pool, url := pgtest.NewPool(t, 2)
	reads := &fullReads{}
	set := map[string]string{"0001_users": usersSet["0001_users"]}
	up := func(m map[string]string, opts ...migrations.Option) (migrations.Report, error) {
		t.Helper()
		return runner(t, pool, load(t, m), append(opts, migrations.WithLogger(slog.New(reads)))...).Up(ctx, migrations.UpOptions{})
	}
	mustUp := func(m map[string]string) migrations.Report {
		t.Helper()
		rep, err := up(m)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	events := func() int { return len(eventTypes(t, pool2store(t, pool), ledger.Filter{})) }
	idle := func(what string) {
		t.Helper()
		before, n := reads.n.Load(), events()
		if rep := mustUp(set); rep.Schema.Drifted || len(rep.Done) != 0 {
			t.Fatalf("%s: %+v", what, rep.Schema)
		}
		if got := events(); got != n {
			t.Fatalf("%s: an idle up recorded %d events", what, got-n)
		}
		if reads.n.Load() != before {
			t.Fatalf("%s: the idle up read the catalog", what)
		}
	}
	migrate := func(what, id, sql string, wantDrift []string, wantReads int64) {
		t.Helper()
		set[id] = sql
		before, rolesBefore := reads.n.Load(), clusterRoles(t, pool)
		rep := mustUp(set)
		if len(rep.Done) != 1 || rep.Schema.Drifted != (wantDrift != nil) || rep.Schema.DriftRecorded != (wantDrift != nil) || !slices.Equal(rep.Schema.Drift, wantDrift) {
			t.Fatalf("%s: %+v, done %v; want drift %q", what, rep.Schema, rep.Done, wantDrift)
		}
		// The stamp covers the cluster's roles, which other packages'
		// tests create and drop meanwhile: then one more full read.
		if got := reads.n.Load() - before; got != wantReads && (got != wantReads+1 || clusterRoles(t, pool) == rolesBefore) {
			t.Fatalf("%s: %d full reads of the catalog, want %d", what, got, wantReads)
		}
		if st := schemaStatus(t, runner(t, pool, load(t, set))); st.Drifted() || st.Found != rep.Schema.Fingerprint {
			t.Fatalf("%s: recorded %.12s, a full read finds %.12s: %q", what, rep.Schema.Fingerprint, st.Found, st.Lines)
		}
	}
	mustUp(set)
	if reads.n.Load() != 1 {
		t.Fatalf("the first up read the catalog %d times, want once (after migrating)", reads.n.Load())
	}
	idle("straight after the first up")
	idle("again")
	migrate("an up of 1 on an unchanged schema", "0002_orders", "CREATE TABLE orders (id int);", nil, 1)

	// A change while nothing is pending: the idle up leaves it alone, the
	// next up that migrates records it before migrating.
	exec(t, pool, "ALTER TABLE users ADD COLUMN sneaky_hotfix integer")
	idle("after a hand-run change")
	want := []string{"+ column public.users.sneaky_hotfix integer null"}
	if st := schemaStatus(t, runner(t, pool, load(t, set))); !st.Drifted() || !slices.Equal(st.Lines, want) {
		t.Fatalf("SchemaStatus after the hand-run change: %+v", st)
	}
	migrate("the up after a change made while nothing was pending", "0003_a", "CREATE TABLE a (id int);", want, 2)
	idle("after the drift was recorded")

	// Stamp changes that change no object: a full read, nothing recorded.
	exec(t, pool, "GRANT SELECT ON users TO PUBLIC")
	migrate("after a GRANT", "0004_b", "CREATE TABLE b (id int);", nil, 2)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TEMP TABLE scratch (x int)"); err != nil {
		t.Fatal(err)
	}
	migrate("with a temporary table elsewhere", "0005_c", "CREATE TABLE c (id int);", nil, 2)

	// A change between two ups, with a temporary table elsewhere.
	exec(t, pool, "CREATE INDEX users_email ON users (email)")
	migrate("after a change between two ups", "0006_d", "CREATE TABLE d (id int);",
		[]string{"+ index public.users_email CREATE INDEX users_email ON public.users USING btree (email)"}, 2)

	// WithRefuseDrift: an idle up looks, refuses and records it once.
	exec(t, pool, "ALTER TABLE orders ADD COLUMN note text")
	want = []string{"+ column public.orders.note text null"}
	for i, recorded := range []bool{true, false} {
		rep, err := up(set, migrations.WithRefuseDrift())
		var de *migrations.DriftError
		if !errors.As(err, &de) || !slices.Equal(de.Changes, want) || rep.Schema.DriftRecorded != recorded {
			t.Fatalf("idle up %d refusing drift: %v, %+v", i+1, err, rep.Schema)
		}
	}
	d := payloads[projector.Drifted](t, pool2store(t, pool), projector.TypeSchemaDrifted)
	if len(d) != 3 || !slices.Equal(d[0].Changes, []string{"+ column public.users.sneaky_hotfix integer null"}) || !slices.Equal(d[2].Changes, want) {
		t.Fatalf("schema.drifted: %+v", d)
	}
	verifyOK(t, pool2store(t, pool))
}

func pool2store(t *testing.T, pool *pgxpool.Pool) *ledger.Store {
	t.Helper()
	st, err := ledger.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// clusterRoles is a digest of the cluster's roles (the catalog's stamp covers them).
func clusterRoles(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var d string
	if err := pool.QueryRow(context.Background(), "SELECT md5(string_agg(oid::text || ' ' || rolname, ',' ORDER BY oid)) FROM pg_roles").Scan(&d); err != nil {
		t.Fatal(err)
	}
	return d
}

// Every up and down records the snapshot a full read gives: migrations
// that create, alter, rename and drop tables other tables' foreign keys,
// views and defaults name, up one at a time and down one at a time, with
// hand-run changes in between that are recorded as drift — exactly those,
// before the next run migrates — and never absorbed into a snapshot. (The
// guard for any shortcut in the snapshot step, such as an incremental read.)
func TestIncrementalSnapshotsAreFullReads(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	set := load(t, map[string]string{
		"0001_users":       "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL);",
		"0001_users.down":  "DROP TABLE users;",
		"0002_orders":      "CREATE TABLE orders (id int PRIMARY KEY, user_id bigint REFERENCES users (id), total numeric DEFAULT 0);",
		"0002_orders.down": "DROP TABLE orders;",
		"0003_view":        "CREATE VIEW big AS SELECT o.id, u.email FROM orders o JOIN users u ON u.id = o.user_id WHERE o.total > 10;",
		"0003_view.down":   "DROP VIEW big;",
		"0004_rename":      "ALTER TABLE users RENAME COLUMN id TO user_key; ALTER TABLE users RENAME TO members;",
		"0004_rename.down": "ALTER TABLE members RENAME TO users; ALTER TABLE users RENAME COLUMN user_key TO id;",
		"0005_seq":         "CREATE SEQUENCE tickets; ALTER TABLE orders ADD COLUMN ticket bigint DEFAULT nextval('tickets'); ALTER SEQUENCE tickets RENAME TO tix;",
		"0005_seq.down":    "ALTER TABLE orders DROP COLUMN ticket; DROP SEQUENCE tix;",
		"0006_index":       "CREATE INDEX orders_total ON orders (total) WHERE total > 0; ALTER TABLE orders ADD CONSTRAINT positive CHECK (total >= 0);",
		"0006_index.down":  "DROP INDEX orders_total; ALTER TABLE orders DROP CONSTRAINT positive;",
		"0007_func":        "CREATE FUNCTION member_email(m members) RETURNS text LANGUAGE sql RETURN m.email;",
		"0007_func.down":   "DROP FUNCTION member_email(members);",
		"0008_parts":       "CREATE TABLE events (at date, what text) PARTITION BY RANGE (at); CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');",
		"0008_parts.down":  "DROP TABLE events;",
		"0009_alter":       "ALTER TABLE orders ADD COLUMN note text; ALTER TABLE orders ALTER COLUMN note TYPE varchar(20); ALTER TABLE events RENAME TO happenings;",
		"0009_alter.down":  "ALTER TABLE happenings RENAME TO events; ALTER TABLE orders DROP COLUMN note;",
		"0010_drop":        "DROP VIEW big; ALTER TABLE orders DROP CONSTRAINT orders_user_id_fkey;",
		"0010_drop.down":   "ALTER TABLE orders ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES members (user_key); CREATE VIEW big AS SELECT o.id, u.email FROM orders o JOIN members u ON u.user_key = o.user_id WHERE o.total > 10;",
	})
	r := runner(t, pool, set)
	full := func(what string, rep migrations.Report) {
		t.Helper()
		if st := schemaStatus(t, r); st.Drifted() || st.Recorded == nil || st.Found != rep.Schema.Fingerprint {
			t.Fatalf("%s: recorded %.12s, a full read finds %.12s: %q", what, rep.Schema.Fingerprint, st.Found, st.Lines)
		}
	}
	// hand runs a change between two runs: the next run records it as
	// drift, exactly, before it migrates.
	var hand []string
	handRun := func(sql, line string) { exec(t, pool, sql); hand = append(hand, line) }
	checkDrift := func(what string, rep migrations.Report) {
		t.Helper()
		if (len(hand) > 0) != rep.Schema.DriftRecorded || !slices.Equal(rep.Schema.Drift, hand) {
			t.Fatalf("%s: drift %v (recorded %v), want %q", what, rep.Schema.Drift, rep.Schema.DriftRecorded, hand)
		}
		hand = nil
	}
	for i := 1; i <= 10; i++ {
		rep, err := r.Up(ctx, migrations.UpOptions{Steps: 1})
		if err != nil {
			t.Fatalf("up %d: %v", i, err)
		}
		checkDrift(fmt.Sprintf("up %d", i), rep)
		full(fmt.Sprintf("up %d", i), rep)
		switch i {
		case 2:
			handRun("ALTER TABLE users ADD COLUMN sneaky integer", "+ column public.users.sneaky integer null")
		case 5:
			handRun("CREATE INDEX orders_user ON orders (user_id)", "+ index public.orders_user CREATE INDEX orders_user ON public.orders USING btree (user_id)")
		}
	}
	handRun("ALTER TABLE members RENAME COLUMN sneaky TO sneakier", "+ column public.members.sneakier integer null")
	hand = append(hand, "- column public.members.sneaky integer null")
	for i := 1; i <= 10; i++ {
		rep, err := r.Down(ctx, migrations.DownOptions{Steps: 1})
		if err != nil {
			t.Fatalf("down %d: %v", i, err)
		}
		checkDrift(fmt.Sprintf("down %d", i), rep)
		full(fmt.Sprintf("down %d", i), rep)
		if i == 3 {
			handRun("COMMENT ON TABLE orders IS 'not printed'; GRANT SELECT ON orders TO PUBLIC", "")
			hand = nil // a change the snapshot does not print is no drift
		}
	}
	verifyOK(t, pool2store(t, pool))
}
