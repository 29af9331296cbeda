package migrations_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
)

// appPool is a pool of a fresh role with the README's check-in grants.
func appPool(t *testing.T, pool *pgxpool.Pool, url string) (*pgxpool.Pool, string) {
	t.Helper()
	role := pgtest.NewRole(t, url, "ledger_app_")
	check, checkIn := readmeGrants(t, role)
	exec(t, pool, check+checkIn)
	cfg := pool.Config().Copy()
	cfg.ConnConfig.User, cfg.MaxConns = role, 2
	rolePool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rolePool.Close)
	return rolePool, role
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// The application role with the README's grants checks in through the
// ledger's functions only: it cannot lock or write the sightings, cannot
// date a sighting, and every argument is checked.
func TestCheckInIsANarrowDoor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, url := pgtest.NewPool(t, 2)
	r120 := newRelease("1.2.0", ids120...)
	r120.up(t, pool, "deploy-1")
	app, role := appPool(t, pool, url)

	checkIn := func(instance string) {
		t.Helper()
		c, err := migrations.NewChecker(app, load(t, r120.files), r120.opts(migrations.WithCheckIn(migrations.CheckIn{Instance: instance, Heartbeat: migrations.NoHeartbeat}))...)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := c.Check(ctx); err != nil || v.Decision != policy.Run || c.CheckInError() != nil {
			t.Fatalf("check as the application role: %v %v, check-in %v", v.Decision, err, c.CheckInError())
		}
	}
	checkIn("web-1")

	for _, sql := range []string{
		"BEGIN; LOCK TABLE ledger.sightings IN ACCESS EXCLUSIVE MODE; COMMIT",
		"BEGIN; LOCK TABLE ledger.sightings IN SHARE MODE; COMMIT",
		"BEGIN; LOCK TABLE ledger.releases IN EXCLUSIVE MODE; COMMIT",
		"BEGIN; LOCK TABLE ledger.head IN ACCESS EXCLUSIVE MODE; COMMIT",
		"UPDATE ledger.sightings SET last_seen = now() + interval '10 years'",
		"INSERT INTO ledger.sightings SELECT * FROM ledger.sightings",
		"DELETE FROM ledger.sightings",
		"INSERT INTO ledger.releases SELECT * FROM ledger.releases",
		"SELECT * FROM ledger.sightings FOR UPDATE",
	} {
		_, err := app.Exec(ctx, sql)
		if sqlState(err) != "42501" {
			t.Errorf("%s as the application role: %v, want permission denied (42501)", sql, err)
		}
	}

	// The sighting is at the server's clock, by the role that checked in.
	var ago time.Duration
	var dbUser string
	if err := pool.QueryRow(ctx, "SELECT now() - last_seen, db_user FROM ledger.sightings WHERE instance = 'web-1'").Scan(&ago, &dbUser); err != nil {
		t.Fatal(err)
	}
	if ago < 0 || ago > 10*time.Second || dbUser != role {
		t.Errorf("sighting: last seen %s ago by %s, want just now by %s", ago, dbUser, role)
	}

	// Every argument is checked (22023), whoever calls.
	valid := []any{"web-2", "sha256:" + strings.Repeat("a", 64), "1.2.0", "strict", make([]byte, 32), "run", "host-1", int64(0), true}
	if _, err := app.Exec(ctx, "SELECT ledger.check_in($1, $2, $3, $4, $5, $6, $7, $8, $9)", valid...); err != nil {
		t.Fatalf("a valid check-in: %v", err)
	}
	for _, c := range []struct {
		i   int
		bad any
	}{
		{0, ""}, {1, "sha256:xyz"}, {2, strings.Repeat("9", 101)}, {3, "no such policy!"}, {4, make([]byte, 31)},
		{5, "maybe"}, {6, "host\nx"}, {7, int64(-1)}, {7, int64(2 * 3600000)}, // a heartbeat of two hours: a sighting that counts for six
	} {
		i, bad := c.i, c.bad
		args := append([]any(nil), valid...)
		args[i] = bad
		_, err := app.Exec(ctx, "SELECT ledger.check_in($1, $2, $3, $4, $5, $6, $7, $8, $9)", args...)
		if sqlState(err) != "22023" {
			t.Errorf("check_in with argument %d = %v: %v, want 22023", i+1, bad, err)
		}
	}
	// A manifest is stored only if it hashes to its digest.
	man, err := migrations.NewManifest(load(t, r120.files), "1.2.0", policy.Strict)
	if err != nil {
		t.Fatal(err)
	}
	m := man.Marshal()
	forged := strings.Replace(string(m), `"app_version": "1.2.0"`, `"app_version": "9.9.9"`, 1)
	if forged == string(m) {
		t.Fatal("the manifest has no app version to forge")
	}
	if _, err := app.Exec(ctx, "SELECT ledger.put_release($1)", forged); sqlState(err) != "22023" || !strings.Contains(err.Error(), "does not hash to its digest") {
		t.Errorf("put_release of a forged manifest: %v, want 22023", err)
	}
	var digest string
	if err := app.QueryRow(ctx, "SELECT ledger.put_release($1)", string(m)).Scan(&digest); err != nil || !strings.HasPrefix(digest, "sha256:") {
		t.Errorf("put_release of the manifest: %q %v", digest, err)
	}
	// PUBLIC may not execute them: only the roles granted EXECUTE.
	other := pgtest.NewRole(t, url, "ledger_other_")
	var otherPool *pgxpool.Pool
	exec(t, pool, "GRANT USAGE ON SCHEMA ledger TO "+other)
	cfg := pool.Config().Copy()
	cfg.ConnConfig.User = other
	otherPool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer otherPool.Close()
	if _, err := otherPool.Exec(ctx, "SELECT ledger.check_in($1, $2, $3, $4, $5, $6, $7, $8, $9)", valid...); sqlState(err) != "42501" {
		t.Errorf("check_in by a role without EXECUTE: %v, want 42501", err)
	}
}

