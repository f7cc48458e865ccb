package sqlstore

import (
	"testing"
	"time"
)

// TestNextPurgeBatch checks that a purge sizes its transactions to about
// purgeTxTarget: smaller after a slow one, larger (at most twice) after a
// quick one, within purgeBatchMin and purgeBatch.
func TestNextPurgeBatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		n    int
		took time.Duration
		want int
	}{
		{"Events with their bodies", 1000, 100 * time.Millisecond, 250},
		{"On target", 250, 25 * time.Millisecond, 250},
		{"Quick, at most twice as many", 250, 5 * time.Millisecond, 500},
		{"Quick, at most purgeBatch", 1000, time.Millisecond, 1000},
		{"Unmeasurably quick", 600, 0, 1000},
		{"Very slow, at least purgeBatchMin", 1000, 2 * time.Second, 50},
	} {
		if got := nextPurgeBatch(tc.n, tc.took); got != tc.want {
			t.Errorf("%s: nextPurgeBatch(%d, %s) = %d, want %d", tc.name, tc.n, tc.took, got, tc.want)
		}
	}
}
