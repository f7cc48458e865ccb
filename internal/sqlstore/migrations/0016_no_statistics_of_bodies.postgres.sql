-- PostgreSQL only (the file name says so). No statement looks for a row by
-- an event's data, a delivery's body or the body of a receiver's answer,
-- so ANALYZE (autovacuum's too) gathers no statistics of them: it need not
-- decompress and sort a sample of up to 30,000 values of 2 to 3 KB each
-- for statistics no plan uses.
ALTER TABLE events ALTER COLUMN data SET STATISTICS 0;
ALTER TABLE delivery_bodies ALTER COLUMN body SET STATISTICS 0;
ALTER TABLE attempts ALTER COLUMN response_body SET STATISTICS 0
