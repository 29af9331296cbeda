package migrations_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// catalog holds every migration the releases below ship.
var catalog = map[string]string{
	"0001_users":          "CREATE TABLE users (id bigint PRIMARY KEY, name text, legacy text);",
	"0002_orders":         "CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users);",
	"0003_orders_index":   "CREATE INDEX orders_user ON orders (user_id);",
	"0004_users_email":    "ALTER TABLE users ADD COLUMN email text;",
	"0005_orders_total":   "ALTER TABLE orders ADD COLUMN total numeric;",
	"0006_products":       "CREATE TABLE products (id bigint PRIMARY KEY);",
	"0007_orders_product": "ALTER TABLE orders ADD COLUMN product_id bigint REFERENCES products;",
	"0008_users_locale":   "ALTER TABLE users ADD COLUMN locale text;",
	"0009_drop_column":    "ALTER TABLE users DROP COLUMN legacy;",
}

var (
	ids120 = []string{"0001_users", "0002_orders", "0003_orders_index"}
	ids123 = append(slices.Clone(ids120), "0004_users_email")
	ids125 = append(slices.Clone(ids123), "0005_orders_total", "0006_products", "0007_orders_product", "0008_users_locale")
	ids128 = append(slices.Clone(ids125), "0009_drop_column")
)

// release is what one build of the application ships: its app version and
// its migration files.
type release struct {
	version string
	files   map[string]string // as for files(): id -> up SQL
}

func newRelease(version string, ids ...string) release {
	r := release{version: version, files: map[string]string{}}
	for _, id := range ids {
		r.files[id] = catalog[id]
	}
	return r
}

// with is the release with one file added or replaced.
func (r release) with(id, sql string) release {
	r.files = maps.Clone(r.files)
	r.files[id] = sql
	return r
}

func (r release) opts(extra ...migrations.Option) []migrations.Option {
	return append([]migrations.Option{migrations.WithAppVersion(r.version)}, extra...)
}

// up migrates the database with this release, run on host.
func (r release) up(t *testing.T, pool *pgxpool.Pool, host string) migrations.Report {
	t.Helper()
	run, err := migrations.NewRunner(pool, load(t, r.files), r.opts(migrations.WithHost(host))...)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := run.Up(context.Background(), migrations.UpOptions{})
	if err != nil {
		t.Fatalf("up with release %s: %v", r.version, err)
	}
	return rep
}

// check is what this release's server asks at startup.
func (r release) check(t *testing.T, pool *pgxpool.Pool, opts ...migrations.Option) policy.Verdict {
	t.Helper()
	v, err := migrations.Check(context.Background(), pool, files(r.files), r.opts(opts...)...)
	if err != nil {
		t.Fatalf("check with release %s: %v", r.version, err)
	}
	return v
}

func wantDecision(t *testing.T, v policy.Verdict, want policy.Decision, codes ...policy.Code) {
	t.Helper()
	if v.Decision != want {
		t.Fatalf("decision %s, want %s:\n%s", v.Decision, want, v.Message())
	}
	for _, c := range codes {
		if !v.Has(c) {
			t.Errorf("verdict lacks reason %s: %+v", c, v.Reasons)
		}
	}
}

