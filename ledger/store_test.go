package ledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

func newStore(t testing.TB, conns int32, opts ...ledger.Option) (*ledger.Store, *pgxpool.Pool) {
	t.Helper()
	pool, _ := pgtest.NewPool(t, conns)
	st, err := ledger.New(pool, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st, pool
}

func event(t testing.TB, typ string, payload any) ledger.Event {
	t.Helper()
	e, err := projector.NewEvent(typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func applied(t testing.TB, id string) ledger.Event {
	return event(t, projector.TypeMigrationApplied, projector.Applied{ID: id, Checksum: "sum-" + id, Transactional: true})
}

// appendTx appends events in a transaction of their own.
func appendTx(t testing.TB, st *ledger.Store, db *pgxpool.Pool, events ...ledger.Event) ledger.Head {
	t.Helper()
	var h ledger.Head
	err := pgx.BeginFunc(context.Background(), db, func(tx pgx.Tx) error {
		var err error
		h, err = st.Append(context.Background(), tx, events...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestInitIsIdempotentAndRecordsItself(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t, 4, ledger.WithSchema("app_ledger"))
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if created, err := st.Init(ctx); err != nil || created {
				t.Errorf("second Init: created=%v err=%v", created, err)
			}
		}()
	}
	wg.Wait()
	h, err := st.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Seq != 1 || h.Format != ledger.Format {
		t.Fatalf("head after init = %+v, want seq 1 format %d", h, ledger.Format)
	}
	e, err := st.Event(ctx, 1)
	if err != nil || e.Type != projector.TypeLedgerInitialized {
		t.Fatalf("event 1 = %+v, %v", e, err)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM app_ledger.events").Scan(&n); err != nil || n != 1 {
		t.Fatalf("events in app_ledger = %d, %v", n, err)
	}
}

// 8 writers × 200 appends on separate connections: seq is exactly 1..n, and
// a reader following seq never sees a later seq before an earlier one.
func TestConcurrentAppendsAreGaplessInCommitOrder(t *testing.T) {
	t.Parallel()
	const writers, each = 8, 200
	ctx := context.Background()
	st, pool := newStore(t, writers+1)

	done := make(chan struct{})
	readerErr := make(chan error, 1)
	go func() { // follows seq as a relay would: never skip, never repeat
		var last int64
		for {
			finished := false
			select {
			case <-done:
				finished = true
			default:
			}
			for e, err := range st.Events(ctx, ledger.Filter{AfterSeq: last}) {
				if err != nil {
					readerErr <- err
					return
				}
				if e.Seq != last+1 {
					readerErr <- fmt.Errorf("reader at seq %d saw seq %d: an event committed later became visible first", last, e.Seq)
					return
				}
				last = e.Seq
			}
			if finished {
				if last != 1+writers*each {
					readerErr <- fmt.Errorf("reader ended at seq %d, want %d", last, 1+writers*each)
					return
				}
				readerErr <- nil
				return
			}
		}
	}()

	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					_, err := st.Append(ctx, tx, applied(t, fmt.Sprintf("%d_w%d", w*each+i+1, w)))
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	if err := <-readerErr; err != nil {
		t.Fatal(err)
	}

	var n, minSeq, maxSeq, distinct int64
	err := pool.QueryRow(ctx, "SELECT count(*), min(seq), max(seq), count(DISTINCT seq) FROM ledger.events").Scan(&n, &minSeq, &maxSeq, &distinct)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(1 + writers*each); n != want || minSeq != 1 || maxSeq != want || distinct != want {
		t.Fatalf("events: count %d, seq %d..%d, distinct %d; want 1..%d gapless", n, minSeq, maxSeq, distinct, want)
	}
	rep, err := st.Verify(ctx, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("verify after concurrent appends: %v %v", rep, err)
	}
	h, _ := st.Head(ctx)
	s, _, _ := st.State(ctx)
	if len(s.Applied) != writers*each || h.SchemaVersion != fmt.Sprintf("%d_w%d", writers*each, writers-1) {
		t.Fatalf("state: %v, head schema version %q", s, h.SchemaVersion)
	}
}

func TestEventsAreAppendOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t, 2)
	appendTx(t, st, pool, applied(t, "1_a"), applied(t, "2_b"), applied(t, "3_c"))

	for _, sql := range []string{
		"UPDATE ledger.events SET actor = 'mallory' WHERE seq = 2",
		"DELETE FROM ledger.events WHERE seq = 2",
		"TRUNCATE ledger.events",
	} {
		_, err := pool.Exec(ctx, sql)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want the append-only refusal", sql, err)
		}
	}
	if rep, err := st.Verify(ctx, nil); err != nil || !rep.OK() {
		t.Fatalf("verify before tampering: %v %v", rep, err)
	}

	// A superuser can disable the triggers; the hash chain still tells.
	for _, sql := range []string{
		"ALTER TABLE ledger.events DISABLE TRIGGER USER",
		`UPDATE ledger.events SET payload = jsonb_set(payload, '{checksum}', '"forged"') WHERE seq = 3`,
		"ALTER TABLE ledger.events ENABLE TRIGGER USER",
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := st.Verify(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.FirstBroken != 3 {
		t.Fatalf("verify after editing seq 3: %+v, want first broken seq 3", rep)
	}
	if !strings.Contains(rep.String(), "seq 3") {
		t.Errorf("report does not name seq 3:\n%s", rep)
	}
	// The same answer from plain SQL, in a session with another time zone.
	var bad []int64
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL TimeZone = 'Asia/Kathmandu'"); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `SELECT seq FROM ledger.events WHERE hash <> ledger.event_hash(prev_hash, seq, id, type, payload_version, payload, recorded_at, actor, host, app_version, state_format, state_digest, state_in_doubt, state_schema_version) ORDER BY seq`)
		bad, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		return err
	})
	if err != nil || len(bad) != 1 || bad[0] != 3 {
		t.Fatalf("plain SQL verification: %v %v, want [3]", bad, err)
	}
}

func TestRolledBackAppendLeavesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t, 2)
	appendTx(t, st, pool, applied(t, "1_a"))
	before, err := st.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE t (id int)"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, tx, applied(t, "2_b")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := st.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Seq != before.Seq || string(after.Hash) != string(before.Hash) || after.Digest != before.Digest {
		t.Fatalf("head changed by a rolled-back append: %+v -> %+v", before, after)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM ledger.events").Scan(&n); err != nil || n != 2 {
		t.Fatalf("events after rollback = %d, %v; want 2", n, err)
	}
	s, _, err := st.State(ctx)
	if err != nil || len(s.Applied) != 1 {
		t.Fatalf("state after rollback: %v %v", s, err)
	}
	// The next append continues the chain where the head is.
	appendTx(t, st, pool, applied(t, "2_b"))
	if rep, err := st.Verify(ctx, nil); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", rep, err)
	}
}

func TestAppendNeedsAnOpenTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t, 2)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback(ctx)
	if _, err := st.Append(ctx, tx, applied(t, "1_a")); err == nil {
		t.Fatal("append on a rolled-back transaction succeeded")
	}
}

func TestBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t, 2)
	appendTx(t, st, pool, applied(t, "1_a"))
	before, _ := st.Head(ctx)

	newer := applied(t, "2_b")
	newer.PayloadVersion = 99
	cases := []struct {
		name  string
		event ledger.Event
		want  string
	}{
		{"unknown type", ledger.Event{Type: "migration.teleported", PayloadVersion: 1, Payload: []byte(`{}`)}, `unknown event type "migration.teleported"`},
		{"newer payload version", newer, "payload version 99, newer than 1"},
		{"duplicate applied", applied(t, "1_a"), "already applied"},
		{"revert of unknown", event(t, projector.TypeMigrationReverted, projector.Reverted{ID: "9_z", Source: projector.DownFromFile}), "is not applied"},
		{"invalid json", ledger.Event{Type: projector.TypeMigrationApplied, PayloadVersion: 1, Payload: []byte(`{"id":`)}, "not valid JSON"},
		{"unknown payload field", ledger.Event{Type: projector.TypeMigrationApplied, PayloadVersion: 1, Payload: []byte(`{"id":"2_b","checksum":"x","surprise":1}`)}, "unknown field"},
	}
	for _, c := range cases {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := st.Append(ctx, tx, applied(t, "2_ok"), c.event)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to say %q", c.name, err, c.want)
		}
	}
	after, _ := st.Head(ctx)
	if after.Seq != before.Seq {
		t.Fatalf("bad input changed the head: seq %d -> %d", before.Seq, after.Seq)
	}
	s, _, _ := st.State(ctx)
	if _, ok := s.Applied["2_ok"]; ok {
		t.Fatal("the good event of a rejected append was recorded")
	}
}

