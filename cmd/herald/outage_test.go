package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-dev/herald/internal/openapitest"
)

// tcpProxy forwards loopback connections to a target; Down cuts every
// connection and refuses new ones until Up, as a database that went away.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.Down()
		p.wg.Wait()
	})
	return p
}

// Addr is the proxy's address.
func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		for _, pair := range [][2]net.Conn{{c, up}, {up, c}} {
			p.wg.Add(1)
			go func(dst, src net.Conn) {
				defer p.wg.Done()
				_, _ = io.Copy(dst, src)
				dst.Close()
				src.Close()
			}(pair[0], pair[1])
		}
	}
}

// Down closes every forwarded connection and refuses new ones.
func (p *tcpProxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// Up forwards new connections again.
func (p *tcpProxy) Up() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// logRecorder keeps the messages of a test server's log records.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r.Clone())
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// since returns the records logged from index n on, and the next index.
func (l *logRecorder) since(n int) ([]slog.Record, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]slog.Record(nil), l.records[n:]...), len(l.records)
}

// TestDatabaseOutage cuts a PostgreSQL server's connections away from a
// running node: the API answers 503 with a generic body, /readyz names
// nothing about the database, ingest answers 503 with Retry-After, the
// outage is logged once and its end once, and everything works again when
// the database is back.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, postgresBackend)
	u, err := url.Parse(cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.Addr()
	cfg.DatabaseURL = u.String()
	rec := &logRecorder{}
	srv, err := Start(context.Background(), cfg, slog.New(rec))
	if err != nil {
		t.Fatal(err)
	}
	// The outage's 503s are checked against the OpenAPI document too, as
	// MustStart's servers' answers are.
	srv.http.Handler = openapitest.Middleware(t, srv.http.Handler)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	p := setUp(t, srv)
	_, mark := rec.since(0)

	proxy.Down()
	// Secrets of the database that must not reach any client.
	leaks := []string{u.User.Username(), u.Port(), strings.TrimPrefix(u.Path, "/"), "postgres", "pgx", "dial", "connect"}
	checkBody := func(what string, body []byte) {
		t.Helper()
		for _, leak := range leaks {
			if leak != "" && strings.Contains(strings.ToLower(string(body)), strings.ToLower(leak)) {
				t.Errorf("%s answer %s reveals %q", what, body, leak)
			}
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		status, body, hdr := rawCall(t, srv.URL, "GET", "/api/0/projects/acme/web/issues/", testToken, "")
		if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
			t.Fatalf("API during the outage = %d %s (Retry-After %q), want 503 with Retry-After", status, body, hdr.Get("Retry-After"))
		}
		checkBody("API", body)
		status, body, _ = rawCall(t, srv.URL, "GET", "/readyz", "", "")
		if status != http.StatusServiceUnavailable {
			t.Fatalf("/readyz during the outage = %d %s, want 503", status, body)
		}
		checkBody("/readyz", body)
		if n%5 == 0 {
			status, body, hdr = rawCall(t, srv.URL, "POST", "/api/"+p.ID+"/store/?sentry_key="+dsnKey(t, p.DSN), "", `{"message":"during the outage"}`)
			if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
				t.Fatalf("ingest during the outage = %d %s, want 503 with Retry-After", status, body)
			}
			checkBody("ingest", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	during, mark := rec.since(mark)
	var errs []string
	for _, r := range during {
		if r.Level >= slog.LevelWarn {
			errs = append(errs, r.Message)
		}
	}
	if len(errs) != 1 || errs[0] != "database unavailable" {
		t.Errorf("log during the outage: %d warnings or errors %q, want the outage logged once", len(errs), errs)
	}

	proxy.Up()
	waitFor(t, 10*time.Second, func() bool {
		status, _, _ := rawCall(t, srv.URL, "GET", "/api/0/projects/acme/web/issues/", testToken, "")
		return status == http.StatusOK
	})
	waitFor(t, 10*time.Second, func() bool {
		status, _, _ := rawCall(t, srv.URL, "GET", "/readyz", "", "")
		return status == http.StatusOK
	})
	status, body, _ := rawCall(t, srv.URL, "POST", "/api/"+p.ID+"/store/?sentry_key="+dsnKey(t, p.DSN), "", `{"message":"after the outage"}`)
	if status != http.StatusOK {
		t.Fatalf("ingest after the outage = %d %s", status, body)
	}
	waitFor(t, 10*time.Second, func() bool {
		after, _ := rec.since(mark)
		for _, r := range after {
			if r.Message == "database available again" {
				return true
			}
		}
		return false
	})
	after, _ := rec.since(mark)
	var back int
	for _, r := range after {
		switch {
		case r.Message == "database available again":
			back++
		case r.Level >= slog.LevelWarn:
			t.Errorf("log after the outage: %s", r.Message)
		}
	}
	if back != 1 {
		t.Errorf("the end of the outage was logged %d times, want once", back)
	}
}

// rawCall sends a request with an optional token and body and returns the
// answer as it is.
func rawCall(t *testing.T, baseURL, method, path, token, body string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, baseURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return res.StatusCode, b, res.Header
}

// dsnKey returns the public key of a DSN.
func dsnKey(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		t.Fatalf("DSN %q has no key", dsn)
	}
	return u.User.Username()
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
