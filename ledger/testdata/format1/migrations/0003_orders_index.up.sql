-- ledger:no-transaction
CREATE INDEX CONCURRENTLY orders_account ON orders (account_id);
