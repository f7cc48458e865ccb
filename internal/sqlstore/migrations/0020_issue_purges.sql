-- Issues deleted whose events are still to be deleted: deleting the issue
-- of a storm of a million events in the issue's own transaction held
-- SQLite's one writer, and every ingest batch with it, for seconds; the
-- events are deleted after, a thousand at a time (DB.PurgeIssues).
CREATE TABLE issue_purges (
	issue_id BIGINT PRIMARY KEY,
	project_id BIGINT NOT NULL
)