// eventCount counts the ledger's events; -1 when there is no ledger.
func eventCount(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	ctx := context.Background()
	var table *string
	if err := pool.QueryRow(ctx, "SELECT to_regclass('ledger.events')::text").Scan(&table); err != nil {
		t.Fatal(err)
	}
	if table == nil {
		return -1
	}
	var n int64
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM ledger.events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func currentUser(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var u string
	if err := pool.QueryRow(context.Background(), "SELECT current_user").Scan(&u); err != nil {
		t.Fatal(err)
	}
	return u
}

// Scenario 1: release 1.2.0 on a fresh database must migrate; after up it runs.
func TestCheckFreshDatabase(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewPool(t, 2)
	r120 := newRelease("1.2.0", ids120...)
	v := r120.check(t, pool)
	wantDecision(t, v, policy.Migrate, policy.CodePending)
	if strings.Join(v.Pending, ",") != strings.Join(ids120, ",") || v.Applied != 0 || v.AppVersion != "1.2.0" || v.Policy != "strict" {
		t.Errorf("verdict %+v: want all three pending, none applied", v)
	}
	if eventCount(t, pool) != -1 {
		t.Error("Check created the ledger")
	}
	r120.up(t, pool, "web-1")
	v = r120.check(t, pool)
	wantDecision(t, v, policy.Run)
	if v.Applied != 3 || len(v.Pending)+len(v.Unknown)+len(v.Reasons) != 0 {
		t.Errorf("verdict after up %+v", v)
	}
	if !strings.HasPrefix(v.Message(), "run: ") {
		t.Errorf("message %q", v.Message())
	}
}

// Scenario 2: the 1.2.3 binary on a database 1.2.0 migrated, with
// migrations of its own, must migrate.
func TestCheckNewerBinaryMigrates(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewPool(t, 2)
	r120, r123 := newRelease("1.2.0", ids120...), newRelease("1.2.3", ids123...)
	r120.up(t, pool, "web-1")
	v := r123.check(t, pool)
	wantDecision(t, v, policy.Migrate, policy.CodePending)
	if strings.Join(v.Pending, ",") != "0004_users_email" || v.Applied != 3 {
		t.Errorf("verdict %+v: want 0004_users_email pending", v)
	}
	r123.up(t, pool, "web-2")
	wantDecision(t, r123.check(t, pool), policy.Run)
}

// Scenario 3: the 1.2.0 binary on a database 1.2.3 migrated runs when 1.2.3
// added no migration: decided by sets, not by version numbers.
func TestCheckOlderBinaryRunsWhenNewerAddedNoMigration(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewPool(t, 2)
	r120 := newRelease("1.2.0", ids120...)
	r123 := newRelease("1.2.3", ids120...)
	r120.up(t, pool, "web-1")
	r123.up(t, pool, "web-2")
	wantDecision(t, r123.check(t, pool), policy.Run)
	v := r120.check(t, pool)
	wantDecision(t, v, policy.Run)
	if v.AppVersion != "1.2.0" || v.Applied != 3 {
		t.Errorf("verdict %+v", v)
	}
	// Every policy agrees.
	for _, p := range []policy.Policy{policy.Compatible, policy.SameMajor} {
		wantDecision(t, r120.check(t, pool, migrations.WithPolicy(p)), policy.Run)
	}
}

// Scenario 4: the 1.2.5 binary on a database 1.2.8 migrated with
// 0009_drop_column refuses, naming the migration, the release that applied
// it, when, from which host and as whom.
func TestCheckRefusesUnknownMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	r125, r128 := newRelease("1.2.5", ids125...), newRelease("1.2.8", ids128...)
	r125.up(t, pool, "web-1")
	before := time.Now()
	r128.up(t, pool, "web-3")
	after := time.Now()

	v := r125.check(t, pool)
	wantDecision(t, v, policy.Refuse, policy.CodeUnknown)
	if v.Integrity() {
		t.Error("an unknown migration is reported as an integrity problem")
	}
	if len(v.Unknown) != 1 {
		t.Fatalf("unknown %+v, want 0009_drop_column alone", v.Unknown)
	}
	u, actor := v.Unknown[0], currentUser(t, pool)
	if u.ID != "0009_drop_column" || u.AppVersion != "1.2.8" || u.Host != "web-3" || u.Actor != actor || u.Allowed {
		t.Errorf("unknown %+v: want 0009_drop_column applied by 1.2.8 on web-3 as %s", u, actor)
	}
	if actor != "postgres" {
		t.Logf("the test server's user is %q, not postgres", actor)
	}
	if u.AppliedAt.Before(before.Add(-2*time.Second)) || u.AppliedAt.After(after.Add(2*time.Second)) {
		t.Errorf("applied at %s, want between %s and %s", u.AppliedAt, before, after)
	}
	c, err := migrations.NewChecker(pool, load(t, r125.files), r125.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	state, err := c.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rec := state.Applied["0009_drop_column"]; !rec.AppliedAt.Equal(u.AppliedAt) || rec.Seq != u.Seq {
		t.Errorf("unknown %+v does not match the ledger's record %+v", u, rec)
	}
	if v.RollbackTo != "0008_users_locale" || !slices.Equal(v.Pending, nil) {
		t.Errorf("rollback to %q, pending %v", v.RollbackTo, v.Pending)
	}
	msg := v.Message()
	for _, s := range []string{"refuse:", "0009_drop_column", "1.2.8", "web-3", "as " + actor, u.AppliedAt.UTC().Format(time.RFC3339), "roll the database back to 0008_users_locale with the down SQL recorded"} {
		if !strings.Contains(msg, s) {
			t.Errorf("message lacks %q:\n%s", s, msg)
		}
	}
	// The newer binary itself runs.
	wantDecision(t, r128.check(t, pool), policy.Run)
}

// Scenario 5: under the compatible policy the 1.2.5 binary runs iff
// 0009_drop_column recorded a constraint that 1.2.5 satisfies.
func TestCheckCompatiblePolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header string
		want   policy.Decision
	}{
		{"-- ledger:compatible >=1.2.0\n", policy.Run},
		{"-- ledger:compatible >=1.2.0 <2.0.0\n", policy.Run},
		{"-- ledger:compatible >=1.2.8\n", policy.Refuse},
		{"", policy.Refuse},
	}
	for _, tt := range tests {
		name := strings.TrimSpace(tt.header)
		if name == "" {
			name = "no constraint"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pool, _ := pgtest.NewPool(t, 2)
			r125 := newRelease("1.2.5", ids125...)
			r128 := newRelease("1.2.8", ids128...).with("0009_drop_column", tt.header+catalog["0009_drop_column"])
			r125.up(t, pool, "web-1")
			r128.up(t, pool, "web-3")

			v := r125.check(t, pool, migrations.WithPolicy(policy.Compatible))
			if tt.want == policy.Run {
				wantDecision(t, v, policy.Run)
				if len(v.Unknown) != 1 || !v.Unknown[0].Allowed || !strings.Contains(v.Message(), "allows the 1 migration") {
					t.Errorf("unknown %+v; message %s", v.Unknown, v.Message())
				}
			} else {
				wantDecision(t, v, policy.Refuse, policy.CodeIncompatible)
				if len(v.Unknown) != 1 || v.Unknown[0].Allowed || v.Integrity() {
					t.Errorf("unknown %+v", v.Unknown)
				}
			}
			if got, want := v.Unknown[0].Compatible, strings.TrimSpace(strings.TrimPrefix(tt.header, "-- ledger:compatible")); got != want {
				t.Errorf("recorded constraint %q, want %q", got, want)
			}
			// Strict ignores constraints.
			wantDecision(t, r125.check(t, pool), policy.Refuse, policy.CodeUnknown)
		})
	}
}

