package report_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/examples"
	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/migrations"
	"github.com/schema-ledger/ledger/policy"
	"github.com/schema-ledger/ledger/projector"
)

// files copies a demo release's migration files.
func files(t testing.TB, release string) fstest.MapFS {
	t.Helper()
	fsys, err := examples.Release(release)
	if err != nil {
		t.Fatal(err)
	}
	out := fstest.MapFS{}
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		out[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// demoHistory plays `ledger demo`'s story on a fresh database — release
// 1.2.0 migrates on web-1, the patch 1.2.3 beside it on web-2, 1.3.0 on
// deploy-7, the rollback to 1.2.0 with the recorded down SQL, and a column
// added by hand — then goes on where the demo stops, so that the page has
// every kind of transition: a run that refuses drift records it, an index
// added by hand is accepted with a reason, release 1.2.4 accepts an edited
// migration file, release 1.3.1 leaves a migration without a transaction
// in doubt (resolved by an operator) and fails another (SQLSTATE 42P01),
// and three releases check in.
func demoHistory(t testing.TB) (*ledger.Store, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 3)
	store, err := ledger.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	runner := func(fsys fs.FS, version, host string, opts ...migrations.Option) *migrations.Runner {
		t.Helper()
		set, err := migrations.Load(fsys)
		if err != nil {
			t.Fatal(err)
		}
		r, err := migrations.NewRunner(pool, set, append([]migrations.Option{migrations.WithAppVersion(version), migrations.WithHost(host), migrations.WithPolicy(policy.Strict)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	up := func(r *migrations.Runner) error {
		_, err := r.Up(ctx, migrations.UpOptions{})
		return err
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	checkIn := func(fsys fs.FS, version, host string) {
		t.Helper()
		set, err := migrations.Load(fsys)
		must(err)
		c, err := migrations.NewChecker(pool, set, migrations.WithAppVersion(version), migrations.WithHost(host),
			migrations.WithCheckIn(migrations.CheckIn{Instance: host, Host: host}))
		must(err)
		_, err = c.Check(ctx)
		must(err)
		must(c.CheckInError())
	}
	r120, r130 := files(t, "1.2.0"), files(t, "1.3.0")

	// The demo's story.
	must(up(runner(r120, "1.2.0", "web-1")))
	must(up(runner(r120, "1.2.3", "web-2")))
	must(up(runner(r130, "1.3.0", "deploy-7")))
	if _, err := runner(r120, "1.2.0", "web-1").Down(ctx, migrations.DownOptions{Target: "0002_create_orders", UseRecorded: true}); err != nil {
		t.Fatal(err)
	}
	pgtest.Exec(t, connString(pool), "ALTER TABLE accounts ADD COLUMN sneaky_hotfix integer")

	// Beyond the demo: a run told to refuse drift finds it, records it
	// and refuses (a run with nothing to do reads no catalog otherwise).
	var derr *migrations.DriftError
	if err := up(runner(r120, "1.2.0", "web-1", migrations.WithRefuseDrift())); !errors.As(err, &derr) {
		t.Fatalf("up --refuse-drift after the hand-made column: want a DriftError, got %v", err)
	}
	pgtest.Exec(t, connString(pool), "CREATE INDEX accounts_nickname_idx ON accounts (nickname)")
	if _, err := runner(r120, "1.2.0", "web-1").AcceptDrift(ctx, "keep the index added during incident INC-42 (see https://status.example.com/INC-42)"); err != nil {
		t.Fatal(err)
	}
	// Release 1.2.4 fixes a comment in an applied migration's file.
	r124 := fstest.MapFS{}
	for k, v := range r120 {
		r124[k] = v
	}
	r124["0001_create_accounts.up.sql"] = &fstest.MapFile{Data: append([]byte("-- accounts: one row per customer account\n"), r120["0001_create_accounts.up.sql"].Data...)}
	if _, err := runner(r124, "1.2.4", "ops-1").Accept(ctx, "0001_create_accounts", "a comment added; the SQL is unchanged"); err != nil {
		t.Fatal(err)
	}
	// Release 1.3.1: the additive 0003 again, an index built without a
	// transaction whose second statement fails (in doubt, then resolved),
	// and a migration that fails (SQLSTATE 42P01).
	r131 := fstest.MapFS{
		"0003_add_orders_status.up.sql":     r130["0003_add_orders_status.up.sql"],
		"0003_add_orders_status.down.sql":   r130["0003_add_orders_status.down.sql"],
		"0005_orders_status_index.up.sql":   {Data: []byte("-- ledger:no-transaction\nCREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\nSELECT 1 / 0;\n")},
		"0005_orders_status_index.down.sql": {Data: []byte("DROP INDEX orders_status_idx;\n")},
		"0006_orders_customer.up.sql":       {Data: []byte("ALTER TABLE orders ADD COLUMN customer bigint REFERENCES customers (id);\n")},
	}
	for k, v := range r124 {
		r131[k] = v
	}
	var merr *migrations.MigrationError
	if err := up(runner(r131, "1.3.1", "deploy-8")); !errors.As(err, &merr) {
		t.Fatalf("1.3.1's first up: want the failure of 0005, got %v", err)
	}
	if _, err := runner(r131, "1.3.1", "deploy-8").Resolve(ctx, "0005_orders_status_index", projector.ResolvedApplied, "the index is valid; the failing statement was a leftover check"); err != nil {
		t.Fatal(err)
	}
	if err := up(runner(r131, "1.3.1", "deploy-8")); !errors.As(err, &merr) {
		t.Fatalf("1.3.1's second up: want the failure of 0006, got %v", err)
	}
	checkIn(r120, "1.2.0", "web-1")
	checkIn(r120, "1.2.3", "web-2")
	checkIn(r131, "1.3.1", "deploy-8")
	return store, pool
}

func connString(pool *pgxpool.Pool) string { return pool.Config().ConnString() }

// seedLedger appends churn to the ledger in store until it holds n
// events, recorded over span up to end, as a busy fleet's ledger would
// be: releases 2.0.0, 2.1.0, … each for a tenth of the span, on four
// hosts and two database users; per hundred events a feature migration
// that stays applied; tenant backfills applied and reverted; now and
// then a failure (SQLSTATE 23505), drift with its lines and its
// acceptance, a migration in doubt and its resolution, and an accepted
// checksum.
//
// The events are recorded from just after the ledger's creation (now) to
// the end of the span, which it returns: a report of it is made as of
// then (Options.Now), as if the fleet had run for the span.
//
// It appends through the store's own append function, 25 events per call
// and 40 calls per transaction (ledger.Appender's statements, sent in one
// round trip), giving each call a time on the span: the append function's
// recorded_at parameter, which the Appender leaves to the server's clock,
// is set in its statement's text. The chain, the committed states and the
// projection are the store's, so the ledger verifies.
func seedLedger(tb testing.TB, store *ledger.Store, pool *pgxpool.Pool, n int, span time.Duration) (end time.Time) {
	tb.Helper()
	ctx := context.Background()
	if _, err := store.Init(ctx); err != nil {
		tb.Fatal(err)
	}
	state, head, err := store.State(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	app := store.NewAppender(state, head)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Release()
	const perCall, callsPerTx = 25, 40
	first, err := store.Event(ctx, 1)
	if err != nil {
		tb.Fatal(err)
	}
	start := first.RecordedAt.Add(time.Second)
	end = start.Add(span)
	total := int(head.Seq)
	features, tenants := 0, 0
	var backfill []string // tenant backfills applied, not yet reverted
	mk := func(typ string, p any, i int) ledger.Event {
		e, err := projector.NewEvent(typ, p)
		if err != nil {
			tb.Fatal(err)
		}
		rel := min(9, i*10/n)
		e.AppVersion = fmt.Sprintf("2.%d.0", rel)
		e.Host = fmt.Sprintf("deploy-%d", 1+i%4)
		return e
	}
	next := func(i int) []ledger.Event {
		switch {
		case i%5000 == 17:
			return []ledger.Event{
				mk(projector.TypeSchemaDrifted, projector.Drifted{Fingerprint: fmt.Sprintf("fp%06d", i), Objects: 40, Recorded: fmt.Sprintf("fp%06d", i-1), RecordedSeq: 1,
					Changes: []string{fmt.Sprintf("+ column public.tenant_%d.hotfix_%d integer", i%7, i), fmt.Sprintf("~ index public.tenant_%d_idx", i%7)}}, i),
				mk(projector.TypeSchemaDriftAccepted, projector.DriftAccepted{Fingerprint: fmt.Sprintf("fp%06d", i), Objects: 40, Recorded: fmt.Sprintf("fp%06d", i-1),
					Reason: fmt.Sprintf("hotfix %d kept, ticket OPS-%d", i, i), Changes: []string{fmt.Sprintf("+ column public.tenant_%d.hotfix_%d integer", i%7, i)}}, i),
			}
		case i%10000 == 33:
			id := fmt.Sprintf("%07d_concurrent_index", 9_000_000+i)
			return []ledger.Event{
				mk(projector.TypeMigrationStarted, projector.Started{ID: id, Checksum: "sum-" + id}, i),
				mk(projector.TypeMigrationResolved, projector.Resolved{ID: id, Decision: projector.ResolvedApplied, Reason: "index found valid"}, i),
			}
		case i%1000 == 500:
			id := fmt.Sprintf("%07d_tenant_constraint", 8_000_000+i)
			return []ledger.Event{mk(projector.TypeMigrationFailed, projector.Failed{ID: id, Checksum: "sum-" + id, Attempt: 1, SQLState: "23505",
				Error: fmt.Sprintf(`duplicate key value violates unique constraint "tenant_%d_pkey"`, i%7)}, i)}
		case i%100 == 0:
			features++
			id := fmt.Sprintf("%07d_feature_%d", features, features)
			return []ledger.Event{mk(projector.TypeMigrationApplied, projector.Applied{ID: id, Checksum: "sum-" + id, Transactional: true, DurationMS: int64(5 + i%300)}, i)}
		case i%20000 == 250 && features > 20:
			// A feature applied in an earlier transaction: ledger.Appender
			// folds an event of a statement not yet Done with a placeholder
			// time, which an accept in the same transaction would copy
			// into the applied row (a limit of pipelined statements).
			id := fmt.Sprintf("%07d_feature_%d", features-20, features-20)
			return []ledger.Event{mk(projector.TypeMigrationAccepted, projector.Accepted{ID: id, Previous: "sum-" + id, Checksum: "sum2-" + id, Reason: "line endings normalised"}, i)}
		case len(backfill) > 0 && i%2 == 1:
			id := backfill[0]
			backfill = backfill[1:]
			return []ledger.Event{mk(projector.TypeMigrationReverted, projector.Reverted{ID: id, Source: projector.DownFromFile, DurationMS: int64(i % 40)}, i)}
		default:
			tenants++
			id := fmt.Sprintf("%07d_tenant_backfill", 1_000_000+tenants)
			backfill = append(backfill, id)
			return []ledger.Event{mk(projector.TypeMigrationApplied, projector.Applied{ID: id, Checksum: "sum-" + id, Transactional: true, DurationMS: int64(i % 90)}, i)}
		}
	}
	actors := []string{"deploy", "alice"}
	for total < n {
		var sql strings.Builder
		sql.WriteString("BEGIN;\n")
		calls := 0
		for ; calls < callsPerTx && total < n; calls++ {
			var batch []ledger.Event
			for len(batch) < perCall && total+len(batch) < n {
				batch = append(batch, next(total+len(batch))...)
			}
			if total+len(batch) > n {
				batch = batch[:n-total]
			}
			at := start.Add(time.Duration(float64(span) * float64(total+len(batch)) / float64(n)))
			stmt, err := app.Statement(ctx, ledger.Recording{Actor: actors[(total/perCall)%2]}, batch...)
			if err != nil {
				tb.Fatalf("seed at %d: %v", total, err)
			}
			if strings.Count(stmt, "NULL::timestamptz") != 1 {
				tb.Fatalf("seed: the append statement's time is not the one NULL::timestamptz: %.300s", stmt)
			}
			stmt = strings.Replace(stmt, "NULL::timestamptz", fmt.Sprintf("to_timestamp(0) + interval '%d microseconds'", at.UnixMicro()), 1)
			sql.WriteString(stmt + ";\n")
			total += len(batch)
		}
		sql.WriteString("COMMIT;")
		res, err := conn.Conn().PgConn().Exec(ctx, sql.String()).ReadAll()
		if err != nil {
			tb.Fatalf("seed at %d: %v", total, err)
		}
		for i := 1; i <= calls; i++ {
			if err := app.Done(res[i]); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return end
}