// The heartbeat: a checker over a pool checks in again on its own, so a
// release that started long ago stays visible to up's guard, and Close
// stops it.
func TestCheckInHeartbeat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _, _ := fleetStory(t, dropLegacy)
	r120 := newRelease("1.2.0", ids120...)
	// api-1 started 20 minutes ago and beats every 100ms.
	c, err := migrations.NewChecker(pool, load(t, r120.files), r120.opts(migrations.WithPolicy(policy.Compatible),
		migrations.WithCheckIn(migrations.CheckIn{Instance: "api-1", Host: "api-1", Heartbeat: 100 * time.Millisecond}))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Check(ctx); err != nil {
		t.Fatal(err)
	}
	exec(t, pool, "DELETE FROM ledger.sightings WHERE instance <> 'api-1'")
	checks := func() (n int64, hb int64, ago time.Duration) {
		t.Helper()
		if err := pool.QueryRow(ctx, "SELECT checks, heartbeat_ms, now() - last_seen FROM ledger.sightings WHERE instance = 'api-1'").Scan(&n, &hb, &ago); err != nil {
			t.Fatal(err)
		}
		return n, hb, ago
	}
	backdate(t, pool, "api-1", 20*time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, hb, ago := checks()
		if hb != 100 {
			t.Fatalf("heartbeat recorded as %d ms, want 100", hb)
		}
		if n >= 4 && ago < time.Minute {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no heartbeat: %d checks, last seen %s ago", n, ago)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Still running, so the breaking up is refused.
	r130 := newRelease("1.3.0", ids120...).with("0004_drop_legacy_flag", dropLegacy)
	if _, err := upWith(t, pool, r130, migrations.UpOptions{DryRun: true}); !errors.As(err, new(*migrations.BreakingError)) {
		t.Fatalf("up while 1.2.0 beats: %v, want a *BreakingError", err)
	}
	c.Close()
	time.Sleep(300 * time.Millisecond) // a beat in flight lands
	n, _, _ := checks()
	time.Sleep(500 * time.Millisecond)
	if m, _, _ := checks(); m != n {
		t.Errorf("%d checks after Close, then %d: the heartbeat goes on", n, m)
	}
	// Three beats missed: it no longer counts, though within the window.
	backdate(t, pool, "api-1", time.Second)
	if _, err := upWith(t, pool, r130, migrations.UpOptions{DryRun: true}); err != nil {
		t.Fatalf("up after 1.2.0 missed three beats: %v", err)
	}
}

// A checker over a single connection has no heartbeat (a goroutine must not
// share the connection), and its sighting says so: up's guard counts it for
// the fleet window, not for three missed beats.
func TestCheckInOverAConnectionDoesNotBeat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, url := pgtest.NewPool(t, 2)
	r120 := newRelease("1.2.0", ids120...)
	r120.up(t, pool, "deploy-1")
	man, err := migrations.NewManifest(load(t, r120.files), "1.2.0", policy.Strict)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := migrations.CheckManifest(ctx, conn, man.Marshal(), migrations.WithCheckIn(migrations.CheckIn{Instance: "one-shot"})); err != nil {
		t.Fatal(err)
	}
	if hb := scalar[int64](t, pool, "SELECT heartbeat_ms FROM ledger.sightings WHERE instance = 'one-shot'"); hb != 0 {
		t.Errorf("heartbeat recorded as %d ms over a single connection, want 0", hb)
	}
}
