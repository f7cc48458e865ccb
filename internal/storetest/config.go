package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/sqlstore"
)

// configView is what an ingest batch reads of configuration, through the
// configuration cache, put in words a step can compare.
type configView struct {
	project  string // org slug / team slug / project slug, or "" when absent
	hooks    []string
	apps     []string // webhook URL and client secret of each installation
	rules    []string
	metrics  []string
	absentOK bool // the project that does not exist stayed absent
}

// testConfigCache checks that the reads an ingest batch makes through the
// configuration cache (Tx.CacheConfig) see every change to configuration
// made before they run, whatever they read before it, and that a new
// issue's short id does not count as a change (it would empty the cache in
// a storm of new issues).
func testConfigCache(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	const missing = 1 << 40
	// read reads configuration as a batch does; viaEvents first looks up
	// events, as SaveEvents does, whose query then reads the version.
	read := func(t *testing.T, viaEvents bool) configView {
		t.Helper()
		var v configView
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			tx.CacheConfig()
			if viaEvents {
				if _, err := tx.ExistingEvents(ctx, []*herald.Event{f.Event("config-cache-probe")}); err != nil {
					return err
				}
			}
			projects, err := tx.Projects(ctx, []int64{f.Project.ID, missing})
			if err != nil {
				return err
			}
			if p := projects[f.Project.ID]; p != nil {
				v.project = p.Organization.Slug + "/" + p.Team.Slug + "/" + p.Slug
			}
			_, present := projects[missing]
			v.absentOK = !present
			hooks, err := tx.ActiveHooks(ctx, []int64{f.Project.ID})
			if err != nil {
				return err
			}
			for _, h := range hooks[f.Project.ID] {
				v.hooks = append(v.hooks, h.URL+" "+h.Secret)
			}
			installs, err := tx.OrgInstallations(ctx, []int64{f.Org.ID})
			if err != nil {
				return err
			}
			for _, inst := range installs[f.Org.ID] {
				v.apps = append(v.apps, inst.App.WebhookURL+" "+inst.App.ClientSecret)
			}
			rules, err := tx.ProjectRules(ctx, []int64{f.Project.ID})
			if err != nil {
				return err
			}
			for _, r := range rules {
				v.rules = append(v.rules, r.Name)
			}
			metrics, err := tx.MetricRules(ctx, []int64{f.Org.ID})
			if err != nil {
				return err
			}
			for _, r := range metrics {
				v.metrics = append(v.metrics, r.Name)
			}
			return nil
		})
		return v
	}
	configVersion := func(t *testing.T) int64 {
		t.Helper()
		var n int64
		must(t, s.SQL().QueryRowContext(ctx, `SELECT n FROM config_version WHERE id = 1`).Scan(&n))
		return n
	}

	var hook *herald.Hook
	var app *herald.SentryApp
	var inst *herald.Installation
	var rule *herald.AlertRule
	var metric *herald.MetricAlertRule
	has := func(list []string, prefix string) bool {
		return slices.ContainsFunc(list, func(s string) bool { return strings.HasPrefix(s, prefix) })
	}
	steps := []struct {
		name   string
		change func(t *testing.T)
		want   func(v configView) bool
	}{
		{"hook created", func(t *testing.T) { hook = f.Hook(t, "https://example.com/cached", herald.HookEventCreated) },
			func(v configView) bool { return has(v.hooks, "https://example.com/cached "+hook.Secret) }},
		{"hook secret rotated", func(t *testing.T) {
			h, err := s.RotateHookSecret(ctx, f.Project.ID, hook.ID)
			must(t, err)
			hook = h
		}, func(v configView) bool { return has(v.hooks, "https://example.com/cached "+hook.Secret) }},
		{"hook disabled", func(t *testing.T) {
			disabled := herald.HookDisabled
			_, err := s.UpdateHook(ctx, f.Project.ID, hook.ID, herald.HookUpdate{Status: &disabled})
			must(t, err)
		}, func(v configView) bool { return !has(v.hooks, "https://example.com/cached") }},
		{"project renamed", func(t *testing.T) {
			slug := "renamed"
			_, err := s.UpdateProject(ctx, f.Project.ID, herald.ProjectUpdate{Slug: &slug})
			must(t, err)
		}, func(v configView) bool { return v.project == "acme/core/renamed" }},
		{"organization renamed", func(t *testing.T) {
			_, err := s.SQL().ExecContext(ctx, `UPDATE organizations SET slug = 'acme2' WHERE id = $1`, f.Org.ID)
			must(t, err)
		}, func(v configView) bool { return v.project == "acme2/core/renamed" }},
		{"team renamed", func(t *testing.T) {
			_, err := s.SQL().ExecContext(ctx, `UPDATE teams SET slug = 'core2' WHERE id = $1`, f.Team.ID)
			must(t, err)
		}, func(v configView) bool { return v.project == "acme2/core2/renamed" }},
		{"app installed", func(t *testing.T) {
			app = f.App(t, "cached-app", false, "issue")
			inst = f.Install(t, app)
		}, func(v configView) bool { return has(v.apps, "https://apps.example/cached-app ") }},
		{"app webhook changed", func(t *testing.T) {
			url := "https://apps.example/moved"
			_, err := s.UpdateApp(ctx, app.ID, herald.SentryAppUpdate{WebhookURL: &url})
			must(t, err)
		}, func(v configView) bool { return has(v.apps, "https://apps.example/moved ") }},
		{"app secret rotated", func(t *testing.T) {
			a, err := s.RotateAppSecret(ctx, app.ID)
			must(t, err)
			app = a
		}, func(v configView) bool { return has(v.apps, "https://apps.example/moved "+app.ClientSecret) }},
		{"app uninstalled", func(t *testing.T) {
			f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error { return tx.Uninstall(ctx, inst) })
		}, func(v configView) bool { return len(v.apps) == 0 }},
		{"rule created", func(t *testing.T) {
			rule = f.Rule(t, "Cached rule", 30, []herald.RuleItem{{"id": FirstSeenCondition}}, nil)
		},
			func(v configView) bool { return slices.Equal(v.rules, []string{"Cached rule"}) }},
		{"rule renamed", func(t *testing.T) {
			rule.Name = "Renamed rule"
			must(t, s.UpdateRule(ctx, rule))
		}, func(v configView) bool { return slices.Equal(v.rules, []string{"Renamed rule"}) }},
		{"rule deleted", func(t *testing.T) { must(t, s.DeleteRule(ctx, f.Project.ID, rule.ID)) },
			func(v configView) bool { return len(v.rules) == 0 }},
		{"metric alert created", func(t *testing.T) {
			metric = f.MetricRule(t, &herald.MetricAlertRule{Name: "Cached spike"}, nil, 10, 0)
		},
			func(v configView) bool { return slices.Equal(v.metrics, []string{"Cached spike"}) }},
		{"metric alert deleted", func(t *testing.T) { must(t, s.DeleteMetricAlert(ctx, f.Org.ID, metric.ID)) },
			func(v configView) bool { return len(v.metrics) == 0 }},
	}
	for _, st := range steps {
		t.Run(strings.ReplaceAll(st.name, " ", "_"), func(t *testing.T) {
			before := read(t, false) // fills the cache at the current version
			before2 := read(t, true)
			if fmt.Sprint(before) != fmt.Sprint(before2) {
				t.Fatalf("two reads without a change differ: %+v, %+v", before, before2)
			}
			version := configVersion(t)
			st.change(t)
			if configVersion(t) == version {
				t.Errorf("the configuration version did not move")
			}
			for _, viaEvents := range []bool{true, false} {
				if v := read(t, viaEvents); !st.want(v) || !v.absentOK {
					t.Errorf("read after the change (events looked up first: %v) = %+v", viaEvents, v)
				}
			}
		})
	}
	t.Run("NewIssueKeepsVersion", func(t *testing.T) {
		read(t, false)
		version := configVersion(t)
		f.Issue(t, "config-cache-new-issue") // moves the project's next_short_id
		if got := configVersion(t); got != version {
			t.Errorf("a new issue moved the configuration version from %d to %d", version, got)
		}
	})
}
