-- Ledger format 2 -> 3: schema snapshots, and the drift events that refer
-- to them (schema.drifted, schema.drift_accepted, schema.changed), which a
-- binary of format 2 cannot fold: it refuses a format-3 ledger instead.
-- {{schema}} is the quoted schema name.
--
-- The snapshots, content-addressed: the catalog's sorted objects as [kind,
-- name, definition] triples, keyed by the fingerprint they hash to
-- (catalog.Fingerprint), so an unchanged schema is stored once however
-- many runs record it. schema.fingerprinted, schema.drifted and
-- schema.drift_accepted events reference a row by its fingerprint.
-- Append-only like the events; anyone can recompute the key from the row.
-- (IF NOT EXISTS: a format-2 ledger of a development build of the day may
-- hold the table already.)
CREATE TABLE IF NOT EXISTS {{schema}}.snapshots (
    fingerprint  text        PRIMARY KEY CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    objects      jsonb       NOT NULL CHECK (jsonb_typeof(objects) = 'array'),
    object_count int         NOT NULL CHECK (object_count = jsonb_array_length(objects)),
    recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
DROP TRIGGER IF EXISTS snapshots_no_update_delete ON {{schema}}.snapshots;
DROP TRIGGER IF EXISTS snapshots_no_truncate ON {{schema}}.snapshots;
CREATE TRIGGER snapshots_no_update_delete BEFORE UPDATE OR DELETE ON {{schema}}.snapshots
    FOR EACH ROW EXECUTE FUNCTION {{schema}}.reject_change();
CREATE TRIGGER snapshots_no_truncate BEFORE TRUNCATE ON {{schema}}.snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.reject_change();
