package storetest

import (
	"context"
	"testing"

	"github.com/herald-dev/herald"
)

// Rule item ids of Sentry's conditions, filters and actions, for tests.
const (
	FirstSeenCondition      = "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"
	EveryEventCondition     = "sentry.rules.conditions.every_event.EveryEventCondition"
	EventFrequencyCondition = "sentry.rules.conditions.event_frequency.EventFrequencyCondition"
	UniqueUsersCondition    = "sentry.rules.conditions.event_frequency.EventUniqueUserFrequencyCondition"
	LevelFilter             = "sentry.rules.filters.level.LevelFilter"
	TagFilter               = "sentry.rules.filters.tagged_event.TaggedEventFilter"
	NotifyAction            = "sentry.rules.actions.notify_event.NotifyEventAction"
	AppAction               = "sentry.rules.actions.notify_event_sentry_app.NotifyEventSentryAppAction"
)

// Rule creates an issue alert rule of the fixture's project.
func (f *Fixture) Rule(t testing.TB, name string, frequency int, conds []herald.RuleItem, filters []herald.RuleItem, actions ...herald.RuleItem) *herald.AlertRule {
	t.Helper()
	if len(actions) == 0 {
		actions = []herald.RuleItem{{"id": NotifyAction}}
	}
	r := &herald.AlertRule{ProjectID: f.Project.ID, Name: name, ActionMatch: herald.MatchAll, FilterMatch: herald.MatchAll,
		Frequency: frequency, Conditions: conds, Filters: filters, Actions: actions}
	must(t, f.Store.CreateRule(context.Background(), r))
	return r
}

func testRules(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	r := f.Rule(t, "New errors", 30, []herald.RuleItem{{"id": FirstSeenCondition}},
		[]herald.RuleItem{{"id": LevelFilter, "match": "gte", "level": "40"}})
	if r.ID == 0 || r.DateCreated.IsZero() {
		t.Fatalf("rule = %+v", r)
	}
	got, err := s.FindRuleByID(ctx, f.Project.ID, r.ID)
	must(t, err)
	if got.Name != "New errors" || got.Frequency != 30 || len(got.Conditions) != 1 || got.Conditions[0].ID() != FirstSeenCondition ||
		got.Filters[0]["level"] != "40" || len(got.Actions) != 1 || !got.DateCreated.Equal(r.DateCreated) {
		t.Fatalf("found = %+v", got)
	}
	got.Name, got.Frequency, got.Environment = "Renamed", 60, "production"
	must(t, s.UpdateRule(ctx, got))
	list, err := s.FindRules(ctx, f.Project.ID)
	must(t, err)
	if len(list) != 1 || list[0].Name != "Renamed" || list[0].Frequency != 60 || list[0].Environment != "production" {
		t.Fatalf("rules = %+v", list)
	}
	_, err = s.FindRuleByID(ctx, f.Project.ID+1, r.ID)
	wantCode(t, err, herald.ENOTFOUND)
	must(t, s.DeleteRule(ctx, f.Project.ID, r.ID))
	wantCode(t, s.DeleteRule(ctx, f.Project.ID, r.ID), herald.ENOTFOUND)
	wantCode(t, s.UpdateRule(ctx, got), herald.ENOTFOUND)
}
