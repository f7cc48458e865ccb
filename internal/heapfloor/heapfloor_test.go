package heapfloor

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name               string
		live, roots, floor uint64
		base, want         int
	}{
		{"NoFloor", 10 * mib, 0, 0, 100, 100},
		{"LiveAboveFloor", 100 * mib, 0, 64 * mib, 100, 100},
		{"BaseReachesFloor", 40 * mib, 0, 64 * mib, 100, 100},
		{"Raised", 16 * mib, 0, 64 * mib, 100, 300},
		{"RootsCount", 16 * mib, 8 * mib, 64 * mib, 100, 200},
		{"RoundedUp", 6 * mib, 0, 64 * mib, 100, 967},
		{"HeapMinimumCaps", 1 * mib, 0, 64 * mib, 100, 1600},
		{"MaxPercentCaps", 1 * mib, 0, 1024 * mib, 100, MaxPercent},
		{"BeforeFirstCycle", 0, 0, 64 * mib, 100, 100},
		{"BaseAboveNeed", 16 * mib, 0, 64 * mib, 400, 400},
		{"Off", 1 * mib, 0, 64 * mib, -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Percent(tt.live, tt.roots, tt.floor, tt.base)
			if got != tt.want {
				t.Fatalf("Percent(%d, %d, %d, %d) = %d, want %d", tt.live, tt.roots, tt.floor, tt.base, got, tt.want)
			}
			if got <= 0 || tt.live == 0 {
				return
			}
			p := uint64(got)
			goal := max(tt.live+(tt.live+tt.roots)*p/100, heapMinimum*p/100)
			if got > tt.base && got < MaxPercent && goal < tt.floor {
				t.Fatalf("goal %d is below the floor %d", goal, tt.floor)
			}
			if got > tt.base && heapMinimum*p/100 > tt.floor {
				t.Fatalf("minimum goal %d is above the floor %d", heapMinimum*p/100, tt.floor)
			}
		})
	}
}

func TestWorthSetting(t *testing.T) {
	tests := []struct {
		name            string
		cur, next, base int
		want            bool
	}{
		{"Same", 300, 300, 100, false},
		{"SmallRise", 300, 310, 100, false},
		{"SmallFall", 300, 290, 100, false},
		{"FivePercent", 300, 315, 100, true},
		{"BigFall", 300, 150, 100, true},
		{"BackToBase", 102, 100, 100, true},
		{"FromOff", 0, 100, 100, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := worthSetting(tt.cur, tt.next, tt.base); got != tt.want {
				t.Fatalf("worthSetting(%d, %d, %d) = %v, want %v", tt.cur, tt.next, tt.base, got, tt.want)
			}
		})
	}
}

func TestCurrentPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, p := range []int{100, 250, -1, 50} {
		debug.SetGCPercent(p)
		if got := CurrentPercent(); got != p {
			t.Fatalf("CurrentPercent() = %d after SetGCPercent(%d)", got, p)
		}
	}
}

// TestTuner drives the real collector: on this test's small heap a floor
// of 1 GiB raises the percent; once the live heap is above a floor of
// 8 MiB the base percent is back; Stop restores the base.
func TestTuner(t *testing.T) {
	defer debug.SetGCPercent(CurrentPercent())
	debug.SetGCPercent(100)

	t.Run("Raised", func(t *testing.T) {
		runtime.GC() // before the first cycle there is no live heap to go by
		tu := Start(Options{Floor: 1 << 30, Base: 100})
		defer tu.Stop()
		if got := CurrentPercent(); got <= 100 || got != tu.Percent() {
			t.Fatalf("percent %d (tuner says %d), want above 100 on a small heap", got, tu.Percent())
		}
		if got := debug.SetMemoryLimit(-1); got != 2<<30 {
			t.Fatalf("memory limit %d while raised, want twice the floor", got)
		}
		tu.Stop()
		if got := CurrentPercent(); got != 100 {
			t.Fatalf("percent after Stop = %d, want the base 100", got)
		}
		if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
			t.Fatalf("memory limit %d after Stop, want the process's own (none)", got)
		}
		tu.Stop() // a second Stop is harmless
	})

	t.Run("BackToBase", func(t *testing.T) {
		tu := Start(Options{Floor: 8 << 20, Base: 100})
		defer tu.Stop()
		live := make([][]byte, 0, 32)
		for range 32 {
			b := make([]byte, 1<<20)
			b[0] = 1
			live = append(live, b)
		}
		deadline := time.Now().Add(10 * time.Second)
		for tu.Percent() != 100 {
			if time.Now().After(deadline) {
				t.Fatalf("percent still %d with 32 MiB live and a floor of 8 MiB", tu.Percent())
			}
			runtime.GC()
			time.Sleep(5 * time.Millisecond)
		}
		if got := CurrentPercent(); got != 100 {
			t.Fatalf("collector percent = %d, want 100", got)
		}
		if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
			t.Fatalf("memory limit %d at the base percent, want none", got)
		}
		runtime.KeepAlive(live)
	})

	t.Run("Off", func(t *testing.T) {
		debug.SetGCPercent(123)
		tu := Start(Options{Floor: 1 << 30, Base: -1})
		tu.Stop()
		if got := CurrentPercent(); got != 123 {
			t.Fatalf("percent = %d, want 123 untouched with GOGC=off", got)
		}
		tu = Start(Options{Base: 100})
		tu.Stop()
		if got := CurrentPercent(); got != 123 {
			t.Fatalf("percent = %d, want 123 untouched without a floor", got)
		}
		debug.SetGCPercent(100)
	})
}
