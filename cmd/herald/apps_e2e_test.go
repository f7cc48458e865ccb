package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/herald-dev/herald"
)

// appHook is one Sentry App delivery a receiver got, decoded.
type appHook struct {
	Event    string
	Resource string
	// RequestID is the delivery's id, the same on every retry.
	RequestID    string
	Action       string `json:"action"`
	Installation struct {
		UUID string `json:"uuid"`
	} `json:"installation"`
	Data  json.RawMessage `json:"data"`
	Actor struct {
		Type string `json:"type"`
		ID   any    `json:"id"`
		Name string `json:"name"`
	} `json:"actor"`
}

// appHooks waits until rc has n deliveries and returns them decoded, after
// checking each as a receiver verifying Sentry-Hook-Signature would.
func appHooks(t *testing.T, rc *receiver, n int) []appHook {
	t.Helper()
	var out []appHook
	for i, g := range rc.wait(t, n, 20*time.Second) {
		if !g.Verified || g.Header.Get("Sentry-Hook-Signature") == "" || g.Header.Get("X-ServiceHook-Signature") != "" {
			t.Fatalf("delivery %d: Sentry-Hook-Signature %q does not verify", i, g.Signature)
		}
		if !hex32.MatchString(g.Header.Get("Request-ID")) || g.Header.Get("Content-Type") != "application/json" ||
			g.Header.Get("Sentry-Hook-Timestamp") == "" || !strings.HasPrefix(g.Header.Get("User-Agent"), "herald/") {
			t.Fatalf("delivery %d headers = %v", i, g.Header)
		}
		var h appHook
		if err := json.Unmarshal(g.Body, &h); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(g.Body), `{"action":`) {
			t.Fatalf("body does not start with the action: %s", g.Body)
		}
		h.Resource, h.RequestID = g.Header.Get("Sentry-Hook-Resource"), g.Header.Get("Request-ID")
		h.Event = h.Resource + "." + h.Action
		out = append(out, h)
	}
	return out
}

// events returns the event names of hs.
func events(hs []appHook) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Event)
	}
	return out
}

