CREATE TABLE orders (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts,
    total      numeric(12, 2) NOT NULL
);
CREATE INDEX orders_account ON orders (account_id);
