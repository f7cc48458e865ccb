package api_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/herald-dev/herald"
)

// hookBody is a hook as the API shows it.
type hookBody struct {
	ID             string   `json:"id"`
	DateCreated    string   `json:"dateCreated"`
	URL            string   `json:"url"`
	Events         []string `json:"events"`
	Secret         *string  `json:"secret"`
	Status         string   `json:"status"`
	DisabledReason *string  `json:"disabledReason"`
}

// TestServiceHookFlow follows the seed's curl example and what comes after
// it: the secret is shown on creation only.
func TestServiceHookFlow(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	const hooks = "/api/0/projects/acme/web/hooks/"

	var created hookBody
	res := ts.must(t, 201, "POST", hooks, `{
		"url": "https://example.com/sentry-hook",
		"events": ["event.created", "event.alert"]
	}`)
	res.JSON(t, &created)
	var raw map[string]any
	res.JSON(t, &raw)
	if len(raw) != 6 {
		t.Errorf("created hook has keys %v, want id, dateCreated, url, events, secret, status", raw)
	}
	switch {
	case !hex32.MatchString(created.ID):
		t.Errorf("id = %q, want 32 hex", created.ID)
	case created.Secret == nil || !hex64.MatchString(*created.Secret):
		t.Errorf("secret = %v, want 64 hex", created.Secret)
	case created.Status != "active":
		t.Errorf("status = %q", created.Status)
	case !slices.Equal(created.Events, []string{"event.alert", "event.created"}):
		t.Errorf("events = %v, want sorted", created.Events)
	case created.URL != "https://example.com/sentry-hook":
		t.Errorf("url = %q", created.URL)
	case !timeFormat.MatchString(created.DateCreated):
		t.Errorf("dateCreated = %q", created.DateCreated)
	}
	hook := hooks + created.ID + "/"

	t.Run("GetHidesSecret", func(t *testing.T) {
		for _, path := range []string{hook, hook[:len(hook)-1]} {
			var got hookBody
			ts.must(t, 200, "GET", path, nil).JSON(t, &got)
			if got.Secret != nil || got.ID != created.ID || got.DisabledReason != nil {
				t.Fatalf("GET %s = %+v", path, got)
			}
		}
	})
	t.Run("ListHidesSecret", func(t *testing.T) {
		var got []hookBody
		ts.must(t, 200, "GET", hooks, nil).JSON(t, &got)
		if len(got) != 1 || got[0].Secret != nil || got[0].ID != created.ID {
			t.Fatalf("list = %+v", got)
		}
	})
	t.Run("Update", func(t *testing.T) {
		var got hookBody
		ts.must(t, 200, "PUT", hook, `{"url":"https://example.com/v2","events":["event.created"]}`).JSON(t, &got)
		if got.URL != "https://example.com/v2" || !slices.Equal(got.Events, []string{"event.created"}) || got.Secret != nil {
			t.Fatalf("updated = %+v", got)
		}
	})
	t.Run("DisableAndEnable", func(t *testing.T) {
		var got hookBody
		ts.must(t, 200, "PUT", hook, `{"status":"disabled"}`).JSON(t, &got)
		if got.Status != "disabled" || got.DisabledReason == nil {
			t.Fatalf("disabled = %+v", got)
		}
		var enabled hookBody
		ts.must(t, 200, "PUT", hook, `{"status":"active"}`).JSON(t, &enabled)
		if enabled.Status != "active" || enabled.DisabledReason != nil {
			t.Fatalf("enabled = %+v", enabled)
		}
		ts.must(t, 200, "PUT", hook, `{"isActive":false}`).JSON(t, &got)
		if got.Status != "disabled" {
			t.Fatalf("isActive false = %+v", got)
		}
		ts.must(t, 200, "PUT", hook, `{"isActive":true}`).JSON(t, &got)
		if got.Status != "active" {
			t.Fatalf("isActive true = %+v", got)
		}
	})
	t.Run("RotateSecret", func(t *testing.T) {
		var got hookBody
		ts.must(t, 200, "POST", hook+"rotate-secret/", nil).JSON(t, &got)
		if got.Secret == nil || !hex64.MatchString(*got.Secret) || *got.Secret == *created.Secret {
			t.Fatalf("rotated = %+v", got)
		}
		var again hookBody
		ts.must(t, 200, "GET", hook, nil).JSON(t, &again)
		if again.Secret != nil {
			t.Fatal("GET shows the rotated secret")
		}
	})
	t.Run("Stats", func(t *testing.T) {
		var got []struct {
			TS    int64 `json:"ts"`
			Total int64 `json:"total"`
		}
		ts.must(t, 200, "GET", hook+"stats/", nil).JSON(t, &got)
		now := ts.Clock.Now().Unix()
		if len(got) != 24 || got[0].TS != now-24*3600 || got[23].TS != now-3600 {
			t.Fatalf("stats = %+v", got)
		}
		since := strconv.FormatInt(now-3600, 10)
		ts.must(t, 200, "GET", hook+"stats/?resolution=1m&since="+since+"&until="+strconv.FormatInt(now, 10), nil).JSON(t, &got)
		if len(got) != 60 {
			t.Fatalf("1m stats over an hour = %d buckets", len(got))
		}
	})
	t.Run("Delete", func(t *testing.T) {
		res := ts.must(t, 204, "DELETE", hook, nil)
		if len(res.Body) != 0 {
			t.Fatalf("delete body = %q", res.Body)
		}
		ts.must(t, 404, "GET", hook, nil)
	})
}

