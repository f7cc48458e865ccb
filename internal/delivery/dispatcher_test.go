package delivery

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-dev/herald"
)

// testNode names the node of test dispatchers.
const testNode = "node-1"

// waitTimeout bounds every wait of these tests; they take milliseconds.
const waitTimeout = 10 * time.Second

var _ herald.DeliveryService = (*fakeStore)(nil)

// claimCall is one ClaimDeliveries call.
type claimCall struct {
	node  string
	limit int
	until time.Time
}

// fakeStore is an in-memory herald.DeliveryService with the claim and
// completion semantics of the real stores: a claimed delivery is due again
// at the claim's until, a due delivery is pending with NextAttemptAt not
// after now, and outcomes count attempts and mark deliveries delivered,
// failed, or pending again at their NextAttemptAt.
type fakeStore struct {
	clock *testClock

	mu         sync.Mutex
	deliveries map[string]*herald.Delivery
	claimedBy  map[string]string
	attempts   map[string][]*herald.Attempt
	outcomes   map[string][]*herald.Outcome
	batches    [][]*herald.Outcome
	claims     []claimCall
	releases   []string
	// completeCalls counts CompleteDeliveries calls, failed ones included.
	completeCalls int
	// failCompletes is how many CompleteDeliveries calls are still to fail.
	failCompletes int
	// releaseErr, when set, fails ReleaseDeliveries.
	releaseErr error
	// claimFunc, when set, runs before every claim; its error fails it.
	claimFunc func(ctx context.Context) error
	// completeFunc, when set, runs before every CompleteDeliveries call
	// with the call's number, from 1.
	completeFunc func(call int)
	// changed is closed and replaced whenever the store changes.
	changed chan struct{}
}

// newFakeStore returns an empty store on a test clock.
func newFakeStore() *fakeStore {
	return &fakeStore{
		clock:      newTestClock(),
		deliveries: make(map[string]*herald.Delivery),
		claimedBy:  make(map[string]string),
		attempts:   make(map[string][]*herald.Attempt),
		outcomes:   make(map[string][]*herald.Outcome),
		changed:    make(chan struct{}),
	}
}

// notifyLocked wakes the waiters. s.mu is held.
func (s *fakeStore) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// add stores copies of ds as they are.
func (s *fakeStore) add(ds ...*herald.Delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range ds {
		c := *d
		s.deliveries[d.ID] = &c
	}
	s.notifyLocked()
}

// claim stores ds claimed by node until until, as a transaction that
// writes them for a node's Handoff does, and returns copies of them.
func (s *fakeStore) claim(node string, until time.Time, ds ...*herald.Delivery) []*herald.Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*herald.Delivery, len(ds))
	for i, d := range ds {
		c := *d
		c.NextAttemptAt = until
		s.deliveries[d.ID] = &c
		s.claimedBy[d.ID] = node
		cc := c
		out[i] = &cc
	}
	s.notifyLocked()
	return out
}

// ClaimDeliveries claims up to limit due deliveries for node, the longest
// due first, and returns copies of them.
func (s *fakeStore) ClaimDeliveries(ctx context.Context, node string, limit int, until time.Time) ([]*herald.Delivery, error) {
	s.mu.Lock()
	hook := s.claimFunc
	s.mu.Unlock()
	if hook != nil {
		if err := hook(ctx); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.notifyLocked()
	s.claims = append(s.claims, claimCall{node: node, limit: limit, until: until})
	if limit <= 0 {
		return nil, nil
	}
	now := s.clock.Now()
	var due []*herald.Delivery
	for _, d := range s.deliveries {
		if d.Status == herald.DeliveryPending && !d.NextAttemptAt.After(now) {
			due = append(due, d)
		}
	}
	slices.SortFunc(due, func(a, b *herald.Delivery) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), strings.Compare(a.ID, b.ID))
	})
	due = due[:min(len(due), limit)]
	out := make([]*herald.Delivery, len(due))
	for i, d := range due {
		d.NextAttemptAt = until
		s.claimedBy[d.ID] = node
		c := *d
		out[i] = &c
	}
	return out, nil
}

// ReleaseDeliveries makes node's claimed pending deliveries due now.
func (s *fakeStore) ReleaseDeliveries(ctx context.Context, node string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.notifyLocked()
	s.releases = append(s.releases, node)
	if s.releaseErr != nil {
		return 0, s.releaseErr
	}
	var n int
	for id, by := range s.claimedBy {
		if d := s.deliveries[id]; by == node && d.Status == herald.DeliveryPending {
			d.NextAttemptAt = s.clock.Now()
			delete(s.claimedBy, id)
			n++
		}
	}
	return n, nil
}

// CompleteDeliveries applies outcomes as the real stores do; outcomes of
// deliveries no longer pending are ignored.
func (s *fakeStore) CompleteDeliveries(ctx context.Context, outcomes []*herald.Outcome) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	s.completeCalls++
	call, hook := s.completeCalls, s.completeFunc
	s.mu.Unlock()
	if hook != nil {
		hook(call)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.notifyLocked()
	if s.failCompletes > 0 {
		s.failCompletes--
		return errors.New("database is locked")
	}
	// The caller reuses the slice for its next batch.
	s.batches = append(s.batches, slices.Clone(outcomes))
	now := s.clock.Now()
	for _, o := range outcomes {
		s.outcomes[o.DeliveryID] = append(s.outcomes[o.DeliveryID], o)
		d, ok := s.deliveries[o.DeliveryID]
		if !ok || d.Status != herald.DeliveryPending {
			continue
		}
		delete(s.claimedBy, d.ID)
		if a := o.Attempt; a != nil {
			d.Attempts++
			d.LastStatus, d.LastError = a.StatusCode, a.Error
			s.attempts[d.ID] = append(s.attempts[d.ID], a)
		}
		switch {
		case o.Delivered:
			d.Status, d.NextAttemptAt = herald.DeliveryDelivered, now
		case o.NextAttemptAt.IsZero():
			d.Status, d.NextAttemptAt = herald.DeliveryFailed, now
		default:
			d.NextAttemptAt = o.NextAttemptAt
		}
	}
	return nil
}

// FindDeliveries is not used by the Dispatcher.
func (s *fakeStore) FindDeliveries(context.Context, herald.DeliveryFilter) ([]*herald.Delivery, string, error) {
	return nil, "", nil
}

// FindDeliveryByID is not used by the Dispatcher.
func (s *fakeStore) FindDeliveryByID(context.Context, string) (*herald.Delivery, error) {
	return nil, nil
}

// FindAttempts is not used by the Dispatcher.
func (s *fakeStore) FindAttempts(context.Context, string) ([]*herald.Attempt, error) {
	return nil, nil
}

// Redeliver is not used by the Dispatcher.
func (s *fakeStore) Redeliver(context.Context, string) (*herald.Delivery, error) {
	return nil, nil
}

// RecoverDeliveries is not used by the Dispatcher.
func (s *fakeStore) RecoverDeliveries(context.Context, string, string, time.Time) (int, error) {
	return 0, nil
}

// delivery returns a copy of the stored delivery id and the node claiming
// it, if any.
func (s *fakeStore) delivery(tb testing.TB, id string) (herald.Delivery, string) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.deliveries[id]
	if !ok {
		tb.Fatalf("no delivery %s", id)
	}
	return *d, s.claimedBy[id]
}

// outcomesOf returns the outcomes recorded for id, oldest first.
func (s *fakeStore) outcomesOf(id string) []*herald.Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.outcomes[id])
}

// outcome returns the only outcome recorded for id.
func (s *fakeStore) outcome(tb testing.TB, id string) *herald.Outcome {
	tb.Helper()
	os := s.outcomesOf(id)
	if len(os) != 1 {
		tb.Fatalf("%d outcomes recorded for %s, want 1", len(os), id)
	}
	return os[0]
}

// recordedBatches returns the batches CompleteDeliveries recorded.
func (s *fakeStore) recordedBatches() [][]*herald.Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batches)
}

// claimCalls returns the ClaimDeliveries calls made so far.
func (s *fakeStore) claimCalls() []claimCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.claims)
}

// completeCallCount returns how many CompleteDeliveries calls were made.
func (s *fakeStore) completeCallCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.completeCalls
}

