package storetest

import (
	"context"
	"testing"

	"github.com/herald-dev/herald"
)

// MetricRule creates a metric alert of the fixture's project: critical
// above critical and, when warning is not 0, warning above it, both
// telling app.
func (f *Fixture) MetricRule(t testing.TB, r *herald.MetricAlertRule, app *herald.SentryApp, critical, warning float64) *herald.MetricAlertRule {
	t.Helper()
	r.OrganizationID, r.ProjectIDs = f.Org.ID, []int64{f.Project.ID}
	if r.Name == "" {
		r.Name = "Spike"
	}
	if r.Aggregate == "" {
		r.Aggregate = herald.AggregateCount
	}
	if r.TimeWindow == 0 {
		r.TimeWindow = 10
	}
	var actions []*herald.MetricTriggerAction
	if app != nil {
		actions = []*herald.MetricTriggerAction{{Type: "sentry_app", SentryAppID: app.ID}}
	}
	r.Triggers = []*herald.MetricTrigger{{Label: herald.TriggerCritical, AlertThreshold: critical, Actions: actions}}
	if warning != 0 {
		r.Triggers = append(r.Triggers, &herald.MetricTrigger{Label: herald.TriggerWarning, AlertThreshold: warning, Actions: actions})
	}
	must(t, f.Store.CreateMetricAlert(context.Background(), r))
	return r
}
