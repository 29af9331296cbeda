package ledger_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schema-ledger/ledger/internal/pgtest"
	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

// restoreFormat1 loads testdata/format1/dump.sql — a ledger written by the
// code before format 2 — into a fresh database.
func restoreFormat1(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, _ := pgtest.NewPool(t, 2)
	pgtest.RestoreDump(t, pool, "testdata/format1/dump.sql")
	return pool
}

func hasStateColumns(t *testing.T, pool *pgxpool.Pool) bool {
	t.Helper()
	var n int
	err := pool.QueryRow(context.Background(), `SELECT count(*) FROM information_schema.columns
		WHERE table_schema = 'ledger' AND table_name = 'events' AND column_name LIKE 'state\_%'`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func TestUpgradeFromFormat1(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := restoreFormat1(t)
	st, err := ledger.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ id, checksum, appVersion string }
	readApplied := func() []row {
		rows, _ := pool.Query(ctx, "SELECT id, checksum, app_version FROM ledger.applied ORDER BY id")
		out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			return x, r.Scan(&x.id, &x.checksum, &x.appVersion)
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := readApplied()
	if len(before) != 4 {
		t.Fatalf("fixture: %d applied, want 4", len(before))
	}

	// Before the upgrade, readers say what to do.
	var fe *ledger.FormatError
	if _, err := st.Head(ctx); !errors.As(err, &fe) || fe.Found != 1 || !fe.Older() || !strings.Contains(err.Error(), "Store.Init") || strings.Contains(err.Error(), "`ledger ") {
		t.Fatalf("Head of a format-1 ledger: %v, want a FormatError saying to call Store.Init (and no shell command)", err)
	}
	if _, _, err := st.State(ctx); !errors.As(err, &fe) {
		t.Fatalf("State of a format-1 ledger: %v, want a FormatError", err)
	}

	created, err := st.Init(ctx)
	if err != nil || created {
		t.Fatalf("Init (upgrade): created %v, %v", created, err)
	}
	h, err := st.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// One ledger.upgraded per step: 1 -> 2 at seq 15, 2 -> 3 at seq 16, 3 -> 4 at seq 17.
	if h.Format != ledger.Format || h.Seq != 17 || h.InDoubt != 1 || h.SchemaVersion != "0004_add_status" {
		t.Fatalf("head after the upgrade: %+v; want format 4, seq 17, 1 in doubt, schema version 0004_add_status", h)
	}
	for seq, payload := range map[int64]string{15: `{"to": 2, "from": 1}`, 16: `{"to": 3, "from": 2}`, 17: `{"to": 4, "from": 3}`} {
		ev, err := st.Event(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type != projector.TypeLedgerUpgraded || string(ev.Payload) != payload {
			t.Fatalf("event %d: %s %s, want ledger.upgraded %s", seq, ev.Type, ev.Payload, payload)
		}
	}
	last, err := st.Event(ctx, 17)
	if err != nil {
		t.Fatal(err)
	}
	want := projector.Committed{Format: ledger.Format, Digest: h.Digest, InDoubt: 1, SchemaVersion: "0004_add_status"}
	if last.State == nil || *last.State != want {
		t.Fatalf("event 17 commits %+v, want %+v", last.State, want)
	}
	if first, _ := st.Event(ctx, 14); first.State != nil {
		t.Fatalf("event 14 (format 1) has a committed state: %+v", first.State)
	}
	if got := readApplied(); !equalRows(got, before) {
		t.Fatalf("applied rows changed by the upgrade:\n%v\n%v", before, got)
	}
	rep, err := st.Verify(ctx, nil)
	if err != nil || !rep.OK() || rep.Events != 17 {
		t.Fatalf("verify after the upgrade: %v, %v", rep, err)
	}
	// Idempotent, and the ledger goes on.
	if created, err := st.Init(ctx); err != nil || created {
		t.Fatalf("second Init: %v %v", created, err)
	}
	ev := event(t, projector.TypeMigrationResolved, projector.Resolved{ID: "0005_slow_backfill", Decision: projector.ResolvedFailed, Reason: "killed"})
	if h := appendTx(t, st, pool, ev); h.Seq != 18 || h.InDoubt != 0 {
		t.Fatalf("append after the upgrade: %+v", h)
	}
	if rep, err := st.Verify(ctx, nil); err != nil || !rep.OK() {
		t.Fatalf("verify after an append: %v, %v", rep, err)
	}
	if _, _, err := st.State(ctx); err != nil {
		t.Fatal(err)
	}
}

func equalRows[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A format-1 ledger that does not verify is not built on: the upgrade is
// refused and nothing changes.
func TestUpgradeRefusesABrokenLedger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tamper := range []string{
		`UPDATE ledger.events SET payload = jsonb_set(payload, '{checksum}', '"forged"') WHERE seq = 3`,
		`UPDATE ledger.head SET in_doubt = 0`,
		`DELETE FROM ledger.applied WHERE id = '0003_orders_index'`,
	} {
		t.Run(tamper, func(t *testing.T) {
			t.Parallel()
			pool := restoreFormat1(t)
			forge(t, pool, tamper)
			st, err := ledger.New(pool)
			if err != nil {
				t.Fatal(err)
			}
			var ue *ledger.UpgradeError
			if _, err := st.Init(ctx); !errors.As(err, &ue) || !strings.Contains(err.Error(), "nothing was changed") {
				t.Fatalf("Init of a broken format-1 ledger: %v, want an UpgradeError", err)
			}
			if hasStateColumns(t, pool) {
				t.Fatal("the refused upgrade changed the tables")
			}
			var format int
			if err := pool.QueryRow(ctx, "SELECT format FROM ledger.head").Scan(&format); err != nil || format != 1 {
				t.Fatalf("format after a refused upgrade: %d %v", format, err)
			}
		})
	}
}

// Direct writes to the projection, the head and the event log are refused,
// whoever makes them; only the append path writes there.
func TestProjectionIsWrittenOnlyByAppend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t, 2)
	appendTx(t, st, pool, applied(t, "1_a"))
	for _, sql := range []string{
		`UPDATE ledger.head SET digest = sha256('x')`,
		`UPDATE ledger.head SET in_doubt = 0`,
		`DELETE FROM ledger.head`,
		`TRUNCATE ledger.head`,
		`INSERT INTO ledger.applied (id, num, name, checksum, seq, applied_at, app_version, actor, host, transactional)
		 VALUES ('2_b', 2, 'b', 'x', 2, now(), '', '', '', true)`,
		`UPDATE ledger.applied SET checksum = 'x'`,
		`DELETE FROM ledger.applied`,
		`TRUNCATE ledger.applied`,
		`INSERT INTO ledger.in_doubt (id, checksum, seq, started_at, app_version, actor, host) VALUES ('2_b', 'x', 2, now(), '', '', '')`,
		`DELETE FROM ledger.in_doubt`,
		`TRUNCATE ledger.in_doubt`,
		`INSERT INTO ledger.failed (id, checksum, seq, failed_at, app_version, actor, host, error) VALUES ('2_b', 'x', 2, now(), '', '', '', 'e')`,
		`DELETE FROM ledger.failed`,
		`TRUNCATE ledger.failed`,
		`INSERT INTO ledger.events (seq, id, type, payload_version, payload, recorded_at, actor, host, app_version, prev_hash, hash)
		 SELECT seq + 1, gen_random_uuid(), type, payload_version, payload, recorded_at, actor, host, app_version, hash, hash FROM ledger.events WHERE seq = 2`,
	} {
		_, err := pool.Exec(ctx, sql)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" || !strings.Contains(pgErr.Message, "written only by its own append path") {
			t.Errorf("%s: err = %v, want SQLSTATE 42501", sql, err)
		}
	}
	// The mark the append path sets is cleared before it returns: the same
	// transaction cannot write directly after an append.
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := st.Append(ctx, tx, applied(t, "3_c")); err != nil {
			t.Fatal(err)
		}
		_, err := tx.Exec(ctx, `UPDATE ledger.head SET in_doubt = 0`)
		return err
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Errorf("a direct write after an append in its transaction: %v, want SQLSTATE 42501", err)
	}
	if rep, err := st.Verify(ctx, nil); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", rep, err)
	}
}

