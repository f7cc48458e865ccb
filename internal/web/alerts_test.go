package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/alert"
	"github.com/herald-dev/herald/internal/api"
	"github.com/herald-dev/herald/internal/storetest"
)

// alertsAPI is Herald's API on the env's store, called with jane's token:
// the forms must make the rows the API makes of the same rule.
type alertsAPI struct {
	url   string
	token string
}

// newAlertsAPI starts the API on e's store and service.
func newAlertsAPI(t *testing.T, e *env) *alertsAPI {
	t.Helper()
	srv, err := api.NewServer(api.Config{Store: e.Store, Changes: e.Changes, BaseURL: e.URL, Clock: e.Clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	tok := &herald.Token{UserID: e.User.ID, Scopes: herald.Scopes}
	if err := e.Store.CreateToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	return &alertsAPI{url: ts.URL, token: tok.Value}
}

// call sends body as JSON and returns the id of the rule answered.
func (a *alertsAPI) call(t *testing.T, method, path string, want int, body any) int64 {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, a.url+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, res.StatusCode, want, out)
	}
	var rule struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(out, &rule); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, out)
	}
	id, err := strconv.ParseInt(rule.ID, 10, 64)
	if err != nil {
		t.Fatalf("%s %s: id %q", method, path, rule.ID)
	}
	return id
}

// alertApp creates an internal, alertable integration of acme (installed
// at its creation) and returns it with its installation.
func alertApp(t *testing.T, e *env, slug string) (*herald.SentryApp, *herald.Installation) {
	t.Helper()
	ctx := context.Background()
	app := e.App(t, slug, true)
	alertable := true
	if _, err := e.Store.UpdateApp(ctx, app.ID, herald.SentryAppUpdate{IsAlertable: &alertable}); err != nil {
		t.Fatal(err)
	}
	insts, err := e.Store.FindInstallations(ctx, e.Org.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, inst := range insts {
		if inst.AppID == app.ID {
			return app, inst
		}
	}
	t.Fatalf("app %s is not installed", slug)
	return nil, nil
}

// sameIssueRule fails unless the two rules are the same but for their id
// and creation time.
func sameIssueRule(t *testing.T, got, want *herald.AlertRule) {
	t.Helper()
	g, w := *got, *want
	g.ID, w.ID, g.DateCreated, w.DateCreated = 0, 0, time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, w) {
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		t.Fatalf("rule from the form:\n%s\nrule from the API:\n%s", gj, wj)
	}
}

