-- Projects deleted whose issues and events are still to be deleted:
-- deleting a project deleted them by cascade in its own transaction, which
-- for a project of a million events held SQLite's one writer, and every
-- ingest batch with it, for seconds. A deleted project is marked, hidden
-- from every read and its slug freed; its issues and events are deleted
-- after, in short transactions, and then its row (DB.PurgeProjects).
ALTER TABLE projects ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT false
