package ledger

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/schema-ledger/ledger/projector"
)

// Append records events inside the caller's transaction tx, which must be
// open and at READ COMMITTED (the default). It locks the head row — call it
// after the transaction's own work (a migration's DDL), so the lock is held
// only until commit — then assigns each event its seq, id, time and actor,
// chains the hashes, folds each event into the projection tables exactly as
// projector.Step defines it, updates the head and notifies Channel() with
// the new seq. Two round trips, whatever the ledger's length.
//
// If the caller rolls back, nothing was recorded. An event the fold rejects
// (unknown type, newer payload version, a second migration.applied for the
// same id, …) fails the append before anything is written; the caller's
// transaction should then be rolled back.
//
// The store fills Seq, ID, RecordedAt (the server's clock), Actor (the
// database user), PrevHash and Hash; Host and AppVersion default to the
// store's. It returns the new head.
func (s *Store) Append(ctx context.Context, tx pgx.Tx, events ...Event) (Head, error) {
	return s.append(ctx, tx, false, events)
}

// append is Append; upgrading says the ledger is being upgraded in tx, so
// its newest event may predate committed state.
func (s *Store) append(ctx context.Context, tx pgx.Tx, upgrading bool, events []Event) (Head, error) {
	if len(events) == 0 {
		return Head{}, fmt.Errorf("append: no events")
	}
	if st := tx.Conn().PgConn().TxStatus(); st != 'T' {
		return Head{}, fmt.Errorf("%w (transaction status %q)", ErrNotInTransaction, st)
	}
	var ids []string
	for _, e := range events {
		ids = append(ids, projector.IDs(e)...)
	}

	// Round trip 1: lock the head, then read (in new snapshots) the newest
	// event, the server's clock and user, and the projection rows the events touch.
	st := projector.NewState()
	var (
		r     = headRow{upgrading: upgrading}
		now   time.Time
		actor string
	)
	b := &pgx.Batch{}
	// The caller's search_path, whatever it is, is set aside for the
	// append and given back after it (round trip 2): the append function
	// and its triggers call built-ins (encode, digest of the chain) by their
	// bare names, and a schema listed before pg_catalog could shadow them.
	var callerPath string
	b.Queue(recordPathSQL).QueryRow(func(row pgx.Row) error { return row.Scan(&callerPath, nil) })
	b.Queue(s.sql.lockHead).QueryRow(func(row pgx.Row) error { return row.Scan(r.dest()...) })
	b.Queue(s.sql.lastEvent).QueryRow(func(row pgx.Row) error {
		r.lastLoaded = true
		return row.Scan(append(append([]any{&r.lastSeq, &r.lastHash}, r.stateDest()...), &now, &actor)...)
	})
	if len(ids) > 0 {
		queueRows(b, s.sql.touchedApplied, ids, st.Applied, scanApplied)
		queueRows(b, s.sql.touchedInDoubt, ids, st.InDoubt, scanInDoubt)
		queueRows(b, s.sql.touchedFailed, ids, st.Failed, scanFailed)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return Head{}, &CorruptHeadError{Schema: s.schema, Reason: "the head row is missing"}
		}
		return Head{}, s.WriteErr(err) // the head's lock is a write's
	}
	h, err := s.check(&r)
	if err != nil {
		return Head{}, err
	}
	st.Seq, st.Format, st.Digest, st.SchemaVersion = h.Seq, h.Format, h.Digest, h.SchemaVersion
	if h.Seq == 0 {
		st.Format = 0 // the fold learns the format from ledger.initialized
	}

	// Round trip 2: one call records the events, their projection rows, the
	// head and the notification.
	w := &pgx.Batch{}
	call, err := s.prepare(&st, nil, now, Recording{Actor: actor}, events)
	if err != nil {
		return Head{}, err
	}
	out := call.queue(w, s.sql.appendFn)
	w.Queue("SELECT pg_catalog.set_config('search_path', $1, true)", callerPath)
	if err := tx.SendBatch(ctx, w).Close(); err != nil {
		return Head{}, fmt.Errorf("append: %w", s.WriteErr(err))
	}
	out.upgrading = upgrading
	return s.check(out)
}

// RecordSearchPath is the search_path every record of the ledger runs
// under, whoever's transaction it is in: the append function and its
// triggers call built-ins (encode, the chain's digest) by their bare
// names, which a schema listed before pg_catalog could shadow.
const RecordSearchPath = "pg_catalog, pg_temp"

// recordPathSQL reads the session's search_path and sets RecordSearchPath
// for the rest of the transaction.
const recordPathSQL = "SELECT pg_catalog.current_setting('search_path'), pg_catalog.set_config('search_path', '" + RecordSearchPath + "', true)"

