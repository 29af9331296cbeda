-- Ledger format 4, created in one go. {{schema}} is the quoted schema
-- name, {{schema_lit}} the same as a string literal.
--
-- This is what format 1 (schema_v1.sql), then every upgrade step
-- (upgrade_v<N>*.sql), then the release objects (releases.sql) leave —
-- written as the final objects instead of their history, so that a new
-- ledger costs one script and no object is created, dropped and created
-- again. The steps stay: they upgrade existing ledgers. The two must
-- agree: TestFreshLedgerIsTheUpgradedOne creates a ledger both ways and
-- compares their catalogs (objects, column order, storage, privileges,
-- comments), and runs the same history on both. A new format changes this
-- file as well as adding its step (and the number on its first line).
-- Function bodies are copied verbatim from the step that last defined
-- them: the catalog compares them byte for byte.
--
-- Every statement fails if its object exists (but the schema, which an
-- operator may have created for the ledger): run on a database that
-- gained a ledger meanwhile, it fails as a whole, and the caller takes the
-- path that finds the ledger there.
--
-- The function bodies are not checked as they are created (as pg_dump's
-- scripts do not): they are this file's constants, run by the tests, and
-- checking them costs a new ledger a parse of each. For this transaction only.
SELECT set_config('check_function_bodies', 'off', true);
CREATE SCHEMA IF NOT EXISTS {{schema}};

-- The event log: append-only, gapless, hash-chained (schema_v1.sql), each
-- event with the state it commits (upgrade_v2.sql).
CREATE TABLE {{schema}}.events (
    seq             bigint      PRIMARY KEY CHECK (seq > 0),
    id              uuid        NOT NULL UNIQUE,
    type            text        NOT NULL,
    payload_version int         NOT NULL CHECK (payload_version > 0),
    payload         jsonb       NOT NULL,
    recorded_at     timestamptz NOT NULL,
    actor           text        NOT NULL,
    host            text        NOT NULL,
    app_version     text        NOT NULL,
    prev_hash       bytea       NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash            bytea       NOT NULL CHECK (octet_length(hash) = 32),
    -- The migration an event is about, for history by migration: a column
    -- PostgreSQL derives and keeps, so the index on it is a plain one
    -- (cheaper for every query a fresh connection plans than an
    -- expression index).
    migration_id    text        GENERATED ALWAYS AS (payload->>'id') STORED,
    state_format         int,
    state_digest         bytea,
    state_in_doubt       int,
    state_schema_version text,
    CONSTRAINT events_state_whole CHECK (
        (state_format IS NULL AND state_digest IS NULL AND state_in_doubt IS NULL AND state_schema_version IS NULL)
        OR (state_format >= 2 AND octet_length(state_digest) = 32 AND state_in_doubt >= 0 AND state_schema_version IS NOT NULL))
);
CREATE INDEX events_type_seq      ON {{schema}}.events (type, seq);
CREATE INDEX events_recorded_at   ON {{schema}}.events (recorded_at);
CREATE INDEX events_actor_seq     ON {{schema}}.events (actor, seq);
CREATE INDEX events_migration_seq ON {{schema}}.events (migration_id, seq);

-- The hash of an event (upgrade_v2.sql says how it is computed).
CREATE FUNCTION {{schema}}.event_hash(
    prev_hash bytea, seq bigint, id uuid, type text, payload_version int,
    payload jsonb, recorded_at timestamptz, actor text, host text, app_version text,
    state_format int, state_digest bytea, state_in_doubt int, state_schema_version text
) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT sha256(prev_hash || convert_to(
       length(seq::text) || ':' || seq::text || chr(10)
    || length(id::text) || ':' || id::text || chr(10)
    || octet_length(convert_to(type, 'UTF8')) || ':' || type || chr(10)
    || length(payload_version::text) || ':' || payload_version::text || chr(10)
    || length((extract(epoch FROM recorded_at) * 1000000)::bigint::text) || ':'
       || (extract(epoch FROM recorded_at) * 1000000)::bigint::text || chr(10)
    || octet_length(convert_to(actor, 'UTF8')) || ':' || actor || chr(10)
    || octet_length(convert_to(host, 'UTF8')) || ':' || host || chr(10)
    || octet_length(convert_to(app_version, 'UTF8')) || ':' || app_version || chr(10)
    || octet_length(convert_to(payload::text, 'UTF8')) || ':' || payload::text || chr(10)
    || CASE WHEN state_format IS NULL THEN '' ELSE
          length(state_format::text) || ':' || state_format::text || chr(10)
       || '64:' || encode(state_digest, 'hex') || chr(10)
       || length(state_in_doubt::text) || ':' || state_in_doubt::text || chr(10)
       || octet_length(convert_to(state_schema_version, 'UTF8')) || ':' || state_schema_version || chr(10)
       END,
    'UTF8'))
