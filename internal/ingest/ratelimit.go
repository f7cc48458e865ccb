package ingest

import (
	"sync"
	"time"
)

// maxRateBuckets bounds the rate limiter's memory; past it, buckets that
// have refilled are dropped (a full bucket is the same as none).
const maxRateBuckets = 10000

// rateLimiter is a token bucket per DSN key: rate events per second, bursts
// of one second's worth (at least one event).
type rateLimiter struct {
	rate  float64
	burst float64
	mu    sync.Mutex
	m     map[keyRef]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate float64) *rateLimiter {
	return &rateLimiter{rate: rate, burst: max(rate, 1), m: make(map[keyRef]*bucket)}
}

// take takes n tokens from the key's bucket at now. It succeeds whenever at
// least one token is left, so a request of several events is never refused
// for good; the bucket then goes into debt. With n = 0 it only checks. When
// it fails it returns how long until a token is back.
func (l *rateLimiter) take(k keyRef, n int, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[k]
	if b == nil {
		if len(l.m) >= maxRateBuckets {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.m[k] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), false
	}
	b.tokens -= float64(n)
	return 0, true
}

// refill adds the tokens earned since the bucket was last used.
func (l *rateLimiter) refill(b *bucket, now time.Time) {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+elapsed.Seconds()*l.rate)
		b.last = now
	}
}

// sweep drops the buckets that are full again, or all of them when none is.
func (l *rateLimiter) sweep(now time.Time) {
	for k, b := range l.m {
		if l.refill(b, now); b.tokens >= l.burst {
			delete(l.m, k)
		}
	}
	if len(l.m) >= maxRateBuckets {
		clear(l.m)
	}
}
