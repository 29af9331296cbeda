package cli

import (
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/projector"
)

// csvHeader is history --format csv's first line: the columns of the
// ledger.timeline view that a spreadsheet wants, and the hash.
var csvHeader = []string{"seq", "recorded_at", "type", "migration_id", "release", "db_user", "host", "duration_ms", "sqlstate", "detail", "hash"}

// historyCSV writes the events f selects as CSV, oldest first.
func (e *env) historyCSV(ctx context.Context, store *ledger.Store, f ledger.Filter) int {
	w := csv.NewWriter(e.stdout)
	if err := w.Write(csvHeader); err != nil {
		return e.fail(err)
	}
	var rows [][]string
	for ev, err := range store.Events(ctx, f) {
		if err != nil {
			return e.fail(err)
		}
		row := csvRow(ev)
		if f.Newest { // fetched newest first; written in order
			rows = append(rows, row)
			continue
		}
		if err := w.Write(row); err != nil {
			return e.fail(err)
		}
	}
	slices.Reverse(rows)
	if err := w.WriteAll(rows); err != nil {
		return e.fail(err)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return e.fail(err)
	}
	return exitOK
}

func csvRow(ev ledger.Event) []string {
	var p struct {
		DurationMS *int64 `json:"duration_ms"`
		SQLState   string `json:"sqlstate"`
	}
	_ = json.Unmarshal(ev.Payload, &p)
	duration := ""
	if p.DurationMS != nil {
		duration = strconv.FormatInt(*p.DurationMS, 10)
	}
	return []string{
		strconv.FormatInt(ev.Seq, 10), ev.RecordedAt.UTC().Format(time.RFC3339Nano), ev.Type,
		strings.Join(projector.IDs(ev), ","), ev.AppVersion, ev.Actor, ev.Host, duration, p.SQLState,
		detail(ev), hex.EncodeToString(ev.Hash),
	}
}
