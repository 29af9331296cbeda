package ledger

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/catalog"
	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/projector"
)

// schemaV1 is format 1 as it was created; a ledger is now created from
// sql/schema.sql, and format 1 is kept to prove the two agree.
//
//go:embed sql/schema_v1.sql
var schemaV1 string

// createStepByStep creates a ledger the way every ledger was created
// before sql/schema.sql: format 1, then each upgrade step, then the
// release objects, then the head and ledger.initialized through Append —
// in one transaction.
func createStepByStep(t *testing.T, s *Store, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, s.sqlText(schemaV1)); err != nil {
			return err
		}
		for i, step := range upgrades() {
			if _, err := tx.Exec(ctx, s.sqlText(step)); err != nil {
				return fmt.Errorf("step to format %d: %w", i+2, err)
			}
		}
		b := &pgx.Batch{}
		b.Queue("SELECT set_config('ledger.append', $1, true)", s.schema)
		b.Queue(s.sql.insertHead, make([]byte, 32), Format, make([]byte, 32))
		b.Queue("SELECT set_config('ledger.append', '', true)")
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		ev, err := projector.NewEvent(projector.TypeLedgerInitialized, projector.Initialized{Format: Format, Schema: s.schema})
		if err != nil {
			return err
		}
		if _, err := s.Append(ctx, tx, ev); err != nil {
			return err
		}
		return s.ensureReleases(ctx, tx)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// ledgerCatalog is everything about a ledger schema's objects: the
// catalog package's lines (objects, columns, constraints, indexes,
// triggers, views, function signatures and bodies) plus what those lines
// leave out — column order and storage, storage parameters, TOAST tables,
// privileges and comments.
func ledgerCatalog(t *testing.T, pool *pgxpool.Pool, schema string) []string {
	t.Helper()
	ctx := context.Background()
	snap, err := catalog.ReadSchema(ctx, pool, "", schema)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, o := range snap.Objects {
		lines = append(lines, o.String())
	}
	rows, err := pool.Query(ctx, `
SELECT format('relation %s kind %s options %s toast %s acl %s comment %s columns %s', c.relname, c.relkind,
              coalesce(c.reloptions::text, '-'), c.reltoastrelid <> 0, coalesce(c.relacl::text, '-'),
              coalesce(obj_description(c.oid, 'pg_class'), '-'),
              (SELECT string_agg(format('%s/%s/%s', a.attname, a.attstorage, a.attnum), ' ' ORDER BY a.attnum)
                 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped))
  FROM pg_class c WHERE c.relnamespace = $1::regnamespace
UNION ALL
SELECT format('function %s acl %s comment %s', p.oid::regprocedure, coalesce(p.proacl::text, '-'), coalesce(obj_description(p.oid, 'pg_proc'), '-'))
  FROM pg_proc p WHERE p.pronamespace = $1::regnamespace
UNION ALL
SELECT format('schema acl %s comment %s', coalesce(n.nspacl::text, '-'), coalesce(obj_description(n.oid, 'pg_namespace'), '-'))
  FROM pg_namespace n WHERE n.oid = $1::regnamespace`, schema)
	extra, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	lines = append(lines, extra...)
	slices.Sort(lines)
	return lines
}

