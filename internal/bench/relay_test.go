package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/herald-dev/herald"
)

// startTestRelay runs ServeRelay delivering to rc as hook "h1" with
// secret "s3cret" until the test ends, and returns its base URL.
func startTestRelay(t *testing.T, rc *Receiver) string {
	t.Helper()
	rc.AddSecret("h1", "s3cret")
	ctx, cancel := context.WithCancel(context.Background())
	out := &tailBuffer{max: logTail}
	done := make(chan error, 1)
	go func() { done <- ServeRelay(ctx, RelayOptions{URL: rc.HookURL(0), HookID: "h1", Secret: "s3cret"}, out) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeRelay: %v", err)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if m := listeningLine.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("relay printed no listening line: %q", out.String())
	return ""
}

// relayPost posts body to url and returns the status.
func relayPost(t *testing.T, url string, body []byte) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestServeRelay: every event posted to the relay reaches the receiver
// once, wrapped as a Service Hook body that names its event, with a
// signature that verifies; /readyz answers and other methods are refused.
func TestServeRelay(t *testing.T) {
	t.Parallel()
	rc := testReceiver(t)
	url := startTestRelay(t, rc)
	for path, want := range map[string]int{"/readyz": http.StatusOK, "/api/1/store/": http.StatusMethodNotAllowed} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	if got := relayPost(t, url+"/api/1/store/", bytes.Repeat([]byte("x"), maxReceiverBody+1)); got != http.StatusRequestEntityTooLarge {
		t.Fatalf("a body over %d bytes: status %d, want 413", maxReceiverBody, got)
	}
	body := newEventBody(time.Now())
	ids := map[string]bool{}
	for range 40 {
		id := herald.NewID()
		ids[id] = true
		if got := relayPost(t, url+"/api/1/store/", body.with(id, "")); got != http.StatusOK {
			t.Fatalf("status = %d", got)
		}
	}
	if err := rc.waitDelivered(timeoutChan(t, 10*time.Second), 40); err != nil {
		t.Fatal(err)
	}
	rec := rc.snapshot()
	if len(rec.arrivals) != 40 || rec.duplicates != 0 || rec.unparsed != 0 || rec.checked != 3 || rec.badSigs != 0 {
		t.Fatalf("receipt %+v", rec)
	}
	for _, a := range rec.arrivals {
		if !ids[a.eventID] || a.dest != "h1" || a.kind != kindEventCreated {
			t.Fatalf("arrival %+v", a)
		}
		delete(ids, a.eventID)
	}
}

// TestServeRelayRetries: a delivery refused is sent again until the
// receiver takes it.
func TestServeRelayRetries(t *testing.T) {
	t.Parallel()
	rc := testReceiver(t)
	rc.SetStatus(http.StatusServiceUnavailable)
	url := startTestRelay(t, rc)
	if got := relayPost(t, url+"/api/1/store/", newEventBody(time.Now()).with(herald.NewID(), "")); got != http.StatusOK {
		t.Fatalf("status = %d", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for rc.Refused() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if rc.Refused() < 2 || rc.Delivered() != 0 {
		t.Fatalf("refused %d delivered %d, want at least 2 refused and none delivered", rc.Refused(), rc.Delivered())
	}
	rc.SetStatus(http.StatusOK)
	if err := rc.waitDelivered(timeoutChan(t, 10*time.Second), 1); err != nil {
		t.Fatal(err)
	}
}

// TestServeRelayOptions: the relay needs somewhere to deliver.
func TestServeRelayOptions(t *testing.T) {
	t.Parallel()
	for _, opts := range []RelayOptions{
		{HookID: "h", Secret: "s"},
		{URL: "http://127.0.0.1:1/", Secret: "s"},
		{URL: "http://127.0.0.1:1/", HookID: "h"},
	} {
		err := ServeRelay(context.Background(), opts, io.Discard)
		if herald.ErrorCode(err) != herald.EINVALID {
			t.Errorf("ServeRelay(%+v) = %v, want EINVALID", opts, err)
		}
	}
	if err := ServeRelay(context.Background(), RelayOptions{Addr: "256.0.0.1:0", URL: "u", HookID: "h", Secret: "s"}, io.Discard); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("bad address: %v", err)
	}
}

// timeoutChan returns a channel closed after d or when the test ends.
func timeoutChan(t *testing.T, d time.Duration) <-chan struct{} {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx.Done()
}
