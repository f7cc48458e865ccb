package ingest

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/herald-dev/herald"
)

const (
	testKey     = "3f1b2c4d5e6f40718293a4b5c6d7e8f9"
	inactiveKey = "0000000000000000000000000000dead"
	otherKey    = "11111111111111111111111111111111"
)

// fakeProjects knows three keys: testKey of project 42, inactiveKey of
// project 42 (inactive) and otherKey of project 7.
type fakeProjects struct {
	herald.ProjectService // only FindProjectKey is called

	mu    sync.Mutex
	calls int
	err   error
	// gate, when set, holds each call until it is closed or the call's
	// context is done.
	gate chan struct{}
	// panics makes each call panic.
	panics bool
}

func (f *fakeProjects) FindProjectKey(ctx context.Context, projectID int64, public string) (*herald.ProjectKey, error) {
	f.mu.Lock()
	f.calls++
	gate, panics := f.gate, f.panics
	f.mu.Unlock()
	if panics {
		panic("lookup failed badly")
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	keys := []*herald.ProjectKey{
		{ID: 1, ProjectID: 42, Public: testKey, IsActive: true},
		{ID: 2, ProjectID: 42, Public: inactiveKey, IsActive: false},
		{ID: 3, ProjectID: 7, Public: otherKey, IsActive: true},
	}
	for _, k := range keys {
		if k.ProjectID == projectID && k.Public == public {
			return k, nil
		}
	}
	return nil, herald.Errorf(herald.ENOTFOUND, "project key not found")
}

func (f *fakeProjects) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// fakeSaver records what the handler saves.
type fakeSaver struct {
	mu     sync.Mutex
	events []*herald.Event
	err    error
}

func (s *fakeSaver) save(ctx context.Context, events []*herald.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.events = append(s.events, events...)
	return nil
}

func (s *fakeSaver) saved() []*herald.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*herald.Event(nil), s.events...)
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testHandler is a Handler with fakes.
type testHandler struct {
	*Handler
	projects *fakeProjects
	saver    *fakeSaver
	clock    *fakeClock
}

func newTestHandler(tb testing.TB) *testHandler {
	tb.Helper()
	th := &testHandler{projects: &fakeProjects{}, saver: &fakeSaver{}, clock: &fakeClock{now: received}}
	th.Handler = &Handler{Projects: th.projects, SaveFunc: th.saver.save, Clock: th.clock}
	return th
}

// serve runs one request through the handler.
func (th *testHandler) serve(method, target string, header http.Header, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	th.ServeHTTP(w, r)
	return w
}

func auth(key string) http.Header {
	return http.Header{"X-Sentry-Auth": {"Sentry sentry_version=7, sentry_client=test/1.0, sentry_key=" + key}}
}

func withHeader(h http.Header, k, v string) http.Header {
	h = h.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set(k, v)
	return h
}

