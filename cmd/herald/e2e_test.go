package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/herald-dev/herald"
)

var (
	hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)
	hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// serviceHookBody is the seed's event.alert/event.created payload.
type serviceHookBody struct {
	ID              string   `json:"id"`
	Project         string   `json:"project"`
	ProjectName     string   `json:"project_name"`
	Culprit         string   `json:"culprit"`
	URL             string   `json:"url"`
	Message         string   `json:"message"`
	TriggeringRules []string `json:"triggering_rules"`
	Event           struct {
		EventID  string     `json:"event_id"`
		Level    string     `json:"level"`
		Tags     [][]string `json:"tags"`
		Platform string     `json:"platform"`
		Datetime string     `json:"datetime"`
	} `json:"event"`
}

// TestSentrySDKToServiceHook is the seed's first half end to end: a hook
// created with the seed's curl receives a signed event.created when the
// official Go SDK captures an exception.
func TestSentrySDKToServiceHook(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{sqliteBackend, postgresBackend} {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			srv := MustStart(t, testConfig(t, b))
			p := setUp(t, srv)
			rc := newReceiver(t, nil)
			h := createHook(t, srv, rc.URL+"/sentry-hook", "event.alert", "event.created")
			rc.setSecret(h.Secret)
			if !hex32.MatchString(h.ID) || !hex64.MatchString(h.Secret) || h.Status != "active" || len(h.Events) != 2 || h.Events[0] != "event.alert" {
				t.Fatalf("hook = %+v", h)
			}

			client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Transport: sentry.NewHTTPSyncTransport(), Environment: "production", Release: "v1.2.3"})
			if err != nil {
				t.Fatal(err)
			}
			hub := sentry.NewHub(client, sentry.NewScope())
			eventID := hub.CaptureException(errors.New("something broke"))
			if eventID == nil {
				t.Fatal("SDK did not send the event")
			}
			client.Flush(5 * time.Second)

			got := rc.wait(t, 1, 15*time.Second)
			d := got[0]
			if !d.Verified {
				t.Fatalf("signature %q does not verify with the seed's algorithm", d.Signature)
			}
			if d.Header.Get("X-ServiceHook-Signature") != d.Signature || d.Header.Get("X-ServiceHook-GUID") != h.ID ||
				!hex32.MatchString(d.Header.Get("Request-ID")) || d.Header.Get("Content-Type") != "application/json" ||
				d.Header.Get("X-ServiceHook-Timestamp") == "" {
				t.Fatalf("headers = %v", d.Header)
			}
			var body serviceHookBody
			if err := json.Unmarshal(d.Body, &body); err != nil {
				t.Fatal(err)
			}
			if body.Event.EventID != string(*eventID) {
				t.Fatalf("event_id = %q, want the SDK's %q", body.Event.EventID, *eventID)
			}
			if body.Project != "web" || body.ProjectName != "Web" || body.TriggeringRules == nil || len(body.TriggeringRules) != 0 ||
				body.Event.Level != "error" || body.Event.Platform != "go" || body.Message == "" || body.ID == "" ||
				body.URL != srv.URL+"/organizations/acme/issues/"+body.ID+"/" {
				t.Fatalf("body = %s", d.Body)
			}
			if _, err := time.Parse(herald.TimeFormat, body.Event.Datetime); err != nil {
				t.Fatalf("datetime %q: %v", body.Event.Datetime, err)
			}
			if !hasTag(body.Event.Tags, "environment", "production") || !hasTag(body.Event.Tags, "release", "v1.2.3") {
				t.Fatalf("tags = %v", body.Event.Tags)
			}
		})
	}
}

func hasTag(tags [][]string, k, v string) bool {
	for _, t := range tags {
		if len(t) == 2 && t[0] == k && t[1] == v {
			return true
		}
	}
	return false
}

// TestRetriesKeepBodySignatureAndID: a receiver failing twice then
// succeeding gets exactly three identical attempts.
func TestRetriesKeepBodySignatureAndID(t *testing.T) {
	t.Parallel()
	srv := MustStart(t, testConfig(t, sqliteBackend))
	p := setUp(t, srv)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n <= 2 {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(200)
	})
	h := createHook(t, srv, rc.URL, "event.created")
	rc.setSecret(h.Secret)
	mustStatus(t, 200, storeEvent(t, srv, p, herald.NewID(), "retry me"))
	got := rc.wait(t, 3, 60*time.Second)
	for i, g := range got {
		if string(g.Body) != string(got[0].Body) || g.Signature != got[0].Signature ||
			g.Header.Get("Request-ID") != got[0].Header.Get("Request-ID") || !g.Verified {
			t.Fatalf("attempt %d differs from the first", i+1)
		}
	}
	// No fourth attempt after the success.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		var list []struct {
			Status   string `json:"status"`
			Attempts int    `json:"attempts"`
		}
		call(t, srv.URL, "GET", "/api/0/projects/acme/web/hooks/"+h.ID+"/deliveries/", nil, &list)
		if len(list) == 1 && list[0].Status == "delivered" {
			if list[0].Attempts != 3 {
				t.Fatalf("attempts = %d, want 3", list[0].Attempts)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("delivery not recorded as delivered")
}

// TestSlowReceiverRetried: an attempt slower than --delivery-timeout fails
// and is retried.
func TestSlowReceiverRetried(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, sqliteBackend)
	cfg.DeliveryTimeout = 300 * time.Millisecond
	srv := MustStart(t, cfg)
	p := setUp(t, srv)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			time.Sleep(time.Second)
		}
		w.WriteHeader(200)
	})
	h := createHook(t, srv, rc.URL, "event.created")
	rc.setSecret(h.Secret)
	mustStatus(t, 200, storeEvent(t, srv, p, herald.NewID(), "slow"))
	got := rc.wait(t, 2, 60*time.Second)
	if got[0].Header.Get("Request-ID") != got[1].Header.Get("Request-ID") {
		t.Fatal("retry has another Request-ID")
	}
}

// TestHangingDestinationIsolated: one destination never answers; another
// still receives a whole burst promptly.
func TestHangingDestinationIsolated(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, sqliteBackend)
	// Long enough that a healthy destination held up by the hanging one
	// could not be mistaken for a slow machine.
	cfg.DeliveryTimeout = 10 * time.Second
	srv := MustStart(t, cfg)
	p := setUp(t, srv)
	release := make(chan struct{})
	hanging := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	healthy := newReceiver(t, nil)
	createHook(t, srv, hanging.URL, "event.created")
	h := createHook(t, srv, healthy.URL, "event.created")
	healthy.setSecret(h.Secret)

	const burst = 100
	start := time.Now()
	var failed atomic.Int32
	done := make(chan struct{})
	for i := 0; i < burst; i++ {
		go func(i int) {
			defer func() { done <- struct{}{} }()
			if storeEvent(t, srv, p, herald.NewID(), fmt.Sprintf("burst %d", i)) != 200 {
				failed.Add(1)
			}
		}(i)
	}
	for i := 0; i < burst; i++ {
		<-done
	}
	if failed.Load() > 0 {
		t.Fatalf("%d events refused", failed.Load())
	}
	got := healthy.wait(t, burst, 10*time.Second)
	elapsed := time.Since(start)
	for _, g := range got {
		if !g.Verified {
			t.Fatal("unverified delivery")
		}
	}
	// Well within one timeout of the hanging destination.
	if elapsed > cfg.DeliveryTimeout {
		t.Fatalf("healthy destination took %s for %d deliveries, longer than the hanging one's timeout", elapsed, burst)
	}
}
