-- Sentry Apps' custom webhook headers, and the error headers of receivers'
-- answers. webhook_headers holds an app's extra headers, a JSON list of
-- {"key", "value"} sent on each delivery to it; hook_error_id and
-- hook_project_id keep the Sentry-Hook-Error and Sentry-Hook-Project headers
-- of an attempt's answer for the app's request log.
ALTER TABLE sentry_apps ADD COLUMN webhook_headers TEXT NOT NULL DEFAULT '[]';
ALTER TABLE attempts ADD COLUMN hook_error_id TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN hook_project_id TEXT NOT NULL DEFAULT ''