func gzipped(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func zlibbed(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	_, _ = zw.Write(b)
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func deflated(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw, _ := flate.NewWriter(&buf, flate.DefaultCompression)
	_, _ = zw.Write(b)
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func TestHandler(t *testing.T) {
	t.Parallel()
	goEnv := mustReadFile(t, "sentry-go.envelope")
	nodeEnv := mustReadFile(t, "sentry-node.envelope")
	pyEnv := mustReadFile(t, "sentry-python.envelope")
	cliEnv := mustReadFile(t, "sentry-cli.envelope")
	store := mustReadFile(t, "store-go.json")
	goEnvNoDSN := bytes.Replace(goEnv, []byte(`"dsn":"https://3f1b2c4d5e6f40718293a4b5c6d7e8f9@herald.example.com/42",`), nil, 1)
	bigEvent := []byte(`{"message":"` + strings.Repeat("x", DefaultMaxEventSize) + `"}`)
	goEnvLarge := append(bytes.Clone(goEnv), "{\"type\":\"attachment\",\"length\":300000}\n"+strings.Repeat("a", 300000)+"\n"...)
	// headerOf returns an envelope header line of exactly n bytes, with
	// the test key in its dsn.
	headerOf := func(n int) string {
		h := `{"dsn":"https://` + testKey + `@herald.example.com/42","x":""}`
		return h[:len(h)-2] + strings.Repeat("x", n-len(h)) + `"}`
	}

	tests := []struct {
		name   string
		method string
		target string
		header http.Header
		body   []byte
		status int
		resp   string // the response body, or a part of it
		saved  int
	}{
		{"EnvelopeXSentryAuth", "POST", "/api/42/envelope/", auth(testKey), goEnv, 200, `{"id":"2b76c81b0555406ba3d687af12b43305"}`, 1},
		{"EnvelopeNoTrailingSlash", "POST", "/api/42/envelope", auth(testKey), goEnv, 200, `{"id":"2b76c81b0555406ba3d687af12b43305"}`, 1},
		{"EnvelopeAuthorization", "POST", "/api/42/envelope/", http.Header{"Authorization": {"Sentry sentry_key=" + testKey + ", sentry_version=7"}}, goEnv, 200, `{"id":"2b76c81b0555406ba3d687af12b43305"}`, 1},
		{"EnvelopeQueryKey", "POST", "/api/42/envelope/?sentry_key=" + testKey + "&sentry_version=7&sentry_client=sentry.javascript.node%2F8.47.0", http.Header{"Content-Type": {"text/plain;charset=UTF-8"}}, nodeEnv, 200, `{"id":"9fac2ceed9344f2bbfdd1fdacb0ed9b1"}`, 1},
		{"EnvelopeDSNInHeader", "POST", "/api/42/envelope/", nil, goEnv, 200, `{"id":"2b76c81b0555406ba3d687af12b43305"}`, 1},
		{"EnvelopeDSNInHeaderGzip", "POST", "/api/42/envelope/", http.Header{"Content-Encoding": {"gzip"}}, gzipped(t, goEnv), 200, `{"id":"2b76c81b0555406ba3d687af12b43305"}`, 1},
		{"EnvelopeDSNInHeaderDeflate", "POST", "/api/42/envelope/", http.Header{"Content-Encoding": {"deflate"}}, zlibbed(t, goEnv), 200, `{"id":"2b76c81b0555406ba3d687af12b43305"}`, 1},
		{"EnvelopeDSNInHeaderLarge", "POST", "/api/42/envelope/", nil, goEnvLarge, 200, `{"id":"2b76c81b0555406ba3d687af12b43305"}`, 1},
		{"EnvelopeDSNInHeaderLargeGzip", "POST", "/api/42/envelope/", http.Header{"Content-Encoding": {"gzip"}}, gzipped(t, goEnvLarge), 200, `{"id":"2b76c81b0555406ba3d687af12b43305"}`, 1},
		{"EnvelopeDSNInHeaderCRLF", "POST", "/api/42/envelope/", nil, bytes.Replace(goEnv, []byte("}\n"), []byte("}\r\n"), 1), 200, `{"id":"2b76c81b0555406ba3d687af12b43305"}`, 1},
		{"EnvelopeDSNHeaderOnly", "POST", "/api/42/envelope/", nil, []byte(`{"dsn":"https://` + testKey + `@herald.example.com/42"}`), 200, `{}`, 0},
		{"EnvelopeDSNHeaderAtLimit", "POST", "/api/42/envelope/", nil, []byte(headerOf(MaxEnvelopeHeaderSize) + "\r\n{\"type\":\"event\"}\n{}\n"), 200, `"id":"`, 1},
		{"EnvelopeDSNHeaderPastLimit", "POST", "/api/42/envelope/", nil, []byte(headerOf(MaxEnvelopeHeaderSize+1) + "\n{\"type\":\"event\"}\n{}\n"), 413, `{"detail":"envelope header exceeds the limit of 64 KB"}`, 0},
		{"EnvelopeHeaderPastLimitWithKey", "POST", "/api/42/envelope/", auth(testKey), []byte(headerOf(MaxEnvelopeHeaderSize+1) + "\n{\"type\":\"event\"}\n{}\n"), 413, `{"detail":"envelope header exceeds the limit of 64 KB"}`, 0},
		{"EnvelopeDSNNotString", "POST", "/api/42/envelope/", nil, []byte("{\"dsn\":1}\n{\"type\":\"event\"}\n{}\n"), 400, `{"detail":"invalid envelope header: dsn must be a string"}`, 0},
		{"EnvelopeClientReportSkipped", "POST", "/api/42/envelope/", auth(testKey), pyEnv, 200, `{"id":"c1d6e0f4a2b34f6e9a7d8b5c4e3f2a10"}`, 1},
		{"EnvelopeSentryCLI", "POST", "/api/42/envelope/", auth(testKey), cliEnv, 200, `{"id":"7c9f5d2e1a8b4c3d9e0f1a2b3c4d5e6f"}`, 1},
		{"EnvelopeGzip", "POST", "/api/42/envelope/", withHeader(auth(testKey), "Content-Encoding", "gzip"), gzipped(t, goEnv), 200, `{"id":"2b76c81b0555406ba3d687af12b43305"}`, 1},
		{"EnvelopeDeflateZlib", "POST", "/api/42/envelope/", withHeader(auth(testKey), "Content-Encoding", "deflate"), zlibbed(t, goEnv), 200, `{"id":"2b76c81b0555406ba3d687af12b43305"}`, 1},
		{"EnvelopeDeflateRaw", "POST", "/api/42/envelope/", withHeader(auth(testKey), "Content-Encoding", "deflate"), deflated(t, goEnv), 200, `{"id":"2b76c81b0555406ba3d687af12b43305"}`, 1},
		{"EnvelopeIdentity", "POST", "/api/42/envelope/", withHeader(auth(testKey), "Content-Encoding", "identity"), goEnv, 200, `{"id":"2b76c81b0555406ba3d687af12b43305"}`, 1},
		{"EnvelopeOnlyUnknownItems", "POST", "/api/42/envelope/", auth(testKey),
			[]byte("{\"event_id\":\"7c9f5d2e-1a8b-4c3d-9e0f-1a2b3c4d5e6f\",\"sent_at\":\"2024-01-15T12:00:00Z\"}\n{\"type\":\"session\"}\n{\"sid\":\"x\",\"status\":\"ok\"}\n{\"type\":\"attachment\",\"length\":3}\nabc\n"),
			200, `{"id":"7c9f5d2e1a8b4c3d9e0f1a2b3c4d5e6f"}`, 0},
		{"EnvelopeSessionWithoutID", "POST", "/api/42/envelope/", auth(testKey), []byte("{}\n{\"type\":\"session\"}\n{}\n"), 200, `{}`, 0},
		{"EnvelopeEventWithoutIDTakesHeaderID", "POST", "/api/42/envelope/", auth(testKey),
			[]byte("{\"event_id\":\"7C9F5D2E-1A8B-4C3D-9E0F-1A2B3C4D5E6F\"}\n{\"type\":\"event\"}\n{\"message\":\"hi\"}\n"), 200, `{"id":"7c9f5d2e1a8b4c3d9e0f1a2b3c4d5e6f"}`, 1},
		{"StoreBareExceptionArray", "POST", "/api/42/store/", auth(testKey), store, 200, `{"id":"e5b2a1c3d4f54a6b8c7d9e0f1a2b3c4d"}`, 1},
		{"StoreExceptionValues", "POST", "/api/42/store", auth(testKey), []byte(nodeEvent), 200, `"id":"`, 1},
		{"StoreGzip", "POST", "/api/42/store/", withHeader(auth(testKey), "Content-Encoding", "gzip"), gzipped(t, store), 200, `{"id":"e5b2a1c3d4f54a6b8c7d9e0f1a2b3c4d"}`, 1},
		{"MissingKeyEnvelope", "POST", "/api/42/envelope/", nil, goEnvNoDSN, 401, `{"detail":"missing DSN key`, 0},
		{"MissingKeyStore", "POST", "/api/42/store/", nil, store, 401, `{"detail":"missing DSN key`, 0},
		{"UnknownKey", "POST", "/api/42/envelope/", auth("ffffffffffffffffffffffffffffffff"), goEnv, 403, `{"detail":"invalid DSN key for this project"}`, 0},
		{"InactiveKey", "POST", "/api/42/envelope/", auth(inactiveKey), goEnv, 403, `{"detail":"invalid DSN key for this project"}`, 0},
		{"KeyOfOtherProject", "POST", "/api/42/store/", auth(otherKey), store, 403, `{"detail":"invalid DSN key for this project"}`, 0},
		{"DSNOfOtherProject", "POST", "/api/7/envelope/", nil, goEnv, 403, `{"detail":"invalid DSN key for this project"}`, 0},
		{"KeyTooLong", "POST", "/api/42/store/", auth(strings.Repeat("a", 200)), store, 403, `invalid DSN key`, 0},
		{"MalformedEnvelope", "POST", "/api/42/envelope/", auth(testKey), []byte("{}\n{\"type\":\"event\",\"length\":500}\n{}\n"), 400, `{"detail":"item 1: length 500 exceeds remaining body (3 bytes)"}`, 0},
		{"MalformedEvent", "POST", "/api/42/envelope/", auth(testKey), []byte("{}\n{\"type\":\"event\"}\n{\"message\":\n"), 400, `{"detail":"item 1: invalid event: unexpected end of JSON input`, 0},
		{"MalformedStore", "POST", "/api/42/store/", auth(testKey), []byte(`{"event_id":"xyz"}`), 400, `{"detail":"invalid event: event_id \"xyz\" is not a UUID"}`, 0},
		{"EmptyStore", "POST", "/api/42/store/", auth(testKey), nil, 400, `{"detail":"invalid event: empty"}`, 0},
		{"BadProjectID", "POST", "/api/abc/envelope/", auth(testKey), goEnv, 400, `{"detail":"invalid project id \"abc\": must be a positive integer"}`, 0},
		{"ZeroProjectID", "POST", "/api/0/store/", auth(testKey), store, 400, `invalid project id`, 0},
		{"UnknownPath", "POST", "/api/42/minidump/", auth(testKey), nil, 404, `{"detail":"not found"}`, 0},
		{"WrongMethod", "GET", "/api/42/store/", auth(testKey), nil, 405, `method not allowed`, 0},
		{"UnsupportedEncoding", "POST", "/api/42/envelope/", withHeader(auth(testKey), "Content-Encoding", "br"), goEnv, 400, `unsupported Content-Encoding \"br\"`, 0},
		{"CorruptGzip", "POST", "/api/42/envelope/", withHeader(auth(testKey), "Content-Encoding", "gzip"), goEnv, 400, `invalid gzip body`, 0},
		{"TruncatedGzip", "POST", "/api/42/envelope/", withHeader(auth(testKey), "Content-Encoding", "gzip"), gzipped(t, goEnv)[:200], 400, `invalid gzip body: unexpected EOF`, 0},
		{"EventItemTooLarge", "POST", "/api/42/envelope/", auth(testKey),
			append([]byte("{}\n{\"type\":\"event\"}\n"), bigEvent...), 413, `{"detail":"item 1: event exceeds the limit of 1 MB"}`, 0},
		{"StoreTooLarge", "POST", "/api/42/store/", auth(testKey), bigEvent, 413, `{"detail":"event exceeds the limit of 1 MB"}`, 0},
		{"StoreTooLargeGzip", "POST", "/api/42/store/", withHeader(auth(testKey), "Content-Encoding", "gzip"), gzipped(t, bigEvent), 413, `{"detail":"event exceeds the limit of 1 MB"}`, 0},
		{"LargeAttachmentSkipped", "POST", "/api/42/envelope/", auth(testKey),
			append(append([]byte("{}\n{\"type\":\"attachment\",\"length\":2000000}\n"), bytes.Repeat([]byte{'a'}, 2000000)...), "\n{\"type\":\"event\"}\n{}\n"...), 200, `"id":"`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			th := newTestHandler(t)
			w := th.serve(tt.method, tt.target, tt.header, tt.body)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.resp) {
				t.Fatalf("got %d %s, want %d %s", w.Code, w.Body, tt.status, tt.resp)
			}
			if got := len(th.saver.saved()); got != tt.saved {
				t.Errorf("saved %d events, want %d", got, tt.saved)
			}
			th.wantNoneInFlight(t)
			if got := w.Header().Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin = %q", got)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if w.Code != 200 && w.Header().Get("X-Sentry-Error") == "" {
				t.Errorf("no X-Sentry-Error header")
			}
			for _, e := range th.saver.saved() {
				if e.ProjectID != 42 || !e.Received.Equal(received) || len(e.ID) != 32 || len(e.GroupHash) != 32 || len(e.Data) == 0 {
					t.Errorf("saved event %+v", e)
				}
			}
		})
	}
}