// findIssueRule loads a rule of acme's project web.
func findIssueRule(t *testing.T, e *env, id int64) *herald.AlertRule {
	t.Helper()
	r, err := e.Store.FindRuleByID(context.Background(), e.Project.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ruleIDFrom reads a rule's id from the path a form redirected to, the
// part of path after prefix.
func ruleIDFrom(t *testing.T, res *page, prefix string) int64 {
	t.Helper()
	if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Location, prefix) {
		t.Fatalf("status %d location %q, want a redirect to %s…:\n%s", res.Status, res.Location, prefix, res.Body)
	}
	idText, _, _ := strings.Cut(strings.TrimPrefix(res.Location, prefix), "/")
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil {
		t.Fatalf("location %q has no rule id", res.Location)
	}
	return id
}

// TestIssueRuleForms creates, edits and deletes an issue alert rule through
// its forms: each save stores the rule the API stores for the same settings.
func TestIssueRuleForms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := newAlertsAPI(t, e)
	_, inst := alertApp(t, e, "pager")
	b := e.signIn(t, e.User.Email)

	// The form as a browser posts it: a blank row ends each list.
	form := url.Values{
		"name": {"  New errors  "}, "project": {"web"}, "environment": {"production"},
		"actionMatch": {"any"}, "filterMatch": {"all"}, "frequency": {"60"},
		"first_seen": {"on"}, "freq_value": {"100", ""}, "freq_interval": {"1h", "1h"},
		"users_value": {""}, "users_interval": {"1h"},
		"level_match": {"gte", ""}, "level_level": {"40", "50"},
		"tag_key": {"release", ""}, "tag_match": {"eq", "eq"}, "tag_value": {"1.0", ""},
		"occurrences_value": {"10", ""}, "age_comparison": {"older", "older"}, "age_value": {"3", ""}, "age_time": {"week", "day"},
		"notify_event":     {"on"},
		"app_installation": {inst.UUID, ""}, "app_settings": {`[{"name":"channel","value":"#alerts"}]`, ""},
	}
	apiRule := map[string]any{
		"name": "New errors", "environment": "production", "actionMatch": "any", "filterMatch": "all", "frequency": 60,
		"conditions": []map[string]any{{"id": storetest.FirstSeenCondition},
			{"id": storetest.EventFrequencyCondition, "value": 100, "interval": "1h", "comparisonType": "count"}},
		"filters": []map[string]any{{"id": storetest.LevelFilter, "match": "gte", "level": "40"},
			{"id": storetest.TagFilter, "key": "release", "match": "eq", "value": "1.0"},
			{"id": alert.IssueOccurrencesFilter, "value": 10},
			{"id": alert.AgeComparisonFilter, "comparison_type": "older", "value": 3, "time": "week"}},
		"actions": []map[string]any{{"id": storetest.NotifyAction},
			{"id": storetest.AppAction, "sentryAppInstallationUuid": inst.UUID, "settings": []map[string]string{{"name": "channel", "value": "#alerts"}}}},
	}

	// Create: the rule the API makes of the same settings.
	res := b.post("/organizations/acme/alerts/new/issue/", form)
	id := ruleIDFrom(t, res, "/organizations/acme/alerts/rules/web/")
	want := a.call(t, "POST", "/api/0/projects/acme/web/rules/", http.StatusCreated, apiRule)
	sameIssueRule(t, findIssueRule(t, e, id), findIssueRule(t, e, want))
	b.get(res.Location).mustContain(t, "New errors", "The issue is seen more than 100 times in one hour",
		"The event&#39;s level is greater than or equal to error", "The event&#39;s tags match release equals 1.0",
		"The issue is older than 3 week(s)", "Send a notification via pager")

	// The edit form shows the rule as it is.
	edit := "/organizations/acme/alerts/rules/web/" + strconv.FormatInt(id, 10) + "/"
	b.get(edit).mustContain(t, `value="New errors"`, `name="first_seen" value="on" checked`, `value="100"`,
		`<option value="gte" selected>`, `value="release"`, `<option value="`+inst.UUID+`" selected>`, "Delete Rule")

	// "Add another row" keeps what was typed and saves nothing.
	more := url.Values{}
	for k, v := range form {
		more[k] = v
	}
	more.Set("name", "Typed, not saved")
	more.Set("action", "more")
	b.post(edit, more).mustContain(t, `value="Typed, not saved"`, `id="freq-value-1"`)
	if got := findIssueRule(t, e, id); got.Name != "New errors" {
		t.Fatalf("Add another row saved the rule: %q", got.Name)
	}

	// Edit: the whole rule is replaced, as by the API's PUT.
	form.Set("name", "Regressions")
	form.Del("first_seen")
	form.Set("regression", "on")
	form.Set("every_event", "on")
	form["freq_value"], form["freq_interval"] = []string{""}, []string{"1h"}
	form["users_value"], form["users_interval"] = []string{"5", ""}, []string{"1d", "1h"}
	form["level_match"] = []string{""}
	form["tag_key"], form["tag_match"], form["tag_value"] = []string{"browser"}, []string{"is"}, []string{""}
	form["occurrences_value"], form["age_value"] = []string{""}, []string{""}
	form.Del("notify_event")
	form.Set("notify_service", "on")
	form.Set("service", "webhooks")
	form["app_installation"], form["app_settings"] = []string{inst.UUID}, []string{""}
	form.Set("frequency", "")
	form.Set("environment", "")
	res = b.post(edit, form)
	if res.Status != http.StatusSeeOther {
		t.Fatalf("edit: status %d:\n%s", res.Status, res.Body)
	}
	apiRule = map[string]any{
		"name": "Regressions", "actionMatch": "any", "filterMatch": "all",
		"conditions": []map[string]any{{"id": alert.Regression}, {"id": storetest.EveryEventCondition},
			{"id": storetest.UniqueUsersCondition, "value": 5, "interval": "1d", "comparisonType": "count"}},
		"filters": []map[string]any{{"id": storetest.TagFilter, "key": "browser", "match": "is"}},
		"actions": []map[string]any{{"id": alert.NotifyEventServiceAction, "service": "webhooks"},
			{"id": storetest.AppAction, "sentryAppInstallationUuid": inst.UUID}},
	}
	a.call(t, "PUT", "/api/0/projects/acme/web/rules/"+strconv.FormatInt(want, 10)+"/", http.StatusOK, apiRule)
	got := findIssueRule(t, e, id)
	sameIssueRule(t, got, findIssueRule(t, e, want))
	if got.Frequency != alert.DefaultFrequency {
		t.Fatalf("blank frequency = %d, want the default", got.Frequency)
	}

	// The list shows both rules; ?project= limits it.
	b.get("/organizations/acme/alerts/rules/?project=web").mustContain(t, "Regressions", ">web<", "Issue", "Active")

	// Delete.
	res = b.post(edit, url.Values{"action": {"delete"}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("delete: status %d:\n%s", res.Status, res.Body)
	}
	if _, err := e.Store.FindRuleByID(context.Background(), e.Project.ID, id); herald.ErrorCode(err) != herald.ENOTFOUND {
		t.Fatalf("after delete: %v", err)
	}
	if res := b.get(edit); res.Status != http.StatusNotFound {
		t.Fatalf("deleted rule's form: status %d", res.Status)
	}
}

// normalMetric returns r without its ids and times, for comparing the
// rows two ways of saving made.
func normalMetric(r *herald.MetricAlertRule) *herald.MetricAlertRule {
	out := *r
	out.ID, out.DateCreated, out.DateModified = 0, time.Time{}, time.Time{}
	out.Triggers = nil
	for _, t := range r.Triggers {
		tc := *t
		tc.ID, tc.Actions = 0, nil
		for _, a := range t.Actions {
			ac := *a
			ac.ID = 0
			tc.Actions = append(tc.Actions, &ac)
		}
		out.Triggers = append(out.Triggers, &tc)
	}
	return &out
}

// sameMetricRule fails unless the rules with ids got and want are the
// same but for ids and times.
func sameMetricRule(t *testing.T, e *env, got, want int64) *herald.MetricAlertRule {
	t.Helper()
	ctx := context.Background()
	g, err := e.Store.FindMetricAlertByID(ctx, e.Org.ID, got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := e.Store.FindMetricAlertByID(ctx, e.Org.ID, want)
	if err != nil {
		t.Fatal(err)
	}
	if gn, wn := normalMetric(g), normalMetric(w); !reflect.DeepEqual(gn, wn) {
		gj, _ := json.Marshal(gn)
		wj, _ := json.Marshal(wn)
		t.Fatalf("rule from the form:\n%s\nrule from the API:\n%s", gj, wj)
	}
	return g
}

// TestMetricRuleForms creates, edits and deletes a metric alert rule
// through its forms, compared with the rules the API makes.
func TestMetricRuleForms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := newAlertsAPI(t, e)
	app, _ := alertApp(t, e, "pager")
	appID := strconv.FormatInt(app.ID, 10)
	b := e.signIn(t, e.User.Email)

	form := url.Values{
		"name": {"Spike"}, "projects": {"web"}, "aggregate": {herald.AggregateCount}, "query": {"level:error"},
		"environment": {"production"}, "timeWindow": {"10"}, "thresholdType": {"0"}, "resolveThreshold": {"1"},
		"critical": {"4"}, "critical_app": {appID, ""}, "critical_settings": {`{"team":"core"}`, ""},
		"warning": {"2"}, "warning_app": {appID, ""}, "warning_settings": {"", ""},
	}
	apiRule := map[string]any{
		"name": "Spike", "projects": []string{"web"}, "aggregate": "count()", "query": "level:error", "dataset": "events",
		"environment": "production", "timeWindow": 10, "thresholdType": 0, "resolveThreshold": 1,
		"triggers": []map[string]any{
			{"label": "critical", "alertThreshold": 4, "actions": []map[string]any{{"type": "sentry_app", "sentryAppId": app.ID, "settings": map[string]string{"team": "core"}}}},
			{"label": "warning", "alertThreshold": 2, "actions": []map[string]any{{"type": "sentry_app", "sentryAppId": app.ID}}},
		},
	}
	res := b.post("/organizations/acme/alerts/new/metric/", form)
	id := ruleIDFrom(t, res, "/organizations/acme/alerts/rules/details/")
	want := a.call(t, "POST", "/api/0/organizations/acme/alert-rules/", http.StatusCreated, apiRule)
	sameMetricRule(t, e, id, want)
	b.get(res.Location).mustContain(t, "Spike", "Number of errors (count()) over 10 minutes", "<code>level:error</code>",
		"above 4", "above 2", "Send a notification via pager", "No incidents")

	edit := "/organizations/acme/alerts/metric-rules/" + strconv.FormatInt(id, 10) + "/"
	b.get(edit).mustContain(t, `value="Spike"`, `name="projects" value="web" checked`, `id="metric-critical" name="critical" type="number" step="any" value="4"`,
		`<option value="`+appID+`" selected>`, "Delete Rule")

	// Edit: no warning trigger, below thresholds, unique users.
	form = url.Values{
		"name": {"Quiet"}, "projects": {"web"}, "aggregate": {herald.AggregateUniqueUsers}, "query": {""},
		"timeWindow": {"30"}, "thresholdType": {"1"}, "resolveThreshold": {""},
		"critical": {"1.5"}, "critical_app": {""}, "critical_settings": {""}, "warning": {""}, "warning_app": {""}, "warning_settings": {""},
	}
	res = b.post(edit, form)
	if res.Status != http.StatusSeeOther {
		t.Fatalf("edit: status %d:\n%s", res.Status, res.Body)
	}
	apiRule = map[string]any{"name": "Quiet", "projects": []string{"web"}, "aggregate": "count_unique(user)", "query": "",
		"timeWindow": 30, "thresholdType": 1, "triggers": []map[string]any{{"label": "critical", "alertThreshold": 1.5, "actions": []any{}}}}
	a.call(t, "PUT", "/api/0/organizations/acme/alert-rules/"+strconv.FormatInt(want, 10)+"/", http.StatusOK, apiRule)
	got := sameMetricRule(t, e, id, want)
	if len(got.Triggers) != 1 || got.ThresholdType != herald.ThresholdBelow {
		t.Fatalf("edited rule = %+v", got)
	}
	b.get("/organizations/acme/alerts/rules/").mustContain(t, "Quiet", "Metric", "No incidents")

	res = b.post(edit, url.Values{"action": {"delete"}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("delete: status %d:\n%s", res.Status, res.Body)
	}
	if _, err := e.Store.FindMetricAlertByID(context.Background(), e.Org.ID, id); herald.ErrorCode(err) != herald.ENOTFOUND {
		t.Fatalf("after delete: %v", err)
	}
}

// TestAlertFormErrors posts invalid rules: 400 with the API's message, the
// form shown again, nothing stored.
func TestAlertFormErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	app, inst := alertApp(t, e, "pager")
	b := e.signIn(t, e.User.Email)
	issue := func(change func(url.Values)) url.Values {
		v := url.Values{"name": {"Rule"}, "project": {"web"}, "first_seen": {"on"}, "notify_event": {"on"},
			"freq_value": {""}, "freq_interval": {"1h"}, "app_installation": {""}, "app_settings": {""}}
		change(v)
		return v
	}
	metric := func(change func(url.Values)) url.Values {
		v := url.Values{"name": {"Spike"}, "projects": {"web"}, "aggregate": {"count()"}, "timeWindow": {"10"},
			"thresholdType": {"0"}, "critical": {"4"}, "critical_app": {""}, "critical_settings": {""}}
		change(v)
		return v
	}
	const newIssue, newMetric = "/organizations/acme/alerts/new/issue/", "/organizations/acme/alerts/new/metric/"
	tests := []struct {
		name string
		path string
		form url.Values
		want string
	}{
		{"IssueBlankName", newIssue, issue(func(v url.Values) { v.Set("name", " ") }), "This field may not be blank."},
		{"IssueNoCondition", newIssue, issue(func(v url.Values) { v.Del("first_seen") }), "This list may not be empty."},
		{"IssueNoAction", newIssue, issue(func(v url.Values) { v.Del("notify_event") }), "You must add an action for this alert to fire."},
		{"IssueFrequencyNotNumber", newIssue, issue(func(v url.Values) { v.Set("frequency", "often") }), "A valid integer is required."},
		{"IssueFrequencyTooLow", newIssue, issue(func(v url.Values) { v.Set("frequency", "1") }), "Ensure this value is between 5 and 43200 minutes."},
		{"IssueBadInterval", newIssue, issue(func(v url.Values) { v.Set("freq_value", "3"); v.Set("freq_interval", "2h") }),
			"Condition 2: interval &#34;2h&#34; is not one of 1m, 5m, 15m, 1h, 1d, 1w, 30d"},
		{"IssueValueNotNumber", newIssue, issue(func(v url.Values) { v.Set("freq_value", "many") }), "Condition 2: value must be an integer"},
		{"IssueTagWithoutKey", newIssue, issue(func(v url.Values) {
			v["tag_key"], v["tag_match"], v["tag_value"] = []string{""}, []string{"eq"}, []string{"x"}
		}), "Filter 1: key is required"},
		{"IssueBadMatch", newIssue, issue(func(v url.Values) { v.Set("actionMatch", "some") }), "&#34;some&#34; is not a valid choice."},
		{"IssueUnknownProject", newIssue, issue(func(v url.Values) { v.Set("project", "nope") }), "Choose one of the organization&#39;s projects."},
		{"IssueAppNotInstalled", newIssue, issue(func(v url.Values) { v.Set("app_installation", "0000-not-installed") }),
			"Sentry App installation &#34;0000-not-installed&#34; is not installed on this organization."},
		{"IssueSettingsNotJSON", newIssue, issue(func(v url.Values) { v.Set("app_installation", inst.UUID); v.Set("app_settings", "{") }),
			"Action 2: settings must be JSON"},
		{"MetricNoProject", newMetric, metric(func(v url.Values) { v.Del("projects") }), "This list may not be empty."},
		{"MetricUnknownProject", newMetric, metric(func(v url.Values) { v.Set("projects", "nope") }), "Project &#34;nope&#34; does not exist in this organization."},
		{"MetricNoCritical", newMetric, metric(func(v url.Values) { v.Set("critical", "") }), "Trigger 1: alertThreshold is required."},
		{"MetricWarningWithoutThreshold", newMetric, metric(func(v url.Values) { v.Set("warning_app", strconv.FormatInt(app.ID, 10)) }),
			"Trigger 2: alertThreshold is required."},
		{"MetricWarningAboveCritical", newMetric, metric(func(v url.Values) { v.Set("warning", "9") }),
			"The critical threshold must be above the warning threshold."},
		{"MetricResolveAboveThresholds", newMetric, metric(func(v url.Values) { v.Set("resolveThreshold", "5") }),
			"The resolve threshold must be below every alert threshold."},
		{"MetricWindow", newMetric, metric(func(v url.Values) { v.Set("timeWindow", "0") }), "Ensure this value is between 1 and 1440 minutes."},
		{"MetricWindowNotNumber", newMetric, metric(func(v url.Values) { v.Set("timeWindow", "1.5") }), "A valid integer is required."},
		{"MetricBadQuery", newMetric, metric(func(v url.Values) { v.Set("query", "oops") }), "&#34;oops&#34; is not a key:value term"},
		{"MetricBadAggregate", newMetric, metric(func(v url.Values) { v.Set("aggregate", "avg(x)") }), "Only count() and count_unique(user) are supported."},
		{"MetricAppNotInstalled", newMetric, metric(func(v url.Values) { v.Set("critical_app", "999999") }),
			"Trigger 1: Sentry App 999999 is not installed on this organization."},
		{"MetricSettingsNotJSON", newMetric, metric(func(v url.Values) {
			v.Set("critical_app", strconv.FormatInt(app.ID, 10))
			v.Set("critical_settings", "[")
		}), "Trigger 1: settings must be JSON."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := b.post(tt.path, tt.form)
			if res.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400:\n%s", res.Status, res.Body)
			}
			res.mustContain(t, tt.want, `class="error"`)
			// The form is shown again with what was typed.
			res.mustContain(t, `value="`+tt.form.Get("name")+`"`)
		})
	}
	ctx := context.Background()
	if rules, err := e.Store.FindRules(ctx, e.Project.ID); err != nil || len(rules) != 0 {
		t.Fatalf("issue rules after refused forms: %d, %v", len(rules), err)
	}
	if rules, err := e.Store.FindMetricAlerts(ctx, e.Org.ID); err != nil || len(rules) != 0 {
		t.Fatalf("metric rules after refused forms: %d, %v", len(rules), err)
	}
}

