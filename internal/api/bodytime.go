package api

import (
	"errors"
	"io"
	"net/http"
	"time"
)

// Default bounds of the time a request body may take to arrive.
const (
	// DefaultBodyIdleTimeout is how long a body may stall between two
	// reads before the connection is cut.
	DefaultBodyIdleTimeout = 30 * time.Second
	// DefaultBodyTimeout bounds the whole body: room for the largest
	// ingest request (20 MB) on a link of about 70 KB/s.
	DefaultBodyTimeout = 5 * time.Minute
)

// limitBodyTime cuts a request whose body stalls for idle, or is still
// arriving total after the request began, by deadlines on the connection's
// reads: the handler's read fails and the connection is closed. Headers
// are bounded by the http.Server's ReadHeaderTimeout; a body that is never
// read costs nothing.
func limitBodyTime(next http.Handler, idle, total time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &deadlineBody{Reader: r.Body, rc: http.NewResponseController(w), idle: idle, end: time.Now().Add(total)}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody sets the connection's read deadline before each read of
// the body, and clears it once the body has been read.
//
// Its Close does not close the request's body: the server does that once
// the handler returns, after reading what is left of it (within the
// deadline) to decide whether the connection may serve another request. A
// body closed early would be taken for one read to its end, and what the
// client sends next for the next request.
type deadlineBody struct {
	io.Reader
	rc   *http.ResponseController
	idle time.Duration
	end  time.Time
	done bool
}

// Read implements io.Reader.
func (b *deadlineBody) Read(p []byte) (int, error) {
	if b.done {
		return b.Reader.Read(p)
	}
	deadline := time.Now().Add(b.idle)
	if deadline.After(b.end) {
		deadline = b.end
	}
	// A writer without deadlines (such as a test recorder) reads
	// unbounded, as before.
	_ = b.rc.SetReadDeadline(deadline)
	n, err := b.Reader.Read(p)
	if errors.Is(err, io.EOF) {
		// The handler may take its time from here: a deadline left on
		// the connection would cancel the request's context.
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// Close implements io.Closer; it leaves the request's body to the server.
func (b *deadlineBody) Close() error { return nil }
