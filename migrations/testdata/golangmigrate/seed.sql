INSERT INTO users (name) VALUES ('demo');
