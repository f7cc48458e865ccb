package bench

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	ten := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i + 1)
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"Empty", nil, 50, 0},
		{"One", []time.Duration{7}, 99, 7},
		{"MedianOfTen", ten, 50, 5},
		{"P95OfTen", ten, 95, 10},
		{"P90OfTen", ten, 90, 9},
		{"P99OfHundred", hundred, 99, 99},
		{"P100", hundred, 100, 100},
		{"TinyP", hundred, 0.001, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Fatalf("percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	ds := make([]time.Duration, 0, 1000)
	for i := 1000; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := summarize(ds)
	want := Latency{Count: 1000, P50: 500, P95: 950, P99: 990, Max: 1000}
	if got != want {
		t.Fatalf("summarize = %+v, want %+v", got, want)
	}
	if (summarize(nil) != Latency{}) {
		t.Fatal("summary of nothing is not zero")
	}
}

func TestRate(t *testing.T) {
	t.Parallel()
	if got := rate(500, 250*time.Millisecond); got != 2000 {
		t.Fatalf("rate = %v, want 2000", got)
	}
	if got := rate(5, 0); got != 0 {
		t.Fatalf("rate over no time = %v, want 0", got)
	}
}
