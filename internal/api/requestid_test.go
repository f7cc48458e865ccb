package api_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-dev/herald/internal/api"
	"github.com/herald-dev/herald/internal/service"
	"github.com/herald-dev/herald/internal/storetest"
	"github.com/herald-dev/herald/internal/webhook"
)

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.b.String()), "\n")
}

var newRequestID = regexp.MustCompile(`^[0-9a-f]{16}$`)

// TestRequestID checks that every request gets an id, answered in
// X-Request-Id and carried as request_id by the request's log line and by
// the lines a handler logs with the request's context.
func TestRequestID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		sent string // the X-Request-Id sent, if any
		keep bool   // whether it is kept
	}{
		{"New", "", false},
		{"Kept", "edge-7f3a.b_c:1", true},
		{"NotAToken", "two words", false},
		{"Injection", "a\" level=ERROR msg=\"forged", false},
		{"TooLong", strings.Repeat("a", 65), false},
		{"LongestKept", strings.Repeat("a", 64), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs logBuffer
			base := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			// What Start wires: the handlers beside the API log through
			// the same wrapped logger.
			logger := slog.New(api.LogHandler(base.Handler()))
			ingest := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				logger.WarnContext(r.Context(), "ingest says", "event_id", "e1")
				w.WriteHeader(http.StatusAccepted)
			})
			clock := storetest.NewClock(time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC))
			store := storetest.OpenSQLite(t, storetest.Options(clock))
			changes, err := service.New(service.Config{Store: store, Webhooks: &webhook.Notifier{BaseURL: "http://herald.test", Clock: clock}, Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			srv, err := api.NewServer(api.Config{Store: store, Changes: changes, BaseURL: "http://herald.test", Clock: clock,
				Logger: logger, Ingest: ingest})
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("POST", "/api/1/envelope/", strings.NewReader("{}"))
			if tt.sent != "" {
				r.Header.Set("X-Request-Id", tt.sent)
			}
			w := httptest.NewRecorder()
			srv.Handler().ServeHTTP(w, r)

			id := w.Header().Get("X-Request-Id")
			if tt.keep && id != tt.sent {
				t.Fatalf("X-Request-Id = %q, want %q kept", id, tt.sent)
			}
			if !tt.keep && !newRequestID.MatchString(id) {
				t.Fatalf("X-Request-Id = %q, want 16 hex digits", id)
			}
			lines := logs.lines()
			if len(lines) != 2 {
				t.Fatalf("log = %q, want 2 lines", lines)
			}
			for _, l := range lines {
				if strings.Count(l, "request_id=") != 1 || !strings.Contains(l, "request_id="+id) {
					t.Errorf("log line %q does not carry request_id=%s once", l, id)
				}
			}
			if !strings.Contains(lines[0], "ingest says") || !strings.Contains(lines[1], `msg="http request"`) {
				t.Errorf("log = %q", lines)
			}
		})
	}
}

// TestLogHandler checks that only records logged with a request's context
// get request_id, once however often the handler is wrapped.
func TestLogHandler(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	h := api.LogHandler(api.LogHandler(slog.NewTextHandler(&logs, nil)))
	logger := slog.New(h).With("component", "test")
	logger.Info("no request")
	logger.InfoContext(api.WithRequestID(context.Background(), "r1"), "in a request")
	logger.InfoContext(context.Background(), "a context without one")
	lines := logs.lines()
	want := []bool{false, true, false}
	if len(lines) != len(want) {
		t.Fatalf("log = %q", lines)
	}
	for i, l := range lines {
		if got := strings.Contains(l, "request_id=r1"); got != want[i] || strings.Count(l, "request_id=") > 1 ||
			!strings.Contains(l, "component=test") {
			t.Errorf("line %q: request_id=r1 %v, want %v", l, got, want[i])
		}
	}
	if api.RequestID(context.Background()) != "" {
		t.Error("RequestID of a context without one is not empty")
	}
}
