package sentryhook_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-dev/herald/sentryhook"
	"github.com/herald-dev/herald/sentryhook/sentryhooktest"
)

// recorder is a Process function that records what it is given.
type recorder struct {
	mu   sync.Mutex
	got  []*sentryhook.Delivery
	keys map[string]int
}

func (r *recorder) process(_ context.Context, d *sentryhook.Delivery) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, d)
	if r.keys == nil {
		r.keys = map[string]int{}
	}
	r.keys[d.DedupeKey()]++
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// newHandler returns a Handler with opts (Secrets defaulting to secret),
// shut down when the test ends.
func newHandler(t *testing.T, opts sentryhook.HandlerOptions) *sentryhook.Handler {
	t.Helper()
	if opts.Secrets == nil {
		opts.Secrets = []string{secret}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	h, err := sentryhook.NewHandler(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	return h
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// serve runs req through h and returns the response.
func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// sample returns a signed request of a Service Hook delivery whose event id
// is n, so that every n is a distinct delivery.
func sample(n int, key string) *http.Request {
	body := fmt.Appendf(nil, `{"id":"1","project":"web","triggering_rules":[],"event":{"event_id":"%032x"}}`, n)
	return sentryhooktest.NewRequest("http://127.0.0.1/hook", "event.created", key, body)
}

func mustCode(t *testing.T, w *httptest.ResponseRecorder, want int) {
	t.Helper()
	if w.Code != want {
		t.Fatalf("status = %d (%q), want %d", w.Code, w.Body.String(), want)
	}
}

func TestNewHandlerErrors(t *testing.T) {
	t.Parallel()
	process := func(context.Context, *sentryhook.Delivery) error { return nil }
	tests := []struct {
		name string
		opts sentryhook.HandlerOptions
		want string
	}{
		{name: "ErrNoSecrets", opts: sentryhook.HandlerOptions{Process: process}, want: "no secret"},
		{name: "ErrEmptySecret", opts: sentryhook.HandlerOptions{Secrets: []string{"a", ""}, Process: process}, want: "no secret"},
		{name: "ErrNoProcess", opts: sentryhook.HandlerOptions{Secrets: []string{"a"}}, want: "Process is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := sentryhook.NewHandler(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestHandlerResponses(t *testing.T) {
	t.Parallel()
	big := sentryhooktest.MustPayload("error.created")
	tests := []struct {
		name     string
		opts     sentryhook.HandlerOptions
		requests func() []*http.Request
		want     []int
		wantBody string // of the last response
		want1    int    // deliveries processed
	}{
		{
			name:     "Accepted",
			requests: func() []*http.Request { return []*http.Request{sample(1, secret)} },
			want:     []int{202}, wantBody: "accepted\n", want1: 1,
		},
		{
			name: "Duplicate",
			requests: func() []*http.Request {
				r := sample(1, secret)
				again := r.Clone(context.Background())
				again.Body, _ = r.GetBody()
				return []*http.Request{r, again}
			},
			want: []int{202, 200}, wantBody: "duplicate\n", want1: 1,
		},
		{
			name: "SameEventOtherRequestID",
			requests: func() []*http.Request {
				// Each request carries its own Request-ID: distinct deliveries.
				return []*http.Request{sample(1, secret), sample(1, secret)}
			},
			want: []int{202, 202}, want1: 2,
		},
		{
			name:     "RotatedSecrets",
			opts:     sentryhook.HandlerOptions{Secrets: []string{"new", secret}},
			requests: func() []*http.Request { return []*http.Request{sample(1, secret), sample(2, "new")} },
			want:     []int{202, 202}, want1: 2,
		},
		{
			name: "SentryApp",
			requests: func() []*http.Request {
				return []*http.Request{sentryhooktest.NewRequest("http://127.0.0.1/", "issue.created", secret, sentryhooktest.MustPayload("issue.created"))}
			},
			want: []int{202}, want1: 1,
		},
		{
			name:     "ErrBadSignature",
			requests: func() []*http.Request { return []*http.Request{sample(1, "wrong")} },
			want:     []int{401}, wantBody: "unauthorized\n",
		},
		{
			name: "ErrMissingSignature",
			requests: func() []*http.Request {
				r := sample(1, secret)
				r.Header.Del(sentryhook.HeaderServiceHookSignature)
				r.Header.Del(sentryhook.HeaderSentryHookSignature)
				return []*http.Request{r}
			},
			want: []int{401}, wantBody: "unauthorized\n",
		},
		{
			name: "ErrMalformedSignature",
			requests: func() []*http.Request {
				r := sample(1, secret)
				r.Header.Set(sentryhook.HeaderSentryHookSignature, "nothex")
				return []*http.Request{r}
			},
			want: []int{401}, wantBody: "unauthorized\n",
		},
		{
			name: "ErrTooLarge",
			opts: sentryhook.HandlerOptions{MaxBodyBytes: 1000},
			requests: func() []*http.Request {
				return []*http.Request{sentryhooktest.NewRequest("http://127.0.0.1/", "error.created", secret, big)}
			},
			want: []int{413}, wantBody: "body too large\n",
		},
		{
			name: "ErrTooLargeChunked",
			opts: sentryhook.HandlerOptions{MaxBodyBytes: 1000},
			requests: func() []*http.Request {
				r := sentryhooktest.NewRequest("http://127.0.0.1/", "error.created", secret, big)
				r.ContentLength = -1
				return []*http.Request{r}
			},
			want: []int{413},
		},
		{
			name:     "ErrMethod",
			requests: func() []*http.Request { return []*http.Request{httptest.NewRequest("GET", "/", nil)} },
			want:     []int{405},
		},
		{
			name: "ErrInvalidPayload",
			requests: func() []*http.Request {
				return []*http.Request{sentryhooktest.NewRequest("http://127.0.0.1/", "event.created", secret, []byte(`["id"]`))}
			},
			want: []int{400}, wantBody: "invalid payload: body is not a JSON object\n",
		},
		{
			name:     "ErrDeduper",
			opts:     sentryhook.HandlerOptions{Deduper: failingDeduper{}, RetryAfter: 1500 * time.Millisecond},
			requests: func() []*http.Request { return []*http.Request{sample(1, secret)} },
			want:     []int{503},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var rec recorder
			tt.opts.Process = rec.process
			h := newHandler(t, tt.opts)
			var last *httptest.ResponseRecorder
			for i, req := range tt.requests() {
				last = serve(h, req)
				if last.Code != tt.want[i] {
					t.Fatalf("request %d: status = %d (%q), want %d", i+1, last.Code, last.Body.String(), tt.want[i])
				}
			}
			if tt.wantBody != "" && last.Body.String() != tt.wantBody {
				t.Fatalf("body = %q, want %q", last.Body.String(), tt.wantBody)
			}
			if last.Code == 503 && last.Header().Get("Retry-After") != "2" {
				t.Fatalf("Retry-After = %q, want 2", last.Header().Get("Retry-After"))
			}
			if err := h.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if rec.count() != tt.want1 {
				t.Fatalf("processed %d deliveries, want %d", rec.count(), tt.want1)
			}
		})
	}
}

// failingDeduper fails every call.
type failingDeduper struct{}

func (failingDeduper) Seen(context.Context, string) (bool, error) { return false, errors.New("down") }
func (failingDeduper) Forget(context.Context, string) error       { return errors.New("down") }

// TestHandlerConcurrentDuplicates: many deliveries, each arriving three
// times at once over real HTTP, are each processed exactly once.
func TestHandlerConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	var rec recorder
	h := newHandler(t, sentryhook.HandlerOptions{Process: rec.process, Workers: 8, QueueSize: 200})
	srv := httptest.NewServer(h)
	defer srv.Close()

	const deliveries, copies = 100, 3
	codes := make(chan int, deliveries*copies)
	var wg sync.WaitGroup
	for n := range deliveries {
		req := sample(n, secret)
		body, _ := io.ReadAll(req.Body)
		for range copies {
			wg.Go(func() {
				r, _ := http.NewRequest("POST", srv.URL, strings.NewReader(string(body)))
				r.Header = req.Header.Clone()
				resp, err := srv.Client().Do(r)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				codes <- resp.StatusCode
			})
		}
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[202] != deliveries || count[200] != deliveries*(copies-1) {
		t.Fatalf("statuses = %v, want %d×202 and %d×200", count, deliveries, deliveries*(copies-1))
	}
	if err := h.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(rec.keys) != deliveries {
		t.Fatalf("processed %d distinct deliveries, want %d", len(rec.keys), deliveries)
	}
	for k, n := range rec.keys {
		if n != 1 {
			t.Fatalf("%s processed %d times", k, n)
		}
	}
}

// blocker is a Process function that blocks until released, telling when
// each call starts.
type blocker struct {
	started chan string
	release chan struct{}
	rec     recorder
}

func newBlocker() *blocker {
	return &blocker{started: make(chan string, 100), release: make(chan struct{})}
}

func (b *blocker) process(ctx context.Context, d *sentryhook.Delivery) error {
	b.started <- d.DedupeKey()
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.rec.process(ctx, d)
}

// TestHandlerSlowProcessing: a slow Process does not slow the answers;
// when the queue is full the sender is told to retry, and the retry is
// taken on once there is room.
func TestHandlerSlowProcessing(t *testing.T) {
	t.Parallel()
	b := newBlocker()
	h := newHandler(t, sentryhook.HandlerOptions{Process: b.process, Workers: 1, QueueSize: 2})

	mustCode(t, serve(h, sample(1, secret)), 202)
	<-b.started // the worker is busy with delivery 1
	mustCode(t, serve(h, sample(2, secret)), 202)
	mustCode(t, serve(h, sample(3, secret)), 202)

	full := sample(4, secret)
	retry := full.Clone(context.Background())
	retry.Body, _ = full.GetBody()
	w := serve(h, full)
	mustCode(t, w, 503)
	if w.Header().Get("Retry-After") != "5" {
		t.Fatalf("Retry-After = %q", w.Header().Get("Retry-After"))
	}

	close(b.release)
	// Deliveries 2 and 3 have left the queue once they start.
	<-b.started
	<-b.started
	// The same delivery (same Request-ID) is now accepted: the refusal
	// did not mark it as seen.
	mustCode(t, serve(h, retry), 202)
	if err := h.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b.rec.count() != 4 {
		t.Fatalf("processed %d, want 4", b.rec.count())
	}
}

func TestHandlerShutdown(t *testing.T) {
	t.Parallel()
	t.Run("DrainsQueue", func(t *testing.T) {
		t.Parallel()
		b := newBlocker()
		h := newHandler(t, sentryhook.HandlerOptions{Process: b.process, Workers: 1, QueueSize: 10})
		for n := range 3 {
			mustCode(t, serve(h, sample(n, secret)), 202)
		}
		<-b.started
		done := make(chan error, 1)
		go func() { done <- h.Shutdown(context.Background()) }()

		// Deliveries accepted until the shutdown closes the door.
		accepted := 3
		for n := 100; ; n++ {
			w := serve(h, sample(n, secret))
			if w.Code == 503 {
				break
			}
			mustCode(t, w, 202)
			accepted++
		}
		select {
		case err := <-done:
			t.Fatalf("Shutdown returned %v while a delivery was still processing", err)
		default:
		}
		close(b.release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if b.rec.count() != accepted {
			t.Fatalf("processed %d, want every accepted delivery (%d)", b.rec.count(), accepted)
		}
		mustCode(t, serve(h, sample(999, secret)), 503)
	})
	t.Run("GivesUp", func(t *testing.T) {
		t.Parallel()
		b := newBlocker()
		h := newHandler(t, sentryhook.HandlerOptions{Process: b.process, Workers: 1, QueueSize: 10})
		mustCode(t, serve(h, sample(1, secret)), 202)
		<-b.started
		mustCode(t, serve(h, sample(2, secret)), 202) // queued behind 1

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := h.Shutdown(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Shutdown = %v, want context.Canceled", err)
		}
		// Process saw its context cancelled; the queued delivery was
		// dropped without being processed.
		if err := h.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(b.started) != 0 || b.rec.count() != 0 {
			t.Fatalf("started %d more, processed %d; want none", len(b.started), b.rec.count())
		}
	})
}

// forgetNotifier is a MemoryDeduper that tells when a key is forgotten.
type forgetNotifier struct {
	*sentryhook.MemoryDeduper
	forgot chan string
}

func (f forgetNotifier) Forget(ctx context.Context, key string) error {
	err := f.MemoryDeduper.Forget(ctx, key)
	f.forgot <- key
	return err
}

// TestHandlerProcessFailure: a delivery whose processing fails or panics is
// forgotten, so its redelivery is processed again.
func TestHandlerProcessFailure(t *testing.T) {
	t.Parallel()
	for _, fail := range []string{"Error", "Panic"} {
		t.Run(fail, func(t *testing.T) {
			t.Parallel()
			var rec recorder
			calls := 0
			process := func(ctx context.Context, d *sentryhook.Delivery) error {
				calls++
				if calls == 1 {
					if fail == "Panic" {
						panic("boom")
					}
					return errors.New("database down")
				}
				return rec.process(ctx, d)
			}
			dd := forgetNotifier{sentryhook.NewMemoryDeduper(sentryhook.MemoryDeduperOptions{}), make(chan string, 1)}
			h := newHandler(t, sentryhook.HandlerOptions{Process: process, Workers: 1, Deduper: dd})
			req := sample(1, secret)
			again := req.Clone(context.Background())
			again.Body, _ = req.GetBody()
			mustCode(t, serve(h, req), 202)
			if key := <-dd.forgot; key != "request:"+req.Header.Get("Request-ID") {
				t.Fatalf("forgot %q", key)
			}
			mustCode(t, serve(h, again), 202)
			if err := h.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if rec.count() != 1 || calls != 2 {
				t.Fatalf("calls = %d, processed = %d", calls, rec.count())
			}
		})
	}
}
