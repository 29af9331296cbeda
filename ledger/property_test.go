package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

// After every append of a randomized sequence (applies, reverts, failures,
// no-transaction starts, resolutions, baselines, fingerprints, rollbacks), the
// projection tables and the head equal a full fold of the events. Batches go
// through Store.Append or, at random, an Appender's one-statement record,
// whose in-memory state must then equal the fold too (times included).
func TestProjectionEqualsFoldAfterEveryAppend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t, 2)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>7))
	t.Logf("seed %d", seed)

	model := projector.NewState() // what has been committed, to pick valid events
	next := 1
	pick := func(m map[string]bool) (string, bool) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		if len(keys) == 0 {
			return "", false
		}
		slices.Sort(keys)
		return keys[rng.IntN(len(keys))], true
	}
	ids := func(which string) map[string]bool {
		out := map[string]bool{}
		switch which {
		case "applied":
			for id := range model.Applied {
				out[id] = true
			}
		case "in doubt":
			for id := range model.InDoubt {
				out[id] = true
			}
		case "failed":
			for id := range model.Failed {
				if _, doubt := model.InDoubt[id]; !doubt {
					out[id] = true
				}
			}
		}
		return out
	}
	newID := func() string { next++; return fmt.Sprintf("%04d_m%d", rng.IntN(50), next) }

	randomEvent := func() ledger.Event {
		for {
			switch rng.IntN(9) {
			case 0, 1, 2:
				id := newID()
				if id, ok := pick(ids("failed")); ok && rng.IntN(2) == 0 {
					return applied(t, id)
				}
				return event(t, projector.TypeMigrationApplied, projector.Applied{
					ID: id, Checksum: fmt.Sprintf("c%d", rng.IntN(1000)), Compatible: ">=1.0.0",
					Transactional: true, DownSQL: "DROP TABLE x", DownChecksum: "d",
				})
			case 3:
				if id, ok := pick(ids("applied")); ok {
					return event(t, projector.TypeMigrationReverted, projector.Reverted{ID: id, Source: projector.DownFromRecorded})
				}
			case 4:
				return event(t, projector.TypeMigrationFailed, projector.Failed{ID: newID(), Checksum: "c", Error: "boom", SQLState: "42P07", Attempt: 1})
			case 5:
				return event(t, projector.TypeMigrationStarted, projector.Started{ID: newID(), Checksum: "c"})
			case 6:
				if id, ok := pick(ids("in doubt")); ok {
					switch rng.IntN(3) {
					case 0:
						return event(t, projector.TypeMigrationApplied, projector.Applied{ID: id, Checksum: model.InDoubt[id].Checksum})
					case 1:
						return event(t, projector.TypeMigrationFailed, projector.Failed{ID: id, Checksum: "c", Error: "half", StatementsDone: rng.IntN(2)})
					default:
						d := []string{projector.ResolvedApplied, projector.ResolvedFailed}[rng.IntN(2)]
						return event(t, projector.TypeMigrationResolved, projector.Resolved{ID: id, Decision: d, Reason: "checked by hand"})
					}
				}
			case 7:
				return event(t, projector.TypeSchemaBaselined, projector.Baselined{Source: "goose", Migrations: []projector.BaselineMigration{{ID: newID(), Checksum: "b1"}, {ID: newID(), Checksum: "b2"}}})
			case 8:
				return event(t, projector.TypeSchemaFingerprinted, projector.Fingerprinted{Fingerprint: fmt.Sprintf("fp%d", rng.IntN(100)), Objects: rng.IntN(100)})
			}
		}
	}

	conn, err := pool.Acquire(ctx) // the Appender's connection
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	var actor string
	if err := conn.QueryRow(ctx, "SELECT current_user").Scan(&actor); err != nil {
		t.Fatal(err)
	}
	state0, head0, err := st.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	app := st.NewAppender(state0, head0)
	appendWith := func(batch []ledger.Event, rollback bool) error {
		sql, err := app.Statement(ctx, ledger.Recording{Actor: actor}, batch...)
		if err != nil {
			return err
		}
		end := "COMMIT"
		if rollback {
			end = "ROLLBACK"
		}
		results, err := conn.Conn().PgConn().Exec(ctx, "BEGIN;\n"+sql+";\n"+end).ReadAll()
		if err != nil || rollback {
			return errors.Join(err, app.Done(nil))
		}
		return app.Done(results[1])
	}

	for step := range 150 {
		// Build a batch valid against the model by folding it on a clone.
		trial := model.Clone()
		var batch []ledger.Event
		for range 1 + rng.IntN(3) {
			e := randomEvent()
			probe := e
			probe.Seq = trial.Seq + 1
			if next, err := projector.Apply(trial.Clone(), probe); err == nil {
				trial = next
				batch = append(batch, e)
			}
		}
		if len(batch) == 0 {
			continue
		}
		rollback, viaAppender := rng.IntN(8) == 0, rng.IntN(2) == 0
		if viaAppender {
			if err := appendWith(batch, rollback); err != nil {
				t.Fatalf("step %d: appender: %d events: %v", step, len(batch), err)
			}
		} else {
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Append(ctx, tx, batch...); err != nil {
				t.Fatalf("step %d: append %d events: %v", step, len(batch), err)
			}
			if rollback {
				err = tx.Rollback(ctx)
			} else {
				err = tx.Commit(ctx)
			}
			if err != nil {
				t.Fatal(err)
			}
			_ = app.Done(nil) // another writer appended: the Appender re-reads
		}

		// The fold of every stored event is the truth.
		var events []ledger.Event
		for e, err := range st.Events(ctx, ledger.Filter{}) {
			if err != nil {
				t.Fatal(err)
			}
			events = append(events, e)
		}
		fold, err := projector.Fold(events)
		if err != nil {
			t.Fatalf("step %d: fold: %v", step, err)
		}
		tables, head, err := st.State(ctx)
		if err != nil {
			t.Fatalf("step %d: state: %v", step, err)
		}
		if d := projector.Diff(fold, tables); d != nil {
			t.Fatalf("step %d: projection tables differ from the fold:\n%v", step, d)
		}
		if viaAppender && !rollback {
			if d := projector.Diff(fold, app.State()); d != nil {
				t.Fatalf("step %d: the Appender's state differs from the fold:\n%v", step, d)
			}
			if app.Head().Seq != head.Seq || !bytes.Equal(app.Head().Hash, head.Hash) || app.Head().Digest != head.Digest {
				t.Fatalf("step %d: the Appender's head %+v, the stored head %+v", step, app.Head(), head)
			}
		}
		checksums := map[string]string{}
		for id, m := range fold.Applied {
			checksums[id] = m.Checksum
		}
		if head.Digest != projector.DigestOf(checksums) {
			t.Fatalf("step %d: head digest %s, digest of the folded applied set %s", step, head.Digest, projector.DigestOf(checksums))
		}
		model = fold
	}
	if rep, err := st.Verify(ctx, nil); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", rep, err)
	}
}