// Scenario 6: under same-major the 1.4.0 binary runs with migrations 1.6.0
// applied, and refuses those 2.0.0 applied.
func TestCheckSameMajorPolicy(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		newer string
		want  policy.Decision
	}{{"1.6.0", policy.Run}, {"2.0.0", policy.Refuse}} {
		t.Run(tt.newer, func(t *testing.T) {
			t.Parallel()
			pool, _ := pgtest.NewPool(t, 2)
			r140 := newRelease("1.4.0", ids125...)
			r140.up(t, pool, "web-1")
			newRelease(tt.newer, ids128...).up(t, pool, "web-2")
			v := r140.check(t, pool, migrations.WithPolicy(policy.SameMajor))
			if tt.want == policy.Run {
				wantDecision(t, v, policy.Run)
			} else {
				wantDecision(t, v, policy.Refuse, policy.CodeIncompatible)
				if !strings.Contains(v.Message(), "major 2") {
					t.Errorf("message does not give the majors:\n%s", v.Message())
				}
			}
			if len(v.Unknown) != 1 || v.Unknown[0].AppVersion != tt.newer || v.Unknown[0].Allowed != (tt.want == policy.Run) {
				t.Errorf("unknown %+v", v.Unknown)
			}
		})
	}
}

// Scenario 7: an edited applied file, a migration in doubt and a pending
// migration ordered before an applied one are refused whatever the policy.
func TestCheckRefusesIntegrityProblems(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("checksum mismatch", func(t *testing.T) {
		t.Parallel()
		pool, _ := pgtest.NewPool(t, 2)
		r123 := newRelease("1.2.3", ids123...)
		r123.up(t, pool, "web-1")
		edited := r123.with("0002_orders", catalog["0002_orders"]+"\n-- reformatted")
		for _, p := range []policy.Policy{policy.Strict, policy.Compatible, policy.SameMajor} {
			v := edited.check(t, pool, migrations.WithPolicy(p))
			wantDecision(t, v, policy.Refuse, policy.CodeChecksumMismatch)
			if !v.Integrity() || len(v.Mismatched) != 1 || v.Mismatched[0].ID != "0002_orders" || v.Mismatched[0].AppVersion != "1.2.3" {
				t.Errorf("%s: integrity %v, mismatched %+v", p, v.Integrity(), v.Mismatched)
			}
		}
	})

	t.Run("in doubt", func(t *testing.T) {
		t.Parallel()
		pool, _ := pgtest.NewPool(t, 2)
		r120, r123 := newRelease("1.2.0", ids120...), newRelease("1.2.3", ids123...)
		r120.up(t, pool, "web-1")
		// 1.2.3 started 0004 as a no-transaction migration and died.
		set := load(t, r123.files)
		run, err := migrations.NewRunner(pool, set, r123.opts(migrations.WithHost("web-2"))...)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := set.Lookup("0004_users_email")
		ev, err := projector.NewEvent(projector.TypeMigrationStarted, projector.Started{ID: m.ID, Checksum: m.Checksum})
		if err != nil {
			t.Fatal(err)
		}
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { _, err := run.Store().Append(ctx, tx, ev); return err }); err != nil {
			t.Fatal(err)
		}
		// Both releases refuse: 1.2.0's digest still matches, but the head
		// counts a migration in doubt, so the fast path does not answer.
		for _, r := range []release{r120, r123} {
			v := r.check(t, pool)
			wantDecision(t, v, policy.Refuse, policy.CodeInDoubt)
			if !v.Integrity() || len(v.InDoubt) != 1 || v.InDoubt[0].ID != "0004_users_email" || v.InDoubt[0].Host != "web-2" {
				t.Errorf("%s: integrity %v, in doubt %+v", r.version, v.Integrity(), v.InDoubt)
			}
			if !strings.Contains(v.Message(), "check what 0004_users_email left in the database, then resume it") {
				t.Errorf("message does not say how to resolve:\n%s", v.Message())
			}
		}
	})

	t.Run("out of order", func(t *testing.T) {
		t.Parallel()
		pool, _ := pgtest.NewPool(t, 2)
		newRelease("1.2.0", "0001_users", "0002_orders", "0004_users_email").up(t, pool, "web-1")
		r123 := newRelease("1.2.3", ids123...) // adds 0003, ordered before the applied 0004
		v := r123.check(t, pool)
		wantDecision(t, v, policy.Refuse, policy.CodeOutOfOrder)
		if v.Integrity() || strings.Join(v.OutOfOrder, ",") != "0003_orders_index" {
			t.Errorf("integrity %v, out of order %v", v.Integrity(), v.OutOfOrder)
		}
		for _, opt := range []migrations.Option{migrations.WithPolicy(policy.Policy{AllowOutOfOrder: true})} {
			v := r123.check(t, pool, opt)
			wantDecision(t, v, policy.Migrate, policy.CodePending)
			if strings.Join(v.Pending, ",") != "0003_orders_index" {
				t.Errorf("pending %v", v.Pending)
			}
		}
	})
}

