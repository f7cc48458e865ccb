package bench

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress prints a line every second while the bench runs: the scenario,
// its stage, and the events sent, accepted and delivered so far.
type progress struct {
	w    io.Writer
	wmu  sync.Mutex
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	mu     sync.Mutex
	label  string
	stage  string
	since  time.Time
	counts *counters
	rcs    []*Receiver
	pid    int
}

// newProgress starts printing to w; a nil w prints nothing.
func newProgress(w io.Writer) *progress {
	p := &progress{w: w, done: make(chan struct{})}
	if w == nil {
		return p
	}
	p.wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-t.C:
				p.print()
			}
		}
	})
	return p
}

// watch makes the progress line follow a scenario's counters, receivers
// and server process.
func (p *progress) watch(label string, counts *counters, pid int, rcs ...*Receiver) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.label, p.counts, p.pid, p.rcs = label, counts, pid, rcs
	p.stage, p.since = "", time.Now()
}

// set names the stage the scenario is in, and prints it at once.
func (p *progress) set(stage string) {
	p.mu.Lock()
	p.stage, p.since = stage, time.Now()
	p.mu.Unlock()
	p.print()
}

// line returns the current progress line.
func (p *progress) line() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.label == "" {
		return ""
	}
	s := fmt.Sprintf("bench %s: %s %.0fs", p.label, p.stage, time.Since(p.since).Seconds())
	if c := p.counts; c != nil {
		s += fmt.Sprintf(" | sent %d accepted %d", c.sent.Load(), c.accepted.Load())
		if r := c.retries.Load(); r > 0 {
			s += fmt.Sprintf(" retries %d", r)
		}
		if f := c.failed.Load(); f > 0 {
			s += fmt.Sprintf(" failed %d", f)
		}
	}
	var delivered, refused, hung int
	for _, rc := range p.rcs {
		delivered += rc.Delivered()
		refused += rc.Refused()
		hung += rc.Hung()
	}
	if len(p.rcs) > 0 {
		s += fmt.Sprintf(" delivered %d", delivered)
	}
	if refused > 0 {
		s += fmt.Sprintf(" refused %d", refused)
	}
	if hung > 0 {
		s += fmt.Sprintf(" held %d", hung)
	}
	if p.pid != 0 {
		if m, err := ReadMemory(p.pid); err == nil {
			s += fmt.Sprintf(" | server rss %s", formatBytes(m.RSS))
		}
	}
	return s
}

func (p *progress) print() {
	if p.w == nil {
		return
	}
	if s := p.line(); s != "" {
		p.wmu.Lock()
		defer p.wmu.Unlock()
		fmt.Fprintln(p.w, s)
	}
}

// stop stops printing.
func (p *progress) stop() {
	p.once.Do(func() { close(p.done) })
	p.wg.Wait()
}

// mib is n bytes in MiB.
func mib(n int64) float64 { return float64(n) / (1 << 20) }

// formatBytes is n in MiB with one decimal.
func formatBytes(n int64) string { return fmt.Sprintf("%.1f MiB", mib(n)) }
