package ingest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald-dev/herald"
)

// recordingSaver is a save function that records its batches. When gated,
// each call waits until the test releases it.
type recordingSaver struct {
	mu      sync.Mutex
	batches [][]*herald.Event
	fail    func([]*herald.Event) error

	gated   bool
	started chan int      // gets the size of each batch as its save starts
	release chan struct{} // one receive per gated save
	panicOn func([]*herald.Event) bool
}

func newRecordingSaver(gated bool) *recordingSaver {
	return &recordingSaver{gated: gated, started: make(chan int, 100), release: make(chan struct{})}
}

func (s *recordingSaver) save(ctx context.Context, events []*herald.Event) error {
	if s.panicOn != nil && s.panicOn(events) {
		panic("boom")
	}
	if s.gated {
		s.started <- len(events)
		<-s.release
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		if err := s.fail(events); err != nil {
			return err
		}
	}
	s.batches = append(s.batches, slices.Clone(events))
	return nil
}

func (s *recordingSaver) sizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n []int
	for _, b := range s.batches {
		n = append(n, len(b))
	}
	return n
}

func (s *recordingSaver) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, b := range s.batches {
		for _, e := range b {
			ids = append(ids, e.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// events returns n events with ids prefix-0, prefix-1, ...
func testEvents(prefix string, n int) []*herald.Event {
	events := make([]*herald.Event, n)
	for i := range events {
		events[i] = &herald.Event{ID: fmt.Sprintf("%s-%d", prefix, i)}
	}
	return events
}

// waitTaken waits until n events in all have been put into batches.
func waitTaken(t *testing.T, b *Batcher, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for b.taken.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d events taken, want %d", b.taken.Load(), n)
		}
		runtime.Gosched()
	}
}

// submitAsync submits in a goroutine and returns the channel of its result.
func submitAsync(ctx context.Context, b *Batcher, events []*herald.Event) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- b.Submit(ctx, events) }()
	return ch
}

func TestBatcher_GroupCommit(t *testing.T) {
	t.Parallel()
	s := newRecordingSaver(true)
	b := NewBatcher(s.save, BatcherOptions{MaxWait: -1})
	ctx := context.Background()

	first := submitAsync(ctx, b, testEvents("a", 1))
	if n := <-s.started; n != 1 {
		t.Fatalf("first batch has %d events", n)
	}
	// While the first commit is in flight, three requests arrive.
	var rest []<-chan error
	for i, n := range []int{1, 2, 3} {
		rest = append(rest, submitAsync(ctx, b, testEvents(fmt.Sprint("r", i), n)))
	}
	waitTaken(t, b, 7)
	s.release <- struct{}{}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n := <-s.started; n != 6 {
		t.Fatalf("second batch has %d events, want 6 (all gathered)", n)
	}
	s.release <- struct{}{}
	for _, ch := range rest {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	if got := s.sizes(); !slices.Equal(got, []int{1, 6}) {
		t.Errorf("batch sizes %v, want [1 6]", got)
	}
}

func TestBatcher_MaxEvents(t *testing.T) {
	t.Parallel()
	s := newRecordingSaver(true)
	b := NewBatcher(s.save, BatcherOptions{MaxEvents: 4, MaxWait: -1})
	ctx := context.Background()

	first := submitAsync(ctx, b, testEvents("a", 1))
	<-s.started
	second := submitAsync(ctx, b, testEvents("b", 3))
	waitTaken(t, b, 4)
	third := submitAsync(ctx, b, testEvents("c", 3)) // does not fit with b
	big := submitAsync(ctx, b, testEvents("d", 9))   // larger than MaxEvents, committed alone
	for range 4 {
		s.release <- struct{}{}
	}
	for _, ch := range []<-chan error{first, second, third, big} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	sizes := s.sizes()
	if len(sizes) != 4 || sizes[0] != 1 || sizes[1] != 3 || !slices.Contains(sizes, 9) || !slices.Contains(sizes[2:], 3) {
		t.Errorf("batch sizes %v, want [1 3] then 3 and 9", sizes)
	}
}

func TestBatcher_Error(t *testing.T) {
	t.Parallel()
	s := newRecordingSaver(true)
	errSave := errors.New("disk full")
	s.fail = func(events []*herald.Event) error {
		if len(events) > 1 {
			return errSave
		}
		return nil
	}
	b := NewBatcher(s.save, BatcherOptions{MaxWait: -1})
	ctx := context.Background()

	first := submitAsync(ctx, b, testEvents("a", 1))
	<-s.started
	x := submitAsync(ctx, b, testEvents("x", 1))
	y := submitAsync(ctx, b, testEvents("y", 1))
	waitTaken(t, b, 3)
	s.release <- struct{}{}
	s.release <- struct{}{}
	if err := <-first; err != nil {
		t.Errorf("first: %v", err)
	}
	for name, ch := range map[string]<-chan error{"x": x, "y": y} {
		if err := <-ch; !errors.Is(err, errSave) {
			t.Errorf("%s: err = %v, want %v", name, err, errSave)
		}
	}
	b.Close()
}

// TestBatcher_OnCommit: OnCommit hears of each commit, with its events,
// the time it took and its error.
func TestBatcher_OnCommit(t *testing.T) {
	t.Parallel()
	errSave := errors.New("disk full")
	save := func(_ context.Context, events []*herald.Event) error {
		if events[0].ID == "bad-0" {
			return errSave
		}
		time.Sleep(time.Millisecond)
		return nil
	}
	type commit struct {
		events int
		took   time.Duration
		err    error
	}
	var mu sync.Mutex
	var got []commit
	b := NewBatcher(save, BatcherOptions{OnCommit: func(events int, took time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, commit{events, took, err})
	}})
	ctx := context.Background()
	if err := b.Submit(ctx, testEvents("ok", 3)); err != nil {
		t.Fatal(err)
	}
	if err := b.Submit(ctx, testEvents("bad", 2)); !errors.Is(err, errSave) {
		t.Fatalf("err = %v, want %v", err, errSave)
	}
	b.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0].events != 3 || got[0].err != nil || got[0].took < time.Millisecond ||
		got[1].events != 2 || !errors.Is(got[1].err, errSave) {
		t.Errorf("commits heard %+v, want 3 events taking at least 1ms, then 2 failing with %v", got, errSave)
	}
}

