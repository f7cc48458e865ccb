package delivery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/herald-dev/herald"
)

// fakeStore is an in-memory herald.DeliveryService holding deliveries; a
// delivery stays pending, and is returned by FindDeliveriesToSend, until an
// outcome delivers or fails it.
type fakeStore struct {
	herald.DeliveryService // methods the worker does not call

	mu         sync.Mutex
	deliveries map[string]*herald.Delivery
	attempts   map[string][]*herald.Attempt
	batches    [][]*herald.Outcome
	// completeErr, when set, fails CompleteDeliveries.
	completeErr error
}

// newFakeStore returns a store holding ds.
func newFakeStore(ds ...*herald.Delivery) *fakeStore {
	s := &fakeStore{deliveries: make(map[string]*herald.Delivery), attempts: make(map[string][]*herald.Attempt)}
	s.add(ds...)
	return s
}

// add stores ds.
func (s *fakeStore) add(ds ...*herald.Delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range ds {
		c := *d
		s.deliveries[d.ID] = &c
	}
}

// FindDeliveriesToSend returns copies of the pending deliveries among ids.
func (s *fakeStore) FindDeliveriesToSend(ctx context.Context, ids []string) ([]*herald.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var ds []*herald.Delivery
	for _, id := range ids {
		if d, ok := s.deliveries[id]; ok && d.Status == herald.DeliveryPending {
			c := *d
			ds = append(ds, &c)
		}
	}
	return ds, nil
}

// CompleteDeliveries applies outcomes, failing like a database would on a
// cancelled context.
func (s *fakeStore) CompleteDeliveries(ctx context.Context, outcomes []*herald.Outcome) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.completeErr != nil {
		return s.completeErr
	}
	s.batches = append(s.batches, outcomes)
	for _, o := range outcomes {
		d := s.deliveries[o.DeliveryID]
		if o.Attempt != nil {
			d.Attempts++
			d.LastStatus = o.Attempt.StatusCode
			d.LastError = o.Attempt.Error
			s.attempts[d.ID] = append(s.attempts[d.ID], o.Attempt)
		}
		switch {
		case o.Delivered:
			d.Status = herald.DeliveryDelivered
		case o.NextAttemptAt.IsZero():
			d.Status = herald.DeliveryFailed
		default:
			d.NextAttemptAt = o.NextAttemptAt
		}
	}
	return nil
}

// delivery returns a copy of the stored delivery id.
func (s *fakeStore) delivery(tb testing.TB, id string) herald.Delivery {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.deliveries[id]
	if !ok {
		tb.Fatalf("no delivery %s", id)
	}
	return *d
}

// outcome returns the last outcome recorded for id.
func (s *fakeStore) outcome(tb testing.TB, id string) *herald.Outcome {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.batches) - 1; i >= 0; i-- {
		for _, o := range s.batches[i] {
			if o.DeliveryID == id {
				return o
			}
		}
	}
	tb.Fatalf("no outcome for %s", id)
	return nil
}

// batchCount returns how many CompleteDeliveries calls succeeded.
func (s *fakeStore) batchCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.batches)
}

// workerConfig adjusts a test worker's options.
type workerConfig func(*WorkerOptions)

// newTestWorker returns a worker on store that reaches loopback receivers,
// with a test clock and no retry jitter.
func newTestWorker(tb testing.TB, store herald.DeliveryService, timeout time.Duration, configs ...workerConfig) (*Worker, *testClock) {
	tb.Helper()
	clock := newTestClock()
	opts := WorkerOptions{
		Store: store,
		Sender: NewSender(SenderOptions{
			Timeout: timeout,
			Guard:   loopbackGuard(tb),
			Clock:   clock,
		}),
		Policy: Policy{Schedule: DefaultSchedule, Rand: func() float64 { return 0.5 }},
		Clock:  clock,
	}
	for _, c := range configs {
		c(&opts)
	}
	return NewWorker(opts), clock
}

