package ledger_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/schema-ledger/ledger/ledger"
)

// Visit sees every event the walk verifies, in seq order, as Events reads
// it (hashes included), in the walk's own snapshot.
func TestVerifyVisitsEachEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t, 2)
	var batch []ledger.Event
	for i := range 30 {
		batch = append(batch, applied(t, fmt.Sprintf("%04d_m", i+1)))
	}
	appendTx(t, st, pool, batch...)
	var seen []ledger.Event
	rep, err := st.VerifyWith(ctx, ledger.VerifyOptions{Visit: func(e ledger.Event) { seen = append(seen, e) }})
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", rep, err)
	}
	i := 0
	for e, err := range st.Events(ctx, ledger.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		// Whole: the walk decodes rows from their raw bytes, Events
		// through pgx's scan; both must give the same event.
		if i >= len(seen) || !reflect.DeepEqual(seen[i], e) {
			t.Fatalf("visited event %d differs from the stored one %d:\n%+v\n%+v", i, e.Seq, seen[i], e)
		}
		i++
	}
	if i != len(seen) || int64(i) != rep.Events {
		t.Fatalf("visited %d events, stored %d, walked %d", len(seen), i, rep.Events)
	}
}

// The walk decodes the rows it can from their raw bytes and leaves the
// others to pgx's scan, so a row no ledger writes (forged past the
// table's constraints) fails the walk with the error Events gives for it.
func TestVerifyFailsOnOddRowsAsEventsDoes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct{ name, sql, want string }{
		{"state partly NULL", `ALTER TABLE ledger.events DROP CONSTRAINT events_state_whole;
			UPDATE ledger.events SET state_in_doubt = NULL WHERE seq = 2`, "state is partly NULL"},
		{"digest too short", `ALTER TABLE ledger.events DROP CONSTRAINT events_state_whole;
			UPDATE ledger.events SET state_digest = '\x00' WHERE seq = 2`, "digest: want 32 bytes, got 1"},
		{"infinite time", `UPDATE ledger.events SET recorded_at = 'infinity' WHERE seq = 2`, "Infinity"},
		{"NULL actor", `ALTER TABLE ledger.events ALTER COLUMN actor DROP NOT NULL;
			UPDATE ledger.events SET actor = NULL WHERE seq = 2`, "NULL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st, pool := newStore(t, 2)
			appendTx(t, st, pool, applied(t, "0001_a"), applied(t, "0002_b"), applied(t, "0003_c"))
			forge(t, pool, c.sql)
			var eventsErr error
			for _, err := range st.Events(ctx, ledger.Filter{}) {
				if err != nil {
					eventsErr = err
					break
				}
			}
			_, err := st.Verify(ctx, nil)
			if eventsErr == nil || !strings.Contains(eventsErr.Error(), c.want) {
				t.Fatalf("Events: %v, want an error saying %q", eventsErr, c.want)
			}
			if err == nil || err.Error() != eventsErr.Error() {
				t.Fatalf("Verify: %v, want Events' error %v", err, eventsErr)
			}
		})
	}
}
