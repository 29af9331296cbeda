\connect other
-- ledger:no-transaction
SELECT 1;
