package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/herald-dev/herald/internal/storetest"
)

// Rule item ids of the issue alert tests.
const (
	firstSeenID  = "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"
	everyEventID = "sentry.rules.conditions.every_event.EveryEventCondition"
	levelID      = "sentry.rules.filters.level.LevelFilter"
	notifyID     = "sentry.rules.actions.notify_event.NotifyEventAction"
	appActionID  = "sentry.rules.actions.notify_event_sentry_app.NotifyEventSentryAppAction"
)

// ruleJSON is what the rules API answers.
type ruleJSON struct {
	ID          string           `json:"id"`
	Name        string           `json:"name"`
	ActionMatch string           `json:"actionMatch"`
	FilterMatch string           `json:"filterMatch"`
	Frequency   int              `json:"frequency"`
	Environment *string          `json:"environment"`
	Conditions  []map[string]any `json:"conditions"`
	Filters     []map[string]any `json:"filters"`
	Actions     []map[string]any `json:"actions"`
}

// TestIssueAlertRules: rules created through Sentry's API fire on real SDK
// events. A first-seen rule sends event.alert naming every rule that fired
// and event_alert.triggered to the installation its action targets; a rule
// whose level filter excludes the event does not fire; an every-event rule
// does not fire again within its frequency.
func TestIssueAlertRules(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{sqliteBackend, postgresBackend} {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			testIssueAlertRules(t, b)
		})
	}
}

