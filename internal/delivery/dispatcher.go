package delivery

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/herald-dev/herald"
)

// Dispatcher defaults and bounds.
const (
	DefaultConcurrency               = 200
	DefaultPerDestinationConcurrency = 32
	DefaultPollInterval              = 20 * time.Millisecond
	DefaultBusyWait                  = 100 * time.Millisecond
	DefaultBusyDelay                 = time.Second

	// maxClaim bounds the deliveries one claim takes.
	maxClaim = 500
	// maxComplete bounds the outcomes one CompleteDeliveries call records.
	maxComplete = 1000
	// completeLinger is how long a completer waits for more outcomes to
	// record together with the first.
	completeLinger = 10 * time.Millisecond
	// completeTimeout bounds one CompleteDeliveries call.
	completeTimeout = 30 * time.Second
	// maxBusyDelay bounds how long a put-off delivery waits.
	maxBusyDelay = 5 * time.Minute
	// silenceMemory is how long a destination's silence is kept after the
	// last of its requests timed out: a hanging destination is tried at
	// least every maxBusyDelay, so it keeps its silence while it hangs.
	silenceMemory = 2 * maxBusyDelay
)

// DispatcherOptions configure a Dispatcher.
type DispatcherOptions struct {
	// Store claims deliveries and records their outcomes. Required.
	Store herald.DeliveryService
	// Node names this node in its claims. Required.
	Node string
	// Sender makes the attempts; nil means NewSender(SenderOptions{}).
	Sender *Sender
	// Policy schedules retries; a nil Schedule means DefaultSchedule.
	Policy Policy
	// Clock stamps outcomes and claims; default herald.SystemClock.
	Clock herald.Clock
	// Logger receives errors and a debug line per recorded batch; nil
	// discards.
	Logger *slog.Logger
	// Lease is how long a claim lasts. A node that dies holding deliveries
	// leaves them to the other nodes after this long. Default
	// DefaultLease, and at least MinLease, of the sender's timeout.
	Lease time.Duration
	// PollInterval is how often the database is asked for due deliveries
	// while it has none. Default 20ms.
	PollInterval time.Duration
	// Concurrency bounds the requests in flight on this node. Default 200.
	Concurrency int
	// PerDestinationConcurrency bounds the requests in flight to one
	// destination on this node. Default 32.
	PerDestinationConcurrency int
	// BusyWait is how long a destination may have all its requests in
	// flight without one finishing before it counts as stalled: its queued
	// deliveries are then put off instead of waiting for it. A healthy
	// destination finishes requests within milliseconds; a hanging one does
	// not. Default 100ms; negative means put off at once.
	BusyWait time.Duration
	// BusyDelay is how long a delivery of a stalled destination is put off,
	// jittered like retries, and longer for older deliveries, and longer
	// by as long as the destination has gone without answering (up to
	// five minutes). Default 1s.
	BusyDelay time.Duration
	// Capacity bounds the deliveries held in memory, queued or in flight.
	// Default ten times Concurrency, at least 2,000.
	Capacity int
	// Completers is how many CompleteDeliveries calls run at once. Default 1.
	Completers int
	// OnRecorded, when set, is called with every batch of outcomes once it
	// is recorded (for metrics). It must not keep the slice.
	OnRecorded func([]*herald.Outcome)
	// TracerProvider makes a span for each attempt (see Dispatcher.send);
	// a no-op provider when nil.
	TracerProvider trace.TracerProvider
}

