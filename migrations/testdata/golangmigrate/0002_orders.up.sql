-- Orders, with a constraint that releases before 1.2 cannot cope with.
-- ledger:compatible >=1.2.0 <2.0.0

CREATE TABLE orders (id bigserial PRIMARY KEY, user_id bigint REFERENCES users);
