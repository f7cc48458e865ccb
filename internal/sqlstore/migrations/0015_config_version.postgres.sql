-- A configuration version, which every change to what an ingest batch
-- reads of configuration moves on: organizations, teams, projects (but for
-- next_short_id, which every new issue moves), hooks, Sentry Apps and
-- their installations, issue and metric alert rules. Batches keep what they
-- read at a version (sqlstore's configCache) and read it again only once
-- the version has moved. Triggers move it, so no write path can forget to.
-- They are deferred to the commit, so the version row is the last lock a
-- change takes: two changes cannot deadlock on it.
CREATE TABLE config_version (id INTEGER PRIMARY KEY, n BIGINT NOT NULL);
INSERT INTO config_version (id, n) VALUES (1, 0);
CREATE FUNCTION herald_config_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE config_version SET n = n + 1 WHERE id = 1; RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER organizations_config AFTER INSERT OR UPDATE OR DELETE ON organizations DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION herald_config_changed();
CREATE CONSTRAINT TRIGGER teams_config AFTER INSERT OR UPDATE OR DELETE ON teams DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION herald_config_changed();
CREATE CONSTRAINT TRIGGER projects_config AFTER INSERT OR DELETE OR UPDATE OF id, org_id, team_id, slug, name, platform, features, date_created ON projects DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION herald_config_changed();
CREATE CONSTRAINT TRIGGER hooks_config AFTER INSERT OR UPDATE OR DELETE ON hooks DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION herald_config_changed();
CREATE CONSTRAINT TRIGGER sentry_apps_config AFTER INSERT OR UPDATE OR DELETE ON sentry_apps DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION herald_config_changed();
CREATE CONSTRAINT TRIGGER app_installations_config AFTER INSERT OR UPDATE OR DELETE ON app_installations DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION herald_config_changed();
CREATE CONSTRAINT TRIGGER alert_rules_config AFTER INSERT OR UPDATE OR DELETE ON alert_rules DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION herald_config_changed();
CREATE CONSTRAINT TRIGGER metric_alert_rules_config AFTER INSERT OR UPDATE OR DELETE ON metric_alert_rules DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION herald_config_changed();