// waitFor waits until cond, called with s.mu held whenever the store
// changes, holds.
func (s *fakeStore) waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	timeout := time.NewTimer(waitTimeout)
	defer timeout.Stop()
	for {
		s.mu.Lock()
		ok, changed := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-timeout.C:
			tb.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waitStatus waits until the deliveries ids have status.
func (s *fakeStore) waitStatus(tb testing.TB, status string, ids ...string) {
	tb.Helper()
	s.waitFor(tb, fmt.Sprintf("%d deliveries %s", len(ids), status), func() bool {
		for _, id := range ids {
			if d := s.deliveries[id]; d == nil || d.Status != status {
				return false
			}
		}
		return true
	})
}

// waitOutcomes waits until an outcome is recorded for each of ids.
func (s *fakeStore) waitOutcomes(tb testing.TB, ids ...string) {
	tb.Helper()
	s.waitFor(tb, fmt.Sprintf("outcomes of %d deliveries", len(ids)), func() bool {
		for _, id := range ids {
			if len(s.outcomes[id]) == 0 {
				return false
			}
		}
		return true
	})
}

// waitClaims waits until ClaimDeliveries has been called n times.
func (s *fakeStore) waitClaims(tb testing.TB, n int) {
	tb.Helper()
	s.waitFor(tb, fmt.Sprintf("%d claims", n), func() bool { return len(s.claims) >= n })
}

// dispatcherConfig adjusts a test dispatcher's options.
type dispatcherConfig func(*DispatcherOptions)

// newTestDispatcher returns a dispatcher for testNode on store that
// reaches loopback receivers, on the store's clock, without retry jitter.
func newTestDispatcher(tb testing.TB, store *fakeStore, timeout time.Duration, configs ...dispatcherConfig) *Dispatcher {
	tb.Helper()
	opts := DispatcherOptions{
		Store: store,
		Node:  testNode,
		Sender: NewSender(SenderOptions{
			Timeout: timeout,
			Guard:   loopbackGuard(tb),
			Clock:   store.clock,
		}),
		// A Rand of 0.5 makes the jitter factor exactly 1.
		Policy: Policy{Schedule: DefaultSchedule, Rand: func() float64 { return 0.5 }},
		Clock:  store.clock,
	}
	for _, c := range configs {
		c(&opts)
	}
	return NewDispatcher(opts)
}

// startDispatcher starts a test dispatcher and stops it at the end of the
// test. Receivers that hang must be started after it, so that they are
// released before it stops.
func startDispatcher(tb testing.TB, store *fakeStore, timeout time.Duration, configs ...dispatcherConfig) *Dispatcher {
	tb.Helper()
	p := newTestDispatcher(tb, store, timeout, configs...)
	if err := p.Start(tb.Context()); err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() { stopDispatcher(tb, p) })
	return p
}

// stopDispatcher stops p, failing the test when that takes long.
func stopDispatcher(tb testing.TB, p *Dispatcher) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		tb.Errorf("Stop: %v", err)
	}
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

// notePeak raises peak to n.
func notePeak(peak *atomic.Int32, n int32) {
	for {
		p := peak.Load()
		if n <= p || peak.CompareAndSwap(p, n) {
			return
		}
	}
}

// request is a request a recorder got.
type request struct {
	path   string
	body   string
	header http.Header
}

// recorder is a loopback receiver that records its requests and answers
// them with its handler, or 200.
type recorder struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
}

// newRecorder starts a recorder closed at the end of the test.
func newRecorder(tb testing.TB, h http.HandlerFunc) *recorder {
	tb.Helper()
	rec := &recorder{}
	rec.Server = newReceiver(tb, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.requests = append(rec.requests, request{r.URL.Path, string(body), r.Header.Clone()})
		rec.mu.Unlock()
		if h != nil {
			h(w, r)
		}
	})
	return rec
}

// count returns how many requests arrived.
func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.requests)
}

// byID returns the requests whose Request-ID is id.
func (rec *recorder) byID(id string) []request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []request
	for _, r := range rec.requests {
		if r.header.Get("Request-ID") == id {
			out = append(out, r)
		}
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
	peak     atomic.Int32
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
		notePeak(&r.peak, r.inflight.Add(1))
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
	// Registered after the server's Close, so it runs before it.
	tb.Cleanup(r.Release)
	return r
}

// Release lets the waiting and future requests answer.
func (r *blockingReceiver) Release() { r.once.Do(func() { close(r.release) }) }

// waitStarted waits until n requests have arrived.
func (r *blockingReceiver) waitStarted(tb testing.TB, n int) {
	tb.Helper()
	timeout := time.After(waitTimeout)
	for range n {
		select {
		case <-r.started:
		case <-timeout:
			tb.Fatalf("receiver got %d requests, want %d", r.total.Load(), n)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use, for logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestDispatchHandoff hands claimed deliveries of both kinds, to several
// destinations, to the dispatcher: each is sent exactly once with its exact
// body, signature headers and Request-ID, and recorded delivered.
func TestDispatchHandoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		kind    string
		headers func(d *herald.Delivery) map[string]string
	}{
		{"ServiceHook", herald.DestinationHook, func(d *herald.Delivery) map[string]string {
			return map[string]string{
				"Content-Type":            "application/json",
				"Request-ID":              d.ID,
				"X-Sentry-Hook-Signature": d.Signature,
				"X-ServiceHook-Signature": d.Signature,
				"X-ServiceHook-Timestamp": "1705320000",
				"X-ServiceHook-GUID":      d.DestinationID,
			}
		}},
		{"SentryApp", herald.DestinationApp, func(d *herald.Delivery) map[string]string {
			return map[string]string{
				"Content-Type":          "application/json",
				"Request-ID":            d.ID,
				"Sentry-Hook-Resource":  "issue",
				"Sentry-Hook-Timestamp": "1705320000",
				"Sentry-Hook-Signature": d.Signature,
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newFakeStore()
			p := startDispatcher(t, store, 5*time.Second)
			rec := newRecorder(t, nil)
			var ds []*herald.Delivery
			for i := range 3 {
				dest := fmt.Sprintf("dest-%d", i)
				ds = append(ds, newDeliveries(4, tt.kind, dest, rec.URL+"/"+dest)...)
			}

			p.Dispatch(store.claim(testNode, store.clock.Now().Add(p.Lease()), ds...))
			store.waitStatus(t, herald.DeliveryDelivered, ids(ds)...)
			// Once stopped, nothing more can be sent.
			stopDispatcher(t, p)

			if n := rec.count(); n != len(ds) {
				t.Fatalf("receiver got %d requests, want %d", n, len(ds))
			}
			for _, d := range ds {
				reqs := rec.byID(d.ID)
				if len(reqs) != 1 {
					t.Fatalf("delivery %s sent %d times, want once", d.ID, len(reqs))
				}
				r := reqs[0]
				if r.path != "/"+d.DestinationID {
					t.Errorf("delivery %s sent to %s, want /%s", d.ID, r.path, d.DestinationID)
				}
				if r.body != string(d.Body) {
					t.Errorf("body = %q, want %q", r.body, d.Body)
				}
				for k, v := range tt.headers(d) {
					if got := r.header.Get(k); got != v {
						t.Errorf("%s = %q, want %q", k, got, v)
					}
				}
				o := store.outcome(t, d.ID)
				if !o.Delivered || o.Attempt == nil || o.Attempt.StatusCode != http.StatusOK || o.Attempt.Number != 1 {
					t.Errorf("outcome = %+v, want delivered by a first attempt with 200", o)
				}
				got, claimedBy := store.delivery(t, d.ID)
				if got.Attempts != 1 || claimedBy != "" {
					t.Errorf("delivery has %d attempts and is claimed by %q, want 1 and unclaimed", got.Attempts, claimedBy)
				}
			}
		})
	}
}

// TestDispatcherPolls checks that the poller claims the due deliveries in
// the database and sends them, and leaves one due later until the clock
// reaches it.
func TestDispatcherPolls(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	rec := newRecorder(t, nil)
	now := store.clock.Now()
	due := newDeliveries(5, herald.DestinationHook, "hook", rec.URL)
	for i, d := range due {
		// Some due now, some overdue.
		d.NextAttemptAt = now.Add(-time.Duration(i) * time.Minute)
	}
	later := newDelivery(herald.DestinationHook, rec.URL)
	later.NextAttemptAt = now.Add(time.Minute)
	store.add(append(due, later)...)

	p := startDispatcher(t, store, 5*time.Second)
	store.waitStatus(t, herald.DeliveryDelivered, ids(due)...)

	claims := store.claimCalls()
	if c := claims[0]; c.node != testNode || c.limit <= 0 || c.limit > maxClaim || !c.until.Equal(now.Add(p.Lease())) {
		t.Fatalf("claim = %+v, want node %s, a limit within (0, %d] and until now plus the lease %s", c, testNode, maxClaim, p.Lease())
	}
	// The poller keeps asking; the later delivery is not due yet.
	store.waitClaims(t, len(claims)+3)
	if got, claimedBy := store.delivery(t, later.ID); got.Status != herald.DeliveryPending || got.Attempts != 0 || claimedBy != "" {
		t.Fatalf("delivery due later is %q after %d attempts, claimed by %q", got.Status, got.Attempts, claimedBy)
	}
	if n := len(rec.byID(later.ID)); n != 0 {
		t.Fatalf("delivery due later sent %d times before it was due", n)
	}

	store.clock.Add(time.Minute)
	store.waitStatus(t, herald.DeliveryDelivered, later.ID)
	stopDispatcher(t, p)
	for _, d := range append(due, later) {
		if n := len(rec.byID(d.ID)); n != 1 {
			t.Fatalf("delivery %s sent %d times, want once", d.ID, n)
		}
	}
}

// TestDispatchOutcome checks the outcome of one attempt: delivered, retried
// when the policy says, with the receiver's Retry-After, or failed once the
// schedule is used up.
func TestDispatchOutcome(t *testing.T) {
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
			name: "RetryAfterLonger",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "120")
				w.WriteHeader(http.StatusTooManyRequests)
			},
			status:    http.StatusTooManyRequests,
			wantError: "non-2xx status 429",
			wantWait:  120 * time.Second,
		},
		{
			name: "RetryAfterShorter",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusServiceUnavailable)
			},
			status:    http.StatusServiceUnavailable,
			wantError: "non-2xx status 503",
			wantWait:  5 * time.Second,
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
			store := newFakeStore()
			p := startDispatcher(t, store, cmp.Or(tt.timeout, 5*time.Second))
			rec := newRecorder(t, tt.handler)
			d := newDelivery(herald.DestinationHook, rec.URL+"/hook")
			d.Attempts = tt.attempts

			p.Dispatch(store.claim(testNode, store.clock.Now().Add(p.Lease()), d))
			store.waitOutcomes(t, d.ID)

			if n := rec.count(); n != 1 {
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
				want = store.clock.Now().Add(tt.wantWait)
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
			got, _ := store.delivery(t, d.ID)
			if got.Status != wantStatus || got.Attempts != tt.attempts+1 || got.LastStatus != tt.status {
				t.Fatalf("delivery is %q after %d attempts, last status %d; want %q after %d, %d",
					got.Status, got.Attempts, got.LastStatus, wantStatus, tt.attempts+1, tt.status)
			}
		})
	}
}