// TestAlertAccess checks the scopes of the Alerts pages, those of the API
// routes (Sentry's alert permissions: alerts:write, which every role has,
// or the project's or organization's write scope), and that another
// organization's people get 404.
func TestAlertAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	issueRule := e.Rule(t, "New errors", 30, []herald.RuleItem{{"id": storetest.FirstSeenCondition}}, nil)
	metricRule := e.MetricRule(t, &herald.MetricAlertRule{}, nil, 4, 0)
	stranger := e.person(t, "owner@globex.example", "")
	if err := e.Store.CreateOrganization(ctx, &herald.Organization{Name: "Globex", Slug: "globex"}, stranger.ID); err != nil {
		t.Fatal(err)
	}
	e.person(t, "member@acme.example", herald.RoleMember)
	e.person(t, "admin@acme.example", herald.RoleAdmin)
	e.person(t, "manager@acme.example", herald.RoleManager)

	issueEdit := "/organizations/acme/alerts/rules/web/" + strconv.FormatInt(issueRule.ID, 10) + "/"
	metricEdit := "/organizations/acme/alerts/metric-rules/" + strconv.FormatInt(metricRule.ID, 10) + "/"
	newIssue := url.Values{"name": {"By form"}, "project": {"web"}, "first_seen": {"on"}, "notify_event": {"on"}}
	newMetric := url.Values{"name": {"By form"}, "projects": {"web"}, "aggregate": {"count()"}, "timeWindow": {"10"},
		"thresholdType": {"0"}, "critical": {"4"}}
	tests := []struct {
		name   string
		email  string
		method string
		path   string
		form   url.Values
		want   int
	}{
		{"MemberList", "member@acme.example", "GET", "/organizations/acme/alerts/rules/", nil, http.StatusOK},
		{"MemberIssueDetails", "member@acme.example", "GET", issueEdit + "details/", nil, http.StatusOK},
		{"MemberMetricDetails", "member@acme.example", "GET", "/organizations/acme/alerts/rules/details/" + strconv.FormatInt(metricRule.ID, 10) + "/", nil, http.StatusOK},
		// Members have alerts:write, as in Sentry by default.
		{"MemberNewIssueForm", "member@acme.example", "GET", "/organizations/acme/alerts/new/issue/", nil, http.StatusOK},
		{"MemberCreatesIssueRule", "member@acme.example", "POST", "/organizations/acme/alerts/new/issue/", newIssue, http.StatusSeeOther},
		{"MemberCreatesMetricRule", "member@acme.example", "POST", "/organizations/acme/alerts/new/metric/", newMetric, http.StatusSeeOther},
		{"AdminCreatesIssueRule", "admin@acme.example", "POST", "/organizations/acme/alerts/new/issue/", newIssue, http.StatusSeeOther},
		{"AdminCreatesMetricRule", "admin@acme.example", "POST", "/organizations/acme/alerts/new/metric/", newMetric, http.StatusSeeOther},
		{"ManagerCreatesMetricRule", "manager@acme.example", "POST", "/organizations/acme/alerts/new/metric/", newMetric, http.StatusSeeOther},
		{"OtherOrgList", stranger.Email, "GET", "/organizations/acme/alerts/rules/", nil, http.StatusNotFound},
		{"OtherOrgIssueForm", stranger.Email, "GET", issueEdit, nil, http.StatusNotFound},
		{"OtherOrgDeletesIssueRule", stranger.Email, "POST", issueEdit, url.Values{"action": {"delete"}}, http.StatusNotFound},
		{"OtherOrgDeletesMetricRule", stranger.Email, "POST", metricEdit, url.Values{"action": {"delete"}}, http.StatusNotFound},
		{"OtherOrgCreatesMetricRule", stranger.Email, "POST", "/organizations/acme/alerts/new/metric/", newMetric, http.StatusNotFound},
		{"OtherOrgIncident", stranger.Email, "GET", "/organizations/acme/alerts/1/", nil, http.StatusNotFound},
		{"OwnerPostsToDetails", e.User.Email, "POST", issueEdit + "details/", url.Values{}, http.StatusMethodNotAllowed},
		{"OwnerUnknownRule", e.User.Email, "GET", "/organizations/acme/alerts/rules/web/999/", nil, http.StatusNotFound},
		{"OwnerUnknownProjectFilter", e.User.Email, "GET", "/organizations/acme/alerts/rules/?project=nope", nil, http.StatusNotFound},
		{"OwnerUnknownIncident", e.User.Email, "GET", "/organizations/acme/alerts/42/", nil, http.StatusNotFound},
	}
	browsers := map[string]*browser{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := browsers[tt.email]
			if b == nil {
				b = e.signIn(t, tt.email)
				browsers[tt.email] = b
			}
			var res *page
			if tt.method == "GET" {
				res = b.get(tt.path)
			} else {
				res = b.post(tt.path, maps.Clone(tt.form))
			}
			if res.Status != tt.want {
				t.Fatalf("%s %s as %s: status %d, want %d:\n%s", tt.method, tt.path, tt.email, res.Status, tt.want, res.Body)
			}
			if res.Status == http.StatusNotFound && strings.Contains(res.Body, "New errors") {
				t.Fatal("the 404 page shows the rule")
			}
		})
	}
	// Nothing the refused posts asked for happened.
	if _, err := e.Store.FindRuleByID(ctx, e.Project.ID, issueRule.ID); err != nil {
		t.Fatalf("issue rule: %v", err)
	}
	if _, err := e.Store.FindMetricAlertByID(ctx, e.Org.ID, metricRule.ID); err != nil {
		t.Fatalf("metric rule: %v", err)
	}
	rules, err := e.Store.FindMetricAlerts(ctx, e.Org.ID)
	if err != nil || len(rules) != 4 {
		t.Fatalf("metric rules = %d, %v; want the fixture's, the member's, the admin's and the manager's", len(rules), err)
	}
}

