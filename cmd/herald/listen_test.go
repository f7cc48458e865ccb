package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-dev/herald/sentryhook"
)

// syncBuffer is an output that tests can wait on.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	n, err := s.b.Write(p)
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the output holds every one of subs, and returns it.
func (s *syncBuffer) waitFor(t *testing.T, subs ...string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		out := s.String()
		missing := ""
		for _, sub := range subs {
			if !strings.Contains(out, sub) {
				missing = sub
				break
			}
		}
		if missing == "" {
			return out
		}
		select {
		case <-s.changed:
		case <-deadline:
			t.Fatalf("output lacks %q:\n%s", missing, out)
		}
	}
}

// startListen runs herald listen on a free loopback port with args and
// returns its URL and output; it is stopped when the test ends.
func startListen(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	out := newSyncBuffer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, append([]string{"listen", "--addr", "127.0.0.1:0"}, args...), out, io.Discard, noEnv)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("listen: %v", err)
		}
	})
	text := out.waitFor(t, "listening on http://")
	addr := strings.Fields(text[strings.Index(text, "http://"):])[0]
	return addr, out
}

// trigger runs herald trigger and returns its output and error.
func trigger(t *testing.T, event, url, secret string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := Run(context.Background(), []string{"trigger", event, "--url", url, "--secret", secret}, &out, io.Discard, noEnv)
	return out.String(), err
}

func TestListen(t *testing.T) {
	t.Parallel()
	const secret = "listen-secret"

	t.Run("Valid", func(t *testing.T) {
		t.Parallel()
		url, out := startListen(t, "--secret", "old,"+secret)
		got, err := trigger(t, "issue.assigned", url+"/sentry-hook", secret)
		if err != nil || !strings.Contains(got, "200 OK") {
			t.Fatalf("trigger: %v\n%s", err, got)
		}
		out.waitFor(t,
			"POST /sentry-hook",
			"event         issue.assigned (Sentry App; resource issue, action assigned)",
			"installation  a8e5d37a-696c-4c54-aac1-4a51b40ce7d9",
			"actor         user 1 (Jane Doe)",
			"issue id      1170 WEB-1",
			"signature     valid (Sentry-Hook-Signature)",
			"\n  \"action\": \"assigned\",\n",
			"      \"shortId\": \"WEB-1\",\n",
		)
	})
	t.Run("ServiceHook", func(t *testing.T) {
		t.Parallel()
		url, out := startListen(t, "--secret", secret)
		if _, err := trigger(t, "event.alert", url, secret); err != nil {
			t.Fatal(err)
		}
		out.waitFor(t, "event         event.alert (Service Hook; resource event, action alert)", "hook id ", "event id      9fac2ceed9344f2bbfdd1fdacb0ed9b1",
			"signature     valid (X-ServiceHook-Signature)", "dedupe key    request:")
	})
	t.Run("ErrSignatureMismatch", func(t *testing.T) {
		t.Parallel()
		url, out := startListen(t, "--secret", secret)
		_, err := trigger(t, "comment.deleted", url, "wrong")
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("trigger err = %v, want a 401", err)
		}
		text := out.waitFor(t, "event         comment.deleted", "signature     INVALID: signature mismatch")
		if strings.Contains(text, secret) {
			t.Fatal("output shows the secret")
		}
	})
	t.Run("NoSecret", func(t *testing.T) {
		t.Parallel()
		url, out := startListen(t)
		if _, err := trigger(t, "installation.created", url, "anything"); err != nil {
			t.Fatal(err)
		}
		out.waitFor(t, "signatures NOT checked", "signature     not checked (no --secret), in Sentry-Hook-Signature")
	})
	t.Run("NotAPayload", func(t *testing.T) {
		t.Parallel()
		url, out := startListen(t, "--secret", secret)
		req, _ := http.NewRequest("POST", url, strings.NewReader("hello"))
		sentryhook.SignRequest(req, secret, []byte("hello"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("status = %d, want 400", resp.StatusCode)
		}
		out.waitFor(t, "payload       invalid payload: body is not a JSON object", "signature     valid", "\nhello\n")
	})
	t.Run("TooLarge", func(t *testing.T) {
		t.Parallel()
		url, out := startListen(t, "--secret", secret, "--max-body-bytes", "100")
		_, err := trigger(t, "error.created", url, secret)
		if err == nil || !strings.Contains(err.Error(), "413") {
			t.Fatalf("trigger err = %v, want a 413", err)
		}
		out.waitFor(t, "rejected      body too large")
	})
	t.Run("Forward", func(t *testing.T) {
		t.Parallel()
		hr := newHookReceiver(t)
		hr.use(t, secret)
		url, out := startListen(t, "--secret", secret, "--forward-to", hr.URL+"/app/hook")
		got, err := trigger(t, "metric_alert.critical", url, secret)
		if err != nil {
			t.Fatalf("trigger: %v\n%s", err, got)
		}
		// The answer is the receiver's, relayed.
		if !strings.Contains(got, "202 Accepted") || !strings.Contains(got, "accepted") {
			t.Fatalf("trigger output:\n%s", got)
		}
		d := hr.next(t)
		if d.Event() != "metric_alert.critical" || d.RequestID == "" {
			t.Fatalf("forwarded delivery = %+v", d)
		}
		out.waitFor(t, "forwarded     "+hr.URL+"/app/hook: 202 Accepted", "request id    "+d.RequestID)
	})
	t.Run("ForwardFails", func(t *testing.T) {
		t.Parallel()
		// A destination that hangs up on every request. (A closed
		// listener's port may be the one the listener gets next.)
		dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			c, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				c.Close()
			}
		}))
		t.Cleanup(dead.Close)
		url, out := startListen(t, "--secret", secret, "--forward-to", dead.URL)
		if _, err := trigger(t, "issue.created", url, secret); err == nil || !strings.Contains(err.Error(), "502") {
			t.Fatalf("trigger err = %v, want a 502", err)
		}
		out.waitFor(t, "forwarded     "+dead.URL+": failed")
	})
	t.Run("ForwardLoop", func(t *testing.T) {
		t.Parallel()
		// Forwarding to itself: the delivery comes back once and is
		// answered 508 instead of being forwarded again.
		addr := freeAddr(t)
		url, out := startListen(t, "--secret", secret, "--addr", addr, "--forward-to", "http://"+addr+"/")
		if _, err := trigger(t, "issue.created", url, secret); err == nil || !strings.Contains(err.Error(), "508") {
			t.Fatalf("trigger err = %v, want a 508", err)
		}
		text := out.waitFor(t, "forwarded     not again: this listener forwarded it")
		if n := strings.Count(text, "--- "); n != 2 {
			t.Errorf("the listener printed %d deliveries, want 2 (the trigger's and its one return):\n%s", n, text)
		}
	})
}

func TestListenArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "ErrForwardTo", args: []string{"--forward-to", "127.0.0.1:3000"}, want: "forward-to: must be an absolute http(s) URL"},
		{name: "ErrArgument", args: []string{"extra"}, want: `unexpected argument "extra"`},
		{name: "ErrMaxBody", args: []string{"--max-body-bytes", "0"}, want: "max-body-bytes: must be positive"},
		{name: "ErrAddr", args: []string{"--addr", "256.0.0.1:bad"}, want: "listen: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			err := Run(ctx, append([]string{"listen"}, tt.args...), io.Discard, io.Discard, noEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