// deliveryBody is a delivery as the API shows it.
type deliveryBody struct {
	ID             string          `json:"id"`
	Event          string          `json:"event"`
	Status         string          `json:"status"`
	Attempts       int             `json:"attempts"`
	NextAttemptAt  *string         `json:"nextAttemptAt"`
	LastStatusCode *int            `json:"lastStatusCode"`
	LastError      *string         `json:"lastError"`
	DateCreated    string          `json:"dateCreated"`
	RequestID      string          `json:"requestId"`
	Payload        json.RawMessage `json:"payload"`
	AttemptsLog    []struct {
		Number     int     `json:"number"`
		URL        string  `json:"url"`
		StatusCode *int    `json:"statusCode"`
		DurationMs int64   `json:"durationMs"`
		Error      *string `json:"error"`
	} `json:"attemptsLog"`
}

func TestDeliveries(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	const hooks = "/api/0/projects/acme/web/hooks/"
	var h1, h2 hookBody
	ts.must(t, 201, "POST", hooks, `{"url":"https://example.com/one","events":["event.created"]}`).JSON(t, &h1)
	ts.must(t, 201, "POST", hooks, `{"url":"https://example.com/two","events":["event.created"]}`).JSON(t, &h2)

	ctx := context.Background()
	org, err := ts.Store.FindOrganizationBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ts.Store.FindProjectBySlug(ctx, org.ID, "web")
	if err != nil {
		t.Fatal(err)
	}
	now := ts.Clock.Now()
	ev := &herald.Event{ID: herald.NewID(), ProjectID: p.ID, Timestamp: now, Received: now, Level: "error",
		Platform: "go", Message: "boom", Title: "Error: boom", Culprit: "main in run", Type: "Error", Value: "boom",
		GroupHash: herald.NewID(), Data: []byte(`{"event_id":"x"}`)}
	if err := ts.Changes.SaveEvents(ctx, []*herald.Event{ev}); err != nil {
		t.Fatal(err)
	}

	deliveries := hooks + h1.ID + "/deliveries/"
	var list []deliveryBody
	ts.must(t, 200, "GET", deliveries, nil).JSON(t, &list)
	if len(list) != 1 {
		t.Fatalf("deliveries = %+v", list)
	}
	d := list[0]
	switch {
	case !hex32.MatchString(d.ID) || d.RequestID != d.ID:
		t.Errorf("id = %q, requestId = %q", d.ID, d.RequestID)
	case d.Event != "event.created" || d.Status != "pending" || d.Attempts != 0:
		t.Errorf("delivery = %+v", d)
	case d.Payload != nil || d.AttemptsLog != nil:
		t.Errorf("list shows payload or attempts: %+v", d)
	}
	var other []deliveryBody
	ts.must(t, 200, "GET", hooks+h2.ID+"/deliveries/", nil).JSON(t, &other)
	if len(other) != 1 {
		t.Fatalf("second hook's deliveries = %+v", other)
	}

	// The first attempt fails for good.
	err = ts.Store.CompleteDeliveries(ctx, []*herald.Outcome{{
		DeliveryID: d.ID,
		Attempt: &herald.Attempt{DeliveryID: d.ID, Number: 1, URL: "https://example.com/one", StatusCode: 500,
			Duration: 42 * time.Millisecond, ResponseBody: "oops", CreatedAt: now},
	}})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("Filter", func(t *testing.T) {
		var got []deliveryBody
		ts.must(t, 200, "GET", deliveries+"?status=failed", nil).JSON(t, &got)
		if len(got) != 1 || got[0].Status != "failed" || got[0].LastStatusCode == nil || *got[0].LastStatusCode != 500 {
			t.Fatalf("failed = %+v", got)
		}
		ts.must(t, 200, "GET", deliveries+"?status=pending", nil).JSON(t, &got)
		if len(got) != 0 {
			t.Fatalf("pending = %+v", got)
		}
	})
	t.Run("Get", func(t *testing.T) {
		var got deliveryBody
		ts.must(t, 200, "GET", deliveries+d.ID+"/", nil).JSON(t, &got)
		var payload map[string]any
		if err := json.Unmarshal(got.Payload, &payload); err != nil || payload["event"] == nil {
			t.Fatalf("payload = %s (%v)", got.Payload, err)
		}
		if len(got.AttemptsLog) != 1 || got.AttemptsLog[0].StatusCode == nil || *got.AttemptsLog[0].StatusCode != 500 ||
			got.AttemptsLog[0].DurationMs != 42 || got.AttemptsLog[0].Number != 1 {
			t.Fatalf("attemptsLog = %+v", got.AttemptsLog)
		}
		if got.NextAttemptAt != nil {
			t.Fatalf("failed delivery has nextAttemptAt %q", *got.NextAttemptAt)
		}
	})
	t.Run("ErrOtherHooksDelivery", func(t *testing.T) {
		res := ts.do(t, "GET", hooks+h2.ID+"/deliveries/"+d.ID+"/", superToken, nil)
		if res.Status != 404 {
			t.Fatalf("status = %d %s", res.Status, res.Body)
		}
		jsonEqual(t, res.Body, `{"detail":"The requested resource does not exist"}`)
		res = ts.do(t, "POST", hooks+h2.ID+"/deliveries/"+d.ID+"/redeliver/", superToken, nil)
		if res.Status != 404 {
			t.Fatalf("redeliver status = %d %s", res.Status, res.Body)
		}
	})
	t.Run("Recover", func(t *testing.T) {
		var got struct {
			Recovered int `json:"recovered"`
		}
		since := now.Add(-time.Hour).Format(time.RFC3339)
		ts.must(t, 200, "POST", deliveries+"recover/", map[string]string{"since": since}).JSON(t, &got)
		if got.Recovered != 1 {
			t.Fatalf("recovered = %d", got.Recovered)
		}
		var after deliveryBody
		ts.must(t, 200, "GET", deliveries+d.ID+"/", nil).JSON(t, &after)
		if after.Status != "pending" {
			t.Fatalf("recovered delivery = %+v", after)
		}
	})
	t.Run("Redeliver", func(t *testing.T) {
		var got deliveryBody
		ts.must(t, 202, "POST", deliveries+d.ID+"/redeliver/", nil).JSON(t, &got)
		if got.ID != d.ID || got.Status != "pending" {
			t.Fatalf("redelivered = %+v", got)
		}
	})
	t.Run("RecoverRequiresSince", func(t *testing.T) {
		res := ts.do(t, "POST", deliveries+"recover/", superToken, `{}`)
		if res.Status != 400 {
			t.Fatalf("status = %d", res.Status)
		}
		jsonEqual(t, res.Body, `{"since":["This field is required."]}`)
	})
}

