package delivery

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/herald-dev/herald"
)

// DefaultSchedule is the default wait after each failed attempt: eleven
// attempts in all over about two days, then the delivery is failed.
var DefaultSchedule = []time.Duration{
	5 * time.Second,
	30 * time.Second,
	2 * time.Minute,
	10 * time.Minute,
	30 * time.Minute,
	time.Hour,
	3 * time.Hour,
	6 * time.Hour,
	12 * time.Hour,
	24 * time.Hour,
}

// Bounds of a retry schedule and of a receiver's Retry-After.
const (
	maxScheduleSteps = 100
	maxScheduleStep  = 7 * 24 * time.Hour
	maxRetryAfter    = 24 * time.Hour
)

// ParseSchedule parses a comma-separated list of positive durations, such as
// "5s,30s,2m", into a retry schedule.
func ParseSchedule(s string) ([]time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return nil, herald.Errorf(herald.EINVALID, "retry schedule is empty: want comma-separated durations such as 5s,30s,2m")
	}
	fields := strings.Split(s, ",")
	if len(fields) > maxScheduleSteps {
		return nil, herald.Errorf(herald.EINVALID, "retry schedule has %d steps, at most %d are allowed", len(fields), maxScheduleSteps)
	}
	schedule := make([]time.Duration, 0, len(fields))
	for i, f := range fields {
		f = strings.TrimSpace(f)
		d, err := time.ParseDuration(f)
		if err != nil {
			return nil, herald.Errorf(herald.EINVALID, "retry schedule step %d: %q is not a duration such as 30s or 2m", i+1, f)
		}
		if d <= 0 {
			return nil, herald.Errorf(herald.EINVALID, "retry schedule step %d: %q must be positive", i+1, f)
		}
		if d > maxScheduleStep {
			return nil, herald.Errorf(herald.EINVALID, "retry schedule step %d: %q is longer than %s", i+1, f, maxScheduleStep)
		}
		schedule = append(schedule, d)
	}
	return schedule, nil
}

// Policy decides when a failed delivery is tried again.
//
// After the n-th failed attempt the delivery waits Schedule[n-1], jittered
// uniformly between half and one and a half times that step so that
// deliveries failing together do not retry together. A Retry-After from the
// receiver lengthens the wait (up to 24 hours) but never shortens it. Once
// every step is used, the delivery is failed.
//
// A final answer (see final) is not retried at all: the delivery fails
// after that one attempt, whatever steps remain.
type Policy struct {
	// Schedule is the wait after each failed attempt.
	Schedule []time.Duration
	// Rand returns a uniform number in [0, 1); nil means math/rand/v2.
	// Tests inject a fixed value.
	Rand func() float64
}

// Next returns when to try again after attempts failed attempts (1-based:
// attempts is the number of attempts made so far, including the one that
// just failed), given the receiver's Retry-After (0 when none). It returns
// false when the schedule is exhausted and the delivery has failed.
func (p Policy) Next(now time.Time, attempts int, retryAfter time.Duration) (time.Time, bool) {
	attempts = max(attempts, 1)
	if attempts > len(p.Schedule) {
		return time.Time{}, false
	}
	wait := p.jitter(p.Schedule[attempts-1])
	wait = max(wait, min(retryAfter, maxRetryAfter))
	return now.Add(wait), true
}

// jitter spreads d uniformly over [d/2, 3d/2).
func (p Policy) jitter(d time.Duration) time.Duration {
	r := rand.Float64
	if p.Rand != nil {
		r = p.Rand
	}
	f := r()
	if !(f >= 0) { // also catches NaN
		f = 0
	} else if f >= 1 {
		f = 1
	}
	return time.Duration(float64(d) * (0.5 + f))
}

// final reports whether an answer with HTTP status code is the receiver's
// last word on a delivery, so that it is failed at once instead of retried:
// every 4xx except 408 Request Timeout, 425 Too Early and 429 Too Many
// Requests, which say "not now" rather than "no". Sentry never retries a
// 4xx, and receivers written for it answer 400 to events they do not handle;
// sending those again for two days would change nothing. A code of 0 (no
// answer: a timeout, a refused or reset connection), a redirect and a 5xx
// are not final.
func final(code int) bool {
	switch {
	case code < 400 || code >= 500:
		return false
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests:
		return false
	}
	return true
}

// honoursRetryAfter reports whether a Retry-After on an answer with HTTP
// status code sets the earliest retry: on the retried 4xx (408, 425, 429)
// and on 503 Service Unavailable. On other answers it is ignored.
func honoursRetryAfter(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return true
	}
	return false
}