func TestHandler_RequestTooLarge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		contentLength int64 // -1: chunked
	}{
		{"ContentLength", 100},
		{"Chunked", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			th := newTestHandler(t)
			th.Limits = Limits{MaxRequestSize: 64}
			r := httptest.NewRequest("POST", "/api/42/envelope/", bytes.NewReader(bytes.Repeat([]byte{' '}, 100)))
			r.Header = auth(testKey)
			r.ContentLength = tt.contentLength
			w := httptest.NewRecorder()
			th.ServeHTTP(w, r)
			if w.Code != 413 || w.Body.String() != `{"detail":"request body exceeds the limit of 64 bytes"}` {
				t.Errorf("got %d %s", w.Code, w.Body)
			}
			th.wantNoneInFlight(t)
		})
	}
}

func TestHandler_GzipBomb(t *testing.T) {
	// Not parallel: it measures allocation.
	th := newTestHandler(t)
	// 1 MB of zeros gzipped is about 1 KB; 512 copies of that member decode
	// to 512 MB.
	member := gzipped(t, make([]byte, 1<<20))
	bomb := bytes.Repeat(member, 512)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w := th.serve("POST", "/api/42/envelope/", withHeader(auth(testKey), "Content-Encoding", "gzip"), bomb)
	runtime.ReadMemStats(&after)

	if w.Code != 413 || w.Body.String() != `{"detail":"envelope exceeds the limit of 20 MB"}` {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	// Reading stops one byte past the 20 MB limit; growing the buffer to it
	// by doubling allocates less than three times that, whatever the bomb
	// decodes to.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 3*DefaultMaxBodySize {
		t.Errorf("allocated %d MB for a refused bomb", alloc>>20)
	}
	th.wantNoneInFlight(t)
}

