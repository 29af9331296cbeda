package migrations_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
)

// signal closes its channel the first time a log line holds want.
type signal struct {
	want string
	once sync.Once
	ch   chan struct{}
}

func (s *signal) Write(p []byte) (int, error) {
	if strings.Contains(string(p), s.want) {
		s.once.Do(func() { close(s.ch) })
	}
	return len(p), nil
}

// When a newer release migrates between Check's read (Migrate) and its
// auto-migrate, Check returns the fresh refusal decided under the lock —
// not an error beside the stale Migrate.
func TestCheckAutoMigrateRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, url := pgtest.NewPool(t, 3)
	newRelease("1.2.0", ids120...).up(t, pool, "web-1")

	// The newer release's migrator holds the migration lock, on the one
	// connection of its own pool (advisory locks are re-entrant per session).
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	newer, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer newer.Close()
	r125 := newRelease("1.2.5", ids125...)
	key := runner(t, pool, load(t, r125.files)).Store().LockKey()
	if _, err := newer.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		t.Fatal(err)
	}

	waiting := &signal{want: "waiting for the migration lock", ch: make(chan struct{})}
	type result struct {
		v   policy.Verdict
		err error
	}
	done := make(chan result, 1)
	r123 := newRelease("1.2.3", ids123...)
	go func() {
		v, err := migrations.Check(ctx, pool, files(r123.files), r123.opts(migrations.WithAutoMigrate(),
			migrations.WithLogger(slog.New(slog.NewTextHandler(waiting, nil))))...)
		done <- result{v, err}
	}()
	select {
	case <-waiting.ch: // Check read Migrate and waits for the lock
	case r := <-done:
		t.Fatalf("Check did not wait for the lock: %v %v", r.v.Decision, r.err)
	case <-time.After(30 * time.Second):
		t.Fatal("Check never waited for the lock")
	}
	r125.up(t, newer, "web-2") // the newer release migrates meanwhile
	if _, err := newer.Exec(ctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("Check: %v, want the refusal as its verdict", r.err)
	}
	wantDecision(t, r.v, policy.Refuse, policy.CodeUnknown)
	var perr *migrations.PlanError
	if errors.As(r.err, &perr) {
		t.Fatal("a PlanError came back with the verdict")
	}
}
