ALTER TABLE deliveries ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending'