func TestHandler_Preflight(t *testing.T) {
	t.Parallel()
	th := newTestHandler(t)
	w := th.serve("OPTIONS", "/api/42/envelope/", http.Header{
		"Origin":                         {"https://app.example.com"},
		"Access-Control-Request-Method":  {"POST"},
		"Access-Control-Request-Headers": {"content-type,sentry-trace,baggage"},
	}, nil)
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	h := w.Header()
	for k, want := range map[string]string{
		"Access-Control-Allow-Origin":   "*",
		"Access-Control-Allow-Methods":  "POST, OPTIONS",
		"Access-Control-Expose-Headers": "x-sentry-error, x-sentry-rate-limits, retry-after",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, name := range []string{"x-sentry-auth", "content-type", "content-encoding", "sentry-trace", "baggage"} {
		if !strings.Contains(h.Get("Access-Control-Allow-Headers"), name) {
			t.Errorf("Access-Control-Allow-Headers %q lacks %s", h.Get("Access-Control-Allow-Headers"), name)
		}
	}
	if th.projects.callCount() != 0 {
		t.Errorf("preflight checked a key")
	}
}

func TestHandler_KeyCache(t *testing.T) {
	t.Parallel()
	th := newTestHandler(t)
	store := mustReadFile(t, "store-go.json")
	send := func() {
		t.Helper()
		if w := th.serve("POST", "/api/42/store/", auth(testKey), store); w.Code != 200 {
			t.Fatalf("got %d %s", w.Code, w.Body)
		}
	}
	send()
	send()
	if got := th.projects.callCount(); got != 1 {
		t.Errorf("FindProjectKey called %d times within the TTL, want 1", got)
	}
	th.clock.Add(DefaultKeyCacheTTL + time.Second)
	send()
	if got := th.projects.callCount(); got != 2 {
		t.Errorf("FindProjectKey called %d times after the TTL, want 2", got)
	}
	// Refusals are not cached: each one asks again.
	for range 2 {
		th.serve("POST", "/api/42/store/", auth(otherKey), store)
	}
	if got := th.projects.callCount(); got != 4 {
		t.Errorf("FindProjectKey called %d times, want 4", got)
	}
}

// newGatedHandler is a test handler whose key lookups wait until
// th.projects.gate is closed, and a store body to send it.
func newGatedHandler(t *testing.T) (*testHandler, []byte) {
	t.Helper()
	th := newTestHandler(t)
	th.projects.gate = make(chan struct{})
	return th, mustReadFile(t, "store-go.json")
}

// TestHandler_KeyLookupShared checks that requests checking the same key
// at once share one lookup (a trusted key's time running out under load
// costs one query, not one per request in flight), that the lookup's
// answer reaches each of them, and that a key of another project is
// looked up on its own.
func TestHandler_KeyLookupShared(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		th, store := newGatedHandler(t)
		const n = 8
		codes := make(chan int, n+1)
		for range n {
			go func() { codes <- th.serve("POST", "/api/42/store/", auth(testKey), store).Code }()
		}
		go func() { codes <- th.serve("POST", "/api/7/store/", auth(otherKey), store).Code }()
		synctest.Wait() // every request waits for a lookup
		if got := th.projects.callCount(); got != 2 {
			t.Errorf("FindProjectKey called %d times by %d requests with one key and one with another, want 2", got, n)
		}
		close(th.projects.gate)
		for range n + 1 {
			if code := <-codes; code != 200 {
				t.Errorf("status %d, want 200", code)
			}
		}
		if got := len(th.saver.saved()); got != n+1 {
			t.Errorf("saved %d events, want %d", got, n+1)
		}
	})
}