func TestInvalidSchemaName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "pg_ledger", "a-b", "1abc", "drop table x;--", strings.Repeat("x", 49), `a"b`} {
		_, err := ledger.New(nil, ledger.WithSchema(name))
		var se *ledger.SchemaNameError
		if !errors.As(err, &se) {
			t.Errorf("schema %q: err = %v, want a SchemaNameError", name, err)
		}
	}
	for _, name := range []string{"ledger", "App_Ledger2", "_x"} {
		if err := ledger.ValidateSchemaName(name); err != nil {
			t.Errorf("schema %q refused: %v", name, err)
		}
	}
}

func TestCorruptHeadIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct{ name, sql, want string }{
		{"digest", `UPDATE ledger.head SET digest = '\x00'`, "digest"},
		{"seq ahead of the events", `UPDATE ledger.head SET seq = seq + 1`, "newest event is seq"},
		{"hash", `UPDATE ledger.head SET hash = sha256('x')`, "head hash differs"},
		{"missing row", `DELETE FROM ledger.head`, "head row is missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st, pool := newStore(t, 2)
			appendTx(t, st, pool, applied(t, "1_a"))
			forge(t, pool, c.sql)
			var corrupt *ledger.CorruptHeadError
			if _, err := st.Head(ctx); !errors.As(err, &corrupt) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Head: err = %v, want a CorruptHeadError saying %q", err, c.want)
			}
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				_, err := st.Append(ctx, tx, applied(t, "2_b"))
				return err
			})
			if !errors.As(err, &corrupt) {
				t.Errorf("Append on a corrupt head: err = %v, want a CorruptHeadError", err)
			}
			var n int
			if err := pool.QueryRow(ctx, "SELECT count(*) FROM ledger.events").Scan(&n); err != nil || n != 2 {
				t.Errorf("events = %d, %v; want 2 (nothing written)", n, err)
			}
			if rep, err := st.Verify(ctx, nil); err != nil || rep.OK() {
				t.Errorf("verify of a corrupt head: %v %v, want a broken report", rep, err)
			}
		})
	}
}

func TestNewerFormatIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t, 2)
	newer := ledger.Format + 1
	forge(t, pool, fmt.Sprintf("UPDATE ledger.head SET format = %d", newer))
	var fe *ledger.FormatError
	if _, err := st.Init(ctx); !errors.As(err, &fe) || fe.Found != newer {
		t.Fatalf("Init on format %d: %v", newer, err)
	}
	if _, err := st.Head(ctx); !errors.As(err, &fe) || !strings.Contains(err.Error(), "newer ledger release") {
		t.Fatalf("Head on format %d: %v", newer, err)
	}
}

func TestNotInitialized(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewPool(t, 2)
	st, err := ledger.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	// The library's words: what to call, no shell command (cmd/ledger
	// words the fix as one).
	_, err = st.Head(context.Background())
	if !errors.Is(err, ledger.ErrNotInitialized) || !strings.Contains(err.Error(), "Store.Init") || strings.Contains(err.Error(), "`ledger ") {
		t.Fatalf("Head before Init: %v", err)
	}
}