// Scenario 8: an invalid app version is an error from the option, never a
// verdict that could be mistaken for Run.
func TestCheckInvalidAppVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	r120 := newRelease("1.2.0", ids120...)
	r120.up(t, pool, "web-1")
	for _, bad := range []string{"1.2", "latest", "", "1.2.0.1"} {
		v, err := migrations.Check(ctx, pool, files(r120.files), migrations.WithAppVersion(bad))
		if !errors.Is(err, policy.ErrInvalidAppVersion) || v.Decision == policy.Run {
			t.Errorf("Check with app version %q: %s, %v; want ErrInvalidAppVersion", bad, v.Decision, err)
		}
		if _, err := migrations.NewChecker(pool, load(t, r120.files), migrations.WithAppVersion(bad)); !errors.Is(err, policy.ErrInvalidAppVersion) {
			t.Errorf("NewChecker with app version %q: %v", bad, err)
		}
	}
}

// A ledger whose head does not match its newest event, or whose format is
// newer than this binary's, is refused as unverifiable, even with auto-migrate.
func TestCheckRefusesUnverifiableLedger(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, tamper, mention string
	}{
		{"head seq ahead of the events", "UPDATE ledger.head SET seq = seq + 1", "head says seq"},
		{"head seq behind the events", "UPDATE ledger.head SET seq = seq - 1", "head says seq"},
		{"head hash", "UPDATE ledger.head SET hash = sha256(hash)", "head hash differs"},
		{"newer ledger format", "UPDATE ledger.head SET format = " + strconv.Itoa(ledger.Format+1), "ledger format " + strconv.Itoa(ledger.Format+1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pool, _ := pgtest.NewPool(t, 2)
			r120 := newRelease("1.2.0", ids120...)
			r120.up(t, pool, "web-1")
			// As a superuser past the ledger's triggers.
			if _, err := pool.Exec(context.Background(), "SET session_replication_role = replica; "+tt.tamper+"; RESET session_replication_role"); err != nil {
				t.Fatal(err)
			}
			before := eventCount(t, pool)
			// The release whose digest matches, and one with a migration pending.
			for _, r := range []release{r120, newRelease("1.2.3", ids123...)} {
				v := r.check(t, pool, migrations.WithAutoMigrate())
				wantDecision(t, v, policy.Refuse, policy.CodeUnverifiable)
				if !v.Integrity() {
					t.Error("an unverifiable ledger is not an integrity refusal")
				}
				for _, s := range []string{"cannot verify the ledger", tt.mention, "to fix: verify the ledger to see what is wrong"} {
					if !strings.Contains(v.Message(), s) {
						t.Errorf("%s: message lacks %q:\n%s", r.version, s, v.Message())
					}
				}
			}
			if after := eventCount(t, pool); after != before {
				t.Errorf("events %d -> %d: a refused auto-migrate wrote", before, after)
			}
		})
	}
}

