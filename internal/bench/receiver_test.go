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

// sign is the seed's signature: hex HMAC-SHA256 of body keyed with secret.
func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

func TestReceiver(t *testing.T) {
	t.Parallel()
	rc, err := newReceiver(false)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
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
		rec.checked != 2 || rec.badSigs != 1 || rc.raw.Load() != 1 || rec.arrivals[0].eventID != "e1" || rec.arrivals[0].hookID != "h1" {
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

func TestHangingReceiver(t *testing.T) {
	t.Parallel()
	rc, err := newReceiver(true)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, rc.HookURL(0), strings.NewReader("{}"))
	start := time.Now()
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
	ids, index := newEventIDs(3)
	if len(index) != 3 || ids[0] == ids[1] {
		t.Fatalf("ids %v are not distinct", ids)
	}
	b := newEventBody(time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC), 1)
	body := b.with(ids[1])
	var ev struct {
		EventID   string `json:"event_id"`
		Timestamp string `json:"timestamp"`
		Exception []struct {
			Type string `json:"type"`
		} `json:"exception"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if ev.EventID != ids[1] || ev.Timestamp != "2024-01-15T12:00:00.000000Z" || len(ev.Exception) != 1 {
		t.Fatalf("event = %+v", ev)
	}
	if n := len(body); n < 1000 || n > 2048 {
		t.Fatalf("body is %d bytes, want a realistic 1-2 KB", n)
	}
	var fp struct {
		Fingerprint []string `json:"fingerprint"`
	}
	if err := json.Unmarshal(body, &fp); err != nil || fp.Fingerprint != nil {
		t.Fatalf("one issue: fingerprint %v, %v", fp.Fingerprint, err)
	}
	spread := newEventBody(time.Now(), 10)
	for _, id := range ids {
		if err := json.Unmarshal(spread.with(id), &fp); err != nil || len(fp.Fingerprint) != 1 || !strings.HasPrefix(fp.Fingerprint[0], "bench-") {
			t.Fatalf("spread: fingerprint %v, %v", fp.Fingerprint, err)
		}
	}
	if err := json.Unmarshal(spread.with("00000014"+ids[0][8:]), &fp); err != nil || fp.Fingerprint[0] != "bench-0" {
		t.Fatalf("id 0x14 of 10 issues: fingerprint %v, %v; want bench-0", fp.Fingerprint, err)
	}
}

func TestCeiling(t *testing.T) {
	t.Parallel()
	rc, err := newReceiver(false)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	client := newHTTPClient(4)
	got, err := ceiling(context.Background(), client, rc.URL+rawPath, []byte(`{}`), 200, 4)
	if err != nil || got <= 0 {
		t.Fatalf("ceiling = %v, %v", got, err)
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
	ids, _ := newEventIDs(4)
	l := &loader{client: newHTTPClient(2), storeURL: srv.URL, auth: storeAuth("good"), body: newEventBody(time.Now(), 1), counts: &counters{}}
	res := l.send(context.Background(), ids, 2)
	if res.accepted != 4 || res.retries != 4 || res.failed != 0 || res.lastAccept().IsZero() {
		t.Fatalf("accepted %d retries %d failed %d", res.accepted, res.retries, res.failed)
	}
	if !strings.Contains(l.refusals(), "503×4") || l.counts.sent.Load() != 4 || l.counts.retries.Load() != 4 {
		t.Fatalf("refusals %q, counters %d sent %d retried", l.refusals(), l.counts.sent.Load(), l.counts.retries.Load())
	}

	bad := &loader{client: newHTTPClient(2), storeURL: srv.URL, auth: storeAuth("bad"), body: newEventBody(time.Now(), 1), counts: &counters{}}
	res = bad.pace(context.Background(), ids[:2], 1000, 2)
	if res.accepted != 0 || res.failed != 2 || res.retries != 0 {
		t.Fatalf("with a bad key: accepted %d failed %d retries %d", res.accepted, res.failed, res.retries)
	}
}
