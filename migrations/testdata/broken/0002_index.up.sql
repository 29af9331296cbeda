-- adds an index
-- ledger:compatible not-a-version
CREATE TABLE u (id int);

CREATE INDEX CONCURRENTLY u_id ON u (id);