// TestHookEventsOptional checks that events may be left out or empty, as
// Sentry's ServiceHookValidator allows, and that a hook subscribed to no
// event is sent nothing: no delivery of a stored event, and a test event
// is refused.
func TestHookEventsOptional(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	const hooks = "/api/0/projects/acme/web/hooks/"
	tests := []struct {
		name string
		body string
	}{
		{"Missing", `{"url":"https://example.com/missing"}`},
		{"Empty", `{"url":"https://example.com/empty","events":[]}`},
		{"Null", `{"url":"https://example.com/null","events":null}`},
	}
	var none []hookBody
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h hookBody
			res := ts.must(t, 201, "POST", hooks, tt.body)
			res.JSON(t, &h)
			jsonEqual(t, mustField(t, res.Body, "events"), `[]`)
			if h.Status != "active" || h.Secret == nil {
				t.Fatalf("hook = %+v", h)
			}
			none = append(none, h)
		})
	}
	var all hookBody
	ts.must(t, 201, "POST", hooks, `{"url":"https://example.com/all","events":["event.created","event.alert"]}`).JSON(t, &all)
	t.Run("UpdateToNone", func(t *testing.T) {
		var got hookBody
		ts.must(t, 200, "PUT", hooks+all.ID+"/", `{"events":[]}`).JSON(t, &got)
		if got.Events == nil || len(got.Events) != 0 {
			t.Fatalf("events = %v", got.Events)
		}
		ts.must(t, 200, "PUT", hooks+all.ID+"/", `{"events":["event.created"]}`).JSON(t, &got)
		if !slices.Equal(got.Events, []string{"event.created"}) {
			t.Fatalf("events = %v", got.Events)
		}
	})
	t.Run("SentNothing", func(t *testing.T) {
		ts.storeEvent(t, `{"event_id":"0a8c3fa3b1d64f8fa8e3fd4e5b9c2d71","message":"boom","level":"error","platform":"go"}`)
		for _, h := range none {
			var list []deliveryBody
			ts.must(t, 200, "GET", hooks+h.ID+"/deliveries/", nil).JSON(t, &list)
			if len(list) != 0 {
				t.Fatalf("hook %s without events got %d deliveries", h.URL, len(list))
			}
		}
		var list []deliveryBody
		ts.must(t, 200, "GET", hooks+all.ID+"/deliveries/", nil).JSON(t, &list)
		if len(list) != 1 || list[0].Event != "event.created" {
			t.Fatalf("hook subscribed to event.created got %+v", list)
		}
	})
	t.Run("ErrTestEvent", func(t *testing.T) {
		res := ts.do(t, "POST", hooks+none[0].ID+"/test/", superToken, nil)
		if res.Status != 400 {
			t.Fatalf("test event to a hook without events = %d %s", res.Status, res.Body)
		}
		jsonEqual(t, res.Body, `{"detail":"This hook subscribes to no event a test can be sent as."}`)
	})
}

