ALTER TABLE issues ADD COLUMN assignee_type TEXT NOT NULL DEFAULT '';
ALTER TABLE issues ADD COLUMN assignee_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE issues ADD COLUMN num_comments BIGINT NOT NULL DEFAULT 0;
CREATE TABLE comments (
	id INTEGER PRIMARY KEY,
	issue_id BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
	user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	text TEXT NOT NULL,
	date_created BIGINT NOT NULL,
	date_updated BIGINT NOT NULL
);
CREATE INDEX comments_issue ON comments (issue_id, id);
CREATE TABLE sentry_apps (
	id INTEGER PRIMARY KEY,
	uuid TEXT NOT NULL UNIQUE,
	slug TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	author TEXT NOT NULL,
	overview TEXT NOT NULL,
	status TEXT NOT NULL,
	org_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	webhook_url TEXT NOT NULL,
	redirect_url TEXT NOT NULL,
	is_alertable INTEGER NOT NULL,
	verify_install INTEGER NOT NULL,
	scopes TEXT NOT NULL,
	events TEXT NOT NULL,
	client_id TEXT NOT NULL UNIQUE,
	client_secret TEXT NOT NULL,
	proxy_user_id BIGINT NOT NULL UNIQUE REFERENCES users (id),
	date_created BIGINT NOT NULL,
	date_updated BIGINT NOT NULL
);
CREATE INDEX sentry_apps_org ON sentry_apps (org_id);
CREATE TABLE app_installations (
	id INTEGER PRIMARY KEY,
	uuid TEXT NOT NULL UNIQUE,
	app_id BIGINT NOT NULL REFERENCES sentry_apps (id) ON DELETE CASCADE,
	org_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	status TEXT NOT NULL,
	grant_code TEXT NOT NULL DEFAULT '',
	grant_expires_at BIGINT NOT NULL DEFAULT 0,
	date_created BIGINT NOT NULL,
	date_updated BIGINT NOT NULL
);
CREATE UNIQUE INDEX app_installations_live ON app_installations (app_id, org_id) WHERE status <> 'deleted';
CREATE INDEX app_installations_org ON app_installations (org_id, status);
CREATE TABLE app_tokens (
	token_id BIGINT PRIMARY KEY REFERENCES tokens (id) ON DELETE CASCADE,
	app_id BIGINT NOT NULL REFERENCES sentry_apps (id) ON DELETE CASCADE,
	installation_id BIGINT NOT NULL REFERENCES app_installations (id) ON DELETE CASCADE,
	refresh_hash TEXT NOT NULL DEFAULT ''
);
CREATE INDEX app_tokens_installation ON app_tokens (installation_id);
CREATE INDEX app_tokens_refresh ON app_tokens (refresh_hash)