// TestHandler_KeyLookupOutlivesRequest checks that a request that goes
// away while its key is looked up stops waiting at once, that the lookup
// goes on for a request that joined it, and that a lookup that never
// answers ends after keyLookupTimeout with a 503 rather than holding its
// requests.
func TestHandler_KeyLookupOutlivesRequest(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		th, store := newGatedHandler(t)
		ctx, cancel := context.WithCancel(t.Context())
		gone := make(chan int, 1)
		go func() {
			r := httptest.NewRequestWithContext(ctx, "POST", "/api/42/store/", bytes.NewReader(store))
			r.Header = auth(testKey)
			w := httptest.NewRecorder()
			th.ServeHTTP(w, r)
			gone <- w.Code
		}()
		synctest.Wait()
		stayed := make(chan int, 1)
		go func() { stayed <- th.serve("POST", "/api/42/store/", auth(testKey), store).Code }()
		synctest.Wait()
		cancel()
		<-gone // it returns while the lookup still waits
		synctest.Wait()
		if len(stayed) != 0 {
			t.Fatal("the request still waiting was answered when the other went away")
		}
		close(th.projects.gate)
		if code := <-stayed; code != 200 {
			t.Errorf("the request that joined the lookup got %d, want 200", code)
		}
		if got := th.projects.callCount(); got != 1 {
			t.Errorf("FindProjectKey called %d times, want 1", got)
		}

		// A lookup that never answers.
		th.projects.mu.Lock()
		th.projects.gate = make(chan struct{})
		th.projects.mu.Unlock()
		th.clock.Add(DefaultKeyCacheTTL + time.Second)
		start := time.Now()
		if code := th.serve("POST", "/api/42/store/", auth(testKey), store).Code; code != http.StatusServiceUnavailable {
			t.Errorf("a hung lookup answered %d, want 503", code)
		}
		if waited := time.Since(start); waited != keyLookupTimeout {
			t.Errorf("a hung lookup held its request %s, want %s", waited, keyLookupTimeout)
		}
	})
}

