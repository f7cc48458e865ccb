package delivery

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herald-dev/herald"
)

// testNow is the time of the test clock.
var testNow = time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC)

// testClock is a clock tests set.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

// newTestClock returns a clock at testNow.
func newTestClock() *testClock { return &testClock{now: testNow} }

// Now returns the clock's time.
func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Add moves the clock forward.
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// loopbackGuard permits the loopback addresses test receivers listen on.
func loopbackGuard(tb testing.TB) *Guard {
	tb.Helper()
	return &Guard{Allow: mustParseCIDRs(tb, "127.0.0.0/8", "::1")}
}

// newTestSender returns a Sender that may reach loopback receivers.
func newTestSender(tb testing.TB, timeout time.Duration) *Sender {
	tb.Helper()
	return NewSender(SenderOptions{Timeout: timeout, Guard: loopbackGuard(tb), Clock: newTestClock()})
}

// newReceiver starts a loopback HTTP server closed at the end of the test.
func newReceiver(tb testing.TB, h http.HandlerFunc) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv
}

// testSecret signs the test deliveries.
const testSecret = "4c0e2c4ad1b6e0f5f1c3a8f0b6d2e9a7c5b3d1f9e7a5c3b1d9f7e5a3c1b9d7f5"

// sign is the seed's signature: lowercase hex HMAC-SHA256 of the body.
func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// newDelivery returns a pending, signed delivery of kind to url.
func newDelivery(kind, url string) *herald.Delivery {
	body := []byte(`{"id":"1234567890","project":"my-project","message":"caf\u00e9 \u2603","triggering_rules":[]}`)
	d := &herald.Delivery{
		ID:                herald.NewID(),
		DestinationKind:   kind,
		DestinationID:     "0f3c9a3e5b7d4f1a8c2e6b9d0a4f7c31",
		Event:             herald.HookEventCreated,
		Body:              body,
		Signature:         sign(testSecret, body),
		Timestamp:         1705320000,
		Status:            herald.DeliveryPending,
		URL:               url,
		DestinationActive: true,
		CreatedAt:         testNow,
	}
	if kind == herald.DestinationApp {
		d.DestinationID = "a8e5d37a-696c-4c54-aac1-4a51b40ce7d9"
		d.Event = "issue.created"
		d.Resource = "issue"
	}
	return d
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		kind string
		want map[string]string
	}{
		{"Hook", herald.DestinationHook, map[string]string{
			"Content-Type":            "application/json",
			"X-Sentry-Hook-Signature": "sig",
			"X-ServiceHook-Signature": "sig",
			"X-ServiceHook-Timestamp": "1705320000",
			"X-ServiceHook-GUID":      "dest",
			"Request-ID":              "id",
			"User-Agent":              herald.UserAgent(),
		}},
		{"App", herald.DestinationApp, map[string]string{
			"Content-Type":          "application/json",
			"Request-ID":            "id",
			"Sentry-Hook-Resource":  "issue",
			"Sentry-Hook-Timestamp": "1705320000",
			"Sentry-Hook-Signature": "sig",
			"User-Agent":            herald.UserAgent(),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := Headers(&herald.Delivery{
				ID: "id", DestinationKind: tt.kind, DestinationID: "dest",
				Resource: "issue", Signature: "sig", Timestamp: 1705320000,
			})
			if len(h) != len(tt.want) {
				t.Fatalf("Headers = %v, want %d headers", h, len(tt.want))
			}
			for k, v := range tt.want {
				if got := h.Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestSendWire checks what a receiver gets: the exact body, the
// precomputed signature (which verifies as the seed's receiver checks it)
// and each kind's headers.
func TestSendWire(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		kind      string
		signature string
		want      map[string]string
		absent    []string
	}{
		{"Hook", herald.DestinationHook, "X-Sentry-Hook-Signature", map[string]string{
			"Content-Type":            "application/json",
			"X-ServiceHook-Timestamp": "1705320000",
			"X-ServiceHook-GUID":      "0f3c9a3e5b7d4f1a8c2e6b9d0a4f7c31",
			"User-Agent":              herald.UserAgent(),
		}, []string{"Sentry-Hook-Signature", "Sentry-Hook-Resource"}},
		{"App", herald.DestinationApp, "Sentry-Hook-Signature", map[string]string{
			"Content-Type":          "application/json",
			"Sentry-Hook-Resource":  "issue",
			"Sentry-Hook-Timestamp": "1705320000",
			"User-Agent":            herald.UserAgent(),
		}, []string{"X-Sentry-Hook-Signature", "X-ServiceHook-Signature", "X-ServiceHook-GUID"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var (
				gotMethod string
				gotHeader http.Header
				gotBody   []byte
			)
			srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
				gotMethod, gotHeader = r.Method, r.Header.Clone()
				gotBody, _ = io.ReadAll(r.Body)
				w.WriteHeader(http.StatusOK)
			})
			d := newDelivery(tt.kind, srv.URL+"/hook")
			a, _ := newTestSender(t, time.Second).Send(t.Context(), d)
			if a.StatusCode != http.StatusOK || a.Error != "" {
				t.Fatalf("attempt = %d %q, want 200", a.StatusCode, a.Error)
			}
			if gotMethod != http.MethodPost {
				t.Fatalf("method = %s, want POST", gotMethod)
			}
			if string(gotBody) != string(d.Body) {
				t.Fatalf("body = %q, want %q", gotBody, d.Body)
			}
			sig := gotHeader.Get(tt.signature)
			if sig != d.Signature {
				t.Fatalf("%s differs from the delivery's signature", tt.signature)
			}
			if !hmac.Equal([]byte(sig), []byte(sign(testSecret, gotBody))) {
				t.Fatalf("%s does not verify against the received body", tt.signature)
			}
			if tt.kind == herald.DestinationHook && gotHeader.Get("X-ServiceHook-Signature") != sig {
				t.Fatal("X-ServiceHook-Signature differs from X-Sentry-Hook-Signature")
			}
			if got := gotHeader.Get("Request-ID"); got != d.ID {
				t.Fatalf("Request-ID = %q, want %q", got, d.ID)
			}
			for k, v := range tt.want {
				if got := gotHeader.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			for _, k := range tt.absent {
				if got := gotHeader.Get(k); got != "" {
					t.Errorf("%s = %q, want none", k, got)
				}
			}
		})
	}
}

func TestSendStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		status         int
		header         map[string]string
		body           string
		wantError      string
		wantRetryAfter time.Duration
	}{
		{"OK", http.StatusOK, nil, "ok", "", 0},
		{"Accepted", http.StatusAccepted, nil, "", "", 0},
		{"NoContent", http.StatusNoContent, nil, "", "", 0},
		{"ServerError", http.StatusInternalServerError, nil, "boom", "non-2xx status 500", 0},
		{"NotFound", http.StatusNotFound, nil, "no such hook", "non-2xx status 404 (a 4xx answer is not retried)", 0},
		{"BadRequestRetryAfterIgnored", http.StatusBadRequest, map[string]string{"Retry-After": "120"}, `{"detail":"unhandled event"}`, "non-2xx status 400 (a 4xx answer is not retried)", 0},
		{"Gone", http.StatusGone, nil, "", "non-2xx status 410 (a 4xx answer is not retried)", 0},
		{"RequestTimeout", http.StatusRequestTimeout, map[string]string{"Retry-After": "30"}, "", "non-2xx status 408", 30 * time.Second},
		{"TooEarly", http.StatusTooEarly, map[string]string{"Retry-After": "5"}, "", "non-2xx status 425", 5 * time.Second},
		{"Found", http.StatusFound, map[string]string{"Location": "/elsewhere"}, "", "redirect not followed (302)", 0},
		{"PermanentRedirect", http.StatusPermanentRedirect, map[string]string{"Location": "/elsewhere"}, "", "redirect not followed (308)", 0},
		{"TooManyRequests", http.StatusTooManyRequests, map[string]string{"Retry-After": "120"}, "slow down", "non-2xx status 429", 120 * time.Second},
		{"TooManyRequestsNoHeader", http.StatusTooManyRequests, nil, "", "non-2xx status 429", 0},
		{"UnavailableDate", http.StatusServiceUnavailable, map[string]string{"Retry-After": testNow.Add(90 * time.Second).Format(http.TimeFormat)}, "", "non-2xx status 503", 90 * time.Second},
		{"RetryAfterIgnoredOn500", http.StatusInternalServerError, map[string]string{"Retry-After": "120"}, "", "non-2xx status 500", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var redirected atomic.Int32
			srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/elsewhere" {
					redirected.Add(1)
					return
				}
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			})
			d := newDelivery(herald.DestinationHook, srv.URL+"/hook")
			d.Attempts = 2
			a, retryAfter := newTestSender(t, time.Second).Send(t.Context(), d)
			if a.StatusCode != tt.status {
				t.Fatalf("StatusCode = %d, want %d", a.StatusCode, tt.status)
			}
			if a.Error != tt.wantError {
				t.Fatalf("Error = %q, want %q", a.Error, tt.wantError)
			}
			if retryAfter != tt.wantRetryAfter {
				t.Fatalf("retryAfter = %s, want %s", retryAfter, tt.wantRetryAfter)
			}
			if a.ResponseBody != tt.body {
				t.Fatalf("ResponseBody = %q, want %q", a.ResponseBody, tt.body)
			}
			if a.DeliveryID != d.ID || a.Number != 3 || a.URL != d.URL || !a.CreatedAt.Equal(testNow) || a.Duration <= 0 {
				t.Fatalf("attempt = %+v", a)
			}
			if n := redirected.Load(); n != 0 {
				t.Fatalf("redirect followed %d times", n)
			}
		})
	}
}

func TestSendTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	start := time.Now()
	a, _ := newTestSender(t, 100*time.Millisecond).Send(t.Context(), newDelivery(herald.DestinationHook, srv.URL))
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("Send took %s with a 100ms timeout", elapsed)
	}
	if a.StatusCode != 0 || a.Error != "timeout after 100ms" {
		t.Fatalf("attempt = %d %q, want 0 %q", a.StatusCode, a.Error, "timeout after 100ms")
	}
}

func TestSendConnectionRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	a, _ := newTestSender(t, time.Second).Send(t.Context(), newDelivery(herald.DestinationHook, "http://"+addr+"/"))
	if a.StatusCode != 0 || a.Error != "connection refused" {
		t.Fatalf("attempt = %d %q, want 0 %q", a.StatusCode, a.Error, "connection refused")
	}
}

// TestSendGuard dials a loopback receiver, refused by default and reached
// once loopback is allowed. The refused attempt says only that the
// destination is not allowed: the address it resolved to stays out of it.
func TestSendGuard(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	d := newDelivery(herald.DestinationHook, srv.URL)

	for _, guard := range []*Guard{nil, {}} {
		a, _ := NewSender(SenderOptions{Guard: guard, Timeout: time.Second}).Send(t.Context(), d)
		if want := "destination not allowed"; a.StatusCode != 0 || a.Error != want {
			t.Fatalf("attempt = %d %q, want 0 %q", a.StatusCode, a.Error, want)
		}
		if strings.Contains(a.Error, "127.0.0.1") || strings.Contains(a.Error, "loopback") {
			t.Fatalf("attempt error %q reveals the address", a.Error)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("receiver got %d requests through the guard", n)
	}

	a, _ := NewSender(SenderOptions{Guard: loopbackGuard(t), Timeout: time.Second}).Send(t.Context(), d)
	if a.StatusCode != http.StatusOK || a.Error != "" {
		t.Fatalf("attempt = %d %q, want 200", a.StatusCode, a.Error)
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("receiver got %d requests, want 1", n)
	}
}

// TestSendNoProxy checks that no proxy is taken from the environment: a
// proxy would reach the destination on Herald's behalf, past the guard.
func TestSendNoProxy(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	tr, ok := newTestSender(t, time.Second).client.Transport.(*http.Transport)
	if !ok {
		t.Fatal("sender transport is not an *http.Transport")
	}
	if tr.Proxy != nil {
		t.Fatal("sender transport has a Proxy function")
	}
}

func TestSendInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		kind      string
		url       string
		wantError string
	}{
		{"Scheme", herald.DestinationHook, "ftp://127.0.0.1/", `invalid url: scheme "ftp" is not http or https`},
		{"NoHost", herald.DestinationHook, "http:///path", "invalid url: no host"},
		{"Unparseable", herald.DestinationHook, "http://[::1", "invalid url"},
		{"Kind", "carrier_pigeon", "http://127.0.0.1/", `unknown destination kind "carrier_pigeon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, _ := newTestSender(t, time.Second).Send(t.Context(), newDelivery(tt.kind, tt.url))
			if a.StatusCode != 0 || a.Error != tt.wantError {
				t.Fatalf("attempt = %d %q, want 0 %q", a.StatusCode, a.Error, tt.wantError)
			}
		})
	}
}

func TestSendExcerpt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want string
	}{
		{"Short", "thanks", "thanks"},
		{"Cut", strings.Repeat("a", 5000), strings.Repeat("a", 16)},
		{"CutInsideRune", strings.Repeat("a", 15) + "é and more", strings.Repeat("a", 15)},
		{"InvalidUTF8", "ok \xff\xfe done", "ok \uFFFD done"},
		{"NUL", "a\x00b", "ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, tt.body)
			})
			s := NewSender(SenderOptions{Guard: loopbackGuard(t), MaxResponseBytes: 16})
			a, _ := s.Send(t.Context(), newDelivery(herald.DestinationHook, srv.URL))
			if a.ResponseBody != tt.want {
				t.Fatalf("ResponseBody = %q, want %q", a.ResponseBody, tt.want)
			}
			if !utf8.ValidString(a.ResponseBody) {
				t.Fatalf("ResponseBody %q is not valid UTF-8", a.ResponseBody)
			}
		})
	}
}

// TestSendReusesConnections sends one after another, with responses longer
// than the excerpt, over a single kept-alive connection.
func TestSendReusesConnections(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, strings.Repeat("x", 10000))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	s := newTestSender(t, time.Second)
	for range 50 {
		if a, _ := s.Send(t.Context(), newDelivery(herald.DestinationHook, srv.URL)); a.StatusCode != http.StatusOK {
			t.Fatalf("attempt = %d %q", a.StatusCode, a.Error)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("50 sends opened %d connections, want 1", n)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want time.Duration
	}{
		{"Empty", "", 0},
		{"Seconds", "120", 120 * time.Second},
		{"Spaces", " 7 ", 7 * time.Second},
		{"Zero", "0", 0},
		{"Huge", "99999999999999999999999", maxRetryAfter},
		{"Large", "172800", maxRetryAfter},
		{"Date", testNow.Add(time.Hour).Format(http.TimeFormat), time.Hour},
		{"PastDate", testNow.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"Negative", "-5", 0},
		{"Garbage", "soon", 0},
		{"Fraction", "1.5", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := parseRetryAfter(tt.in, testNow); got != tt.want {
				t.Fatalf("parseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "", "Wed, 21 Oct 2015 07:28:00 GMT", "-1", "1e9", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := parseRetryAfter(s, testNow); got < 0 {
			t.Fatalf("parseRetryAfter(%q) = %s", s, got)
		}
	})
}

func BenchmarkSend(b *testing.B) {
	srv := newReceiver(b, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})
	s := newTestSender(b, 5*time.Second)
	d := newDelivery(herald.DestinationHook, srv.URL)
	ctx := context.Background()
	b.Run("Serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if a, _ := s.Send(ctx, d); a.StatusCode != http.StatusOK {
				b.Fatalf("attempt = %d %q", a.StatusCode, a.Error)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if a, _ := s.Send(ctx, d); a.StatusCode != http.StatusOK {
					b.Errorf("attempt = %d %q", a.StatusCode, a.Error)
					return
				}
			}
		})
	})
}
