CREATE TABLE delivery_bodies (
	id TEXT PRIMARY KEY,
	body BYTEA NOT NULL
);
INSERT INTO delivery_bodies (id, body) SELECT id, body FROM deliveries;
ALTER TABLE deliveries DROP COLUMN body
