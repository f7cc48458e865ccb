package sentryhook_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald/sentryhook"
	"github.com/herald-dev/herald/sentryhook/sentryhooktest"
)

const installationUUID = "a8e5d37a-696c-4c54-aac1-4a51b40ce7d9"

// TestParseSamples parses a signed request of every event's sample and
// checks the delivery and the typed payload against the samples' story.
func TestParseSamples(t *testing.T) {
	t.Parallel()
	checks := map[string]func(t *testing.T, d *sentryhook.Delivery){
		"event.created":         checkServiceHook(nil),
		"event.alert":           checkServiceHook([]string{"New production errors"}),
		"issue.created":         checkIssue("unresolved", "new", 1),
		"issue.resolved":        checkIssue("resolved", "", 24),
		"issue.ignored":         checkIssue("ignored", "archived_until_escalating", 25),
		"issue.assigned":        checkIssue("unresolved", "new", 12),
		"issue.unresolved":      checkIssue("unresolved", "regressed", 25),
		"error.created":         checkError,
		"comment.created":       checkComment("Session token is gone before fetchUser runs."),
		"comment.updated":       checkComment(""),
		"comment.deleted":       checkComment("Session token is gone before fetchUser runs; fix in #482."),
		"installation.created":  checkInstallation("pending", "7c0f5e2a9b8d4c61a3e5f7092b4d6c8e"),
		"installation.deleted":  checkInstallation("installed", ""),
		"metric_alert.open":     checkMetricAlert(sentryhook.IncidentOpen, "Open: Web error spike", ""),
		"metric_alert.warning":  checkMetricAlert(sentryhook.IncidentWarning, "Warning: Web error spike", ""),
		"metric_alert.critical": checkMetricAlert(sentryhook.IncidentCritical, "Critical: Web error spike", ""),
		"metric_alert.resolved": checkMetricAlert(sentryhook.IncidentClosed, "Resolved: Web error spike", "2024-01-15T12:40:00.000000Z"),
		"event_alert.triggered": checkEventAlert,
	}
	for _, event := range sentryhooktest.Events() {
		t.Run(event, func(t *testing.T) {
			t.Parallel()
			check, ok := checks[event]
			if !ok {
				t.Fatalf("no check for %s", event)
			}
			body := sentryhooktest.MustPayload(event)
			req := sentryhooktest.NewRequest("http://127.0.0.1/hook", event, secret, body)
			if err := sentryhook.VerifyHeader(req.Header, body, secret); err != nil {
				t.Fatalf("verify: %v", err)
			}
			d, err := sentryhook.Parse(req.Header, body)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if d.Event() != event {
				t.Fatalf("Event() = %q, want %q", d.Event(), event)
			}
			if d.RequestID != req.Header.Get("Request-ID") || d.RequestID == "" {
				t.Fatalf("RequestID = %q", d.RequestID)
			}
			if d.Timestamp.IsZero() || time.Since(d.Timestamp) > time.Minute {
				t.Fatalf("Timestamp = %v", d.Timestamp)
			}
			if string(d.Body) != string(body) {
				t.Fatal("Body differs from the body received")
			}
			if sentryhooktest.ServiceHook(event) {
				if d.Kind != sentryhook.KindServiceHook || d.HookID == "" || string(d.Data) != string(body) {
					t.Fatalf("delivery = %+v", d)
				}
			} else {
				if d.Kind != sentryhook.KindSentryApp || d.Installation.UUID != installationUUID || d.Actor.Type == "" {
					t.Fatalf("delivery = %+v", d)
				}
				var env struct{ Data json.RawMessage }
				_ = json.Unmarshal(body, &env)
				if string(d.Data) != string(env.Data) {
					t.Fatalf("Data = %s", d.Data)
				}
			}
			check(t, d)

			// Without headers, the body alone tells the kind and resource.
			bare, err := sentryhook.Parse(nil, body)
			if err != nil {
				t.Fatalf("Parse without headers: %v", err)
			}
			if bare.Event() != event || bare.Kind != d.Kind {
				t.Fatalf("without headers: Event() = %q, Kind %q", bare.Event(), bare.Kind)
			}
		})
	}
}

