package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/herald-dev/herald"
)

// Worker defaults and bounds.
const (
	DefaultPerDestinationConcurrency = 32
	DefaultBusyWait                  = 100 * time.Millisecond
	DefaultBusyDelay                 = time.Second

	// maxJobSends bounds the requests one job has in flight at once.
	maxJobSends = 256
	// completeTimeout bounds recording a job's outcomes, which runs even
	// when the job is being cancelled.
	completeTimeout = 30 * time.Second
)

// WorkerOptions configure a Worker.
type WorkerOptions struct {
	// Store loads deliveries and records their outcomes. Required.
	Store herald.DeliveryService
	// Sender makes the attempts; nil means NewSender(SenderOptions{}).
	Sender *Sender
	// Policy schedules retries; a nil Schedule means DefaultSchedule.
	Policy Policy
	// Clock stamps outcomes; default herald.SystemClock.
	Clock herald.Clock
	// Logger receives a debug line per batch; nil discards.
	Logger *slog.Logger
	// PerDestinationConcurrency is how many requests one destination may
	// have in flight across all jobs of the process. Default 32.
	PerDestinationConcurrency int
	// BusyWait is how long a delivery waits for one of its destination's
	// slots when all are taken. A healthy destination frees slots within
	// milliseconds; a hanging one does not, and its deliveries are put off
	// after this wait instead of holding the job. Default 100ms; negative
	// means no wait.
	BusyWait time.Duration
	// BusyDelay is how long a delivery that found its destination busy is
	// put off, jittered like retries. Default 1s.
	BusyDelay time.Duration
}

// Worker is the River worker of herald.DeliverArgs jobs: it sends a batch of
// deliveries concurrently and records every outcome in one call.
//
// A destination never has more than PerDestinationConcurrency requests in
// flight, across all jobs. The deliveries of a job to one destination are
// sent one after another by as many slots as the job gets. A delivery whose
// destination stays at its limit for BusyWait is put off by BusyDelay
// without an attempt, and a job stops starting requests once it has run for
// the send timeout, putting the rest off the same way. So a hanging
// destination holds no more than its own slots for one timeout, and
// deliveries to healthy destinations are not delayed by it.
type Worker struct {
	river.WorkerDefaults[herald.DeliverArgs]

	store     herald.DeliveryService
	sender    *Sender
	policy    Policy
	clock     herald.Clock
	logger    *slog.Logger
	busyWait  time.Duration
	busyDelay time.Duration
	limiter   *limiter
}

// NewWorker returns a Worker with opts, defaults filled in. It panics when
// opts.Store is nil.
func NewWorker(opts WorkerOptions) *Worker {
	if opts.Store == nil {
		panic("delivery: NewWorker needs a Store")
	}
	if opts.Sender == nil {
		opts.Sender = NewSender(SenderOptions{})
	}
	if opts.Policy.Schedule == nil {
		opts.Policy.Schedule = DefaultSchedule
	}
	if opts.Clock == nil {
		opts.Clock = herald.SystemClock
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PerDestinationConcurrency <= 0 {
		opts.PerDestinationConcurrency = DefaultPerDestinationConcurrency
	}
	if opts.BusyWait == 0 {
		opts.BusyWait = DefaultBusyWait
	}
	if opts.BusyDelay <= 0 {
		opts.BusyDelay = DefaultBusyDelay
	}
	return &Worker{
		store:     opts.Store,
		sender:    opts.Sender,
		policy:    opts.Policy,
		clock:     opts.Clock,
		logger:    opts.Logger,
		busyWait:  max(opts.BusyWait, 0),
		busyDelay: opts.BusyDelay,
		limiter:   newLimiter(opts.PerDestinationConcurrency),
	}
}

// RegisterWorkers adds w to workers as the worker of herald.DeliverArgs.
func RegisterWorkers(workers *river.Workers, w *Worker) {
	river.AddWorker(workers, w)
}

// Work sends the deliveries of a job (River's Worker).
func (w *Worker) Work(ctx context.Context, job *river.Job[herald.DeliverArgs]) error {
	return w.Deliver(ctx, job.Args.DeliveryIDs)
}

// Timeout leaves a job room to finish its requests and record them: a job
// starts requests for one send timeout, after waiting for slots, and each
// lasts at most another (River's Worker).
func (w *Worker) Timeout(*river.Job[herald.DeliverArgs]) time.Duration {
	return max(time.Minute, w.busyWait+2*w.sender.timeout+completeTimeout)
}

// Deliver sends the pending deliveries among ids and records their outcomes
// with one CompleteDeliveries call. Ids that are not pending are skipped, so
// running a batch again never resends a delivered one.
//
// Cancelling ctx stops new requests from starting (their deliveries are put
// off without an attempt) but lets those in flight finish, bounded by the
// send timeout, and still records every outcome.
func (w *Worker) Deliver(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	ds, err := w.store.FindDeliveriesToSend(ctx, ids)
	if err != nil {
		return fmt.Errorf("find deliveries: %w", err)
	}
	ds = uniqueDeliveries(ds)
	if len(ds) == 0 {
		return nil
	}

	b := &batch{
		w:        w,
		ctx:      ctx,
		deadline: time.Now().Add(w.sender.timeout),
		ds:       ds,
		outcomes: make([]*herald.Outcome, len(ds)),
		sends:    make(chan struct{}, maxJobSends),
	}
	b.run()

	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), completeTimeout)
	defer cancel()
	if err := w.store.CompleteDeliveries(cctx, b.outcomes); err != nil {
		return fmt.Errorf("complete deliveries: %w", err)
	}
	w.logBatch(ctx, b.outcomes)
	return nil
}

