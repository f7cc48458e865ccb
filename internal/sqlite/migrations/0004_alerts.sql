CREATE TABLE alert_rules (
	id INTEGER PRIMARY KEY,
	project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	action_match TEXT NOT NULL,
	filter_match TEXT NOT NULL,
	frequency INTEGER NOT NULL,
	environment TEXT NOT NULL DEFAULT '',
	conditions TEXT NOT NULL,
	filters TEXT NOT NULL,
	actions TEXT NOT NULL,
	date_created BIGINT NOT NULL
);
CREATE INDEX alert_rules_project ON alert_rules (project_id, id);
CREATE TABLE rule_fires (
	rule_id BIGINT NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
	issue_id BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
	fired_at BIGINT NOT NULL,
	PRIMARY KEY (rule_id, issue_id)
);
CREATE INDEX rule_fires_issue ON rule_fires (issue_id);
CREATE TABLE issue_minutes (
	issue_id BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
	minute BIGINT NOT NULL,
	events BIGINT NOT NULL,
	PRIMARY KEY (issue_id, minute)
);
CREATE TABLE issue_minute_users (
	issue_id BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
	minute BIGINT NOT NULL,
	user_key TEXT NOT NULL,
	PRIMARY KEY (issue_id, minute, user_key)
);
CREATE TABLE metric_alert_rules (
	id INTEGER PRIMARY KEY,
	org_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	aggregate TEXT NOT NULL,
	query TEXT NOT NULL,
	environment TEXT NOT NULL DEFAULT '',
	project_ids TEXT NOT NULL,
	time_window INTEGER NOT NULL,
	threshold_type INTEGER NOT NULL,
	resolve_threshold REAL,
	triggers TEXT NOT NULL,
	date_created BIGINT NOT NULL,
	date_modified BIGINT NOT NULL
);
CREATE INDEX metric_alert_rules_org ON metric_alert_rules (org_id, id);
CREATE TABLE metric_minutes (
	rule_id BIGINT NOT NULL REFERENCES metric_alert_rules (id) ON DELETE CASCADE,
	minute BIGINT NOT NULL,
	events BIGINT NOT NULL,
	PRIMARY KEY (rule_id, minute)
);
CREATE TABLE metric_minute_users (
	rule_id BIGINT NOT NULL REFERENCES metric_alert_rules (id) ON DELETE CASCADE,
	minute BIGINT NOT NULL,
	user_key TEXT NOT NULL,
	PRIMARY KEY (rule_id, minute, user_key)
);
CREATE TABLE incidents (
	id INTEGER PRIMARY KEY,
	org_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	rule_id BIGINT NOT NULL REFERENCES metric_alert_rules (id) ON DELETE CASCADE,
	identifier BIGINT NOT NULL,
	title TEXT NOT NULL,
	status INTEGER NOT NULL,
	date_started BIGINT NOT NULL,
	date_closed BIGINT,
	UNIQUE (org_id, identifier)
);
CREATE INDEX incidents_rule ON incidents (rule_id, status);
CREATE TABLE incident_history (
	incident_id BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
	status INTEGER NOT NULL,
	value REAL NOT NULL,
	at BIGINT NOT NULL
);
CREATE INDEX incident_history_incident ON incident_history (incident_id, at);
CREATE INDEX issue_minutes_minute ON issue_minutes (minute);
CREATE INDEX issue_minute_users_minute ON issue_minute_users (minute);
CREATE INDEX metric_minutes_minute ON metric_minutes (minute);
CREATE INDEX metric_minute_users_minute ON metric_minute_users (minute)
