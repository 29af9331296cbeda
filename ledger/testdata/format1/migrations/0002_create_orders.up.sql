-- ledger:compatible >=1.0.0 <2.0.0
CREATE TABLE orders (id bigserial PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts(id), total numeric NOT NULL);
