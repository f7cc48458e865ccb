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
	evaluate := func(t *testing.T) {
		t.Helper()
		must(t, f.Changes.EvaluateMetricAlerts(ctx, f.Clock.Now()))
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
		if len(list) != 1 || list[0].Status != herald.IncidentClosed || list[0].DateClosed == nil || !list[0].DateStarted.Equal(start) ||
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