// appendCall is one call of the append function, ready to run.
type appendCall struct {
	expSeq  *int64
	expHash []byte
	at      *time.Time // nil: the server's clock, read under the head lock
	actor   string
	// actorSQL, if set, is the SQL expression text gives for the actor
	// instead (current_user, for a caller that has not read it).
	actorSQL string
	ops      string
	fp       *projector.Fingerprint
	channel  string
	// What the events put into the projection, for stamping with the
	// server's time once it is known (Appender).
	baseSeq                           int64 // the head's seq before the call
	putApplied, putInDoubt, putFailed []string
}

// prepare folds events into *st in place — in memory first, so a rejected
// event writes nothing — and prepares the one call that records them: the
// append function gets each event and, in order, the projection rows its
// change puts or deletes, then updates the head and notifies. With expect,
// the call first checks the head is where expect says it is; without, the
// caller has locked it. A zero at leaves the time to the server's clock;
// the events are then folded with a placeholder time.
func (s *Store) prepare(st *projector.State, expect *Head, at time.Time, rec Recording, events []Event) (*appendCall, error) {
	call := &appendCall{actor: rec.Actor, channel: s.Channel(), baseSeq: st.Seq}
	if !at.IsZero() {
		at = at.UTC().Truncate(time.Microsecond)
		call.at = &at
	}
	var ops []any
	for i := range events {
		e := events[i]
		if !projector.KnownType(e.Type) {
			return nil, fmt.Errorf("append event %d: %w", i+1, &projector.UnknownTypeError{Type: e.Type})
		}
		if !json.Valid(e.Payload) {
			return nil, fmt.Errorf("append event %d (%s): payload is not valid JSON", i+1, e.Type)
		}
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		e.Seq, e.ID, e.RecordedAt, e.Actor = st.Seq+1, id.String(), at, rec.Actor
		if e.Host == "" {
			e.Host = s.host
		}
		if e.AppVersion == "" {
			e.AppVersion = s.appVersion
		}
		c, err := projector.Step(st, e)
		if err != nil {
			return nil, fmt.Errorf("append %s: %w", e.Type, err)
		}
		// The event's rows first: the function derives what the event
		// commits from the tables when the caller holds only part of the state.
		if ops, err = call.changeOps(ops, c); err != nil {
			return nil, err
		}
		ev := eventOp{Op: "event", Seq: e.Seq, ID: e.ID, Type: e.Type, PayloadVersion: e.PayloadVersion, Payload: e.Payload, Host: e.Host, AppVersion: e.AppVersion, XactDuration: rec.Timed,
			StateFormat: st.Format, StateDigest: `\x` + hex.EncodeToString(st.Digest[:])}
		if expect != nil {
			// The caller holds the whole state: what the event leaves is known.
			n, v := len(st.InDoubt), st.SchemaVersion
			ev.StateInDoubt, ev.StateSchemaVersion = &n, &v
		}
		ops = append(ops, ev)
		if c.Fingerprint != nil {
			call.fp = c.Fingerprint
		}
	}
	opsJSON, err := json.Marshal(ops)
	if err != nil {
		return nil, err
	}
	call.ops = string(opsJSON)
	if expect != nil {
		call.expSeq, call.expHash = &expect.Seq, expect.Hash
	}
	return call, nil
}

// queue adds the call to b; the returned head row is filled when b runs.
func (c *appendCall) queue(b *pgx.Batch, sql string) *headRow {
	var fpValue *string
	var fpObjects *int32
	var fpSeq *int64
	if c.fp != nil {
		objects := int32(c.fp.Objects)
		fpValue, fpObjects, fpSeq = &c.fp.Value, &objects, &c.fp.Seq
	}
	out := &headRow{}
	b.Queue(sql, c.expSeq, c.expHash, c.at, c.actor, c.ops, fpValue, fpObjects, fpSeq, c.channel).
		QueryRow(func(row pgx.Row) error { return row.Scan(out.dest()...) })
	return out
}

