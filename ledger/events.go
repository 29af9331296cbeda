package ledger

import (
	"context"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Filter selects events for Events. Zero fields select everything; every set
// field narrows the selection.
type Filter struct {
	AfterSeq    int64     // only seq > AfterSeq
	UntilSeq    int64     // only seq <= UntilSeq (0: no bound)
	Types       []string  // only these event types
	Since       time.Time // only recorded_at >= Since
	Until       time.Time // only recorded_at < Until
	Actor       string    // only events recorded by this database user
	MigrationID string    // only events about this migration
	AppVersion  string    // only events recorded by this release
	Limit       int       // at most this many (0: no limit)
	Newest      bool      // newest first (with Limit: the last Limit events)
}

// query builds the SQL and arguments of f. Each filter maps to a predicate an
// index serves: seq (primary key), (type, seq), recorded_at, (actor, seq),
// (migration_id, seq).
func (s *Store) query(f Filter) (string, []any) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if f.AfterSeq > 0 {
		where = append(where, "seq > "+arg(f.AfterSeq))
	}
	if f.UntilSeq > 0 {
		where = append(where, "seq <= "+arg(f.UntilSeq))
	}
	if len(f.Types) > 0 {
		where = append(where, "type = ANY("+arg(f.Types)+")")
	}
	if !f.Since.IsZero() {
		where = append(where, "recorded_at >= "+arg(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "recorded_at < "+arg(f.Until))
	}
	if f.Actor != "" {
		where = append(where, "actor = "+arg(f.Actor))
	}
	if f.MigrationID != "" {
		where = append(where, "migration_id = "+arg(f.MigrationID))
	}
	if f.AppVersion != "" {
		where = append(where, "app_version = "+arg(f.AppVersion))
	}
	sql := s.sql.events
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	if f.Newest {
		sql += " ORDER BY seq DESC"
	} else {
		sql += " ORDER BY seq"
	}
	if f.Limit > 0 {
		sql += " LIMIT " + arg(f.Limit)
	}
	return sql, args
}

// Events streams the events f selects, in seq order (or newest first), one
// row at a time: memory stays constant however many match. It takes no lock.
// Stop ranging to stop early; an error ends the sequence.
func (s *Store) Events(ctx context.Context, f Filter) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if f.Limit < 0 {
			yield(Event{}, fmt.Errorf("events: negative limit %d", f.Limit))
			return
		}
		sql, args := s.query(f)
		rows, err := s.db.Query(ctx, sql, args...)
		if err != nil {
			yield(Event{}, s.mapErr(err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			e, _, err := scanEvent(rows)
			if err != nil {
				yield(Event{}, err)
				return
			}
			if !yield(e, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(Event{}, s.mapErr(err))
		}
	}
}

// Event reads one event by seq.
func (s *Store) Event(ctx context.Context, seq int64) (Event, error) {
	for e, err := range s.Events(ctx, Filter{AfterSeq: seq - 1, UntilSeq: seq}) {
		return e, err
	}
	return Event{}, fmt.Errorf("ledger schema %q has no event with seq %d", s.schema, seq)
}

// scanEvent scans one row of eventCols; it also returns payload::text, the
// form the hash covers.
func scanEvent(rows pgx.Rows) (Event, string, error) {
	var e Event
	var payload string
	var id [16]byte
	var l lastEvent
	err := rows.Scan(&e.Seq, &id, &e.Type, &e.PayloadVersion, &payload, &e.RecordedAt, &e.Actor, &e.Host, &e.AppVersion, &e.PrevHash, &e.Hash,
		&l.stateFormat, &l.stateDigest, &l.stateInDoubt, &l.stateSchemaVersion)
	if err != nil {
		return e, "", err
	}
	if e.State, err = l.committed(); err != nil {
		return e, "", fmt.Errorf("event %d: committed state: %w", e.Seq, err)
	}
	e.ID = uuid.UUID(id).String()
	e.Payload = []byte(payload)
	e.RecordedAt = e.RecordedAt.UTC()
	return e, payload, nil
}