func checkServiceHook(rules []string) func(*testing.T, *sentryhook.Delivery) {
	return func(t *testing.T, d *sentryhook.Delivery) {
		t.Helper()
		p, ok := d.Payload.(*sentryhook.ServiceHookPayload)
		if !ok {
			t.Fatalf("Payload is %T", d.Payload)
		}
		if p.ID != "1170" || p.Project != "web" || p.ProjectName != "Web" || p.Culprit != "app/utils/api in fetchUser" ||
			p.URL != "https://herald.example.com/organizations/acme/issues/1170/" || !strings.HasPrefix(p.Message, "TypeError") ||
			len(p.TriggeringRules) != len(rules) || p.Event.EventID != "9fac2ceed9344f2bbfdd1fdacb0ed9b1" ||
			p.Event.Level != "error" || p.Event.Platform != "javascript" || p.Event.Datetime != "2024-01-15T12:00:00.000000Z" {
			t.Fatalf("payload = %+v", p)
		}
		if len(rules) > 0 && p.TriggeringRules[0] != rules[0] {
			t.Fatalf("triggering_rules = %v", p.TriggeringRules)
		}
		if v, ok := p.Event.Tags.Get("environment"); !ok || v != "production" || len(p.Event.Tags) != 11 {
			t.Fatalf("tags = %v", p.Event.Tags)
		}
		// The legacy webhooks plugin's keys, and the rest of the event.
		if p.ProjectSlug != "web" || p.Level != "error" || p.Logger != "" {
			t.Fatalf("project_slug %q, level %q, logger %q", p.ProjectSlug, p.Level, p.Logger)
		}
		e := p.Event
		if e.ID != e.EventID || !strings.HasPrefix(e.Title, "TypeError") || !strings.HasPrefix(e.Message, "TypeError") ||
			e.Environment != "production" || e.Release != "v1.2.3" || e.Type != "error" || e.Metadata.Type != "TypeError" ||
			len(e.User) == 0 || e.SDK == nil || e.SDK.Name != "sentry.javascript.browser" {
			t.Fatalf("event = %+v", e)
		}
		if e.Exception == nil || len(e.Exception.Values) != 1 || e.Exception.Values[0].Stacktrace == nil ||
			len(e.Exception.Values[0].Stacktrace.Frames) != 2 {
			t.Fatalf("exception = %+v", e.Exception)
		}
		var raw map[string]any
		if err := json.Unmarshal(e.Raw, &raw); err != nil || raw["fingerprint"] == nil {
			t.Fatalf("Raw lacks the fields not typed: %v", err)
		}
		if d.DedupeKey() != "request:"+d.RequestID {
			t.Fatalf("DedupeKey = %q", d.DedupeKey())
		}
	}
}

func checkIssue(status, substatus string, count int64) func(*testing.T, *sentryhook.Delivery) {
	return func(t *testing.T, d *sentryhook.Delivery) {
		t.Helper()
		p, ok := d.Payload.(*sentryhook.IssuePayload)
		if !ok {
			t.Fatalf("Payload is %T", d.Payload)
		}
		is := p.Issue
		if is.ID != "1170" || is.ShortID != "WEB-1" || is.Status != status || is.Substatus != substatus || is.Count != count ||
			is.Project != (sentryhook.IssueProject{ID: "2", Name: "Web", Slug: "web", Platform: "javascript"}) || is.Level != "error" ||
			is.FirstSeen != "2024-01-15T12:00:00.000000Z" || is.WebURL != "https://herald.example.com/organizations/acme/issues/1170/" ||
			is.Metadata.Type != "TypeError" || is.UserCount == 0 || is.IssueType != "error" || is.IssueCategory != "error" ||
			is.Priority != "high" || is.PriorityLockedAt != "" || !is.IsUnhandled {
			t.Fatalf("issue = %+v", is)
		}
		switch d.Action {
		case "created":
			if d.Actor != (sentryhook.Actor{Type: "application", ID: "sentry", Name: "Sentry"}) || is.AssignedTo != nil {
				t.Fatalf("actor %+v, assignedTo %+v", d.Actor, is.AssignedTo)
			}
		case "resolved":
			if p.ResolutionType != "now" {
				t.Fatalf("resolution_type = %q", p.ResolutionType)
			}
		case "assigned":
			want := sentryhook.Assignee{Type: "user", ID: 1, Name: "Jane Doe", Email: "jane@acme.example"}
			if p.Assignee == nil || *p.Assignee != want || is.AssignedTo == nil || is.AssignedTo.ID != "1" {
				t.Fatalf("assignee = %+v, assignedTo %+v", p.Assignee, is.AssignedTo)
			}
			if d.Actor != (sentryhook.Actor{Type: "user", ID: "1", Name: "Jane Doe"}) {
				t.Fatalf("actor = %+v", d.Actor)
			}
		}
	}
}