// TestDispatcherRetriesUntilFailed drives a delivery to a failing receiver
// through its whole schedule with the clock: each retry is claimed when the
// policy makes it due and not before, every attempt sends the identical
// request, and after the last step the delivery is failed.
func TestDispatcherRetriesUntilFailed(t *testing.T) {
	t.Parallel()
	schedule := []time.Duration{time.Minute, 2 * time.Minute}
	store := newFakeStore()
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	d := newDelivery(herald.DestinationHook, rec.URL)
	d.NextAttemptAt = store.clock.Now()
	store.add(d)
	startDispatcher(t, store, 5*time.Second, func(o *DispatcherOptions) {
		o.Policy.Schedule = schedule
	})

	for i := range len(schedule) + 1 {
		attempts := i + 1
		store.waitFor(t, fmt.Sprintf("attempt %d", attempts), func() bool {
			return store.deliveries[d.ID].Attempts == attempts
		})
		os := store.outcomesOf(d.ID)
		o := os[len(os)-1]
		if o.Attempt == nil || o.Attempt.Number != attempts || o.Attempt.StatusCode != http.StatusInternalServerError {
			t.Fatalf("attempt %d outcome = %+v", attempts, o)
		}
		got, _ := store.delivery(t, d.ID)
		if i == len(schedule) {
			if got.Status != herald.DeliveryFailed || !o.NextAttemptAt.IsZero() {
				t.Fatalf("after the last step: %q, next attempt %v; want failed", got.Status, o.NextAttemptAt)
			}
			break
		}
		if want := store.clock.Now().Add(schedule[i]); got.Status != herald.DeliveryPending || !o.NextAttemptAt.Equal(want) {
			t.Fatalf("after attempt %d: %q, next attempt %v; want pending until %v", attempts, got.Status, o.NextAttemptAt, want)
		}

		// A second short of due, the poller does not take it.
		store.clock.Add(schedule[i] - time.Second)
		store.waitClaims(t, len(store.claimCalls())+3)
		if got, claimedBy := store.delivery(t, d.ID); got.Attempts != attempts || claimedBy != "" {
			t.Fatalf("retried before due: %d attempts, claimed by %q", got.Attempts, claimedBy)
		}
		store.clock.Add(time.Second)
	}

	store.mu.Lock()
	attempts := slices.Clone(store.attempts[d.ID])
	store.mu.Unlock()
	for i, a := range attempts {
		if a.Number != i+1 || a.DeliveryID != d.ID || a.URL != d.URL {
			t.Fatalf("attempt %d recorded as %+v", i+1, a)
		}
	}
	reqs := rec.byID(d.ID)
	if len(reqs) != len(schedule)+1 {
		t.Fatalf("receiver got %d requests, want %d", len(reqs), len(schedule)+1)
	}
	for i, r := range reqs {
		if r.body != string(d.Body) || r.header.Get("X-Sentry-Hook-Signature") != d.Signature ||
			r.header.Get("X-ServiceHook-Timestamp") != "1705320000" {
			t.Fatalf("request %d differs from the delivery", i+1)
		}
	}
}