// What a superuser past the triggers forges is caught by every reader of the
// head: Head (the startup check's read) and State (status, and up, down and
// resolve under the migration lock), and by Verify.
func TestForgedStateIsCaught(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct {
		name, sql string
		head      bool // Head alone sees it (else only State does)
		want      string
	}{
		{"head digest", `UPDATE ledger.head SET digest = sha256('x')`, true, "applied-set digest"},
		{"head in doubt", `UPDATE ledger.head SET in_doubt = 0`, true, "in doubt 0, committed 1"},
		{"head schema version", `UPDATE ledger.head SET schema_version = '9_z'`, true, "schema version"},
		{"head format", `UPDATE ledger.head SET format = 1`, true, "format 1"},
		{"applied row", `INSERT INTO ledger.applied (id, num, name, checksum, seq, applied_at, app_version, actor, host, transactional)
			VALUES ('3_c', 3, 'c', 'x', 3, now(), '', '', '', true)`, false, "applied rows add up"},
		{"deleted applied row", `DELETE FROM ledger.applied WHERE id = '1_a'`, false, "applied rows add up"},
		{"in-doubt row deleted", `DELETE FROM ledger.in_doubt`, false, "0 rows in doubt, the head says 1"},
		{"newest event edited", `UPDATE ledger.events SET payload = jsonb_set(payload, '{reason}', '"x"') WHERE seq = (SELECT max(seq) FROM ledger.events)`, true, "does not match its hash"},
		{"newest event's state edited", `UPDATE ledger.events SET state_in_doubt = 0 WHERE seq = (SELECT max(seq) FROM ledger.events)`, true, "does not match its hash"},
		{"event before the newest deleted", `DELETE FROM ledger.events WHERE seq = (SELECT max(seq) - 1 FROM ledger.events)`, true, "is missing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st, pool := newStore(t, 2)
			appendTx(t, st, pool, applied(t, "1_a"))
			appendTx(t, st, pool, event(t, projector.TypeMigrationStarted, projector.Started{ID: "2_b", Checksum: "sum-2_b"}))
			appendTx(t, st, pool, event(t, projector.TypeMigrationResolved, projector.Resolved{ID: "2_b", Decision: projector.ResolvedFailed, Reason: "r"}))
			appendTx(t, st, pool, event(t, projector.TypeMigrationStarted, projector.Started{ID: "2_b", Checksum: "sum-2_b"}))
			forge(t, pool, c.sql)
			var corrupt *ledger.CorruptHeadError
			_, herr := st.Head(ctx)
			if c.head != errors.As(herr, &corrupt) {
				t.Errorf("Head: %v (want a CorruptHeadError: %v)", herr, c.head)
			}
			_, _, err := st.State(ctx)
			if !errors.As(err, &corrupt) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("State: %v, want a CorruptHeadError saying %q", err, c.want)
			}
			if rep, err := st.Verify(ctx, nil); err != nil || rep.OK() {
				t.Errorf("Verify: %v %v, want a broken report", rep, err)
			}
		})
	}
}