// TestHandler_KeyLookupPanics checks that a lookup that panics fails its
// request with 503 instead of crashing the server from the goroutine the
// lookup runs in, and that the next request asks again.
func TestHandler_KeyLookupPanics(t *testing.T) {
	t.Parallel()
	th := newTestHandler(t)
	th.projects.panics = true
	store := mustReadFile(t, "store-go.json")
	if code := th.serve("POST", "/api/42/store/", auth(testKey), store).Code; code != http.StatusServiceUnavailable {
		t.Errorf("a panicking lookup answered %d, want 503", code)
	}
	th.projects.mu.Lock()
	th.projects.panics = false
	th.projects.mu.Unlock()
	if code := th.serve("POST", "/api/42/store/", auth(testKey), store).Code; code != 200 {
		t.Errorf("the next request got %d, want 200", code)
	}
}

func TestHandler_RateLimit(t *testing.T) {
	t.Parallel()
	th := newTestHandler(t)
	th.RateLimit = 2
	store := mustReadFile(t, "store-go.json")
	send := func(wantStatus int) *httptest.ResponseRecorder {
		t.Helper()
		w := th.serve("POST", "/api/42/store/", auth(testKey), store)
		if w.Code != wantStatus {
			t.Fatalf("got %d %s, want %d", w.Code, w.Body, wantStatus)
		}
		return w
	}
	send(200)
	send(200)
	w := send(429)
	if got := w.Header().Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q", got)
	}
	if got := w.Header().Get("X-Sentry-Rate-Limits"); got != "1::key" {
		t.Errorf("X-Sentry-Rate-Limits = %q", got)
	}
	th.clock.Add(500 * time.Millisecond)
	send(200)
	send(429)
	if got := len(th.saver.saved()); got != 3 {
		t.Errorf("saved %d events, want 3", got)
	}
}