// Check takes no lock and writes nothing, whatever it decides.
func TestCheckWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	r120, r123 := newRelease("1.2.0", ids120...), newRelease("1.2.3", ids123...)
	wantDecision(t, r120.check(t, pool), policy.Migrate)
	if n := eventCount(t, pool); n != -1 {
		t.Fatalf("Check on a fresh database created the ledger (%d events)", n)
	}
	r123.up(t, pool, "web-1")
	head := func() ledger.Head {
		st, err := ledger.New(pool)
		if err != nil {
			t.Fatal(err)
		}
		h, err := st.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	before, events := head(), eventCount(t, pool)
	wantDecision(t, r123.check(t, pool), policy.Run)
	wantDecision(t, r120.check(t, pool), policy.Refuse)
	wantDecision(t, newRelease("1.2.5", ids125...).check(t, pool), policy.Migrate)
	wantDecision(t, r123.with("0001_users", "-- edited\n"+catalog["0001_users"]).check(t, pool), policy.Refuse)
	after := head()
	if n := eventCount(t, pool); n != events || after.Seq != before.Seq || !slices.Equal(after.Hash, before.Hash) {
		t.Errorf("events %d -> %d, head seq %d -> %d: Check wrote", events, n, before.Seq, after.Seq)
	}
}

// WithAutoMigrate turns Migrate into Run by applying the pending migrations,
// and leaves a refusal alone.
func TestCheckAutoMigrate(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewPool(t, 3)
	r120, r123 := newRelease("1.2.0", ids120...), newRelease("1.2.3", ids123...)
	v := r120.check(t, pool, migrations.WithAutoMigrate(), migrations.WithHost("web-1"))
	wantDecision(t, v, policy.Run)
	if got := strings.Join(tables(t, pool), ","); got != "orders,users" {
		t.Errorf("tables after auto-migrate: %s", got)
	}
	v = r123.check(t, pool, migrations.WithAutoMigrate())
	wantDecision(t, v, policy.Run)
	if v.Applied != 4 {
		t.Errorf("applied %d, want 4", v.Applied)
	}
	events := eventCount(t, pool)
	wantDecision(t, r120.check(t, pool, migrations.WithAutoMigrate()), policy.Refuse, policy.CodeUnknown)
	if n := eventCount(t, pool); n != events {
		t.Errorf("auto-migrate of a refused release wrote %d events", n-events)
	}
}

