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
			if w.resource != "" && !slices.Contains(webhook.ResourceEvents(w.resource), w.event) {
				t.Errorf("ResourceEvents(%q) lacks the event", w.resource)
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

func TestResources(t *testing.T) {
	t.Parallel()
	want := []string{"issue", "error", "comment", "installation", "metric_alert", "event_alert"}
	got := webhook.Resources()
	if !slices.Equal(got, want) {
		t.Fatalf("Resources() = %v, want %v", got, want)
	}
	got[0] = "mutated"
	if webhook.Resources()[0] != "issue" {
		t.Error("Resources() returns the list itself; want a copy")
	}

	tests := []struct {
		resource string
		valid    bool
		events   []string
	}{
		{"issue", true, []string{"issue.created", "issue.resolved", "issue.ignored", "issue.assigned", "issue.unresolved"}},
		{"error", true, []string{"error.created"}},
		{"comment", true, []string{"comment.created", "comment.updated", "comment.deleted"}},
		{"installation", true, []string{"installation.created", "installation.deleted"}},
		{"metric_alert", true, []string{"metric_alert.open", "metric_alert.warning", "metric_alert.critical", "metric_alert.resolved"}},
		{"event_alert", true, []string{"event_alert.triggered"}},
		{"", false, nil},
		{"event", false, nil},
		{"issues", false, nil},
	}
	for _, tt := range tests {
		name := tt.resource
		if name == "" {
			name = "Empty"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := webhook.ValidResource(tt.resource); got != tt.valid {
				t.Errorf("ValidResource = %v, want %v", got, tt.valid)
			}
			if got := webhook.ResourceEvents(tt.resource); !slices.Equal(got, tt.events) {
				t.Errorf("ResourceEvents = %v, want %v", got, tt.events)
			}
		})
	}
}
