-- ledger:no-transaction
DROP INDEX CONCURRENTLY orders_account;
