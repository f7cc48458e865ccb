-- The due-deliveries index also holds each pending delivery's creation
-- time, so that the backlog's read (its count, its oldest due and oldest
-- created times, for the metrics) reads the index alone: through the table
-- it read every pending row on every scrape.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, created_at) WHERE status = 'pending'
