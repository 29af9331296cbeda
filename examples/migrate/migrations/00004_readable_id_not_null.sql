-- +goose Up
-- The Go migration before this one filled every readable_id.
ALTER TABLE steps ALTER COLUMN readable_id SET NOT NULL;

-- +goose Down
ALTER TABLE steps ALTER COLUMN readable_id DROP NOT NULL;
