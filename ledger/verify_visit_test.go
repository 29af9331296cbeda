package ledger_test

import (
	"bytes"
	"context"
	"fmt"
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
		if i >= len(seen) || seen[i].Seq != e.Seq || seen[i].Type != e.Type || !bytes.Equal(seen[i].Hash, e.Hash) || !bytes.Equal(seen[i].PrevHash, e.PrevHash) || string(seen[i].Payload) != string(e.Payload) {
			t.Fatalf("visited event %d differs from the stored one %d", i, e.Seq)
		}
		i++
	}
	if i != len(seen) || int64(i) != rep.Events {
		t.Fatalf("visited %d events, stored %d, walked %d", len(seen), i, rep.Events)
	}
}