func checkError(t *testing.T, d *sentryhook.Delivery) {
	t.Helper()
	p, ok := d.Payload.(*sentryhook.ErrorPayload)
	if !ok {
		t.Fatalf("Payload is %T", d.Payload)
	}
	checkEvent(t, &p.Error)
}

func checkEvent(t *testing.T, e *sentryhook.Event) {
	t.Helper()
	if e.EventID != "9fac2ceed9344f2bbfdd1fdacb0ed9b1" || e.Project != 2 || e.IssueID != "1170" || e.Release != "v1.2.3" ||
		e.Environment != "production" || e.Level != "error" || e.Timestamp != 1705320000 ||
		e.WebURL != "https://herald.example.com/organizations/acme/issues/1170/events/9fac2ceed9344f2bbfdd1fdacb0ed9b1/" ||
		e.SDK == nil || e.SDK.Name != "sentry.javascript.browser" || len(e.Raw) == 0 {
		t.Fatalf("event = %+v", e)
	}
	if e.Exception == nil || len(e.Exception.Values) != 1 || e.Exception.Values[0].Stacktrace == nil {
		t.Fatalf("exception = %+v", e.Exception)
	}
	frames := e.Exception.Values[0].Stacktrace.Frames
	if len(frames) != 2 || frames[1].Function != "fetchUser" || frames[1].Lineno != 14 || !frames[1].InApp {
		t.Fatalf("frames = %+v", frames)
	}
	var raw map[string]any
	if err := json.Unmarshal(e.Raw, &raw); err != nil || raw["_ref"] == nil {
		t.Fatalf("Raw lacks the fields not typed: %v", err)
	}
}

func checkComment(text string) func(*testing.T, *sentryhook.Delivery) {
	return func(t *testing.T, d *sentryhook.Delivery) {
		t.Helper()
		p, ok := d.Payload.(*sentryhook.CommentPayload)
		if !ok {
			t.Fatalf("Payload is %T", d.Payload)
		}
		if p.CommentID != 301 || p.IssueID != 1170 || p.ProjectSlug != "web" || p.Timestamp != "2024-01-15T12:05:00.000000Z" ||
			p.Comment == "" || (text != "" && p.Comment != text) {
			t.Fatalf("payload = %+v", p)
		}
	}
}

func checkInstallation(status, code string) func(*testing.T, *sentryhook.Delivery) {
	return func(t *testing.T, d *sentryhook.Delivery) {
		t.Helper()
		p, ok := d.Payload.(*sentryhook.InstallationPayload)
		if !ok {
			t.Fatalf("Payload is %T", d.Payload)
		}
		in := p.Installation
		if in.UUID != installationUUID || in.Status != status || in.Code != code ||
			in.Organization != (sentryhook.InstallationOrganization{Slug: "acme", ID: 1}) ||
			in.App != (sentryhook.InstallationApp{UUID: "6f1a9c3e-2b7d-4e58-9a0c-3d5b8e7f1a24", Slug: "acme-pager"}) {
			t.Fatalf("installation = %+v", in)
		}
	}
}