// newDeliveries returns n deliveries of kind to url for destination dest.
func newDeliveries(n int, kind, dest, url string) []*herald.Delivery {
	ds := make([]*herald.Delivery, n)
	for i := range ds {
		ds[i] = newDelivery(kind, url)
		ds[i].DestinationID = dest
	}
	return ds
}

// ids returns the ids of ds.
func ids(ds []*herald.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

// blockingReceiver is a loopback receiver whose requests wait until the
// test releases them, or their client gives up.
type blockingReceiver struct {
	*httptest.Server
	release  chan struct{}
	once     sync.Once
	inflight atomic.Int32
	total    atomic.Int32
	// started receives once per request that arrives.
	started chan struct{}
}

// newBlockingReceiver starts a blocking receiver that answers status when
// released; its requests are released at the end of the test.
func newBlockingReceiver(tb testing.TB, status int) *blockingReceiver {
	tb.Helper()
	r := &blockingReceiver{release: make(chan struct{}), started: make(chan struct{}, 1024)}
	r.Server = newReceiver(tb, func(w http.ResponseWriter, req *http.Request) {
		r.inflight.Add(1)
		defer r.inflight.Add(-1)
		r.total.Add(1)
		_, _ = io.Copy(io.Discard, req.Body)
		r.started <- struct{}{}
		select {
		case <-r.release:
			w.WriteHeader(status)
		case <-req.Context().Done():
		}
	})
	tb.Cleanup(r.Release)
	return r
}

// Release lets the waiting and future requests answer.
func (r *blockingReceiver) Release() { r.once.Do(func() { close(r.release) }) }

// waitStarted waits until n requests have arrived.
func (r *blockingReceiver) waitStarted(tb testing.TB, n int) {
	tb.Helper()
	timeout := time.After(10 * time.Second)
	for range n {
		select {
		case <-r.started:
		case <-timeout:
			tb.Fatalf("receiver got %d requests, want %d", r.total.Load(), n)
		}
	}
}

func TestDeliverOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		timeout   time.Duration
		handler   http.HandlerFunc
		attempts  int // made before this one
		delivered bool
		status    int
		wantError string
		wantWait  time.Duration // from the clock; 0 means failed for good
	}{
		{
			name:      "OK",
			handler:   func(w http.ResponseWriter, r *http.Request) {},
			delivered: true,
			status:    http.StatusOK,
		},
		{
			name:      "ServerError",
			handler:   func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) },
			status:    http.StatusInternalServerError,
			wantError: "non-2xx status 500",
			wantWait:  5 * time.Second,
		},
		{
			name:      "ServerErrorThirdAttempt",
			handler:   func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) },
			attempts:  2,
			status:    http.StatusInternalServerError,
			wantError: "non-2xx status 500",
			wantWait:  2 * time.Minute,
		},
		{
			name:      "Exhausted",
			handler:   func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) },
			attempts:  len(DefaultSchedule),
			status:    http.StatusBadGateway,
			wantError: "non-2xx status 502",
		},
		{
			name: "Redirect",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/elsewhere", http.StatusFound)
			},
			status:    http.StatusFound,
			wantError: "redirect not followed (302)",
			wantWait:  5 * time.Second,
		},
		{
			name: "RetryAfter",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "120")
				w.WriteHeader(http.StatusTooManyRequests)
			},
			status:    http.StatusTooManyRequests,
			wantError: "non-2xx status 429",
			wantWait:  120 * time.Second,
		},
		{
			name:    "Timeout",
			timeout: 100 * time.Millisecond,
			handler: func(w http.ResponseWriter, r *http.Request) {
				// Once the body is read, the server notices the client
				// hanging up.
				_, _ = io.Copy(io.Discard, r.Body)
				<-r.Context().Done()
			},
			wantError: "timeout after 100ms",
			wantWait:  5 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int32
			srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				tt.handler(w, r)
			})
			d := newDelivery(herald.DestinationHook, srv.URL+"/hook")
			d.Attempts = tt.attempts
			store := newFakeStore(d)
			w, clock := newTestWorker(t, store, cmp.Or(tt.timeout, time.Second))

			if err := w.Deliver(t.Context(), []string{d.ID}); err != nil {
				t.Fatal(err)
			}
			if n := hits.Load(); n != 1 {
				t.Fatalf("receiver got %d requests, want 1", n)
			}
			o := store.outcome(t, d.ID)
			if o.Delivered != tt.delivered {
				t.Fatalf("Delivered = %v, want %v", o.Delivered, tt.delivered)
			}
			if o.Attempt == nil {
				t.Fatal("no attempt recorded")
			}
			if o.Attempt.StatusCode != tt.status || o.Attempt.Error != tt.wantError {
				t.Fatalf("attempt = %d %q, want %d %q", o.Attempt.StatusCode, o.Attempt.Error, tt.status, tt.wantError)
			}
			if o.Attempt.Number != tt.attempts+1 {
				t.Fatalf("attempt number = %d, want %d", o.Attempt.Number, tt.attempts+1)
			}
			var want time.Time
			if tt.wantWait > 0 {
				want = clock.Now().Add(tt.wantWait)
			}
			if !o.NextAttemptAt.Equal(want) {
				t.Fatalf("NextAttemptAt = %v, want %v", o.NextAttemptAt, want)
			}
			wantStatus := herald.DeliveryPending
			if tt.delivered {
				wantStatus = herald.DeliveryDelivered
			} else if tt.wantWait == 0 {
				wantStatus = herald.DeliveryFailed
			}
			if got := store.delivery(t, d.ID).Status; got != wantStatus {
				t.Fatalf("status = %q, want %q", got, wantStatus)
			}
		})
	}
}

