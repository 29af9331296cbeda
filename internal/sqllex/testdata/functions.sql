-- A plpgsql function, a trigger and an SQL-standard body.
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now(); -- a semicolon inside the body
    RETURN NEW;
END
$$;

CREATE TRIGGER users_touch BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION touch();

CREATE OR REPLACE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql
BEGIN ATOMIC
    SELECT CASE WHEN a IS NULL THEN 0 ELSE a END + b;
END;

CREATE FUNCTION tagged() RETURNS text AS $body$ SELECT $$;$$ $body$ LANGUAGE sql;
