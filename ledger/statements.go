package ledger

// statements holds the SQL text of every statement, with the schema quoted in.
type statements struct {
	insertHead, head, lockHead, lastEvent, appendFn string
	selectApplied, selectInDoubt, selectFailed      string
	touchedApplied, touchedInDoubt, touchedFailed   string
	events                                          string
}

const (
	appliedCols   = "id, checksum, seq, applied_at, app_version, actor, host, compatible, transactional, down_checksum"
	inDoubtCols   = "id, checksum, seq, started_at, app_version, actor, host, compatible, down_checksum, statements_done, error"
	failedCols    = "id, checksum, seq, failed_at, app_version, actor, host, error, sqlstate, statement, attempt"
	headColsPlain = "seq, hash, format, schema_version, digest, in_doubt, fingerprint, fingerprint_objects, fingerprint_seq"
	headCols      = "h.seq, h.hash, h.format, h.schema_version, h.digest, h.in_doubt, h.fingerprint, h.fingerprint_objects, h.fingerprint_seq"
	eventCols     = "seq, id, type, payload_version, payload::text, recorded_at, actor, host, app_version, prev_hash, hash"
)

func newStatements(q string) statements {
	return statements{
		insertHead: "INSERT INTO " + q + ".head (seq, hash, format, digest) VALUES (0, $1, $2, $3)",
		// One row read plus one index probe for the newest event, in one
		// snapshot and without any lock.
		head: "SELECT " + headCols + ", e.seq, e.hash FROM " + q + ".head h " +
			"LEFT JOIN LATERAL (SELECT seq, hash FROM " + q + ".events ORDER BY seq DESC LIMIT 1) e ON true",
		lockHead: "SELECT " + headCols + " FROM " + q + ".head h FOR UPDATE",
		// A statement of its own after the lock, so its snapshot sees every
		// event committed before the lock was granted.
		lastEvent:      "SELECT (SELECT seq FROM " + q + ".events ORDER BY seq DESC LIMIT 1), (SELECT hash FROM " + q + ".events ORDER BY seq DESC LIMIT 1), clock_timestamp(), current_user",
		appendFn:       "SELECT " + headColsPlain + " FROM " + q + ".append($1::bigint, $2::bytea, $3::timestamptz, $4::text, $5::jsonb, $6::bytea, $7::int, $8::text, $9::int, $10::bigint, $11::text, $12::text, $13::int)",
		selectApplied:  "SELECT " + appliedCols + " FROM " + q + ".applied ORDER BY num, name, id",
		selectInDoubt:  "SELECT " + inDoubtCols + " FROM " + q + ".in_doubt ORDER BY id",
		selectFailed:   "SELECT " + failedCols + " FROM " + q + ".failed ORDER BY id",
		touchedApplied: "SELECT " + appliedCols + " FROM " + q + ".applied WHERE id = ANY($1)",
		touchedInDoubt: "SELECT " + inDoubtCols + " FROM " + q + ".in_doubt WHERE id = ANY($1)",
		touchedFailed:  "SELECT " + failedCols + " FROM " + q + ".failed WHERE id = ANY($1)",
		events:         "SELECT " + eventCols + " FROM " + q + ".events",
	}
}
