-- Ledger format 1. {{schema}} is replaced by the quoted schema name.
CREATE SCHEMA IF NOT EXISTS {{schema}};

-- The event log: append-only, gapless, hash-chained.
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
    migration_id    text        GENERATED ALWAYS AS (payload->>'id') STORED
);
CREATE INDEX events_type_seq      ON {{schema}}.events (type, seq);
CREATE INDEX events_recorded_at   ON {{schema}}.events (recorded_at);
CREATE INDEX events_actor_seq     ON {{schema}}.events (actor, seq);
CREATE INDEX events_migration_seq ON {{schema}}.events (migration_id, seq);

-- The hash of an event: sha256 over the previous hash and, for each column
-- in a fixed order, its length in UTF-8 bytes, ':', its UTF-8 bytes and a
-- newline — in a form no session setting changes (time as UTC epoch
-- microseconds, payload as jsonb's canonical text). Anyone can check the
-- chain with it in plain SQL:
--   SELECT seq FROM ledger.events
--   WHERE hash <> ledger.event_hash(prev_hash, seq, id, type, payload_version,
--                                   payload, recorded_at, actor, host, app_version);
-- One SQL expression, so the planner inlines it where it is called with
-- columns or variables (as append does): no function call per event.
CREATE FUNCTION {{schema}}.event_hash(
    prev_hash bytea, seq bigint, id uuid, type text, payload_version int,
    payload jsonb, recorded_at timestamptz, actor text, host text, app_version text
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
    || octet_length(convert_to(payload::text, 'UTF8')) || ':' || payload::text || chr(10),
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
    down_checksum text        NOT NULL DEFAULT ''
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
    error           text        NOT NULL DEFAULT ''
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

-- One append, in one call: the events, chained to the head's hash; the
-- projection rows each event's change puts or deletes — in order, as the
-- projector decided them; the head and the notification. It locks the head
-- first. With expected_seq, the caller is a writer that already knows the
-- head (a migrator holding the migration lock), and the call fails if
-- another writer appended since: if the head is not at expected_seq, or its
-- hash is not expected_hash (when given: a writer that sends its next
-- append before the last one's answer knows only the seq). Every event and
-- projection row is recorded at p_recorded_at, or, when that is NULL, at
-- the server's clock read under the head lock (so event times follow seq,
-- as far as that clock does); the head's updated_at is that time.
CREATE FUNCTION {{schema}}.append(
    expected_seq bigint, expected_hash bytea, p_recorded_at timestamptz, p_actor text, ops jsonb,
    p_digest bytea, p_format int, p_fingerprint text, p_fingerprint_objects int, p_fingerprint_seq bigint,
    channel text, p_schema_version text, p_in_doubt int
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
    at := coalesce(p_recorded_at, clock_timestamp());
    FOR i IN 0 .. jsonb_array_length(ops) - 1 LOOP
        op := ops->i;
        CASE op->>'op'
        WHEN 'event' THEN
            ev := jsonb_populate_record(NULL::{{schema}}.events, op);
            IF ev.seq IS DISTINCT FROM head_seq + 1 THEN
                RAISE EXCEPTION 'ledger: event % does not follow the head at seq %', ev.seq, head_seq;
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
            ev.hash := {{schema}}.event_hash(ev.prev_hash, ev.seq, ev.id, ev.type, ev.payload_version,
                ev.payload, ev.recorded_at, ev.actor, ev.host, ev.app_version);
            INSERT INTO {{schema}}.events (seq, id, type, payload_version, payload, recorded_at, actor, host, app_version, prev_hash, hash)
            VALUES (ev.seq, ev.id, ev.type, ev.payload_version, ev.payload, ev.recorded_at, ev.actor, ev.host, ev.app_version, ev.prev_hash, ev.hash);
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
    UPDATE {{schema}}.head h SET
        seq = head_seq,
        hash = last_hash,
        digest = p_digest,
        format = p_format,
        -- A caller holding the whole state passes these; otherwise derive them.
        schema_version = coalesce(p_schema_version,
            (SELECT a.id FROM {{schema}}.applied a ORDER BY a.num DESC, a.name DESC, a.id DESC LIMIT 1), ''),
        in_doubt = coalesce(p_in_doubt, (SELECT count(*) FROM {{schema}}.in_doubt)),
        fingerprint = coalesce(p_fingerprint, h.fingerprint),
        fingerprint_objects = coalesce(p_fingerprint_objects, h.fingerprint_objects),
        fingerprint_seq = coalesce(p_fingerprint_seq, h.fingerprint_seq),
        updated_at = at
    RETURNING h.* INTO result;
    PERFORM pg_notify(channel, head_seq::text);
    RETURN result;
END
$$;
