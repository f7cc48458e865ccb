-- Alert windows count whole seconds. Beside each minute counter,
-- a counter per second gives the partial minutes at a window's two ends, and
-- a user's first and last second in a minute tell whether the user was seen
-- in the part of that minute a window covers. What was counted before keeps
-- its minute and is put at the minute's first second.
CREATE TABLE issue_seconds (
	issue_id BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
	second BIGINT NOT NULL,
	events BIGINT NOT NULL,
	PRIMARY KEY (issue_id, second)
);
CREATE INDEX issue_seconds_second ON issue_seconds (second);
CREATE TABLE metric_seconds (
	rule_id BIGINT NOT NULL REFERENCES metric_alert_rules (id) ON DELETE CASCADE,
	second BIGINT NOT NULL,
	events BIGINT NOT NULL,
	PRIMARY KEY (rule_id, second)
);
CREATE INDEX metric_seconds_second ON metric_seconds (second);
INSERT INTO issue_seconds (issue_id, second, events) SELECT issue_id, minute * 60, events FROM issue_minutes;
INSERT INTO metric_seconds (rule_id, second, events) SELECT rule_id, minute * 60, events FROM metric_minutes;
ALTER TABLE issue_minute_users ADD COLUMN first_second BIGINT NOT NULL DEFAULT 0;
ALTER TABLE issue_minute_users ADD COLUMN last_second BIGINT NOT NULL DEFAULT 0;
UPDATE issue_minute_users SET first_second = minute * 60, last_second = minute * 60;
ALTER TABLE metric_minute_users ADD COLUMN first_second BIGINT NOT NULL DEFAULT 0;
ALTER TABLE metric_minute_users ADD COLUMN last_second BIGINT NOT NULL DEFAULT 0;
UPDATE metric_minute_users SET first_second = minute * 60, last_second = minute * 60