// Dispatcher sends deliveries and records their outcomes. It is the
// delivery engine of a node:
//
//   - Deliveries written by this node's transactions are handed to it when
//     they commit (the service hands them over), already claimed.
//   - A poller claims due deliveries from the database (retries, put-offs,
//     redeliveries, and the claims of nodes that died) while there is room.
//   - Each destination has its own queue, drained by up to
//     PerDestinationConcurrency requests at once, all destinations together
//     by up to Concurrency. A destination whose requests all hang holds only
//     its own slots, and its queued deliveries are put off after BusyWait, so
//     deliveries to healthy destinations never wait for it.
//   - Outcomes are recorded in batches: whatever finished while the previous
//     batch was being written goes in the next CompleteDeliveries call.
//
// Every delivery is claimed in the database while the Dispatcher holds it,
// so a node that dies loses nothing: its claims lapse after Lease and other
// nodes send them, and a node restarting under the same name releases them
// at once (ReleaseDeliveries).
type Dispatcher struct {
	store       herald.DeliveryService
	node        string
	sender      *Sender
	policy      Policy
	clock       herald.Clock
	logger      *slog.Logger
	lease       time.Duration
	poll        time.Duration
	perDest     int
	busyWait    time.Duration
	busyDelay   time.Duration
	capacity    int
	completers  int
	onRecorded  func([]*herald.Outcome)
	tracer      trace.Tracer
	sendSlots   chan struct{}
	outcomes    chan *herald.Outcome
	stop        chan struct{}
	flushed     chan struct{}
	abandon     chan struct{}
	ctx         context.Context
	cancel      context.CancelFunc
	runners     sync.WaitGroup
	loops       sync.WaitGroup
	completions sync.WaitGroup

	mu sync.Mutex
	// dests holds the destinations with queued deliveries or running
	// senders, so it does not grow with every destination ever sent to.
	dests map[string]*destination
	// silent holds the destinations whose requests timed out, while none
	// has answered since (see silenceLocked).
	silent map[string]silence
	// forgotten is when silent was last pruned (forgetSilenceLocked).
	forgotten time.Time
	// held counts the deliveries queued or in flight.
	held int
	// unrecorded counts the outcomes handed to the completers and not yet
	// recorded.
	unrecorded atomic.Int64
	started    bool
	stopped    bool
}

// destination is one destination's queue and senders.
type destination struct {
	key   string
	queue []held
	// running counts the goroutines draining the queue, each with at most
	// one request in flight; started holds when each of those requests
	// began (its length is how many are sending).
	running int
	started []time.Time
	// progress is when a request to the destination last finished other
	// than by its send timeout, or when the destination was first queued
	// to.
	progress time.Time
}

// silence is how long a destination has gone without answering: since
// when its requests have timed out with none answered in between, and when
// the last of them timed out. It outlives the destination's queue, so that
// a destination that hangs for minutes has its deliveries put off for
// longer and longer rather than, each time its requests time out, claimed
// and put off again every second.
type silence struct {
	since, last time.Time
}

// held is a delivery in a destination's queue.
type held struct {
	d *herald.Delivery
	// since is when the Dispatcher took it (monotonic).
	since time.Time
}

