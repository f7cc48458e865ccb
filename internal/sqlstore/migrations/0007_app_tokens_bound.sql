-- A Sentry App's tokens are bound to a live installation. Tokens of an
-- app's user that are not (personal tokens an app could make before this
-- was refused) and those of uninstalled installations are revoked.
DELETE FROM tokens WHERE user_id IN (SELECT proxy_user_id FROM sentry_apps)
	AND id NOT IN (SELECT token_id FROM app_tokens);
DELETE FROM tokens WHERE id IN (SELECT x.token_id FROM app_tokens x
	JOIN app_installations i ON i.id = x.installation_id WHERE i.status = 'deleted');
