package webhook_test

import (
	"slices"
	"testing"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/webhook"
)

// catalogWant is every event of the seed with its resource and action.
var catalogWant = []struct {
	event, resource, action string
}{
	{"event.alert", "", "alert"},
	{"event.created", "", "created"},
	{"issue.created", "issue", "created"},
	{"issue.resolved", "issue", "resolved"},
	{"issue.ignored", "issue", "ignored"},
	{"issue.assigned", "issue", "assigned"},
	{"issue.unresolved", "issue", "unresolved"},
	{"error.created", "error", "created"},
	{"comment.created", "comment", "created"},
	{"comment.updated", "comment", "updated"},
	{"comment.deleted", "comment", "deleted"},
	{"installation.created", "installation", "created"},
	{"installation.deleted", "installation", "deleted"},
	{"metric_alert.open", "metric_alert", "open"},
	{"metric_alert.warning", "metric_alert", "warning"},
	{"metric_alert.critical", "metric_alert", "critical"},
	{"metric_alert.resolved", "metric_alert", "resolved"},
	{"event_alert.triggered", "event_alert", "triggered"},
}

func TestEvents(t *testing.T) {
	t.Parallel()
	got := webhook.Events()
	if len(got) != 18 {
		t.Fatalf("Events() has %d names, want 18: %v", len(got), got)
	}
	var want []string
	for _, w := range catalogWant {
		want = append(want, w.event)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Events() = %v, want %v", got, want)
	}
	got[0] = "mutated"
	if webhook.Events()[0] != "event.alert" {
		t.Error("Events() returns the catalog itself; want a copy")
	}
}

func TestCatalog(t *testing.T) {
	t.Parallel()
	for _, w := range catalogWant {
		t.Run(w.event, func(t *testing.T) {
			t.Parallel()
			if !webhook.ValidEvent(w.event) {
				t.Errorf("ValidEvent = false, want true")
			}
			if got := webhook.Resource(w.event); got != w.resource {
				t.Errorf("Resource = %q, want %q", got, w.resource)
			}
			if got := webhook.Action(w.event); got != w.action {
				t.Errorf("Action = %q, want %q", got, w.action)
			}
			wantHook := w.resource == ""
			if got := webhook.ValidHookEvent(w.event); got != wantHook {
				t.Errorf("ValidHookEvent = %v, want %v", got, wantHook)
			}
		})
	}
}

func TestCatalogUnknown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		event string
	}{
		{"Empty", ""},
		{"NoDot", "created"},
		{"UnknownResource", "deploy.created"},
		{"UnknownAction", "issue.archived"},
		{"Case", "Event.Created"},
		{"Space", " event.created"},
		{"ResourceOnly", "issue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if webhook.ValidEvent(tt.event) {
				t.Errorf("ValidEvent(%q) = true", tt.event)
			}
			if webhook.ValidHookEvent(tt.event) {
				t.Errorf("ValidHookEvent(%q) = true", tt.event)
			}
			if got := webhook.Resource(tt.event); got != "" {
				t.Errorf("Resource(%q) = %q, want \"\"", tt.event, got)
			}
			if got := webhook.Action(tt.event); got != "" {
				t.Errorf("Action(%q) = %q, want \"\"", tt.event, got)
			}
		})
	}
}

func TestHookEventsMatchRoot(t *testing.T) {
	t.Parallel()
	for _, e := range herald.HookEvents {
		if !webhook.ValidHookEvent(e) {
			t.Errorf("ValidHookEvent(%q) = false for a herald.HookEvents name", e)
		}
	}
	if webhook.EventAlert != herald.HookEventAlert || webhook.EventCreated != herald.HookEventCreated {
		t.Error("Service Hook event constants differ from the root package's")
	}
}