// An Appender's statement carries its values as literals: quotes,
// backslashes and non-ASCII text arrive exactly, whatever
// standard_conforming_strings says, and a NUL byte is refused before
// anything is sent.
func TestAppenderStatementQuotesValues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, conforming := range []string{"on", "off"} {
		t.Run("standard_conforming_strings="+conforming, func(t *testing.T) {
			awkward := `o'brien \x41 \\ '' ü — $$`
			st, pool := newStore(t, 2, ledger.WithHost(awkward), ledger.WithAppVersion("v'1\\"))
			conn, err := pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Release()
			if _, err := conn.Exec(ctx, "SET standard_conforming_strings = "+conforming); err != nil {
				t.Fatal(err)
			}
			state, head, err := st.State(ctx)
			if err != nil {
				t.Fatal(err)
			}
			app := st.NewAppender(state, head)
			ev := event(t, projector.TypeMigrationApplied, projector.Applied{
				ID: "0001_quotes", Checksum: "c", Transactional: true, DownSQL: awkward + "\n\t\"x\"", DownChecksum: "d",
			})
			sql, err := app.Statement(ctx, ledger.Recording{Actor: `act'or\`}, ev)
			if err != nil {
				t.Fatal(err)
			}
			results, err := conn.Conn().PgConn().Exec(ctx, "BEGIN;\n"+sql+";\nCOMMIT").ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if err := app.Done(results[1]); err != nil {
				t.Fatal(err)
			}
			got, err := st.Event(ctx, app.Head().Seq)
			if err != nil {
				t.Fatal(err)
			}
			var p projector.Applied
			if err := json.Unmarshal(got.Payload, &p); err != nil {
				t.Fatal(err)
			}
			if got.Host != awkward || got.AppVersion != "v'1\\" || got.Actor != `act'or\` || p.DownSQL != awkward+"\n\t\"x\"" {
				t.Errorf("stored host %q, app version %q, actor %q, down %q", got.Host, got.AppVersion, got.Actor, p.DownSQL)
			}
			if m := app.State().Applied["0001_quotes"]; m.Host != awkward || m.Actor != `act'or\` || !m.AppliedAt.Equal(got.RecordedAt) {
				t.Errorf("the Appender's row %+v, the event recorded at %v", m, got.RecordedAt)
			}
			if rep, err := st.Verify(ctx, nil); err != nil || !rep.OK() {
				t.Fatalf("verify: %+v %v", rep, err)
			}
			if _, err := app.Statement(ctx, ledger.Recording{Actor: "a\x00b"}, applied(t, "0002_nul")); err == nil {
				t.Error("a NUL byte in a value: no error")
			}
		})
	}
}

// forge runs sql as a superuser that bypasses the ledger's triggers
// (session_replication_role = replica), the way an attacker with those
// rights would.
func forge(t testing.TB, pool *pgxpool.Pool, sql string) {
	t.Helper()
	err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), "SET LOCAL session_replication_role = replica"); err != nil {
			return err
		}
		_, err := tx.Exec(context.Background(), sql)
		return err
	})
	if err != nil {
		t.Fatalf("forge %q: %v", sql, err)
	}
}

// A caller's search_path never reaches what Append writes: a transaction
// that put a schema shadowing a built-in (encode) before pg_catalog still
// records a chain that verifies, and gets its search_path back as it was.
func TestAppendIgnoresTheCallersSearchPath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t, 2)
	if _, err := pool.Exec(ctx, `CREATE SCHEMA shadow;
CREATE FUNCTION shadow.encode(bytea, text) RETURNS text LANGUAGE sql AS $$ SELECT 'shadowed' $$`); err != nil {
		t.Fatal(err)
	}
	var path string
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL search_path = shadow, pg_catalog, public"); err != nil {
			return err
		}
		if _, err := st.Append(ctx, tx, applied(t, "1_a"), applied(t, "2_b")); err != nil {
			return err
		}
		return tx.QueryRow(ctx, "SELECT current_setting('search_path')").Scan(&path)
	})
	if err != nil {
		t.Fatal(err)
	}
	if path != "shadow, pg_catalog, public" {
		t.Errorf("the caller's search_path after Append is %q, want it as the caller set it", path)
	}
	if rep, err := st.Verify(ctx, nil); err != nil || !rep.OK() {
		t.Fatalf("verify after an append under a shadowing search_path: %+v %v", rep, err)
	}
}
