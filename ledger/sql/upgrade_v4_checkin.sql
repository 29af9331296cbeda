-- Ledger format 3 -> 4, the hardening of issue 24: check-ins through two
-- functions (below), accepted checksums kept in the projection, and the
-- invalid indexes a migration in doubt left (at the end of this file).
--
-- Check-ins: the application role records a
-- sighting, and stores its release's manifest, only through two functions
-- that run as the ledger's owner — a narrow door instead of table
-- privileges. With INSERT or UPDATE on the sightings table, a role could
-- lock it (LOCK TABLE needs no more) and stall every migrator's guard and
-- every check-in, or date a sighting ten years ahead and block every
-- breaking up for as long. Through the functions it can do neither: the
-- time is the server's clock, every argument is checked, a manifest is
-- stored only if it hashes to its digest, and a lock is waited for briefly.
-- {{schema}} is the quoted schema name.
--
-- The tables themselves are created by releases.sql (beside the format,
-- run after every step): a new ledger reaches them after this file, an
-- upgraded one has them already. The functions' bodies are planned when
-- first called.

-- How often a sighting's instance beats (0: it checked in once, at start):
-- up's guard counts a beating instance as running until it misses three
-- beats, however long ago it started. (Also in releases.sql, for a new
-- ledger.)
ALTER TABLE IF EXISTS {{schema}}.sightings ADD COLUMN IF NOT EXISTS heartbeat_ms bigint NOT NULL DEFAULT 0;

-- check_in records one sighting at the server's clock and returns whether
-- the release's manifest is stored already. Unless p_always, it records
-- only when the head holds exactly the set p_set_digest with nothing in
-- doubt (the check's fast path, whose verdict the caller knew before it
-- asked) and otherwise returns NULL. Invalid arguments fail with 22023; a
-- sighting row locked by another session fails after a short wait (55P03),
-- never holding the caller's verdict.
CREATE OR REPLACE FUNCTION {{schema}}.check_in(
    p_instance text, p_release text, p_app_version text, p_policy text, p_set_digest bytea,
    p_decision text, p_host text, p_heartbeat_ms bigint, p_always boolean
) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '500ms'
AS $$
DECLARE
    known boolean;
BEGIN
    IF p_instance IS NULL OR length(p_instance) NOT BETWEEN 1 AND 200 OR p_instance ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'ledger check-in: instance %: want 1 to 200 printable characters', quote_nullable(left(p_instance, 40))
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_release IS NULL OR p_release !~ '^sha256:[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'ledger check-in: release %: want a manifest digest sha256:<64 hex>', quote_nullable(left(p_release, 80))
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_app_version IS NULL OR length(p_app_version) > 100 OR p_app_version ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'ledger check-in: app version %: want at most 100 printable characters', quote_nullable(left(p_app_version, 40))
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_policy IS NULL OR p_policy !~ '^[a-z][a-z+-]{0,39}$' THEN
        RAISE EXCEPTION 'ledger check-in: policy %: not a policy name', quote_nullable(left(p_policy, 40))
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_set_digest IS NULL OR length(p_set_digest) <> 32 THEN
        RAISE EXCEPTION 'ledger check-in: set digest: want 32 bytes' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_decision IS NULL OR p_decision NOT IN ('run', 'migrate', 'refuse') THEN
        RAISE EXCEPTION 'ledger check-in: decision %: want run, migrate or refuse', quote_nullable(left(p_decision, 40))
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_host IS NULL OR length(p_host) > 255 OR p_host ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'ledger check-in: host %: want at most 255 printable characters', quote_nullable(left(p_host, 40))
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- At most an hour: a sighting counts for three beats, and a role that
    -- checks in must not make one count for days.
    IF p_heartbeat_ms IS NULL OR p_heartbeat_ms NOT BETWEEN 0 AND 3600000 THEN
        RAISE EXCEPTION 'ledger check-in: heartbeat % ms: want 0 (none) up to an hour', p_heartbeat_ms
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT coalesce(p_always, false) AND NOT EXISTS (
        SELECT FROM {{schema}}.head WHERE digest = p_set_digest AND in_doubt = 0) THEN
        RETURN NULL;
    END IF;
    -- An observation, not a schema change: its commit need not wait for
    -- the WAL flush (a crash may lose the last moment's sightings; the next
    -- check records them again).
    PERFORM set_config('synchronous_commit', 'off', true);
    INSERT INTO {{schema}}.sightings AS s
        (instance, release, app_version, policy, set_digest, decision, host, db_user, first_seen, last_seen, heartbeat_ms)
    VALUES (p_instance, p_release, p_app_version, p_policy, p_set_digest, p_decision, p_host, session_user, now(), now(), p_heartbeat_ms)
    ON CONFLICT (instance) DO UPDATE SET
        release = excluded.release, app_version = excluded.app_version, policy = excluded.policy,
        set_digest = excluded.set_digest, decision = excluded.decision, host = excluded.host,
        db_user = excluded.db_user, heartbeat_ms = excluded.heartbeat_ms,
        -- The server's clock only: a row dated ahead by someone with the
        -- table's privileges comes back to now.
        first_seen = least(s.first_seen, excluded.last_seen), last_seen = excluded.last_seen,
        checks = s.checks + 1;
    SELECT EXISTS (SELECT FROM {{schema}}.releases WHERE digest = p_release) INTO known;
    RETURN known;
END $$;

