package jobs

import (
	"testing"
	"time"
)

func TestEvalTime(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 1, 15, 12, 1, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		now  time.Time
		want time.Time
	}{
		{"OnTime", at, at},
		{"SlightlyLate", at.Add(800 * time.Millisecond), at},
		{"AlmostAnInterval", at.Add(59 * time.Second), at},
		{"AnIntervalLate", at.Add(time.Minute), at.Add(time.Minute)},
		{"Backlog", at.Add(10 * time.Minute), at.Add(10 * time.Minute)},
		{"ClockBehind", at.Add(-time.Hour), at.Add(-time.Hour)},
	} {
		if got := evalTime(tc.now, at, time.Minute); !got.Equal(tc.want) {
			t.Errorf("%s: evalTime = %v, want %v", tc.name, got, tc.want)
		}
	}
}
