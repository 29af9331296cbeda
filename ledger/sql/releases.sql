-- Releases, their sightings and the audit views: beside the event log, not
-- in its hash chain. A sighting is an observation (a release checked in
-- against this database), not a schema transition. {{schema}} is replaced
-- by the quoted schema name. Every statement is idempotent: the file runs
-- whenever the marker comment on the timeline view (set last) is missing
-- or older.

-- One row per release manifest, stored on the release's first check-in.
CREATE TABLE IF NOT EXISTS {{schema}}.releases (
    digest      text        PRIMARY KEY,   -- the manifest's digest (sha256:...)
    app_version text        NOT NULL,
    policy      text        NOT NULL,
    set_digest  bytea       NOT NULL,
    manifest    jsonb       NOT NULL,
    first_seen  timestamptz NOT NULL DEFAULT now()
);
-- The release's migrations as arrays (in the manifest's order), read by
-- ledger fleet and by up's guard: cheaper to decode than the manifest.
ALTER TABLE {{schema}}.releases ADD COLUMN IF NOT EXISTS migration_ids text[] NOT NULL DEFAULT '{}';
ALTER TABLE {{schema}}.releases ADD COLUMN IF NOT EXISTS checksums     text[] NOT NULL DEFAULT '{}';

-- One row per instance, upserted by each check-in.
CREATE TABLE IF NOT EXISTS {{schema}}.sightings (
    instance    text        PRIMARY KEY,
    release     text        NOT NULL,      -- releases.digest
    app_version text        NOT NULL,
    policy      text        NOT NULL,
    set_digest  bytea       NOT NULL,
    decision    text        NOT NULL,      -- the instance's verdict: run, migrate or refuse
    host        text        NOT NULL,
    db_user     text        NOT NULL,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    checks      bigint      NOT NULL DEFAULT 1
);
-- No index but the key: each check-in updates its row in place (a HOT
-- update, room left on the page), and ledger fleet and up's guard read
-- every row anyway (one per instance).
DROP INDEX IF EXISTS {{schema}}.sightings_last_seen;
-- How often the instance beats (0: it checked in once): see upgrade_v4_checkin.sql.
ALTER TABLE {{schema}}.sightings ADD COLUMN IF NOT EXISTS heartbeat_ms bigint NOT NULL DEFAULT 0;
ALTER TABLE {{schema}}.sightings SET (fillfactor = 50);

-- Every event in readable columns, for auditors in psql or a BI tool.
CREATE OR REPLACE VIEW {{schema}}.timeline AS
SELECT e.seq,
       e.recorded_at,
       e.type,
       e.migration_id,
       nullif(e.app_version, '')                 AS release,
       e.actor                                   AS db_user,
       e.host,
       (e.payload->>'duration_ms')::bigint       AS duration_ms,
       e.payload->>'sqlstate'                    AS sqlstate,
       e.payload->>'error'                       AS error,
       e.payload->>'checksum'                    AS checksum,
       e.payload->>'compatible'                  AS compatible,
       (e.payload->>'transactional')::boolean    AS transactional,
       e.payload->>'source'                      AS down_source,
       e.payload->>'decision'                    AS decision,
       e.payload->>'reason'                      AS reason,
       e.payload->'allowed_breaking'             AS allowed_breaking
  FROM {{schema}}.events e;

-- The releases seen, one row per instance, with the release's manifest facts.
CREATE OR REPLACE VIEW {{schema}}.fleet AS
SELECT s.app_version AS release, s.policy, s.instance, s.host, s.decision,
       s.db_user, s.first_seen, s.last_seen, s.checks, s.release AS manifest_digest,
       s.heartbeat_ms
  FROM {{schema}}.sightings s;

COMMENT ON VIEW {{schema}}.timeline IS 'schema-ledger releases objects v3';