func checkMetricAlert(status int, title, closed string) func(*testing.T, *sentryhook.Delivery) {
	return func(t *testing.T, d *sentryhook.Delivery) {
		t.Helper()
		p, ok := d.Payload.(*sentryhook.MetricAlertPayload)
		if !ok {
			t.Fatalf("Payload is %T", d.Payload)
		}
		in := p.MetricAlert
		if in.ID != "42" || in.Identifier != "3" || in.Status != status || in.DateClosed != closed || p.DescriptionTitle != title ||
			p.WebURL != "https://herald.example.com/organizations/acme/alerts/rules/details/7/?alert=3" || in.Activities != nil {
			t.Fatalf("payload = %+v", p)
		}
		r := in.AlertRule
		if r.ID != "7" || r.Name != "Web error spike" || r.Aggregate != "count()" || r.Query != "level:error" || r.TimeWindow != 10 ||
			len(r.Triggers) != 2 || r.Triggers[0].Label != "critical" || r.Triggers[0].AlertThreshold != 100 ||
			r.Triggers[1].AlertThreshold != 50 || r.CreatedBy == nil || r.CreatedBy.ID != 1 {
			t.Fatalf("alert rule = %+v", r)
		}
		if r.QueryType != 0 || r.DetectionType != "static" || r.Owner != "" || r.Description != "" || r.ComparisonDelta != nil ||
			string(r.OriginalAlertRuleID) != "null" || len(r.EventTypes) != 2 || r.EventTypes[0] != "default" || r.EventTypes[1] != "error" {
			t.Fatalf("alert rule = %+v", r)
		}
		for _, tr := range r.Triggers {
			a := tr.Actions[0]
			if a.SentryAppID == nil || *a.SentryAppID != 12 || string(a.TargetIdentifier) != "12" || a.Settings[0].Value != "#web-alerts" ||
				a.SentryAppInstallationUUID != installationUUID || a.Priority != "" {
				t.Fatalf("action = %+v", a)
			}
		}
	}
}

func checkEventAlert(t *testing.T, d *sentryhook.Delivery) {
	t.Helper()
	p, ok := d.Payload.(*sentryhook.EventAlertPayload)
	if !ok {
		t.Fatalf("Payload is %T", d.Payload)
	}
	if p.TriggeredRule != "New production errors" || p.IssueAlert == nil || p.IssueAlert.Title != "New production errors" ||
		p.IssueAlert.ID != 31 || p.IssueAlert.SentryAppID != 12 || len(p.IssueAlert.Settings) != 1 || p.IssueAlert.Settings[0].Value != "#web-alerts" {
		t.Fatalf("payload = %+v, issue_alert %+v", p, p.IssueAlert)
	}
	checkEvent(t, &p.Event)
}

