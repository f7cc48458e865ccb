CREATE TABLE users (
	id INTEGER PRIMARY KEY,
	email TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	is_superuser INTEGER NOT NULL DEFAULT 0,
	date_joined BIGINT NOT NULL
);
CREATE TABLE tokens (
	id INTEGER PRIMARY KEY,
	user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	hash TEXT NOT NULL UNIQUE,
	last_chars TEXT NOT NULL,
	scopes TEXT NOT NULL,
	date_created BIGINT NOT NULL,
	expires_at BIGINT
);
CREATE TABLE organizations (
	id INTEGER PRIMARY KEY,
	slug TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	date_created BIGINT NOT NULL
);
CREATE TABLE org_members (
	org_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role TEXT NOT NULL,
	PRIMARY KEY (org_id, user_id)
);
CREATE TABLE teams (
	id INTEGER PRIMARY KEY,
	org_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	slug TEXT NOT NULL,
	name TEXT NOT NULL,
	date_created BIGINT NOT NULL,
	UNIQUE (org_id, slug)
);
CREATE TABLE projects (
	id INTEGER PRIMARY KEY,
	org_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	team_id BIGINT NOT NULL REFERENCES teams (id),
	slug TEXT NOT NULL,
	name TEXT NOT NULL,
	platform TEXT NOT NULL,
	features TEXT NOT NULL,
	next_short_id BIGINT NOT NULL DEFAULT 0,
	date_created BIGINT NOT NULL,
	UNIQUE (org_id, slug)
);
CREATE TABLE project_keys (
	id INTEGER PRIMARY KEY,
	project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	label TEXT NOT NULL,
	public TEXT NOT NULL UNIQUE,
	secret TEXT NOT NULL,
	is_active INTEGER NOT NULL,
	date_created BIGINT NOT NULL
);
CREATE TABLE hooks (
	id TEXT PRIMARY KEY,
	project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	url TEXT NOT NULL,
	events TEXT NOT NULL,
	secret TEXT NOT NULL,
	status TEXT NOT NULL,
	disabled_reason TEXT NOT NULL DEFAULT '',
	failing_since BIGINT,
	date_created BIGINT NOT NULL
);
CREATE INDEX hooks_project ON hooks (project_id, date_created);
CREATE TABLE issues (
	id INTEGER PRIMARY KEY,
	project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	hash TEXT NOT NULL,
	short_id TEXT NOT NULL,
	title TEXT NOT NULL,
	culprit TEXT NOT NULL,
	level TEXT NOT NULL,
	status TEXT NOT NULL,
	substatus TEXT NOT NULL,
	type TEXT NOT NULL,
	value TEXT NOT NULL,
	platform TEXT NOT NULL,
	first_seen BIGINT NOT NULL,
	last_seen BIGINT NOT NULL,
	times_seen BIGINT NOT NULL,
	user_count BIGINT NOT NULL DEFAULT 0,
	UNIQUE (project_id, hash)
);
CREATE INDEX issues_project_seen ON issues (project_id, last_seen);
CREATE TABLE events (
	project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	id TEXT NOT NULL,
	issue_id BIGINT NOT NULL,
	timestamp BIGINT NOT NULL,
	received BIGINT NOT NULL,
	level TEXT NOT NULL,
	platform TEXT NOT NULL,
	message TEXT NOT NULL,
	title TEXT NOT NULL,
	culprit TEXT NOT NULL,
	type TEXT NOT NULL,
	value TEXT NOT NULL,
	environment TEXT NOT NULL,
	release TEXT NOT NULL,
	tags TEXT NOT NULL,
	user_key TEXT NOT NULL,
	hash TEXT NOT NULL,
	data BLOB NOT NULL,
	PRIMARY KEY (project_id, id)
);
CREATE INDEX events_issue ON events (issue_id, received);
CREATE TABLE deliveries (
	id TEXT PRIMARY KEY,
	destination_kind TEXT NOT NULL,
	destination_id TEXT NOT NULL,
	project_id BIGINT NOT NULL,
	org_id BIGINT NOT NULL,
	event TEXT NOT NULL,
	resource TEXT NOT NULL,
	body BLOB NOT NULL,
	signature TEXT NOT NULL,
	ts BIGINT NOT NULL,
	status TEXT NOT NULL,
	attempts INTEGER NOT NULL,
	next_attempt_at BIGINT NOT NULL,
	last_status INTEGER NOT NULL,
	last_error TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX deliveries_destination ON deliveries (destination_kind, destination_id, created_at);
CREATE TABLE attempts (
	id INTEGER PRIMARY KEY,
	delivery_id TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
	number INTEGER NOT NULL,
	url TEXT NOT NULL,
	status_code INTEGER NOT NULL,
	duration_us BIGINT NOT NULL,
	response_body TEXT NOT NULL,
	error TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, number)