// holdHead runs, on a connection of its own, what a migrator does: DDL on an
// application table, then an append that locks the head row (FOR UPDATE),
// then a slow statement before it rolls back. It returns once the head is
// locked; stop cancels the slow statement and waits for the rollback.
func holdHead(t *testing.T, pool *pgxpool.Pool, store *ledger.Store, ev projector.Event) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	locked, done := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(done)
		tx, err := pool.Begin(ctx)
		if err != nil {
			locked <- err
			return
		}
		defer tx.Rollback(context.Background()) //nolint:errcheck // the point is to roll back
		if _, err := tx.Exec(ctx, "ALTER TABLE users ADD COLUMN pending_column text"); err != nil {
			locked <- err
			return
		}
		if _, err := store.Append(ctx, tx, ev); err != nil {
			locked <- err
			return
		}
		locked <- nil
		_, _ = tx.Exec(ctx, "SELECT pg_sleep(5)")
	}()
	if err := <-locked; err != nil {
		cancel()
		t.Fatalf("hold the head: %v", err)
	}
	return func() { cancel(); <-done }
}

// timedCheck runs the check a server runs at startup and returns how long it took.
func timedCheck(t *testing.T, pool *pgxpool.Pool, r release) (policy.Verdict, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	v, err := migrations.Check(ctx, pool, files(r.files), r.opts()...)
	d := time.Since(start)
	if err != nil {
		t.Fatalf("check with release %s after %s: %v", r.version, d, err)
	}
	return v, d
}