// TestDispatcherIsolation checks that a destination that hangs holds only
// its own slots: deliveries to healthy destinations handed over after it are
// all sent while it hangs, and its queued deliveries are put off without an
// attempt once it has made no progress for BusyWait.
func TestDispatcherIsolation(t *testing.T) {
	t.Parallel()
	const (
		perDest   = 4
		busyWait  = 200 * time.Millisecond
		busyDelay = 2 * time.Second
	)
	store := newFakeStore()
	p := startDispatcher(t, store, waitTimeout, func(o *DispatcherOptions) {
		o.Concurrency = 2 * perDest
		o.PerDestinationConcurrency = perDest
		o.BusyWait = busyWait
		o.BusyDelay = busyDelay
	})
	hanging := newBlockingReceiver(t, http.StatusOK)
	healthy := newRecorder(t, nil)
	until := store.clock.Now().Add(p.Lease())

	stuck := newDeliveries(perDest+6, herald.DestinationHook, "hanging", hanging.URL)
	dispatched := time.Now()
	p.Dispatch(store.claim(testNode, until, stuck...))
	hanging.waitStarted(t, perDest)
	allStarted := time.Now() // every request in flight began before this

	// Forty healthy destinations of three deliveries each: fewer than
	// their own limit, so that however slowly the machine runs the test,
	// none of them counts as stalled.
	var burst []*herald.Delivery
	for i := range 40 {
		burst = append(burst, newDeliveries(3, herald.DestinationHook, fmt.Sprintf("healthy-%d", i), healthy.URL)...)
	}
	start := time.Now()
	for chunk := range slices.Chunk(burst, 10) {
		p.Dispatch(store.claim(testNode, until, chunk...))
	}
	store.waitStatus(t, herald.DeliveryDelivered, ids(burst)...)
	elapsed := time.Since(start)
	if n := hanging.inflight.Load(); n != perDest {
		t.Fatalf("hanging receiver has %d requests in flight, want %d", n, perDest)
	}
	if elapsed > 5*time.Second {
		t.Fatalf("the healthy burst took %s", elapsed)
	}
	if n := healthy.count(); n != len(burst) {
		t.Fatalf("healthy receiver got %d requests, want %d", n, len(burst))
	}

	// The queued deliveries of the hanging destination are put off.
	var attempted, putOff []string
	store.waitFor(t, "the hanging destination's queue put off", func() bool {
		attempted, putOff = nil, nil
		for _, d := range stuck {
			// The requests in flight hang: they have no outcome yet.
			if os := store.outcomes[d.ID]; len(os) == 1 && os[0].Attempt == nil {
				putOff = append(putOff, d.ID)
			} else {
				attempted = append(attempted, d.ID)
			}
		}
		return len(putOff) == len(stuck)-perDest
	})
	if waited := time.Since(dispatched); waited < busyWait {
		t.Fatalf("queued deliveries put off after %s, before BusyWait %s", waited, busyWait)
	}
	// Put off, and deferred below, by a BusyDelay after the oldest request
	// in flight will have hung twice as long (the send timeout, 10s, is
	// further off): by how long it had hung, more than nothing and less
	// than since the requests were dispatched. The test clock stands
	// still; the requests' ages are real time.
	inRange := func(wait time.Duration) bool {
		wait -= busyDelay
		return wait > 0 && wait <= time.Since(dispatched)
	}
	for _, id := range putOff {
		o := store.outcome(t, id)
		if o.Attempt != nil || o.Delivered || !inRange(o.NextAttemptAt.Sub(store.clock.Now())) {
			t.Fatalf("put-off outcome = %+v, want no attempt and the next in how long the requests had hung (under %s) + %s",
				o, time.Since(dispatched), busyDelay)
		}
		if got, claimedBy := store.delivery(t, id); got.Status != herald.DeliveryPending || got.Attempts != 0 || claimedBy != "" {
			t.Fatalf("put-off delivery is %q after %d attempts, claimed by %q", got.Status, got.Attempts, claimedBy)
		}
	}
	if n, peak := hanging.total.Load(), hanging.peak.Load(); n != perDest || peak != perDest {
		t.Fatalf("hanging receiver got %d requests, at most %d at once; want %d", n, peak, perDest)
	}
	// New deliveries to the stalled destination are deferred before they
	// are written; to a healthy one they are not.
	before := time.Now()
	if wait := p.Defer(stuck[0]); !inRange(wait) || wait-busyDelay < before.Sub(allStarted) {
		t.Fatalf("Defer of a delivery to the stalled destination = %s, want how long the requests had hung (%s to %s) + %s",
			wait, before.Sub(allStarted), time.Since(dispatched), busyDelay)
	}
	if wait := p.Defer(burst[0]); wait != 0 {
		t.Fatalf("Defer of a delivery to a healthy destination = %s, want 0", wait)
	}

	// Released, the requests in flight complete and are recorded.
	hanging.Release()
	stopDispatcher(t, p)
	for _, id := range attempted {
		if got, _ := store.delivery(t, id); got.Status != herald.DeliveryDelivered {
			t.Fatalf("hanging delivery in flight is %q once released", got.Status)
		}
	}
	if n := hanging.total.Load(); n != perDest {
		t.Fatalf("hanging receiver got %d requests, want %d", n, perDest)
	}
}

// TestDispatcherConcurrency checks that no more than Concurrency requests
// are in flight across destinations: the receiver holds every request until
// as many as the bound are in flight, then lets one go at a time.
func TestDispatcherConcurrency(t *testing.T) {
	t.Parallel()
	const (
		limit = 3
		n     = 50
	)
	store := newFakeStore()
	p := startDispatcher(t, store, waitTimeout, func(o *DispatcherOptions) { o.Concurrency = limit })
	var inflight, peak atomic.Int32
	arrived := make(chan struct{}, n)
	next := make(chan struct{})
	quit := make(chan struct{})
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		notePeak(&peak, inflight.Add(1))
		arrived <- struct{}{}
		select {
		case <-next:
		case <-quit:
		case <-r.Context().Done():
		}
		inflight.Add(-1)
	})
	t.Cleanup(func() { close(quit) })
	var ds []*herald.Delivery
	for i := range 10 {
		ds = append(ds, newDeliveries(n/10, herald.DestinationHook, fmt.Sprintf("hook-%d", i), srv.URL)...)
	}

	p.Dispatch(store.claim(testNode, store.clock.Now().Add(p.Lease()), ds...))
	timeout := time.After(waitTimeout)
	arrivals := 0
	for done := range n {
		for arrivals-done < min(limit, n-done) {
			select {
			case <-arrived:
				arrivals++
			case <-timeout:
				t.Fatalf("%d requests arrived, %d answered; want %d in flight", arrivals, done, limit)
			}
		}
		if done == 0 {
			// While the first requests are held, the poller polls a few
			// times, and no more arrive.
			store.waitClaims(t, len(store.claimCalls())+3)
			if got := inflight.Load(); got != limit {
				t.Fatalf("%d requests in flight, limit %d", got, limit)
			}
		}
		next <- struct{}{}
	}
	store.waitStatus(t, herald.DeliveryDelivered, ids(ds)...)
	if got := peak.Load(); got != limit {
		t.Fatalf("at most %d requests in flight, want %d", got, limit)
	}
	if arrivals != n {
		t.Fatalf("%d requests arrived, want %d", arrivals, n)
	}
}

// TestDispatchCapacity hands more deliveries than Capacity to a dispatcher
// whose destination hangs: what does not fit is released at once, due now
// and without an attempt, and the poller sends it once there is room.
func TestDispatchCapacity(t *testing.T) {
	t.Parallel()
	const capacity = 4
	store := newFakeStore()
	p := startDispatcher(t, store, waitTimeout, func(o *DispatcherOptions) {
		o.Capacity = capacity
		o.PerDestinationConcurrency = 1
		// Long enough that nothing is put off during the test.
		o.BusyWait = time.Hour
	})
	hanging := newBlockingReceiver(t, http.StatusOK)
	ds := newDeliveries(10, herald.DestinationHook, "hook", hanging.URL)

	p.Dispatch(store.claim(testNode, store.clock.Now().Add(p.Lease()), ds...))
	hanging.waitStarted(t, 1)
	overflow := ids(ds[capacity:])
	store.waitOutcomes(t, overflow...)
	for _, id := range overflow {
		o := store.outcome(t, id)
		if o.Attempt != nil || o.Delivered || !o.NextAttemptAt.Equal(store.clock.Now()) {
			t.Fatalf("overflow outcome = %+v, want released due now without attempt", o)
		}
		if got, claimedBy := store.delivery(t, id); got.Status != herald.DeliveryPending || got.Attempts != 0 || claimedBy != "" {
			t.Fatalf("overflow delivery is %q after %d attempts, claimed by %q", got.Status, got.Attempts, claimedBy)
		}
	}
	for _, d := range ds[:capacity] {
		if os := store.outcomesOf(d.ID); len(os) != 0 {
			t.Fatalf("held delivery has outcomes %+v while its destination hangs", os)
		}
	}
	p.mu.Lock()
	held := p.held
	p.mu.Unlock()
	if held != capacity {
		t.Fatalf("dispatcher holds %d deliveries, want %d", held, capacity)
	}

	hanging.Release()
	store.waitStatus(t, herald.DeliveryDelivered, ids(ds)...)
	stopDispatcher(t, p)
	if n := hanging.total.Load(); n != int32(len(ds)) {
		t.Fatalf("receiver got %d requests, want %d", n, len(ds))
	}
}