// NewDispatcher returns a Dispatcher with opts, defaults filled in. It
// panics when opts.Store is nil or opts.Node empty.
func NewDispatcher(opts DispatcherOptions) *Dispatcher {
	if opts.Store == nil || opts.Node == "" {
		panic("delivery: NewDispatcher needs a Store and a Node")
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
	if opts.Lease == 0 {
		opts.Lease = DefaultLease(opts.Sender.timeout)
	}
	opts.Lease = max(opts.Lease, MinLease(opts.Sender.timeout))
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
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
	if opts.Capacity <= 0 {
		opts.Capacity = max(2000, 10*opts.Concurrency)
	}
	if opts.Completers <= 0 {
		opts.Completers = 1
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = noop.NewTracerProvider()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Dispatcher{
		store:      opts.Store,
		node:       opts.Node,
		sender:     opts.Sender,
		policy:     opts.Policy,
		clock:      opts.Clock,
		logger:     opts.Logger,
		lease:      opts.Lease,
		poll:       opts.PollInterval,
		perDest:    opts.PerDestinationConcurrency,
		busyWait:   max(opts.BusyWait, 0),
		busyDelay:  opts.BusyDelay,
		capacity:   opts.Capacity,
		completers: opts.Completers,
		onRecorded: opts.OnRecorded,
		tracer:     opts.TracerProvider.Tracer(tracerName),
		sendSlots:  make(chan struct{}, opts.Concurrency),
		outcomes:   make(chan *herald.Outcome, opts.Capacity),
		stop:       make(chan struct{}),
		flushed:    make(chan struct{}),
		abandon:    make(chan struct{}),
		ctx:        ctx,
		cancel:     cancel,
		dests:      make(map[string]*destination),
		silent:     make(map[string]silence),
	}
}

// DefaultLease is the claim a Dispatcher takes by default with a sender of
// the given timeout: MinLease with room for a slow database.
func DefaultLease(timeout time.Duration) time.Duration {
	return MinLease(timeout) + 28*time.Second
}

// MinLease is the shortest claim a Dispatcher takes with a sender of the
// given timeout. A delivery held for half its claim is put off rather than
// sent, so the claim covers that wait, the request, and two seconds to
// record the outcome; a claim that lapses earlier risks a second send by
// another node, never a lost delivery.
func MinLease(timeout time.Duration) time.Duration {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return 2*timeout + 2*time.Second
}

// Load returns how many deliveries the Dispatcher holds (queued or in
// flight) and how many outcomes wait to be recorded.
func (p *Dispatcher) Load() (held, unrecorded int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held, int(p.unrecorded.Load())
}

// Lease returns how long the Dispatcher's claims last.
func (p *Dispatcher) Lease() time.Duration { return p.lease }

// Node is the name this node claims deliveries under.
func (p *Dispatcher) Node() string { return p.node }

// Start releases the claims an earlier run of this node left, then starts
// polling for due deliveries. It returns an error only when the release
// fails.
func (p *Dispatcher) Start(ctx context.Context) error {
	n, err := p.store.ReleaseDeliveries(ctx, p.node)
	if err != nil {
		return err
	}
	if n > 0 {
		p.logger.Info("released deliveries an earlier run of this node held", "deliveries", n, "node", p.node)
	}
	p.mu.Lock()
	p.started = true
	p.mu.Unlock()
	p.loops.Add(2)
	go p.pollLoop()
	go p.sweepLoop()
	p.completions.Add(p.completers)
	for range p.completers {
		go p.completeLoop()
	}
	return nil
}

// Dispatch queues deliveries this node has claimed as it wrote them. What
// does not fit in Capacity is released, due now, for the poller of any
// node; after Stop nothing is taken, and the claims lapse or are released
// when the node starts again.
func (p *Dispatcher) Dispatch(ds []*herald.Delivery) {
	var released []*herald.Outcome
	now := p.clock.Now()
	p.mu.Lock()
	if !p.started || p.stopped {
		p.mu.Unlock()
		return
	}
	for _, d := range ds {
		if p.held >= p.capacity {
			released = append(released, &herald.Outcome{DeliveryID: d.ID, NextAttemptAt: now})
			continue
		}
		p.queueLocked(d)
	}
	p.mu.Unlock()
	p.record(released)
}

// Defer puts off a new delivery whose destination is stalled: it is
// written due after a jittered BusyDelay instead of being queued behind
// requests that do not finish, which saves writing it twice (queued, then
// put off). The BusyDelay is counted from when the destination's oldest
// request in flight will have hung twice as long as it has, or from its
// send timeout if that comes first (see hungLocked).
func (p *Dispatcher) Defer(d *herald.Delivery) time.Duration {
	now := time.Now()
	p.mu.Lock()
	var stalled bool
	var wait time.Duration
	if dest := p.dests[destinationKey(d)]; dest != nil {
		stalled, wait = p.stallLocked(dest, now)
	}
	p.mu.Unlock()
	if !stalled {
		return 0
	}
	return wait + p.policy.jitter(p.busyDelay)
}

// stallLocked reports whether dest is stalled (stalledLocked) and, if so,
// how long its deliveries wait before their BusyDelay (hungLocked). p.mu
// is held.
func (p *Dispatcher) stallLocked(dest *destination, now time.Time) (stalled bool, wait time.Duration) {
	if !p.stalledLocked(dest, now) {
		return false, 0
	}
	return true, p.hungLocked(dest, now)
}

// hungLocked is how long a stalled destination has gone without answering:
// since the oldest of its requests in flight began, or since the first of
// its requests that timed out with none answered after it, up to
// maxBusyDelay. A destination's deliveries wait that much more before their
// BusyDelay, so the wait doubles while the destination stays silent: one
// that is merely slow, all its requests started together a moment ago,
// loses little time, and one that hangs costs a few put-offs per delivery,
// not one each time its requests time out and the next ones hang. p.mu is
// held.
func (p *Dispatcher) hungLocked(dest *destination, now time.Time) time.Duration {
	s, ok := p.silent[dest.key]
	start := s.since
	if len(dest.started) > 0 {
		oldest := slices.MinFunc(dest.started, time.Time.Compare)
		if !ok || oldest.Before(start) {
			start, ok = oldest, true
		}
	}
	if !ok {
		return 0
	}
	return min(max(now.Sub(start), 0), maxBusyDelay)
}

// silenceLocked notes how a request to dest that began at started ended:
// timedOut when it reached its send timeout without an answer. Any other
// end (an answer, a refused connection) is progress and ends the
// destination's silence. p.mu is held.
func (p *Dispatcher) silenceLocked(dest *destination, started, now time.Time, timedOut bool) {
	if !timedOut {
		dest.progress = now
		delete(p.silent, dest.key)
		return
	}
	s, ok := p.silent[dest.key]
	if !ok || started.Before(s.since) {
		s.since = started
	}
	s.last = now
	p.silent[dest.key] = s
}

// forgetSilenceLocked drops the silences of destinations nothing was sent
// to for silenceMemory: they are no longer tried (their deliveries were
// delivered by hand, failed or removed), and silent stays as small as the
// destinations that hang. It looks at most once a second. p.mu is held.
func (p *Dispatcher) forgetSilenceLocked(now time.Time) {
	if now.Sub(p.forgotten) < time.Second {
		return
	}
	p.forgotten = now
	for key, s := range p.silent {
		if _, busy := p.dests[key]; !busy && now.Sub(s.last) > silenceMemory {
			delete(p.silent, key)
		}
	}
}

// stalledLocked reports whether every slot of dest is sending and none has
// finished for BusyWait. Senders waiting for one of the node's slots do not
// count: that is the node's load, not the destination's. p.mu is held.
func (p *Dispatcher) stalledLocked(dest *destination, now time.Time) bool {
	return len(dest.started) >= p.perDest && now.Sub(dest.progress) > p.busyWait
}

// queueLocked queues d at its destination and starts a sender for it when
// the destination has a slot free. p.mu is held.
func (p *Dispatcher) queueLocked(d *herald.Delivery) {
	if p.stopped {
		// Claimed while stopping: due again at once, for any node.
		p.outcomeLocked(&herald.Outcome{DeliveryID: d.ID, NextAttemptAt: p.clock.Now()})
		return
	}
	if !d.DestinationActive {
		// Disabled or removed: failed without an attempt.
		p.outcomeLocked(&herald.Outcome{DeliveryID: d.ID})
		return
	}
	now := time.Now()
	key := destinationKey(d)
	dest := p.dests[key]
	if dest == nil {
		dest = &destination{key: key, progress: now}
		p.dests[key] = dest
	}
	dest.queue = append(dest.queue, held{d: d, since: now})
	p.held++
	if dest.running < p.perDest {
		dest.running++
		p.runners.Add(1)
		go p.drain(dest)
	}
}

// outcomeLocked records o without blocking under p.mu: the outcome channel
// holds Capacity outcomes, as many as the Dispatcher holds deliveries, but
// one that is full is left to a goroutine.
func (p *Dispatcher) outcomeLocked(o *herald.Outcome) {
	p.unrecorded.Add(1)
	select {
	case p.outcomes <- o:
	default:
		go p.pass(o)
	}
}

// record hands outcomes to the completers.
func (p *Dispatcher) record(os []*herald.Outcome) {
	for _, o := range os {
		p.unrecorded.Add(1)
		if !p.pass(o) {
			return
		}
	}
}

// pass puts o on the completers' channel, unless Stop gave up waiting.
func (p *Dispatcher) pass(o *herald.Outcome) bool {
	select {
	case p.outcomes <- o:
		return true
	case <-p.abandon:
		return false
	}
}

// drain sends dest's queued deliveries one after another until the queue
// is empty.
func (p *Dispatcher) drain(dest *destination) {
	defer p.runners.Done()
	for {
		p.mu.Lock()
		if len(dest.queue) == 0 {
			dest.running--
			if dest.running == 0 {
				delete(p.dests, dest.key)
			}
			p.mu.Unlock()
			return
		}
		h := dest.queue[0]
		dest.queue[0] = held{}
		dest.queue = dest.queue[1:]
		p.mu.Unlock()

		var o *herald.Outcome
		var started time.Time // when the request began; zero without a slot
		sent, timedOut := false, false
		select {
		case p.sendSlots <- struct{}{}:
			started = time.Now()
			p.mu.Lock()
			dest.started = append(dest.started, started)
			p.mu.Unlock()
			if time.Since(h.since) > p.lease/2 {
				// Held too long to finish within the claim: due again at
				// once, for whichever node has room.
				o = &herald.Outcome{DeliveryID: h.d.ID, NextAttemptAt: p.clock.Now()}
			} else {
				o, timedOut = p.send(h.d)
				sent = true
			}
			<-p.sendSlots
		case <-p.stop:
			o = &herald.Outcome{DeliveryID: h.d.ID, NextAttemptAt: p.clock.Now()}
		}
		p.mu.Lock()
		if !started.IsZero() {
			i := slices.Index(dest.started, started) // any entry of that time will do
			dest.started = slices.Delete(dest.started, i, i+1)
		}
		if sent {
			p.silenceLocked(dest, started, time.Now(), timedOut)
		}
		// The delivery turns from held into an outcome to record at once,
		// so that a claim never sees the room in between.
		p.held--
		p.unrecorded.Add(1)
		p.mu.Unlock()
		p.pass(o)
	}
}

// send makes one attempt at d and turns it into an outcome: delivered on a
// 2xx, failed at once on a final 4xx (the answer is recorded with the
// attempt, and the delivery can be redelivered by hand), otherwise due again
// when the policy says, or failed once its schedule is used up. The request
// is bounded by the send timeout only, not cancelled at shutdown, so that an
// attempt under way completes and is recorded.
//
// It reports whether the attempt reached the send timeout without an
// answer. A destination the Guard refused is logged at warn level with the
// address and the reason, which the attempt leaves out. Each attempt is
// logged at debug level, and traced as a client span (see traceAttempt).
func (p *Dispatcher) send(d *herald.Delivery) (o *herald.Outcome, timedOut bool) {
	ctx, cancel := context.WithTimeout(context.Background(), p.sender.timeout)
	defer cancel()
	ctx, span := p.tracer.Start(ctx, attemptSpanName, trace.WithSpanKind(trace.SpanKindClient))
	var a *herald.Attempt
	defer func() {
		p.traceAttempt(span, d, a, o)
		p.logAttempt(ctx, d, a, o)
	}()
	a, retryAfter, refused := p.sender.send(ctx, d)
	if refused != nil {
		p.logger.Warn("delivery destination not allowed",
			"delivery_id", d.ID, "destination_kind", d.DestinationKind, "destination", d.DestinationID,
			"address", refused.address, "reason", refused.reason)
	}
	o = &herald.Outcome{DeliveryID: d.ID, Attempt: a}
	if a.StatusCode >= 200 && a.StatusCode < 300 {
		o.Delivered = true
		return o, false
	}
	if final(a.StatusCode) {
		// The receiver said no: a zero NextAttemptAt fails the delivery.
		return o, false
	}
	if next, ok := p.policy.Next(p.clock.Now(), d.Attempts+1, retryAfter); ok {
		o.NextAttemptAt = next
	}
	return o, a.StatusCode == 0 && errors.Is(ctx.Err(), context.DeadlineExceeded)
}

// putOff is the outcome of a delivery not attempted now: it is tried again
// after a jittered BusyDelay, counted from wait (see Defer).
//
// A delivery that has waited long already waits longer: half its age, up to
// maxBusyDelay. A destination that stays stalled (it hangs) then costs a few
// put-offs per delivery rather than one a second for as long as it hangs,
// which would load the database on behalf of healthy destinations.
func (p *Dispatcher) putOff(d *herald.Delivery, wait time.Duration) *herald.Outcome {
	now := p.clock.Now()
	delay := p.busyDelay
	if !d.CreatedAt.IsZero() {
		delay = max(delay, min(now.Sub(d.CreatedAt)/2, maxBusyDelay))
	}
	return &herald.Outcome{DeliveryID: d.ID, NextAttemptAt: now.Add(wait + p.policy.jitter(delay))}
}

// pollLoop claims due deliveries while there is room for them.
func (p *Dispatcher) pollLoop() {
	defer p.loops.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-timer.C:
		}
		full := p.claim()
		if full {
			timer.Reset(0)
		} else {
			timer.Reset(p.poll)
		}
	}
}