$$;

-- Append-only, enforced by the database.
CREATE FUNCTION {{schema}}.reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger events are append-only: % on %.% is not allowed', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'the ledger records every change as a new event; an operator decision is recorded with "ledger resolve"';
END
$$;
CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON {{schema}}.events
    FOR EACH ROW EXECUTE FUNCTION {{schema}}.reject_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON {{schema}}.events
    FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.reject_change();

-- The head: one row, locked by every append, so seq order is commit order.
CREATE TABLE {{schema}}.head (
    one                 bool        PRIMARY KEY DEFAULT true CHECK (one),
    seq                 bigint      NOT NULL,
    hash                bytea       NOT NULL,
    format              int         NOT NULL,
    schema_version      text        NOT NULL DEFAULT '',
    digest              bytea       NOT NULL,
    in_doubt            int         NOT NULL DEFAULT 0,
    fingerprint         text,
    fingerprint_objects int,
    fingerprint_seq     bigint,
    updated_at          timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The projection (read model), updated incrementally with each event.
CREATE TABLE {{schema}}.applied (
    id            text        COLLATE "C" PRIMARY KEY,
    num           numeric     NOT NULL,
    name          text        COLLATE "C" NOT NULL,
    checksum      text        NOT NULL,
    seq           bigint      NOT NULL,
    applied_at    timestamptz NOT NULL,
    app_version   text        NOT NULL,
    actor         text        NOT NULL,
    host          text        NOT NULL,
    compatible    text        NOT NULL DEFAULT '',
    transactional bool        NOT NULL,
    down_checksum text        NOT NULL DEFAULT '',
    accepted_checksums text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX applied_order ON {{schema}}.applied (num, name, id);

CREATE TABLE {{schema}}.in_doubt (
    id              text        COLLATE "C" PRIMARY KEY,
    checksum        text        NOT NULL,
    seq             bigint      NOT NULL,
    started_at      timestamptz NOT NULL,
    app_version     text        NOT NULL,
    actor           text        NOT NULL,
    host            text        NOT NULL,
    compatible      text        NOT NULL DEFAULT '',
    down_checksum   text        NOT NULL DEFAULT '',
    statements_done int         NOT NULL DEFAULT 0,
    error           text        NOT NULL DEFAULT '',
    left_behind     text[]      NOT NULL DEFAULT '{}'
);

CREATE TABLE {{schema}}.failed (
    id          text        COLLATE "C" PRIMARY KEY,
    checksum    text        NOT NULL,
    seq         bigint      NOT NULL,
    failed_at   timestamptz NOT NULL,
    app_version text        NOT NULL,
    actor       text        NOT NULL,
    host        text        NOT NULL,
    error       text        NOT NULL,
    sqlstate    text        NOT NULL DEFAULT '',
    statement   text        NOT NULL DEFAULT '',
    attempt     int         NOT NULL DEFAULT 0
);

-- Only the append function writes the events and the projection (upgrade_v2.sql).
CREATE FUNCTION {{schema}}.reject_direct_write() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('ledger.append', true) IS DISTINCT FROM TG_TABLE_SCHEMA THEN
        RAISE EXCEPTION 'the ledger''s % is written only by its own append path: % on %.% is not allowed',
                CASE WHEN TG_TABLE_NAME = 'events' THEN 'event log' ELSE 'projection' END, TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'the projection is the fold of the events: record changes with ledger up, down or resolve; compare the two with ledger verify';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER events_append_only_insert BEFORE INSERT ON {{schema}}.events
    FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.reject_direct_write();
CREATE TRIGGER head_append_only BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON {{schema}}.head
    FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.reject_direct_write();
CREATE TRIGGER applied_append_only BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON {{schema}}.applied
    FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.reject_direct_write();
CREATE TRIGGER in_doubt_append_only BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON {{schema}}.in_doubt
    FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.reject_direct_write();
CREATE TRIGGER failed_append_only BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON {{schema}}.failed
    FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.reject_direct_write();

-- One append, in one call (upgrade_v2.sql says what it does).
CREATE FUNCTION {{schema}}.append(
    expected_seq bigint, expected_hash bytea, p_recorded_at timestamptz, p_actor text, ops jsonb,
    p_fingerprint text, p_fingerprint_objects int, p_fingerprint_seq bigint, channel text
) RETURNS {{schema}}.head
LANGUAGE plpgsql
AS $$
DECLARE
    result    {{schema}}.head;
    op        jsonb;
    i         int;
    at        timestamptz;
    head_seq  bigint;
    last_hash bytea;
    ev        {{schema}}.events;
    ap        {{schema}}.applied;
    dt        {{schema}}.in_doubt;
    fl        {{schema}}.failed;
BEGIN
    SELECT h.seq, h.hash INTO head_seq, last_hash FROM {{schema}}.head h FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ledger: the head row is missing';
    END IF;
    IF expected_seq IS NOT NULL AND (head_seq <> expected_seq OR last_hash <> coalesce(expected_hash, last_hash)) THEN
        RAISE EXCEPTION 'ledger head moved: another writer appended after seq %', expected_seq
            USING ERRCODE = 'serialization_failure', HINT = 'read the ledger again and retry';
    END IF;
    PERFORM set_config('ledger.append', {{schema_lit}}, true);
    at := coalesce(p_recorded_at, clock_timestamp());
    FOR i IN 0 .. jsonb_array_length(ops) - 1 LOOP
        op := ops->i;
        CASE op->>'op'
        WHEN 'event' THEN
            ev := jsonb_populate_record(NULL::{{schema}}.events, op);
            IF ev.seq IS DISTINCT FROM head_seq + 1 THEN
                RAISE EXCEPTION 'ledger: event % does not follow the head at seq %', ev.seq, head_seq;
            END IF;
            IF ev.state_format IS NULL OR ev.state_digest IS NULL THEN
                RAISE EXCEPTION 'ledger: event % carries no state', ev.seq;
            END IF;
            head_seq := ev.seq;
            ev.recorded_at := at;
            IF (op->>'xact_duration')::bool THEN
                -- The writer ran its work in this transaction: its duration, measured here.
                ev.payload := jsonb_set(ev.payload, '{duration_ms}',
                    to_jsonb(floor(extract(epoch FROM at - now()) * 1000)::bigint));
            END IF;
            ev.actor := p_actor;
            ev.prev_hash := last_hash;
            IF ev.state_schema_version IS NULL THEN
                ev.state_schema_version := coalesce(
                    (SELECT a.id FROM {{schema}}.applied a ORDER BY a.num DESC, a.name DESC, a.id DESC LIMIT 1), '');
            END IF;
            IF ev.state_in_doubt IS NULL THEN
                ev.state_in_doubt := (SELECT count(*) FROM {{schema}}.in_doubt);
            END IF;
            ev.hash := {{schema}}.event_hash(ev.prev_hash, ev.seq, ev.id, ev.type, ev.payload_version,
                ev.payload, ev.recorded_at, ev.actor, ev.host, ev.app_version,
                ev.state_format, ev.state_digest, ev.state_in_doubt, ev.state_schema_version);
            INSERT INTO {{schema}}.events (seq, id, type, payload_version, payload, recorded_at, actor, host, app_version, prev_hash, hash,
                                           state_format, state_digest, state_in_doubt, state_schema_version)
            VALUES (ev.seq, ev.id, ev.type, ev.payload_version, ev.payload, ev.recorded_at, ev.actor, ev.host, ev.app_version, ev.prev_hash, ev.hash,
                    ev.state_format, ev.state_digest, ev.state_in_doubt, ev.state_schema_version);
            last_hash := ev.hash;
        WHEN 'put_applied' THEN
            ap := jsonb_populate_record(NULL::{{schema}}.applied, op->'row');
            ap.applied_at := coalesce(ap.applied_at, at);
            ap.actor := coalesce(ap.actor, p_actor);
            INSERT INTO {{schema}}.applied VALUES (ap.*);
        WHEN 'del_applied' THEN
            DELETE FROM {{schema}}.applied WHERE id = op->>'id';
        WHEN 'put_in_doubt' THEN
            dt := jsonb_populate_record(NULL::{{schema}}.in_doubt, op->'row');
            dt.started_at := coalesce(dt.started_at, at);
            dt.actor := coalesce(dt.actor, p_actor);
            DELETE FROM {{schema}}.in_doubt WHERE id = dt.id;
            INSERT INTO {{schema}}.in_doubt VALUES (dt.*);
        WHEN 'del_in_doubt' THEN
            DELETE FROM {{schema}}.in_doubt WHERE id = op->>'id';
        WHEN 'put_failed' THEN
            fl := jsonb_populate_record(NULL::{{schema}}.failed, op->'row');
            fl.failed_at := coalesce(fl.failed_at, at);
            fl.actor := coalesce(fl.actor, p_actor);
            DELETE FROM {{schema}}.failed WHERE id = fl.id;
            INSERT INTO {{schema}}.failed VALUES (fl.*);
        WHEN 'del_failed' THEN
            DELETE FROM {{schema}}.failed WHERE id = op->>'id';
        ELSE
            RAISE EXCEPTION 'ledger: unknown append operation %', op->>'op';
        END CASE;
    END LOOP;
    IF ev.seq IS NULL THEN
        RAISE EXCEPTION 'ledger: an append with no event';
    END IF;
    UPDATE {{schema}}.head h SET
        seq = head_seq,
        hash = last_hash,
        format = ev.state_format,
        digest = ev.state_digest,
        schema_version = ev.state_schema_version,
        in_doubt = ev.state_in_doubt,
        fingerprint = coalesce(p_fingerprint, h.fingerprint),
        fingerprint_objects = coalesce(p_fingerprint_objects, h.fingerprint_objects),
        fingerprint_seq = coalesce(p_fingerprint_seq, h.fingerprint_seq),
        updated_at = at
    RETURNING h.* INTO result;
    PERFORM set_config('ledger.append', '', true);
    PERFORM pg_notify(channel, head_seq::text);
    RETURN result;
END
$$;

-- Schema snapshots (upgrade_v3.sql) and catalog stamps (upgrade_v4_fingerprint.sql),
-- append-only like the events.
CREATE TABLE {{schema}}.snapshots (
    fingerprint  text        PRIMARY KEY CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    objects      jsonb       NOT NULL CHECK (jsonb_typeof(objects) = 'array'),
    object_count int         NOT NULL CHECK (object_count = jsonb_array_length(objects)),
    recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TRIGGER snapshots_no_update_delete BEFORE UPDATE OR DELETE ON {{schema}}.snapshots
    FOR EACH ROW EXECUTE FUNCTION {{schema}}.reject_change();
CREATE TRIGGER snapshots_no_truncate BEFORE TRUNCATE ON {{schema}}.snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.reject_change();
CREATE TABLE {{schema}}.catalog_stamps (
    stamp       text        PRIMARY KEY CHECK (stamp ~ '^[0-9a-f]{32}$'),
    fingerprint text        NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TRIGGER catalog_stamps_no_update_delete BEFORE UPDATE OR DELETE ON {{schema}}.catalog_stamps
    FOR EACH ROW EXECUTE FUNCTION {{schema}}.reject_change();
CREATE TRIGGER catalog_stamps_no_truncate BEFORE TRUNCATE ON {{schema}}.catalog_stamps
    FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.reject_change();

-- Releases and their sightings (releases.sql), written only through
-- check_in and put_release (upgrade_v4_checkin.sql).
CREATE TABLE {{schema}}.releases (
    digest        text        PRIMARY KEY,   -- the manifest's digest (sha256:...)
    app_version   text        NOT NULL,
    policy        text        NOT NULL,
    set_digest    bytea       NOT NULL,
    manifest      jsonb       NOT NULL,
    first_seen    timestamptz NOT NULL DEFAULT now(),
    migration_ids text[]      NOT NULL DEFAULT '{}',
    checksums     text[]      NOT NULL DEFAULT '{}'
);
CREATE TABLE {{schema}}.sightings (
    instance     text        PRIMARY KEY,
    release      text        NOT NULL,      -- releases.digest
    app_version  text        NOT NULL,
    policy       text        NOT NULL,
    set_digest   bytea       NOT NULL,
    decision     text        NOT NULL,      -- the instance's verdict: run, migrate or refuse
    host         text        NOT NULL,
    db_user      text        NOT NULL,
    first_seen   timestamptz NOT NULL,
    last_seen    timestamptz NOT NULL,
    checks       bigint      NOT NULL DEFAULT 1,
    heartbeat_ms bigint      NOT NULL DEFAULT 0
) WITH (fillfactor = 50);

CREATE FUNCTION {{schema}}.check_in(
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

CREATE FUNCTION {{schema}}.put_release(p_manifest text) RETURNS text
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
REVOKE ALL ON FUNCTION {{schema}}.check_in(text, text, text, text, bytea, text, text, bigint, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION {{schema}}.put_release(text) FROM PUBLIC;

-- The audit views (releases.sql), the marker comment last.
CREATE VIEW {{schema}}.timeline AS
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
CREATE VIEW {{schema}}.fleet AS
SELECT s.app_version AS release, s.policy, s.instance, s.host, s.decision,
       s.db_user, s.first_seen, s.last_seen, s.checks, s.release AS manifest_digest,
       s.heartbeat_ms
  FROM {{schema}}.sightings s;

COMMENT ON VIEW {{schema}}.timeline IS 'schema-ledger releases objects v3';
