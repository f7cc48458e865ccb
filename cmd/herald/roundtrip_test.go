package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/delivery"
	"github.com/herald-dev/herald/internal/webhook"
	"github.com/herald-dev/herald/sentryhook"
)

// hookReceiver serves a sentryhook.Handler (swappable, for secret rotation)
// and records every delivery processed and every status answered.
type hookReceiver struct {
	*httptest.Server
	handler   atomic.Pointer[sentryhook.Handler]
	processed chan *sentryhook.Delivery
	answered  chan int
}

func newHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	hr := &hookReceiver{processed: make(chan *sentryhook.Delivery, 100), answered: make(chan int, 100)}
	hr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := hr.handler.Load()
		if h == nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		hr.answered <- rec.Code
	}))
	t.Cleanup(hr.Close)
	return hr
}

// use makes the receiver verify with secrets from now on.
func (hr *hookReceiver) use(t *testing.T, secrets ...string) {
	t.Helper()
	h, err := sentryhook.NewHandler(sentryhook.HandlerOptions{
		Secrets: secrets,
		Process: func(_ context.Context, d *sentryhook.Delivery) error {
			hr.processed <- d
			return nil
		},
		Logger: newLogger(Config{LogLevel: "warn"}, testWriter{t}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(context.Background()) })
	hr.handler.Store(h)
}

func (hr *hookReceiver) next(t *testing.T) *sentryhook.Delivery {
	t.Helper()
	select {
	case d := <-hr.processed:
		return d
	case <-time.After(15 * time.Second):
		t.Fatal("no delivery processed")
		return nil
	}
}

func (hr *hookReceiver) nextStatus(t *testing.T) int {
	t.Helper()
	select {
	case c := <-hr.answered:
		return c
	case <-time.After(15 * time.Second):
		t.Fatal("no delivery received")
		return 0
	}
}

// TestServerDeliveriesRoundTrip: every event the server produces today
// (event.created, to Service Hooks) verifies and parses with sentryhook; a
// redelivery is recognised as a duplicate; after a secret rotation a
// receiver holding both secrets accepts old and new deliveries.
func TestServerDeliveriesRoundTrip(t *testing.T) {
	t.Parallel()
	srv := MustStart(t, testConfig(t, sqliteBackend))
	p := setUp(t, srv)
	hr := newHookReceiver(t)
	h := createHook(t, srv, hr.URL+"/sentry-hook", "event.created")
	hr.use(t, h.Secret)

	eventID := herald.NewID()
	mustStatus(t, 200, storeEvent(t, srv, p, eventID, "round trip"))
	if code := hr.nextStatus(t); code != http.StatusAccepted {
		t.Fatalf("receiver answered %d", code)
	}
	d := hr.next(t)
	if d.Kind != sentryhook.KindServiceHook || d.Event() != webhook.EventCreated || !hex32.MatchString(d.RequestID) ||
		d.HookID != h.ID || d.DedupeKey() != "request:"+d.RequestID || time.Since(d.Timestamp) > time.Minute {
		t.Fatalf("delivery = %+v", d)
	}
	sp, ok := d.Payload.(*sentryhook.ServiceHookPayload)
	if !ok {
		t.Fatalf("payload is %T", d.Payload)
	}
	if sp.Event.EventID != eventID || sp.Project != "web" || sp.ProjectName != "Web" || sp.Message != "round trip" ||
		sp.TriggeringRules == nil || len(sp.TriggeringRules) != 0 || sp.URL != srv.URL+"/organizations/acme/issues/"+sp.ID+"/" ||
		sp.Event.Level != "error" || sp.Event.Platform != "go" {
		t.Fatalf("payload = %+v", sp)
	}
	if _, err := sentryhook.ParseTime(sp.Event.Datetime); err != nil {
		t.Fatal(err)
	}

	// A redelivery carries the same Request-ID: a duplicate.
	base := "/api/0/projects/acme/web/hooks/" + h.ID + "/deliveries/" + d.RequestID
	waitDelivered(t, srv, base)
	mustStatus(t, 202, call(t, srv.URL, "POST", base+"/redeliver/", nil, nil))
	if code := hr.nextStatus(t); code != http.StatusOK {
		t.Fatalf("redelivery answered %d, want 200 (duplicate)", code)
	}

	// Rotation: new deliveries are signed with the new secret, the old
	// delivery keeps the old signature; a receiver listing both takes both.
	var rotated struct {
		Secret string `json:"secret"`
	}
	mustStatus(t, 200, call(t, srv.URL, "POST", "/api/0/projects/acme/web/hooks/"+h.ID+"/rotate-secret/", nil, &rotated))
	if rotated.Secret == "" || rotated.Secret == h.Secret {
		t.Fatalf("rotate-secret answered %+v", rotated)
	}
	hr.use(t, rotated.Secret, h.Secret)
	mustStatus(t, 200, storeEvent(t, srv, p, herald.NewID(), "after rotation"))
	if code := hr.nextStatus(t); code != http.StatusAccepted {
		t.Fatalf("new delivery answered %d", code)
	}
	if d2 := hr.next(t); d2.Payload.(*sentryhook.ServiceHookPayload).Message != "after rotation" {
		t.Fatalf("delivery = %+v", d2)
	}
	waitDelivered(t, srv, base)
	mustStatus(t, 202, call(t, srv.URL, "POST", base+"/redeliver/", nil, nil))
	if code := hr.nextStatus(t); code != http.StatusAccepted {
		t.Fatalf("old delivery after rotation answered %d, want 202 (new handler, old secret)", code)
	}
	if d3 := hr.next(t); d3.RequestID != d.RequestID {
		t.Fatalf("delivery = %+v", d3)
	}
}

// waitDelivered waits until the delivery at path (under the API) is
// recorded as delivered: a redelivery asked for while the server is still
// recording the previous attempt could be overtaken by it.
func waitDelivered(t *testing.T, srv *Server, path string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var got struct {
			Status string `json:"status"`
		}
		mustStatus(t, 200, call(t, srv.URL, "GET", path+"/", nil, &got))
		if got.Status == herald.DeliveryDelivered {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery status = %q, want delivered", got.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// seedVerified reports whether the request's signature verifies the way
// the seed's Flask snippet does it, reading the header of the request's
// kind.
func seedVerified(h http.Header, body []byte, secret string) bool {
	signature := h.Get("X-Sentry-Hook-Signature")
	if h.Get("Sentry-Hook-Resource") != "" {
		signature = h.Get("Sentry-Hook-Signature")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	expected := hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(expected), []byte(signature))
}

// TestTriggerRoundTrip: for every event, what herald trigger sends verifies
// with the seed's algorithm and with sentryhook, carries Herald's headers,
// and parses into the event's payload type.
func TestTriggerRoundTrip(t *testing.T) {
	t.Parallel()
	const secret = "8fcac28aaa4c4f5fa572b61d40a8e084364db25fd37449c299e5a41c0504cbc2"
	hr := newHookReceiver(t)
	hr.use(t, secret)
	var mu sync.Mutex
	seen := map[string]http.Header{}
	seed := map[string]bool{}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen[r.Header.Get("Request-ID")] = r.Header.Clone()
		seed[r.Header.Get("Request-ID")] = seedVerified(r.Header, body, secret)
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		hr.Config.Handler.ServeHTTP(w, r)
	}))
	defer front.Close()

	for _, event := range webhook.Events() {
		var out bytes.Buffer
		if err := Run(context.Background(), []string{"trigger", event, "--url", front.URL + "/hook", "--secret", secret}, &out, io.Discard, noEnv); err != nil {
			t.Fatalf("%s: %v\n%s", event, err, out.String())
		}
		if code := hr.nextStatus(t); code != http.StatusAccepted {
			t.Fatalf("%s: answered %d", event, code)
		}
		d := hr.next(t)
		if d.Event() != event {
			t.Fatalf("%s: parsed as %s", event, d.Event())
		}
		mu.Lock()
		header, seedOK := seen[d.RequestID], seed[d.RequestID]
		mu.Unlock()
		if !seedOK {
			t.Fatalf("%s: the seed's algorithm rejects the signature", event)
		}
		// Exactly the header names Herald's sender sets, with its values
		// where they are fixed.
		kind := herald.DestinationApp
		if webhook.ValidHookEvent(event) {
			kind = herald.DestinationHook
		}
		for name := range delivery.Headers(&herald.Delivery{DestinationKind: kind}) {
			if header.Get(name) == "" {
				t.Fatalf("%s: no %s header", event, name)
			}
		}
		if header.Get("User-Agent") != herald.UserAgent() || header.Get("Content-Type") != "application/json" ||
			!hex32.MatchString(d.RequestID) || time.Since(d.Timestamp) > time.Minute {
			t.Fatalf("%s: headers = %v", event, header)
		}
		if kind == herald.DestinationApp && (header.Get("Sentry-Hook-Resource") != webhook.Resource(event) || d.Installation.UUID != sampleInstallation) {
			t.Fatalf("%s: resource %q, installation %q", event, header.Get("Sentry-Hook-Resource"), d.Installation.UUID)
		}
		if d.Payload == nil {
			t.Fatalf("%s: no typed payload", event)
		}
	}
}