func TestParse(t *testing.T) {
	t.Parallel()
	app := func(resource string) http.Header {
		h := http.Header{}
		if resource != "" {
			h.Set(sentryhook.HeaderResource, resource)
		}
		h.Set(sentryhook.HeaderSignature, "x")
		return h
	}
	hook := http.Header{"X-Servicehook-Signature": {"x"}, "X-Servicehook-Timestamp": {"oops"}}
	const hookBody = `{"id":"1","triggering_rules":[],"event":{"event_id":"abc"}}`
	tests := []struct {
		name    string
		header  http.Header
		body    string
		want    string // Event()
		wantErr string
		check   func(t *testing.T, d *sentryhook.Delivery)
	}{
		{name: "ServiceHookCreated", header: hook, body: hookBody, want: "event.created", check: func(t *testing.T, d *sentryhook.Delivery) {
			if !d.Timestamp.IsZero() {
				t.Fatalf("Timestamp = %v from a bad header", d.Timestamp)
			}
		}},
		{name: "ServiceHookAlert", header: hook, body: `{"triggering_rules":["r"],"event":{"event_id":"abc"}}`, want: "event.alert"},
		{name: "UnknownResource", header: app("widget"), body: `{"action":"spun","data":{"widget":{"id":1}},"actor":{"type":"user","id":7,"name":"X"}}`, want: "widget.spun",
			check: func(t *testing.T, d *sentryhook.Delivery) {
				if d.Payload != nil || string(d.Data) != `{"widget":{"id":1}}` || d.Actor.ID != "7" {
					t.Fatalf("delivery = %+v", d)
				}
			}},
		{name: "ResourceFromData", header: app(""), body: `{"action":"created","data":{"comment_id":1,"issue_id":2}}`, want: "comment.created"},
		{name: "CountAsString", header: app("issue"), body: `{"action":"created","data":{"issue":{"id":"1","count":"17","substatus":null}}}`, want: "issue.created",
			check: func(t *testing.T, d *sentryhook.Delivery) {
				if c := d.Payload.(*sentryhook.IssuePayload).Issue.Count; c != 17 {
					t.Fatalf("count = %d", c)
				}
			}},
		{name: "ActorWithoutID", header: app("issue"), body: `{"action":"created","data":{"issue":{}},"actor":{"type":"user","name":"X"}}`, want: "issue.created"},
		{name: "LeadingWhitespace", header: hook, body: " \n" + hookBody, want: "event.created"},
		{name: "ErrEmpty", header: hook, body: "", wantErr: "body is not a JSON object"},
		{name: "ErrArray", header: hook, body: `[1,2]`, wantErr: "body is not a JSON object"},
		{name: "ErrNull", header: hook, body: `null`, wantErr: "body is not a JSON object"},
		{name: "ErrSyntax", header: hook, body: `{"id":`, wantErr: "body: unexpected end of JSON input"},
		{name: "NoEventID", header: hook, body: `{"id":"1","event":{}}`, want: "event.created", check: func(t *testing.T, d *sentryhook.Delivery) {
			if !strings.HasPrefix(d.DedupeKey(), "body:") {
				t.Fatalf("DedupeKey = %q", d.DedupeKey())
			}
		}},
		{name: "SentryServiceHookShape", header: hook,
			body: `{"project":{"slug":"web","name":"Web"},"group":{"id":"1170","count":"3"},"event":{"id":"9fac2ceed9344f2bbfdd1fdacb0ed9b1","eventID":"9fac2ceed9344f2bbfdd1fdacb0ed9b1","tags":[{"key":"level","value":"error"}]}}`,
			want: "event.created", check: func(t *testing.T, d *sentryhook.Delivery) {
				p := d.Payload.(*sentryhook.ServiceHookPayload)
				if v, _ := p.Event.Tags.Get("level"); p.Project != "web" || p.ProjectName != "Web" || p.Event.EventID != "9fac2ceed9344f2bbfdd1fdacb0ed9b1" || v != "error" {
					t.Fatalf("payload = %+v", p)
				}
			}},
		{name: "ErrProjectNumber", header: hook, body: `{"project":5,"event":{}}`, wantErr: `service hook body: "project" is neither a slug nor`},
		{name: "ErrEventNotObject", header: hook, body: `{"event":"abc"}`, wantErr: `"event" is a JSON string`},
		{name: "ErrNoAction", header: app("issue"), body: `{"data":{"issue":{}}}`, wantErr: `envelope has no "action"`},
		{name: "ErrActionNotString", header: app("issue"), body: `{"action":1,"data":{}}`, wantErr: `"action" is a JSON number, want string`},
		{name: "ErrNoData", header: app("issue"), body: `{"action":"created"}`, wantErr: `envelope has no "data"`},
		{name: "ErrDataNotObject", header: app("issue"), body: `{"action":"created","data":[1]}`, wantErr: `"data" is not an object`},
		{name: "ErrUnknownData", header: app(""), body: `{"action":"created","data":{"x":1}}`, wantErr: "no Sentry-Hook-Resource header"},
		{name: "ErrCountNotNumber", header: app("issue"), body: `{"action":"created","data":{"issue":{"count":"many"}}}`, wantErr: `"many" is not an integer`},
		{name: "CommentIDsAsStrings", header: app("comment"), body: `{"action":"created","data":{"comment_id":"301","issue_id":"1170"}}`, want: "comment.created",
			check: func(t *testing.T, d *sentryhook.Delivery) {
				if p := d.Payload.(*sentryhook.CommentPayload); p.CommentID != 301 || p.IssueID != 1170 {
					t.Fatalf("payload = %+v", p)
				}
			}},
		{name: "TagForms", header: hook, body: `{"triggering_rules":[],"event":{"event_id":"a","tags":[["a","1"],{"key":"b","value":"2"},["c",null],["d"],null]}}`, want: "event.created",
			check: func(t *testing.T, d *sentryhook.Delivery) {
				tags := d.Payload.(*sentryhook.ServiceHookPayload).Event.Tags
				want := sentryhook.Tags{{"a", "1"}, {"b", "2"}, {"c", ""}, {"d", ""}, {"", ""}}
				if len(tags) != len(want) {
					t.Fatalf("tags = %v", tags)
				}
				for i := range want {
					if tags[i] != want[i] {
						t.Fatalf("tags = %v, want %v", tags, want)
					}
				}
			}},
		{name: "ErrWrongType", header: app("comment"), body: `{"action":"created","data":{"comment":5}}`, wantErr: `comment data: "comment" is a JSON number, want string`},
		{name: "ErrNestedType", header: app("issue"), body: `{"action":"created","data":{"issue":{"title":5}}}`, wantErr: `issue data: "issue.title" is a JSON number, want string`},
		{name: "ErrCommentID", header: app("comment"), body: `{"action":"created","data":{"comment_id":"x"}}`, wantErr: `comment data: comment_id: "x" is not an integer`},
		{name: "ErrTagNotPair", header: hook, body: `{"event":{"event_id":"a","tags":[7]}}`, wantErr: `tag 0`},
		{name: "ErrActorIDObject", header: app("issue"), body: `{"action":"created","data":{},"actor":{"id":{}}}`, wantErr: "actor id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := sentryhook.Parse(tt.header, []byte(tt.body))
			if tt.wantErr != "" {
				if !errors.Is(err, sentryhook.ErrInvalidPayload) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if d.Event() != tt.want {
				t.Fatalf("Event() = %q, want %q", d.Event(), tt.want)
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

func TestDedupeKey(t *testing.T) {
	t.Parallel()
	const hookBody = `{"triggering_rules":[],"event":{"event_id":"abc"}}`
	tests := []struct {
		name   string
		header http.Header
		body   string
		want   string
	}{
		{name: "RequestID", header: http.Header{"Request-Id": {"r1"}}, body: hookBody, want: "request:r1"},
		{name: "ServiceHookEventID", body: hookBody, want: "event:abc:event.created"},
		{name: "ServiceHookAlertEventID", body: `{"triggering_rules":["r"],"event":{"event_id":"abc"}}`, want: "event:abc:event.alert"},
		{name: "BodyHash", body: `{"action":"created","data":{"comment_id":1}}`, want: "body:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := sentryhook.Parse(tt.header, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			got := d.DedupeKey()
			if tt.want == "body:" {
				if !strings.HasPrefix(got, "body:") || len(got) != len("body:")+64 {
					t.Fatalf("DedupeKey = %q", got)
				}
				again, _ := sentryhook.Parse(nil, []byte(tt.body))
				other, _ := sentryhook.Parse(nil, []byte(tt.body+" "))
				if again.DedupeKey() != got || other.DedupeKey() == got {
					t.Fatal("body key is not a function of the body")
				}
				return
			}
			if got != tt.want {
				t.Fatalf("DedupeKey = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	want := time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{
		"2024-01-15T12:00:00.000000Z",
		"2024-01-15T12:00:00Z",
		"2024-01-15T12:00:00+00:00",
		"2024-01-15T13:00:00.000000+01:00",
		"2024-01-15T12:00:00.000000",
		"2024-01-15 12:00:00",
	} {
		t.Run(s, func(t *testing.T) {
			t.Parallel()
			got, err := sentryhook.ParseTime(s)
			if err != nil || !got.Equal(want) || got.Location() != time.UTC {
				t.Fatalf("ParseTime = %v, %v", got, err)
			}
		})
	}
	t.Run("Err", func(t *testing.T) {
		t.Parallel()
		if _, err := sentryhook.ParseTime("yesterday"); err == nil {
			t.Fatal("no error")
		}
	})
}