// TestDeliverBatch sends deliveries to several destinations, of both kinds,
// and records them all in one call.
func TestDeliverBatch(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	ds := append(newDeliveries(5, herald.DestinationHook, "hook-a", srv.URL+"/a"),
		newDeliveries(5, herald.DestinationHook, "hook-b", srv.URL+"/b")...)
	ds = append(ds, newDeliveries(5, herald.DestinationApp, "hook-a", srv.URL+"/app")...)
	store := newFakeStore(ds...)
	w, _ := newTestWorker(t, store, time.Second)

	// A repeated id is sent once.
	if err := w.Deliver(t.Context(), append(ids(ds), ds[0].ID)); err != nil {
		t.Fatal(err)
	}
	if n := store.batchCount(); n != 1 {
		t.Fatalf("CompleteDeliveries called %d times, want 1", n)
	}
	if n := len(store.batches[0]); n != len(ds) {
		t.Fatalf("batch has %d outcomes, want %d", n, len(ds))
	}
	for _, d := range ds {
		if got := store.delivery(t, d.ID).Status; got != herald.DeliveryDelivered {
			t.Fatalf("delivery %s is %q", d.ID, got)
		}
	}
	if n := hits.Load(); n != int32(len(ds)) {
		t.Fatalf("receiver got %d requests, want %d", n, len(ds))
	}
	if n := w.limiter.size(); n != 0 {
		t.Fatalf("limiter holds %d destinations after the batch", n)
	}
}

