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
    hash            bytea       NOT NULL CHECK (octet_length(hash) = 32)
);
CREATE INDEX events_type_seq      ON {{schema}}.events (type, seq);
CREATE INDEX events_recorded_at   ON {{schema}}.events (recorded_at);
CREATE INDEX events_actor_seq     ON {{schema}}.events (actor, seq);
CREATE INDEX events_migration_seq ON {{schema}}.events ((payload->>'id'), seq);

-- One field of the hash input: its length in bytes, ':', the bytes, '\n'.
CREATE FUNCTION {{schema}}.hash_field(b bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT convert_to(octet_length(b)::text || ':', 'UTF8') || b || '\x0a'::bytea $$;

-- The hash of an event: sha256 over the previous hash and the row's stored
-- columns in a form no session setting changes (time as UTC epoch
-- microseconds, payload as jsonb's canonical text). Anyone can check the
-- chain with it in plain SQL:
--   SELECT seq FROM ledger.events
--   WHERE hash <> ledger.event_hash(prev_hash, seq, id, type, payload_version,
--                                   payload, recorded_at, actor, host, app_version);
CREATE FUNCTION {{schema}}.event_hash(
    prev_hash bytea, seq bigint, id uuid, type text, payload_version int,
    payload jsonb, recorded_at timestamptz, actor text, host text, app_version text
) RETURNS bytea
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
AS $$
BEGIN
    -- plpgsql, not sql: its plan is cached per session, so an append does
    -- not pay for inlining and planning this expression every time.
    RETURN sha256(
        prev_hash
        || {{schema}}.hash_field(convert_to(seq::text, 'UTF8'))
        || {{schema}}.hash_field(convert_to(id::text, 'UTF8'))
        || {{schema}}.hash_field(convert_to(type, 'UTF8'))
        || {{schema}}.hash_field(convert_to(payload_version::text, 'UTF8'))
        || {{schema}}.hash_field(convert_to((extract(epoch FROM recorded_at) * 1000000)::bigint::text, 'UTF8'))
        || {{schema}}.hash_field(convert_to(actor, 'UTF8'))
        || {{schema}}.hash_field(convert_to(host, 'UTF8'))
        || {{schema}}.hash_field(convert_to(app_version, 'UTF8'))
        || {{schema}}.hash_field(convert_to(payload::text, 'UTF8'))
    );
END
$$;

-- Insert the event at seq, chained to the event before it; returns its hash.
-- The caller holds the head lock and has checked seq follows the head.
CREATE FUNCTION {{schema}}.append_event(
    p_seq bigint, p_id uuid, p_type text, p_payload_version int, p_payload jsonb,
    p_recorded_at timestamptz, p_actor text, p_host text, p_app_version text
) RETURNS bytea
LANGUAGE plpgsql
AS $$
DECLARE
    prev bytea;
    h    bytea;
BEGIN
    IF p_seq = 1 THEN
        prev := decode(repeat('00', 32), 'hex');
    ELSE
        SELECT e.hash INTO prev FROM {{schema}}.events e WHERE e.seq = p_seq - 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'ledger: event % is missing: the log has a gap', p_seq - 1;
        END IF;
    END IF;
    h := {{schema}}.event_hash(prev, p_seq, p_id, p_type, p_payload_version, p_payload, p_recorded_at, p_actor, p_host, p_app_version);
    INSERT INTO {{schema}}.events (seq, id, type, payload_version, payload, recorded_at, actor, host, app_version, prev_hash, hash)
    VALUES (p_seq, p_id, p_type, p_payload_version, p_payload, p_recorded_at, p_actor, p_host, p_app_version, prev, h);
    RETURN h;
END
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

-- One append, in one call: the events (chained by append_event), the
-- projection rows each event's change puts or deletes — in order, as the
-- projector decided them — the head and the notification. With expected_seq
-- it first locks the head for a writer that already knows it (a migrator
-- holding the migration lock), failing if another writer appended since;
-- without, the caller has locked the head itself.
CREATE FUNCTION {{schema}}.append(
    expected_seq bigint, expected_hash bytea, p_recorded_at timestamptz, p_actor text, ops jsonb,
    p_digest bytea, p_format int, p_fingerprint text, p_fingerprint_objects int, p_fingerprint_seq bigint,
    channel text, p_schema_version text, p_in_doubt int
) RETURNS SETOF {{schema}}.head
LANGUAGE plpgsql
AS $$
DECLARE
    op        jsonb;
    last      bigint;
    last_hash bytea;
BEGIN
    IF expected_seq IS NOT NULL THEN
        PERFORM 1 FROM {{schema}}.head WHERE seq = expected_seq AND hash = expected_hash FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'ledger head moved: another writer appended after seq %', expected_seq
                USING ERRCODE = 'serialization_failure', HINT = 'read the ledger again and retry';
        END IF;
    END IF;
    FOR op IN SELECT value FROM jsonb_array_elements(ops) LOOP
        CASE op->>'op'
        WHEN 'event' THEN
            last := (op->>'seq')::bigint;
            last_hash := {{schema}}.append_event(last, (op->>'id')::uuid, op->>'type', (op->>'payload_version')::int,
                op->'payload', p_recorded_at, p_actor, op->>'host', op->>'app_version');
        WHEN 'put_applied' THEN
            INSERT INTO {{schema}}.applied SELECT * FROM jsonb_populate_record(NULL::{{schema}}.applied, op->'row');
        WHEN 'del_applied' THEN
            DELETE FROM {{schema}}.applied WHERE id = op->>'id';
        WHEN 'put_in_doubt' THEN
            DELETE FROM {{schema}}.in_doubt WHERE id = op->'row'->>'id';
            INSERT INTO {{schema}}.in_doubt SELECT * FROM jsonb_populate_record(NULL::{{schema}}.in_doubt, op->'row');
        WHEN 'del_in_doubt' THEN
            DELETE FROM {{schema}}.in_doubt WHERE id = op->>'id';
        WHEN 'put_failed' THEN
            DELETE FROM {{schema}}.failed WHERE id = op->'row'->>'id';
            INSERT INTO {{schema}}.failed SELECT * FROM jsonb_populate_record(NULL::{{schema}}.failed, op->'row');
        WHEN 'del_failed' THEN
            DELETE FROM {{schema}}.failed WHERE id = op->>'id';
        ELSE
            RAISE EXCEPTION 'ledger: unknown append operation %', op->>'op';
        END CASE;
    END LOOP;
    RETURN QUERY UPDATE {{schema}}.head h SET
        seq = last,
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
        updated_at = clock_timestamp()
    RETURNING h.*;
    PERFORM pg_notify(channel, last::text);
END
$$;