// rechain rewrites every event's prev_hash and hash from seq `from` on, and
// the head's hash, with the ledger's own event_hash — what a superuser who
// edited history would do to make the chain verify again.
const rechain = `DO $$
DECLARE r record; prev bytea;
BEGIN
    SELECT coalesce((SELECT hash FROM ledger.events WHERE seq = 0), decode(repeat('00', 32), 'hex')) INTO prev;
    FOR r IN SELECT * FROM ledger.events ORDER BY seq LOOP
        UPDATE ledger.events SET prev_hash = prev,
            hash = ledger.event_hash(prev, r.seq, r.id, r.type, r.payload_version, r.payload, r.recorded_at, r.actor, r.host, r.app_version,
                                     r.state_format, r.state_digest, r.state_in_doubt, r.state_schema_version)
        WHERE seq = r.seq RETURNING hash INTO prev;
    END LOOP;
    UPDATE ledger.head SET hash = prev;
END $$`

// A history rewritten inside the database and re-chained, or a cut tail
// with the head rewritten to match, passes every check inside the
// database; only an anchor kept outside it catches them.
func TestAnchorCatchesRechainedHistoryAndCutTail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("re-chained", func(t *testing.T) {
		t.Parallel()
		st, pool := newStore(t, 2)
		appendTx(t, st, pool, applied(t, "1_a"))
		anchor, _, err := st.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		appendTx(t, st, pool, applied(t, "2_b"))
		if rep, err := st.VerifyWith(ctx, ledger.VerifyOptions{Expect: []ledger.Anchor{anchor}}); err != nil || !rep.OK() {
			t.Fatalf("verify with the anchor of an intact ledger: %v %v", rep, err)
		}
		forge(t, pool, `UPDATE ledger.events SET host = 'elsewhere' WHERE seq = 1`)
		forge(t, pool, rechain)
		if _, err := st.Head(ctx); err != nil {
			t.Fatalf("Head of the re-chained ledger: %v (it cannot see it)", err)
		}
		if rep, err := st.Verify(ctx, nil); err != nil || !rep.OK() {
			t.Fatalf("verify without an anchor: %v %v (it cannot see it)", rep, err)
		}
		rep, err := st.VerifyWith(ctx, ledger.VerifyOptions{Expect: []ledger.Anchor{anchor}})
		if err != nil || rep.OK() || len(rep.Anchors) != 1 || !strings.Contains(rep.Anchors[0], "rewritten or re-chained") {
			t.Fatalf("verify with the anchor: %+v %v", rep, err)
		}
	})
	t.Run("cut tail", func(t *testing.T) {
		t.Parallel()
		st, pool := newStore(t, 2)
		appendTx(t, st, pool, applied(t, "1_a"))
		appendTx(t, st, pool, event(t, projector.TypeSchemaFingerprinted, projector.Fingerprinted{Fingerprint: "f", Objects: 1}))
		anchor, _, err := st.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		forge(t, pool, `DELETE FROM ledger.events WHERE seq = 3;
			UPDATE ledger.head SET seq = 2, hash = (SELECT hash FROM ledger.events WHERE seq = 2),
				fingerprint = NULL, fingerprint_objects = NULL, fingerprint_seq = NULL`)
		if rep, err := st.Verify(ctx, nil); err != nil || !rep.OK() {
			t.Fatalf("verify without an anchor: %v %v (it cannot see it)", rep, err)
		}
		rep, err := st.VerifyWith(ctx, ledger.VerifyOptions{Expect: []ledger.Anchor{anchor}})
		if err != nil || rep.OK() || len(rep.Anchors) != 1 || !strings.Contains(rep.Anchors[0], "ends at seq 2") {
			t.Fatalf("verify with the anchor: %+v %v", rep, err)
		}
	})
}

func TestParseAnchor(t *testing.T) {
	t.Parallel()
	h := strings.Repeat("ab", 32)
	a, err := ledger.ParseAnchor(" 42:" + h + "\n")
	if err != nil || a.Seq != 42 || a.String() != "42:"+h {
		t.Fatalf("ParseAnchor: %v %v", a, err)
	}
	for _, bad := range []string{"", "42", "x:" + h, "0:" + h, "42:abc", "42:" + h + "00"} {
		if _, err := ledger.ParseAnchor(bad); err == nil {
			t.Errorf("ParseAnchor(%q) accepted", bad)
		}
	}
}