// mustField returns the raw JSON of body's field name.
func mustField(t *testing.T, body []byte, name string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	v, ok := m[name]
	if !ok {
		t.Fatalf("no %q in %s", name, body)
	}
	return v
}

// TestHookStatusFilter checks GET .../hooks/?status=active|disabled, as
// Sentry filters the list.
func TestHookStatusFilter(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	const hooks = "/api/0/projects/acme/web/hooks/"
	var urls []string
	for i := range 3 {
		// Distinct creation times keep the list's order.
		ts.Clock.Add(time.Second)
		var h hookBody
		u := "https://example.com/" + strconv.Itoa(i)
		ts.must(t, 201, "POST", hooks, map[string]any{"url": u, "events": []string{"event.created"}}).JSON(t, &h)
		urls = append(urls, u)
		if i == 1 {
			ts.must(t, 200, "PUT", hooks+h.ID+"/", `{"isActive":false}`)
		}
	}
	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"All", "", urls},
		{"Empty", "?status=", urls},
		{"Active", "?status=active", []string{urls[0], urls[2]}},
		{"Disabled", "?status=disabled", []string{urls[1]}},
		{"ActivePaged", "?status=active&per_page=1", []string{urls[0]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var list []hookBody
			ts.must(t, 200, "GET", hooks+tt.query, nil).JSON(t, &list)
			var got []string
			for _, h := range list {
				got = append(got, h.URL)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("GET %s = %v, want %v", tt.query, got, tt.want)
			}
		})
	}
	t.Run("ErrUnknownStatus", func(t *testing.T) {
		res := ts.do(t, "GET", hooks+"?status=paused", superToken, nil)
		if res.Status != 400 {
			t.Fatalf("status = %d %s", res.Status, res.Body)
		}
		jsonEqual(t, res.Body, `{"status":["\"paused\" is not a valid choice."]}`)
	})
}

// TestHookFeatureGate checks which hook routes need the project's
// servicehooks feature: Sentry's list and create routes do, its details and
// stats routes do not (a project whose feature was turned off still sees,
// changes and removes its hooks), and Herald's own routes, which send or
// manage deliveries and secrets, do.
func TestHookFeatureGate(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	const hooks = "/api/0/projects/acme/web/hooks/"
	var h hookBody
	ts.must(t, 201, "POST", hooks, `{"url":"https://example.com/h","events":["event.created"]}`).JSON(t, &h)
	hook := hooks + h.ID + "/"
	ts.must(t, 200, "PUT", "/api/0/projects/acme/web/", map[string]any{"features": []string{}})
	const noFeature = `{"error_type":"unavailable_feature","detail":["You do not have that feature enabled"]}`
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
	}{
		{"ErrList", "GET", hooks, nil, 403},
		{"ErrListFiltered", "GET", hooks + "?status=paused", nil, 403},
		{"ErrCreate", "POST", hooks, `{"url":"https://example.com/x"}`, 403},
		{"ErrCreateInvalid", "POST", hooks, `{"url":"nope"}`, 403},
		{"Get", "GET", hook, nil, 200},
		{"Update", "PUT", hook, `{"url":"https://example.com/v2"}`, 200},
		{"Stats", "GET", hook + "stats/", nil, 200},
		{"ErrRotateSecret", "POST", hook + "rotate-secret/", nil, 403},
		{"ErrTest", "POST", hook + "test/", nil, 403},
		{"ErrDeliveries", "GET", hook + "deliveries/", nil, 403},
		{"ErrRecover", "POST", hook + "deliveries/recover/", `{"since":"2024-01-15T00:00:00Z"}`, 403},
		{"ErrUnknownHook", "GET", hooks + "0123456789abcdef0123456789abcdef/", nil, 404},
		{"Delete", "DELETE", hook, nil, 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ts.do(t, tt.method, tt.path, superToken, tt.body)
			if res.Status != tt.status {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, res.Status, res.Body, tt.status)
			}
			if tt.status == 403 {
				jsonEqual(t, res.Body, noFeature)
			}
		})
	}
}
