// Package heapfloor keeps the Go garbage collector's heap goal from falling
// below a floor.
//
// The collector starts a cycle when the heap has grown by GOGC percent (100
// by default) over what the last cycle found live. A server whose live heap
// is small but which allocates fast (every request parses, encodes and
// sends a few kilobytes) therefore collects many times a second, and the
// fixed cost of each cycle (scanning stacks and globals, the mark phase's
// start and end) adds up: with a live heap of 15 MB, a quarter of Herald's
// CPU went to the collector. Raising the percent while the live heap is
// small makes the goal at least the floor; once what is live needs more,
// the percent is the base one again, so that above the floor the collector
// works as it would without one.
//
// This is the "GOGC tuner" of large Go services, in its simplest form: right
// after each cycle (a cleanup of an object made unreachable for the purpose)
// it reads the live heap (runtime/metrics) and sets the percent for the next
// cycle (debug.SetGCPercent). While the percent is raised, a memory limit of
// twice the floor (debug.SetMemoryLimit) bounds what a sudden burst can make
// of it before the next cycle has measured the burst: the floor never costs
// more than that.
package heapfloor

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

const (
	// MaxPercent bounds the percent Start sets, so that a nearly empty heap
	// does not turn the collector off in effect.
	MaxPercent = 5000
	// heapMinimum is the collector's own least goal at percent 100 (4 MiB,
	// scaled by the percent): the goal of a process whose heap is tiny.
	heapMinimum = 4 << 20
)

// Percent returns the collector percent that makes the heap goal at least
// floor, and never below base: base itself once the base goal reaches the
// floor. live is the heap the last cycle found live and roots the stacks
// and globals it scanned; the collector's goal is live + (live + roots) ×
// percent/100, and never below heapMinimum × percent/100, so the percent is
// also at most what puts that minimum at the floor (and at most
// MaxPercent). Before the first cycle (live 0) it is base.
func Percent(live, roots, floor uint64, base int) int {
	if base < 0 || floor == 0 || live == 0 || live >= floor {
		return base
	}
	// goal = live + (live+roots) × p/100 ≥ floor
	//   ⇔ p ≥ (floor−live)×100/(live+roots).
	scanned := live + roots
	need := (floor - live) * 100
	p := need / scanned
	if need%scanned != 0 {
		p++
	}
	p = min(p, MaxPercent, floor*100/heapMinimum)
	return max(base, int(p))
}

// CurrentPercent returns the collector's percent as the process has it
// now (GOGC, or what debug.SetGCPercent last set): -1 when it is off.
func CurrentPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 100
	}
	return int(int64(s[0].Value.Uint64()))
}

// Options configure Start.
type Options struct {
	// Floor is the heap goal, in bytes, below which the percent is raised.
	// Zero leaves the collector alone.
	Floor uint64
	// Base is the percent used once the live heap needs no help, usually
	// the process's own (CurrentPercent: GOGC or its default 100). A
	// negative Base (GOGC=off) leaves the collector alone.
	Base int
}

// Tuner adjusts the collector's percent after each cycle until Stop.
type Tuner struct {
	opts    Options
	samples []metrics.Sample
	limit   int64 // the process's memory limit when started (GOMEMLIMIT)

	mu      sync.Mutex
	stopped bool
	percent int // the percent last set
}

// metrics read after each cycle, in this order.
var sampleNames = []string{
	"/gc/heap/live:bytes",
	"/gc/scan/stack:bytes",
	"/gc/scan/globals:bytes",
}

// Start starts a Tuner. Stop it to give the collector back its base
// percent. Run one per process: the collector's settings are the process's.
func Start(opts Options) *Tuner {
	t := &Tuner{opts: opts, percent: opts.Base, limit: debug.SetMemoryLimit(-1)}
	if opts.Floor == 0 || opts.Base < 0 {
		t.stopped = true
		return t
	}
	t.samples = make([]metrics.Sample, len(sampleNames))
	for i, name := range sampleNames {
		t.samples[i].Name = name
	}
	t.adjust()
	t.arm()
	return t
}

// arm makes the next collection call cycle: a cleanup runs once the
// collector has found its object unreachable, which it is from the start.
// The percent is thus set right after each cycle, before the heap can grow
// much past a goal the previous percent set for a heap that was smaller.
func (t *Tuner) arm() {
	runtime.AddCleanup(new(sentinel), (*Tuner).cycle, t)
}

// sentinel is the object whose collection marks a cycle's end: large
// enough not to share a block with other small objects.
type sentinel [64]byte

// cycle runs after each collection until Stop.
func (t *Tuner) cycle() {
	if t.adjust() {
		t.arm()
	}
}

// adjust sets the percent the live heap of the last cycle calls for. It
// reports false once the Tuner is stopped.
func (t *Tuner) adjust() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	metrics.Read(t.samples)
	for _, s := range t.samples {
		if s.Value.Kind() != metrics.KindUint64 {
			return true
		}
	}
	live, roots := t.samples[0].Value.Uint64(), t.samples[1].Value.Uint64()+t.samples[2].Value.Uint64()
	if p := Percent(live, roots, t.opts.Floor, t.opts.Base); worthSetting(t.percent, p, t.opts.Base) {
		t.set(p)
	}
	return true
}

// set sets the percent p. A percent above base comes with a memory limit
// of twice the floor: the percent was chosen for the heap the last cycle
// found live, and until the next cycle ends a heap that suddenly holds
// much more (a burst of large requests) would otherwise grow to its live
// size times the raised percent. The limit lets the collector run early
// instead; with the base percent the process's own limit is back. The
// limit is set before a raise and taken back after a return, so that a
// raised percent never stands without it.
func (t *Tuner) set(p int) {
	raisedLimit := min(t.limit, int64(min(2*t.opts.Floor, math.MaxInt64/2)))
	if p > t.opts.Base {
		debug.SetMemoryLimit(raisedLimit)
		debug.SetGCPercent(p)
	} else {
		debug.SetGCPercent(p)
		debug.SetMemoryLimit(t.limit)
	}
	t.percent = p
}

// worthSetting reports whether moving the percent from cur to next is worth
// a new goal: a change of less than 5% leaves the heap where it was, except
// a return to base, which is always made.
func worthSetting(cur, next, base int) bool {
	if next == cur {
		return false
	}
	if next == base || cur <= 0 {
		return true
	}
	d := next - cur
	if d < 0 {
		d = -d
	}
	return d*20 >= cur
}

// Percent returns the percent the Tuner last set.
func (t *Tuner) Percent() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.percent
}

// Stop stops adjusting and sets the base percent again. It is safe to call
// more than once.
func (t *Tuner) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	t.stopped = true
	t.set(t.opts.Base)
}