func diffLines(a, b []string) []string {
	var out []string
	for _, l := range a {
		if !slices.Contains(b, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range b {
		if !slices.Contains(a, l) {
			out = append(out, "+ "+l)
		}
	}
	return out
}

// TestFreshLedgerIsTheUpgradedOne: a ledger created from sql/schema.sql
// in one script is the ledger format 1 and every step make — the same
// catalog, to the column order, storage, privileges and comments — and
// behaves the same: the same history recorded in both gives the same
// events, states and projection, both verify, and both refuse what a
// ledger refuses. A ledger upgraded from a real format-1 ledger (the dump
// of testdata/format1) has the same catalog too.
func TestFreshLedgerIsTheUpgradedOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	freshPool, _ := pgtest.NewPool(t, 2)
	stepPool, _ := pgtest.NewPool(t, 2)
	fresh, err := New(freshPool, WithHost("h"), WithAppVersion("1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	step := fresh.On(stepPool)
	if res, err := fresh.Setup(ctx); err != nil || !res.Created {
		t.Fatalf("Setup of a new ledger: %+v, %v", res, err)
	}
	createStepByStep(t, step, stepPool)

	want := ledgerCatalog(t, stepPool, DefaultSchema)
	if got := ledgerCatalog(t, freshPool, DefaultSchema); !slices.Equal(got, want) {
		t.Fatalf("the ledger created from sql/schema.sql differs from format 1 and the steps:\n%s", strings.Join(diffLines(want, got), "\n"))
	}
	if len(want) < 100 {
		t.Fatalf("the catalog compared has %d lines: too few to be the ledger's", len(want))
	}

	upgradedPool, _ := pgtest.NewPool(t, 2)
	pgtest.RestoreDump(t, upgradedPool, "testdata/format1/dump.sql")
	if res, err := fresh.On(upgradedPool).Setup(ctx); err != nil || res.UpgradedFrom != 1 {
		t.Fatalf("upgrade of the format-1 dump: %+v, %v", res, err)
	}
	if got := ledgerCatalog(t, upgradedPool, DefaultSchema); !slices.Equal(got, want) {
		t.Fatalf("the ledger upgraded from the format-1 dump differs from format 1 and the steps:\n%s", strings.Join(diffLines(want, got), "\n"))
	}

	// The same history in both.
	ev := func(typ string, payload any) Event {
		e, err := projector.NewEvent(typ, payload)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	snap := catalog.NewSnapshot([]catalog.Object{{Kind: catalog.KindTable, Name: "public.t", Def: ""}})
	history := [][]Event{
		{ev(projector.TypeMigrationApplied, projector.Applied{ID: "0001_a", Checksum: "c1", Transactional: true, DownSQL: "DROP TABLE a", DownChecksum: "d1"})},
		{ev(projector.TypeMigrationFailed, projector.Failed{ID: "0002_b", Checksum: "c2", Error: "boom", SQLState: "42P01", Attempt: 1})},
		{ev(projector.TypeMigrationStarted, projector.Started{ID: "0003_c", Checksum: "c3"})},
		{ev(projector.TypeMigrationResolved, projector.Resolved{ID: "0003_c", Decision: projector.ResolvedApplied, Reason: "it ran"})},
		{ev(projector.TypeMigrationApplied, projector.Applied{ID: "0002_b", Checksum: "c2", Transactional: true}),
			ev(projector.TypeMigrationReverted, projector.Reverted{ID: "0001_a", Source: projector.DownFromFile})},
		{ev(projector.TypeSchemaFingerprinted, projector.Fingerprinted{Fingerprint: snap.Fingerprint, Objects: len(snap.Objects)})},
	}
	type outcome struct {
		Events     []string
		Applied    []string
		InDoubt    []string
		Failed     []string
		Head       string
		Sightings  []string
		Refusals   []string
		VerifiedOK bool
	}
	run := func(s *Store, pool *pgxpool.Pool) outcome {
		var o outcome
		if err := s.PutSnapshot(ctx, snap); err != nil {
			t.Fatal(err)
		}
		for _, events := range history {
			if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				_, err := s.Append(ctx, tx, events...)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.CheckIn(ctx, Sighting{Instance: "pod-1", Host: "h", Release: "sha256:" + strings.Repeat("ab", 32),
			AppVersion: "1.0.0", Policy: "strict", Decision: "run", Heartbeat: time.Second}); err != nil {
			t.Fatal(err)
		}
		collect := func(sql string) []string {
			rows, err := pool.Query(ctx, sql)
			if err != nil {
				t.Fatal(err)
			}
			out, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		// Everything but what differs by nature: ids, times, hashes.
		o.Events = collect(`SELECT concat_ws(' ', seq, type, payload_version, payload - 'duration_ms', actor, host, app_version,
		                           migration_id, state_format, encode(state_digest, 'hex'), state_in_doubt, state_schema_version)
		                      FROM ledger.events ORDER BY seq`)
		o.Applied = collect(`SELECT concat_ws(' ', id, num, name, checksum, seq, app_version, actor, host, compatible, transactional, down_checksum, accepted_checksums) FROM ledger.applied ORDER BY id`)
		o.InDoubt = collect(`SELECT concat_ws(' ', id, checksum, seq, statements_done, error, left_behind) FROM ledger.in_doubt ORDER BY id`)
		o.Failed = collect(`SELECT concat_ws(' ', id, checksum, seq, error, sqlstate, attempt) FROM ledger.failed ORDER BY id`)
		o.Sightings = collect(`SELECT concat_ws(' ', release, policy, instance, host, decision, db_user, checks, manifest_digest, heartbeat_ms) FROM ledger.fleet`)
		h, err := s.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		hj, _ := json.Marshal(Head{Seq: h.Seq, Format: h.Format, SchemaVersion: h.SchemaVersion, Digest: h.Digest, InDoubt: h.InDoubt, Fingerprint: h.Fingerprint})
		o.Head = string(hj)
		for _, sql := range []string{
			"UPDATE ledger.events SET host = 'x'", "DELETE FROM ledger.snapshots", "TRUNCATE ledger.catalog_stamps",
			"UPDATE ledger.head SET seq = 1", "INSERT INTO ledger.applied (id, num, name, checksum, seq, applied_at, app_version, actor, host, transactional) VALUES ('9_z', 9, 'z', 'c', 1, now(), '', '', '', true)",
			"INSERT INTO ledger.sightings SELECT * FROM ledger.sightings",
		} {
			_, err := pool.Exec(ctx, sql)
			o.Refusals = append(o.Refusals, fmt.Sprintf("%s: %v", sql, err != nil))
		}
		rep, err := s.Verify(ctx, nil)
		o.VerifiedOK = err == nil && rep.OK()
		return o
	}
	got, wantOutcome := run(fresh, freshPool), run(step, stepPool)
	gj, _ := json.MarshalIndent(got, "", "  ")
	wj, _ := json.MarshalIndent(wantOutcome, "", "  ")
	if string(gj) != string(wj) {
		t.Fatalf("the same history in a fresh ledger and in one made step by step:\n%s\nvs\n%s", gj, wj)
	}
	if !got.VerifiedOK || len(got.Events) != 8 || len(got.Sightings) != 1 {
		t.Fatalf("the history did not record as it should: %s", gj)
	}
	for _, r := range got.Refusals {
		if !strings.HasSuffix(r, ": true") && !strings.HasPrefix(r, "INSERT INTO ledger.sightings") {
			t.Errorf("not refused: %s", r)
		}
	}
}

// TestConcurrentSetupsCreateOneLedger: Setups started together on a
// database without a ledger — every one trying the one-script creation —
// leave exactly one ledger.initialized: one creates, the others find it.
func TestConcurrentSetupsCreateOneLedger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n = 6
	pool, _ := pgtest.NewPool(t, n)
	s, err := New(pool)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	created := make(chan bool, n)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := s.Setup(ctx)
			if err != nil {
				t.Error(err)
			}
			created <- res.Created
		}()
	}
	close(start)
	wg.Wait()
	close(created)
	count := 0
	for c := range created {
		if c {
			count++
		}
	}
	h, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if count != 1 || h.Seq != 1 || h.Format != Format {
		t.Fatalf("%d Setups said they created the ledger; head %+v; want exactly one, at seq 1", count, h)
	}
}

// TestFreshSchemaIsThisFormat: sql/schema.sql says which format it
// creates, and it is this binary's — a new format's step needs the file
// changed too (TestFreshLedgerIsTheUpgradedOne then says how).
func TestFreshSchemaIsThisFormat(t *testing.T) {
	if want := fmt.Sprintf("-- Ledger format %d,", Format); !strings.HasPrefix(schemaFresh, want) {
		t.Fatalf("sql/schema.sql begins %q, want %q", strings.SplitN(schemaFresh, "\n", 2)[0], want)
	}
}

// TestCreateLosingTheRaceFindsTheLedger: a Setup that read the ledger as
// absent, then finds it created by another session (its script fails as a
// whole), goes the locked way and uses that ledger — one ledger.initialized.
func TestCreateLosingTheRaceFindsTheLedger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.NewPool(t, 2)
	s, err := New(pool, WithSchema("raced"), WithLockTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if p := s.Presence(ctx); p != PresenceAbsent {
		t.Fatalf("presence of no ledger: %v, want absent", p)
	}
	if res, err := s.SetupAfter(ctx, PresenceAbsent); err != nil || !res.Created {
		t.Fatalf("first Setup: %+v, %v", res, err)
	}
	if p := s.Presence(ctx); p != PresenceCurrent {
		t.Fatalf("presence after Setup: %v, want current", p)
	}
	res, err := s.SetupAfter(ctx, PresenceAbsent) // as if it had read before the other's commit
	if err != nil || res.Created {
		t.Fatalf("Setup that lost the race: %+v, %v; want the ledger found, not created", res, err)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM raced.events WHERE type = $1", projector.TypeLedgerInitialized).Scan(&n); err != nil || n != 1 {
		t.Fatalf("ledger.initialized recorded %d times (%v), want once", n, err)
	}
}

// TestPresenceWithProbes: the probes read their rows in the presence's
// round trip whether or not there is a ledger (they run before the format
// read that fails without one); MayRecordProbe judges as MayRecord does;
// a probe that fails leaves the presence undecided (PresenceOther), never
// absent.
func TestPresenceWithProbes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	prepared, url := pgtest.NewPool(t, 2)
	// The CLI's connections send each statement of a batch without
	// preparing it first (cli: QueryExecModeExec).
	cfg := prepared.Config()
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s, err := New(pool)
	if err != nil {
		t.Fatal(err)
	}
	// A pool that prepares a batch's statements first: the failing format
	// read stops the probes, but the presence is known.
	if p, read := s.On(prepared).PresenceWith(ctx, Probe{SQL: "SELECT 1", Scan: func(rows pgx.Rows) error { rows.Close(); return nil }}); p != PresenceAbsent || read {
		t.Fatalf("no ledger, statements prepared first: presence %v, read %v; want absent, not read", p, read)
	}
	var verdict error
	var one int
	counted := Probe{SQL: "SELECT 1", Scan: func(rows pgx.Rows) error {
		defer rows.Close()
		for rows.Next() {
			if err := rows.Scan(&one); err != nil {
				return err
			}
		}
		return rows.Err()
	}}
	if p, read := s.PresenceWith(ctx, counted, s.MayRecordProbe(&verdict)); p != PresenceAbsent || !read || one != 1 || verdict != nil {
		t.Fatalf("no ledger: presence %v, read %v, probe %d, may record %v; want absent, read, 1, nil", p, read, one, verdict)
	}
	if _, err := s.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	one = 0
	if p, read := s.PresenceWith(ctx, counted); p != PresenceCurrent || !read || one != 1 {
		t.Fatalf("a current ledger: presence %v, read %v, probe %d", p, read, one)
	}
	broken := Probe{SQL: "SELECT 1/0", Scan: func(rows pgx.Rows) error { rows.Close(); return rows.Err() }}
	fresh, err := New(pool, WithSchema("other"))
	if err != nil {
		t.Fatal(err)
	}
	if p, read := fresh.PresenceWith(ctx, broken); p != PresenceOther || read {
		t.Fatalf("a failing probe: presence %v, read %v; want other, not read", p, read)
	}

	// A role that may not create the ledger: the probe says what MayRecord says.
	role := pgtest.NewRole(t, url, "nocreate_")
	pgtest.Exec(t, url, "REVOKE CREATE ON DATABASE "+pgx.Identifier{pool.Config().ConnConfig.Database}.Sanitize()+" FROM PUBLIC")
	roleCfg, err := pgxpool.ParseConfig(pgtest.AsUser(t, url, role))
	if err != nil {
		t.Fatal(err)
	}
	roleCfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	rolePool, err := pgxpool.NewWithConfig(ctx, roleCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rolePool.Close)
	rs, err := New(rolePool, WithSchema("theirs"))
	if err != nil {
		t.Fatal(err)
	}
	want := rs.MayRecord(ctx)
	var perr *PermissionError
	if !errors.As(want, &perr) {
		t.Fatalf("MayRecord for a role without CREATE: %v, want a *PermissionError", want)
	}
	if p, read := rs.PresenceWith(ctx, rs.MayRecordProbe(&verdict)); p != PresenceAbsent || !read || verdict == nil || verdict.Error() != want.Error() {
		t.Fatalf("the probe for a role without CREATE: presence %v, read %v, verdict %v; want absent, read, %v", p, read, verdict, want)
	}
}
