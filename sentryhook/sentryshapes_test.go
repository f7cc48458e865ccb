package sentryhook_test

import (
	"net/http"
	"testing"

	"github.com/herald-dev/herald/sentryhook"
)

// TestParseSentryShapes parses bodies in the shapes Sentry itself sends
// (beside the samples, which are Herald's): the legacy webhooks plugin's
// body, and the Sentry App fields Herald sends that Sentry leaves out or
// fills differently.
func TestParseSentryShapes(t *testing.T) {
	t.Parallel()
	hook := http.Header{"X-Servicehook-Signature": {"x"}}
	app := func(resource string) http.Header {
		return http.Header{sentryhook.HeaderResource: {resource}, sentryhook.HeaderSignature: {"x"}}
	}
	tests := []struct {
		name   string
		header http.Header
		body   string
		want   string // Event()
		check  func(t *testing.T, d *sentryhook.Delivery)
	}{
		{
			name:   "LegacyPluginBody",
			header: hook,
			// src/sentry/plugins/sentry_webhooks/plugin.py: logger is the
			// logger tag (null without one), the event is the stored one.
			body: `{"id":"27379932","project":"web","project_name":"Web","project_slug":"web","logger":null,"level":"error",` +
				`"culprit":"raven.scripts.runner in main","message":"This is an example Python exception",` +
				`"url":"https://sentry.example/organizations/acme/issues/27379932/?referrer=webhooks_plugin","triggering_rules":["r"],` +
				`"event":{"received":1525248430,"sentry.interfaces.User":{"id":"1"},"extra":{"a":1},"title":"This is an example Python exception",` +
				`"tags":[["level","error"],["logger","root"]],"event_id":"0476467adf8f499ea795a48fcc4bf290","id":"0476467adf8f499ea795a48fcc4bf290"}}`,
			want: "event.alert",
			check: func(t *testing.T, d *sentryhook.Delivery) {
				p := d.Payload.(*sentryhook.ServiceHookPayload)
				if p.ProjectSlug != "web" || p.Level != "error" || p.Logger != "" || p.Project != "web" ||
					p.Event.ID != "0476467adf8f499ea795a48fcc4bf290" || p.Event.EventID != p.Event.ID ||
					p.Event.Title != "This is an example Python exception" || len(p.Event.Raw) == 0 {
					t.Fatalf("payload = %+v", p)
				}
				if v, _ := p.Event.Tags.Get("logger"); v != "root" {
					t.Fatalf("tags = %v", p.Event.Tags)
				}
			},
		},
		{
			name:   "ServiceHookEventIDFromID",
			header: hook,
			body:   `{"id":"1","event":{"id":"abc"}}`,
			want:   "event.created",
			check: func(t *testing.T, d *sentryhook.Delivery) {
				if e := d.Payload.(*sentryhook.ServiceHookPayload).Event; e.EventID != "abc" || e.ID != "abc" {
					t.Fatalf("event = %+v", e)
				}
			},
		},
		{
			name:   "EventAlertWithoutIssueAlert",
			header: app("event_alert"),
			body:   `{"action":"triggered","data":{"event":{"event_id":"e"},"triggered_rule":"r"}}`,
			want:   "event_alert.triggered",
			check: func(t *testing.T, d *sentryhook.Delivery) {
				if p := d.Payload.(*sentryhook.EventAlertPayload); p.IssueAlert != nil || p.TriggeredRule != "r" {
					t.Fatalf("payload = %+v", p)
				}
			},
		},
		{
			name:   "InstallationOrganizationID",
			header: app("installation"),
			body:   `{"action":"deleted","data":{"installation":{"app":{"uuid":"a","slug":"s"},"organization":{"slug":"acme","id":7},"uuid":"u","status":"pending","code":"c0de"}}}`,
			want:   "installation.deleted",
			check: func(t *testing.T, d *sentryhook.Delivery) {
				in := d.Payload.(*sentryhook.InstallationPayload).Installation
				if in.Organization != (sentryhook.InstallationOrganization{Slug: "acme", ID: 7}) || in.Code != "c0de" {
					t.Fatalf("installation = %+v", in)
				}
			},
		},
		{
			name:   "MetricAlertRuleFields",
			header: app("metric_alert"),
			body: `{"action":"critical","data":{"metric_alert":{"id":"1","activities":null,"alert_rule":{"id":"7","query_type":0,` +
				`"owner":"team:4","original_alert_rule_id":3,"comparison_delta":60,"description":"d","sensitivity":"high",` +
				`"seasonality":"auto","detection_type":"percent","event_types":["error"],"triggers":[{"id":"11","actions":[` +
				`{"id":"21","type":"pagerduty","target_identifier":"12","priority":"critical","sentry_app_installation_uuid":null}]}]}}}}`,
			want: "metric_alert.critical",
			check: func(t *testing.T, d *sentryhook.Delivery) {
				in := d.Payload.(*sentryhook.MetricAlertPayload).MetricAlert
				r := in.AlertRule
				if in.Activities != nil || r.Owner != "team:4" || string(r.OriginalAlertRuleID) != "3" || r.ComparisonDelta == nil ||
					*r.ComparisonDelta != 60 || r.Description != "d" || r.Sensitivity != "high" || r.Seasonality != "auto" ||
					r.DetectionType != "percent" || len(r.EventTypes) != 1 {
					t.Fatalf("alert rule = %+v", r)
				}
				if a := r.Triggers[0].Actions[0]; a.Priority != "critical" || a.SentryAppInstallationUUID != "" {
					t.Fatalf("action = %+v", a)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := sentryhook.Parse(tt.header, []byte(tt.body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if d.Event() != tt.want {
				t.Fatalf("Event() = %q, want %q", d.Event(), tt.want)
			}
			tt.check(t, d)
		})
	}
}
