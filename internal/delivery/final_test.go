package delivery

import (
	"cmp"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/herald-dev/herald"
)

func TestFinal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code       int
		final      bool
		retryAfter bool
	}{
		{0, false, false}, // no answer: timeout, connection refused or reset
		{200, false, false},
		{204, false, false},
		{302, false, false},
		{308, false, false},
		{400, true, false},
		{401, true, false},
		{403, true, false},
		{404, true, false},
		{405, true, false},
		{408, false, true},
		{409, true, false},
		{410, true, false},
		{413, true, false},
		{415, true, false},
		{422, true, false},
		{425, false, true},
		{429, false, true},
		{451, true, false},
		{499, true, false},
		{500, false, false},
		{502, false, false},
		{503, false, true},
		{504, false, false},
		{599, false, false},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			t.Parallel()
			if got := final(tt.code); got != tt.final {
				t.Fatalf("final(%d) = %v, want %v", tt.code, got, tt.final)
			}
			if got := honoursRetryAfter(tt.code); got != tt.retryAfter {
				t.Fatalf("honoursRetryAfter(%d) = %v, want %v", tt.code, got, tt.retryAfter)
			}
		})
	}
	// Every code outside 4xx is retried; within 4xx only the three
	// "not now" answers are.
	for code := range 1000 {
		want := code >= 400 && code < 500 && code != 408 && code != 425 && code != 429
		if got := final(code); got != want {
			t.Fatalf("final(%d) = %v, want %v", code, got, want)
		}
	}
}