func testIssueAlertRules(t *testing.T, b backend) {
	srv := MustStart(t, testConfig(t, b))
	p := setUp(t, srv)
	rc := newReceiver(t, nil)
	h := createHook(t, srv, rc.URL+"/hook", "event.alert", "event.created")
	rc.setSecret(h.Secret)
	appRC := newReceiver(t, nil)
	app := createApp(t, srv, "acme", "Acme Pager", appRC.URL+"/hook", true, "comment")
	appRC.setSecret(app.ClientSecret)
	var installs []struct {
		UUID string `json:"uuid"`
	}
	mustStatus(t, 200, call(t, srv.URL, "GET", "/api/0/organizations/acme/sentry-app-installations/", nil, &installs))
	if len(installs) != 1 {
		t.Fatalf("installations = %+v", installs)
	}
	uuid := installs[0].UUID

	const rules = "/api/0/projects/acme/web/rules/"
	t.Run("Validation", func(t *testing.T) {
		cond := []map[string]any{{"id": firstSeenID}}
		act := []map[string]any{{"id": notifyID}}
		for _, c := range []struct {
			name  string
			body  map[string]any
			field string
		}{
			{"no name", map[string]any{"conditions": cond, "actions": act}, "name"},
			{"bad actionMatch", map[string]any{"name": "r", "actionMatch": "most", "conditions": cond, "actions": act}, "actionMatch"},
			{"frequency too low", map[string]any{"name": "r", "frequency": 1, "conditions": cond, "actions": act}, "frequency"},
			{"frequency not a number", map[string]any{"name": "r", "frequency": "often", "conditions": cond, "actions": act}, "frequency"},
			{"unknown condition", map[string]any{"name": "r", "conditions": []map[string]any{{"id": "nope"}}, "actions": act}, "conditions"},
			{"bad level", map[string]any{"name": "r", "conditions": cond, "filters": []map[string]any{{"id": levelID, "match": "eq", "level": "41"}}, "actions": act}, "filters"},
			{"no actions", map[string]any{"name": "r", "conditions": cond}, "actions"},
			{"unknown installation", map[string]any{"name": "r", "conditions": cond,
				"actions": []map[string]any{{"id": appActionID, "sentryAppInstallationUuid": "0b5f1c53-0000-4000-8000-000000000000"}}}, "actions"},
		} {
			t.Run(c.name, func(t *testing.T) {
				var out map[string][]string
				mustStatus(t, 400, call(t, srv.URL, "POST", rules, c.body, &out))
				if len(out[c.field]) == 0 || out[c.field][0] == "" {
					t.Fatalf("body = %v, want a message for %s", out, c.field)
				}
			})
		}
	})

	var first, fatal, every ruleJSON
	mustStatus(t, 201, call(t, srv.URL, "POST", rules, map[string]any{
		"name": "New production errors", "actionMatch": "all", "filterMatch": "all", "frequency": 30, "environment": "production",
		"conditions": []map[string]any{{"id": firstSeenID}},
		"filters":    []map[string]any{{"id": levelID, "match": "gte", "level": "40"}},
		"actions": []map[string]any{{"id": appActionID, "sentryAppInstallationUuid": uuid,
			"settings": []map[string]any{{"name": "channel", "value": "#web-alerts"}}}},
	}, &first))
	mustStatus(t, 201, call(t, srv.URL, "POST", rules, map[string]any{
		"name": "Fatal only", "actionMatch": "all", "filterMatch": "all", "frequency": 30,
		"conditions": []map[string]any{{"id": firstSeenID}},
		"filters":    []map[string]any{{"id": levelID, "match": "eq", "level": "50"}},
		"actions":    []map[string]any{{"id": appActionID, "sentryAppInstallationUuid": uuid}},
	}, &fatal))
	mustStatus(t, 201, call(t, srv.URL, "POST", rules, map[string]any{
		"name": "Every event", "actionMatch": "any", "frequency": "5",
		"conditions": []map[string]any{{"id": everyEventID}},
		"actions":    []map[string]any{{"id": notifyID}},
	}, &every))
	if first.ID == "" || first.Environment == nil || *first.Environment != "production" || first.Frequency != 30 ||
		every.Frequency != 5 || every.FilterMatch != "all" || every.Environment != nil || len(every.Filters) != 0 {
		t.Fatalf("created = %+v %+v", first, every)
	}
	t.Run("CRUD", func(t *testing.T) {
		var list []ruleJSON
		mustStatus(t, 200, call(t, srv.URL, "GET", rules, nil, &list))
		if len(list) != 3 || list[0].Name != "New production errors" {
			t.Fatalf("rules = %+v", list)
		}
		var got ruleJSON
		mustStatus(t, 200, call(t, srv.URL, "GET", rules+first.ID+"/", nil, &got))
		if got.Actions[0]["sentryAppInstallationUuid"] != uuid {
			t.Fatalf("rule = %+v", got)
		}
		var tmp ruleJSON
		mustStatus(t, 201, call(t, srv.URL, "POST", rules, map[string]any{"name": "Temp",
			"conditions": []map[string]any{{"id": everyEventID}}, "actions": []map[string]any{{"id": notifyID}}}, &tmp))
		mustStatus(t, 200, call(t, srv.URL, "PUT", rules+tmp.ID+"/", map[string]any{"name": "Temp 2", "actionMatch": "none",
			"conditions": []map[string]any{{"id": everyEventID}}, "actions": []map[string]any{{"id": notifyID}}}, &got))
		if got.Name != "Temp 2" || got.ActionMatch != "none" || got.ID != tmp.ID {
			t.Fatalf("updated = %+v", got)
		}
		mustStatus(t, 202, call(t, srv.URL, "DELETE", rules+tmp.ID+"/", nil, nil))
		mustStatus(t, 404, call(t, srv.URL, "GET", rules+tmp.ID+"/", nil, nil))
		mustStatus(t, 404, call(t, srv.URL, "GET", rules+"abc/", nil, nil))
	})

	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Transport: sentry.NewHTTPSyncTransport(), Environment: "production"})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	capture := func() string {
		t.Helper()
		id := hub.CaptureException(errors.New("checkout failed"))
		if id == nil {
			t.Fatal("SDK did not send the event")
		}
		client.Flush(5 * time.Second)
		return string(*id)
	}

	// The first event opens its issue: event.created and one event.alert
	// naming the two rules that fired (not the fatal-only one).
	eventID := capture()
	got := rc.wait(t, 2, 20*time.Second)
	var alert *serviceHookBody
	for _, g := range got {
		if !g.Verified {
			t.Fatalf("signature %q does not verify", g.Signature)
		}
		var body serviceHookBody
		if err := json.Unmarshal(g.Body, &body); err != nil {
			t.Fatal(err)
		}
		if len(body.TriggeringRules) > 0 {
			alert = &body
		}
	}
	if alert == nil || !slices.Equal(alert.TriggeringRules, []string{"New production errors", "Every event"}) ||
		alert.Event.EventID != eventID || alert.Project != "web" {
		t.Fatalf("event.alert = %+v", alert)
	}
	// The first-seen rule's action tells the installation.
	ah := appHooks(t, appRC, 1)
	if ah[0].Event != "event_alert.triggered" || ah[0].Installation.UUID != uuid || ah[0].Actor.ID != "sentry" {
		t.Fatalf("app delivery = %+v", ah[0])
	}
	var data struct {
		TriggeredRule string `json:"triggered_rule"`
		Event         struct {
			EventID string `json:"event_id"`
			IssueID string `json:"issue_id"`
			WebURL  string `json:"web_url"`
		} `json:"event"`
		IssueAlert struct {
			Title    string              `json:"title"`
			Settings []map[string]string `json:"settings"`
		} `json:"issue_alert"`
	}
	if err := json.Unmarshal(ah[0].Data, &data); err != nil {
		t.Fatal(err)
	}
	if data.TriggeredRule != "New production errors" || data.Event.EventID != eventID || data.Event.IssueID != alert.ID ||
		!strings.HasPrefix(data.Event.WebURL, srv.URL+"/organizations/acme/issues/"+alert.ID+"/events/") ||
		data.IssueAlert.Title != "New production errors" || len(data.IssueAlert.Settings) != 1 {
		t.Fatalf("event_alert.triggered data = %s", ah[0].Data)
	}

	// The second event of the issue: not first seen, and the every-event
	// rule fired less than 5 minutes ago, so only event.created.
	capture()
	rc.wait(t, 3, 20*time.Second)
	var ds []struct {
		Event string `json:"event"`
	}
	mustStatus(t, 200, call(t, srv.URL, "GET", fmt.Sprintf("/api/0/projects/acme/web/hooks/%s/deliveries/", h.ID), nil, &ds))
	alerts := 0
	for _, d := range ds {
		if d.Event == "event.alert" {
			alerts++
		}
	}
	if len(ds) != 3 || alerts != 1 {
		t.Fatalf("hook deliveries = %+v, want 2 event.created and 1 event.alert", ds)
	}
}