// text renders the call as one SELECT with its values quoted in, for the
// simple query protocol, where it can share a round trip with a
// migration's SQL and the COMMIT. Its one row, all text: the head's
// columns (hash and digest in hex) and the time the events were recorded
// at, in epoch microseconds; parseTextHead reads it.
func (c *appendCall) text(schema string) (string, error) {
	var bad bool
	text := func(v string) string {
		lit, ok := textLit(v)
		bad = bad || !ok
		return lit
	}
	fpValue, fpObjects, fpSeq := "NULL::text", "NULL::int", "NULL::bigint"
	if c.fp != nil {
		fpValue, fpObjects, fpSeq = text(c.fp.Value), strconv.Itoa(c.fp.Objects), strconv.FormatInt(c.fp.Seq, 10)
	}
	actor := c.actorSQL
	if actor == "" {
		actor = text(c.actor)
	}
	args := []string{
		intLit(c.expSeq), byteaLit(c.expHash), timeLit(c.at), actor, text(c.ops) + "::jsonb",
		fpValue, fpObjects, fpSeq, text(c.channel),
	}
	if bad {
		return "", fmt.Errorf("append: a value contains a NUL byte, which PostgreSQL text cannot hold")
	}
	return "SELECT seq, encode(hash, 'hex'), format, schema_version, encode(digest, 'hex'), in_doubt, " +
		"fingerprint, fingerprint_objects, fingerprint_seq, (extract(epoch FROM updated_at) * 1000000)::bigint " +
		"FROM " + schema + ".append(" + strings.Join(args, ", ") + ")", nil
}

// textLit quotes s as an escape string constant, which reads the same
// whatever standard_conforming_strings says.
func textLit(s string) (string, bool) {
	if strings.IndexByte(s, 0) >= 0 {
		return "", false
	}
	return "E'" + litEscaper.Replace(s) + "'::text", true
}

