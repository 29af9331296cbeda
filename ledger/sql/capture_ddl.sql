-- DDL capture (ledger init --capture-ddl): an event trigger appends a
-- schema.changed event for DDL run outside a migration. A migrator's own
-- session is known by the migration lock it holds ({{lockkey}}, a session
-- advisory lock), so its DDL is not counted twice. Objects in the ledger's
-- own schema are left out. {{schema}} is the quoted schema name,
-- {{schemaname}} the name as a literal, {{trigger}} the trigger's name
-- prefix.
CREATE OR REPLACE FUNCTION {{schema}}.capture_ddl() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$
DECLARE
    r    record;
    objs jsonb := '[]';
    h    {{schema}}.head;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_locks l
               WHERE l.locktype = 'advisory' AND l.pid = pg_backend_pid() AND l.granted AND l.objsubid = 1
                 AND l.classid = (({{lockkey}}::bigint >> 32) & 4294967295)::oid
                 AND l.objid = ({{lockkey}}::bigint & 4294967295)::oid) THEN
        RETURN; -- a migration: the ledger records it already
    END IF;
    IF TG_EVENT = 'sql_drop' THEN
        FOR r IN SELECT * FROM pg_event_trigger_dropped_objects() LOOP
            CONTINUE WHEN NOT r.original OR r.is_temporary OR r.schema_name = {{schemaname}}
                OR (r.object_type = 'schema' AND r.object_name = {{schemaname}});
            objs := objs || jsonb_build_object('object_type', r.object_type, 'identity', r.object_identity);
        END LOOP;
    ELSE
        FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
            CONTINUE WHEN r.in_extension OR r.schema_name = {{schemaname}} OR r.schema_name LIKE 'pg\_temp%'
                OR (r.object_type = 'schema' AND r.object_identity = {{schemaname}});
            objs := objs || jsonb_build_object('object_type', r.object_type, 'identity', r.object_identity);
        END LOOP;
    END IF;
    IF jsonb_array_length(objs) = 0 THEN
        RETURN;
    END IF;
    -- Lock the head, then append after it: the DDL's transaction commits
    -- its event with it, or neither.
    SELECT * INTO h FROM {{schema}}.head FOR UPDATE;
    IF NOT FOUND THEN
        RETURN; -- no ledger here (any more)
    END IF;
    PERFORM {{schema}}.append(h.seq, h.hash, NULL, session_user::text,
        jsonb_build_array(jsonb_build_object(
            'op', 'event', 'seq', h.seq + 1, 'id', gen_random_uuid(), 'type', 'schema.changed', 'payload_version', 1,
            'payload', jsonb_build_object('command_tag', TG_TAG, 'objects', objs, 'user', session_user::text,
                                          'application_name', current_setting('application_name')),
            'host', coalesce(host(inet_client_addr()), 'local'), 'app_version', '',
            -- The state it leaves is the head's: no migration moved.
            'state_format', h.format, 'state_digest', h.digest,
            'state_in_doubt', h.in_doubt, 'state_schema_version', h.schema_version)),
        NULL, NULL, NULL, 'ledger.' || {{schemaname}});
END
$$;
DROP EVENT TRIGGER IF EXISTS {{trigger}}_ddl;
DROP EVENT TRIGGER IF EXISTS {{trigger}}_drop;
CREATE EVENT TRIGGER {{trigger}}_ddl ON ddl_command_end EXECUTE FUNCTION {{schema}}.capture_ddl();
CREATE EVENT TRIGGER {{trigger}}_drop ON sql_drop EXECUTE FUNCTION {{schema}}.capture_ddl();