// batch is the sending of one Deliver call.
type batch struct {
	w   *Worker
	ctx context.Context
	// deadline is when the batch stops starting new requests.
	deadline time.Time
	ds       []*herald.Delivery
	// outcomes[i] is the outcome of ds[i]; each is written by one goroutine.
	outcomes []*herald.Outcome
	// sends bounds the batch's requests in flight.
	sends chan struct{}
}

// run fills b.outcomes.
func (b *batch) run() {
	// Group the deliveries by destination, keeping their order.
	groups := make(map[string][]int)
	var keys []string
	for i, d := range b.ds {
		if !d.DestinationActive {
			b.outcomes[i] = &herald.Outcome{DeliveryID: d.ID}
			continue
		}
		key := destinationKey(d)
		if _, ok := groups[key]; !ok {
			keys = append(keys, key)
		}
		groups[key] = append(groups[key], i)
	}

	var wg sync.WaitGroup
	queues := make([]*queue, len(keys))
	for k, key := range keys {
		q := newQueue(groups[key])
		queues[k] = q
		for range min(q.len(), b.w.limiter.max) {
			wg.Go(func() {
				slot, ok := b.w.limiter.acquire(b.ctx, key, b.w.busyWait, q.drained)
				if !ok {
					return
				}
				defer b.w.limiter.release(slot)
				b.drain(q)
			})
		}
	}
	wg.Wait()
	// What no slot came free for is put off.
	for _, q := range queues {
		for i, ok := q.pop(); ok; i, ok = q.pop() {
			b.outcomes[i] = b.w.putOff(b.ds[i])
		}
	}
}

// drain sends q's deliveries one after another while the batch may start
// requests, and puts off the rest.
func (b *batch) drain(q *queue) {
	for {
		i, ok := q.pop()
		if !ok {
			return
		}
		b.sends <- struct{}{}
		if b.ctx.Err() != nil || time.Now().After(b.deadline) {
			b.outcomes[i] = b.w.putOff(b.ds[i])
		} else {
			b.outcomes[i] = b.w.send(b.ctx, b.ds[i])
		}
		<-b.sends
	}
}

// send makes one attempt at d and turns it into an outcome. The request is
// not cancelled with ctx, only bounded by the send timeout, so that an
// attempt under way at shutdown completes and is recorded.
func (w *Worker) send(ctx context.Context, d *herald.Delivery) *herald.Outcome {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.sender.timeout)
	defer cancel()
	a, retryAfter := w.sender.Send(sctx, d)
	o := &herald.Outcome{DeliveryID: d.ID, Attempt: a}
	if a.StatusCode >= 200 && a.StatusCode < 300 {
		o.Delivered = true
		return o
	}
	if next, ok := w.policy.Next(w.clock.Now(), d.Attempts+1, retryAfter); ok {
		o.NextAttemptAt = next
	}
	return o
}