// claim takes as many due deliveries as there is room for, up to maxClaim,
// and reports whether it got all it asked for (more may be due).
func (p *Dispatcher) claim() bool {
	// Outcomes not yet recorded count against the room: claims wait for
	// the database to keep up with recording, so that retries at a
	// destination that fails fast cannot take the database from ingest.
	// (Handed-over deliveries count only what is held, so fresh ones are
	// never held back by retries.)
	p.mu.Lock()
	room := min(p.capacity-p.held-int(p.unrecorded.Load()), maxClaim)
	p.mu.Unlock()
	if room <= 0 {
		return false
	}
	ds, err := p.store.ClaimDeliveries(p.ctx, p.node, room, p.clock.Now().Add(p.lease))
	if err != nil {
		if p.ctx.Err() == nil {
			p.logger.Error("claim deliveries", "err", err)
		}
		return false
	}
	p.mu.Lock()
	for _, d := range ds {
		p.queueLocked(d)
	}
	p.mu.Unlock()
	return len(ds) == room
}

// sweepLoop puts off the queued deliveries of stalled destinations, and
// deliveries held so long that their claim might lapse before they are sent.
func (p *Dispatcher) sweepLoop() {
	defer p.loops.Done()
	ticker := time.NewTicker(max(p.busyWait/2, 10*time.Millisecond))
	defer ticker.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-ticker.C:
			p.sweep()
		}
	}
}

