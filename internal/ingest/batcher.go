package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/herald-dev/herald"
)

// Batcher defaults.
const (
	DefaultBatchMaxEvents = 256
	DefaultBatchMaxWait   = 2 * time.Millisecond
)

// ErrBatcherClosed is returned by Submit once the Batcher is closed.
var ErrBatcherClosed = errors.New("ingest: batcher closed")

// BatcherOptions configure a Batcher. Zero fields take their defaults.
type BatcherOptions struct {
	// MaxEvents bounds the events of one commit (default 256). A single
	// submission larger than that is committed alone, never split.
	MaxEvents int
	// MaxWait is how long a batch started by a lone submission waits for
	// more before it may be committed (default 2ms); a negative value
	// commits as soon as a committer is free. A batch that starts with
	// submissions already queued (they arrived during the last commit)
	// does not wait. While every committer is busy, a batch keeps growing
	// whatever MaxWait says.
	MaxWait time.Duration
	// Workers is the number of commits that may run at once (default 1).
	// SQLite has one writer; PostgreSQL gains from a few.
	Workers int
	// TracerProvider makes a span for each commit, linked to the spans of
	// the requests whose events it holds (their Submit contexts); a no-op
	// provider when nil.
	TracerProvider trace.TracerProvider
	// OnCommit, when set, is called after each commit with the number of
	// events it held, the time it took and its error (for metrics).
	OnCommit func(events int, took time.Duration, err error)
}

// Batcher commits the events of concurrent submissions together (group
// commit): submissions that arrive while a commit is in flight are gathered
// into the next one, so one transaction carries many requests and throughput
// grows with concurrency.
type Batcher struct {
	saveFunc  func(ctx context.Context, events []*herald.Event) error
	onCommit  func(events int, took time.Duration, err error)
	maxEvents int
	maxWait   time.Duration
	tracer    trace.Tracer

	// taken counts the events ever put into a batch, for tests.
	taken atomic.Int64

	mu     sync.RWMutex // held to send to reqs; locked to close it
	closed bool
	reqs   chan *submission
	work   chan *batch
	wg     sync.WaitGroup
}

// submission is one Submit call waiting for its commit.
type submission struct {
	ctx    context.Context
	events []*herald.Event
	done   chan error
}

// batch is what one commit saves.
type batch struct {
	subs   []*submission
	events []*herald.Event
}

// NewBatcher starts a Batcher that commits with saveFunc, which must save
// every event it is given in one transaction and return its outcome. Close
// stops it.
func NewBatcher(saveFunc func(ctx context.Context, events []*herald.Event) error, opts BatcherOptions) *Batcher {
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = DefaultBatchMaxEvents
	}
	if opts.MaxWait == 0 {
		opts.MaxWait = DefaultBatchMaxWait
	}
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = noop.NewTracerProvider()
	}
	b := &Batcher{
		saveFunc:  saveFunc,
		onCommit:  opts.OnCommit,
		maxEvents: opts.MaxEvents,
		maxWait:   opts.MaxWait,
		tracer:    opts.TracerProvider.Tracer(tracerName),
		reqs:      make(chan *submission, opts.MaxEvents),
		work:      make(chan *batch),
	}
	b.wg.Add(1 + opts.Workers)
	go b.collect()
	for range opts.Workers {
		go b.commit()
	}
	return b
}

// Submit queues events for the next commit and waits for it: it returns nil
// once the commit holding them succeeded, and that commit's error when it
// failed. If ctx ends first Submit returns its error; the events may still
// be committed.
func (b *Batcher) Submit(ctx context.Context, events []*herald.Event) error {
	if len(events) == 0 {
		return nil
	}
	s := &submission{ctx: ctx, events: events, done: make(chan error, 1)}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return ErrBatcherClosed
	}
	select {
	case b.reqs <- s:
		b.mu.RUnlock()
	case <-ctx.Done():
		b.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-s.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close commits what was submitted, waits for the commits in flight and
// stops the Batcher. Later Submits return ErrBatcherClosed.
func (b *Batcher) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	close(b.reqs)
	b.mu.Unlock()
	b.wg.Wait()
}

// collect forms batches and hands them to the committers. A batch is handed
// over when it is full, or once MaxWait has passed since its first
// submission and a committer is free; until then it keeps taking
// submissions.
func (b *Batcher) collect() {
	defer b.wg.Done()
	defer close(b.work)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var carry *submission // the submission that did not fit the last batch
	for {
		cur := &batch{}
		if carry != nil {
			b.add(cur, carry)
			carry = nil
		} else {
			s, ok := <-b.reqs
			if !ok {
				return
			}
			b.add(cur, s)
		}
		if len(cur.subs) == 0 {
			continue
		}

		reqs := b.reqs       // nil once the batch is full or the queue closed
		var work chan *batch // set once the batch may be handed over
		var timeout <-chan time.Time
		closed := false
		backlog := carry != nil || len(b.reqs) > 0
		if len(cur.events) >= b.maxEvents {
			reqs, work = nil, b.work
		} else if b.maxWait < 0 || backlog {
			// Submissions that queued up during the last commit have
			// waited enough: commit as soon as a committer is free,
			// taking in whatever else arrives until then.
			work = b.work
		} else {
			timer.Reset(b.maxWait)
			timeout = timer.C
		}
	gather:
		for {
			select {
			case s, ok := <-reqs:
				if !ok {
					reqs, work, closed = nil, b.work, true
					continue
				}
				if len(cur.events)+len(s.events) > b.maxEvents {
					carry = s
					reqs, work = nil, b.work
					continue
				}
				b.add(cur, s)
				if len(cur.events) >= b.maxEvents {
					reqs, work = nil, b.work
				}
			case <-timeout:
				timeout, work = nil, b.work
			case work <- cur:
				break gather
			}
		}
		timer.Stop()
		if closed && carry == nil {
			return
		}
	}
}

// add puts s into the batch cur unless its caller has given up already.
func (b *Batcher) add(cur *batch, s *submission) {
	if err := s.ctx.Err(); err != nil {
		s.done <- err
		return
	}
	cur.subs = append(cur.subs, s)
	cur.events = append(cur.events, s.events...)
	b.taken.Add(int64(len(s.events)))
}

// commit saves batches and tells their submitters the outcome.
func (b *Batcher) commit() {
	defer b.wg.Done()
	for bt := range b.work {
		var err error
		if len(bt.events) > 0 {
			start := time.Now()
			err = b.save(bt)
			if b.onCommit != nil {
				b.onCommit(len(bt.events), time.Since(start), err)
			}
		}
		for _, s := range bt.subs {
			s.done <- err
		}
	}
}

// save calls saveFunc with the batch's events, turning a panic into an
// error so that no submitter waits forever.
//
// The commit is traced as a span "ingest commit" with the number of events
// and of requests, linked to each request's span (one commit serves many
// requests, so it is the child of none); a failed commit is an error span.
func (b *Batcher) save(bt *batch) (err error) {
	ctx, span := b.tracer.Start(context.Background(), "ingest commit")
	if span.IsRecording() {
		span.SetAttributes(attrBatchEvents.Int(len(bt.events)), attrBatchSubs.Int(len(bt.subs)))
		for _, s := range bt.subs {
			if l := trace.LinkFromContext(s.ctx); l.SpanContext.IsValid() {
				span.AddLink(l)
			}
		}
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("save events: panic: %v", p)
		}
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	return b.saveFunc(ctx, bt.events)
}
