package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/storetest"
)

// TestMetricAlertWindow: a metric alert with a one-minute window, evaluated
// once a minute as the leader does by default, counts exactly the events
// of the minute before each evaluation, on an injected clock. Events that
// arrive after an evaluation, in its minute or its very second, are
// counted by the next one; events older than the window are not. The rule
// (count() above 2) opens its incident, with metric_alert.open and
// metric_alert.critical to its app, at the first evaluation whose minute
// holds 3 events, and resolves when the next minute is empty.
func TestMetricAlertWindow(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{sqliteBackend, postgresBackend} {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			testMetricAlertWindow(t, b)
		})
	}
}

func testMetricAlertWindow(t *testing.T, b backend) {
	// The leader's ticks are a default interval apart, each a moment after
	// the minute (River runs a periodic job shortly after it is due).
	every := DefaultConfig().MetricAlertInterval
	if every != time.Minute {
		t.Fatalf("default metric alert interval = %v, the test plays minute ticks", every)
	}
	const late = 250 * time.Millisecond
	start := time.Now().UTC().Truncate(time.Minute)
	clock := storetest.NewClock(start)
	cfg := testConfig(t, b)
	cfg.clock = clock
	cfg.MetricAlertInterval = time.Hour // the test plays the leader's ticks
	srv := MustStart(t, cfg)
	p := setUp(t, srv)
	rc := newReceiver(t, nil)
	app := createApp(t, srv, "acme", "Acme Pager", rc.URL+"/hook", true, "comment")
	rc.setSecret(app.ClientSecret)
	var installs []struct {
		UUID string `json:"uuid"`
	}
	mustStatus(t, 200, call(t, srv.URL, "GET", "/api/0/organizations/acme/sentry-app-installations/", nil, &installs))
	const rules = "/api/0/organizations/acme/alert-rules/"
	var rule struct {
		ID string `json:"id"`
	}
	mustStatus(t, 201, call(t, srv.URL, "POST", rules, map[string]any{"name": "Minute spike", "aggregate": "count()", "query": "",
		"timeWindow": 1, "projects": []string{"web"}, "thresholdType": 0, "resolveThreshold": nil, "triggers": []map[string]any{
			{"label": "critical", "alertThreshold": 2, "actions": []map[string]any{
				{"type": "sentry_app", "targetType": "sentry_app", "sentryAppInstallationUuid": installs[0].UUID}}}}}, &rule))

	type incident struct {
		Status     int `json:"status"`
		Activities []struct {
			Status int     `json:"status"`
			Value  float64 `json:"value"`
		} `json:"activities"`
	}
	incidents := func() []incident {
		t.Helper()
		var list []incident
		mustStatus(t, 200, call(t, srv.URL, "GET", rules+rule.ID+"/incidents/", nil, &list))
		return list
	}
	sent := 0
	at := func(d time.Duration) { clock.Add(start.Add(d).Sub(clock.Now())) }
	event := func(d time.Duration) {
		t.Helper()
		at(d)
		sent++
		if code := storeEvent(t, srv, p, fmt.Sprintf("%032x", sent), fmt.Sprintf("payment %d failed", sent)); code != 200 {
			t.Fatalf("store event at +%v: status %d", d, code)
		}
	}
	// tick evaluates as the leader's k-th tick does and checks the rule's
	// incidents: none, or one whose history has the statuses and values
	// want lists in pairs.
	tick := func(k int, want ...float64) {
		t.Helper()
		at(time.Duration(k)*every + late)
		if err := srv.Changes.EvaluateMetricAlerts(context.Background(), clock.Now()); err != nil {
			t.Fatal(err)
		}
		list := incidents()
		if len(want) == 0 {
			if len(list) != 0 {
				t.Fatalf("tick %d opened %+v, want no incident", k, list)
			}
			return
		}
		var got []float64
		if len(list) == 1 {
			for _, a := range list[0].Activities {
				got = append(got, float64(a.Status), a.Value)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("tick %d: incidents %+v, want one with history (status, value) %v", k, list, want)
		}
	}

	tick(0)
	event(10 * time.Second)
	event(50 * time.Second)
	tick(1)                             // [0s, 60s): 2 events
	event(every + 750*time.Millisecond) // in tick 1's second, after it
	event(every + 5*time.Second)
	tick(2) // [60s, 120s): 2 events; the 2 before are older than the window
	event(2*every + 600*time.Millisecond)
	event(2*every + 30*time.Second)
	event(2*every + 59*time.Second)
	tick(3, herald.IncidentOpen, 3, herald.IncidentCritical, 3) // [120s, 180s): 3 events
	seen := map[string]bool{}
	expectMetricHooks(t, rc, seen, map[string]string{"metric_alert.open": "3 events in the last minute", "metric_alert.critical": "3 events in the last minute"})
	// The clock moves a minute next: the outcomes must be recorded first,
	// or the claims of the deliveries just received would lapse.
	waitNoPending(t, srv)
	tick(4, herald.IncidentOpen, 3, herald.IncidentCritical, 3, herald.IncidentClosed, 0) // [180s, 240s): none
	expectMetricHooks(t, rc, seen, map[string]string{"metric_alert.resolved": "0 events in the last minute"})
}

// expectMetricHooks waits for the receiver's next deliveries, one per
// event of want in any order, and checks their description_text. A
// delivery received again (deliveries are at least once) is skipped; seen
// holds the ids of those already checked.
func expectMetricHooks(t *testing.T, rc *receiver, seen map[string]bool, want map[string]string) {
	t.Helper()
	var got []appHook
	for n := len(seen) + 1; len(got) < len(want); n++ {
		h := appHooks(t, rc, n)[n-1]
		if !seen[h.RequestID] {
			seen[h.RequestID] = true
			got = append(got, h)
		}
	}
	for _, h := range got {
		var d struct {
			DescriptionText string `json:"description_text"`
		}
		if err := json.Unmarshal(h.Data, &d); err != nil {
			t.Fatal(err)
		}
		if text, ok := want[h.Event]; !ok || d.DescriptionText != text {
			t.Fatalf("%s %q, want one of %v", h.Event, d.DescriptionText, want)
		}
		delete(want, h.Event)
	}
}
