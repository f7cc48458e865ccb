package service_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/storetest"
)

func testMetricAlerts(t *testing.T, open storetest.Opener) {
	ctx := context.Background()
	f := newFixture(t, open)
	s := f.Store
	app := f.App(t, "pager", true)
	f.Clock.Add(30 * time.Second) // mid-minute, so that a minute later is the next bucket
	start := f.Clock.Now()

	spike := f.MetricRule(t, &herald.MetricAlertRule{Query: "level:error"}, app, 4, 2)
	quiet := f.MetricRule(t, &herald.MetricAlertRule{Name: "Heartbeat", Query: "level:info", ThresholdType: herald.ThresholdBelow,
		ResolveThreshold: ptr(2.0)}, nil, 1, 0)
	users := f.MetricRule(t, &herald.MetricAlertRule{Name: "Users", Aggregate: herald.AggregateUniqueUsers}, nil, 1, 0)

	errorEvents := func(n int, user string) []*herald.Event {
		var out []*herald.Event
		for range n {
			e := f.Event("spike")
			e.UserKey = user
			out = append(out, e)
		}
		return out
	}
	info := func() *herald.Event {
		e := f.Event("heartbeat")
		e.Level = "info"
		return e
	}
	// An evaluation counts the seconds before its own: the leader's tick
	// comes a second after the events.
	evaluate := func(t *testing.T) {
		t.Helper()
		must(t, f.Changes.EvaluateMetricAlerts(ctx, f.Clock.Now().Add(time.Second)))
	}

	t.Run("Lifecycle", func(t *testing.T) {
		// The heartbeat is below 1 before any info event: critical.
		evaluate(t)
		if got := incidentStatuses(t, f, quiet.ID); !slices.Equal(got, []int{1, 20}) {
			t.Fatalf("heartbeat history = %v", got)
		}
		must(t, f.Changes.SaveEvents(ctx, append(errorEvents(3, "id:1"), info())))
		evaluate(t)
		if got := incidentStatuses(t, f, spike.ID); !slices.Equal(got, []int{1, 10}) {
			t.Fatalf("after 3 errors: %v, want open then warning", got)
		}
		if got := storetest.DeliveryEvents(f.DeliveriesTo(t, herald.DestinationApp, installationOf(t, f, app))); got != "metric_alert.open,metric_alert.warning" {
			t.Fatalf("app deliveries = %s", got)
		}
		// One info event keeps the heartbeat critical: it resolves above 2.
		if got := incidentStatuses(t, f, quiet.ID); !slices.Equal(got, []int{1, 20}) {
			t.Fatalf("heartbeat history = %v", got)
		}
		f.Clock.Add(time.Minute)
		must(t, f.Changes.SaveEvents(ctx, append(errorEvents(2, "id:2"), info(), info())))
		evaluate(t)
		evaluate(t) // no change, nothing more
		if got := incidentStatuses(t, f, spike.ID); !slices.Equal(got, []int{1, 10, 20}) {
			t.Fatalf("after 5 errors: %v, want critical", got)
		}
		if got := incidentStatuses(t, f, quiet.ID); !slices.Equal(got, []int{1, 20, 2}) {
			t.Fatalf("heartbeat history = %v, want resolved", got)
		}
		if got := incidentStatuses(t, f, users.ID); !slices.Equal(got, []int{1, 20}) {
			t.Fatalf("users history = %v, want critical with 2 users", got)
		}
		// The first minute leaves the window: 2 errors, back to warning.
		f.Clock.Add(9 * time.Minute)
		evaluate(t)
		if got := incidentStatuses(t, f, spike.ID); !slices.Equal(got, []int{1, 10, 20, 10}) {
			t.Fatalf("window without the first minute: %v, want warning", got)
		}
		// The window empties: resolved.
		f.Clock.Add(time.Minute)
		evaluate(t)
		if got := incidentStatuses(t, f, spike.ID); !slices.Equal(got, []int{1, 10, 20, 10, 2}) {
			t.Fatalf("empty window: %v, want resolved", got)
		}
		list, err := s.FindIncidents(ctx, f.Org.ID, spike.ID)
		must(t, err)
		if len(list) != 1 || list[0].Status != herald.IncidentClosed || list[0].DateClosed == nil || !list[0].DateStarted.Equal(start.Add(time.Second)) ||
			list[0].History[2].Value != 5 {
			t.Fatalf("incidents = %+v", list[0])
		}
		if got := storetest.DeliveryEvents(f.DeliveriesTo(t, herald.DestinationApp, installationOf(t, f, app))); got !=
			"metric_alert.open,metric_alert.warning,metric_alert.critical,metric_alert.warning,metric_alert.resolved" {
			t.Fatalf("app deliveries = %s", got)
		}
		// A new burst opens a new incident with the next identifier.
		must(t, f.Changes.SaveEvents(ctx, errorEvents(5, "")))
		evaluate(t)
		list, err = s.FindIncidents(ctx, f.Org.ID, spike.ID)
		must(t, err)
		if len(list) != 2 || list[0].Status != herald.IncidentCritical || list[0].Identifier <= list[1].Identifier {
			t.Fatalf("incidents = %+v %+v", list[0], list[1])
		}
	})
	t.Run("PurgeCounts", func(t *testing.T) {
		n, err := s.PurgeAlertCounts(ctx, f.Clock.Now())
		must(t, err)
		if n != 0 {
			t.Fatalf("purged %d rows of live windows", n)
		}
		n, err = s.PurgeAlertCounts(ctx, f.Clock.Now().Add(48*time.Hour))
		must(t, err)
		if n == 0 {
			t.Fatal("purged nothing two days later")
		}
		must(t, f.Changes.EvaluateMetricAlerts(ctx, f.Clock.Now()))
	})
}

