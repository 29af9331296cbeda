CREATE TABLE accounts (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email      text NOT NULL UNIQUE,
    nickname   text,
    created_at timestamptz NOT NULL DEFAULT now()
);