// TestDeliverRetriesUntilDelivered runs a delivery three times against a
// receiver that fails twice: every attempt carries the same body, signature
// and Request-ID, and a delivered delivery is not sent again.
func TestDeliverRetriesUntilDelivered(t *testing.T) {
	t.Parallel()
	type request struct {
		body, signature, requestID, timestamp string
	}
	var (
		mu       sync.Mutex
		requests []request
	)
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		requests = append(requests, request{
			string(body), r.Header.Get("X-Sentry-Hook-Signature"),
			r.Header.Get("Request-ID"), r.Header.Get("X-ServiceHook-Timestamp"),
		})
		if len(requests) <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	d := newDelivery(herald.DestinationHook, srv.URL)
	store := newFakeStore(d)
	w, clock := newTestWorker(t, store, time.Second)

	for i := range 4 {
		if err := w.Deliver(t.Context(), []string{d.ID}); err != nil {
			t.Fatalf("Deliver %d: %v", i+1, err)
		}
		clock.Add(time.Hour)
	}

	if len(requests) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(requests))
	}
	want := request{string(d.Body), d.Signature, d.ID, "1705320000"}
	for i, r := range requests {
		if r != want {
			t.Fatalf("request %d differs: got %+v, want %+v", i+1, r, want)
		}
	}
	got := store.delivery(t, d.ID)
	if got.Status != herald.DeliveryDelivered || got.Attempts != 3 {
		t.Fatalf("delivery is %q after %d attempts, want delivered after 3", got.Status, got.Attempts)
	}
	for i, a := range store.attempts[d.ID] {
		if a.Number != i+1 {
			t.Fatalf("attempt %d has number %d", i+1, a.Number)
		}
	}
}

func TestDeliverInactive(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	d := newDelivery(herald.DestinationHook, srv.URL)
	d.DestinationActive = false
	store := newFakeStore(d)
	w, _ := newTestWorker(t, store, time.Second)

	if err := w.Deliver(t.Context(), []string{d.ID}); err != nil {
		t.Fatal(err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("receiver got %d requests", n)
	}
	o := store.outcome(t, d.ID)
	if o.Attempt != nil || o.Delivered || !o.NextAttemptAt.IsZero() {
		t.Fatalf("outcome = %+v, want failed without attempt", o)
	}
	if got := store.delivery(t, d.ID).Status; got != herald.DeliveryFailed {
		t.Fatalf("status = %q, want failed", got)
	}
}

// TestDeliverBusy puts off, without an attempt, a delivery to a destination
// whose requests are all in flight, while another destination is sent to.
func TestDeliverBusy(t *testing.T) {
	t.Parallel()
	busy := newBlockingReceiver(t, http.StatusOK)
	var hits atomic.Int32
	healthy := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	first := newDelivery(herald.DestinationHook, busy.URL)
	second := newDelivery(herald.DestinationHook, busy.URL)
	other := newDeliveries(1, herald.DestinationHook, "other", healthy.URL)[0]
	store := newFakeStore(first, second, other)
	w, clock := newTestWorker(t, store, 5*time.Second, func(o *WorkerOptions) {
		o.PerDestinationConcurrency = 1
		o.BusyDelay = 2 * time.Second
	})

	done := make(chan error, 1)
	go func() { done <- w.Deliver(context.Background(), []string{first.ID}) }()
	busy.waitStarted(t, 1)

	if err := w.Deliver(t.Context(), []string{second.ID, other.ID}); err != nil {
		t.Fatal(err)
	}
	o := store.outcome(t, second.ID)
	if o.Attempt != nil || o.Delivered || !o.NextAttemptAt.Equal(clock.Now().Add(2*time.Second)) {
		t.Fatalf("outcome = %+v, want put off by 2s without attempt", o)
	}
	if got := store.delivery(t, second.ID); got.Status != herald.DeliveryPending || got.Attempts != 0 {
		t.Fatalf("busy delivery is %q after %d attempts", got.Status, got.Attempts)
	}
	if got := store.delivery(t, other.ID).Status; got != herald.DeliveryDelivered {
		t.Fatalf("other destination's delivery is %q", got)
	}

	busy.Release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := store.delivery(t, first.ID).Status; got != herald.DeliveryDelivered {
		t.Fatalf("first delivery is %q", got)
	}
	if n := busy.total.Load(); n != 1 {
		t.Fatalf("busy receiver got %d requests, want 1", n)
	}
	if n := w.limiter.size(); n != 0 {
		t.Fatalf("limiter holds %d destinations when idle", n)
	}
}

// TestDeliverConcurrencyLimit sends a large batch to one destination
// without exceeding its limit of requests in flight.
func TestDeliverConcurrencyLimit(t *testing.T) {
	t.Parallel()
	const limit = 4
	var inflight, peak atomic.Int32
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
	})
	ds := newDeliveries(100, herald.DestinationHook, "hook", srv.URL)
	store := newFakeStore(ds...)
	w, _ := newTestWorker(t, store, 5*time.Second, func(o *WorkerOptions) { o.PerDestinationConcurrency = limit })

	if err := w.Deliver(t.Context(), ids(ds)); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if got := store.delivery(t, d.ID).Status; got != herald.DeliveryDelivered {
			t.Fatalf("delivery %s is %q", d.ID, got)
		}
	}
	if p := peak.Load(); p > limit {
		t.Fatalf("%d requests in flight, limit %d", p, limit)
	}
}

