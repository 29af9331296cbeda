package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/schema-ledger/ledger/projector"
)

// AsOf is a moment of the ledger's past: just after event Seq, or (Seq
// zero) just after the last event recorded at or before Time.
type AsOf struct {
	Seq  int64
	Time time.Time
}

func (a AsOf) String() string {
	if a.Seq > 0 {
		return fmt.Sprintf("seq %d", a.Seq)
	}
	return a.Time.UTC().Format(time.RFC3339Nano)
}

// StateAsOf is the projection as it was at the moment at: the fold of the
// events up to it — no bookkeeping of its own, so it says what the log
// says. It also returns the seq it folded up to (0: the ledger was empty
// then). A time selects every event up to the last one recorded at or
// before it, so the fold is always a prefix of the log. It takes no lock.
func (s *Store) StateAsOf(ctx context.Context, at AsOf) (projector.State, int64, error) {
	state := projector.NewState()
	until := at.Seq
	switch {
	case at.Seq < 0:
		return state, 0, fmt.Errorf("as of seq %d: want a positive seq", at.Seq)
	case at.Seq > 0:
		head, err := s.Head(ctx)
		if err != nil {
			return state, 0, err
		}
		if at.Seq > head.Seq {
			return state, 0, fmt.Errorf("as of seq %d: ledger schema %q holds only %d events", at.Seq, s.schema, head.Seq)
		}
	default:
		var last *int64
		err := s.db.QueryRow(ctx, "SELECT max(seq) FROM "+s.q+".events WHERE recorded_at <= $1", at.Time).Scan(&last)
		if err != nil {
			return state, 0, s.mapErr(err)
		}
		if last == nil {
			return state, 0, nil
		}
		until = *last
	}
	for e, err := range s.Events(ctx, Filter{UntilSeq: until}) {
		if err != nil {
			return state, 0, err
		}
		if _, err := projector.Step(&state, e); err != nil {
			return state, 0, fmt.Errorf("fold event %d: %w", e.Seq, err)
		}
	}
	return state, until, nil
}
