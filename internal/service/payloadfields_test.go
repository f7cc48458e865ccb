package service_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/storetest"
	"github.com/herald-dev/herald/internal/webhook"
)

// TestPayloadFields: the fields receivers read that the webhook builders
// take from the service's data reach the deliveries the service writes, on
// both stores.
func TestPayloadFields(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		open storetest.Opener
	}{{"SQLite", storetest.OpenSQLite}, {"Postgres", storetest.OpenPostgres}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testPayloadFields(t, tt.open)
		})
	}
}

func testPayloadFields(t *testing.T, open storetest.Opener) {
	ctx := context.Background()
	jane := herald.Actor{User: &herald.User{ID: 1, Name: "Jane Doe"}}

	// installation reads the "installation" object of an installation.*
	// delivery's data.
	type installation struct {
		Organization struct {
			Slug string `json:"slug"`
			ID   *int64 `json:"id"`
		} `json:"organization"`
		Code *string `json:"code"`
	}
	installationData := func(t *testing.T, f *fixture, uuid, event string) installation {
		t.Helper()
		for _, d := range f.DeliveriesTo(t, herald.DestinationApp, uuid) {
			if d.Event != event {
				continue
			}
			var body struct {
				Data struct {
					Installation installation `json:"installation"`
				} `json:"data"`
			}
			must(t, json.Unmarshal(d.Body, &body))
			return body.Data.Installation
		}
		t.Fatalf("no %s delivery to %s", event, uuid)
		return installation{}
	}

	t.Run("InstallationCodeWhileGrantExists", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, open)
		app := f.App(t, "pager", false, herald.ResourceIssue)
		inst := &herald.Installation{AppID: app.ID, OrganizationID: f.Org.ID}
		_, err := f.Changes.CreateInstallation(ctx, inst, jane)
		must(t, err)
		created := installationData(t, f, inst.UUID, webhook.InstallationCreated)
		if created.Code == nil || *created.Code != inst.Code || created.Organization.ID == nil || *created.Organization.ID != f.Org.ID {
			t.Fatalf("installation.created installation = %+v, want code %q and organization id %d", created, inst.Code, f.Org.ID)
		}
		// Uninstalled before the app exchanged the grant: the code is sent.
		must(t, f.Changes.DeleteInstallation(ctx, inst.UUID, jane))
		deleted := installationData(t, f, inst.UUID, webhook.InstallationDeleted)
		if deleted.Code == nil || *deleted.Code != inst.Code || deleted.Organization.ID == nil || *deleted.Organization.ID != f.Org.ID {
			t.Fatalf("installation.deleted installation = %+v, want code %q", deleted, inst.Code)
		}
	})

	t.Run("NoCodeOnceExchanged", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, open)
		app := f.App(t, "pager", false, herald.ResourceIssue)
		inst := &herald.Installation{AppID: app.ID, OrganizationID: f.Org.ID}
		_, err := f.Changes.CreateInstallation(ctx, inst, jane)
		must(t, err)
		_, err = f.Store.ExchangeGrant(ctx, inst.UUID, inst.Code)
		must(t, err)
		must(t, f.Changes.DeleteInstallation(ctx, inst.UUID, jane))
		if deleted := installationData(t, f, inst.UUID, webhook.InstallationDeleted); deleted.Code != nil {
			t.Fatalf("installation.deleted code = %q after the grant was exchanged", *deleted.Code)
		}
	})

	t.Run("EventAlertIssueAlert", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, open)
		app := f.App(t, "pager", true)
		uuid := installationOf(t, f, app)
		rule := f.Rule(t, "New errors", 5, []herald.RuleItem{{"id": storetest.FirstSeenCondition}}, nil,
			herald.RuleItem{"id": storetest.AppAction, "sentryAppInstallationUuid": uuid})
		must(t, f.Changes.SaveEvents(ctx, []*herald.Event{f.Event("first")}))
		ds := f.DeliveriesTo(t, herald.DestinationApp, uuid)
		if len(ds) != 1 || ds[0].Event != webhook.EventAlertTriggered {
			t.Fatalf("deliveries = %s", storetest.DeliveryEvents(ds))
		}
		var body struct {
			Data struct {
				IssueAlert map[string]any `json:"issue_alert"`
			} `json:"data"`
		}
		must(t, json.Unmarshal(ds[0].Body, &body))
		ia := body.Data.IssueAlert
		if ia["id"] != float64(rule.ID) || ia["sentry_app_id"] != float64(app.ID) || ia["title"] != "New errors" || ia["settings"] == nil {
			t.Fatalf("issue_alert = %v, want rule %d of app %d", ia, rule.ID, app.ID)
		}
	})

	t.Run("MetricAlertInstallationUUID", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, open)
		app := f.App(t, "pager", true)
		uuid := installationOf(t, f, app)
		f.MetricRule(t, &herald.MetricAlertRule{}, app, 2, 1)
		f.Clock.Add(30 * time.Second)
		must(t, f.Changes.SaveEvents(ctx, []*herald.Event{f.Event("a"), f.Event("a"), f.Event("a")}))
		must(t, f.Changes.EvaluateMetricAlerts(ctx, f.Clock.Now().Add(time.Second)))
		ds := f.DeliveriesTo(t, herald.DestinationApp, uuid)
		if len(ds) == 0 || ds[0].Event != webhook.MetricAlertOpen {
			t.Fatalf("deliveries = %s", storetest.DeliveryEvents(ds))
		}
		for _, d := range ds {
			var body struct {
				Data struct {
					MetricAlert struct {
						AlertRule struct {
							Triggers []struct {
								Actions []struct {
									SentryAppID               int64  `json:"sentry_app_id"`
									SentryAppInstallationUUID string `json:"sentry_app_installation_uuid"`
								} `json:"actions"`
							} `json:"triggers"`
						} `json:"alert_rule"`
					} `json:"metric_alert"`
				} `json:"data"`
			}
			must(t, json.Unmarshal(d.Body, &body))
			triggers := body.Data.MetricAlert.AlertRule.Triggers
			if len(triggers) != 2 {
				t.Fatalf("%s triggers = %+v", d.Event, triggers)
			}
			for _, tr := range triggers {
				if len(tr.Actions) != 1 || tr.Actions[0].SentryAppInstallationUUID != uuid || tr.Actions[0].SentryAppID != app.ID {
					t.Fatalf("%s actions = %+v, want the installation %s", d.Event, tr.Actions, uuid)
				}
			}
		}
	})

	t.Run("ServiceHookStoredEvent", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, open)
		h := f.Hook(t, "https://example.com/hook", herald.HookEventCreated)
		ev := f.Event("stored")
		ev.Data = []byte(`{"event_id":"x","exception":{"values":[{"type":"Error","value":"boom"}]},"logger":"app.api","title":"Error: boom"}`)
		must(t, f.Changes.SaveEvents(ctx, []*herald.Event{ev}))
		ds := f.DeliveriesTo(t, herald.DestinationHook, h.ID)
		if len(ds) != 1 {
			t.Fatalf("deliveries = %d", len(ds))
		}
		var body struct {
			ProjectSlug string         `json:"project_slug"`
			Logger      string         `json:"logger"`
			Level       string         `json:"level"`
			Event       map[string]any `json:"event"`
		}
		must(t, json.Unmarshal(ds[0].Body, &body))
		if body.ProjectSlug != f.Project.Slug || body.Logger != "app.api" || body.Level != "error" || body.Event["id"] != ev.ID ||
			body.Event["event_id"] != ev.ID || body.Event["exception"] == nil || body.Event["title"] != "Error: boom" {
			t.Fatalf("body = %s", ds[0].Body)
		}
	})
}
