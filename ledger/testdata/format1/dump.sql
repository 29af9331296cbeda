--
-- PostgreSQL database dump
--

\restrict gpckr4Cx47G7BZG7LldeDZ4hm3fUZrdKdHybfFGSIHFqS1C5vQq0yeGAEsuHa7O

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: ledger; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA ledger;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: head; Type: TABLE; Schema: ledger; Owner: -
--

CREATE TABLE ledger.head (
    one boolean DEFAULT true NOT NULL,
    seq bigint NOT NULL,
    hash bytea NOT NULL,
    format integer NOT NULL,
    schema_version text DEFAULT ''::text NOT NULL,
    digest bytea NOT NULL,
    in_doubt integer DEFAULT 0 NOT NULL,
    fingerprint text,
    fingerprint_objects integer,
    fingerprint_seq bigint,
    updated_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    CONSTRAINT head_one_check CHECK (one)
);


--
-- Name: append(bigint, bytea, timestamp with time zone, text, jsonb, bytea, integer, text, integer, bigint, text, text, integer); Type: FUNCTION; Schema: ledger; Owner: -
--

CREATE FUNCTION ledger.append(expected_seq bigint, expected_hash bytea, p_recorded_at timestamp with time zone, p_actor text, ops jsonb, p_digest bytea, p_format integer, p_fingerprint text, p_fingerprint_objects integer, p_fingerprint_seq bigint, channel text, p_schema_version text, p_in_doubt integer) RETURNS ledger.head
    LANGUAGE plpgsql
    AS $$
DECLARE
    result    "ledger".head;
    op        jsonb;
    i         int;
    at        timestamptz;
    head_seq  bigint;
    last_hash bytea;
    ev        "ledger".events;
    ap        "ledger".applied;
    dt        "ledger".in_doubt;
    fl        "ledger".failed;
BEGIN
    SELECT h.seq, h.hash INTO head_seq, last_hash FROM "ledger".head h FOR UPDATE;
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
            ev := jsonb_populate_record(NULL::"ledger".events, op);
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
            ev.hash := "ledger".event_hash(ev.prev_hash, ev.seq, ev.id, ev.type, ev.payload_version,
                ev.payload, ev.recorded_at, ev.actor, ev.host, ev.app_version);
            INSERT INTO "ledger".events (seq, id, type, payload_version, payload, recorded_at, actor, host, app_version, prev_hash, hash)
            VALUES (ev.seq, ev.id, ev.type, ev.payload_version, ev.payload, ev.recorded_at, ev.actor, ev.host, ev.app_version, ev.prev_hash, ev.hash);
            last_hash := ev.hash;
        WHEN 'put_applied' THEN
            ap := jsonb_populate_record(NULL::"ledger".applied, op->'row');
            ap.applied_at := coalesce(ap.applied_at, at);
            ap.actor := coalesce(ap.actor, p_actor);
            INSERT INTO "ledger".applied VALUES (ap.*);
        WHEN 'del_applied' THEN
            DELETE FROM "ledger".applied WHERE id = op->>'id';
        WHEN 'put_in_doubt' THEN
            dt := jsonb_populate_record(NULL::"ledger".in_doubt, op->'row');
            dt.started_at := coalesce(dt.started_at, at);
            dt.actor := coalesce(dt.actor, p_actor);
            DELETE FROM "ledger".in_doubt WHERE id = dt.id;
            INSERT INTO "ledger".in_doubt VALUES (dt.*);
        WHEN 'del_in_doubt' THEN
            DELETE FROM "ledger".in_doubt WHERE id = op->>'id';
        WHEN 'put_failed' THEN
            fl := jsonb_populate_record(NULL::"ledger".failed, op->'row');
            fl.failed_at := coalesce(fl.failed_at, at);
            fl.actor := coalesce(fl.actor, p_actor);
            DELETE FROM "ledger".failed WHERE id = fl.id;
            INSERT INTO "ledger".failed VALUES (fl.*);
        WHEN 'del_failed' THEN
            DELETE FROM "ledger".failed WHERE id = op->>'id';
        ELSE
            RAISE EXCEPTION 'ledger: unknown append operation %', op->>'op';
        END CASE;
    END LOOP;
    UPDATE "ledger".head h SET
        seq = head_seq,
        hash = last_hash,
        digest = p_digest,
        format = p_format,
        -- A caller holding the whole state passes these; otherwise derive them.
        schema_version = coalesce(p_schema_version,
            (SELECT a.id FROM "ledger".applied a ORDER BY a.num DESC, a.name DESC, a.id DESC LIMIT 1), ''),
        in_doubt = coalesce(p_in_doubt, (SELECT count(*) FROM "ledger".in_doubt)),
        fingerprint = coalesce(p_fingerprint, h.fingerprint),
        fingerprint_objects = coalesce(p_fingerprint_objects, h.fingerprint_objects),
        fingerprint_seq = coalesce(p_fingerprint_seq, h.fingerprint_seq),
        updated_at = at
    RETURNING h.* INTO result;
    PERFORM pg_notify(channel, head_seq::text);
    RETURN result;