// TestDeliverIsolation checks that a destination that never answers does
// not delay deliveries to a healthy one.
func TestDeliverIsolation(t *testing.T) {
	t.Parallel()
	const timeout = 2 * time.Second
	hanging := newBlockingReceiver(t, http.StatusOK)
	var hits atomic.Int32
	healthy := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })

	stuck := newDeliveries(DefaultPerDestinationConcurrency+8, herald.DestinationHook, "hanging", hanging.URL)
	burst := newDeliveries(200, herald.DestinationHook, "healthy", healthy.URL)
	store := newFakeStore(append(stuck, burst...)...)
	// A generous busy wait: the healthy destination frees its slots within
	// milliseconds, however loaded the machine running the test is.
	w, clock := newTestWorker(t, store, timeout, func(o *WorkerOptions) { o.BusyWait = time.Second })

	stuckDone := make(chan error, 1)
	go func() { stuckDone <- w.Deliver(context.Background(), ids(stuck)) }()
	hanging.waitStarted(t, DefaultPerDestinationConcurrency)

	// 20 jobs of 10 deliveries each to the healthy destination.
	start := time.Now()
	errs := make(chan error, 20)
	for job := range slices.Chunk(burst, 10) {
		go func() { errs <- w.Deliver(context.Background(), ids(job)) }()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	select {
	case <-stuckDone:
		t.Fatalf("the healthy burst took %s, beyond the hanging requests' timeout", elapsed)
	default:
	}
	for _, d := range burst {
		if got := store.delivery(t, d.ID).Status; got != herald.DeliveryDelivered {
			t.Fatalf("healthy delivery %s is %q", d.ID, got)
		}
	}
	if n := hits.Load(); n != 200 {
		t.Fatalf("healthy receiver got %d requests, want 200", n)
	}

	if err := <-stuckDone; err != nil {
		t.Fatal(err)
	}
	var timedOut, putOff int
	for _, d := range stuck {
		o := store.outcome(t, d.ID)
		switch {
		case o.Attempt != nil && o.Attempt.Error == "timeout after 2s":
			timedOut++
		case o.Attempt == nil && o.NextAttemptAt.Equal(clock.Now().Add(DefaultBusyDelay)):
			putOff++
		default:
			t.Fatalf("hanging delivery outcome = %+v", o)
		}
	}
	if timedOut != DefaultPerDestinationConcurrency || putOff != 8 {
		t.Fatalf("hanging destination: %d timed out, %d put off; want %d and 8", timedOut, putOff, DefaultPerDestinationConcurrency)
	}
	if n := hanging.total.Load(); n != DefaultPerDestinationConcurrency {
		t.Fatalf("hanging receiver got %d requests, want %d", n, DefaultPerDestinationConcurrency)
	}
}