var litEscaper = strings.NewReplacer(`\`, `\\`, `'`, `''`)

func intLit(v *int64) string {
	if v == nil {
		return "NULL::bigint"
	}
	return strconv.FormatInt(*v, 10)
}

func byteaLit(b []byte) string {
	if b == nil {
		return "NULL::bytea"
	}
	return "decode('" + hex.EncodeToString(b) + "', 'hex')"
}

func timeLit(t *time.Time) string {
	if t == nil {
		return "NULL::timestamptz"
	}
	return "to_timestamp(0) + interval '" + strconv.FormatInt(t.UnixMicro(), 10) + " microseconds'"
}

// parseTextHead reads the row of an appendCall's text statement.
func (s *Store) parseTextHead(res *pgconn.Result) (*headRow, time.Time, error) {
	if res == nil || len(res.Rows) != 1 || len(res.Rows[0]) != 10 {
		return nil, time.Time{}, fmt.Errorf("append: unexpected result from the append function")
	}
	row := res.Rows[0]
	r := &headRow{}
	var at int64
	var errs []error
	num := func(i int) int64 {
		n, err := strconv.ParseInt(string(row[i]), 10, 64)
		errs = append(errs, err)
		return n
	}
	optNum := func(i int) *int64 {
		if row[i] == nil {
			return nil
		}
		n := num(i)
		return &n
	}
	unhex := func(i int) []byte {
		b, err := hex.DecodeString(string(row[i]))
		errs = append(errs, err)
		return b
	}
	r.Seq, r.Hash, r.Format, r.SchemaVersion = num(0), unhex(1), int(num(2)), string(row[3])
	r.digest, r.InDoubt = unhex(4), int(num(5))
	if row[6] != nil {
		fp := string(row[6])
		r.fp = &fp
	}
	if n := optNum(7); n != nil {
		v := int32(*n)
		r.fpObjects = &v
	}
	r.fpSeq = optNum(8)
	at = num(9)
	if err := errors.Join(errs...); err != nil {
		return nil, time.Time{}, fmt.Errorf("append: reading the new head: %w", err)
	}
	return r, time.UnixMicro(at).UTC(), nil
}

// The operations the append function performs, as JSON.
type (
	eventOp struct {
		Op             string          `json:"op"`
		Seq            int64           `json:"seq"`
		ID             string          `json:"id"`
		Type           string          `json:"type"`
		PayloadVersion int             `json:"payload_version"`
		Payload        json.RawMessage `json:"payload"`
		Host           string          `json:"host"`
		AppVersion     string          `json:"app_version"`
		// The server sets the payload's duration_ms to the time since
		// the transaction began.
		XactDuration bool `json:"xact_duration,omitempty"`
		// The state the event leaves, committed in its hash; in-doubt
		// count and schema version nil: derived by the function.
		StateFormat        int     `json:"state_format"`
		StateDigest        string  `json:"state_digest"` // bytea input: \x and hex
		StateInDoubt       *int    `json:"state_in_doubt,omitempty"`
		StateSchemaVersion *string `json:"state_schema_version,omitempty"`
	}
	idOp struct {
		Op string `json:"op"`
		ID string `json:"id"`
	}
	rowOp struct {
		Op  string `json:"op"`
		Row any    `json:"row"`
	}
	// Rows carry the projection tables' column names.
	appliedRow struct {
		ID            string   `json:"id"`
		Num           string   `json:"num"`
		Name          string   `json:"name"`
		Checksum      string   `json:"checksum"`
		Seq           int64    `json:"seq"`
		AppliedAt     *string  `json:"applied_at,omitempty"`
		AppVersion    string   `json:"app_version"`
		Actor         *string  `json:"actor,omitempty"`
		Host          string   `json:"host"`
		Compatible    string   `json:"compatible"`
		Transactional bool     `json:"transactional"`
		DownChecksum  string   `json:"down_checksum"`
		Accepted      []string `json:"accepted_checksums"`
	}
	inDoubtRow struct {
		ID             string   `json:"id"`
		Checksum       string   `json:"checksum"`
		Seq            int64    `json:"seq"`
		StartedAt      *string  `json:"started_at,omitempty"`
		AppVersion     string   `json:"app_version"`
		Actor          *string  `json:"actor,omitempty"`
		Host           string   `json:"host"`
		Compatible     string   `json:"compatible"`
		DownChecksum   string   `json:"down_checksum"`
		StatementsDone int      `json:"statements_done"`
		Error          string   `json:"error"`
		LeftBehind     []string `json:"left_behind"`
	}
	failedRow struct {
		ID         string  `json:"id"`
		Checksum   string  `json:"checksum"`
		Seq        int64   `json:"seq"`
		FailedAt   *string `json:"failed_at,omitempty"`
		AppVersion string  `json:"app_version"`
		Actor      *string `json:"actor,omitempty"`
		Host       string  `json:"host"`
		Error      string  `json:"error"`
		SQLState   string  `json:"sqlstate"`
		Statement  string  `json:"statement"`
		Attempt    int     `json:"attempt"`
	}
)

// stamp gives a projection row's time and actor as the append function
// takes them: nil for a row made by an event of this call — the function
// sets the event's — and the recorded values for a row an earlier event
// made (an in-doubt migration's row updated by its failure). fresh lists
// the ids of rows made here, for the Appender to stamp with the server's time.
func (call *appendCall) stamp(fresh *[]string, id string, seq int64, at time.Time, actor string) (*string, *string) {
	if seq > call.baseSeq {
		*fresh = append(*fresh, id)
		return nil, nil
	}
	t := at.UTC().Format("2006-01-02T15:04:05.000000Z07:00") // exact, for timestamptz input
	return &t, &actor
}

// changeOps appends the row operations of one projection change, in the
// order projector.State.commit applies them.
func (call *appendCall) changeOps(ops []any, c projector.Change) ([]any, error) {
	for _, id := range c.DelApplied {
		ops = append(ops, idOp{"del_applied", id})
	}
	for _, m := range c.PutApplied {
		num, name, err := projector.ParseID(m.ID)
		if err != nil {
			return nil, err
		}
		at, actor := call.stamp(&call.putApplied, m.ID, m.Seq, m.AppliedAt, m.Actor)
		ops = append(ops, rowOp{"put_applied", appliedRow{
			ID: m.ID, Num: cmp.Or(num, "0"), Name: name, Checksum: m.Checksum, Seq: m.Seq, AppliedAt: at,
			AppVersion: m.AppVersion, Actor: actor, Host: m.Host, Compatible: m.Compatible,
			Transactional: m.Transactional, DownChecksum: m.DownChecksum, Accepted: append([]string{}, m.Accepted...),
		}})
	}
	for _, id := range c.DelInDoubt {
		ops = append(ops, idOp{"del_in_doubt", id})
	}
	for _, d := range c.PutInDoubt {
		at, actor := call.stamp(&call.putInDoubt, d.ID, d.Seq, d.StartedAt, d.Actor)
		ops = append(ops, rowOp{"put_in_doubt", inDoubtRow{
			ID: d.ID, Checksum: d.Checksum, Seq: d.Seq, StartedAt: at, AppVersion: d.AppVersion,
			Actor: actor, Host: d.Host, Compatible: d.Compatible, DownChecksum: d.DownChecksum,
			StatementsDone: d.StatementsDone, Error: d.Error, LeftBehind: append([]string{}, d.LeftBehind...),
		}})
	}
	for _, id := range c.DelFailed {
		ops = append(ops, idOp{"del_failed", id})
	}
	for _, f := range c.PutFailed {
		at, actor := call.stamp(&call.putFailed, f.ID, f.Seq, f.FailedAt, f.Actor)
		ops = append(ops, rowOp{"put_failed", failedRow{
			ID: f.ID, Checksum: f.Checksum, Seq: f.Seq, FailedAt: at, AppVersion: f.AppVersion,
			Actor: actor, Host: f.Host, Error: f.Error, SQLState: f.SQLState, Statement: f.Statement, Attempt: f.Attempt,
		}})
	}
	return ops, nil
}
