package ledger_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

func seqs(t *testing.T, st *ledger.Store, f ledger.Filter) []int64 {
	t.Helper()
	var out []int64
	for e, err := range st.Events(context.Background(), f) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Seq)
	}
	return out
}

func TestEventsFilters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t, 2)
	// seq 1: initialized; 2..4: applied 1_a, 2_b, 3_c; 5: failed 4_d; 6: reverted 3_c.
	appendTx(t, st, pool, applied(t, "1_a"), applied(t, "2_b"))
	mid := time.Now()
	time.Sleep(5 * time.Millisecond)
	appendTx(t, st, pool, applied(t, "3_c"), event(t, projector.TypeMigrationFailed, projector.Failed{ID: "4_d", Error: "x", Attempt: 1}))
	appendTx(t, st, pool, event(t, projector.TypeMigrationReverted, projector.Reverted{ID: "3_c", Source: projector.DownFromFile}))

	cases := []struct {
		name string
		f    ledger.Filter
		want []int64
	}{
		{"all", ledger.Filter{}, []int64{1, 2, 3, 4, 5, 6}},
		{"after seq", ledger.Filter{AfterSeq: 4}, []int64{5, 6}},
		{"seq range", ledger.Filter{AfterSeq: 1, UntilSeq: 3}, []int64{2, 3}},
		{"type", ledger.Filter{Types: []string{projector.TypeMigrationApplied}}, []int64{2, 3, 4}},
		{"types", ledger.Filter{Types: []string{projector.TypeMigrationFailed, projector.TypeMigrationReverted}}, []int64{5, 6}},
		{"migration", ledger.Filter{MigrationID: "3_c"}, []int64{4, 6}},
		{"migration and type", ledger.Filter{MigrationID: "3_c", Types: []string{projector.TypeMigrationReverted}}, []int64{6}},
		{"since", ledger.Filter{Since: mid}, []int64{4, 5, 6}},
		{"until", ledger.Filter{Until: mid}, []int64{1, 2, 3}},
		{"actor", ledger.Filter{Actor: "postgres"}, []int64{1, 2, 3, 4, 5, 6}},
		{"other actor", ledger.Filter{Actor: "auditor"}, nil},
		{"limit", ledger.Filter{Limit: 2}, []int64{1, 2}},
		{"newest", ledger.Filter{Limit: 2, Newest: true}, []int64{6, 5}},
		{"newest of a type", ledger.Filter{Types: []string{projector.TypeMigrationApplied}, Limit: 1, Newest: true}, []int64{4}},
	}
	for _, c := range cases {
		if got := seqs(t, st, c.f); !slices.Equal(got, c.want) {
			t.Errorf("%s: seqs %v, want %v", c.name, got, c.want)
		}
	}
	for _, err := range st.Events(ctx, ledger.Filter{Limit: -1}) {
		if err == nil {
			t.Error("negative limit accepted")
		}
	}
	// Stopping early is allowed and releases the connection.
	for range 5 {
		for range st.Events(ctx, ledger.Filter{}) {
			break
		}
	}
	if e, err := st.Event(ctx, 4); err != nil || e.Seq != 4 || e.Type != projector.TypeMigrationApplied {
		t.Fatalf("Event(4) = %+v, %v", e, err)
	}
	if _, err := st.Event(ctx, 99); err == nil {
		t.Fatal("Event(99) found an event")
	}
}

// The audit filters are served by indexes, not by scanning the log.
func TestEventsFiltersUseIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t, 2)
	// Enough rows that the planner prefers indexes, inserted in one batch.
	var batch []ledger.Event
	for i := range 3000 {
		id := fmt.Sprintf("%d_m", i+1)
		batch = append(batch, applied(t, id), event(t, projector.TypeMigrationReverted, projector.Reverted{ID: id, Source: projector.DownFromFile}))
	}
	appendTx(t, st, pool, batch...)
	if _, err := pool.Exec(ctx, "ANALYZE ledger.events"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct{ name, where, index string }{
		{"migration", "migration_id = '17_m'", "events_migration_seq"},
		{"type newest", "type = 'migration.failed' ORDER BY seq DESC LIMIT 20", "events_type_seq"},
		{"actor", "actor = 'nobody'", "events_actor_seq"},
		{"time", "recorded_at < '2000-01-01'", "events_recorded_at"},
		{"seq range", "seq > 5000 AND seq <= 5010", "events_pkey"},
	} {
		var plan string
		rows, err := pool.Query(ctx, "EXPLAIN SELECT seq FROM ledger.events WHERE "+q.where)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan += line + "\n"
		}
		rows.Close()
		if !strings.Contains(plan, q.index) {
			t.Errorf("%s: plan does not use %s:\n%s", q.name, q.index, plan)
		}
	}
}