// TestAlertFormCSRF posts the forms without the session's CSRF token.
func TestAlertFormCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rule := e.Rule(t, "New errors", 30, []herald.RuleItem{{"id": storetest.FirstSeenCondition}}, nil)
	b := e.signIn(t, e.User.Email)
	edit := "/organizations/acme/alerts/rules/web/" + strconv.FormatInt(rule.ID, 10) + "/"
	tests := []struct {
		name  string
		path  string
		token []string
	}{
		{"CreateWithoutToken", "/organizations/acme/alerts/new/issue/", nil},
		{"CreateWithWrongToken", "/organizations/acme/alerts/new/issue/", []string{"forged"}},
		{"DeleteWithoutToken", edit, nil},
		{"MetricWithoutToken", "/organizations/acme/alerts/new/metric/", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"name": {"Forged"}, "project": {"web"}, "projects": {"web"}, "first_seen": {"on"},
				"notify_event": {"on"}, "action": {"delete"}, "aggregate": {"count()"}, "timeWindow": {"10"},
				"thresholdType": {"0"}, "critical": {"1"}, "csrf_token": tt.token}
			if tt.path != edit {
				form.Del("action")
			}
			if tt.token == nil {
				form["csrf_token"] = []string{""}
			}
			if res := b.post(tt.path, form); res.Status != http.StatusForbidden {
				t.Fatalf("status %d, want 403", res.Status)
			}
		})
	}
	ctx := context.Background()
	if rules, err := e.Store.FindRules(ctx, e.Project.ID); err != nil || len(rules) != 1 || rules[0].Name != "New errors" {
		t.Fatalf("rules after forged posts: %v, %v", rules, err)
	}
	if rules, err := e.Store.FindMetricAlerts(ctx, e.Org.ID); err != nil || len(rules) != 0 {
		t.Fatalf("metric rules after forged posts: %d, %v", len(rules), err)
	}
}