// putOff is the outcome of a delivery not attempted now: it is tried again
// after a jittered BusyDelay.
//
// A delivery that has waited long already waits longer: half its age, up to
// maxBusyDelay. A destination that stays saturated (it hangs) then costs a
// few put-offs per delivery rather than one a second for as long as it
// hangs, which would load the database on behalf of healthy destinations.
func (w *Worker) putOff(d *herald.Delivery) *herald.Outcome {
	now := w.clock.Now()
	delay := w.busyDelay
	if !d.CreatedAt.IsZero() {
		delay = max(delay, min(now.Sub(d.CreatedAt)/2, maxBusyDelay))
	}
	return &herald.Outcome{
		DeliveryID:    d.ID,
		NextAttemptAt: now.Add(w.policy.jitter(delay)),
	}
}

// maxBusyDelay bounds how long a put-off delivery waits.
const maxBusyDelay = 5 * time.Minute

// logBatch logs a summary of a batch's outcomes.
func (w *Worker) logBatch(ctx context.Context, outcomes []*herald.Outcome) {
	if !w.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	var delivered, retrying, failed, putOff int
	for _, o := range outcomes {
		switch {
		case o.Delivered:
			delivered++
		case o.NextAttemptAt.IsZero():
			failed++
		case o.Attempt == nil:
			putOff++
		default:
			retrying++
		}
	}
	w.logger.DebugContext(ctx, "deliveries sent",
		"count", len(outcomes), "delivered", delivered, "retrying", retrying,
		"failed", failed, "put_off", putOff)
}

// uniqueDeliveries drops repeated deliveries, so that each is sent once and
// has one outcome.
func uniqueDeliveries(ds []*herald.Delivery) []*herald.Delivery {
	seen := make(map[string]bool, len(ds))
	out := ds[:0:0]
	for _, d := range ds {
		if !seen[d.ID] {
			seen[d.ID] = true
			out = append(out, d)
		}
	}
	return out
}

// destinationKey identifies a delivery's destination in the limiter.
func destinationKey(d *herald.Delivery) string {
	return d.DestinationKind + "/" + d.DestinationID
}

// queue hands out a group's delivery indexes to the goroutines draining it.
type queue struct {
	mu  sync.Mutex
	idx []int
	// drained is closed when the last index is taken.
	drained chan struct{}
}

// newQueue returns a queue of idx.
func newQueue(idx []int) *queue {
	return &queue{idx: idx, drained: make(chan struct{})}
}

// pop returns the next index, or false when none is left.
func (q *queue) pop() (int, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.idx) == 0 {
		return 0, false
	}
	i := q.idx[0]
	q.idx = q.idx[1:]
	if len(q.idx) == 0 {
		close(q.drained)
	}
	return i, true
}

// len returns how many indexes are left.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.idx)
}

// limiter bounds the requests in flight per destination. Its map holds only
// destinations with requests in flight or waiting, so it does not grow with
// the number of destinations ever sent to.
type limiter struct {
	mu    sync.Mutex
	max   int
	slots map[string]*slots
}

// slots are one destination's share of the limiter.
type slots struct {
	key string
	// sem holds a token per request in flight.
	sem chan struct{}
	// refs counts the holders and waiters; the entry is removed at zero.
	refs int
}

// newLimiter returns a limiter of max requests per destination.
func newLimiter(max int) *limiter {
	return &limiter{max: max, slots: make(map[string]*slots)}
}

// acquire takes a slot of key, waiting up to wait for one to come free, and
// returns it for release. It gives up, returning false, when none does, or
// when ctx is done or stop is closed first.
func (l *limiter) acquire(ctx context.Context, key string, wait time.Duration, stop <-chan struct{}) (*slots, bool) {
	s := l.ref(key)
	select {
	case s.sem <- struct{}{}:
		return s, true
	default:
	}
	if wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case s.sem <- struct{}{}:
			return s, true
		case <-timer.C:
		case <-ctx.Done():
		case <-stop:
		}
	}
	l.unref(s)
	return nil, false
}

// release gives back a slot taken by acquire.
func (l *limiter) release(s *slots) {
	<-s.sem
	l.unref(s)
}

// ref returns key's entry, creating it, and counts a reference.
func (l *limiter) ref(key string) *slots {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.slots[key]
	if !ok {
		s = &slots{key: key, sem: make(chan struct{}, l.max)}
		l.slots[key] = s
	}
	s.refs++
	return s
}

// unref drops a reference to s, removing it when it was the last.
func (l *limiter) unref(s *slots) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.refs--; s.refs == 0 {
		delete(l.slots, s.key)
	}
}

// size returns how many destinations have requests in flight or waiting.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.slots)
}
