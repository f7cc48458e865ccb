package sentryhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Handler defaults.
const (
	DefaultWorkers    = 4
	DefaultQueueSize  = 100
	DefaultRetryAfter = 5 * time.Second
)

// HandlerOptions configure a Handler.
type HandlerOptions struct {
	// Secrets verify signatures; a delivery signed with any of them is
	// accepted. Give the old and the new secret while rotating. Required,
	// none empty.
	Secrets []string
	// Process handles one delivery, on a worker, after the sender has had
	// its answer. It runs with a context that is cancelled when Shutdown
	// gives up waiting. When it returns an error or panics, the error is
	// logged and the delivery's dedupe key forgotten, so that a
	// redelivery is processed again. Required.
	Process func(ctx context.Context, d *Delivery) error
	// Workers is how many deliveries are processed at once. Default
	// DefaultWorkers.
	Workers int
	// QueueSize bounds the deliveries accepted but not yet processing.
	// When the queue is full the handler answers 503 with Retry-After, so
	// the sender retries later. Default DefaultQueueSize.
	QueueSize int
	// MaxBodyBytes bounds a body; a longer one gets 413. Default
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Deduper drops deliveries already taken on. Default a MemoryDeduper
	// with its defaults.
	Deduper Deduper
	// RetryAfter is the wait the handler asks for when it cannot take a
	// delivery now. Default DefaultRetryAfter.
	RetryAfter time.Duration
	// Logger records rejected deliveries (with the reason, never a
	// signature) and processing failures. Default slog.Default().
	Logger *slog.Logger
}

// Handler is an http.Handler that receives webhook deliveries. For each
// POST it bounds and reads the body, verifies the signature, parses the
// delivery, drops duplicates and queues the rest for its workers, then
// answers at once:
//
//	202 Accepted            queued for Process
//	200 OK                  a duplicate of a delivery already taken on
//	400 Bad Request         the body is not a webhook payload (the reason)
//	401 Unauthorized        missing, malformed or wrong signature (no details)
//	405 Method Not Allowed  not a POST
//	413 Content Too Large   the body is longer than MaxBodyBytes
//	503 Service Unavailable the queue is full, the handler is shutting down,
//	                        or the Deduper failed; with Retry-After
//
// Call Shutdown to stop its workers, after the http.Server is shut down.
type Handler struct {
	secrets    []string
	process    func(context.Context, *Delivery) error
	maxBytes   int64
	dedupe     Deduper
	retryAfter string
	logger     *slog.Logger

	// ctx is the context of Process calls, cancelled when Shutdown gives
	// up waiting.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.RWMutex
	closed bool
	queue  chan *Delivery
	done   chan struct{}
}

var _ http.Handler = (*Handler)(nil)

// NewHandler returns a Handler with opts, defaults filled in, and starts its
// workers. It fails when there are no secrets, one is empty, or Process is
// nil.
func NewHandler(opts HandlerOptions) (*Handler, error) {
	if err := checkSecrets(opts.Secrets); err != nil {
		return nil, fmt.Errorf("sentryhook: new handler: %w", err)
	}
	if opts.Process == nil {
		return nil, errors.New("sentryhook: new handler: Process is nil")
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Deduper == nil {
		opts.Deduper = NewMemoryDeduper(MemoryDeduperOptions{})
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = DefaultRetryAfter
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Handler{
		secrets:    append([]string(nil), opts.Secrets...),
		process:    opts.Process,
		maxBytes:   opts.MaxBodyBytes,
		dedupe:     opts.Deduper,
		retryAfter: strconv.Itoa(int((opts.RetryAfter + time.Second - 1) / time.Second)),
		logger:     opts.Logger,
		ctx:        ctx,
		cancel:     cancel,
		queue:      make(chan *Delivery, opts.QueueSize),
		done:       make(chan struct{}),
	}
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Go(h.work)
	}
	go func() {
		wg.Wait()
		close(h.done)
	}()
	return h, nil
}

// ServeHTTP receives one delivery.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	body, err := ReadBody(r, h.maxBytes)
	switch {
	case errors.Is(err, ErrBodyTooLarge):
		reply(w, http.StatusRequestEntityTooLarge, "body too large")
		return
	case err != nil:
		reply(w, http.StatusBadRequest, "could not read the body")
		return
	}
	if err := VerifyHeader(r.Header, body, h.secrets...); err != nil {
		h.logger.Warn("sentryhook: rejected delivery", "request_id", r.Header.Get(HeaderRequestID), "reason", err)
		reply(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	d, err := Parse(r.Header, body)
	if err != nil {
		h.logger.Warn("sentryhook: rejected delivery", "request_id", r.Header.Get(HeaderRequestID), "reason", err)
		reply(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "sentryhook: "))
		return
	}

	ctx := context.WithoutCancel(r.Context())
	key := d.DedupeKey()
	seen, err := h.dedupe.Seen(ctx, key)
	if err != nil {
		h.logger.Error("sentryhook: dedupe", "request_id", d.RequestID, "event", d.Event(), "err", err)
		h.unavailable(w, "try again later")
		return
	}
	if seen {
		reply(w, http.StatusOK, "duplicate")
		return
	}
	if !h.enqueue(d) {
		h.forget(ctx, d)
		h.unavailable(w, "busy, try again later")
		return
	}
	reply(w, http.StatusAccepted, "accepted")
}

// enqueue queues d for the workers, unless the queue is full or closed.
func (h *Handler) enqueue(d *Delivery) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return false
	}
	select {
	case h.queue <- d:
		return true
	default:
		return false
	}
}

// work processes queued deliveries until the queue is closed and empty.
// Once Shutdown has given up, what is left is dropped unprocessed.
func (h *Handler) work() {
	for d := range h.queue {
		if h.ctx.Err() != nil {
			h.logger.Warn("sentryhook: delivery dropped at shutdown", "request_id", d.RequestID, "event", d.Event())
			h.forget(context.Background(), d)
			continue
		}
		if err := h.run(d); err != nil {
			h.logger.Error("sentryhook: process delivery", "request_id", d.RequestID, "event", d.Event(), "err", err)
			h.forget(context.Background(), d)
		}
	}
}

// run calls Process, turning a panic into an error.
func (h *Handler) run(d *Delivery) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	return h.process(h.ctx, d)
}

func (h *Handler) forget(ctx context.Context, d *Delivery) {
	if err := h.dedupe.Forget(ctx, d.DedupeKey()); err != nil {
		h.logger.Error("sentryhook: forget delivery", "request_id", d.RequestID, "event", d.Event(), "err", err)
	}
}

func (h *Handler) unavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", h.retryAfter)
	reply(w, http.StatusServiceUnavailable, msg)
}

// Shutdown stops taking deliveries (they get 503) and waits until the
// queued ones are processed or ctx ends. When ctx ends first, it cancels the
// context of running Process calls, drops the deliveries still queued and
// returns ctx's error. Shut the http.Server down first, so that no request
// is cut off. Calling Shutdown again waits again.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.queue)
	}
	h.mu.Unlock()
	select {
	case <-h.done:
		h.cancel()
		return nil
	case <-ctx.Done():
		h.cancel()
		return fmt.Errorf("sentryhook: shutdown: %w", ctx.Err())
	}
}

// reply writes a short plain-text answer.
func reply(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = fmt.Fprintln(w, msg)
}