// windowStep is one step of a metric window case, at an offset from a
// minute boundary: events saved then (one per user key, "" for none), the
// rule changed then, or, without either, an evaluation then.
type windowStep struct {
	at     time.Duration
	users  []string
	update bool
	// want is the value of the incident the evaluation opens; 0 means it
	// opens none.
	want float64
}

// updated is a windowStep changing the rule (its settings as they were)
// at at: its counts start over.
func updated(at time.Duration) windowStep { return windowStep{at: at, update: true} }

// saved is a windowStep saving one event per user key at.
func saved(at time.Duration, users ...string) windowStep { return windowStep{at: at, users: users} }

// evaluated is a windowStep evaluating at at, opening an incident of
// value want (none when 0).
func evaluated(at time.Duration, want float64) windowStep { return windowStep{at: at, want: want} }

// testMetricWindows checks that an evaluation counts exactly the events
// of the rule's last timeWindow minutes before it, to the second, at
// evaluation times on and across minute boundaries: events that arrive
// after an evaluation, in its minute or its very second, are counted by
// the next one, and none older than the window is. Each rule is critical
// above 2 (events or users) and evaluated every minute, as the leader
// does by default, with its River tick a moment late.
func testMetricWindows(t *testing.T, open storetest.Opener) {
	const s = time.Second
	n := func(k int) []string { return make([]string, k) }
	for _, c := range []struct {
		name      string
		aggregate string
		window    int
		steps     []windowStep
	}{
		// Issue 13: five events in the minute after an evaluation opened
		// nothing, as the next evaluation counted only its own minute.
		{"EventsAfterEvaluation", herald.AggregateCount, 1, []windowStep{
			evaluated(300*time.Millisecond, 0), saved(10*s, n(2)...), saved(30*s, n(2)...), saved(50*s, ""),
			evaluated(60*s+300*time.Millisecond, 5)}},
		{"EvaluationsMidMinute", herald.AggregateCount, 1, []windowStep{
			evaluated(30*s, 0), saved(40*s, ""), saved(55*s, ""), saved(70*s, ""), evaluated(90*s, 3)}},
		{"SameSecondAsEvaluation", herald.AggregateCount, 1, []windowStep{
			saved(50*s, ""), saved(55*s, ""), evaluated(60*s+200*time.Millisecond, 0),
			saved(60*s+700*time.Millisecond, ""), saved(80*s, ""), saved(100*s, ""), evaluated(120*s+200*time.Millisecond, 3)}},
		{"EventBeforeWindowLeftOut", herald.AggregateCount, 1, []windowStep{
			saved(20*s, ""), saved(25*s, ""), evaluated(30*s, 0), saved(35*s, ""), saved(89*s, ""),
			evaluated(90*s, 0), saved(90*s, ""), saved(149*s, ""), evaluated(150*s, 0)}},
		{"EventAtWindowStartCounted", herald.AggregateCount, 1, []windowStep{
			evaluated(29*s, 0), saved(30*s, n(2)...), saved(89*s, ""), evaluated(90*s, 3)}},
		// Before, a window lost the part of its oldest minute before the
		// evaluation's offset in the minute.
		{"LongWindowOldEdge", herald.AggregateCount, 10, []windowStep{
			saved(40*s, ""), saved(45*s, ""), saved(600*s, ""), evaluated(630*s, 3)}},
		{"LongWindowOldEdgeLeftOut", herald.AggregateCount, 10, []windowStep{
			saved(25*s, ""), saved(29*s, ""), saved(600*s, ""), evaluated(630*s, 0)}},
		{"UsersAcrossMinutes", herald.AggregateUniqueUsers, 1, []windowStep{
			saved(20*s, "id:old"), evaluated(30*s, 0), saved(40*s, "id:a"), saved(50*s, "id:b"), saved(70*s, "id:a"),
			saved(80*s, "id:c"), evaluated(90*s, 3)}},
		{"UsersBeforeWindowLeftOut", herald.AggregateUniqueUsers, 1, []windowStep{
			saved(20*s, "id:a", "id:b"), evaluated(30*s, 0), saved(45*s, "id:c"), saved(70*s, "id:b", "id:b"), evaluated(90*s, 0)}},
		// A change starts the counts over, to the second: nothing saved
		// before it is counted, in its own second and minute neither.
		{"ChangeStartsOver", herald.AggregateCount, 1, []windowStep{
			saved(10*s, n(3)...), updated(20 * s), saved(30*s, n(2)...), evaluated(50*s, 0), saved(55*s, ""), evaluated(65*s, 3)}},
		{"ChangeInTheSecondOfEvents", herald.AggregateCount, 1, []windowStep{
			saved(20*s+100*time.Millisecond, n(3)...), updated(20*s + 500*time.Millisecond), saved(20*s+700*time.Millisecond, ""),
			saved(30*s, ""), evaluated(40*s, 0), saved(45*s, ""), evaluated(50*s, 3)}},
		{"ChangeOnAMinute", herald.AggregateCount, 1, []windowStep{
			saved(59*s, n(3)...), updated(60 * s), saved(70*s, ""), evaluated(90*s, 0), saved(100*s, n(2)...), evaluated(110*s, 3)}},
		{"UsersChangeStartsOver", herald.AggregateUniqueUsers, 1, []windowStep{
			saved(10*s, "id:a", "id:b", "id:c"), saved(20*s, "id:d"), updated(20*s + 500*time.Millisecond), saved(30*s, "id:a"),
			evaluated(40*s, 0), saved(45*s, "id:b", "id:e"), evaluated(50*s, 3)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newFixture(t, open)
			base := f.Clock.Now() // a minute boundary
			rule := f.MetricRule(t, &herald.MetricAlertRule{Aggregate: c.aggregate, TimeWindow: c.window}, nil, 2, 0)
			for _, st := range c.steps {
				f.Clock.Add(base.Add(st.at).Sub(f.Clock.Now()))
				if st.update {
					must(t, f.Store.UpdateMetricAlert(ctx, rule))
					continue
				}
				if len(st.users) > 0 {
					var events []*herald.Event
					for _, u := range st.users {
						e := f.Event("windows")
						e.UserKey = u
						events = append(events, e)
					}
					must(t, f.Changes.SaveEvents(ctx, events))
					continue
				}
				must(t, f.Changes.EvaluateMetricAlerts(ctx, f.Clock.Now()))
				list, err := f.Store.FindIncidents(ctx, f.Org.ID, rule.ID)
				must(t, err)
				switch {
				case st.want == 0 && len(list) > 0:
					t.Fatalf("evaluation at +%v opened an incident of value %v", st.at, list[0].History[0].Value)
				case st.want != 0 && len(list) == 0:
					t.Fatalf("evaluation at +%v opened no incident, want one of value %v", st.at, st.want)
				case st.want != 0 && (list[0].History[0].Value != st.want || !list[0].DateStarted.Equal(f.Clock.Now())):
					t.Fatalf("evaluation at +%v opened %+v, want value %v", st.at, list[0], st.want)
				}
			}
		})
	}
}

// incidentStatuses returns the statuses of the history of the rule's
// latest incident.
func incidentStatuses(t testing.TB, f *fixture, ruleID int64) []int {
	t.Helper()
	list, err := f.Store.FindIncidents(context.Background(), f.Org.ID, ruleID)
	must(t, err)
	if len(list) == 0 {
		return nil
	}
	var out []int
	for _, h := range list[0].History {
		out = append(out, h.Status)
	}
	return out
}

// installationOf returns the uuid of app's installation on the fixture's
// organization.
func installationOf(t testing.TB, f *fixture, app *herald.SentryApp) string {
	t.Helper()
	list, err := f.Store.FindInstallations(context.Background(), f.Org.ID)
	must(t, err)
	for _, inst := range list {
		if inst.AppID == app.ID {
			return inst.UUID
		}
	}
	t.Fatalf("app %s is not installed", app.Slug)
	return ""
}

func ptr[T any](v T) *T { return &v }
