package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/storetest"
)

// ruleStep is one batch of a rule window case, at an offset from a minute
// boundary: one event of the issue per user key ("" for none), and whether
// the rule fires on it.
type ruleStep struct {
	at    time.Duration
	users []string
	fires bool
}

// testRuleWindows checks that an issue alert rule's frequency condition
// counts exactly the events (or distinct users) of its interval up to the
// batch being saved, to the second, across minute boundaries: an event
// of the interval's first minute counts while it is within the interval,
// and none older does. Each rule fires above 2 in 1m.
func testRuleWindows(t *testing.T, open storetest.Opener) {
	const s = time.Second
	step := func(at time.Duration, fires bool, users ...string) ruleStep {
		return ruleStep{at: at, users: users, fires: fires}
	}
	for _, c := range []struct {
		name      string
		condition string
		steps     []ruleStep
	}{
		// Before, the window was the batch's minute and its events.
		{"AcrossMinuteBoundary", storetest.EventFrequencyCondition, []ruleStep{
			step(40*s, false, ""), step(55*s, false, ""), step(70*s, true, "")}},
		{"OlderLeftOut", storetest.EventFrequencyCondition, []ruleStep{
			step(5*s, false, ""), step(9*s, false, ""), step(70*s, false, "")}},
		{"SecondAnIntervalBackLeftOut", storetest.EventFrequencyCondition, []ruleStep{
			step(10*s, false, ""), step(30*s, false, ""), step(70*s, false, "")}},
		{"SecondAfterCounted", storetest.EventFrequencyCondition, []ruleStep{
			step(11*s, false, ""), step(30*s, false, ""), step(70*s, true, "")}},
		{"BatchCounted", storetest.EventFrequencyCondition, []ruleStep{
			step(50*s, false, ""), step(61*s, true, "", "")}},
		{"UsersAcrossMinuteBoundary", storetest.UniqueUsersCondition, []ruleStep{
			step(40*s, false, "id:a"), step(55*s, false, "id:b"), step(70*s, true, "id:c")}},
		{"UsersOlderLeftOut", storetest.UniqueUsersCondition, []ruleStep{
			step(5*s, false, "id:a"), step(55*s, false, "id:b"), step(70*s, false, "id:c")}},
		{"UsersOfBatchCountedOnce", storetest.UniqueUsersCondition, []ruleStep{
			step(40*s, false, "id:a"), step(50*s, false, "id:b"), step(70*s, false, "id:a", "id:b", "id:b"),
			step(75*s, true, "id:c")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newFixture(t, open)
			base := f.Clock.Now() // a minute boundary
			hook := f.Hook(t, "https://example.com/alerts", herald.HookEventAlert)
			f.Rule(t, "Busy", 30, []herald.RuleItem{{"id": c.condition, "value": 2, "interval": "1m"}}, nil)
			fired := 0
			for _, st := range c.steps {
				f.Clock.Add(base.Add(st.at).Sub(f.Clock.Now()))
				var events []*herald.Event
				for _, u := range st.users {
					e := f.Event("windows")
					e.UserKey = u
					events = append(events, e)
				}
				must(t, f.Changes.SaveEvents(ctx, events))
				n := 0
				for _, rules := range alertRules(t, f, hook.ID) {
					for _, r := range rules {
						if r == "Busy" {
							n++
						}
					}
				}
				if got := n > fired; got != st.fires {
					t.Fatalf("batch at +%v: fired %v, want %v", st.at, got, st.fires)
				}
				fired = n
			}
		})
	}
}
