-- +goose Up
COMMENT ON TABLE steps IS 'the steps of a workflow';

-- +goose Down
-- +goose StatementBegin
-- intentionally blank
-- +goose StatementEnd
