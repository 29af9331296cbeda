BEGIN;

CREATE TABLE users (
    id   bigserial PRIMARY KEY,
    name text NOT NULL DEFAULT 'anonymous; really'
);

CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.name := lower(NEW.name);
    RETURN NEW;
END
$$;

COMMIT;