-- put_release stores a release's manifest, once per digest, given as the
-- manifest file's text: stored only if the text hashes to the digest it
-- ends with (sha256 over the text with the digest's value cut out, as
-- ledger manifest writes it), its ids and checksums taken from it. It
-- returns the digest.
CREATE OR REPLACE FUNCTION {{schema}}.put_release(p_manifest text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '500ms'
AS $$
DECLARE
    marker   constant text := '"digest": "';
    rpos     int;
    vstart   int;
    vlen     int;
    claimed  text;
    m        jsonb;
    ids      text[];
    sums     text[];
BEGIN
    IF p_manifest IS NULL OR length(p_manifest) > 64 * 1024 * 1024 THEN
        RAISE EXCEPTION 'ledger release: no manifest, or one over 64 MiB' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    rpos := position(reverse(marker) IN reverse(p_manifest));
    IF rpos = 0 THEN
        RAISE EXCEPTION 'ledger release: the manifest ends with no digest' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    vstart := length(p_manifest) - rpos + 2;
    vlen := position('"' IN substr(p_manifest, vstart)) - 1;
    claimed := substr(p_manifest, vstart, greatest(vlen, 0));
    IF vlen < 0 OR claimed !~ '^sha256:[0-9a-f]{64}$'
       OR 'sha256:' || encode(sha256(convert_to(substr(p_manifest, 1, vstart - 1) || substr(p_manifest, vstart + vlen), 'UTF8')), 'hex') <> claimed THEN
        RAISE EXCEPTION 'ledger release: the manifest does not hash to its digest' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    m := p_manifest::jsonb;
    IF jsonb_typeof(m) <> 'object' OR m->>'digest' IS DISTINCT FROM claimed OR jsonb_typeof(m->'migrations') <> 'array'
       OR coalesce(m->>'set_digest', '') !~ '^[0-9a-f]{64}$' OR m->>'app_version' IS NULL OR m->>'policy' IS NULL THEN
        RAISE EXCEPTION 'ledger release: the manifest lacks its digest, set digest, app version, policy or migrations'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT coalesce(array_agg(e->>'id' ORDER BY n), '{}'), coalesce(array_agg(e->>'checksum' ORDER BY n), '{}')
      INTO ids, sums
      FROM jsonb_array_elements(m->'migrations') WITH ORDINALITY AS x(e, n);
    IF array_position(ids, NULL) IS NOT NULL OR array_position(sums, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'ledger release: a migration of the manifest lacks its id or checksum' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO {{schema}}.releases (digest, app_version, policy, set_digest, manifest, migration_ids, checksums)
    VALUES (claimed, m->>'app_version', m->>'policy', decode(m->>'set_digest', 'hex'), m, ids, sums)
    ON CONFLICT (digest) DO NOTHING;
    RETURN claimed;
END $$;

-- Functions are executable by PUBLIC unless revoked: only the roles the
-- owner grants EXECUTE may check in.
REVOKE ALL ON FUNCTION {{schema}}.check_in(text, text, text, text, bytea, text, text, bigint, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION {{schema}}.put_release(text) FROM PUBLIC;

-- A role that could write the sightings or releases (the grants of earlier
-- releases' README) checks in through the functions from now on: it keeps
-- SELECT, loses every write, and may execute the two functions.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT DISTINCT a.grantee::regrole AS grantee
          FROM pg_class c, aclexplode(c.relacl) a
         WHERE c.oid IN (to_regclass('{{schema}}.sightings'), to_regclass('{{schema}}.releases'))
           AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')
           AND a.grantee <> c.relowner AND a.grantee <> 0
    LOOP
        EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {{schema}}.sightings, {{schema}}.releases FROM %s', r.grantee);
        EXECUTE format('GRANT EXECUTE ON FUNCTION {{schema}}.check_in(text, text, text, text, bytea, text, text, bigint, boolean), {{schema}}.put_release(text) TO %s', r.grantee);
    END LOOP;
    IF EXISTS (SELECT FROM pg_class c, aclexplode(c.relacl) a
                WHERE c.oid IN (to_regclass('{{schema}}.sightings'), to_regclass('{{schema}}.releases'))
                  AND a.grantee = 0 AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')) THEN
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {{schema}}.sightings, {{schema}}.releases FROM PUBLIC;
    END IF;
END $$;

-- An accepted change to an applied migration's file keeps the checksum it
-- replaces valid (both are the same migration): a release that ships the
-- file as it was applied is not refused for it. The projection keeps them,
-- oldest first; a ledger upgraded from format 3 gets them from its
-- migration.accepted events (those after the migration was last applied).
ALTER TABLE {{schema}}.applied ADD COLUMN IF NOT EXISTS accepted_checksums text[] NOT NULL DEFAULT '{}';
SELECT set_config('ledger.append', {{schema_lit}}, true);
UPDATE {{schema}}.applied a SET accepted_checksums = x.previous
  FROM (SELECT e.migration_id, array_agg(e.payload->>'previous_checksum' ORDER BY e.seq) AS previous
          FROM {{schema}}.events e JOIN {{schema}}.applied ap ON ap.id = e.migration_id
         WHERE e.type = 'migration.accepted' AND e.seq > ap.seq
         GROUP BY e.migration_id) x
 WHERE a.id = x.migration_id;
SELECT set_config('ledger.append', '', true);

-- A no-transaction migration in doubt keeps the invalid indexes its
-- failing statement left (from migration.failed's left_indexes), so every
-- reader — status, check, a resume — can name them.
ALTER TABLE {{schema}}.in_doubt ADD COLUMN IF NOT EXISTS left_behind text[] NOT NULL DEFAULT '{}';