func TestBatcher_Panic(t *testing.T) {
	t.Parallel()
	s := newRecordingSaver(false)
	s.panicOn = func(events []*herald.Event) bool { return events[0].ID == "p-0" }
	b := NewBatcher(s.save, BatcherOptions{})
	defer b.Close()
	if err := b.Submit(context.Background(), testEvents("p", 1)); err == nil {
		t.Error("Submit returned nil after a panicking save")
	}
	if err := b.Submit(context.Background(), testEvents("q", 1)); err != nil {
		t.Errorf("Submit after a panic: %v", err)
	}
}

func TestBatcher_Context(t *testing.T) {
	t.Parallel()
	s := newRecordingSaver(true)
	b := NewBatcher(s.save, BatcherOptions{MaxWait: -1})

	first := submitAsync(context.Background(), b, testEvents("a", 1))
	<-s.started
	ctx, cancel := context.WithCancel(context.Background())
	waiting := submitAsync(ctx, b, testEvents("b", 1))
	waitTaken(t, b, 2)
	cancel()
	if err := <-waiting; !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	s.release <- struct{}{}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// The canceled submission was already in the next batch, which commits.
	<-s.started
	s.release <- struct{}{}
	b.Close()

	// A submission whose context is done before it is taken is not saved.
	s2 := newRecordingSaver(false)
	b2 := NewBatcher(s2.save, BatcherOptions{})
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := b2.Submit(canceled, testEvents("c", 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Submit with a canceled context = %v", err)
	}
	b2.Close()
	if got := s2.sizes(); len(got) != 0 {
		t.Errorf("batch sizes %v, want none", got)
	}
}

func TestBatcher_Close(t *testing.T) {
	t.Parallel()
	s := newRecordingSaver(false)
	b := NewBatcher(s.save, BatcherOptions{MaxWait: time.Hour})
	// With an hour's wait, only Close commits the batch.
	done := submitAsync(context.Background(), b, testEvents("a", 2))
	waitTaken(t, b, 2)
	b.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := s.sizes(); !slices.Equal(got, []int{2}) {
		t.Errorf("batch sizes %v, want [2]", got)
	}
	if err := b.Submit(context.Background(), testEvents("b", 1)); !errors.Is(err, ErrBatcherClosed) {
		t.Errorf("Submit after Close = %v, want ErrBatcherClosed", err)
	}
	b.Close() // a second Close does nothing
	if err := b.Submit(context.Background(), nil); err != nil {
		t.Errorf("empty Submit = %v", err)
	}
}

func TestBatcher_Concurrent(t *testing.T) {
	t.Parallel()
	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprintf("Workers%d", workers), func(t *testing.T) {
			t.Parallel()
			s := newRecordingSaver(false)
			b := NewBatcher(s.save, BatcherOptions{MaxEvents: 32, Workers: workers})
			const submitters, each = 40, 25
			var wg sync.WaitGroup
			var want []string
			var mu sync.Mutex
			for g := range submitters {
				wg.Go(func() {
					for i := range each {
						events := testEvents(fmt.Sprintf("g%d-%d", g, i), 1+i%3)
						if err := b.Submit(context.Background(), events); err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						for _, e := range events {
							want = append(want, e.ID)
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			b.Close()
			slices.Sort(want)
			if got := s.ids(); !slices.Equal(got, want) {
				t.Fatalf("saved %d events, want each of %d exactly once", len(got), len(want))
			}
			sizes := s.sizes()
			for _, n := range sizes {
				if n > 32 {
					t.Errorf("batch of %d events exceeds MaxEvents", n)
				}
			}
			t.Logf("%d submissions in %d commits", submitters*each, len(sizes))
		})
	}
}

func BenchmarkBatcher(b *testing.B) {
	for _, bench := range []struct {
		name    string
		maxWait time.Duration
	}{{"Immediate", -1}, {"MaxWaitDefault", 0}} {
		b.Run(bench.name, func(b *testing.B) {
			save := func(ctx context.Context, events []*herald.Event) error { return nil }
			bt := NewBatcher(save, BatcherOptions{MaxWait: bench.maxWait})
			defer bt.Close()
			events := testEvents("e", 1)
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := bt.Submit(context.Background(), events); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
