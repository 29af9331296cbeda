-- ledger:compatible >=1.3.0
-- Destructive: 1.2.x still reads accounts.nickname.
ALTER TABLE accounts DROP COLUMN nickname;
