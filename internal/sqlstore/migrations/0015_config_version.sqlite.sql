-- A configuration version, which every change to what an ingest batch
-- reads of configuration moves on: organizations, teams, projects (but for
-- next_short_id, which every new issue moves), hooks, Sentry Apps and
-- their installations, issue and metric alert rules. Batches keep what they
-- read at a version (sqlstore's configCache) and read it again only once
-- the version has moved. Triggers move it, so no write path can forget to.
CREATE TABLE config_version (id INTEGER PRIMARY KEY, n BIGINT NOT NULL);
INSERT INTO config_version (id, n) VALUES (1, 0);
CREATE TRIGGER organizations_config_insert AFTER INSERT ON organizations BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER organizations_config_update AFTER UPDATE ON organizations BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER organizations_config_delete AFTER DELETE ON organizations BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER teams_config_insert AFTER INSERT ON teams BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER teams_config_update AFTER UPDATE ON teams BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER teams_config_delete AFTER DELETE ON teams BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER projects_config_insert AFTER INSERT ON projects BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER projects_config_update AFTER UPDATE OF id, org_id, team_id, slug, name, platform, features, date_created ON projects BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER projects_config_delete AFTER DELETE ON projects BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER hooks_config_insert AFTER INSERT ON hooks BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER hooks_config_update AFTER UPDATE ON hooks BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER hooks_config_delete AFTER DELETE ON hooks BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER sentry_apps_config_insert AFTER INSERT ON sentry_apps BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER sentry_apps_config_update AFTER UPDATE ON sentry_apps BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER sentry_apps_config_delete AFTER DELETE ON sentry_apps BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER app_installations_config_insert AFTER INSERT ON app_installations BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER app_installations_config_update AFTER UPDATE ON app_installations BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER app_installations_config_delete AFTER DELETE ON app_installations BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER alert_rules_config_insert AFTER INSERT ON alert_rules BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER alert_rules_config_update AFTER UPDATE ON alert_rules BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER alert_rules_config_delete AFTER DELETE ON alert_rules BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER metric_alert_rules_config_insert AFTER INSERT ON metric_alert_rules BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER metric_alert_rules_config_update AFTER UPDATE ON metric_alert_rules BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER metric_alert_rules_config_delete AFTER DELETE ON metric_alert_rules BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; END;