END
$$;


--
-- Name: event_hash(bytea, bigint, uuid, text, integer, jsonb, timestamp with time zone, text, text, text); Type: FUNCTION; Schema: ledger; Owner: -
--

CREATE FUNCTION ledger.event_hash(prev_hash bytea, seq bigint, id uuid, type text, payload_version integer, payload jsonb, recorded_at timestamp with time zone, actor text, host text, app_version text) RETURNS bytea
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


--
-- Name: reject_change(); Type: FUNCTION; Schema: ledger; Owner: -
--

CREATE FUNCTION ledger.reject_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'ledger events are append-only: % on %.% is not allowed', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'the ledger records every change as a new event; an operator decision is recorded with "ledger resolve"';
END
$$;


--
-- Name: applied; Type: TABLE; Schema: ledger; Owner: -
--

CREATE TABLE ledger.applied (
    id text NOT NULL COLLATE pg_catalog."C",
    num numeric NOT NULL,
    name text NOT NULL COLLATE pg_catalog."C",
    checksum text NOT NULL,
    seq bigint NOT NULL,
    applied_at timestamp with time zone NOT NULL,
    app_version text NOT NULL,
    actor text NOT NULL,
    host text NOT NULL,
    compatible text DEFAULT ''::text NOT NULL,
    transactional boolean NOT NULL,
    down_checksum text DEFAULT ''::text NOT NULL
);


--
-- Name: events; Type: TABLE; Schema: ledger; Owner: -
--

CREATE TABLE ledger.events (
    seq bigint NOT NULL,
    id uuid NOT NULL,
    type text NOT NULL,
    payload_version integer NOT NULL,
    payload jsonb NOT NULL,
    recorded_at timestamp with time zone NOT NULL,
    actor text NOT NULL,
    host text NOT NULL,
    app_version text NOT NULL,
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL,
    migration_id text GENERATED ALWAYS AS ((payload ->> 'id'::text)) STORED,
    CONSTRAINT events_hash_check CHECK ((octet_length(hash) = 32)),
    CONSTRAINT events_payload_version_check CHECK ((payload_version > 0)),
    CONSTRAINT events_prev_hash_check CHECK ((octet_length(prev_hash) = 32)),
    CONSTRAINT events_seq_check CHECK ((seq > 0))
);


--
-- Name: failed; Type: TABLE; Schema: ledger; Owner: -
--

CREATE TABLE ledger.failed (
    id text NOT NULL COLLATE pg_catalog."C",
    checksum text NOT NULL,
    seq bigint NOT NULL,
    failed_at timestamp with time zone NOT NULL,
    app_version text NOT NULL,
    actor text NOT NULL,
    host text NOT NULL,
    error text NOT NULL,
    sqlstate text DEFAULT ''::text NOT NULL,
    statement text DEFAULT ''::text NOT NULL,
    attempt integer DEFAULT 0 NOT NULL
);


--
-- Name: in_doubt; Type: TABLE; Schema: ledger; Owner: -
--

CREATE TABLE ledger.in_doubt (
    id text NOT NULL COLLATE pg_catalog."C",
    checksum text NOT NULL,
    seq bigint NOT NULL,
    started_at timestamp with time zone NOT NULL,
    app_version text NOT NULL,
    actor text NOT NULL,
    host text NOT NULL,
    compatible text DEFAULT ''::text NOT NULL,
    down_checksum text DEFAULT ''::text NOT NULL,
    statements_done integer DEFAULT 0 NOT NULL,
    error text DEFAULT ''::text NOT NULL
);


--
-- Name: accounts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.accounts (
    id bigint NOT NULL,
    email text NOT NULL
);


--
-- Name: accounts_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.accounts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: accounts_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.accounts_id_seq OWNED BY public.accounts.id;


--
-- Name: orders; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.orders (
    id bigint NOT NULL,
    account_id bigint NOT NULL,
    total numeric NOT NULL,
    status text DEFAULT 'new'::text NOT NULL
);


