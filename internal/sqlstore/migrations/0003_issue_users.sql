CREATE TABLE issue_users (
	issue_id BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
	user_key TEXT NOT NULL,
	PRIMARY KEY (issue_id, user_key)
)
