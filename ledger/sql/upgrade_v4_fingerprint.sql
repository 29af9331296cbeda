-- Ledger format 3 -> 4 (issue 26): the catalog stamps that let an up compare
-- the schema with the last snapshot in one cheap query instead of reading
-- and deparsing every object. {{schema}} is the quoted schema name.
--
-- A stamp (catalog.StampSQL) is a digest of which transaction wrote each
-- row of the system catalogs the snapshot's objects are read from; equal
-- stamps mean the same catalog rows, so the same objects. Each row says:
-- when the catalog had this stamp, its snapshot's fingerprint was this
-- (read in the same transaction, the stamp unchanged before and after the
-- objects). A fact about the past that stays true, so the table is
-- append-only like the snapshots; a stamp not found here only means the
-- catalog must be read in full. An up reads its row, if any, in the same
-- query that computes the stamp.
CREATE TABLE IF NOT EXISTS {{schema}}.catalog_stamps (
    stamp       text        PRIMARY KEY CHECK (stamp ~ '^[0-9a-f]{32}$'),
    fingerprint text        NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
DROP TRIGGER IF EXISTS catalog_stamps_no_update_delete ON {{schema}}.catalog_stamps;
DROP TRIGGER IF EXISTS catalog_stamps_no_truncate ON {{schema}}.catalog_stamps;
CREATE TRIGGER catalog_stamps_no_update_delete BEFORE UPDATE OR DELETE ON {{schema}}.catalog_stamps
    FOR EACH ROW EXECUTE FUNCTION {{schema}}.reject_change();
CREATE TRIGGER catalog_stamps_no_truncate BEFORE TRUNCATE ON {{schema}}.catalog_stamps
    FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.reject_change();