--
-- Name: orders_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.orders_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: orders_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.orders_id_seq OWNED BY public.orders.id;


--
-- Name: accounts id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.accounts ALTER COLUMN id SET DEFAULT nextval('public.accounts_id_seq'::regclass);


--
-- Name: orders id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders ALTER COLUMN id SET DEFAULT nextval('public.orders_id_seq'::regclass);


--
-- Data for Name: applied; Type: TABLE DATA; Schema: ledger; Owner: -
--

INSERT INTO ledger.applied VALUES ('0001_create_accounts', 1, 'create_accounts', '7dc9850b85dea8bb13f6a00d260d826142a3beb5a1d947e557abbeb944cc4e5b', 2, '2026-11-30 06:08:00.859066+00', '1.0.0', 'postgres', 'vm', '', true, 'd2614c18fc0cdf5c1f5ed3bdfa125e8d8d8bb95f994663a5e3a68a04f1738ae9');
INSERT INTO ledger.applied VALUES ('0002_create_orders', 2, 'create_orders', '34316816f02ba5e159f900b88dab2e91ad8cb6a2f0b9139d0dd673ddfce78250', 7, '2026-11-30 06:08:00.948916+00', '1.1.0', 'postgres', 'vm', '>=1.0.0 <2.0.0', true, '3ab5696a488196cee5825cf2dfb6ffc3690fc92982c6e4fed4d9bb8a293cdd1f');
INSERT INTO ledger.applied VALUES ('0003_orders_index', 3, 'orders_index', 'b2aa22a9a4aea91b448c7f27f15cf9dfea8ef631b2c72010bb3fc7106b687e77', 9, '2026-11-30 06:08:00.964443+00', '1.1.0', 'postgres', 'vm', '', false, '4ec03bdf7e7314db991bb597dc1c90ad4959eba49bc028297df008f5441d903e');
INSERT INTO ledger.applied VALUES ('0004_add_status', 4, 'add_status', 'e6bf0a86dfc7b4f52f7f13302b222ecde67af52f981a005d98e665ac17ad064e', 12, '2026-11-30 06:08:03.088606+00', '1.2.0', 'postgres', 'vm', '', true, 'b27eb9660e61c4b27476cdea5c0704ebcd28041800db9c82d93b3ef5e2dcf540');


--
-- Data for Name: events; Type: TABLE DATA; Schema: ledger; Owner: -
--

