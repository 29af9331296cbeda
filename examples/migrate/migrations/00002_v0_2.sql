-- +goose Up
-- +goose NO TRANSACTION
ALTER TABLE steps ADD COLUMN IF NOT EXISTS readable_id text;
CREATE INDEX CONCURRENTLY IF NOT EXISTS steps_action ON steps (action);

-- +goose Down
-- +goose NO TRANSACTION
DROP INDEX CONCURRENTLY IF EXISTS steps_action;
ALTER TABLE steps DROP COLUMN IF EXISTS readable_id;