// TestDispatchInactive fails a delivery to a disabled or removed
// destination without an attempt, whether handed over or claimed.
func TestDispatchInactive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handoff bool
	}{
		{"Handoff", true},
		{"Claimed", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newFakeStore()
			rec := newRecorder(t, nil)
			inactive := newDelivery(herald.DestinationHook, rec.URL)
			inactive.DestinationActive = false
			active := newDelivery(herald.DestinationHook, rec.URL)
			var p *Dispatcher
			if tt.handoff {
				p = startDispatcher(t, store, 5*time.Second)
				p.Dispatch(store.claim(testNode, store.clock.Now().Add(p.Lease()), inactive, active))
			} else {
				store.add(inactive, active)
				p = startDispatcher(t, store, 5*time.Second)
			}
			store.waitStatus(t, herald.DeliveryFailed, inactive.ID)
			store.waitStatus(t, herald.DeliveryDelivered, active.ID)
			stopDispatcher(t, p)

			if n := len(rec.byID(inactive.ID)); n != 0 {
				t.Fatalf("inactive delivery sent %d times", n)
			}
			if n := rec.count(); n != 1 {
				t.Fatalf("receiver got %d requests, want 1", n)
			}
			o := store.outcome(t, inactive.ID)
			if o.Attempt != nil || o.Delivered || !o.NextAttemptAt.IsZero() {
				t.Fatalf("outcome = %+v, want failed without attempt", o)
			}
			if got, _ := store.delivery(t, inactive.ID); got.Attempts != 0 {
				t.Fatalf("inactive delivery has %d attempts", got.Attempts)
			}
		})
	}
}

// TestDispatcherStop stops a dispatcher with a request in flight and two
// deliveries queued behind it: the queued ones are released due now, Stop
// waits for the request, whose outcome is recorded, and a dispatcher
// stopped takes nothing more and stops again at once.
func TestDispatcherStop(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	p := startDispatcher(t, store, waitTimeout, func(o *DispatcherOptions) {
		o.PerDestinationConcurrency = 1
		o.BusyWait = time.Hour
	})
	recv := newBlockingReceiver(t, http.StatusOK)
	until := store.clock.Now().Add(p.Lease())
	ds := newDeliveries(3, herald.DestinationHook, "hook", recv.URL)
	p.Dispatch(store.claim(testNode, until, ds...))
	recv.waitStarted(t, 1)

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		stopped <- p.Stop(ctx)
	}()
	queued := ids(ds[1:])
	store.waitOutcomes(t, queued...)
	for _, id := range queued {
		o := store.outcome(t, id)
		if o.Attempt != nil || o.Delivered || !o.NextAttemptAt.Equal(store.clock.Now()) {
			t.Fatalf("queued delivery's outcome = %+v, want released due now", o)
		}
		if got, claimedBy := store.delivery(t, id); got.Status != herald.DeliveryPending || claimedBy != "" {
			t.Fatalf("queued delivery is %q, claimed by %q; want pending and unclaimed", got.Status, claimedBy)
		}
	}
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned %v with a request in flight", err)
	default:
	}

	recv.Release()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Stop: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Stop did not return once the request finished")
	}
	o := store.outcome(t, ds[0].ID)
	if !o.Delivered || o.Attempt == nil || o.Attempt.StatusCode != http.StatusOK {
		t.Fatalf("in-flight delivery's outcome = %+v, want delivered", o)
	}
	if n := recv.total.Load(); n != 1 {
		t.Fatalf("receiver got %d requests, want 1", n)
	}

	t.Run("DispatchAfterStop", func(t *testing.T) {
		late := newDelivery(herald.DestinationHook, recv.URL)
		calls := store.completeCallCount()
		p.Dispatch(store.claim(testNode, until, late))
		p.mu.Lock()
		held, dests := p.held, len(p.dests)
		p.mu.Unlock()
		if held != 0 || dests != 0 {
			t.Fatalf("stopped dispatcher holds %d deliveries to %d destinations", held, dests)
		}
		if n := store.completeCallCount(); n != calls {
			t.Fatalf("CompleteDeliveries called %d more times", n-calls)
		}
		if got, claimedBy := store.delivery(t, late.ID); got.Status != herald.DeliveryPending || claimedBy != testNode {
			t.Fatalf("late delivery is %q, claimed by %q; want left to its claim", got.Status, claimedBy)
		}
	})
	t.Run("StopAgain", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := p.Stop(ctx); err != nil {
			t.Fatalf("second Stop: %v", err)
		}
	})
}

// TestDispatcherStopCancelled stops a dispatcher whose request hangs with a
// context already cancelled: Stop returns at once with the context's error.
func TestDispatcherStopCancelled(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	p := startDispatcher(t, store, waitTimeout, func(o *DispatcherOptions) {
		o.PerDestinationConcurrency = 1
		o.BusyWait = time.Hour
	})
	hanging := newBlockingReceiver(t, http.StatusOK)
	ds := newDeliveries(3, herald.DestinationHook, "hook", hanging.URL)
	p.Dispatch(store.claim(testNode, store.clock.Now().Add(p.Lease()), ds...))
	hanging.waitStarted(t, 1)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := p.Stop(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop = %v, want context.Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Fatalf("Stop took %s with a cancelled context", elapsed)
	}
	if n := hanging.inflight.Load(); n != 1 {
		t.Fatalf("%d requests in flight after Stop, want the hanging one", n)
	}
}

// TestDispatcherStopInterruptsClaim stops a dispatcher while its claim
// waits on the database: Stop cancels the claim rather than waiting for it.
func TestDispatcherStopInterruptsClaim(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	claiming := make(chan struct{}, 1)
	store.claimFunc = func(ctx context.Context) error {
		select {
		case claiming <- struct{}{}:
		default:
		}
		// A database waiting for a lock, until the caller gives up.
		<-ctx.Done()
		return ctx.Err()
	}
	p := startDispatcher(t, store, time.Second)
	select {
	case <-claiming:
	case <-time.After(waitTimeout):
		t.Fatal("the dispatcher did not claim")
	}

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		stopped <- p.Stop(ctx)
	}()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Stop: %v", err)
		}
	case <-time.After(waitTimeout + time.Second):
		t.Fatal("Stop waited for a claim blocked in the database")
	}
}

// TestDispatcherNotStarted: a dispatcher never started takes nothing and
// stops at once.
func TestDispatcherNotStarted(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	p := newTestDispatcher(t, store, time.Second)
	d := newDelivery(herald.DestinationHook, "http://127.0.0.1:1/")
	p.Dispatch(store.claim(testNode, store.clock.Now().Add(p.Lease()), d))
	p.mu.Lock()
	held := p.held
	p.mu.Unlock()
	if held != 0 {
		t.Fatalf("dispatcher not started holds %d deliveries", held)
	}
	if err := p.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if n := store.completeCallCount(); n != 0 {
		t.Fatalf("CompleteDeliveries called %d times", n)
	}
}

// TestDispatcherStart checks that Start releases this node's claims of an
// earlier run, which are then sent, and leaves other nodes' claims alone.
func TestDispatcherStart(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	rec := newRecorder(t, nil)
	later := store.clock.Now().Add(time.Hour)
	ours := store.claim(testNode, later, newDeliveries(2, herald.DestinationHook, "hook", rec.URL)...)
	theirs := store.claim("node-2", later, newDelivery(herald.DestinationHook, rec.URL))

	startDispatcher(t, store, 5*time.Second)
	store.mu.Lock()
	releases := slices.Clone(store.releases)
	store.mu.Unlock()
	if !slices.Equal(releases, []string{testNode}) {
		t.Fatalf("ReleaseDeliveries called for %q, want once for %q", releases, testNode)
	}
	store.waitStatus(t, herald.DeliveryDelivered, ids(ours)...)

	store.waitClaims(t, len(store.claimCalls())+3)
	got, claimedBy := store.delivery(t, theirs[0].ID)
	if got.Status != herald.DeliveryPending || claimedBy != "node-2" || !got.NextAttemptAt.Equal(later) {
		t.Fatalf("other node's delivery is %q, claimed by %q until %v; want left alone", got.Status, claimedBy, got.NextAttemptAt)
	}
	if n := len(rec.byID(theirs[0].ID)); n != 0 {
		t.Fatalf("other node's delivery sent %d times", n)
	}
}

// TestDispatcherStartFails: a Start whose release fails returns the error
// and starts nothing.
func TestDispatcherStartFails(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	store.releaseErr = errors.New("database is locked")
	p := newTestDispatcher(t, store, time.Second)
	if err := p.Start(t.Context()); !errors.Is(err, store.releaseErr) {
		t.Fatalf("Start = %v, want %v", err, store.releaseErr)
	}
	d := newDelivery(herald.DestinationHook, "http://127.0.0.1:1/")
	p.Dispatch(store.claim(testNode, store.clock.Now().Add(p.Lease()), d))
	if err := p.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if n := len(store.claimCalls()); n != 0 {
		t.Fatalf("ClaimDeliveries called %d times", n)
	}
	if n := store.completeCallCount(); n != 0 {
		t.Fatalf("CompleteDeliveries called %d times", n)
	}
}

