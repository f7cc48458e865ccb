package sentryhook_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-dev/herald/sentryhook"
)

// clock is a time tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func mustSeen(t *testing.T, d sentryhook.Deduper, key string, want bool) {
	t.Helper()
	got, err := d.Seen(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("Seen(%q) = %v, want %v", key, got, want)
	}
}

func TestMemoryDeduper(t *testing.T) {
	t.Parallel()
	t.Run("SeenAndForget", func(t *testing.T) {
		t.Parallel()
		d := sentryhook.NewMemoryDeduper(sentryhook.MemoryDeduperOptions{})
		mustSeen(t, d, "a", false)
		mustSeen(t, d, "a", true)
		mustSeen(t, d, "b", false)
		if err := d.Forget(context.Background(), "a"); err != nil {
			t.Fatal(err)
		}
		if err := d.Forget(context.Background(), "never"); err != nil {
			t.Fatal(err)
		}
		mustSeen(t, d, "a", false)
		mustSeen(t, d, "b", true)
	})
	t.Run("TTL", func(t *testing.T) {
		t.Parallel()
		c := newClock()
		d := sentryhook.NewMemoryDeduper(sentryhook.MemoryDeduperOptions{TTL: time.Hour, Now: c.Now})
		mustSeen(t, d, "a", false)
		c.Add(30 * time.Minute)
		mustSeen(t, d, "b", false)
		c.Add(29 * time.Minute)
		mustSeen(t, d, "a", true)
		c.Add(time.Minute)
		mustSeen(t, d, "a", false) // expired, recorded again
		if d.Len() != 2 {
			t.Fatalf("Len = %d, want 2 (b and the new a)", d.Len())
		}
		c.Add(2 * time.Hour)
		mustSeen(t, d, "c", false)
		if d.Len() != 1 {
			t.Fatalf("Len = %d after everything else expired, want 1", d.Len())
		}
	})
	t.Run("MaxKeys", func(t *testing.T) {
		t.Parallel()
		d := sentryhook.NewMemoryDeduper(sentryhook.MemoryDeduperOptions{MaxKeys: 3})
		for i := range 10 {
			mustSeen(t, d, fmt.Sprint(i), false)
			if d.Len() > 3 {
				t.Fatalf("Len = %d, want at most 3", d.Len())
			}
		}
		mustSeen(t, d, "9", true)
		mustSeen(t, d, "0", false) // the oldest were dropped
	})
	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		d := sentryhook.NewMemoryDeduper(sentryhook.MemoryDeduperOptions{})
		var first atomic.Int32
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				for k := range 20 {
					seen, _ := d.Seen(context.Background(), fmt.Sprint(k))
					if !seen {
						first.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if first.Load() != 20 {
			t.Fatalf("%d calls saw a key first, want 20", first.Load())
		}
	})
}