INSERT INTO ledger.events VALUES (1, '01a22b11-2932-7269-bd3c-9df8e892c8d9', 'ledger.initialized', 1, '{"format": 1, "schema": "ledger"}', '2026-11-30 06:07:54.674018+00', 'postgres', 'vm', '1.0.0', '\x0000000000000000000000000000000000000000000000000000000000000000', '\xb1283598b9d3262168dbbb72315b4f6ff4edb5a05face53113676c5f07e4273b', DEFAULT);
INSERT INTO ledger.events VALUES (2, '01a22b11-4152-7afd-815a-0bc6fb33faf5', 'migration.applied', 1, '{"id": "0001_create_accounts", "checksum": "7dc9850b85dea8bb13f6a00d260d826142a3beb5a1d947e557abbeb944cc4e5b", "down_sql": "DROP TABLE accounts;\n", "duration_ms": 8, "down_checksum": "d2614c18fc0cdf5c1f5ed3bdfa125e8d8d8bb95f994663a5e3a68a04f1738ae9", "transactional": true}', '2026-11-30 06:08:00.859066+00', 'postgres', 'vm', '1.0.0', '\xb1283598b9d3262168dbbb72315b4f6ff4edb5a05face53113676c5f07e4273b', '\xfd1334dff425356fbe5bbb7733e071ba12210ad36eb7f492467544fac944be5b', DEFAULT);
INSERT INTO ledger.events VALUES (3, '01a22b11-4152-7caf-aa24-47b5bf6efb7b', 'migration.applied', 1, '{"id": "0002_create_orders", "checksum": "34316816f02ba5e159f900b88dab2e91ad8cb6a2f0b9139d0dd673ddfce78250", "down_sql": "DROP TABLE orders;\n", "compatible": ">=1.0.0 <2.0.0", "duration_ms": 7, "down_checksum": "3ab5696a488196cee5825cf2dfb6ffc3690fc92982c6e4fed4d9bb8a293cdd1f", "transactional": true}', '2026-11-30 06:08:00.871315+00', 'postgres', 'vm', '1.0.0', '\xfd1334dff425356fbe5bbb7733e071ba12210ad36eb7f492467544fac944be5b', '\xa6bbbf75e6f7eee5da2a68c6a8fb1c01397879cbc124bfac7cd428dfbaef34fe', DEFAULT);
INSERT INTO ledger.events VALUES (4, '01a22b11-4173-7650-8420-451297d2992e', 'schema.fingerprinted', 1, '{"objects": 16, "fingerprint": "b7a25a3da565731384f1fa32010e5ba05dc1d848fe2a64c133dc3d7d48c76aa7"}', '2026-11-30 06:08:00.883749+00', 'postgres', 'vm', '1.0.0', '\xa6bbbf75e6f7eee5da2a68c6a8fb1c01397879cbc124bfac7cd428dfbaef34fe', '\x9cca0a2f6a9efc64dc7bd5d0979c34076770e0989a247b3d8cac18eb815a9937', DEFAULT);
INSERT INTO ledger.events VALUES (5, '01a22b11-4185-7a17-af64-ac53828671bb', 'migration.reverted', 1, '{"id": "0002_create_orders", "source": "file", "duration_ms": 3, "down_checksum": "3ab5696a488196cee5825cf2dfb6ffc3690fc92982c6e4fed4d9bb8a293cdd1f"}', '2026-11-30 06:08:00.904937+00', 'postgres', 'vm', '1.0.1', '\x9cca0a2f6a9efc64dc7bd5d0979c34076770e0989a247b3d8cac18eb815a9937', '\x422395160c25b07fc29ca5695666f967d9ae0ce5f96004a990b5f05295d5705c', DEFAULT);
INSERT INTO ledger.events VALUES (6, '01a22b11-4196-7800-ab24-b5fe4a19e0fa', 'schema.fingerprinted', 1, '{"objects": 8, "fingerprint": "574245ed64715d80b04aac28d4db35da0b9a3f6d9d6a8a57a5dcb1111d00fcb9"}', '2026-11-30 06:08:00.920141+00', 'postgres', 'vm', '1.0.1', '\x422395160c25b07fc29ca5695666f967d9ae0ce5f96004a990b5f05295d5705c', '\x3cbc9f3f8d930a48e0396df5f8f493770ab7387b71e206c8e1065c8ba69e6625', DEFAULT);
INSERT INTO ledger.events VALUES (7, '01a22b11-41a8-764c-92bd-accead043f7e', 'migration.applied', 1, '{"id": "0002_create_orders", "checksum": "34316816f02ba5e159f900b88dab2e91ad8cb6a2f0b9139d0dd673ddfce78250", "down_sql": "DROP TABLE orders;\n", "compatible": ">=1.0.0 <2.0.0", "duration_ms": 12, "down_checksum": "3ab5696a488196cee5825cf2dfb6ffc3690fc92982c6e4fed4d9bb8a293cdd1f", "transactional": true}', '2026-11-30 06:08:00.948916+00', 'postgres', 'vm', '1.1.0', '\x3cbc9f3f8d930a48e0396df5f8f493770ab7387b71e206c8e1065c8ba69e6625', '\x7069e8e0ba14971651c18b074a4de808ff13515d05c498bb14ff8d8eb127c828', DEFAULT);
INSERT INTO ledger.events VALUES (8, '01a22b11-41b7-70cf-8b55-2d21e60b2457', 'migration.started', 1, '{"id": "0003_orders_index", "checksum": "b2aa22a9a4aea91b448c7f27f15cf9dfea8ef631b2c72010bb3fc7106b687e77", "down_sql": "-- ledger:no-transaction\nDROP INDEX CONCURRENTLY orders_account;\n", "down_checksum": "4ec03bdf7e7314db991bb597dc1c90ad4959eba49bc028297df008f5441d903e"}', '2026-11-30 06:08:00.951754+00', 'postgres', 'vm', '1.1.0', '\x7069e8e0ba14971651c18b074a4de808ff13515d05c498bb14ff8d8eb127c828', '\xf4df354c2a0098f02ec354653a03c822982573b2ac528a6fbefb36b25a67528b', DEFAULT);
INSERT INTO ledger.events VALUES (9, '01a22b11-41c4-70f4-a165-260da1826b07', 'migration.applied', 1, '{"id": "0003_orders_index", "checksum": "b2aa22a9a4aea91b448c7f27f15cf9dfea8ef631b2c72010bb3fc7106b687e77", "down_sql": "-- ledger:no-transaction\nDROP INDEX CONCURRENTLY orders_account;\n", "duration_ms": 6, "down_checksum": "4ec03bdf7e7314db991bb597dc1c90ad4959eba49bc028297df008f5441d903e", "transactional": false}', '2026-11-30 06:08:00.964443+00', 'postgres', 'vm', '1.1.0', '\xf4df354c2a0098f02ec354653a03c822982573b2ac528a6fbefb36b25a67528b', '\x95c214401c4b0929903174a3b2cc209baa7e58664b72b54552f03fcb131a44a3', DEFAULT);
INSERT INTO ledger.events VALUES (10, '01a22b11-41c8-78c2-87b1-f1ad443eddf4', 'migration.failed', 1, '{"id": "0004_add_status", "error": "ERROR: relation \"nosuchtable\" does not exist (SQLSTATE 42P01)", "attempt": 1, "checksum": "df1ad629e2e51c7b7ee3266960855e81beb7b5018639b90b06e71b64547ffb4b", "sqlstate": "42P01", "statement": "ALTER TABLE nosuchtable ADD COLUMN x int"}', '2026-11-30 06:08:00.968802+00', 'postgres', 'vm', '1.1.0', '\x95c214401c4b0929903174a3b2cc209baa7e58664b72b54552f03fcb131a44a3', '\xc10f4427eab955e0270a7300795b0277037d652929f6f8248118f02654351fc9', DEFAULT);
INSERT INTO ledger.events VALUES (11, '01a22b11-41cf-70a1-9edd-14c3b5c2aa4c', 'schema.fingerprinted', 1, '{"objects": 17, "fingerprint": "6ca561f9bacb431a742abcbd8e4e60c519be883f3e437c367e6741b09601b7be"}', '2026-11-30 06:08:00.979769+00', 'postgres', 'vm', '1.1.0', '\xc10f4427eab955e0270a7300795b0277037d652929f6f8248118f02654351fc9', '\xef21a838a7e8f9f87732d83531e301f11e9cce3f25bab1dbdff18fe50d1aa587', DEFAULT);
INSERT INTO ledger.events VALUES (12, '01a22b11-4a0d-7919-bb03-a3df232eefd6', 'migration.applied', 1, '{"id": "0004_add_status", "checksum": "e6bf0a86dfc7b4f52f7f13302b222ecde67af52f981a005d98e665ac17ad064e", "down_sql": "ALTER TABLE orders DROP COLUMN status;\n", "duration_ms": 2, "down_checksum": "b27eb9660e61c4b27476cdea5c0704ebcd28041800db9c82d93b3ef5e2dcf540", "transactional": true}', '2026-11-30 06:08:03.088606+00', 'postgres', 'vm', '1.2.0', '\xef21a838a7e8f9f87732d83531e301f11e9cce3f25bab1dbdff18fe50d1aa587', '\x0c047e2bc04d61a62fd985c9aeef17cb4b2c5401a295a86733e3b7984804a3e1', DEFAULT);
INSERT INTO ledger.events VALUES (13, '01a22b11-4a1d-73be-8dc8-928ceb43778a', 'schema.fingerprinted', 1, '{"objects": 18, "fingerprint": "7250573a2c32827b0c8fdf0287bc595c5aa955ce26b2e0a362ce553d373c4e2a"}', '2026-11-30 06:08:03.101819+00', 'postgres', 'vm', '1.2.0', '\x0c047e2bc04d61a62fd985c9aeef17cb4b2c5401a295a86733e3b7984804a3e1', '\x8bd598eb5436b563858dbcb4f13af8d2031d33189112e14eb317eaff1465c013', DEFAULT);
INSERT INTO ledger.events VALUES (14, '01a22b11-4a3c-73b7-8fb1-a0d8cdcecd8d', 'migration.started', 1, '{"id": "0005_slow_backfill", "checksum": "6befd353ba525809c1bfc6230a3c4f5d35d84fb1c0ae82d84f5b5dedbad7f9bd"}', '2026-11-30 06:08:03.136081+00', 'postgres', 'vm', '1.2.0', '\x8bd598eb5436b563858dbcb4f13af8d2031d33189112e14eb317eaff1465c013', '\xf9c1a3415e312e118460acc80b12752964e5c5f92197689b7595a2f942541bc1', DEFAULT);


