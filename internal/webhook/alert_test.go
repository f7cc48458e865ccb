package webhook_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/webhook"
)

const sentryAppAction = "sentry.rules.actions.notify_event_sentry_app.NotifyEventSentryAppAction"

func TestEventAlertBodyGolden(t *testing.T) {
	t.Parallel()
	ev := storyEvent()
	ev.Data = storedEvent(t)
	rule := &herald.AlertRule{ID: 31, Name: "New production errors", Actions: []herald.RuleItem{{
		"id": sentryAppAction, "sentryAppInstallationUuid": storyInstallation,
		"settings": []any{map[string]any{"name": "channel", "value": "#web-alerts"}},
	}}}
	inst := &herald.Installation{UUID: storyInstallation, AppID: 12, OrganizationID: 1,
		App: &herald.SentryApp{ID: 12, WebhookURL: "https://pager.example/hook", ClientSecret: "s3cret"}}
	n := &webhook.Notifier{BaseURL: storyBaseURL}
	c := &webhook.EventChange{Project: storyProject(), Issue: storyIssue(), Event: ev, Now: storyTime}
	ds := n.RulesFired(c, []*herald.AlertRule{rule}, map[string]*herald.Installation{storyInstallation: inst})
	if len(ds) != 1 {
		t.Fatalf("deliveries = %d, want 1", len(ds))
	}
	d := ds[0]
	if d.Event != webhook.EventAlertTriggered || d.Resource != webhook.ResourceEventAlert || d.DestinationKind != herald.DestinationApp ||
		d.DestinationID != storyInstallation || d.Signature != webhook.Sign("s3cret", d.Body) {
		t.Fatalf("delivery = %+v", d)
	}
	want := readFixture(t, "event_alert.triggered.json")
	if !reflect.DeepEqual(decode(t, d.Body), decode(t, want)) {
		t.Errorf("body =\n%s\nwant (any key order)\n%s", d.Body, want)
	}
}

// TestEventAlertIssueAlert: every event_alert.triggered carries
// issue_alert as {id, title, sentry_app_id, settings}, keys in Sentry's
// order, whether or not the action has settings.
func TestEventAlertIssueAlert(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		settings any
		want     string
	}{
		{"Settings", []any{map[string]any{"name": "channel", "value": "#web-alerts"}},
			`{"id":31,"title":"New production errors","sentry_app_id":12,"settings":[{"name":"channel","value":"#web-alerts"}]}`},
		{"NoSettings", nil, `{"id":31,"title":"New production errors","sentry_app_id":12,"settings":[]}`},
		{"EmptySettings", []any{}, `{"id":31,"title":"New production errors","sentry_app_id":12,"settings":[]}`},
		{"SettingsNotList", map[string]any{"channel": "#x"}, `{"id":31,"title":"New production errors","sentry_app_id":12,"settings":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			action := herald.RuleItem{"id": sentryAppAction, "sentryAppInstallationUuid": storyInstallation}
			if tt.settings != nil {
				action["settings"] = tt.settings
			}
			rule := &herald.AlertRule{ID: 31, Name: "New production errors", Actions: []herald.RuleItem{action}}
			// The app id is taken from the installation's App when the
			// installation does not carry it.
			inst := &herald.Installation{UUID: storyInstallation, OrganizationID: 1,
				App: &herald.SentryApp{ID: 12, WebhookURL: "https://pager.example/hook", ClientSecret: "s3cret"}}
			c := &webhook.EventChange{Project: storyProject(), Issue: storyIssue(), Event: storyEvent(), Now: storyTime}
			ds := (&webhook.Notifier{BaseURL: storyBaseURL}).RulesFired(c, []*herald.AlertRule{rule}, map[string]*herald.Installation{storyInstallation: inst})
			if len(ds) != 1 {
				t.Fatalf("deliveries = %d, want 1", len(ds))
			}
			var body struct {
				Data struct {
					IssueAlert json.RawMessage `json:"issue_alert"`
				} `json:"data"`
			}
			if err := json.Unmarshal(ds[0].Body, &body); err != nil {
				t.Fatal(err)
			}
			if got := string(body.Data.IssueAlert); got != tt.want {
				t.Errorf("issue_alert = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRulesFired(t *testing.T) {
	t.Parallel()
	hook := &herald.Hook{ID: "h1", Status: herald.HookActive, Events: []string{herald.HookEventAlert}, Secret: "hs"}
	created := &herald.Hook{ID: "h2", Status: herald.HookActive, Events: []string{herald.HookEventCreated}, Secret: "hs"}
	app := &herald.SentryApp{WebhookURL: "https://a.example/", ClientSecret: "cs"}
	installs := map[string]*herald.Installation{
		"mine":   {UUID: "mine", OrganizationID: 1, App: app},
		"theirs": {UUID: "theirs", OrganizationID: 9, App: app},
	}
	appRule := func(name string, uuids ...string) *herald.AlertRule {
		r := &herald.AlertRule{Name: name}
		for _, u := range uuids {
			r.Actions = append(r.Actions, herald.RuleItem{"id": sentryAppAction, "sentryAppInstallationUuid": u})
		}
		return r
	}
	tests := []struct {
		name   string
		rules  []*herald.AlertRule
		hooks  []*herald.Hook
		events []string
		dests  []string
	}{
		{"no rules", nil, []*herald.Hook{hook}, nil, nil},
		{"hook gets every rule name", []*herald.AlertRule{appRule("A"), appRule("B")}, []*herald.Hook{hook, created},
			[]string{"event.alert"}, []string{"h1"}},
		{"installation of the organization", []*herald.AlertRule{appRule("A", "mine", "mine")}, nil,
			[]string{"event_alert.triggered"}, []string{"mine"}},
		{"other organization and unknown skipped", []*herald.AlertRule{appRule("A", "theirs", "gone")}, nil, nil, nil},
		{"one per rule", []*herald.AlertRule{appRule("A", "mine"), appRule("B", "mine")}, []*herald.Hook{hook},
			[]string{"event.alert", "event_alert.triggered", "event_alert.triggered"}, []string{"h1", "mine", "mine"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &webhook.EventChange{Project: storyProject(), Issue: storyIssue(), Event: storyEvent(), Hooks: tt.hooks, Now: storyTime}
			ds := (&webhook.Notifier{BaseURL: storyBaseURL}).RulesFired(c, tt.rules, installs)
			var events, dests []string
			for _, d := range ds {
				events, dests = append(events, d.Event), append(dests, d.DestinationID)
			}
			if !reflect.DeepEqual(events, tt.events) || !reflect.DeepEqual(dests, tt.dests) {
				t.Fatalf("deliveries = %v to %v, want %v to %v", events, dests, tt.events, tt.dests)
			}
			if len(ds) > 0 && ds[0].Event == "event.alert" {
				var body struct {
					TriggeringRules []string `json:"triggering_rules"`
				}
				if err := json.Unmarshal(ds[0].Body, &body); err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, r := range tt.rules {
					names = append(names, r.Name)
				}
				if !reflect.DeepEqual(body.TriggeringRules, names) {
					t.Fatalf("triggering_rules = %v, want %v", body.TriggeringRules, names)
				}
			}
		})
	}
}
