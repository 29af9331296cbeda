-- ledger:no-transaction
DROP INDEX CONCURRENTLY users_name;
DROP INDEX CONCURRENTLY orders_user_id;