// TestDeliverShutdown cancels a job while a request is in flight: the
// request completes and is recorded, and no new request starts.
func TestDeliverShutdown(t *testing.T) {
	t.Parallel()
	cancelled := make(chan struct{})
	var hits atomic.Int32
	started := make(chan struct{}, 2)
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		started <- struct{}{}
		<-cancelled
		// The receiver takes a moment more, during which a cancelled
		// request would be abandoned.
		select {
		case <-time.After(50 * time.Millisecond):
		case <-r.Context().Done():
		}
	})
	ds := newDeliveries(2, herald.DestinationHook, "hook", srv.URL)
	store := newFakeStore(ds...)
	w, clock := newTestWorker(t, store, 5*time.Second, func(o *WorkerOptions) { o.PerDestinationConcurrency = 1 })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Deliver(ctx, ids(ds)) }()
	<-started
	cancel()
	close(cancelled)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	o := store.outcome(t, ds[0].ID)
	if !o.Delivered || o.Attempt == nil || o.Attempt.StatusCode != http.StatusOK {
		t.Fatalf("in-flight delivery outcome = %+v, want delivered", o)
	}
	o = store.outcome(t, ds[1].ID)
	if o.Attempt != nil || !o.NextAttemptAt.Equal(clock.Now().Add(DefaultBusyDelay)) {
		t.Fatalf("unstarted delivery outcome = %+v, want put off without attempt", o)
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("receiver got %d requests after cancellation, want 1", n)
	}
}

// TestDeliverStopsStartingAfterTimeout checks that a job stops starting
// requests to a hanging destination once it has run for the send timeout.
func TestDeliverStopsStartingAfterTimeout(t *testing.T) {
	t.Parallel()
	hanging := newBlockingReceiver(t, http.StatusOK)
	ds := newDeliveries(5, herald.DestinationHook, "hook", hanging.URL)
	store := newFakeStore(ds...)
	w, _ := newTestWorker(t, store, 100*time.Millisecond, func(o *WorkerOptions) { o.PerDestinationConcurrency = 2 })

	if err := w.Deliver(t.Context(), ids(ds)); err != nil {
		t.Fatal(err)
	}
	if n := hanging.total.Load(); n != 2 {
		t.Fatalf("receiver got %d requests, want 2", n)
	}
	var attempted int
	for _, d := range ds {
		if store.outcome(t, d.ID).Attempt != nil {
			attempted++
		}
	}
	if attempted != 2 {
		t.Fatalf("%d attempts recorded, want 2", attempted)
	}
}

func TestDeliverErrors(t *testing.T) {
	t.Parallel()
	t.Run("CompleteFails", func(t *testing.T) {
		t.Parallel()
		srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {})
		d := newDelivery(herald.DestinationHook, srv.URL)
		store := newFakeStore(d)
		store.completeErr = errors.New("database is locked")
		w, _ := newTestWorker(t, store, time.Second)
		err := w.Deliver(t.Context(), []string{d.ID})
		if err == nil || !strings.Contains(err.Error(), "complete deliveries: database is locked") {
			t.Fatalf("Deliver error = %v", err)
		}
	})
	t.Run("FindFails", func(t *testing.T) {
		t.Parallel()
		w, _ := newTestWorker(t, newFakeStore(), time.Second)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := w.Deliver(ctx, []string{"x"}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Deliver error = %v, want context.Canceled", err)
		}
	})
	t.Run("NothingPending", func(t *testing.T) {
		t.Parallel()
		d := newDelivery(herald.DestinationHook, "http://127.0.0.1:1/")
		d.Status = herald.DeliveryDelivered
		store := newFakeStore(d)
		w, _ := newTestWorker(t, store, time.Second)
		for _, batch := range [][]string{nil, {d.ID}, {"unknown"}} {
			if err := w.Deliver(t.Context(), batch); err != nil {
				t.Fatal(err)
			}
		}
		if n := store.batchCount(); n != 0 {
			t.Fatalf("CompleteDeliveries called %d times", n)
		}
	})
}

