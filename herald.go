// Package herald holds Herald's domain: the types every other package speaks
// in (organizations, projects, hooks, events, issues, deliveries), the service
// interfaces the stores implement, and the application error type.
//
// Herald is a self-hosted webhook platform that speaks Sentry's webhook
// protocol: Sentry SDKs send errors to it, it groups them into issues, and it
// delivers signed, retried, logged and replayable webhooks. This package
// imports only the standard library.
package herald

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Version is the running Herald version; the build may override it with
// -ldflags "-X github.com/herald-dev/herald.Version=...".
var Version = "0.1.0-dev"

// UserAgent is the User-Agent header of every outbound delivery.
func UserAgent() string { return "herald/" + Version }

// NewID returns 16 random bytes as 32 lowercase hex characters, the form of
// hook, delivery and event ids.
func NewID() string { return RandomHex(16) }

// NewTimeID returns a 32-hex id whose first 12 characters are t in unix
// milliseconds, followed by 80 random bits: ids made later sort later, so
// rows keyed by them are appended to indexes rather than inserted at random
// places.
func NewTimeID(t time.Time) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b[6:]); err != nil {
		panic("herald: crypto/rand failed: " + err.Error())
	}
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	return hex.EncodeToString(b)
}

// NewSecret returns 32 random bytes as 64 lowercase hex characters, the form
// of hook secrets, app client secrets and tokens.
func NewSecret() string { return RandomHex(32) }

// RandomHex returns n random bytes as 2n lowercase hex characters.
func RandomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("herald: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// NewUUID returns a random (version 4) UUID in its dashed form.
func NewUUID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("herald: crypto/rand failed: " + err.Error())
	}
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// TimeFormat is the layout of timestamps in webhook payloads and API
// responses: RFC 3339, UTC, microseconds, "Z".
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// FormatTime formats t in TimeFormat.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// Clock tells the time. Services take one so that tests can drive time.
type Clock interface {
	Now() time.Time
}

// ClockFunc adapts a function to Clock.
type ClockFunc func() time.Time

// Now calls f.
func (f ClockFunc) Now() time.Time { return f() }

// SystemClock is the wall clock.
var SystemClock Clock = ClockFunc(time.Now)