// sweep is one pass of sweepLoop.
func (p *Dispatcher) sweep() {
	now := time.Now()
	var off []*herald.Outcome
	p.mu.Lock()
	p.forgetSilenceLocked(now)
	for _, dest := range p.dests {
		stalled, wait := p.stallLocked(dest, now)
		keep := dest.queue[:0]
		for _, h := range dest.queue {
			switch {
			case stalled:
				off = append(off, p.putOff(h.d, wait))
			case now.Sub(h.since) > p.lease/2:
				// Not the destination's doing: due again at once.
				off = append(off, &herald.Outcome{DeliveryID: h.d.ID, NextAttemptAt: p.clock.Now()})
			default:
				keep = append(keep, h)
				continue
			}
			p.held--
		}
		clear(dest.queue[len(keep):])
		dest.queue = keep
	}
	p.mu.Unlock()
	p.record(off)
}

// completeLoop records outcomes in batches until Stop has flushed them all.
func (p *Dispatcher) completeLoop() {
	defer p.completions.Done()
	batch := make([]*herald.Outcome, 0, maxComplete)
	for {
		var first *herald.Outcome
		select {
		case first = <-p.outcomes:
		case <-p.flushed:
			// Everything is sent or put off: record what is left.
			for {
				batch = batch[:0]
				p.fill(&batch)
				if len(batch) == 0 {
					return
				}
				p.complete(batch)
			}
		}
		batch = append(batch[:0], first)
		p.linger(&batch)
		p.complete(batch)
	}
}