// TestMetricAlertLifecycle: a metric alert created through Sentry's API
// goes open → warning → critical → warning → resolved as real SDK events
// arrive and the window empties, on an injected clock; each change is a
// metric_alert webhook to the installation its triggers name, and the
// incident's history is queryable.
func TestMetricAlertLifecycle(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{sqliteBackend, postgresBackend} {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			testMetricAlertLifecycle(t, b)
		})
	}
}

func testMetricAlertLifecycle(t *testing.T, b backend) {
	clock := storetest.NewClock(time.Now().UTC().Truncate(time.Minute).Add(30 * time.Second))
	cfg := testConfig(t, b)
	cfg.clock = clock
	cfg.MetricAlertInterval = time.Hour // the test evaluates by itself
	srv := MustStart(t, cfg)
	p := setUp(t, srv)
	appRC := newReceiver(t, nil)
	app := createApp(t, srv, "acme", "Acme Pager", appRC.URL+"/hook", true, "comment")
	appRC.setSecret(app.ClientSecret)
	var installs []struct {
		UUID string `json:"uuid"`
	}
	mustStatus(t, 200, call(t, srv.URL, "GET", "/api/0/organizations/acme/sentry-app-installations/", nil, &installs))
	uuid := installs[0].UUID

	const rules = "/api/0/organizations/acme/alert-rules/"
	action := []map[string]any{{"type": "sentry_app", "targetType": "sentry_app", "sentryAppInstallationUuid": uuid}}
	rule := func(change func(m map[string]any)) map[string]any {
		m := map[string]any{"name": "Web error spike", "aggregate": "count()", "query": "level:error", "timeWindow": 10,
			"projects": []string{"web"}, "thresholdType": 0, "resolveThreshold": nil, "triggers": []map[string]any{
				{"label": "critical", "alertThreshold": 4, "actions": action},
				{"label": "warning", "alertThreshold": 2, "actions": action}}}
		if change != nil {
			change(m)
		}
		return m
	}
	t.Run("Validation", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			change func(m map[string]any)
			field  string
		}{
			{"aggregate", func(m map[string]any) { m["aggregate"] = "p95(transaction.duration)" }, "aggregate"},
			{"unknown project", func(m map[string]any) { m["projects"] = []string{"nope"} }, "projects"},
			{"window", func(m map[string]any) { m["timeWindow"] = 0 }, "timeWindow"},
			{"query", func(m map[string]any) { m["query"] = "level:loud" }, "query"},
			{"no critical", func(m map[string]any) {
				m["triggers"] = []map[string]any{{"label": "warning", "alertThreshold": 2, "actions": action}}
			}, "triggers"},
			{"warning above critical", func(m map[string]any) {
				m["triggers"] = []map[string]any{{"label": "critical", "alertThreshold": 4}, {"label": "warning", "alertThreshold": 9}}
			}, "triggers"},
			{"resolve above warning", func(m map[string]any) { m["resolveThreshold"] = 3 }, "resolveThreshold"},
			{"unknown installation", func(m map[string]any) {
				m["triggers"] = []map[string]any{{"label": "critical", "alertThreshold": 4,
					"actions": []map[string]any{{"type": "sentry_app", "sentryAppInstallationUuid": "0b5f1c53-0000-4000-8000-000000000000"}}}}
			}, "triggers"},
		} {
			t.Run(c.name, func(t *testing.T) {
				var out map[string][]string
				mustStatus(t, 400, call(t, srv.URL, "POST", rules, rule(c.change), &out))
				if len(out[c.field]) == 0 {
					t.Fatalf("body = %v, want a message for %s", out, c.field)
				}
			})
		}
	})
	var created struct {
		ID       string   `json:"id"`
		Projects []string `json:"projects"`
		Triggers []struct {
			Label   string `json:"label"`
			Actions []struct {
				SentryAppID int64 `json:"sentryAppId"`
			} `json:"actions"`
		} `json:"triggers"`
	}
	mustStatus(t, 201, call(t, srv.URL, "POST", rules, rule(nil), &created))
	if created.ID == "" || len(created.Triggers) != 2 || created.Triggers[0].Actions[0].SentryAppID == 0 || created.Projects[0] != "web" {
		t.Fatalf("created = %+v", created)
	}
	var list []map[string]any
	mustStatus(t, 200, call(t, srv.URL, "GET", rules, nil, &list))
	mustStatus(t, 200, call(t, srv.URL, "GET", rules+created.ID+"/", nil, nil))
	if len(list) != 1 {
		t.Fatalf("rules = %v", list)
	}

	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Transport: sentry.NewHTTPSyncTransport(), Environment: "production"})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	capture := func(n int) {
		t.Helper()
		for i := range n {
			if hub.CaptureException(fmt.Errorf("payment %d failed", i)) == nil {
				t.Fatal("SDK did not send the event")
			}
		}
		client.Flush(5 * time.Second)
	}
	// An evaluation counts the whole seconds before its own: the leader's
	// tick comes a second after the events.
	evaluate := func() {
		t.Helper()
		if err := srv.Changes.EvaluateMetricAlerts(context.Background(), clock.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	type metricData struct {
		MetricAlert struct {
			ID         string  `json:"id"`
			Identifier string  `json:"identifier"`
			Status     int     `json:"status"`
			DateClosed *string `json:"date_closed"`
			AlertRule  struct {
				ID string `json:"id"`
			} `json:"alert_rule"`
		} `json:"metric_alert"`
		DescriptionText  string `json:"description_text"`
		DescriptionTitle string `json:"description_title"`
		WebURL           string `json:"web_url"`
	}
	seen, ids := 0, map[string]bool{}
	// expect waits for the next deliveries and checks them, in any order
	// within one evaluation. A delivery received again (deliveries are at
	// least once: an attempt that timed out on a loaded machine is retried)
	// is skipped.
	expect := func(want map[string]string) {
		t.Helper()
		var got []appHook
		for len(got) < len(want) {
			for _, h := range appHooks(t, appRC, seen+1)[seen:] {
				seen++
				if !ids[h.RequestID] {
					ids[h.RequestID] = true
					got = append(got, h)
				}
			}
		}
		if len(got) > len(want) {
			t.Fatalf("got %d deliveries, want %v", len(got), want)
		}
		// The test moves the clock by minutes next: the outcomes must be
		// recorded first, or the claims of deliveries just received would
		// lapse and they would be sent again.
		waitNoPending(t, srv)
		for _, h := range got {
			var d metricData
			if err := json.Unmarshal(h.Data, &d); err != nil {
				t.Fatal(err)
			}
			text, ok := want[h.Event]
			if !ok || d.DescriptionText != text || h.Installation.UUID != uuid || h.Resource != "metric_alert" ||
				d.MetricAlert.AlertRule.ID != created.ID || !strings.HasSuffix(d.WebURL, "/alerts/rules/details/"+created.ID+"/?alert="+d.MetricAlert.Identifier) {
				t.Fatalf("%s = %s, want one of %v", h.Event, h.Data, want)
			}
			if (h.Event == "metric_alert.resolved") != (d.MetricAlert.DateClosed != nil) {
				t.Fatalf("%s date_closed = %v", h.Event, d.MetricAlert.DateClosed)
			}
		}
	}

	capture(3)
	evaluate()
	expect(map[string]string{"metric_alert.open": "3 events in the last 10 minutes", "metric_alert.warning": "3 events in the last 10 minutes"})
	clock.Add(time.Minute)
	capture(2)
	evaluate()
	expect(map[string]string{"metric_alert.critical": "5 events in the last 10 minutes"})
	clock.Add(9 * time.Minute) // the first 3 events leave the window
	evaluate()
	expect(map[string]string{"metric_alert.warning": "2 events in the last 10 minutes"})
	clock.Add(time.Minute) // the window is empty
	evaluate()
	expect(map[string]string{"metric_alert.resolved": "0 events in the last 10 minutes"})

	var incidents []struct {
		Status     int     `json:"status"`
		DateClosed *string `json:"dateClosed"`
		Activities []struct {
			Status int     `json:"status"`
			Value  float64 `json:"value"`
		} `json:"activities"`
	}
	mustStatus(t, 200, call(t, srv.URL, "GET", rules+created.ID+"/incidents/", nil, &incidents))
	var history []int
	for _, a := range incidents[0].Activities {
		history = append(history, a.Status)
	}
	if len(incidents) != 1 || incidents[0].Status != 2 || incidents[0].DateClosed == nil || !slices.Equal(history, []int{1, 10, 20, 10, 2}) {
		t.Fatalf("incidents = %+v", incidents)
	}
	mustStatus(t, 204, call(t, srv.URL, "DELETE", rules+created.ID+"/", nil, nil))
	mustStatus(t, 404, call(t, srv.URL, "GET", rules+created.ID+"/", nil, nil))
}

// waitNoPending waits until the server has recorded every delivery's
// outcome.
func waitNoPending(t *testing.T, srv *Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := srv.Store.SQL().QueryRow(`SELECT COUNT(*) FROM deliveries WHERE status = 'pending'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries still pending", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
