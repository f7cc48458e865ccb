// Package ingest receives events from Sentry SDKs: it reads and bounds
// request bodies, parses envelopes and store payloads, normalizes events into
// herald.Event, computes their grouping hash, and commits them in groups.
//
// The Handler serves Sentry's ingest routes (POST /api/{project_id}/envelope/
// and POST /api/{project_id}/store/) and answers 200 only once the events it
// accepted are committed. The Batcher gathers the events of concurrent
// requests into one commit (group commit), so throughput grows with
// concurrency rather than with the number of transactions.
package ingest

// Default limits: Sentry's for one request, and Herald's for all of them.
const (
	DefaultMaxRequestSize = 20 << 20
	DefaultMaxBodySize    = 20 << 20
	DefaultMaxEventSize   = 1 << 20
	// DefaultMaxInFlight leaves room for one body of the largest size (20
	// MB, which takes about 52 MB counting the buffers it outgrew) or some
	// ten thousand of the few KB that SDKs usually send, while what request
	// bodies take stays a known, small part of a server's memory whatever
	// clients send: with the garbage collector's headroom, at most about
	// twice this.
	DefaultMaxInFlight = 64 << 20
)

// Limits bounds what ingest requests may carry: each one, and all those in
// flight together. A zero field takes its default.
type Limits struct {
	// MaxRequestSize bounds the request body as it arrives on the wire
	// (compressed or not). Default 20 MB.
	MaxRequestSize int64
	// MaxBodySize bounds the decompressed body of an envelope. Default 20 MB.
	MaxBodySize int64
	// MaxEventSize bounds one event: the decompressed body of a store
	// request, and each event item of an envelope. Default 1 MB.
	MaxEventSize int64
	// MaxInFlight bounds the bytes that the bodies of all requests in
	// flight hold together. A request reserves the capacity of its body
	// buffer as the buffer grows, and 48 KB for a decompressor, and
	// releases them when done; a request that finds too little left
	// gets 429 with Retry-After: 1 at once, never a wait. Default 64 MB.
	// A smaller value than one body of the largest size takes is raised
	// to it: the buffers of an envelope of MaxBodySize and its
	// decompressor (48 KB), or of a store body of MaxEventSize and its
	// decoders (a decompressor for its Content-Encoding, and for the
	// legacy body of an old SDK a base64 decoder and a zlib decompressor:
	// 104 KB).
	MaxInFlight int64
}

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{
		MaxRequestSize: DefaultMaxRequestSize,
		MaxBodySize:    DefaultMaxBodySize,
		MaxEventSize:   DefaultMaxEventSize,
		MaxInFlight:    DefaultMaxInFlight,
	}
}

// withDefaults returns l with its zero fields set to their defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxRequestSize <= 0 {
		l.MaxRequestSize = d.MaxRequestSize
	}
	if l.MaxBodySize <= 0 {
		l.MaxBodySize = d.MaxBodySize
	}
	if l.MaxEventSize <= 0 {
		l.MaxEventSize = d.MaxEventSize
	}
	if l.MaxInFlight <= 0 {
		l.MaxInFlight = d.MaxInFlight
	}
	// A body of the largest size must fit when nothing else is in flight.
	l.MaxInFlight = max(l.MaxInFlight, bodyCost(l.MaxBodySize)+decoderSize, bodyCost(l.MaxEventSize)+maxStoreDecoders)
	return l
}

// bodyCost is what the in-flight budget counts for a body read to limit
// bytes and one more: every buffer it grows through (see body.grow).
func bodyCost(limit int64) int64 {
	var total, c int64
	for c < limit+1 {
		c = min(max(2*c, 4096), limit+1)
		total += c
	}
	return total
}
