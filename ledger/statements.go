package ledger

import "strings"

// statements holds the SQL text of every statement, with the schema quoted in.
type statements struct {
	insertHead, head, lockHead, lastEvent, appendFn string
	selectApplied, selectInDoubt, selectFailed      string
	touchedApplied, touchedInDoubt, touchedFailed   string
	events                                          string
	putSnapshot, putStamp                           string
}

const (
	appliedCols   = "id, checksum, seq, applied_at, app_version, actor, host, compatible, transactional, down_checksum, accepted_checksums"
	inDoubtCols   = "id, checksum, seq, started_at, app_version, actor, host, compatible, down_checksum, statements_done, error, left_behind"
	failedCols    = "id, checksum, seq, failed_at, app_version, actor, host, error, sqlstate, statement, attempt"
	headColsPlain = "seq, hash, format, schema_version, digest, in_doubt, fingerprint, fingerprint_objects, fingerprint_seq"
	headCols      = "h.seq, h.hash, h.format, h.schema_version, h.digest, h.in_doubt, h.fingerprint, h.fingerprint_objects, h.fingerprint_seq"
	eventCols     = "seq, id, type, payload_version, payload::text, recorded_at, actor, host, app_version, prev_hash, hash, " + stateCols
	stateCols     = "state_format, state_digest, state_in_doubt, state_schema_version"
)

func newStatements(q string) statements {
	return statements{
		insertHead: "INSERT INTO " + q + ".head (seq, hash, format, digest) VALUES (0, $1, $2, $3)",
		// One row read plus one index probe — the newest two events: the
		// newest whole, and its predecessor for its hash — in one snapshot
		// and without any lock: enough to check the head against the state
		// the newest event committed, that event's hash and its link. A row
		// per event, newest first (one, with NULLs, when there is none; see
		// scanHead). One probe of events, where a join for the predecessor
		// was a second: a fresh backend plans it ~0.25 ms faster, and
		// planning is most of a startup check's time on the server.
		head: "SELECT " + headCols + ", e.seq, e.hash, e.id, e.type, e.payload_version, e.payload, e.recorded_at, " +
			"e.actor, e.host, e.app_version, e.prev_hash, e.state_format, e.state_digest, e.state_in_doubt, e.state_schema_version " +
			"FROM " + q + ".head h " +
			"LEFT JOIN LATERAL (SELECT * FROM " + q + ".events ORDER BY seq DESC LIMIT 2) e ON true ORDER BY e.seq DESC",
		lockHead: "SELECT " + headCols + " FROM " + q + ".head h FOR UPDATE",
		// A statement of its own after the lock, so its snapshot sees every
		// event committed before the lock was granted.
		lastEvent: "SELECT e.seq, e.hash, e." + strings.ReplaceAll(stateCols, ", ", ", e.") + ", clock_timestamp(), current_user " +
			"FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT * FROM " + q + ".events ORDER BY seq DESC LIMIT 1) e ON true",
		appendFn: "SELECT " + headColsPlain + " FROM " + q + ".append($1::bigint, $2::bytea, $3::timestamptz, $4::text, $5::jsonb, $6::text, $7::int, $8::bigint, $9::text)",
		// In no order: the rows go into maps by id (queueRows). An ORDER
		// BY had a fresh backend cost the index's paths for it — ~0.3 ms
		// for applied's (num, name, id), ~0.15 each for in_doubt's and
		// failed's id — on every status, and every check that finds a
		// migration pending.
		selectApplied:  "SELECT " + appliedCols + " FROM " + q + ".applied",
		selectInDoubt:  "SELECT " + inDoubtCols + " FROM " + q + ".in_doubt",
		selectFailed:   "SELECT " + failedCols + " FROM " + q + ".failed",
		touchedApplied: "SELECT " + appliedCols + " FROM " + q + ".applied WHERE id = ANY($1)",
		touchedInDoubt: "SELECT " + inDoubtCols + " FROM " + q + ".in_doubt WHERE id = ANY($1)",
		touchedFailed:  "SELECT " + failedCols + " FROM " + q + ".failed WHERE id = ANY($1)",
		events:         "SELECT " + eventCols + " FROM " + q + ".events",
		putSnapshot:    "INSERT INTO " + q + ".snapshots (fingerprint, objects, object_count) VALUES ($1, $2, $3) ON CONFLICT (fingerprint) DO NOTHING",
		putStamp:       "INSERT INTO " + q + ".catalog_stamps (stamp, fingerprint) VALUES ($1, $2) ON CONFLICT (stamp) DO NOTHING",
	}
}
