package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/herald-dev/herald/internal/webhook"
	"github.com/herald-dev/herald/sentryhook"
	"github.com/herald-dev/herald/sentryhook/sentryhooktest"
)

// noEnv is a getenv with nothing set.
func noEnv(string) string { return "" }

// TestTriggerSampleBodies: the body herald trigger sends for every event is
// the event's reference payload, byte for byte in its compact form.
func TestTriggerSampleBodies(t *testing.T) {
	t.Parallel()
	events := webhook.Events()
	if len(events) != len(sentryhooktest.Events()) {
		t.Fatalf("%d events in the catalog, %d samples", len(events), len(sentryhooktest.Events()))
	}
	for _, event := range events {
		t.Run(event, func(t *testing.T) {
			t.Parallel()
			got, err := sampleBody(event)
			if err != nil {
				t.Fatal(err)
			}
			if want := sentryhooktest.MustPayload(event); !bytes.Equal(got, want) {
				t.Fatalf("body =\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// capture is a receiver that keeps the last request it got.
type capture struct {
	*httptest.Server
	mu     sync.Mutex
	header http.Header
	body   []byte
	n      int
}

func newCapture(t *testing.T, status int) *capture {
	t.Helper()
	c := &capture{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.header, c.body = r.Header.Clone(), body
		c.n++
		c.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "thanks")
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *capture) last() (http.Header, []byte, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.header, c.body, c.n
}

func TestTrigger(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	custom := filepath.Join(dir, "custom.json")
	if err := os.WriteFile(custom, []byte("{\n  \"action\": \"created\",\n  \"data\": {\"comment_id\": 9}\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notJSON := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(notJSON, []byte(`{"action":`), 0o600); err != nil {
		t.Fatal(err)
	}
	array := filepath.Join(dir, "array.json")
	if err := os.WriteFile(array, []byte(`[1]`), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		args     func(url string) []string
		env      map[string]string
		status   int
		wantErr  string
		wantOut  []string
		wantSent bool
		wantBody string
	}{
		{
			name:     "ServiceHook",
			args:     func(u string) []string { return []string{"event.created", "--url", u, "--secret", "s3cret"} },
			wantOut:  []string{"POST ", "X-Sentry-Hook-Signature: ", "X-Servicehook-Guid: ", `"triggering_rules":[]`, "200 OK", "thanks"},
			wantSent: true,
		},
		{
			name:     "EventAfterFlags",
			args:     func(u string) []string { return []string{"--url", u, "--secret", "s3cret", "issue.assigned"} },
			wantOut:  []string{"Sentry-Hook-Resource: issue", `"action":"assigned"`},
			wantSent: true,
		},
		{
			name:     "FromEnvironment",
			args:     func(u string) []string { return []string{"metric_alert.open"} },
			env:      map[string]string{"HERALD_TRIGGER_SECRET": "s3cret"},
			wantOut:  []string{"Sentry-Hook-Resource: metric_alert"},
			wantSent: true,
		},
		{
			name: "PayloadFile",
			args: func(u string) []string {
				return []string{"comment.created", "--url", u, "--secret", "s3cret", "--payload", custom}
			},
			wantSent: true, wantBody: `{"action":"created","data":{"comment_id":9}}`,
		},
		{
			name:    "DryRun",
			args:    func(u string) []string { return []string{"error.created", "--secret", "s3cret", "--dry-run"} },
			wantOut: []string{"Sentry-Hook-Signature: ", `"error":{"event_id":"9fac2ceed9344f2bbfdd1fdacb0ed9b1"`},
		},
		{
			name:     "ErrNon2xx",
			args:     func(u string) []string { return []string{"event.alert", "--url", u, "--secret", "s3cret"} },
			status:   401,
			wantErr:  "the receiver answered 401 Unauthorized",
			wantSent: true,
		},
		{name: "ErrNoEvent", args: func(u string) []string { return []string{"--url", u, "--secret", "s"} }, wantErr: "name an event: event.alert, event.created, issue.created"},
		{name: "ErrUnknownEvent", args: func(u string) []string { return []string{"issue.archived", "--url", u, "--secret", "s"} }, wantErr: `unknown event "issue.archived"`},
		{name: "ErrNoSecret", args: func(u string) []string { return []string{"issue.created", "--url", u} }, wantErr: "secret: must not be empty"},
		{name: "ErrNoURL", args: func(u string) []string { return []string{"issue.created", "--secret", "s"} }, wantErr: "url: must be an absolute http(s) URL"},
		{name: "ErrURLScheme", args: func(u string) []string { return []string{"issue.created", "--url", "ftp://x/", "--secret", "s"} }, wantErr: "url: must be an absolute"},
		{name: "ErrExtraArgument", args: func(u string) []string { return []string{"issue.created", "--url", u, "--secret", "s", "more"} }, wantErr: `unexpected argument "more"`},
		{name: "ErrPayloadMissing", args: func(u string) []string {
			return []string{"issue.created", "--url", u, "--secret", "s", "--payload", filepath.Join(dir, "none.json")}
		}, wantErr: "payload: open"},
		{name: "ErrPayloadNotJSON", args: func(u string) []string {
			return []string{"issue.created", "--url", u, "--secret", "s", "--payload", notJSON}
		}, wantErr: "is not valid JSON"},
		{name: "ErrPayloadNotObject", args: func(u string) []string {
			return []string{"issue.created", "--url", u, "--secret", "s", "--payload", array}
		}, wantErr: "does not hold a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status := tt.status
			if status == 0 {
				status = 200
			}
			rc := newCapture(t, status)
			getenv := noEnv
			if tt.env != nil {
				env := map[string]string{"HERALD_TRIGGER_URL": rc.URL + "/hook"}
				for k, v := range tt.env {
					env[k] = v
				}
				getenv = func(k string) string { return env[k] }
			}
			var stdout, stderr bytes.Buffer
			err := Run(context.Background(), append([]string{"trigger"}, tt.args(rc.URL+"/hook")...), &stdout, &stderr, getenv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("trigger: %v\n%s", err, stderr.String())
			}
			for _, s := range tt.wantOut {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("output lacks %q:\n%s", s, stdout.String())
				}
			}
			if strings.Contains(stdout.String(), "s3cret") {
				t.Error("output shows the secret")
			}
			header, body, n := rc.last()
			if sent := n > 0; sent != tt.wantSent {
				t.Fatalf("sent = %v, want %v", sent, tt.wantSent)
			}
			if !tt.wantSent {
				return
			}
			if err := sentryhook.VerifyHeader(header, body, "s3cret"); err != nil {
				t.Fatalf("the request does not verify: %v", err)
			}
			if tt.wantBody != "" && string(body) != tt.wantBody {
				t.Fatalf("body = %s, want %s", body, tt.wantBody)
			}
		})
	}
}