// TestDispatcherCompleteFails checks that a batch the database fails to
// record is tried again, and left to its claims, logged, when it keeps
// failing.
func TestDispatcherCompleteFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		failures  int
		wantCalls int
		wantBatch int // batches recorded
		wantLog   bool
	}{
		{"Transient", 1, 2, 1, false},
		{"TwiceTransient", 2, 3, 1, false},
		{"Persistent", 3, 3, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newFakeStore()
			store.failCompletes = tt.failures
			logs := &syncBuffer{}
			p := startDispatcher(t, store, 5*time.Second, func(o *DispatcherOptions) {
				o.Logger = slog.New(slog.NewTextHandler(logs, nil))
			})
			rec := newRecorder(t, nil)
			d := newDelivery(herald.DestinationHook, rec.URL)
			until := store.clock.Now().Add(p.Lease())
			p.Dispatch(store.claim(testNode, until, d))
			store.waitFor(t, "the last CompleteDeliveries call", func() bool {
				return store.completeCalls == tt.wantCalls && store.failCompletes == 0
			})
			stopDispatcher(t, p)

			if n := store.completeCallCount(); n != tt.wantCalls {
				t.Fatalf("CompleteDeliveries called %d times, want %d", n, tt.wantCalls)
			}
			if n := len(store.recordedBatches()); n != tt.wantBatch {
				t.Fatalf("%d batches recorded, want %d", n, tt.wantBatch)
			}
			got, claimedBy := store.delivery(t, d.ID)
			logged := strings.Contains(logs.String(), "record delivery outcomes")
			if tt.wantLog {
				if got.Status != herald.DeliveryPending || claimedBy != testNode || !got.NextAttemptAt.Equal(until) {
					t.Fatalf("delivery is %q, claimed by %q until %v; want left to its claim", got.Status, claimedBy, got.NextAttemptAt)
				}
				if !logged || !strings.Contains(logs.String(), "database is locked") {
					t.Fatalf("log = %q, want the failure", logs.String())
				}
				return
			}
			if got.Status != herald.DeliveryDelivered || got.Attempts != 1 {
				t.Fatalf("delivery is %q after %d attempts, want delivered after 1", got.Status, got.Attempts)
			}
			if logged {
				t.Fatalf("log = %q, want no failure", logs.String())
			}
		})
	}
}

// TestDispatcherBatchesOutcomes holds the first CompleteDeliveries call
// until every request is answered: the outcomes that finish meanwhile are
// recorded together in the calls that follow, not one call each.
func TestDispatcherBatchesOutcomes(t *testing.T) {
	t.Parallel()
	const n = 100
	store := newFakeStore()
	var answered atomic.Int32
	all := make(chan struct{})
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if answered.Add(1) == n {
			close(all)
		}
	})
	store.completeFunc = func(call int) {
		if call == 1 {
			select {
			case <-all:
			case <-time.After(waitTimeout):
			}
		}
	}
	p := startDispatcher(t, store, 5*time.Second)
	var ds []*herald.Delivery
	for i := range 10 {
		ds = append(ds, newDeliveries(n/10, herald.DestinationHook, fmt.Sprintf("hook-%d", i), rec.URL)...)
	}
	p.Dispatch(store.claim(testNode, store.clock.Now().Add(p.Lease()), ds...))
	store.waitStatus(t, herald.DeliveryDelivered, ids(ds)...)
	stopDispatcher(t, p)

	batches := store.recordedBatches()
	var total, largest int
	for _, b := range batches {
		total += len(b)
		largest = max(largest, len(b))
	}
	if total != n {
		t.Fatalf("%d outcomes recorded, want %d", total, n)
	}
	if largest < 2 || len(batches) >= n/2 {
		t.Fatalf("%d outcomes recorded in %d calls, at most %d in one; want them batched", n, len(batches), largest)
	}
	t.Logf("%d outcomes in %d calls", n, len(batches))
}

// TestSweep checks one pass of the sweeper: the queue of a destination
// that has all its slots sending and no progress for BusyWait is put off by
// BusyDelay, a delivery held so long its claim might lapse is released due
// now, and the rest stay queued.
func TestSweep(t *testing.T) {
	t.Parallel()
	const (
		perDest   = 2
		busyWait  = time.Second
		busyDelay = 3 * time.Second
	)
	tests := []struct {
		name     string
		running  int
		sending  int
		progress time.Duration // ago
		ages     []time.Duration
		wantOff  int
		wantWait time.Duration // of the outcomes, from the clock
	}{
		// Put off by a BusyDelay after as long again as the requests in
		// flight have hung (a second).
		{"Stalled", perDest, perDest, 2 * busyWait, []time.Duration{0, 0}, 2, time.Second + busyDelay},
		{"BusyButProgressing", perDest, perDest, 0, []time.Duration{0, 0}, 0, 0},
		{"NotAllSending", perDest, perDest - 1, time.Hour, []time.Duration{0, 0}, 0, 0},
		// Its senders wait for the node's slots: the node is loaded, the
		// destination is not stalled.
		{"WaitingForNode", perDest, 0, time.Hour, []time.Duration{0, 0}, 0, 0},
		{"HeldTooLong", 1, 1, 0, []time.Duration{time.Hour, 0}, 1, 0},
		{"Empty", perDest, perDest, time.Hour, nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newFakeStore()
			p := newTestDispatcher(t, store, time.Second, func(o *DispatcherOptions) {
				o.PerDestinationConcurrency = perDest
				o.BusyWait = busyWait
				o.BusyDelay = busyDelay
			})
			now := time.Now()
			dest := &destination{key: "k", running: tt.running, progress: now.Add(-tt.progress)}
			for range tt.sending {
				dest.started = append(dest.started, now.Add(-time.Second))
			}
			for _, age := range tt.ages {
				dest.queue = append(dest.queue, held{d: newDelivery(herald.DestinationHook, ""), since: now.Add(-age)})
			}
			p.dests[dest.key] = dest
			p.held = len(tt.ages)

			p.sweep()
			if n := len(p.outcomes); n != tt.wantOff {
				t.Fatalf("%d deliveries taken off the queue, want %d", n, tt.wantOff)
			}
			for range tt.wantOff {
				// The requests' ages are real time, and the sweep comes a
				// moment after now (up to half a second on a loaded
				// machine).
				o := <-p.outcomes
				if wait := o.NextAttemptAt.Sub(store.clock.Now()); o.Attempt != nil || o.Delivered || wait < tt.wantWait || wait > tt.wantWait+500*time.Millisecond {
					t.Fatalf("outcome = %+v, want no attempt and the next in %s", o, tt.wantWait)
				}
			}
			if want := len(tt.ages) - tt.wantOff; len(dest.queue) != want || p.held != want {
				t.Fatalf("%d queued and %d held after the sweep, want %d", len(dest.queue), p.held, want)
			}
		})
	}
}

// TestPutOffGrowsWithAge: a delivery put off because its destination is
// busy waits BusyDelay while young, half its age once older, and at most
// maxBusyDelay, so a hanging destination does not cost a put-off a second.
func TestPutOffGrowsWithAge(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	p := newTestDispatcher(t, store, time.Second)
	tests := []struct {
		name string
		age  time.Duration
		want time.Duration
	}{
		{"Young", 0, DefaultBusyDelay},
		{"NoCreatedAt", -1, DefaultBusyDelay},
		{"SecondsOld", 3 * time.Second, 1500 * time.Millisecond},
		{"MinutesOld", 4 * time.Minute, 2 * time.Minute},
		{"Capped", time.Hour, maxBusyDelay},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			now := store.clock.Now()
			d := &herald.Delivery{ID: "d"}
			if tt.age >= 0 {
				d.CreatedAt = now.Add(-tt.age)
			}
			o := p.putOff(d, 0)
			if o.DeliveryID != d.ID || o.Attempt != nil || o.Delivered {
				t.Fatalf("outcome = %+v, want put off without attempt", o)
			}
			if got := o.NextAttemptAt.Sub(now); got != tt.want {
				t.Fatalf("put off by %s, want %s", got, tt.want)
			}
		})
	}
}

