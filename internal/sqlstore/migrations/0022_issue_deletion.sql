-- A deleted issue is marked, hidden from every read and its hash freed (a
-- new event of its group opens a new issue); its events, its alert
-- counters and then its row are deleted after, in short transactions
-- (DB.PurgeIssues). Deleting the row in the request deleted its counters
-- by cascade, hundreds of thousands after days of a storm, which held
-- SQLite's one writer, and every ingest batch, for half a second; and on
-- SQLite the id of the newest issue, once its row was gone, was given to
-- the next new issue, which then showed the deleted issue's events and
-- lost its own to their purge. The index finds the marked issues.
ALTER TABLE issues ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX issues_deleted ON issues (id) WHERE deleted
