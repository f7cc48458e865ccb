package webhook_test

import (
	"bytes"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/webhook"
)

// storyChange returns the change of the story's event saved with hooks.
func storyChange(now time.Time, hooks ...*herald.Hook) *webhook.EventChange {
	return &webhook.EventChange{
		Project:      storyProject(),
		Event:        storyEvent(),
		Issue:        storyIssue(),
		IssueCreated: true,
		Hooks:        hooks,
		Now:          now,
	}
}

// newHook returns an active hook of the story's project subscribed to events.
func newHook(id string, events ...string) *herald.Hook {
	return &herald.Hook{
		ID:        id,
		ProjectID: 2,
		URL:       "https://receiver.example/" + id,
		Events:    events,
		Secret:    "secret-of-" + id,
		Status:    herald.HookActive,
	}
}

// disabled returns h marked disabled.
func disabled(h *herald.Hook) *herald.Hook {
	h.Status = herald.HookDisabled
	return h
}

var deliveryID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// checkDeliveries checks that ds go, in order, to hookIDs of hooks with
// event and body, and are ready to send at now.
func checkDeliveries(t *testing.T, ds []*herald.Delivery, hooks []*herald.Hook, hookIDs []string, event string, body []byte, now time.Time) {
	t.Helper()
	if len(ds) != len(hookIDs) {
		t.Fatalf("got %d deliveries, want %d", len(ds), len(hookIDs))
	}
	secrets, urls := map[string]string{}, map[string]string{}
	for _, h := range hooks {
		if h != nil {
			secrets[h.ID] = h.Secret
			urls[h.ID] = h.URL
		}
	}
	seen := map[string]bool{}
	for i, d := range ds {
		if d.DestinationID != hookIDs[i] {
			t.Errorf("delivery %d goes to %q, want %q", i, d.DestinationID, hookIDs[i])
		}
		if !deliveryID.MatchString(d.ID) || seen[d.ID] {
			t.Errorf("delivery %d id = %q, want a new 32-hex id", i, d.ID)
		}
		seen[d.ID] = true
		want := herald.Delivery{
			ID:              d.ID,
			DestinationKind: herald.DestinationHook,
			DestinationID:   hookIDs[i],
			ProjectID:       2,
			OrganizationID:  1,
			Event:           event,
			Body:            d.Body,
			Signature:       webhook.Sign(secrets[hookIDs[i]], body),
			Timestamp:       now.Unix(),
			Status:          herald.DeliveryPending,
			NextAttemptAt:   now,
			CreatedAt:       now,
			UpdatedAt:       now,
			// Hook deliveries carry their destination, to be sent without
			// another read.
			URL:               urls[hookIDs[i]],
			DestinationActive: true,
		}
		if fmt.Sprint(*d) != fmt.Sprint(want) {
			t.Errorf("delivery %d =\n%+v\nwant\n%+v", i, *d, want)
		}
		if !bytes.Equal(d.Body, body) {
			t.Errorf("delivery %d body =\n%s\nwant\n%s", i, d.Body, body)
		}
		if &d.Body[0] != &ds[0].Body[0] {
			t.Errorf("delivery %d has its own copy of the body; want one shared body", i)
		}
	}
}

func TestNotifierEventSaved(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 1, 15, 12, 0, 1, 500_000_000, time.UTC)
	n := &webhook.Notifier{BaseURL: storyBaseURL}
	created := webhook.ServiceHookBody(storyProject(), storyIssue(), storyEvent(), storyBaseURL, nil)

	tests := []struct {
		name  string
		hooks []*herald.Hook
		edit  func(c *webhook.EventChange)
		want  []string
	}{
		{
			name: "SubscribedHooks",
			hooks: []*herald.Hook{
				newHook("h1", "event.created"),
				newHook("h2", "event.alert"),
				disabled(newHook("h3", "event.created")),
				newHook("h4", "event.alert", "event.created"),
				nil,
			},
			want: []string{"h1", "h4"},
		},
		{
			name:  "NoHooks",
			hooks: nil,
		},
		{
			name:  "NoSubscribedHook",
			hooks: []*herald.Hook{newHook("h1", "event.alert"), newHook("h2")},
		},
		{
			name:  "FeatureOff",
			hooks: []*herald.Hook{newHook("h1", "event.created")},
			edit:  func(c *webhook.EventChange) { c.Project.Features = nil },
		},
		{
			name:  "NoProject",
			hooks: []*herald.Hook{newHook("h1", "event.created")},
			edit:  func(c *webhook.EventChange) { c.Project = nil },
		},
		{
			name:  "NoIssue",
			hooks: []*herald.Hook{newHook("h1", "event.created")},
			edit:  func(c *webhook.EventChange) { c.Issue = nil },
		},
		{
			name:  "NoEvent",
			hooks: []*herald.Hook{newHook("h1", "event.created")},
			edit:  func(c *webhook.EventChange) { c.Event = nil },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := storyChange(now, tt.hooks...)
			if tt.edit != nil {
				tt.edit(c)
			}
			ds := n.EventSaved(c)
			checkDeliveries(t, ds, tt.hooks, tt.want, "event.created", created, now)
		})
	}

	t.Run("NilChange", func(t *testing.T) {
		t.Parallel()
		if ds := n.EventSaved(nil); len(ds) != 0 {
			t.Errorf("got %d deliveries, want none", len(ds))
		}
	})
}