// linger fills batch with the outcomes that arrive within completeLinger,
// up to maxComplete. Outcomes trickle in one request at a time, and one
// transaction per few of them would spend the database's time on commits
// (on SQLite, the single writer ingest also needs).
func (p *Dispatcher) linger(batch *[]*herald.Outcome) {
	timer := time.NewTimer(completeLinger)
	defer timer.Stop()
	for len(*batch) < maxComplete {
		select {
		case o := <-p.outcomes:
			*batch = append(*batch, o)
		case <-timer.C:
			return
		case <-p.flushed:
			p.fill(batch)
			return
		}
	}
}

// fill adds the outcomes waiting in the channel to batch, up to maxComplete.
func (p *Dispatcher) fill(batch *[]*herald.Outcome) {
	for len(*batch) < maxComplete {
		select {
		case o := <-p.outcomes:
			*batch = append(*batch, o)
		default:
			return
		}
	}
}

// complete records a batch of outcomes, trying again twice when the
// database fails. Outcomes it cannot record stay claimed until their claim
// lapses, and are then sent again.
func (p *Dispatcher) complete(batch []*herald.Outcome) {
	defer p.unrecorded.Add(-int64(len(batch)))
	var err error
	for try := range 3 {
		if try > 0 {
			time.Sleep(time.Duration(try) * 200 * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), completeTimeout)
		err = p.store.CompleteDeliveries(ctx, batch)
		cancel()
		if err == nil {
			p.logBatch(batch)
			if p.onRecorded != nil {
				p.onRecorded(batch)
			}
			return
		}
	}
	p.logger.Error("record delivery outcomes; they are sent again when their claims lapse", "outcomes", len(batch), "err", err)
}

