-- +goose Up
CREATE TABLE workers (id bigserial PRIMARY KEY, name text NOT NULL);
CREATE TABLE steps (
    id bigserial PRIMARY KEY,
    worker_id bigint REFERENCES workers (id),
    action text NOT NULL
);
INSERT INTO workers (name) VALUES ('w1');
INSERT INTO steps (worker_id, action) VALUES (1, 'Email:Send'), (1, 'Slack:Post');

-- +goose Down
DROP TABLE steps;
DROP TABLE workers;
