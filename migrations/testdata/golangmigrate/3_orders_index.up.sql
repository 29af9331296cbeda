-- ledger:no-transaction
CREATE INDEX CONCURRENTLY orders_user_id ON orders (user_id);
CREATE UNIQUE INDEX CONCURRENTLY users_name ON users (name);
