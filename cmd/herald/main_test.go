package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-dev/herald/internal/openapitest"
	"github.com/herald-dev/herald/internal/storetest"
)

const testToken = "test-bootstrap-token-0123456789"

// backend is a database a test server runs on.
type backend string

const (
	sqliteBackend   backend = "sqlite"
	postgresBackend backend = "postgres"
)

// testConfig returns a configuration for a server on 127.0.0.1:0 with a
// fresh database of the backend's kind, allowed to deliver to loopback.
func testConfig(t *testing.T, b backend) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.AllowDestinations = []string{"127.0.0.0/8"}
	cfg.BootstrapToken = testToken
	cfg.RetrySchedule = "1s,1s,1s"
	cfg.PollInterval = 20 * time.Millisecond
	cfg.LogLevel = "warn"
	if b == postgresBackend {
		cfg.DatabaseURL = storetest.PostgresSchemaURL(t)
	}
	return cfg
}

// MustStart starts a server with cfg, stopped when the test ends.
func MustStart(t *testing.T, cfg Config) *Server {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := Start(context.Background(), cfg, logger)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	// Every exchange under /api/0/ is checked against the OpenAPI
	// document. The server has had no request yet: its address is known
	// only from srv.
	srv.http.Handler = openapitest.Middleware(t, srv.http.Handler)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return srv
}

// closeOnce returns a function that closes srv the first time it is
// called, failing the test on an error; it is also run when the test ends.
func closeOnce(t *testing.T, srv *Server) func() {
	var once sync.Once
	closeServer := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Close(ctx); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
	t.Cleanup(closeServer)
	return closeServer
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// call sends an API request with the bootstrap token and decodes the JSON
// answer into out (when not nil). It returns the status code.
func call(t *testing.T, baseURL, method, path string, body any, out any) int {
	t.Helper()
	return do(t, testToken, baseURL, method, path, body, out)
}

// callWith is a GET-style call with another token.
func callWith(t *testing.T, token, baseURL, method, path string, out any) int {
	t.Helper()
	return do(t, token, baseURL, method, path, nil, out)
}

func do(t *testing.T, token, baseURL, method, path string, body any, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, baseURL+path, r)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

// project is what setUp creates: an org "acme", team "core", project "web".
type project struct {
	ID  string
	DSN string
}

// setUp creates an organization, team and project through the API and
// returns the project with its DSN.
func setUp(t *testing.T, srv *Server) project {
	t.Helper()
	mustStatus(t, 201, call(t, srv.URL, "POST", "/api/0/organizations/", map[string]any{"name": "Acme", "slug": "acme"}, nil))
	mustStatus(t, 201, call(t, srv.URL, "POST", "/api/0/organizations/acme/teams/", map[string]any{"name": "Core", "slug": "core"}, nil))
	var p struct{ ID string }
	mustStatus(t, 201, call(t, srv.URL, "POST", "/api/0/teams/acme/core/projects/", map[string]any{"name": "Web", "slug": "web", "platform": "go"}, &p))
	var keys []struct {
		DSN struct{ Public string } `json:"dsn"`
	}
	mustStatus(t, 200, call(t, srv.URL, "GET", "/api/0/projects/acme/web/keys/", nil, &keys))
	if len(keys) == 0 || keys[0].DSN.Public == "" {
		t.Fatalf("no DSN: %+v", keys)
	}
	return project{ID: p.ID, DSN: keys[0].DSN.Public}
}

func mustStatus(t *testing.T, want, got int) {
	t.Helper()
	if got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
}

// hook is the create response of a service hook.
type hook struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Secret string   `json:"secret"`
	Status string   `json:"status"`
}

// createHook creates a hook the way the seed's curl does.
func createHook(t *testing.T, srv *Server, url string, events ...string) hook {
	t.Helper()
	var h hook
	mustStatus(t, 201, call(t, srv.URL, "POST", "/api/0/projects/acme/web/hooks/", map[string]any{"url": url, "events": events}, &h))
	return h
}

// received is one request a receiver got.
type received struct {
	Body      []byte
	Header    http.Header
	Signature string
	Verified  bool
	// At is when the request's body had arrived.
	At time.Time
}

// receiver is a webhook endpoint that verifies signatures exactly as the
// seed's Flask snippet does, answering with respond (200 when nil).
type receiver struct {
	*httptest.Server
	secret  string
	mu      sync.Mutex
	got     []received
	notify  chan struct{}
	respond func(n int, w http.ResponseWriter, r *http.Request)
}

func newReceiver(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{notify: make(chan struct{}, 10000), respond: respond}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) setSecret(s string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secret = s
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	signature := r.Header.Get("X-Sentry-Hook-Signature")
	if signature == "" {
		// Sentry App deliveries carry the signature under this name.
		signature = r.Header.Get("Sentry-Hook-Signature")
	}
	rc.mu.Lock()
	mac := hmac.New(sha256.New, []byte(rc.secret))
	mac.Write(body)
	expected := hex.EncodeToString(mac.Sum(nil))
	rc.got = append(rc.got, received{Body: body, Header: r.Header.Clone(), Signature: signature,
		Verified: hmac.Equal([]byte(expected), []byte(signature)), At: time.Now()})
	n := len(rc.got)
	rc.mu.Unlock()
	rc.notify <- struct{}{}
	if rc.respond != nil {
		rc.respond(n, w, r)
		return
	}
	w.WriteHeader(200)
}

// wait blocks until the receiver has n requests or the timeout passes.
func (rc *receiver) wait(t *testing.T, n int, timeout time.Duration) []received {
	t.Helper()
	deadline := time.After(timeout)
	for {
		rc.mu.Lock()
		got := append([]received(nil), rc.got...)
		rc.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-rc.notify:
		case <-deadline:
			t.Fatalf("receiver got %d requests, want %d within %s", len(got), n, timeout)
		}
	}
}

// storeEvent posts one event to the project's store endpoint and returns
// the status code.
func storeEvent(t *testing.T, srv *Server, p project, eventID, message string) int {
	t.Helper()
	key := strings.TrimPrefix(strings.SplitN(p.DSN, "@", 2)[0], "http://")
	body := fmt.Sprintf(`{"event_id":%q,"message":%q,"level":"error","platform":"go"}`, eventID, message)
	req, _ := http.NewRequest("POST", srv.URL+"/api/"+p.ID+"/store/", strings.NewReader(body))
	req.Header.Set("X-Sentry-Auth", "Sentry sentry_version=7, sentry_key="+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
