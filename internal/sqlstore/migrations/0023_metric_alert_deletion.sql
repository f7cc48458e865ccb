-- A deleted metric alert rule is marked and hidden from every read; its
-- counters (a row per second with events matching it, up to 25 hours of
-- them) and then its row are deleted after, in short transactions
-- (DB.PurgeMetricAlerts): deleting a rule with a counter for every second
-- of its day held SQLite's one writer, and every ingest batch, for 120 ms.
ALTER TABLE metric_alert_rules ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT false