--
-- Data for Name: failed; Type: TABLE DATA; Schema: ledger; Owner: -
--



--
-- Data for Name: head; Type: TABLE DATA; Schema: ledger; Owner: -
--

INSERT INTO ledger.head VALUES (true, 14, '\xf9c1a3415e312e118460acc80b12752964e5c5f92197689b7595a2f942541bc1', 1, '0004_add_status', '\x6d1abe0e2dca0d30398546dbe3007c81c0f018e5c94f4accc94bc51aecdd966b', 1, '7250573a2c32827b0c8fdf0287bc595c5aa955ce26b2e0a362ce553d373c4e2a', 18, 13, '2026-11-30 06:08:03.136081+00');


--
-- Data for Name: in_doubt; Type: TABLE DATA; Schema: ledger; Owner: -
--

INSERT INTO ledger.in_doubt VALUES ('0005_slow_backfill', '6befd353ba525809c1bfc6230a3c4f5d35d84fb1c0ae82d84f5b5dedbad7f9bd', 14, '2026-11-30 06:08:03.136081+00', '1.2.0', 'postgres', 'vm', '', '', 0, '');


--
-- Data for Name: accounts; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: orders; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Name: accounts_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.accounts_id_seq', 1, false);


--
-- Name: orders_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.orders_id_seq', 1, false);