// TestWork runs the worker as River would.
func TestWork(t *testing.T) {
	t.Parallel()
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {})
	ds := newDeliveries(3, herald.DestinationApp, "a8e5d37a-696c-4c54-aac1-4a51b40ce7d9", srv.URL)
	store := newFakeStore(ds...)
	w, _ := newTestWorker(t, store, time.Second)

	workers := river.NewWorkers()
	RegisterWorkers(workers, w)
	job := &river.Job[herald.DeliverArgs]{Args: herald.DeliverArgs{DeliveryIDs: ids(ds)}}
	if err := w.Work(t.Context(), job); err != nil {
		t.Fatal(err)
	}
	if d := w.Timeout(job); d < time.Minute {
		t.Fatalf("job timeout = %s, want at least a minute", d)
	}
	for _, d := range ds {
		if got := store.delivery(t, d.ID).Status; got != herald.DeliveryDelivered {
			t.Fatalf("delivery %s is %q", d.ID, got)
		}
	}
}

func TestLimiter(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	l := newLimiter(2)
	a1, ok1 := l.acquire(ctx, "a", 0, nil)
	a2, ok2 := l.acquire(ctx, "a", 0, nil)
	if !ok1 || !ok2 {
		t.Fatal("could not take two free slots")
	}
	if _, ok := l.acquire(ctx, "a", 0, nil); ok {
		t.Fatal("took a third slot of two")
	}
	if _, ok := l.acquire(ctx, "a", 10*time.Millisecond, nil); ok {
		t.Fatal("took a third slot of two after waiting")
	}
	b, ok := l.acquire(ctx, "b", 0, nil)
	if !ok {
		t.Fatal("a full destination blocked another")
	}
	if n := l.size(); n != 2 {
		t.Fatalf("size = %d, want 2", n)
	}

	t.Run("WaitGetsReleasedSlot", func(t *testing.T) {
		got := make(chan bool)
		go func() {
			s, ok := l.acquire(ctx, "a", time.Minute, nil)
			if ok {
				l.release(s)
			}
			got <- ok
		}()
		l.release(a1)
		if !<-got {
			t.Fatal("waiter did not get the released slot")
		}
		a1, _ = l.acquire(ctx, "a", 0, nil)
	})
	t.Run("StopEndsWait", func(t *testing.T) {
		stop := make(chan struct{})
		close(stop)
		if _, ok := l.acquire(ctx, "a", time.Minute, stop); ok {
			t.Fatal("took a slot of a full destination")
		}
	})
	t.Run("CancelEndsWait", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, ok := l.acquire(cctx, "a", time.Minute, nil); ok {
			t.Fatal("took a slot of a full destination")
		}
	})

	l.release(a1)
	l.release(a2)
	l.release(b)
	if n := l.size(); n != 0 {
		t.Fatalf("size = %d after every release, want 0", n)
	}
}

func ExampleRegisterWorkers() {
	workers := river.NewWorkers()
	sender := NewSender(SenderOptions{Timeout: 5 * time.Second, Guard: &Guard{}})
	worker := NewWorker(WorkerOptions{Store: newFakeStore(), Sender: sender})
	RegisterWorkers(workers, worker)
	fmt.Println(herald.DeliverArgs{}.Kind())
	// Output: herald.deliver
}

// TestPutOffGrowsWithAge: a delivery put off because its destination is
// busy waits BusyDelay while young, half its age once older, and at most
// maxBusyDelay, so a hanging destination does not cost a put-off a second.
func TestPutOffGrowsWithAge(t *testing.T) {
	t.Parallel()
	w, clock := newTestWorker(t, newFakeStore(), time.Second)
	cases := []struct {
		name string
		age  time.Duration
		want time.Duration
	}{
		{"Young", 0, DefaultBusyDelay},
		{"SecondsOld", 3 * time.Second, 1500 * time.Millisecond},
		{"MinutesOld", 4 * time.Minute, 2 * time.Minute},
		{"Capped", time.Hour, maxBusyDelay},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := &herald.Delivery{ID: "d", CreatedAt: clock.Now().Add(-c.age)}
			// The test policy's Rand of 0.5 makes the jitter factor exactly 1.
			if got := w.putOff(d).NextAttemptAt.Sub(clock.Now()); got != c.want {
				t.Fatalf("put off by %s, want %s", got, c.want)
			}
		})
	}
}
