package migrations

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

// SourceApplied is when the tool an adopted migration came from applied it,
// as that tool recorded it: goose's tstamp, Flyway's installed_on. The
// ledger's own time for the migration (projector.Migration.AppliedAt) is
// when it was adopted; this is when it really ran.
type SourceApplied struct {
	From string `json:"from"` // goose, flyway
	// AppliedAt is the tool's timestamp without time zone, read as UTC (the
	// time zone of the session that wrote it was not recorded).
	AppliedAt time.Time `json:"applied_at"`
	Text      string    `json:"text"` // as the tool stored it
}

// sourceTimeLayout reads PostgreSQL's text of a timestamp without time zone.
const sourceTimeLayout = "2006-01-02 15:04:05.999999"

// SourceTimes reads, for each migration the ledger records as applied by
// adoption from a tool that kept when it applied it, that time — up to the
// event untilSeq (0: all). A migration reverted since, or applied again by
// ledger, is not in it. A ledger that never adopted anything costs one
// indexed read.
func SourceTimes(ctx context.Context, store *ledger.Store, untilSeq int64) (map[string]SourceApplied, error) {
	adopted := false
	for _, err := range store.Events(ctx, ledger.Filter{Types: []string{projector.TypeSchemaBaselined}, UntilSeq: untilSeq, Limit: 1}) {
		if err != nil {
			return nil, err
		}
		adopted = true
	}
	return sourceTimes(ctx, store, untilSeq, adopted)
}

// sourceTimes is SourceTimes for a caller that knows whether the ledger
// adopted anything (a probe beside its state read): nothing more is read
// if it did not.
func sourceTimes(ctx context.Context, store *ledger.Store, untilSeq int64, adopted bool) (map[string]SourceApplied, error) {
	out := map[string]SourceApplied{}
	if !adopted {
		return out, nil
	}
	for e, err := range store.Events(ctx, ledger.Filter{Types: []string{projector.TypeMigrationApplied, projector.TypeMigrationReverted}, UntilSeq: untilSeq}) {
		if err != nil {
			return nil, err
		}
		if e.Type == projector.TypeMigrationReverted {
			var p projector.Reverted
			if err := json.Unmarshal(e.Payload, &p); err != nil {
				return nil, fmt.Errorf("event %d: %w", e.Seq, err)
			}
			delete(out, p.ID)
			continue
		}
		var p projector.Applied
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return nil, fmt.Errorf("event %d: %w", e.Seq, err)
		}
		delete(out, p.ID)
		if p.Adopted == nil || p.Adopted.AppliedAt == "" {
			continue
		}
		t, err := time.Parse(sourceTimeLayout, p.Adopted.AppliedAt)
		if err != nil {
			continue // kept as the tool wrote it, but not a time we can read
		}
		out[p.ID] = SourceApplied{From: p.Adopted.From, AppliedAt: t.UTC(), Text: p.Adopted.AppliedAt}
	}
	return out, nil
}