// TestDispatchStatus sends one delivery to a receiver answering each status
// (or not answering) and checks what becomes of it: a final 4xx is failed
// after that one attempt, with the answer recorded, and never sent again
// however far the clock moves; every other failure is due again at the
// schedule's step or the receiver's longer Retry-After, not a second
// earlier, and is then sent again.
func TestDispatchStatus(t *testing.T) {
	t.Parallel()
	// With a Rand of 0.5 the jitter is exactly 1: the first wait is the
	// schedule's first step.
	firstStep := DefaultSchedule[0]
	tests := []struct {
		name    string
		kind    string // default DestinationHook
		status  int    // the receiver's answer; 0 with refuse or hang
		header  map[string]string
		body    string
		refuse  bool // nothing listens at the destination
		hang    bool // the receiver never answers
		before  int  // attempts made before this one
		wantErr string
		// wantWait is the wait before the next attempt from the clock;
		// 0 means the delivery is failed.
		wantWait time.Duration
	}{
		{name: "BadRequest", status: 400, body: `{"detail":"unhandled event"}`, wantErr: "non-2xx status 400 (a 4xx answer is not retried)"},
		{name: "Unauthorized", status: 401, body: "bad signature", wantErr: "non-2xx status 401 (a 4xx answer is not retried)"},
		{name: "Forbidden", status: 403, wantErr: "non-2xx status 403 (a 4xx answer is not retried)"},
		{name: "NotFound", status: 404, body: "404 page not found", wantErr: "non-2xx status 404 (a 4xx answer is not retried)"},
		{name: "Conflict", status: 409, wantErr: "non-2xx status 409 (a 4xx answer is not retried)"},
		{name: "Gone", status: 410, wantErr: "non-2xx status 410 (a 4xx answer is not retried)"},
		{name: "ContentTooLarge", status: 413, wantErr: "non-2xx status 413 (a 4xx answer is not retried)"},
		{name: "UnprocessableEntity", status: 422, body: `{"error":"invalid payload"}`, wantErr: "non-2xx status 422 (a 4xx answer is not retried)"},
		{name: "BadRequestRetryAfterIgnored", status: 400, header: map[string]string{"Retry-After": "60"}, wantErr: "non-2xx status 400 (a 4xx answer is not retried)"},
		{name: "BadRequestAfterRetries", status: 400, before: 3, wantErr: "non-2xx status 400 (a 4xx answer is not retried)"},
		{
			// Sentry's example integration answers 400 to metric_alert.open.
			name: "AppBadRequest", kind: herald.DestinationApp, status: 400, body: "unsupported action",
			wantErr: "non-2xx status 400 (a 4xx answer is not retried)",
		},
		{name: "RequestTimeout", status: 408, wantErr: "non-2xx status 408", wantWait: firstStep},
		{name: "RequestTimeoutRetryAfter", status: 408, header: map[string]string{"Retry-After": "60"}, wantErr: "non-2xx status 408", wantWait: time.Minute},
		{name: "TooEarly", status: 425, wantErr: "non-2xx status 425", wantWait: firstStep},
		{name: "TooManyRequests", status: 429, wantErr: "non-2xx status 429", wantWait: firstStep},
		{name: "TooManyRequestsRetryAfter", status: 429, header: map[string]string{"Retry-After": "120"}, wantErr: "non-2xx status 429", wantWait: 2 * time.Minute},
		{
			name: "TooManyRequestsRetryAfterDate", status: 429,
			header:  map[string]string{"Retry-After": testNow.Add(10 * time.Minute).Format(http.TimeFormat)},
			wantErr: "non-2xx status 429", wantWait: 10 * time.Minute,
		},
		{name: "TooManyRequestsRetryAfterShorter", status: 429, header: map[string]string{"Retry-After": "1"}, before: 1, wantErr: "non-2xx status 429", wantWait: DefaultSchedule[1]},
		{name: "TooManyRequestsExhausted", status: 429, before: len(DefaultSchedule), wantErr: "non-2xx status 429"},
		{name: "InternalServerError", status: 500, body: "boom", wantErr: "non-2xx status 500", wantWait: firstStep},
		{name: "BadGateway", status: 502, wantErr: "non-2xx status 502", wantWait: firstStep},
		{name: "ServiceUnavailableRetryAfter", status: 503, header: map[string]string{"Retry-After": "90"}, wantErr: "non-2xx status 503", wantWait: 90 * time.Second},
		{name: "Timeout", hang: true, wantErr: "timeout after 100ms", wantWait: firstStep},
		{name: "ConnectionRefused", refuse: true, wantErr: "connection refused", wantWait: firstStep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newFakeStore()
			timeout := 5 * time.Second
			if tt.hang {
				timeout = 100 * time.Millisecond
			}
			p := startDispatcher(t, store, timeout)
			var rec *recorder
			url := closedAddress(t)
			if !tt.refuse {
				rec = newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
					if tt.hang {
						<-r.Context().Done()
						return
					}
					for k, v := range tt.header {
						w.Header().Set(k, v)
					}
					w.WriteHeader(tt.status)
					_, _ = io.WriteString(w, tt.body)
				})
				url = rec.URL + "/hook"
			}
			d := newDelivery(cmp.Or(tt.kind, herald.DestinationHook), url)
			d.Attempts = tt.before

			p.Dispatch(store.claim(testNode, store.clock.Now().Add(p.Lease()), d))
			store.waitOutcomes(t, d.ID)

			o := store.outcome(t, d.ID)
			if o.Delivered || o.Attempt == nil {
				t.Fatalf("outcome = %+v, want an attempt that failed", o)
			}
			a := o.Attempt
			if a.StatusCode != tt.status || a.Error != tt.wantErr || a.ResponseBody != tt.body || a.Number != tt.before+1 {
				t.Fatalf("attempt = #%d %d %q %q, want #%d %d %q %q",
					a.Number, a.StatusCode, a.Error, a.ResponseBody, tt.before+1, tt.status, tt.wantErr, tt.body)
			}
			var wantNext time.Time
			wantStatus := herald.DeliveryFailed
			if tt.wantWait > 0 {
				wantNext, wantStatus = store.clock.Now().Add(tt.wantWait), herald.DeliveryPending
			}
			if !o.NextAttemptAt.Equal(wantNext) {
				t.Fatalf("NextAttemptAt = %v, want %v", o.NextAttemptAt, wantNext)
			}
			got, _ := store.delivery(t, d.ID)
			if got.Status != wantStatus || got.Attempts != tt.before+1 || got.LastStatus != tt.status || got.LastError != tt.wantErr {
				t.Fatalf("delivery is %q after %d attempts, last %d %q; want %q after %d, %d %q",
					got.Status, got.Attempts, got.LastStatus, got.LastError, wantStatus, tt.before+1, tt.status, tt.wantErr)
			}
			sent := func() int {
				if rec == nil {
					return store.attemptCount(d.ID) - tt.before
				}
				return rec.count()
			}
			if n := sent(); n != 1 {
				t.Fatalf("sent %d times, want once", n)
			}

			if tt.wantWait == 0 {
				// Failed: past the longest wait a retry could have, the
				// poller keeps claiming and never takes it again.
				store.clock.Add(maxRetryAfter + DefaultSchedule[len(DefaultSchedule)-1])
				store.waitClaims(t, len(store.claimCalls())+3)
				if got, _ := store.delivery(t, d.ID); got.Status != herald.DeliveryFailed || got.Attempts != tt.before+1 || sent() != 1 {
					t.Fatalf("failed delivery sent again: %q after %d attempts, sent %d times", got.Status, got.Attempts, sent())
				}
				return
			}
			// Due again at NextAttemptAt, not a second earlier.
			store.clock.Add(tt.wantWait - time.Second)
			store.waitClaims(t, len(store.claimCalls())+3)
			if n := sent(); n != 1 {
				t.Fatalf("retried %s before it was due", time.Second)
			}
			store.clock.Add(time.Second)
			store.waitFor(t, "the second attempt", func() bool { return len(store.outcomes[d.ID]) == 2 })
			if n := sent(); n != 2 {
				t.Fatalf("sent %d times once due, want twice", n)
			}
		})
	}
}

// attemptCount returns how many attempts the store recorded for id.
func (s *fakeStore) attemptCount(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.deliveries[id]; d != nil {
		return d.Attempts
	}
	return 0
}

// closedAddress returns the URL of a loopback port nothing listens on.
func closedAddress(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatal(err)
	}
	return "http://" + addr + "/hook"
}