// Check never waits behind a running migration: neither behind the head
// row an append has locked, nor behind the migration lock of an Up.
func TestCheckIsNotBlockedByARunningMigration(t *testing.T) {
	t.Parallel()
	const limit = time.Second // the target is about one round trip (≤10 ms); the limit avoids flakiness

	t.Run("head row locked by an append", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		pool, _ := pgtest.NewPool(t, 4)
		r120, r123 := newRelease("1.2.0", ids120...), newRelease("1.2.3", ids123...)
		r120.up(t, pool, "web-1")
		set := load(t, r123.files)
		run, err := migrations.NewRunner(pool, set, r123.opts(migrations.WithHost("web-2"))...)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := set.Lookup("0004_users_email")
		ev, err := projector.NewEvent(projector.TypeMigrationApplied, projector.Applied{ID: m.ID, Checksum: m.Checksum, Transactional: true})
		if err != nil {
			t.Fatal(err)
		}
		// Warm the pool, as a server's would be.
		wantDecision(t, r120.check(t, pool), policy.Run)

		stop := holdHead(t, pool, run.Store(), ev)
		defer stop()
		_, err = pool.Exec(ctx, "SELECT 1 FROM ledger.head FOR UPDATE NOWAIT")
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "55P03" {
			t.Fatalf("the head row is not locked: %v", err)
		}
		v, d := timedCheck(t, pool, r120) // fast path: the digest matches
		t.Logf("check (fast path, head locked): %s", d)
		wantDecision(t, v, policy.Run)
		if d > limit {
			t.Errorf("check took %s behind a locked head", d)
		}
		v, d = timedCheck(t, pool, r123) // slow path: reads the projection
		t.Logf("check (slow path, head locked): %s", d)
		wantDecision(t, v, policy.Migrate)
		if d > limit {
			t.Errorf("check took %s behind a locked head", d)
		}
	})

	t.Run("migration lock held by up", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		pool, _ := pgtest.NewPool(t, 4)
		r120 := newRelease("1.2.0", ids120...)
		slow := newRelease("1.2.3", ids120...).with("0004_slow", "SELECT pg_sleep(5);")
		r120.up(t, pool, "web-1")
		wantDecision(t, r120.check(t, pool), policy.Run)

		done := make(chan error, 1)
		go func() {
			run, err := migrations.NewRunner(pool, load(t, slow.files), slow.opts()...)
			if err == nil {
				_, err = run.Up(ctx, migrations.UpOptions{})
			}
			done <- err
		}()
		deadline := time.Now().Add(10 * time.Second)
		for {
			var running, locks int
			err := pool.QueryRow(ctx, `SELECT
				(SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%SELECT pg_sleep(5)%' AND pid <> pg_backend_pid() AND datname = current_database()),
				(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`).Scan(&running, &locks)
			if err != nil {
				t.Fatal(err)
			}
			if running > 0 && locks > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the slow migration never started (running %d, advisory locks %d)", running, locks)
			}
			time.Sleep(10 * time.Millisecond)
		}
		v, d := timedCheck(t, pool, r120)
		t.Logf("check (fast path, up running): %s", d)
		wantDecision(t, v, policy.Run)
		if d > limit {
			t.Errorf("check took %s while up ran", d)
		}
		v, d = timedCheck(t, pool, slow)
		t.Logf("check (slow path, up running): %s", d)
		wantDecision(t, v, policy.Migrate)
		if strings.Join(v.Pending, ",") != "0004_slow" || d > limit {
			t.Errorf("pending %v after %s", v.Pending, d)
		}
		if err := <-done; err != nil {
			t.Fatalf("the slow up: %v", err)
		}
		wantDecision(t, slow.check(t, pool), policy.Run)
	})
}

// The Check of one loaded set is what a health endpoint calls repeatedly.
func TestCheckerFollowsTheDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	r123 := newRelease("1.2.3", ids123...)
	c, err := migrations.NewChecker(pool, load(t, r123.files), r123.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		do   func()
		want policy.Decision
	}{
		{func() {}, policy.Migrate},
		{func() { newRelease("1.2.0", ids120...).up(t, pool, "web-1") }, policy.Migrate},
		{func() { r123.up(t, pool, "web-2") }, policy.Run},
		{func() { newRelease("1.2.5", ids125...).up(t, pool, "web-3") }, policy.Refuse},
	}
	for i, s := range steps {
		s.do()
		v, err := c.Check(ctx)
		if err != nil || v.Decision != s.want {
			t.Fatalf("step %d: %s, %v; want %s", i, v.Decision, err, s.want)
		}
	}
}
