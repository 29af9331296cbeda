-- ledger:compatible >=1.2.0
-- An additive change: releases from 1.2.0 on ignore the new column.
ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'open';