// metricAlertLinks returns the web_url of every metric_alert.* delivery
// to the installation, oldest first.
func metricAlertLinks(t *testing.T, e *env, inst *herald.Installation) []string {
	t.Helper()
	var out []string
	for _, d := range e.DeliveriesTo(t, herald.DestinationApp, inst.UUID) {
		if !strings.HasPrefix(d.Event, "metric_alert.") {
			continue
		}
		var body struct {
			Data struct {
				WebURL string `json:"web_url"`
			} `json:"data"`
		}
		if err := json.Unmarshal(d.Body, &body); err != nil {
			t.Fatal(err)
		}
		out = append(out, body.Data.WebURL)
	}
	return out
}

// TestIncidentPages opens an incident and follows the links of its
// metric_alert payloads to the rule's page, then shows the incident's
// status history once it resolved.
func TestIncidentPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	app, inst := alertApp(t, e, "pager")
	e.Clock.Add(30 * time.Second)
	rule := e.MetricRule(t, &herald.MetricAlertRule{Name: "Spike", Query: "level:error"}, app, 4, 2)
	other := e.MetricRule(t, &herald.MetricAlertRule{Name: "Other", Query: "level:fatal"}, nil, 100, 0)
	b := e.signIn(t, e.User.Email)
	details := "/organizations/acme/alerts/rules/details/" + strconv.FormatInt(rule.ID, 10) + "/"

	// Five errors in the window: past the critical threshold.
	var events []*herald.Event
	for range 5 {
		events = append(events, e.Event("spike"))
	}
	if err := e.Changes.SaveEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	// An evaluation counts the window before its own second.
	e.Clock.Add(time.Second)
	if err := e.Changes.EvaluateMetricAlerts(ctx, e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	incidents, err := e.Store.FindIncidents(ctx, e.Org.ID, rule.ID)
	if err != nil || len(incidents) != 1 {
		t.Fatalf("incidents = %v, %v", incidents, err)
	}
	in := incidents[0]
	ident := strconv.FormatInt(in.Identifier, 10)

	// The link of the metric_alert payload answers with the rule's page,
	// the incident first and marked.
	links := metricAlertLinks(t, e, inst)
	if len(links) == 0 {
		t.Fatal("no metric_alert delivery")
	}
	for _, link := range links {
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		if want := details + "?alert=" + ident; u.RequestURI() != want {
			t.Fatalf("payload links to %s, want %s", u.RequestURI(), want)
		}
		res := b.get(u.RequestURI())
		if res.Status != http.StatusOK {
			t.Fatalf("GET %s: status %d", u.RequestURI(), res.Status)
		}
		res.mustContain(t, "Spike", `id="current-incident"`, "Incident <a href=\"/organizations/acme/alerts/"+ident+"/\">#"+ident+"</a>",
			`class="current" aria-current="true"`, "Critical", "Opened", in.Title)
	}
	// Without ?alert= nothing is marked; an unknown one says so.
	if res := b.get(details); strings.Contains(res.Body, `aria-current="true"`) || !strings.Contains(res.Body, "#"+ident) {
		t.Fatalf("details without ?alert=:\n%s", res.Body)
	}
	b.get(details+"?alert=999").mustContain(t, "Incident 999 is not an incident of this rule")
	// Another rule's page does not claim the incident.
	if res := b.get("/organizations/acme/alerts/rules/details/" + strconv.FormatInt(other.ID, 10) + "/?alert=" + ident); strings.Contains(res.Body, `aria-current="true"`) {
		t.Fatal("another rule's page marks the incident")
	}

	// The window empties: the incident resolves, and its page shows the
	// whole history.
	e.Clock.Add(20 * time.Minute)
	if err := e.Changes.EvaluateMetricAlerts(ctx, e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	res := b.get("/organizations/acme/alerts/" + ident + "/")
	if res.Status != http.StatusOK {
		t.Fatalf("incident page: status %d", res.Status)
	}
	res.mustContain(t, "Incident #"+ident, "Spike", "?alert="+ident, "Status history")
	history := res.Body[strings.Index(res.Body, "Status history"):]
	var order []int
	for _, s := range []string{">Opened<", ">Critical<", ">Resolved<"} {
		i := strings.Index(history, s)
		if i < 0 {
			t.Fatalf("history lacks %s:\n%s", s, history)
		}
		order = append(order, i)
	}
	if order[0] > order[1] || order[1] > order[2] {
		t.Fatalf("history out of order: %v", order)
	}
	// Every link of the later payloads answers too.
	for _, link := range metricAlertLinks(t, e, inst) {
		u, _ := url.Parse(link)
		if res := b.get(u.RequestURI()); res.Status != http.StatusOK {
			t.Fatalf("GET %s: status %d", u.RequestURI(), res.Status)
		}
	}
	// The list shows the rule's status and when it last fired.
	b.get("/organizations/acme/alerts/rules/").mustContain(t, "Spike", "Resolved", "/organizations/acme/alerts/"+ident+"/")
}

// TestIssueAlertPayloadLinks follows the links to Herald's pages that an
// issue alert rule's payloads carry: the url of event.alert (Service
// Hooks) and the web_url of event_alert.triggered (Sentry Apps).
func TestIssueAlertPayloadLinks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	_, inst := alertApp(t, e, "pager")
	hook := e.Hook(t, "https://hooks.example/alerts", herald.HookEventAlert)
	e.Rule(t, "New errors", 30, []herald.RuleItem{{"id": storetest.FirstSeenCondition}}, nil,
		herald.RuleItem{"id": storetest.NotifyAction}, herald.RuleItem{"id": storetest.AppAction, "sentryAppInstallationUuid": inst.UUID})
	if err := e.Changes.SaveEvents(ctx, []*herald.Event{e.Event("boom")}); err != nil {
		t.Fatal(err)
	}
	var links []string
	for _, d := range e.DeliveriesTo(t, herald.DestinationHook, hook.ID) {
		var body struct {
			URL string `json:"url"`
		}
		if err := json.Unmarshal(d.Body, &body); err != nil {
			t.Fatal(err)
		}
		links = append(links, body.URL)
	}
	for _, d := range e.DeliveriesTo(t, herald.DestinationApp, inst.UUID) {
		if d.Event != "event_alert.triggered" {
			continue
		}
		var body struct {
			Data struct {
				Event struct {
					WebURL string `json:"web_url"`
				} `json:"event"`
			} `json:"data"`
		}
		if err := json.Unmarshal(d.Body, &body); err != nil {
			t.Fatal(err)
		}
		links = append(links, body.Data.Event.WebURL)
	}
	if len(links) != 2 {
		t.Fatalf("links = %v, want event.alert's and event_alert.triggered's", links)
	}
	b := e.signIn(t, e.User.Email)
	for _, link := range links {
		u, err := url.Parse(link)
		if err != nil || !strings.HasPrefix(link, e.URL+"/organizations/acme/") {
			t.Fatalf("link %q is not a page of acme", link)
		}
		if res := b.get(u.RequestURI()); res.Status != http.StatusOK {
			t.Fatalf("GET %s: status %d", u.RequestURI(), res.Status)
		}
	}
}
