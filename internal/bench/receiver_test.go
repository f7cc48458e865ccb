package bench

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// post sends a delivery-shaped request to url and returns the status.
func post(t *testing.T, url, hookID, requestID, signature string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-ServiceHook-GUID", hookID)
	req.Header.Set("Request-ID", requestID)
	req.Header.Set("X-Sentry-Hook-Signature", signature)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// testReceiver starts a receiver that answers 2xx, closed when the test
// ends.
func testReceiver(t *testing.T) *Receiver {
	t.Helper()
	rc, err := newReceiver(false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rc.Close() })
	return rc
}

// sign is the seed's signature: hex HMAC-SHA256 of body keyed with secret.
func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

func TestReceiver(t *testing.T) {
	t.Parallel()
	rc := testReceiver(t)
	rc.AddSecret("h1", "s3cret")
	body := []byte(`{"id":"1","event":{"event_id":"e1"}}`)
	good := sign("s3cret", body)
	if !validSignature("s3cret", body, good) || validSignature("other", body, good) {
		t.Fatal("signature check is wrong")
	}

	if got := post(t, rc.HookURL(0), "h1", "r1", good, body); got != http.StatusOK {
		t.Fatalf("status = %d", got)
	}
	// The same Request-ID again is a duplicate, not a new delivery.
	post(t, rc.HookURL(0), "h1", "r1", good, body)
	rc.SetStatus(http.StatusServiceUnavailable)
	if got := post(t, rc.HookURL(0), "h1", "r2", good, body); got != http.StatusServiceUnavailable {
		t.Fatalf("status while down = %d, want 503", got)
	}
	rc.SetStatus(http.StatusOK)
	// A bad signature on a sampled delivery (the first of hook h2) counts.
	rc.AddSecret("h2", "s3cret")
	post(t, rc.HookURL(1), "h2", "r3", strings.Repeat("0", 64), body)
	// Plain POSTs of the raw ceiling are not deliveries.
	post(t, rc.URL+rawPath, "", "", "", body)

	rec := rc.snapshot()
	if rc.Delivered() != 2 || len(rec.arrivals) != 2 || rec.duplicates != 1 || rc.Refused() != 1 ||
		rec.checked != 2 || rec.badSigs != 1 || rc.raw.Load() != 1 || rec.arrivals[0].eventID != "e1" || rec.arrivals[0].dest != "h1" || rec.arrivals[0].kind != kindEventCreated {
		t.Fatalf("delivered %d refused %d raw %d receipt %+v", rc.Delivered(), rc.Refused(), rc.raw.Load(), rec)
	}
	done := make(chan struct{})
	close(done)
	if err := rc.waitDelivered(done, 3); err == nil {
		t.Fatal("waitDelivered did not time out")
	}
	if err := rc.waitDelivered(nil, 2); err != nil {
		t.Fatal(err)
	}
}

