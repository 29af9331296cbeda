package ledger

// statements holds the SQL text of every statement, with the schema quoted in.
type statements struct {
	insertHead, head, lockHead, lastEvent, insertEvent, updateHead, notify string
	selectApplied, selectInDoubt, selectFailed                             string
	touchedApplied, touchedInDoubt, touchedFailed                          string
	insertApplied, deleteApplied                                           string
	upsertInDoubt, deleteInDoubt, upsertFailed, deleteFailed               string
	events                                                                 string
}

const (
	appliedCols = "id, checksum, seq, applied_at, app_version, actor, host, compatible, transactional, down_checksum"
	inDoubtCols = "id, checksum, seq, started_at, app_version, actor, host, compatible, down_checksum, statements_done, error"
	failedCols  = "id, checksum, seq, failed_at, app_version, actor, host, error, sqlstate, statement, attempt"
	headCols    = "h.seq, h.hash, h.format, h.schema_version, h.digest, h.in_doubt, h.fingerprint, h.fingerprint_objects, h.fingerprint_seq"
	eventCols   = "seq, id, type, payload_version, payload::text, recorded_at, actor, host, app_version, prev_hash, hash"
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
		lastEvent:   "SELECT (SELECT seq FROM " + q + ".events ORDER BY seq DESC LIMIT 1), (SELECT hash FROM " + q + ".events ORDER BY seq DESC LIMIT 1), clock_timestamp(), current_user",
		insertEvent: "SELECT " + q + ".append_event($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9)",
		updateHead: "UPDATE " + q + ".head h SET seq = $1, hash = (SELECT hash FROM " + q + ".events WHERE seq = $1), " +
			"digest = $2, format = $3, " +
			"schema_version = coalesce((SELECT id FROM " + q + ".applied ORDER BY num DESC, name DESC, id DESC LIMIT 1), ''), " +
			"in_doubt = (SELECT count(*) FROM " + q + ".in_doubt), " +
			"fingerprint = coalesce($4, h.fingerprint), fingerprint_objects = coalesce($5, h.fingerprint_objects), fingerprint_seq = coalesce($6, h.fingerprint_seq), " +
			"updated_at = clock_timestamp() RETURNING " + headCols,
		notify:         "SELECT pg_notify($1, $2)",
		selectApplied:  "SELECT " + appliedCols + " FROM " + q + ".applied ORDER BY num, name, id",
		selectInDoubt:  "SELECT " + inDoubtCols + " FROM " + q + ".in_doubt ORDER BY id",
		selectFailed:   "SELECT " + failedCols + " FROM " + q + ".failed ORDER BY id",
		touchedApplied: "SELECT " + appliedCols + " FROM " + q + ".applied WHERE id = ANY($1)",
		touchedInDoubt: "SELECT " + inDoubtCols + " FROM " + q + ".in_doubt WHERE id = ANY($1)",
		touchedFailed:  "SELECT " + failedCols + " FROM " + q + ".failed WHERE id = ANY($1)",
		insertApplied: "INSERT INTO " + q + ".applied (num, name, " + appliedCols + ") " +
			"VALUES ($1::numeric, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
		deleteApplied: "DELETE FROM " + q + ".applied WHERE id = $1",
		upsertInDoubt: "INSERT INTO " + q + ".in_doubt (" + inDoubtCols + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) " +
			"ON CONFLICT (id) DO UPDATE SET checksum = excluded.checksum, seq = excluded.seq, started_at = excluded.started_at, " +
			"app_version = excluded.app_version, actor = excluded.actor, host = excluded.host, compatible = excluded.compatible, " +
			"down_checksum = excluded.down_checksum, statements_done = excluded.statements_done, error = excluded.error",
		deleteInDoubt: "DELETE FROM " + q + ".in_doubt WHERE id = $1",
		upsertFailed: "INSERT INTO " + q + ".failed (" + failedCols + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) " +
			"ON CONFLICT (id) DO UPDATE SET checksum = excluded.checksum, seq = excluded.seq, failed_at = excluded.failed_at, " +
			"app_version = excluded.app_version, actor = excluded.actor, host = excluded.host, error = excluded.error, " +
			"sqlstate = excluded.sqlstate, statement = excluded.statement, attempt = excluded.attempt",
		deleteFailed: "DELETE FROM " + q + ".failed WHERE id = $1",
		events:       "SELECT " + eventCols + " FROM " + q + ".events",
	}
}
