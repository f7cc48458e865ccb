-- Destinations (Service Hooks, Sentry App installations) deleted whose
-- deliveries are still to be deleted. Deleting a hook with a million
-- deliveries in the hook's own transaction held SQLite's one writer, and
-- every ingest batch with it, for seconds; the deliveries are deleted after,
-- a thousand at a time (DB.PurgeDestinations).
CREATE TABLE destination_purges (
	destination_kind TEXT NOT NULL,
	destination_id TEXT NOT NULL,
	PRIMARY KEY (destination_kind, destination_id)
)
