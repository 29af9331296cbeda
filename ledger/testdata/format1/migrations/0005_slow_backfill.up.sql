-- ledger:no-transaction
UPDATE orders SET status = 'old';
SELECT pg_sleep(20);
UPDATE orders SET status = 'new';
