package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// What old clients send: sentry-cli's cron check-ins, and the store bodies
// of the raven SDKs.

// TestSentryCLIMonitorsRun wraps commands in `sentry-cli monitors run`,
// which posts an envelope with a check_in item before and after the
// command. Herald has no cron monitors: it answers 200 and drops the
// check-ins, as Sentry's Relay answers items a project does not take, so
// sentry-cli reports no failure around the command (on any other answer it
// prints an error before and after it, and retries a 503 for some twenty
// seconds each time) and passes the command's exit code on. No event
// results from a check-in.
func TestSentryCLIMonitorsRun(t *testing.T) {
	t.Parallel()
	cli := clientPath(t, "HERALD_TEST_SENTRY_CLI")
	srv := MustStart(t, testConfig(t, sqliteBackend))
	p := setUp(t, srv)
	rc := newReceiver(t, nil)
	h := createHook(t, srv, rc.URL, "event.created")
	rc.setSecret(h.Secret)

	run := func(t *testing.T, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(cli, args...)
		cmd.Env = append(os.Environ(), "SENTRY_DSN="+p.DSN, "SENTRY_LOAD_DOTENV=0")
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return string(out), exit.ExitCode()
		} else if err != nil {
			t.Fatalf("sentry-cli %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out), 0
	}
	tests := []struct {
		name   string
		args   []string
		code   int    // the wrapped command's exit code
		output string // what the wrapped command prints
	}{
		{"Succeeds", []string{"monitors", "run", "nightly-report", "--", "sh", "-c", "echo report done"}, 0, "report done"},
		{"Fails", []string{"monitors", "run", "nightly-report", "--", "sh", "-c", "echo disk full >&2; exit 3"}, 3, "disk full"},
		{"WithSchedule", []string{"monitors", "run", "-s", "*/5 * * * *", "--check-in-margin", "5", "--max-runtime", "10",
			"--timezone", "Europe/Vienna", "-e", "staging", "nightly-report", "--", "sh", "-c", "echo scheduled"}, 0, "scheduled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := run(t, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.output) {
				t.Errorf("exit code %d, output:\n%s\nwant exit code %d and %q", code, out, tt.code, tt.output)
			}
			if strings.Contains(out, "Failed to send") || strings.Contains(out, "ERROR") {
				t.Errorf("sentry-cli reports a failed check-in:\n%s", out)
			}
		})
	}

	// The check-ins made no issue: the project's only one is that of the
	// event sent after them, which is also the first delivery.
	out, code := run(t, "send-event", "-m", "after the check-ins")
	i := strings.Index(out, "Event id: ")
	if code != 0 || i < 0 {
		t.Fatalf("send-event (exit code %d):\n%s", code, out)
	}
	eventID := strings.ReplaceAll(strings.TrimSpace(strings.SplitN(out[i+len("Event id: "):], "\n", 2)[0]), "-", "")
	var issues []struct {
		Title string `json:"title"`
	}
	mustStatus(t, 200, call(t, srv.URL, "GET", "/api/0/projects/acme/web/issues/?query=", nil, &issues))
	if len(issues) != 1 || issues[0].Title != "after the check-ins" {
		t.Errorf("issues = %+v, want the one of the event sent", issues)
	}
	waitEvent(t, rc, eventID)
	rc.mu.Lock()
	n := len(rc.got)
	rc.mu.Unlock()
	if n != 1 {
		t.Errorf("the hook received %d deliveries, want 1", n)
	}
}

// TestOldSDKStoreRequests replays requests that the raven SDKs sent, byte
// for byte but for the project and key (internal/ingest/testdata/legacy):
// base64 of zlib-compressed JSON from raven-node, raven-ruby and raven-go,
// and raven-go's plain JSON. Each is answered with its event id and
// delivered to a Service Hook.
func TestOldSDKStoreRequests(t *testing.T) {
	t.Parallel()
	srv := MustStart(t, testConfig(t, sqliteBackend))
	p := setUp(t, srv)
	dsn, err := url.Parse(p.DSN)
	if err != nil {
		t.Fatal(err)
	}
	key := dsn.User.Username()
	rc := newReceiver(t, nil)
	h := createHook(t, srv, rc.URL, "event.created")
	rc.setSecret(h.Secret)

	tests := []struct {
		file     string
		eventID  string
		platform string
	}{
		{"raven-node-2.6.4.http", "0674f1b4af69444a9d9beb06803a3985", "node"},
		{"raven-ruby-3.1.2.http", "03eff317725949af8a0c6edff90245b0", "ruby"},
		{"raven-go-0.2.0-small.http", "4c651dfc1dd846638013237136eda45b", "go"},
		{"raven-go-0.2.0-large.http", "715554b72a924029a539f818b6586312", "go"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("..", "..", "internal", "ingest", "testdata", "legacy", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			sent, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(sent.Body)
			if err != nil {
				t.Fatal(err)
			}
			req, err := http.NewRequest("POST", srv.URL+strings.Replace(sent.URL.Path, "/42/", "/"+p.ID+"/", 1), bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range sent.Header {
				if k != "Host" && k != "Content-Length" && k != "Connection" {
					req.Header[k] = v
				}
			}
			req.Header.Set("X-Sentry-Auth", strings.Replace(sent.Header.Get("X-Sentry-Auth"), "3f1b2c4d5e6f40718293a4b5c6d7e8f9", key, 1))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(answer) != `{"id":"`+tt.eventID+`"}` {
				t.Fatalf("got %d %s", resp.StatusCode, answer)
			}
			if got := waitEvent(t, rc, tt.eventID); got.Event.Platform != tt.platform {
				t.Errorf("delivered platform %q, want %q", got.Event.Platform, tt.platform)
			}
		})
	}
}