// TestServerAppDeliveriesRoundTrip: the Sentry App events the server
// produces (issue, error and comment resources to an internal app,
// installation events to a public one) verify with the apps' client secrets
// and parse into their payload types.
func TestServerAppDeliveriesRoundTrip(t *testing.T) {
	t.Parallel()
	srv := MustStart(t, testConfig(t, sqliteBackend))
	p := setUp(t, srv)
	hr := newHookReceiver(t)
	var app struct {
		UUID         string `json:"uuid"`
		ClientSecret string `json:"clientSecret"`
	}
	mustStatus(t, 201, call(t, srv.URL, "POST", "/api/0/sentry-apps/", map[string]any{
		"name": "Pager", "organization": "acme", "isInternal": true, "webhookUrl": hr.URL + "/app",
		"events": []string{"issue", "error", "comment"}, "scopes": []string{"event:read", "event:write"},
	}, &app))
	hr.use(t, app.ClientSecret)

	// received collects deliveries by event until want are all in.
	received := map[string]*sentryhook.Delivery{}
	await := func(want ...string) {
		t.Helper()
		for {
			missing := false
			for _, e := range want {
				missing = missing || received[e] == nil
			}
			if !missing {
				return
			}
			if code := hr.nextStatus(t); code != http.StatusAccepted {
				t.Fatalf("receiver answered %d, waiting for %v", code, want)
			}
			d := hr.next(t)
			received[d.Event()] = d
		}
	}

	eventID := herald.NewID()
	mustStatus(t, 200, storeEvent(t, srv, p, eventID, "app round trip"))
	await(webhook.IssueCreated, webhook.ErrorCreated)
	issueID := received[webhook.IssueCreated].Payload.(*sentryhook.IssuePayload).Issue.ID
	if e := received[webhook.ErrorCreated].Payload.(*sentryhook.ErrorPayload).Error; e.EventID != eventID || e.IssueID != issueID {
		t.Fatalf("error.created event %q of issue %q, want %q of %q", e.EventID, e.IssueID, eventID, issueID)
	}

	issue := "/api/0/organizations/acme/issues/" + issueID + "/"
	var comment struct {
		ID string `json:"id"`
	}
	mustStatus(t, 201, call(t, srv.URL, "POST", issue+"comments/", map[string]any{"text": "looking"}, &comment))
	mustStatus(t, 200, call(t, srv.URL, "PUT", issue+"comments/"+comment.ID+"/", map[string]any{"text": "fixed"}, nil))
	mustStatus(t, 204, call(t, srv.URL, "DELETE", issue+"comments/"+comment.ID+"/", nil, nil))
	await(webhook.CommentCreated, webhook.CommentUpdated, webhook.CommentDeleted)

	for _, status := range []string{"resolved", "ignored", "unresolved"} {
		mustStatus(t, 200, call(t, srv.URL, "PUT", issue, map[string]any{"status": status}, nil))
		await("issue." + status)
	}
	var teams []struct {
		ID string `json:"id"`
	}
	mustStatus(t, 200, call(t, srv.URL, "GET", "/api/0/organizations/acme/teams/", nil, &teams))
	mustStatus(t, 200, call(t, srv.URL, "PUT", issue, map[string]any{"assignedTo": "team:" + teams[0].ID}, nil))
	await(webhook.IssueAssigned)
	if a := received[webhook.IssueAssigned].Payload.(*sentryhook.IssuePayload).Assignee; a == nil || a.Type != "team" || fmt.Sprint(a.ID) != teams[0].ID {
		t.Fatalf("issue.assigned assignee = %+v", a)
	}

	// A public app receives installation events; the receiver takes the
	// secrets of both apps.
	var public struct {
		Slug         string `json:"slug"`
		ClientSecret string `json:"clientSecret"`
	}
	mustStatus(t, 201, call(t, srv.URL, "POST", "/api/0/sentry-apps/", map[string]any{
		"name": "Acme Pager", "organization": "acme", "author": "Acme", "webhookUrl": hr.URL + "/public", "scopes": []string{"event:read"},
	}, &public))
	hr.use(t, app.ClientSecret, public.ClientSecret)
	var inst struct {
		UUID string `json:"uuid"`
	}
	mustStatus(t, 201, call(t, srv.URL, "POST", "/api/0/organizations/acme/sentry-app-installations/", map[string]any{"slug": public.Slug}, &inst))
	await(webhook.InstallationCreated)
	mustStatus(t, 204, call(t, srv.URL, "DELETE", "/api/0/sentry-app-installations/"+inst.UUID+"/", nil, nil))
	await(webhook.InstallationDeleted)
	for _, e := range []string{webhook.InstallationCreated, webhook.InstallationDeleted} {
		if got := received[e].Payload.(*sentryhook.InstallationPayload).Installation; got.UUID != inst.UUID || got.App.Slug != public.Slug {
			t.Fatalf("%s installation = %+v", e, got)
		}
	}

	for event, d := range received {
		if d.Kind != sentryhook.KindSentryApp || d.Installation.UUID == "" || d.Actor.Type == "" ||
			!hex32.MatchString(d.RequestID) || time.Since(d.Timestamp) > time.Minute {
			t.Fatalf("%s: delivery = %+v", event, d)
		}
		switch p := d.Payload.(type) {
		case *sentryhook.IssuePayload:
			if d.Resource != webhook.ResourceIssue || p.Issue.ID != issueID || p.Issue.Project.Slug != "web" {
				t.Fatalf("%s: payload = %+v", event, p)
			}
		case *sentryhook.ErrorPayload:
			if d.Resource != webhook.ResourceError {
				t.Fatalf("%s: resource %q", event, d.Resource)
			}
		case *sentryhook.CommentPayload:
			if d.Resource != webhook.ResourceComment || p.ProjectSlug != "web" || p.Comment == "" {
				t.Fatalf("%s: payload = %+v", event, p)
			}
		case *sentryhook.InstallationPayload:
			if d.Resource != webhook.ResourceInstallation || d.Installation.UUID != p.Installation.UUID {
				t.Fatalf("%s: payload = %+v", event, p)
			}
		default:
			t.Fatalf("%s: payload is %T", event, d.Payload)
		}
	}
	if got := received[webhook.IssueResolved].Payload.(*sentryhook.IssuePayload); got.Issue.Status != "resolved" || got.ResolutionType == "" {
		t.Fatalf("issue.resolved payload = %+v", got)
	}
}