// TestHungLocked checks how much longer a stalled destination's deliveries
// wait: as long as it has gone without answering, from the oldest of its
// requests in flight or from the first request of its silence that timed
// out, whichever began first, up to maxBusyDelay. The send timeout does not
// cut it short: the requests after a timeout hang like the ones before.
func TestHungLocked(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		name   string
		ages   []time.Duration // of the requests in flight
		silent time.Duration   // since the silence began; 0 for none
		want   time.Duration
	}{
		{"NoneInFlight", nil, 0, 0},
		{"JustStarted", []time.Duration{100 * time.Millisecond, 150 * time.Millisecond}, 0, 150 * time.Millisecond},
		{"HungTwoSeconds", []time.Duration{time.Second, 2 * time.Second, 500 * time.Millisecond}, 0, 2 * time.Second},
		{"NearItsTimeout", []time.Duration{4 * time.Second, time.Second}, 0, 4 * time.Second},
		{"PastItsTimeout", []time.Duration{6 * time.Second}, 0, 6 * time.Second},
		{"SilentNoneInFlight", nil, 30 * time.Second, 30 * time.Second},
		{"SilentBeforeTheRequests", []time.Duration{time.Second}, 20 * time.Second, 20 * time.Second},
		// A request in flight from before the silence began (it has not
		// timed out yet: a longer timeout than the others had).
		{"RequestBeforeTheSilence", []time.Duration{8 * time.Second}, 6 * time.Second, 8 * time.Second},
		{"Capped", nil, time.Hour, maxBusyDelay},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newTestDispatcher(t, newFakeStore(), 5*time.Second)
			dest := &destination{key: "k"}
			for _, age := range tt.ages {
				dest.started = append(dest.started, now.Add(-age))
			}
			if tt.silent > 0 {
				p.silent[dest.key] = silence{since: now.Add(-tt.silent), last: now}
			}
			if got := p.hungLocked(dest, now); got != tt.want {
				t.Fatalf("hungLocked = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestSilenceLocked checks what a finished request does to its
// destination's silence: a timeout begins it (from when the request began)
// or extends it, anything else ends it and counts as progress; and that
// silences are forgotten only once nothing is sent to the destination and
// nothing of it timed out for silenceMemory.
func TestSilenceLocked(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	tests := []struct {
		name     string
		before   *silence      // the destination's silence before; nil for none
		started  time.Duration // ago, of the finished request
		timedOut bool
		want     *silence
		progress bool // the request counts as progress
	}{
		{"FirstTimeout", nil, 5 * time.Second, true, &silence{since: ago(5 * time.Second), last: now}, false},
		{"LaterTimeout", &silence{since: ago(time.Minute), last: ago(10 * time.Second)}, 5 * time.Second, true,
			&silence{since: ago(time.Minute), last: now}, false},
		{"EarlierRequestTimesOut", &silence{since: ago(5 * time.Second), last: ago(time.Second)}, 8 * time.Second, true,
			&silence{since: ago(8 * time.Second), last: now}, false},
		{"AnswerEndsIt", &silence{since: ago(time.Minute), last: ago(time.Second)}, 100 * time.Millisecond, false, nil, true},
		{"AnswerWithoutSilence", nil, 100 * time.Millisecond, false, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newTestDispatcher(t, newFakeStore(), 5*time.Second)
			dest := &destination{key: "k", progress: ago(time.Hour)}
			if tt.before != nil {
				p.silent[dest.key] = *tt.before
			}
			p.silenceLocked(dest, ago(tt.started), now, tt.timedOut)
			got, ok := p.silent[dest.key]
			switch {
			case tt.want == nil && ok:
				t.Fatalf("silence = %+v, want none", got)
			case tt.want != nil && (!ok || got != *tt.want):
				t.Fatalf("silence = %+v (kept: %t), want %+v", got, ok, *tt.want)
			}
			if progressed := dest.progress.Equal(now); progressed != tt.progress {
				t.Fatalf("progress = %s ago, want progress: %t", now.Sub(dest.progress), tt.progress)
			}
		})
	}

	t.Run("Forget", func(t *testing.T) {
		t.Parallel()
		p := newTestDispatcher(t, newFakeStore(), 5*time.Second)
		p.silent["recent"] = silence{since: ago(time.Hour), last: ago(silenceMemory - time.Second)}
		p.silent["old"] = silence{since: ago(time.Hour), last: ago(silenceMemory + time.Second)}
		p.silent["old-but-sending"] = silence{since: ago(time.Hour), last: ago(silenceMemory + time.Second)}
		p.dests["old-but-sending"] = &destination{key: "old-but-sending"}
		p.forgetSilenceLocked(now)
		var kept []string
		for key := range p.silent {
			kept = append(kept, key)
		}
		slices.Sort(kept)
		if want := []string{"old-but-sending", "recent"}; !slices.Equal(kept, want) {
			t.Fatalf("silences kept: %v, want %v", kept, want)
		}

		// It looks again a second later, not before.
		p.silent["old"] = silence{since: ago(time.Hour), last: ago(silenceMemory + time.Second)}
		if p.forgetSilenceLocked(now.Add(999 * time.Millisecond)); len(p.silent) != 3 {
			t.Fatalf("%d silences kept a moment later, want 3: it looks once a second", len(p.silent))
		}
		if p.forgetSilenceLocked(now.Add(time.Second)); len(p.silent) != 2 {
			t.Fatalf("%d silences kept a second later, want 2", len(p.silent))
		}
	})
}

// TestDispatcherSilence checks, end to end, that a destination whose
// requests time out stays silent across its timeouts: once the requests
// after them hang too, its new deliveries are deferred by as long as it has
// not answered, counted from the first requests, not from the ones in
// flight; and that an answer ends the silence.
func TestDispatcherSilence(t *testing.T) {
	t.Parallel()
	const (
		perDest   = 2
		timeout   = 300 * time.Millisecond
		busyWait  = 50 * time.Millisecond
		busyDelay = 10 * time.Millisecond
	)
	store := newFakeStore()
	p := startDispatcher(t, store, timeout, func(o *DispatcherOptions) {
		o.PerDestinationConcurrency = perDest
		o.BusyWait = busyWait
		o.BusyDelay = busyDelay
	})
	hanging := newBlockingReceiver(t, http.StatusOK)
	until := store.clock.Now().Add(p.Lease())

	first := newDeliveries(perDest, herald.DestinationHook, "hanging", hanging.URL)
	p.Dispatch(store.claim(testNode, until, first...))
	hanging.waitStarted(t, perDest)
	firstStarted := time.Now() // the first requests began before this
	store.waitFor(t, "the first requests time out", func() bool {
		for _, d := range first {
			if os := store.outcomes[d.ID]; len(os) != 1 || os[0].Attempt == nil {
				return false
			}
		}
		return true
	})
	for _, d := range first {
		if o := store.outcome(t, d.ID); o.Delivered || o.Attempt.StatusCode != 0 || o.NextAttemptAt.IsZero() {
			t.Fatalf("timed-out outcome = %+v, want an attempt without answer and a retry", o)
		}
	}

	second := newDeliveries(perDest, herald.DestinationHook, "hanging", hanging.URL)
	p.Dispatch(store.claim(testNode, until, second...))
	hanging.waitStarted(t, perDest)
	next := newDeliveries(1, herald.DestinationHook, "hanging", hanging.URL)[0]
	// Stalled once the requests in flight have hung for BusyWait.
	for deadline := time.Now().Add(waitTimeout); p.Defer(next) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the destination to stall again")
		}
	}
	before := time.Now()
	wait := p.Defer(next) - busyDelay
	if silent := before.Sub(firstStarted); wait < silent || wait > time.Since(firstStarted)+timeout {
		t.Fatalf("Defer after a timeout = %s + BusyDelay, want how long since the first requests began (at least %s)", wait, silent)
	}

	// An answer ends the silence; with nothing in flight, nothing waits.
	hanging.Release()
	store.waitStatus(t, herald.DeliveryDelivered, ids(second)...)
	p.mu.Lock()
	n := len(p.silent)
	p.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d silences kept after an answer, want none", n)
	}
	if wait := p.Defer(next); wait != 0 {
		t.Fatalf("Defer after an answer = %s, want 0", wait)
	}
}