func TestHandler_Failures(t *testing.T) {
	t.Parallel()
	store := mustReadFile(t, "store-go.json")
	tests := []struct {
		name     string
		findErr  error
		saveErr  error
		status   int
		detail   string
		retry    string
		logCount int
	}{
		{"SaveInternal", nil, errors.New("database is locked"), 503, "Internal error.", "5", 1},
		{"SaveInvalid", nil, herald.Errorf(herald.EINVALID, "bad event"), 400, "bad event", "", 0},
		{"FindKeyInternal", errors.New("connection refused"), nil, 503, "Internal error.", "5", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			th := newTestHandler(t)
			th.saver.err, th.projects.err = tt.saveErr, tt.findErr
			var logs strings.Builder
			th.Logger = newTextLogger(&logs)
			w := th.serve("POST", "/api/42/store/", auth(testKey), store)
			if w.Code != tt.status || w.Body.String() != fmt.Sprintf(`{"detail":%q}`, tt.detail) {
				t.Errorf("got %d %s, want %d %s", w.Code, w.Body, tt.status, tt.detail)
			}
			if got := w.Header().Get("Retry-After"); got != tt.retry {
				t.Errorf("Retry-After = %q, want %q", got, tt.retry)
			}
			if got := strings.Count(logs.String(), "ingest failed"); got != tt.logCount {
				t.Errorf("logged %d failures, want %d:\n%s", got, tt.logCount, logs.String())
			}
			th.wantNoneInFlight(t)
		})
	}
}

// TestHandler_SentryGoSDK sends events with the real sentry-go SDK to the
// handler over loopback.
func TestHandler_SentryGoSDK(t *testing.T) {
	t.Parallel()
	th := newTestHandler(t)
	srv := httptest.NewServer(th)
	defer srv.Close()

	client, err := sentry.NewClient(sentry.ClientOptions{
		Dsn:         "http://" + testKey + "@" + srv.Listener.Addr().String() + "/42",
		Transport:   sentry.NewHTTPSyncTransport(),
		Environment: "test",
		Release:     "herald-test@1.0.0",
	})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(client, sentry.NewScope())
	hub.Scope().SetUser(sentry.User{ID: "7"})
	hub.Scope().SetTag("feature", "ingest")
	errID := hub.CaptureException(errors.New("connection reset by peer"))
	msgID := hub.CaptureMessage("cache warmed in 12ms")
	if !hub.Flush(5 * time.Second) {
		t.Fatal("flush timed out")
	}
	saved := th.saver.saved()
	if len(saved) != 2 {
		t.Fatalf("saved %d events, want 2", len(saved))
	}
	byID := map[string]*herald.Event{}
	for _, e := range saved {
		byID[e.ID] = e
	}
	ex, msg := byID[string(*errID)], byID[string(*msgID)]
	if ex == nil || msg == nil {
		t.Fatalf("saved ids %v, want %s and %s", byID, *errID, *msgID)
	}
	if ex.Title != "*errors.errorString: connection reset by peer" || ex.Platform != "go" || ex.Level != "error" ||
		ex.Environment != "test" || ex.Release != "herald-test@1.0.0" || ex.UserKey != "id:7" ||
		!strings.Contains(ex.Culprit, "TestHandler_SentryGoSDK") {
		t.Errorf("exception event %+v", ex)
	}
	if msg.Title != "cache warmed in 12ms" || msg.Level != "info" || msg.Type != "" {
		t.Errorf("message event %+v", msg)
	}
	wantTag := false
	for _, tag := range ex.Tags {
		wantTag = wantTag || tag == herald.Tag{Key: "feature", Value: "ingest"}
	}
	if !wantTag {
		t.Errorf("tags %v lack feature=ingest", ex.Tags)
	}
}

// TestHandler_Batcher runs concurrent requests through a Batcher.
func TestHandler_Batcher(t *testing.T) {
	t.Parallel()
	th := newTestHandler(t)
	b := NewBatcher(th.saver.save, BatcherOptions{})
	th.SaveFunc = b.Submit
	store := mustReadFile(t, "store-go.json")
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			body := bytes.Replace(store, []byte("e5b2a1c3d4f54a6b8c7d9e0f1a2b3c4d"), fmt.Appendf(nil, "%032x", i), 1)
			if w := th.serve("POST", "/api/42/store/", auth(testKey), body); w.Code != 200 {
				t.Errorf("got %d %s", w.Code, w.Body)
			}
		})
	}
	wg.Wait()
	b.Close()
	if got := len(th.saver.saved()); got != 20 {
		t.Errorf("saved %d events, want 20", got)
	}
}