// appJSON is what creating an app answers.
type appJSON struct {
	Slug         string `json:"slug"`
	UUID         string `json:"uuid"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
}

// createApp creates an app of org through the API.
func createApp(t *testing.T, srv *Server, org, name, url string, internal bool, events ...string) appJSON {
	t.Helper()
	var app appJSON
	mustStatus(t, 201, call(t, srv.URL, "POST", "/api/0/sentry-apps/", map[string]any{
		"name": name, "organization": org, "isInternal": internal, "author": "Acme", "webhookUrl": url,
		"events": events, "scopes": []string{"event:read", "event:write"},
	}, &app))
	if !hex64.MatchString(app.ClientID) || !hex64.MatchString(app.ClientSecret) {
		t.Fatalf("app = %+v", app)
	}
	return app
}

// TestSentryAppWebhooks is the seed's second half end to end: real SDK
// events and real API calls, each producing its Sentry App webhook with the
// right actor, signed with the app's client secret; apps of another
// organization, or not subscribed to a resource, receive nothing.
func TestSentryAppWebhooks(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{sqliteBackend, postgresBackend} {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			testSentryAppWebhooks(t, b)
		})
	}
}

func testSentryAppWebhooks(t *testing.T, b backend) {
	srv := MustStart(t, testConfig(t, b))
	p := setUp(t, srv)
	var me struct {
		User struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"user"`
	}
	mustStatus(t, 200, call(t, srv.URL, "GET", "/api/0/", nil, &me))
	userActor := func(t *testing.T, h appHook) {
		t.Helper()
		if h.Actor.Type != "user" || fmt.Sprint(h.Actor.ID) != me.User.ID || h.Actor.Name != me.User.Name {
			t.Fatalf("%s actor = %+v, want user %s", h.Event, h.Actor, me.User.ID)
		}
	}
	sentryActor := func(t *testing.T, h appHook) {
		t.Helper()
		if h.Actor.Type != "application" || h.Actor.ID != "sentry" || h.Actor.Name != "Sentry" {
			t.Fatalf("%s actor = %+v, want Sentry", h.Event, h.Actor)
		}
	}

	// An internal integration of acme subscribed to everything: installed
	// at creation.
	internal := newReceiver(t, nil)
	app := createApp(t, srv, "acme", "Acme Bot", internal.URL+"/hook", true, "issue", "error", "comment")
	internal.setSecret(app.ClientSecret)

	// A public integration subscribed to issues only, installed by acme.
	public := newReceiver(t, nil)
	pub := createApp(t, srv, "acme", "Pager", public.URL+"/hook", false, "issue")
	public.setSecret(pub.ClientSecret)
	var inst struct {
		UUID   string `json:"uuid"`
		Code   string `json:"code"`
		Status string `json:"status"`
	}
	mustStatus(t, 201, call(t, srv.URL, "POST", "/api/0/organizations/acme/sentry-app-installations/", map[string]any{"slug": pub.Slug}, &inst))
	got := appHooks(t, public, 1)
	if got[0].Event != "installation.created" || !strings.Contains(string(got[0].Data), `"code":"`+inst.Code+`"`) ||
		!strings.Contains(string(got[0].Data), `"status":"pending"`) || got[0].Installation.UUID != inst.UUID {
		t.Fatalf("installation.created = %+v %s", got[0], got[0].Data)
	}
	userActor(t, got[0])
	var tok struct {
		Token string `json:"token"`
	}
	mustStatus(t, 201, do(t, "", srv.URL, "POST", "/api/0/sentry-app-installations/"+inst.UUID+"/authorizations/", map[string]any{
		"grant_type": "authorization_code", "code": inst.Code, "client_id": pub.ClientID, "client_secret": pub.ClientSecret}, &tok))
	mustStatus(t, 200, do(t, tok.Token, srv.URL, "PUT", "/api/0/sentry-app-installations/"+inst.UUID+"/", map[string]any{"status": "installed"}, nil))

	// An app of another organization, subscribed to everything.
	mustStatus(t, 201, call(t, srv.URL, "POST", "/api/0/organizations/", map[string]any{"name": "Globex", "slug": "globex"}, nil))
	outsider := newReceiver(t, nil)
	createApp(t, srv, "globex", "Globex Bot", outsider.URL+"/hook", true, "issue", "error", "comment")

	// Two identical errors from the Go SDK: one issue.created, two
	// error.created.
	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Transport: sentry.NewHTTPSyncTransport(), Environment: "production"})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	var ids []string
	for i := 0; i < 2; i++ {
		id := hub.CaptureException(errors.New("payment failed"))
		if id == nil {
			t.Fatal("SDK did not send the event")
		}
		ids = append(ids, string(*id))
	}
	client.Flush(5 * time.Second)
	got = appHooks(t, internal, 3)
	sorted := slices.Sorted(slices.Values(events(got)))
	if !slices.Equal(sorted, []string{"error.created", "error.created", "issue.created"}) {
		t.Fatalf("internal app got %v", events(got))
	}
	internalUUID := got[0].Installation.UUID
	var issueID string
	var errorIDs []string
	for _, h := range got {
		sentryActor(t, h)
		if h.Installation.UUID != internalUUID || len(internalUUID) != 36 {
			t.Fatalf("installation uuid %q", h.Installation.UUID)
		}
		switch h.Event {
		case "issue.created":
			var d struct {
				Issue struct {
					ID      string `json:"id"`
					ShortID string `json:"shortId"`
					Status  string `json:"status"`
					Count   string `json:"count"`
					Project struct {
						Slug string `json:"slug"`
					} `json:"project"`
				} `json:"issue"`
			}
			if err := json.Unmarshal(h.Data, &d); err != nil {
				t.Fatal(err)
			}
			if d.Issue.Status != "unresolved" || !strings.HasPrefix(d.Issue.ShortID, "WEB-") || d.Issue.Project.Slug != "web" || d.Issue.Count == "" || d.Issue.Count == "0" {
				t.Fatalf("issue.created data = %s", h.Data)
			}
			issueID = d.Issue.ID
		case "error.created":
			var d struct {
				Error struct {
					EventID  string `json:"event_id"`
					IssueID  string `json:"issue_id"`
					Platform string `json:"platform"`
					WebURL   string `json:"web_url"`
				} `json:"error"`
			}
			if err := json.Unmarshal(h.Data, &d); err != nil {
				t.Fatal(err)
			}
			if d.Error.Platform != "go" || !strings.HasPrefix(d.Error.WebURL, srv.URL+"/organizations/acme/issues/") {
				t.Fatalf("error.created data = %s", h.Data)
			}
			errorIDs = append(errorIDs, d.Error.EventID+"/"+d.Error.IssueID)
		}
	}
	slices.Sort(ids)
	slices.Sort(errorIDs)
	if issueID == "" || !slices.Equal(errorIDs, []string{ids[0] + "/" + issueID, ids[1] + "/" + issueID}) {
		t.Fatalf("error.created events %v, want the SDK's %v of issue %s", errorIDs, ids, issueID)
	}
	got = appHooks(t, public, 2)
	if got[1].Event != "issue.created" {
		t.Fatalf("public app got %v", events(got))
	}

	issue := "/api/0/organizations/acme/issues/" + issueID + "/"
	comments := issue + "comments/"
	var comment struct {
		ID string `json:"id"`
	}
	// Each API change, one after another, to its webhook: n and pn count
	// what the internal and the public app have received.
	n, pn := 3, 2
	step := func(t *testing.T, name string, act func(), event string, actor func(*testing.T, appHook), toPublic bool) appHook {
		t.Helper()
		act()
		n++
		h := appHooks(t, internal, n)[n-1]
		if h.Event != event {
			t.Fatalf("%s: internal app got %s, want %s", name, h.Event, event)
		}
		actor(t, h)
		if toPublic {
			pn++
			if ph := appHooks(t, public, pn)[pn-1]; ph.Event != event {
				t.Fatalf("%s: public app got %s, want %s", name, ph.Event, event)
			}
		}
		return h
	}
	h := step(t, "resolve", func() {
		mustStatus(t, 200, call(t, srv.URL, "PUT", "/api/0/projects/acme/web/issues/?id="+issueID, map[string]any{"status": "resolved", "snoozeDuration": nil}, nil))
	}, "issue.resolved", userActor, true)
	if !strings.HasPrefix(string(h.Data), `{"resolution_type":"now","issue":{`) || !strings.Contains(string(h.Data), `"status":"resolved"`) {
		t.Fatalf("issue.resolved data = %s", h.Data)
	}

	// A new event of the resolved issue regresses it, by Herald itself;
	// it comes with its error.created.
	hub.CaptureException(errors.New("payment failed"))
	client.Flush(5 * time.Second)
	n += 2
	got = appHooks(t, internal, n)
	last := events(got[n-2:])
	slices.Sort(last)
	if !slices.Equal(last, []string{"error.created", "issue.unresolved"}) {
		t.Fatalf("regression sent %v", events(got[n-2:]))
	}
	for _, h := range got[n-2:] {
		sentryActor(t, h)
		if h.Event == "issue.unresolved" && !strings.Contains(string(h.Data), `"substatus":"regressed"`) {
			t.Fatalf("regression data = %s", h.Data)
		}
	}
	pn++
	if ph := appHooks(t, public, pn)[pn-1]; ph.Event != "issue.unresolved" {
		t.Fatalf("public app got %s on regression", ph.Event)
	}

	h = step(t, "ignore", func() {
		mustStatus(t, 200, call(t, srv.URL, "PUT", issue, map[string]any{"status": "ignored"}, nil))
	}, "issue.ignored", userActor, true)
	if !strings.Contains(string(h.Data), `"substatus":"archived_until_escalating"`) {
		t.Fatalf("issue.ignored data = %s", h.Data)
	}
	step(t, "unresolve", func() {
		mustStatus(t, 200, call(t, srv.URL, "PUT", issue, map[string]any{"status": "unresolved"}, nil))
	}, "issue.unresolved", userActor, true)
	h = step(t, "assign", func() {
		mustStatus(t, 200, call(t, srv.URL, "PUT", issue, map[string]any{"assignedTo": me.User.ID}, nil))
	}, "issue.assigned", userActor, true)
	if !strings.HasPrefix(string(h.Data), `{"assignee":{"type":"user","name":"`+me.User.Name+`","id":`+me.User.ID) {
		t.Fatalf("issue.assigned data = %s", h.Data)
	}
	h = step(t, "comment", func() {
		mustStatus(t, 201, call(t, srv.URL, "POST", comments, map[string]any{"text": "Looking into it"}, &comment))
	}, "comment.created", userActor, false)
	commentData := func(h appHook, text string) {
		t.Helper()
		want := fmt.Sprintf(`{"comment_id":%s,"issue_id":%s,"project_slug":"web","timestamp":`, comment.ID, issueID)
		if !strings.HasPrefix(string(h.Data), want) || !strings.HasSuffix(string(h.Data), `"comment":"`+text+`"}`) {
			t.Fatalf("%s data = %s", h.Event, h.Data)
		}
	}
	commentData(h, "Looking into it")
	h = step(t, "edit comment", func() {
		mustStatus(t, 200, call(t, srv.URL, "PUT", comments+comment.ID+"/", map[string]any{"text": "Fixed in #12"}, nil))
	}, "comment.updated", userActor, false)
	commentData(h, "Fixed in #12")
	h = step(t, "delete comment", func() {
		mustStatus(t, 204, call(t, srv.URL, "DELETE", comments+comment.ID+"/", nil, nil))
	}, "comment.deleted", userActor, false)
	commentData(h, "Fixed in #12")

	// Uninstalling the public app: installation.deleted to it alone.
	mustStatus(t, 204, call(t, srv.URL, "DELETE", "/api/0/sentry-app-installations/"+inst.UUID+"/", nil, nil))
	pn++
	ph := appHooks(t, public, pn)[pn-1]
	if ph.Event != "installation.deleted" || strings.Contains(string(ph.Data), `"code"`) || ph.Installation.UUID != inst.UUID {
		t.Fatalf("uninstall sent %s %s", ph.Event, ph.Data)
	}
	userActor(t, ph)

	// Nothing else was sent: not to the other organization's app, not to
	// the public app after its uninstall or for resources it did not
	// subscribe to (errors, comments), not twice to anyone. Deliveries are
	// written with the change that causes them, so the store says it all.
	mustStatus(t, 200, call(t, srv.URL, "PUT", issue, map[string]any{"status": "resolved"}, nil))
	n++
	appHooks(t, internal, n)
	var globex []struct {
		UUID string `json:"uuid"`
	}
	mustStatus(t, 200, call(t, srv.URL, "GET", "/api/0/organizations/globex/sentry-app-installations/", nil, &globex))
	if len(globex) != 1 {
		t.Fatalf("globex installations = %+v", globex)
	}
	for _, c := range []struct {
		name string
		uuid string
		want int
	}{{"other organization", globex[0].UUID, 0}, {"public", inst.UUID, pn}, {"internal", internalUUID, n}} {
		ds, _, err := srv.Store.FindDeliveries(context.Background(), herald.DeliveryFilter{DestinationKind: herald.DestinationApp, DestinationID: c.uuid})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != c.want {
			t.Fatalf("%s app has %d deliveries, want %d", c.name, len(ds), c.want)
		}
	}
	if len(outsider.wait(t, 0, time.Second)) != 0 || len(appHooks(t, public, 0)) != pn || len(appHooks(t, internal, 0)) != n {
		t.Fatal("a receiver got more than was sent to it")
	}

	// The request log shows what was sent.
	var reqs []struct {
		EventType    string `json:"eventType"`
		ResponseCode int    `json:"responseCode"`
		WebhookURL   string `json:"webhookUrl"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mustStatus(t, 200, call(t, srv.URL, "GET", "/api/0/sentry-apps/"+app.Slug+"/requests/", nil, &reqs))
		if len(reqs) == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(reqs) != n || reqs[0].ResponseCode != 200 || reqs[0].WebhookURL != internal.URL+"/hook" {
		t.Fatalf("requests = %+v, want %d", reqs, n)
	}
	mustStatus(t, 200, call(t, srv.URL, "GET", "/api/0/sentry-apps/"+app.Slug+"/requests/?eventType=error.created", nil, &reqs))
	if len(reqs) != 3 {
		t.Fatalf("error.created requests = %d, want 3", len(reqs))
	}
}

// TestSentryAppRetries: an app delivery that fails is retried with the same
// body, signature and Request-ID, and the request log shows the failure
// with the request and the response.
func TestSentryAppRetries(t *testing.T) {
	t.Parallel()
	srv := MustStart(t, testConfig(t, sqliteBackend))
	p := setUp(t, srv)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.WriteHeader(503)
			_, _ = w.Write([]byte(`{"error":"warming up"}`))
			return
		}
		w.WriteHeader(200)
	})
	app := createApp(t, srv, "acme", "Flaky", rc.URL+"/hook", true, "error")
	rc.setSecret(app.ClientSecret)
	mustStatus(t, 200, storeEvent(t, srv, p, herald.NewID(), "retry me"))
	got := rc.wait(t, 2, 30*time.Second)
	for _, g := range got {
		if !g.Verified || string(g.Body) != string(got[0].Body) || g.Header.Get("Request-ID") != got[0].Header.Get("Request-ID") ||
			g.Header.Get("Sentry-Hook-Resource") != "error" {
			t.Fatalf("retry differs from the first attempt: %v", g.Header)
		}
	}
	var reqs []struct {
		EventType      string            `json:"eventType"`
		ResponseCode   int               `json:"responseCode"`
		RequestBody    *string           `json:"requestBody"`
		RequestHeaders map[string]string `json:"requestHeaders"`
		ResponseBody   *string           `json:"responseBody"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mustStatus(t, 200, call(t, srv.URL, "GET", "/api/0/sentry-apps/"+app.Slug+"/requests/?errorsOnly=true", nil, &reqs))
		if len(reqs) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(reqs) != 1 || reqs[0].ResponseCode != 503 || reqs[0].EventType != "error.created" || reqs[0].ResponseBody == nil ||
		*reqs[0].ResponseBody != `{"error":"warming up"}` || reqs[0].RequestBody == nil || len([]rune(*reqs[0].RequestBody)) > 1024 ||
		!strings.HasPrefix(*reqs[0].RequestBody, `{"action":"created"`) || reqs[0].RequestHeaders["Sentry-Hook-Resource"] != "error" ||
		reqs[0].RequestHeaders["Sentry-Hook-Signature"] != "" {
		t.Fatalf("errors = %+v", reqs)
	}
}
