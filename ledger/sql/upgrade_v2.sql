-- Ledger format 1 -> 2: each event commits the state it leaves behind, in
-- hashed columns; the projection is written only by the append path.
-- {{schema}} is the quoted schema name, {{schema_lit}} the same as a string
-- literal. Runs in the transaction of `ledger init` (or `up`); the event
-- ledger.upgraded, appended right after, is the first to commit its state.

-- The state after the event: ledger format, applied-set digest, number of
-- migrations in doubt and schema version. NULL in the events of format 1,
-- which did not record it; never NULL after.
ALTER TABLE {{schema}}.events
    ADD COLUMN state_format         int,
    ADD COLUMN state_digest         bytea,
    ADD COLUMN state_in_doubt       int,
    ADD COLUMN state_schema_version text,
    ADD CONSTRAINT events_state_whole CHECK (
        (state_format IS NULL AND state_digest IS NULL AND state_in_doubt IS NULL AND state_schema_version IS NULL)
        OR (state_format >= 2 AND octet_length(state_digest) = 32 AND state_in_doubt >= 0 AND state_schema_version IS NOT NULL));

-- The hash of an event now also covers its committed state, when it has
-- one: after the format-1 fields, the format, the digest in lower-case hex,
-- the in-doubt count and the schema version, each as length ':' bytes '\n'.
-- An event of format 1 (no state) hashes exactly as before. In plain SQL:
--   SELECT seq FROM ledger.events
--   WHERE hash <> ledger.event_hash(prev_hash, seq, id, type, payload_version,
--                                   payload, recorded_at, actor, host, app_version,
--                                   state_format, state_digest, state_in_doubt, state_schema_version);
DROP FUNCTION {{schema}}.event_hash(bytea, bigint, uuid, text, int, jsonb, timestamptz, text, text, text);
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

-- The projection (head, applied, in_doubt, failed) and new events are
-- written only by the append function, which marks its transaction with
-- ledger.append = this schema while it writes. Anything else — an UPDATE
-- of the head, an INSERT into applied, a TRUNCATE — is refused. (A role
-- that may write these tables can still set that mark itself, or disable
-- the triggers; what it forges then disagrees with the state committed in
-- the newest event's hash, which check, status, up and verify compare.)
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

-- One append, in one call: the events, chained to the head's hash, each
-- with the state it leaves (from the writer's fold: format and digest;
-- in-doubt count and schema version too when the writer holds the whole
-- state, otherwise derived here from the tables, after the event's rows);
-- the projection rows each event's change puts or deletes — in order, as
-- the projector decided them, each event's rows before the event; the head
-- (the newest event's state) and the notification. It locks the head
-- first. With expected_seq, the caller is a writer that already knows the
-- head (a migrator holding the migration lock), and the call fails if
-- another writer appended since: if the head is not at expected_seq, or its
-- hash is not expected_hash (when given: a writer that sends its next
-- append before the last one's answer knows only the seq). Every event and
-- projection row is recorded at p_recorded_at, or, when that is NULL, at
-- the server's clock read under the head lock (so event times follow seq,
-- as far as that clock does); the head's updated_at is that time.
DROP FUNCTION {{schema}}.append(bigint, bytea, timestamptz, text, jsonb, bytea, int, text, int, bigint, text, text, int);
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
