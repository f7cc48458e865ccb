package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/sqlstore"
)

// TestAppWebhookHeaders checks Herald's webhookHeaders of a Sentry App: set
// on creation and update (cleaned), validated with field errors, shown to
// the owners only, their values to those who may change the app.
func TestAppWebhookHeaders(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	const apps = "/api/0/sentry-apps/"
	res := ts.must(t, 201, "POST", apps, map[string]any{
		"name": "Pager", "organization": "acme", "author": "Acme", "webhookUrl": "https://pager.example/hook",
		"webhookHeaders": []map[string]string{{"key": "x-api-key", "value": " k-123 "}, {"key": "Authorization", "value": "Bearer t"}},
	})
	jsonEqual(t, mustField(t, res.Body, "webhookHeaders"), `[{"key":"X-Api-Key","value":"k-123"},{"key":"Authorization","value":"Bearer t"}]`)
	const app = apps + "pager/"

	t.Run("Get", func(t *testing.T) {
		res := ts.must(t, 200, "GET", app, nil)
		jsonEqual(t, mustField(t, res.Body, "webhookHeaders"), `[{"key":"X-Api-Key","value":"k-123"},{"key":"Authorization","value":"Bearer t"}]`)
	})
	t.Run("ValuesMaskedWithoutWrite", func(t *testing.T) {
		_, reader := ts.member(t, "reader@acme.example", "org:read")
		res := ts.do(t, "GET", app, reader, nil)
		if res.Status != 200 {
			t.Fatalf("status = %d %s", res.Status, res.Body)
		}
		jsonEqual(t, mustField(t, res.Body, "webhookHeaders"), `[{"key":"X-Api-Key","value":"********"},{"key":"Authorization","value":"********"}]`)
	})
	t.Run("HiddenFromOthers", func(t *testing.T) {
		ts.must(t, 200, "PUT", app, map[string]any{"status": "published"})
		_, outsider := ts.userToken(t, "outsider@other.example", "org:read")
		res := ts.do(t, "GET", app, outsider, nil)
		if res.Status != 200 {
			t.Fatalf("status = %d %s", res.Status, res.Body)
		}
		var m map[string]json.RawMessage
		res.JSON(t, &m)
		if _, ok := m["webhookHeaders"]; ok || strings.Contains(string(res.Body), "k-123") {
			t.Fatalf("a non-owner sees the headers: %s", res.Body)
		}
	})
	t.Run("UpdateKeepsReplacesClears", func(t *testing.T) {
		res := ts.must(t, 200, "PUT", app, map[string]any{"overview": "Pages people."})
		jsonEqual(t, mustField(t, res.Body, "webhookHeaders"), `[{"key":"X-Api-Key","value":"k-123"},{"key":"Authorization","value":"Bearer t"}]`)
		res = ts.must(t, 200, "PUT", app, `{"webhookHeaders":[{"key":"X-Tenant","value":"acme"}]}`)
		jsonEqual(t, mustField(t, res.Body, "webhookHeaders"), `[{"key":"X-Tenant","value":"acme"}]`)
		res = ts.must(t, 200, "PUT", app, `{"webhookHeaders":[]}`)
		jsonEqual(t, mustField(t, res.Body, "webhookHeaders"), `[]`)
	})

	tests := []struct {
		name string
		body string
		want string
	}{
		{"ErrHeraldHeader", `{"webhookHeaders":[{"key":"Sentry-Hook-Signature","value":"forged"}]}`,
			`{"webhookHeaders":["Sentry-Hook-Signature is set by Herald and cannot be changed."]}`},
		{"ErrHopByHop", `{"webhookHeaders":[{"key":"connection","value":"close"},{"key":"Proxy-Authorization","value":"x"}]}`,
			`{"webhookHeaders":["Connection is a hop-by-hop header and cannot be set.","Proxy-Authorization is a hop-by-hop header and cannot be set."]}`},
		{"ErrContentType", `{"webhookHeaders":[{"key":"Content-Type","value":"text/plain"}]}`,
			`{"webhookHeaders":["Content-Type is set by Herald and cannot be changed."]}`},
		{"ErrName", `{"webhookHeaders":[{"key":"X Bad","value":"v"}]}`, `{"webhookHeaders":["Invalid header name: \"X Bad\"."]}`},
		{"ErrValueInjection", `{"webhookHeaders":[{"key":"X-A","value":"v\r\nX-B: w"}]}`,
			`{"webhookHeaders":["X-A: the value must be text without control characters."]}`},
		{"ErrMissingValue", `{"webhookHeaders":[{"key":"X-A"}]}`, `{"webhookHeaders":["X-A: the value may not be blank."]}`},
		{"ErrDuplicate", `{"webhookHeaders":[{"key":"X-A","value":"1"},{"key":"x-a","value":"2"}]}`,
			`{"webhookHeaders":["X-A is given more than once."]}`},
		{"ErrTooMany", `{"webhookHeaders":[` + manyHeaders(herald.MaxWebhookHeaders+1) + `]}`,
			`{"webhookHeaders":["Ensure this field has no more than 20 elements."]}`},
		{"ErrNotList", `{"webhookHeaders":{"X-A":"1"}}`, `{"webhookHeaders":["Expected a list of items but got type \"object\"."]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ts.do(t, "PUT", app, superToken, tt.body)
			if res.Status != 400 {
				t.Fatalf("status = %d %s", res.Status, res.Body)
			}
			jsonEqual(t, res.Body, tt.want)
			if strings.Contains(string(res.Body), "forged") || strings.Contains(string(res.Body), "text/plain") {
				t.Fatalf("the answer shows a value: %s", res.Body)
			}
		})
	}
	t.Run("ErrCreate", func(t *testing.T) {
		res := ts.do(t, "POST", apps, superToken, map[string]any{
			"name": "Forger", "organization": "acme", "isInternal": true, "webhookUrl": "https://forger.example/hook",
			"webhookHeaders": []map[string]string{{"key": "Request-ID", "value": "x"}},
		})
		if res.Status != 400 {
			t.Fatalf("status = %d %s", res.Status, res.Body)
		}
		jsonEqual(t, res.Body, `{"webhookHeaders":["Request-ID is set by Herald and cannot be changed."]}`)
	})
}

// manyHeaders returns n distinct webhook headers as JSON list items.
func manyHeaders(n int) string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(`{"key":"X-H%d","value":"v"}`, i)
	}
	return strings.Join(items, ",")
}

// TestAppRequestErrorRef checks that the request log shows the
// Sentry-Hook-Error and Sentry-Hook-Project headers of a receiver's answer
// as Sentry's request serializer does: error_id and project_id on error
// entries, null unless both were sent, absent from successful entries.
func TestAppRequestErrorRef(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	app := ts.createApp(t, "Reporter", true, "issue", "error", "comment")
	ctx := context.Background()
	inst, err := ts.Store.FindInstallations(ctx, mustOrg(t, ts).ID)
	if err != nil || len(inst) != 1 {
		t.Fatalf("installations = %v, %v", inst, err)
	}
	// One delivery per case, attempted one second apart: the log is
	// newest first.
	cases := []struct {
		event   string
		attempt herald.Attempt
		want    string
	}{
		{"issue.created", herald.Attempt{StatusCode: 500, Error: "non-2xx status 500", ResponseBody: "boom",
			HookErrorID: "d5111da2c28645c5889d072017e3445d", HookProjectID: "1"},
			`"error_id":"d5111da2c28645c5889d072017e3445d","project_id":1`},
		{"error.created", herald.Attempt{StatusCode: 400, Error: "x", HookErrorID: "d5111da2c28645c5889d072017e3445d"},
			`"error_id":null,"project_id":null`},
		{"comment.created", herald.Attempt{StatusCode: 0, Error: "timeout after 5s", HookProjectID: "1"},
			`"error_id":null,"project_id":null`},
		{"issue.resolved", herald.Attempt{StatusCode: 502, Error: "x", HookErrorID: "abc", HookProjectID: "not-a-number"},
			`"error_id":null,"project_id":null`},
		{"issue.assigned", herald.Attempt{StatusCode: 200, HookErrorID: "d5111da2c28645c5889d072017e3445d", HookProjectID: "1"}, ""},
	}
	now := ts.Clock.Now()
	var ds []*herald.Delivery
	for i, c := range cases {
		resource, _, _ := strings.Cut(c.event, ".")
		ds = append(ds, &herald.Delivery{ID: herald.NewTimeID(now), DestinationKind: herald.DestinationApp, DestinationID: inst[0].UUID,
			OrganizationID: inst[0].OrganizationID, Event: c.event, Resource: resource, Body: fmt.Appendf(nil, `{"n":%d}`, i),
			Signature: "sig", Timestamp: now.Unix(), Status: herald.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now})
	}
	if err := ts.Store.InTx(ctx, func(tx *sqlstore.Tx) error { return tx.InsertDeliveries(ctx, ds) }); err != nil {
		t.Fatal(err)
	}
	var outcomes []*herald.Outcome
	for i, c := range cases {
		a := c.attempt
		a.URL, a.CreatedAt = *app.WebhookURL, now.Add(time.Duration(len(cases)-i)*time.Second)
		outcomes = append(outcomes, &herald.Outcome{DeliveryID: ds[i].ID, Attempt: &a, Delivered: a.StatusCode == 200})
	}
	if err := ts.Store.CompleteDeliveries(ctx, outcomes); err != nil {
		t.Fatal(err)
	}

	var log []map[string]json.RawMessage
	ts.must(t, 200, "GET", "/api/0/sentry-apps/"+app.Slug+"/requests/", nil).JSON(t, &log)
	if len(log) != len(cases) {
		t.Fatalf("log has %d entries, want %d", len(log), len(cases))
	}
	for i, c := range cases {
		t.Run(c.event, func(t *testing.T) {
			e := log[i]
			if got := string(e["eventType"]); got != `"`+c.event+`"` {
				t.Fatalf("entry %d is %s, want %s", i, got, c.event)
			}
			if c.want == "" {
				if _, ok := e["error_id"]; ok {
					t.Fatalf("a successful entry has error_id: %v", e)
				}
				if _, ok := e["project_id"]; ok {
					t.Fatalf("a successful entry has project_id: %v", e)
				}
				return
			}
			jsonEqual(t, []byte(`{"error_id":`+string(e["error_id"])+`,"project_id":`+string(e["project_id"])+`}`), "{"+c.want+"}")
		})
	}
}

// mustOrg returns the organization acme.
func mustOrg(t *testing.T, ts *testServer) *herald.Organization {
	t.Helper()
	org, err := ts.Store.FindOrganizationBySlug(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	return org
}
