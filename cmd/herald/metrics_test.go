package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald"
)

// TestMetrics checks GET /metrics after an event whose delivery fails once
// and then succeeds: the event, both outcomes, the attempts' durations, the
// HTTP requests and the runtime collectors are there, in Prometheus' text
// format.
func TestMetrics(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, sqliteBackend)
	cfg.RetrySchedule = "10ms"
	srv := MustStart(t, cfg)
	p := setUp(t, srv)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(200)
	})
	h := createHook(t, srv, rc.URL, "event.created")
	rc.setSecret(h.Secret)
	mustStatus(t, 200, storeEvent(t, srv, p, herald.NewID(), "count me"))
	rc.wait(t, 2, 30*time.Second)
	// A cron check-in is accepted and dropped, and counted.
	key := strings.TrimPrefix(strings.SplitN(p.DSN, "@", 2)[0], "http://")
	checkIn := "{}\n" + `{"type":"check_in"}` + "\n" + `{"check_in_id":"83a7c03ed0a04e1b97e2e3b18d38f244","monitor_slug":"nightly","status":"ok"}` + "\n"
	req, _ := http.NewRequest("POST", srv.URL+"/api/"+p.ID+"/envelope/", strings.NewReader(checkIn))
	req.Header.Set("X-Sentry-Auth", "Sentry sentry_version=7, sentry_key="+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("check-in: status %d", res.StatusCode)
	}

	want := []string{
		"herald_ingest_events_total 1",
		`herald_ingest_items_dropped_total{type="check_in"} 1`,
		`herald_delivery_outcomes_total{result="retrying"} 1`,
		`herald_delivery_outcomes_total{result="delivered"} 1`,
		`herald_delivery_outcomes_total{result="failed"} 0`,
		"herald_delivery_attempt_duration_seconds_count 2",
		`herald_http_requests_total{code="200",method="post"}`,
		"herald_dispatcher_held_deliveries 0",
		"herald_dispatcher_unrecorded_outcomes 0",
		// Read from the database: the delivery is done, no hook disabled.
		"herald_deliveries_pending 0",
		"herald_deliveries_overdue_seconds 0",
		"herald_deliveries_oldest_age_seconds 0",
		"herald_hooks_disabled 0",
		"go_goroutines ",
		"process_resident_memory_bytes ",
	}
	// Outcomes are recorded just after the receiver answers.
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("GET /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		body = string(b)
		missing := ""
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics has no %q:\n%s", missing, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