func TestNotifierClock(t *testing.T) {
	t.Parallel()
	clockNow := time.Date(2024, 1, 15, 13, 0, 0, 0, time.UTC)
	n := &webhook.Notifier{BaseURL: storyBaseURL, Clock: herald.ClockFunc(func() time.Time { return clockNow })}
	hooks := []*herald.Hook{newHook("h1", "event.created")}
	body := webhook.ServiceHookBody(storyProject(), storyIssue(), storyEvent(), storyBaseURL, nil)

	t.Run("ChangeTimeWins", func(t *testing.T) {
		t.Parallel()
		now := clockNow.Add(-time.Hour)
		checkDeliveries(t, n.EventSaved(storyChange(now, hooks...)), hooks, []string{"h1"}, "event.created", body, now)
	})
	t.Run("ClockWhenChangeHasNoTime", func(t *testing.T) {
		t.Parallel()
		checkDeliveries(t, n.EventSaved(storyChange(time.Time{}, hooks...)), hooks, []string{"h1"}, "event.created", body, clockNow)
	})
	t.Run("SystemClockWhenNone", func(t *testing.T) {
		t.Parallel()
		before := time.Now()
		ds := (&webhook.Notifier{BaseURL: storyBaseURL}).EventSaved(storyChange(time.Time{}, hooks...))
		if len(ds) != 1 {
			t.Fatalf("got %d deliveries, want 1", len(ds))
		}
		if ds[0].CreatedAt.Before(before) || ds[0].CreatedAt.After(time.Now()) {
			t.Errorf("CreatedAt = %v, want the wall clock", ds[0].CreatedAt)
		}
	})
}

func TestNotifierAlertDeliveries(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 1, 15, 12, 0, 2, 0, time.UTC)
	n := &webhook.Notifier{BaseURL: storyBaseURL}
	hooks := []*herald.Hook{
		newHook("h1", "event.created"),
		newHook("h2", "event.alert"),
		disabled(newHook("h3", "event.alert")),
		newHook("h4", "event.created", "event.alert"),
	}

	tests := []struct {
		name  string
		rules []string
	}{
		{"OneRule", []string{"New production errors"}},
		{"TwoRules", []string{"New production errors", "Any error"}},
		{"NoRules", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := webhook.ServiceHookBody(storyProject(), storyIssue(), storyEvent(), storyBaseURL, tt.rules)
			ds := n.AlertDeliveries(storyChange(now, hooks...), tt.rules)
			checkDeliveries(t, ds, hooks, []string{"h2", "h4"}, "event.alert", body, now)
		})
	}

	t.Run("Golden", func(t *testing.T) {
		t.Parallel()
		c := storyChange(now, hooks...)
		c.Event.Data = storedEvent(t)
		ds := n.AlertDeliveries(c, []string{"New production errors"})
		if len(ds) == 0 {
			t.Fatal("no deliveries")
		}
		if want := readFixture(t, "event.alert.json"); !bytes.Equal(ds[0].Body, want) {
			t.Errorf("body =\n%s\nwant\n%s", ds[0].Body, want)
		}
	})
}

// BenchmarkNotifierFanOut measures one event fanned out to 1,000 hooks.
func BenchmarkNotifierFanOut(b *testing.B) {
	hooks := make([]*herald.Hook, 1000)
	for i := range hooks {
		hooks[i] = newHook(fmt.Sprintf("h%d", i), "event.created")
		hooks[i].Secret = herald.NewSecret()
	}
	c := storyChange(time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC), hooks...)
	n := &webhook.Notifier{BaseURL: storyBaseURL}
	b.ReportAllocs()
	for b.Loop() {
		n.EventSaved(c)
	}
}
