package service_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/storetest"
)

func testRuleEvaluation(t *testing.T, open storetest.Opener) {
	ctx := context.Background()
	f := newFixture(t, open)
	f.Clock.SetStep(time.Millisecond) // deliveries of successive batches sort in order
	hook := f.Hook(t, "https://example.com/alerts", herald.HookEventAlert)
	app := f.App(t, "pager", false, "issue")
	inst := f.Install(t, app)
	save := func(t *testing.T, events ...*herald.Event) {
		t.Helper()
		must(t, f.Changes.SaveEvents(ctx, events))
	}

	f.Rule(t, "New errors", 30, []herald.RuleItem{{"id": storetest.FirstSeenCondition}}, nil,
		herald.RuleItem{"id": storetest.AppAction, "sentryAppInstallationUuid": inst.UUID})
	f.Rule(t, "Fatal only", 30, []herald.RuleItem{{"id": storetest.FirstSeenCondition}},
		[]herald.RuleItem{{"id": storetest.LevelFilter, "match": "eq", "level": "50"}})
	f.Rule(t, "Every checkout event", 5, []herald.RuleItem{{"id": storetest.EveryEventCondition}},
		[]herald.RuleItem{{"id": storetest.TagFilter, "key": "area", "match": "eq", "value": "checkout"}})
	f.Rule(t, "Busy", 30, []herald.RuleItem{{"id": storetest.EventFrequencyCondition, "value": 2, "interval": "1m"}},
		[]herald.RuleItem{{"id": storetest.TagFilter, "key": "area", "match": "eq", "value": "busy"}})
	f.Rule(t, "Many users", 30, []herald.RuleItem{{"id": storetest.UniqueUsersCondition, "value": 1, "interval": "1h"}},
		[]herald.RuleItem{{"id": storetest.TagFilter, "key": "area", "match": "eq", "value": "users"}})

	tagged := func(hash, area string) *herald.Event {
		e := f.Event(hash)
		e.Tags = append(e.Tags, herald.Tag{Key: "area", Value: area})
		return e
	}

	t.Run("FirstSeenFiresOnce", func(t *testing.T) {
		save(t, f.Event("first"), f.Event("first"))
		if got := alertRules(t, f, hook.ID); len(got) != 1 || !slices.Equal(got[0], []string{"New errors"}) {
			t.Fatalf("event.alert rules = %v, want one naming only New errors", got)
		}
		var ds []*herald.Delivery
		for _, d := range f.DeliveriesTo(t, herald.DestinationApp, inst.UUID) {
			if d.Event == "event_alert.triggered" {
				ds = append(ds, d)
			}
		}
		if len(ds) != 1 || ds[0].Resource != "event_alert" {
			t.Fatalf("event_alert.triggered deliveries = %d, want 1", len(ds))
		}
		var body struct {
			Data struct {
				TriggeredRule string         `json:"triggered_rule"`
				Event         map[string]any `json:"event"`
			} `json:"data"`
		}
		must(t, json.Unmarshal(ds[0].Body, &body))
		if body.Data.TriggeredRule != "New errors" || body.Data.Event["issue_id"] == nil || body.Data.Event["event_id"] != "x" {
			t.Fatalf("event_alert.triggered = %s", ds[0].Body)
		}
	})
	t.Run("FrequencySuppresses", func(t *testing.T) {
		before := len(alertRules(t, f, hook.ID))
		save(t, tagged("checkout", "checkout")) // first seen too: fires with New errors
		f.Clock.Add(time.Minute)
		save(t, tagged("checkout", "checkout"))
		f.Clock.Add(5 * time.Minute)
		save(t, tagged("checkout", "checkout"))
		got := alertRules(t, f, hook.ID)[before:]
		if len(got) != 2 || !slices.Equal(got[0], []string{"New errors", "Every checkout event"}) ||
			!slices.Equal(got[1], []string{"Every checkout event"}) {
			t.Fatalf("event.alert rules = %v", got)
		}
	})
	t.Run("EventFrequency", func(t *testing.T) {
		f.Clock.Add(time.Hour)
		before := len(alertRules(t, f, hook.ID))
		save(t, tagged("busy", "busy"), tagged("busy", "busy"))
		got := alertRules(t, f, hook.ID)[before:]
		if len(got) != 1 || slices.Contains(got[0], "Busy") {
			t.Fatalf("after 2 events: %v, want only New errors", got)
		}
		f.Clock.Add(30 * time.Second)
		save(t, tagged("busy", "busy"))
		got = alertRules(t, f, hook.ID)[before:]
		if len(got) != 2 || !slices.Equal(got[1], []string{"Busy"}) {
			t.Fatalf("after 3 events: %v, want Busy to fire", got)
		}
	})
	t.Run("EventFrequencyWindowEmpties", func(t *testing.T) {
		f.Clock.Add(time.Hour)
		before := len(alertRules(t, f, hook.ID))
		save(t, tagged("quiet", "busy"), tagged("quiet", "busy"))
		f.Clock.Add(2 * time.Minute)
		save(t, tagged("quiet", "busy"), tagged("quiet", "busy"))
		got := alertRules(t, f, hook.ID)[before:]
		if len(got) != 1 || slices.Contains(got[0], "Busy") {
			t.Fatalf("2 events per minute: %v, want Busy not to fire", got)
		}
	})
	t.Run("UniqueUsers", func(t *testing.T) {
		before := len(alertRules(t, f, hook.ID))
		a, b := tagged("users", "users"), tagged("users", "users")
		a.UserKey, b.UserKey = "id:1", "id:1"
		save(t, a, b)
		c := tagged("users", "users")
		c.UserKey = "id:2"
		save(t, c)
		got := alertRules(t, f, hook.ID)[before:]
		if len(got) != 2 || !slices.Equal(got[1], []string{"Many users"}) {
			t.Fatalf("event.alert rules = %v, want Many users on the second user", got)
		}
	})
}

// alertRules returns the triggering_rules of each event.alert delivery to
// the hook, oldest first.
func alertRules(t testing.TB, f *fixture, hookID string) [][]string {
	t.Helper()
	list, _, err := f.Store.FindDeliveries(context.Background(), herald.DeliveryFilter{DestinationKind: herald.DestinationHook, DestinationID: hookID})
	must(t, err)
	slices.Reverse(list)
	var out [][]string
	for _, d := range list {
		if d.Event != herald.HookEventAlert {
			continue
		}
		var body struct {
			TriggeringRules []string `json:"triggering_rules"`
		}
		must(t, json.Unmarshal(d.Body, &body))
		out = append(out, body.TriggeringRules)
	}
	return out
}