// TestNewDispatcher checks the defaults and bounds NewDispatcher fills in.
func TestNewDispatcher(t *testing.T) {
	t.Parallel()
	type settings struct {
		lease, poll, busyWait, busyDelay time.Duration
		perDest, concurrency, capacity   int
		completers                       int
	}
	store := newFakeStore()
	defaults := settings{
		lease: DefaultLease(DefaultTimeout), poll: DefaultPollInterval,
		busyWait: DefaultBusyWait, busyDelay: DefaultBusyDelay,
		perDest: DefaultPerDestinationConcurrency, concurrency: DefaultConcurrency,
		capacity: 2000, completers: 1,
	}
	tests := []struct {
		name   string
		config func(*DispatcherOptions)
		want   func(*settings)
	}{
		{"Defaults", func(*DispatcherOptions) {}, func(*settings) {}},
		{"CapacityFromConcurrency", func(o *DispatcherOptions) { o.Concurrency = 500 }, func(s *settings) {
			s.concurrency, s.capacity = 500, 5000
		}},
		{"LeaseFromTimeout", func(o *DispatcherOptions) {
			o.Sender = NewSender(SenderOptions{Timeout: 2 * time.Second})
		}, func(s *settings) { s.lease = DefaultLease(2 * time.Second) }},
		{"LeaseAtLeastMin", func(o *DispatcherOptions) {
			o.Sender = NewSender(SenderOptions{Timeout: 2 * time.Second})
			o.Lease = time.Second
		}, func(s *settings) { s.lease = MinLease(2 * time.Second) }},
		{"LongerLease", func(o *DispatcherOptions) { o.Lease = time.Hour }, func(s *settings) { s.lease = time.Hour }},
		{"NegativeBusyWait", func(o *DispatcherOptions) { o.BusyWait = -1 }, func(s *settings) { s.busyWait = 0 }},
		{"Set", func(o *DispatcherOptions) {
			o.PollInterval, o.BusyWait, o.BusyDelay = time.Second, time.Minute, time.Hour
			o.Concurrency, o.PerDestinationConcurrency, o.Capacity, o.Completers = 10, 5, 50, 3
		}, func(s *settings) {
			s.poll, s.busyWait, s.busyDelay = time.Second, time.Minute, time.Hour
			s.concurrency, s.perDest, s.capacity, s.completers = 10, 5, 50, 3
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := DispatcherOptions{Store: store, Node: testNode}
			tt.config(&opts)
			p := NewDispatcher(opts)
			got := settings{
				lease: p.Lease(), poll: p.poll, busyWait: p.busyWait, busyDelay: p.busyDelay,
				perDest: p.perDest, concurrency: cap(p.sendSlots), capacity: p.capacity,
				completers: p.completers,
			}
			want := defaults
			tt.want(&want)
			if got != want {
				t.Fatalf("settings = %+v, want %+v", got, want)
			}
			if cap(p.outcomes) != p.capacity {
				t.Fatalf("outcome buffer of %d, want the capacity %d", cap(p.outcomes), p.capacity)
			}
		})
	}
	t.Run("Required", func(t *testing.T) {
		t.Parallel()
		for _, opts := range []DispatcherOptions{{Node: testNode}, {Store: store}} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("NewDispatcher(%+v) did not panic", opts)
					}
				}()
				NewDispatcher(opts)
			}()
		}
	})
}

// TestDispatcherClaimsWaitForRecording checks the poller's backpressure:
// outcomes waiting to be recorded count against Capacity, so a database
// that records slowly is not handed more and more claimed work. While the
// first outcomes wait, every claim asks only for the room they leave; once
// they are recorded, claims ask for the whole Capacity again and the
// deliveries due meanwhile are sent.
func TestDispatcherClaimsWaitForRecording(t *testing.T) {
	t.Parallel()
	const (
		capacity = 10
		first    = 4
	)
	store := newFakeStore()
	rec := newRecorder(t, nil)
	started, release := make(chan struct{}), make(chan struct{})
	store.completeFunc = func(call int) {
		if call == 1 {
			close(started)
			select {
			case <-release:
			case <-time.After(waitTimeout):
			}
		}
	}
	now := store.clock.Now()
	ds := newDeliveries(first, herald.DestinationHook, "hook", rec.URL)
	for _, d := range ds {
		d.NextAttemptAt = now
	}
	later := newDeliveries(2*capacity, herald.DestinationHook, "hook", rec.URL)
	for _, d := range later {
		d.NextAttemptAt = now.Add(time.Minute)
	}
	all := append(ds, later...)
	store.add(all...)
	p := startDispatcher(t, store, 5*time.Second, func(o *DispatcherOptions) { o.Capacity = capacity })
	var once sync.Once
	releaseRecording := func() { once.Do(func() { close(release) }) }
	// Registered after the dispatcher's Stop, so it runs before it.
	t.Cleanup(releaseRecording)
	select {
	case <-started:
	case <-time.After(waitTimeout):
		t.Fatal("no outcome was recorded")
	}

	// The first outcomes are sent and wait to be recorded; the poller goes
	// on asking the store for due deliveries, each time for the room left.
	store.waitFor(t, "the first outcomes waiting to be recorded", func() bool {
		held, unrecorded := p.Load()
		return held == 0 && unrecorded == first
	})
	waiting := len(store.claimCalls())
	store.waitClaims(t, waiting+3)
	for _, c := range store.claimCalls()[waiting:] {
		if c.limit != capacity-first {
			t.Fatalf("claim for %d deliveries while %d outcomes wait to be recorded, want %d", c.limit, first, capacity-first)
		}
	}

	releaseRecording()
	recorded := len(store.claimCalls())
	store.waitFor(t, "a claim for the whole capacity", func() bool {
		return slices.ContainsFunc(store.claims[recorded:], func(c claimCall) bool { return c.limit == capacity })
	})
	store.clock.Add(time.Minute)
	store.waitStatus(t, herald.DeliveryDelivered, ids(all)...)
	stopDispatcher(t, p)
	if n := rec.count(); n != len(all) {
		t.Fatalf("receiver got %d requests, want %d", n, len(all))
	}
}

// TestDispatcherBlockedDestination sends to a loopback receiver through a
// Guard that refuses loopback: the recorded attempt says only "destination
// not allowed", and the address and reason go to the log at warn level.
func TestDispatcherBlockedDestination(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		kind string
	}{
		{"ServiceHook", herald.DestinationHook},
		{"SentryApp", herald.DestinationApp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newFakeStore()
			logs := &syncBuffer{}
			p := startDispatcher(t, store, 5*time.Second, func(o *DispatcherOptions) {
				o.Sender = NewSender(SenderOptions{Timeout: 5 * time.Second, Guard: &Guard{}, Clock: store.clock})
				o.Logger = slog.New(slog.NewTextHandler(logs, nil))
			})
			rec := newRecorder(t, nil)
			d := newDelivery(tt.kind, rec.URL)
			p.Dispatch(store.claim(testNode, store.clock.Now().Add(p.Lease()), d))
			store.waitOutcomes(t, d.ID)

			o := store.outcome(t, d.ID)
			if o.Attempt == nil || o.Attempt.Error != "destination not allowed" {
				t.Fatalf("outcome attempt = %+v, want error %q", o.Attempt, "destination not allowed")
			}
			if strings.Contains(o.Attempt.Error, "127.0.0.1") {
				t.Fatalf("attempt error %q reveals the address", o.Attempt.Error)
			}
			if n := rec.count(); n != 0 {
				t.Fatalf("receiver got %d requests through the guard", n)
			}
			log := logs.String()
			for _, want := range []string{
				"level=WARN",
				`msg="delivery destination not allowed"`,
				"delivery_id=" + d.ID,
				"destination_kind=" + tt.kind,
				"destination=" + d.DestinationID,
				"address=127.0.0.1",
				`reason="loopback address"`,
			} {
				if !strings.Contains(log, want) {
					t.Fatalf("log = %q, want %q in it", log, want)
				}
			}
		})
	}
}
