package delivery

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald"
)

func TestParseSchedule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []time.Duration
		wantErr string
	}{
		{"OK", "5s,30s,2m", []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute}, ""},
		{"Spaces", " 1s , 1h30m ", []time.Duration{time.Second, 90 * time.Minute}, ""},
		{"One", "100ms", []time.Duration{100 * time.Millisecond}, ""},
		{"Default", "5s,30s,2m,10m,30m,1h,3h,6h,12h,24h", DefaultSchedule, ""},
		{"ErrEmpty", "", nil, "retry schedule is empty"},
		{"ErrBlank", "  ", nil, "retry schedule is empty"},
		{"ErrEmptyStep", "5s,,2m", nil, `step 2: "" is not a duration`},
		{"ErrNotDuration", "5s,soon", nil, `step 2: "soon" is not a duration`},
		{"ErrNoUnit", "5", nil, `step 1: "5" is not a duration`},
		{"ErrZero", "0s", nil, `step 1: "0s" must be positive`},
		{"ErrNegative", "5s,-1m", nil, `step 2: "-1m" must be positive`},
		{"ErrTooLong", "200h", nil, `step 1: "200h" is longer than`},
		{"ErrTooMany", strings.Repeat("1s,", 100) + "1s", nil, "101 steps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSchedule(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSchedule(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				if code := herald.ErrorCode(err); code != herald.EINVALID {
					t.Fatalf("error code = %q, want %q", code, herald.EINVALID)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSchedule(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseSchedule(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"5s,30s,2m", "", "1h,", "-1s", "9999999999h", "1e3s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		schedule, err := ParseSchedule(s)
		if err != nil {
			if herald.ErrorCode(err) != herald.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		if len(schedule) == 0 || len(schedule) > maxScheduleSteps {
			t.Fatalf("ParseSchedule(%q) has %d steps", s, len(schedule))
		}
		for _, d := range schedule {
			if d <= 0 || d > maxScheduleStep {
				t.Fatalf("ParseSchedule(%q) has step %s", s, d)
			}
		}
	})
}

func TestPolicyNext(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC)
	schedule := []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute}
	tests := []struct {
		name       string
		rand       float64
		attempts   int
		retryAfter time.Duration
		want       time.Duration
		wantOK     bool
	}{
		{"FirstStep", 0.5, 1, 0, 5 * time.Second, true},
		{"SecondStep", 0.5, 2, 0, 30 * time.Second, true},
		{"LastStep", 0.5, 3, 0, 2 * time.Minute, true},
		{"Exhausted", 0.5, 4, 0, 0, false},
		{"ExhaustedIgnoresRetryAfter", 0.5, 4, time.Hour, 0, false},
		{"ZeroAttemptsIsFirst", 0.5, 0, 0, 5 * time.Second, true},
		{"JitterLow", 0, 2, 0, 15 * time.Second, true},
		{"JitterHigh", 0.999, 2, 0, 44970 * time.Millisecond, true},
		{"JitterOutOfRange", 7, 2, 0, 45 * time.Second, true},
		{"JitterNaN", math.NaN(), 2, 0, 15 * time.Second, true},
		{"RetryAfterLonger", 0.5, 1, 2 * time.Minute, 2 * time.Minute, true},
		{"RetryAfterShorter", 0.5, 2, 10 * time.Second, 30 * time.Second, true},
		{"RetryAfterCapped", 0.5, 1, 72 * time.Hour, 24 * time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := Policy{Schedule: schedule, Rand: func() float64 { return tt.rand }}
			got, ok := p.Next(now, tt.attempts, tt.retryAfter)
			if ok != tt.wantOK {
				t.Fatalf("Next ok = %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				if !got.IsZero() {
					t.Fatalf("Next = %v, want zero time", got)
				}
				return
			}
			if wait := got.Sub(now); wait != tt.want {
				t.Fatalf("Next wait = %s, want %s", wait, tt.want)
			}
		})
	}
}

func TestPolicyJitterRange(t *testing.T) {
	t.Parallel()
	p := Policy{Schedule: DefaultSchedule}
	now := time.Unix(0, 0)
	for attempts := 1; attempts <= len(DefaultSchedule); attempts++ {
		step := DefaultSchedule[attempts-1]
		for range 50 {
			next, ok := p.Next(now, attempts, 0)
			if !ok {
				t.Fatalf("attempt %d: schedule exhausted", attempts)
			}
			if wait := next.Sub(now); wait < step/2 || wait >= step*3/2 {
				t.Fatalf("attempt %d: wait %s outside [%s, %s)", attempts, wait, step/2, step*3/2)
			}
		}
	}
	if _, ok := p.Next(now, len(DefaultSchedule)+1, 0); ok {
		t.Fatal("schedule not exhausted after its last step")
	}
}