// appPost sends a Sentry App-shaped delivery to url and returns the
// status.
func appPost(t *testing.T, url, resource, requestID, signature string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Request-ID", requestID)
	req.Header.Set("Sentry-Hook-Resource", resource)
	req.Header.Set("Sentry-Hook-Signature", signature)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestReceiverKinds: the receiver tells Service Hook and Sentry App
// deliveries apart, reads the event id each kind carries, and checks an
// app's Sentry-Hook-Signature with its client secret.
func TestReceiverKinds(t *testing.T) {
	t.Parallel()
	const hookSecret, appSecret = "hook-secret", "app-secret"
	created := []byte(`{"id":"1","triggering_rules":[],"event":{"event_id":"e1"}}`)
	alert := []byte(`{"id":"1","triggering_rules":["Bench: new issues"],"event":{"event_id":"e2"}}`)
	errorCreated := []byte(`{"action":"created","installation":{"uuid":"u"},"data":{"error":{"event_id":"e3"}}}`)
	issueCreated := []byte(`{"action":"created","installation":{"uuid":"u"},"data":{"issue":{"id":"7"}}}`)
	errorNoID := []byte(`{"action":"created","data":{"error":{}}}`)
	tests := []struct {
		name       string
		app        bool
		resource   string
		body       []byte
		secret     string
		wantKind   string
		wantID     string
		unparsed   int
		appChecked int
		badSigs    int
	}{
		{"EventCreated", false, "", created, hookSecret, kindEventCreated, "e1", 0, 0, 0},
		{"EventAlert", false, "", alert, hookSecret, kindEventAlert, "e2", 0, 0, 0},
		{"ErrorCreated", true, "error", errorCreated, appSecret, kindErrorCreated, "e3", 0, 1, 0},
		{"IssueCreatedNeedsNoEventID", true, "issue", issueCreated, appSecret, kindIssueCreated, "", 0, 1, 0},
		{"ErrorCreatedWithoutEventID", true, "error", errorNoID, appSecret, kindErrorCreated, "", 1, 1, 0},
		{"ErrAppSignedWithHookSecret", true, "error", errorCreated, hookSecret, kindErrorCreated, "e3", 0, 1, 1},
		{"ErrHookSignedWithAppSecret", false, "", created, appSecret, kindEventCreated, "e1", 0, 0, 1},
		{"ErrAppWithoutResource", true, "", issueCreated, appSecret, ".created", "", 0, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rc := testReceiver(t)
			rc.AddSecret("h1", hookSecret)
			rc.AddAppSecret(0, appSecret)
			var status int
			if tt.app {
				status = appPost(t, rc.AppURL(0), tt.resource, "r1", sign(tt.secret, tt.body), tt.body)
			} else {
				status = post(t, rc.HookURL(0), "h1", "r1", sign(tt.secret, tt.body), tt.body)
			}
			if status != http.StatusOK {
				t.Fatalf("status = %d", status)
			}
			rec := rc.snapshot()
			if len(rec.arrivals) != 1 {
				t.Fatalf("arrivals = %+v", rec.arrivals)
			}
			a := rec.arrivals[0]
			if a.kind != tt.wantKind || a.eventID != tt.wantID || rec.unparsed != tt.unparsed ||
				rec.checked != 1 || rec.appChecked != tt.appChecked || rec.badSigs != tt.badSigs {
				t.Fatalf("arrival %+v, receipt %+v; want kind %q id %q unparsed %d appChecked %d badSigs %d",
					a, rec, tt.wantKind, tt.wantID, tt.unparsed, tt.appChecked, tt.badSigs)
			}
			if got := rec.kinds(); got[tt.wantKind] != 1 || len(got) != 1 {
				t.Fatalf("kinds = %v", got)
			}
		})
	}
}

// TestReceiverAppSample: an app's deliveries are checked as a hook's are,
// the first and every signatureSample-th after, apart from the hooks'.
func TestReceiverAppSample(t *testing.T) {
	t.Parallel()
	rc := testReceiver(t)
	rc.AddAppSecret(0, "s")
	rc.AddSecret("h1", "t")
	body := []byte(`{"action":"created","data":{"error":{"event_id":"e"}}}`)
	for i := range signatureSample + 1 {
		appPost(t, rc.AppURL(0), "error", fmt.Sprint("a", i), sign("s", body), body)
	}
	hook := []byte(`{"event":{"event_id":"e"}}`)
	post(t, rc.HookURL(0), "h1", "h", sign("t", hook), hook)
	// An app path with no secret registered is not checked.
	appPost(t, rc.AppURL(1), "error", "x", "bad", body)
	rec := rc.snapshot()
	if rec.checked != 3 || rec.appChecked != 2 || rec.badSigs != 0 || rc.Delivered() != signatureSample+3 {
		t.Fatalf("checked %d (apps %d), bad %d, delivered %d", rec.checked, rec.appChecked, rec.badSigs, rc.Delivered())
	}
}