--
-- Name: applied applied_pkey; Type: CONSTRAINT; Schema: ledger; Owner: -
--

ALTER TABLE ONLY ledger.applied
    ADD CONSTRAINT applied_pkey PRIMARY KEY (id);


--
-- Name: events events_id_key; Type: CONSTRAINT; Schema: ledger; Owner: -
--

ALTER TABLE ONLY ledger.events
    ADD CONSTRAINT events_id_key UNIQUE (id);


--
-- Name: events events_pkey; Type: CONSTRAINT; Schema: ledger; Owner: -
--

ALTER TABLE ONLY ledger.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (seq);


--
-- Name: failed failed_pkey; Type: CONSTRAINT; Schema: ledger; Owner: -
--

ALTER TABLE ONLY ledger.failed
    ADD CONSTRAINT failed_pkey PRIMARY KEY (id);


--
-- Name: head head_pkey; Type: CONSTRAINT; Schema: ledger; Owner: -
--

ALTER TABLE ONLY ledger.head
    ADD CONSTRAINT head_pkey PRIMARY KEY (one);


--
-- Name: in_doubt in_doubt_pkey; Type: CONSTRAINT; Schema: ledger; Owner: -
--

ALTER TABLE ONLY ledger.in_doubt
    ADD CONSTRAINT in_doubt_pkey PRIMARY KEY (id);


--
-- Name: accounts accounts_email_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.accounts
    ADD CONSTRAINT accounts_email_key UNIQUE (email);


--
-- Name: accounts accounts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.accounts
    ADD CONSTRAINT accounts_pkey PRIMARY KEY (id);


--
-- Name: orders orders_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);


--
-- Name: applied_order; Type: INDEX; Schema: ledger; Owner: -
--

CREATE INDEX applied_order ON ledger.applied USING btree (num, name, id);


--
-- Name: events_actor_seq; Type: INDEX; Schema: ledger; Owner: -
--

CREATE INDEX events_actor_seq ON ledger.events USING btree (actor, seq);


--
-- Name: events_migration_seq; Type: INDEX; Schema: ledger; Owner: -
--

CREATE INDEX events_migration_seq ON ledger.events USING btree (migration_id, seq);


--
-- Name: events_recorded_at; Type: INDEX; Schema: ledger; Owner: -
--

CREATE INDEX events_recorded_at ON ledger.events USING btree (recorded_at);


--
-- Name: events_type_seq; Type: INDEX; Schema: ledger; Owner: -
--

CREATE INDEX events_type_seq ON ledger.events USING btree (type, seq);


--
-- Name: orders_account; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX orders_account ON public.orders USING btree (account_id);


--
-- Name: events events_no_truncate; Type: TRIGGER; Schema: ledger; Owner: -
--

CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON ledger.events FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change();


--
-- Name: events events_no_update_delete; Type: TRIGGER; Schema: ledger; Owner: -
--

CREATE TRIGGER events_no_update_delete BEFORE DELETE OR UPDATE ON ledger.events FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();


--
-- Name: orders orders_account_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_account_id_fkey FOREIGN KEY (account_id) REFERENCES public.accounts(id);


--
-- PostgreSQL database dump complete
--

\unrestrict gpckr4Cx47G7BZG7LldeDZ4hm3fUZrdKdHybfFGSIHFqS1C5vQq0yeGAEsuHa7O

