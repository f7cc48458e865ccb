package webhook_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/webhook"
)

// storyMetricRule returns the fixtures' metric alert rule 7.
func storyMetricRule() *herald.MetricAlertRule {
	settings := []any{map[string]any{"name": "channel", "value": "#web-alerts"}}
	created := time.Date(2024, 1, 10, 9, 0, 0, 0, time.UTC)
	return &herald.MetricAlertRule{ID: 7, OrganizationID: 1, Name: "Web error spike", Aggregate: herald.AggregateCount,
		Query: "level:error", ProjectIDs: []int64{2}, Projects: []string{"web"}, TimeWindow: 10, ThresholdType: herald.ThresholdAbove,
		Triggers: []*herald.MetricTrigger{
			{ID: 11, Label: herald.TriggerCritical, AlertThreshold: 100,
				Actions: []*herald.MetricTriggerAction{{ID: 21, Type: "sentry_app", SentryAppID: 12, Settings: settings}}},
			{ID: 12, Label: herald.TriggerWarning, AlertThreshold: 50,
				Actions: []*herald.MetricTriggerAction{{ID: 22, Type: "sentry_app", SentryAppID: 12, Settings: settings}}},
		},
		DateCreated: created, DateModified: created}
}

// withoutCreatedBy drops the rule's creator, which Herald does not record.
func withoutCreatedBy(t *testing.T, body []byte) any {
	t.Helper()
	v := decode(t, body).(map[string]any)
	delete(v["data"].(map[string]any)["metric_alert"].(map[string]any)["alert_rule"].(map[string]any), "created_by")
	return v
}

func TestMetricAlertBodiesGolden(t *testing.T) {
	t.Parallel()
	started := time.Date(2024, 1, 15, 12, 10, 0, 0, time.UTC)
	closed := time.Date(2024, 1, 15, 12, 40, 0, 0, time.UTC)
	inst := &herald.Installation{UUID: storyInstallation, AppID: 12, OrganizationID: 1,
		App: &herald.SentryApp{ID: 12, Name: "Acme Pager", WebhookURL: "https://pager.example/hook", ClientSecret: "cs"}}
	tests := []struct {
		event  string
		status int
		value  float64
		closed *time.Time
	}{
		{webhook.MetricAlertOpen, herald.IncidentOpen, 150, nil},
		{webhook.MetricAlertCritical, herald.IncidentCritical, 150, nil},
		{webhook.MetricAlertWarning, herald.IncidentWarning, 75, nil},
		{webhook.MetricAlertResolved, herald.IncidentClosed, 12, &closed},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			c := &webhook.MetricAlertChange{Event: tt.event, Rule: storyMetricRule(), Value: tt.value,
				Incident: &herald.Incident{ID: 42, Identifier: 3, OrganizationID: 1, RuleID: 7, Title: "Web error spike",
					Status: tt.status, DateStarted: started, DateClosed: tt.closed},
				Organization: &herald.Organization{ID: 1, Slug: "acme"}, Installations: []*herald.Installation{inst}, Now: started}
			ds := (&webhook.Notifier{BaseURL: storyBaseURL}).IncidentChanged(c)
			if len(ds) != 1 || ds[0].Resource != "metric_alert" || ds[0].Event != tt.event || ds[0].Signature != webhook.Sign("cs", ds[0].Body) {
				t.Fatalf("deliveries = %+v", ds)
			}
			want := readFixture(t, tt.event+".json")
			if got := withoutCreatedBy(t, ds[0].Body); !reflect.DeepEqual(got, withoutCreatedBy(t, want)) {
				g, _ := json.Marshal(got)
				t.Errorf("body =\n%s\nwant (any key order, without created_by)\n%s", g, want)
			}
		})
	}
}

// TestMetricAlertActions: each trigger action names the installation of its
// app on the rule's organization (null when the app is not installed
// there), and its priority when the settings are an object that has one.
func TestMetricAlertActions(t *testing.T) {
	t.Parallel()
	app := &herald.SentryApp{ID: 12, Name: "Acme Pager", WebhookURL: "https://pager.example/hook", ClientSecret: "cs"}
	tests := []struct {
		name         string
		installs     []*herald.Installation
		settings     any
		wantUUID     any
		wantPriority any
	}{
		{"Installed", []*herald.Installation{{UUID: storyInstallation, AppID: 12, OrganizationID: 1, App: app}}, nil, storyInstallation, nil},
		{"NotInstalled", nil, nil, nil, nil},
		{"OtherOrganization", []*herald.Installation{{UUID: "theirs", AppID: 12, OrganizationID: 9, App: app}}, nil, nil, nil},
		{"PriorityInObject", nil, map[string]any{"priority": "P1"}, nil, "P1"},
		{"PriorityNotString", nil, map[string]any{"priority": 1}, nil, nil},
		{"ListSettings", nil, []any{map[string]any{"name": "priority", "value": "P1"}}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := storyMetricRule()
			for _, tr := range r.Triggers {
				tr.Actions[0].Settings = tt.settings
			}
			c := &webhook.MetricAlertChange{Event: webhook.MetricAlertCritical, Rule: r, Value: 150,
				Incident:     &herald.Incident{ID: 42, Identifier: 3, OrganizationID: 1, RuleID: 7, Title: "Web error spike", Status: herald.IncidentCritical},
				Organization: &herald.Organization{ID: 1, Slug: "acme"}, Installations: tt.installs}
			var data struct {
				MetricAlert struct {
					AlertRule struct {
						Triggers []struct {
							Actions []map[string]any `json:"actions"`
						} `json:"triggers"`
					} `json:"alert_rule"`
				} `json:"metric_alert"`
			}
			if err := json.Unmarshal(webhook.MetricAlertData(c, storyBaseURL), &data); err != nil {
				t.Fatal(err)
			}
			for _, tr := range data.MetricAlert.AlertRule.Triggers {
				a := tr.Actions[0]
				uuid, hasUUID := a["sentry_app_installation_uuid"]
				priority, hasPriority := a["priority"]
				if !hasUUID || !hasPriority || uuid != tt.wantUUID || priority != tt.wantPriority {
					t.Errorf("action = %v, want sentry_app_installation_uuid %v and priority %v", a, tt.wantUUID, tt.wantPriority)
				}
			}
		})
	}
}

func TestIncidentChangedSkips(t *testing.T) {
	t.Parallel()
	app := &herald.SentryApp{WebhookURL: "https://a.example/", ClientSecret: "cs"}
	c := &webhook.MetricAlertChange{Event: webhook.MetricAlertOpen, Rule: storyMetricRule(), Organization: &herald.Organization{ID: 1, Slug: "acme"},
		Incident: &herald.Incident{ID: 1, Identifier: 1, Status: herald.IncidentOpen},
		Installations: []*herald.Installation{{UUID: "other-org", OrganizationID: 9, App: app}, {UUID: "no-url", OrganizationID: 1,
			App: &herald.SentryApp{}}, {UUID: "ok", OrganizationID: 1, App: app}}}
	ds := (&webhook.Notifier{}).IncidentChanged(c)
	if len(ds) != 1 || ds[0].DestinationID != "ok" {
		t.Fatalf("deliveries = %+v", ds)
	}
	c.Event = "issue.created"
	if ds := (&webhook.Notifier{}).IncidentChanged(c); ds != nil {
		t.Fatalf("non-metric event gave %d deliveries", len(ds))
	}
}