func TestHangingReceiver(t *testing.T) {
	t.Parallel()
	rc, err := newReceiver(true)
	if err != nil {
		t.Fatal(err)
	}
	// start is taken before the deadline is set, so that the request
	// cannot seem to have ended before it.
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, rc.HookURL(0), strings.NewReader("{}"))
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("a hanging receiver answered")
	}
	if time.Since(start) < 100*time.Millisecond || rc.Hung() != 1 || rc.Delivered() != 0 {
		t.Fatalf("held %d, delivered %d after %s", rc.Hung(), rc.Delivered(), time.Since(start))
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestEventBody(t *testing.T) {
	t.Parallel()
	p := newPlan(3, spread{issues: 1})
	if len(p.index) != 3 || p.ids[0] == p.ids[1] {
		t.Fatalf("ids %v are not distinct", p.ids)
	}
	b := newEventBody(time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC))
	body := b.with(p.ids[1], "")
	var ev struct {
		EventID     string   `json:"event_id"`
		Timestamp   string   `json:"timestamp"`
		Fingerprint []string `json:"fingerprint"`
		Exception   []struct {
			Type string `json:"type"`
		} `json:"exception"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if ev.EventID != p.ids[1] || ev.Timestamp != "2024-01-15T12:00:00.000000Z" || len(ev.Exception) != 1 || ev.Fingerprint != nil {
		t.Fatalf("event = %+v", ev)
	}
	if n := len(body); n < 1000 || n > 2048 {
		t.Fatalf("body is %d bytes, want a realistic 1-2 KB", n)
	}
	ev.Fingerprint = nil
	if err := json.Unmarshal(b.with(p.ids[0], `bench-"7"`), &ev); err != nil || len(ev.Fingerprint) != 1 || ev.Fingerprint[0] != `bench-"7"` {
		t.Fatalf("fingerprint %v, %v; want [bench-\"7\"]", ev.Fingerprint, err)
	}
}

// TestSpread: how events are grouped into issues, by their index in the
// scenario and their id.
func TestSpread(t *testing.T) {
	t.Parallel()
	id := "00000014" + strings.Repeat("a", 24)
	tests := []struct {
		name string
		s    spread
		i    int
		want string
	}{
		{"OneIssue", spread{issues: 1}, 5, ""},
		{"ByEventID", spread{issues: 10}, 3, "bench-0"}, // 0x14 mod 10
		{"ByEventIDOf7", spread{issues: 7}, 3, "bench-6"},
		{"EveryEventNew", spread{newEvery: 1}, 0, "bench-new-" + id},
		{"EveryEventNewIgnoresIssues", spread{issues: 5, newEvery: 1}, 4, "bench-new-" + id},
		{"MixedFirstRecurring", spread{issues: 500, newEvery: 10}, 0, "bench-0"},
		{"MixedTenthIsNew", spread{issues: 500, newEvery: 10}, 9, "bench-new-" + id},
		// Event 10 is the tenth recurring one (event 9 was new).
		{"MixedAfterNew", spread{issues: 500, newEvery: 10}, 10, "bench-9"},
		{"MixedWraps", spread{issues: 3, newEvery: 10}, 8, "bench-2"},
		{"MixedOneRecurringIssue", spread{issues: 1, newEvery: 4}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.s.fingerprint(tt.i, id); got != tt.want {
				t.Fatalf("fingerprint(%d) = %q, want %q", tt.i, got, tt.want)
			}
		})
	}
}

// TestPlanIssues: the issues a plan's accepted events open, the figure
// the mixed scenario's expected deliveries come from.
func TestPlanIssues(t *testing.T) {
	t.Parallel()
	all := func(n int) []time.Time {
		out := make([]time.Time, n)
		for i := range out {
			out[i] = time.Unix(1, 0)
		}
		return out
	}
	tests := []struct {
		name    string
		s       spread
		n       int
		accepts []time.Time
		want    int
	}{
		{"OneIssue", spread{issues: 1}, 50, all(50), 1},
		// 10,000 events, 1 in 10 new: 1,000 new issues; the 9,000
		// recurring ones cover all 500 recurring issues.
		{"MixedDefaults", spread{issues: 500, newEvery: 10}, 10000, all(10000), 1500},
		// 20 events: 2 new; 18 recurring over 500 issues: 18.
		{"MixedFewEvents", spread{issues: 500, newEvery: 10}, 20, all(20), 20},
		{"EveryEventNew", spread{newEvery: 1}, 300, all(300), 300},
		{"NewWithOneRecurring", spread{issues: 1, newEvery: 2}, 10, all(10), 6},
		// Only accepted events count: of 10 events (2 new: events 4 and
		// 9, recurring over 3 issues), event 9 and the recurring events
		// 6 to 8 (issues 0 to 2 again) were not accepted.
		{"OnlyAccepted", spread{issues: 3, newEvery: 5}, 10, append(all(6), make([]time.Time, 4)...), 4},
		{"NoneAccepted", spread{issues: 3}, 10, make([]time.Time, 10), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newPlan(tt.n, tt.s)
			if got := p.issues(tt.accepts); got != tt.want {
				t.Fatalf("issues = %d, want %d (fingerprints %v)", got, tt.want, p.fingerprints[:min(len(p.fingerprints), 12)])
			}
			for i, id := range p.ids {
				if p.fingerprint(id) != p.fingerprints[i] || p.index[id] != i {
					t.Fatalf("event %d: fingerprint %q, index %d", i, p.fingerprint(id), p.index[id])
				}
			}
		})
	}
	if newPlan(2, spread{}).fingerprint("unknown") != "" {
		t.Fatal("an id not in the plan has a fingerprint")
	}
}

func TestCeiling(t *testing.T) {
	t.Parallel()
	rc := testReceiver(t)
	client := newHTTPClient(4)
	got, err := ceiling(context.Background(), client, rc.URL+rawPath, []byte(`{}`), 200, 4)
	if err != nil || got.perSec <= 0 {
		t.Fatalf("ceiling = %+v, %v", got, err)
	}
	if n := rc.raw.Load(); n != 204 {
		t.Fatalf("receiver got %d plain POSTs, want 200 and 4 to warm up", n)
	}
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer down.Close()
	if _, err := ceiling(context.Background(), client, down.URL, []byte(`{}`), 10, 2); err == nil || !strings.Contains(err.Error(), "plain POSTs failed") {
		t.Fatalf("err = %v, want one when the receiver refuses", err)
	}
}

// TestLoaderRetries: the load generator retries 503s and counts every
// retry, and gives up at once on a 403.
func TestLoaderRetries(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	calls := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Sentry-Auth") != storeAuth("good") {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls[string(body)]++
		n := calls[string(body)]
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"id":"x"}`)
	}))
	defer srv.Close()
	ids := newPlan(4, spread{issues: 1}).ids
	l := &loader{client: newHTTPClient(2), storeURL: srv.URL, auth: storeAuth("good"), body: newEventBody(time.Now()), counts: &counters{}}
	res := l.send(context.Background(), ids, 2)
	if res.accepted != 4 || res.retries != 4 || res.failed != 0 || res.lastAccept().IsZero() {
		t.Fatalf("accepted %d retries %d failed %d", res.accepted, res.retries, res.failed)
	}
	if !strings.Contains(l.refusals(), "503×4") || l.counts.sent.Load() != 4 || l.counts.retries.Load() != 4 {
		t.Fatalf("refusals %q, counters %d sent %d retried", l.refusals(), l.counts.sent.Load(), l.counts.retries.Load())
	}

	bad := &loader{client: newHTTPClient(2), storeURL: srv.URL, auth: storeAuth("bad"), body: newEventBody(time.Now()), counts: &counters{}}
	res = bad.pace(context.Background(), ids[:2], 1000, 2)
	if res.accepted != 0 || res.failed != 2 || res.retries != 0 {
		t.Fatalf("with a bad key: accepted %d failed %d retries %d", res.accepted, res.failed, res.retries)
	}
}
