package api

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/herald-dev/herald"
)

// RequestIDHeader is the response header that names a request's id, the
// request_id of every log line about it. A request that arrives with a
// well-formed id in the same header (set by a proxy in front of Herald,
// say) keeps it; any other gets a new one.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLength bounds an id taken from a request.
const maxRequestIDLength = 64

// requestIDKey is the context key of a request's id.
type requestIDKey struct{}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// WithRequestID returns a copy of ctx that belongs to the request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// requestID returns the id of r: the one it carries in RequestIDHeader when
// that is 1 to 64 letters, digits, '-', '_', '.' or ':', or else a new one
// of 16 hex digits.
func requestID(r *http.Request) string {
	if id := r.Header.Get(RequestIDHeader); validRequestID(id) {
		return id
	}
	return herald.RandomHex(8)
}

// validRequestID reports whether id may be taken as a request's id: it is
// written into logs and headers as it is.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// LogHandler returns a handler that adds request_id, the id of the request
// a record's context belongs to (see RequestID), to every record logged
// with such a context, and passes it to h. Records logged without a
// request's context are passed on as they are. Wrapping a handler it
// returned again returns it unchanged.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(requestIDHandler); ok {
		return h
	}
	return requestIDHandler{h}
}

// requestIDHandler is the handler of LogHandler.
type requestIDHandler struct {
	slog.Handler
}

// Handle implements slog.Handler.
func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