// Stop stops claiming, releases the queued deliveries (due now, for another
// node or the next start), lets the requests in flight finish, and records
// every outcome. When ctx ends first, outcomes still to come are left to
// their claims.
func (p *Dispatcher) Stop(ctx context.Context) error {
	p.mu.Lock()
	if p.stopped || !p.started {
		p.stopped = true
		p.mu.Unlock()
		p.cancel()
		return nil
	}
	p.stopped = true
	now := p.clock.Now()
	var released []*herald.Outcome
	for _, dest := range p.dests {
		for _, h := range dest.queue {
			released = append(released, &herald.Outcome{DeliveryID: h.d.ID, NextAttemptAt: now})
			p.held--
		}
		clear(dest.queue)
		dest.queue = dest.queue[:0]
	}
	p.mu.Unlock()
	close(p.stop)
	// A claim under way is abandoned, not waited for: what it would have
	// claimed stays due, and what it did claim is released (queueLocked).
	p.cancel()
	p.loops.Wait()
	p.record(released)

	done := make(chan struct{})
	go func() {
		p.runners.Wait()
		close(p.flushed)
		p.completions.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		close(p.abandon)
	}
	p.cancel()
	return err
}

// logBatch logs a summary of a batch's outcomes.
func (p *Dispatcher) logBatch(outcomes []*herald.Outcome) {
	if !p.logger.Enabled(context.Background(), slog.LevelDebug) {
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
	p.logger.Debug("delivery outcomes recorded",
		"count", len(outcomes), "delivered", delivered, "retrying", retrying,
		"failed", failed, "put_off", putOff)
}

// destinationKey identifies a delivery's destination.
func destinationKey(d *herald.Delivery) string {
	return d.DestinationKind + "/" + d.DestinationID
}
