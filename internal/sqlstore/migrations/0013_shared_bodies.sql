-- Deliveries of one event to several destinations share one stored body.
-- body_id names the delivery_bodies row a delivery's body is kept in; ''
-- means its own id (every delivery written before this migration, and the
-- first of each group sharing a body). The partial index finds the
-- deliveries that still use a body when others are deleted.
ALTER TABLE deliveries ADD COLUMN body_id TEXT NOT NULL DEFAULT '';
CREATE INDEX deliveries_body ON deliveries (body_id) WHERE body_id <> ''
