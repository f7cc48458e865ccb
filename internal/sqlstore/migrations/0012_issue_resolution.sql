-- How a resolved issue was resolved, and whether it is unhandled.
-- resolution_type is '' for an issue resolved now or not resolved, else
-- in_next_release, in_release (with resolution_release) or in_commit (with
-- resolution_commit and resolution_repository); they are cleared when the
-- issue leaves resolved. unhandled is Sentry's isUnhandled: whether the
-- issue's latest event, by its timestamp, was unhandled. An issue stored
-- before takes it from its latest event still kept, by the "handled" tag
-- ingest derives from the event's exception (tags are stored one
-- "key=value" a line, hence the line breaks inside the quotes below).
ALTER TABLE issues ADD COLUMN resolution_type TEXT NOT NULL DEFAULT '';
ALTER TABLE issues ADD COLUMN resolution_release TEXT NOT NULL DEFAULT '';
ALTER TABLE issues ADD COLUMN resolution_commit TEXT NOT NULL DEFAULT '';
ALTER TABLE issues ADD COLUMN resolution_repository TEXT NOT NULL DEFAULT '';
ALTER TABLE issues ADD COLUMN unhandled BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE issues SET unhandled = TRUE WHERE '
' || (SELECT e.tags FROM events e WHERE e.issue_id = issues.id ORDER BY e.timestamp DESC, e.received DESC, e.id DESC LIMIT 1) || '
' LIKE '%
handled=no
%'
