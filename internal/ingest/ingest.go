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

// Default limits, Sentry's.
const (
	DefaultMaxRequestSize = 20 << 20
	DefaultMaxBodySize    = 20 << 20
	DefaultMaxEventSize   = 1 << 20
)

// Limits bounds what one ingest request may carry. A zero field takes its
// default.
type Limits struct {
	// MaxRequestSize bounds the request body as it arrives on the wire
	// (compressed or not). Default 20 MB.
	MaxRequestSize int64
	// MaxBodySize bounds the decompressed body of an envelope. Default 20 MB.
	MaxBodySize int64
	// MaxEventSize bounds one event: the decompressed body of a store
	// request, and each event item of an envelope. Default 1 MB.
	MaxEventSize int64
}

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{
		MaxRequestSize: DefaultMaxRequestSize,
		MaxBodySize:    DefaultMaxBodySize,
		MaxEventSize:   DefaultMaxEventSize,
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
	return l
}
