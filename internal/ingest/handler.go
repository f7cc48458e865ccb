package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/sync/singleflight"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/jsontext"
)

// DefaultKeyCacheTTL is how long a Handler trusts a DSN key it has checked.
const DefaultKeyCacheTTL = 10 * time.Second

// maxKeyLength bounds a DSN public key; longer ones are refused unchecked.
const maxKeyLength = 128

// CORS headers: browsers send events cross-origin.
const (
	corsAllowHeaders  = "x-sentry-auth, x-requested-with, origin, accept, content-type, content-encoding, authorization, authentication, sentry-trace, baggage"
	corsExposeHeaders = "x-sentry-error, x-sentry-rate-limits, retry-after"
)

// Handler serves Sentry's ingest routes:
//
//	POST /api/{project_id}/envelope/
//	POST /api/{project_id}/store/
//
// (with or without the trailing slash), and OPTIONS on both for CORS
// preflight requests. Any other path gets 404, so the handler can be mounted
// on "/api/" beside the API on "/api/0/" (project ids start at 1).
//
// A request is authenticated by a DSN public key of the project (see
// PublicKey): 401 without one, 403 with one that is unknown, inactive or of
// another project. An envelope whose key is only in its header's dsn is
// read no further than that first line (MaxEnvelopeHeaderSize) until the key
// is accepted. Bodies are bounded by Limits (413) and must parse (400); when
// the bodies of the requests in flight already hold Limits.MaxInFlight
// bytes, a request gets 429 with Retry-After: 1. The handler answers 200
// {"id":"<event id>"} only after SaveFunc returned nil, that is once the
// events are committed; when SaveFunc fails it answers 503 with
// Retry-After, so the SDK sends the event again rather than lose it.
//
// A store body may be JSON, or what old SDKs send in its place, as Relay
// reads it: the base64 of the zlib-compressed JSON (raven-node,
// raven-ruby, raven-go), or zlib data (see body.openLegacy). A store
// request whose Content-Type is application/x-sentry-envelope is read as an
// envelope, as Relay does.
//
// Herald keeps events only. The items of other types in an envelope it
// accepts (cron check-ins, transactions, sessions, attachments, client
// reports, ...) are dropped, and the envelope answered 200 as Relay answers
// an envelope whose items a project does not take: an SDK or sentry-cli
// told otherwise would report an error or send them again, and
// `sentry-cli monitors run` would print errors around the command it
// runs. Each drop is counted by DroppedFunc, and the first of each type
// logged at info level.
//
// The exported fields must be set before the first request and not changed
// after.
type Handler struct {
	// Projects checks DSN keys (FindProjectKey). Keys found are trusted for
	// KeyCacheTTL without asking again, and requests that check the same
	// key at the same time share one lookup.
	Projects herald.ProjectService
	// SaveFunc commits events and returns once they are durable, such as a
	// Batcher's Submit.
	SaveFunc func(ctx context.Context, events []*herald.Event) error
	// Clock gives the time events are received; SystemClock when nil.
	Clock herald.Clock
	// Logger logs failures to save; nothing is logged when nil.
	Logger *slog.Logger
	// Limits bound request bodies, each and all in flight; zero fields
	// take their defaults.
	Limits Limits
	// RateLimit is the number of events per second one DSN key may send,
	// with bursts of one second's worth; 0 turns rate limiting off. Past
	// it, requests get 429 with Retry-After and X-Sentry-Rate-Limits.
	RateLimit float64
	// KeyCacheTTL is how long a checked key is trusted; DefaultKeyCacheTTL
	// when 0.
	KeyCacheTTL time.Duration
	// DroppedFunc, when set, is called for each accepted envelope that
	// holds items Herald does not process, once for each such item type
	// (see ItemTypeLabel) with the number of its items.
	DroppedFunc func(itemType string, n int)
	// TracerProvider makes a span for each POST (see Handler.ServeHTTP);
	// a no-op provider when nil.
	TracerProvider trace.TracerProvider

	once     sync.Once
	limits   Limits
	clock    herald.Clock
	logger   *slog.Logger
	tracer   trace.Tracer
	keys     *keyCache
	lookups  singleflight.Group // FindProjectKey calls in flight, by key
	rates    *rateLimiter
	inFlight budget    // bytes held by request bodies
	bodies   sync.Pool // *body
	dropped  sync.Map  // item type label → true once a drop of it is logged
}

// init settles the handler's defaults on its first request.
func (h *Handler) init() {
	h.limits = h.Limits.withDefaults()
	h.inFlight.limit = h.limits.MaxInFlight
	h.clock = h.Clock
	if h.clock == nil {
		h.clock = herald.SystemClock
	}
	h.logger = h.Logger
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	tp := h.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	h.tracer = tp.Tracer(tracerName)
	ttl := h.KeyCacheTTL
	if ttl <= 0 {
		ttl = DefaultKeyCacheTTL
	}
	h.keys = newKeyCache(ttl)
	if h.RateLimit > 0 {
		h.rates = newRateLimiter(h.RateLimit)
	}
}

// tracerName names the tracer of the package's spans.
const tracerName = "github.com/herald-dev/herald/internal/ingest"

// Attributes of the spans of ingest.
const (
	attrProjectID   = attribute.Key("herald.project.id")
	attrEventID     = attribute.Key("herald.event.id")
	attrEventIDs    = attribute.Key("herald.event.ids")
	attrEventCount  = attribute.Key("herald.event.count")
	attrItemCount   = attribute.Key("herald.envelope.items")
	attrOutcome     = attribute.Key("herald.ingest.outcome")
	attrBatchEvents = attribute.Key("herald.batch.events")
	attrBatchSubs   = attribute.Key("herald.batch.requests")
)

// ServeHTTP implements http.Handler.
//
// Each POST is traced as a server span named after its route, with the
// project id, the event ids (herald.event.id, the first, and
// herald.event.ids when there are several), the number of events and of
// envelope items, the response status and herald.ingest.outcome: accepted,
// rate_limited, rejected (another 4xx) or failed (5xx, an error span).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.once.Do(h.init)
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Origin", "*")
	hdr.Set("Access-Control-Expose-Headers", corsExposeHeaders)

	project, endpoint, ok := splitPath(r.URL.Path)
	if !ok {
		h.fail(w, r, herald.Errorf(herald.ENOTFOUND, "not found"))
		return
	}
	projectID, err := strconv.ParseInt(project, 10, 64)
	if err != nil || projectID <= 0 {
		h.fail(w, r, herald.Errorf(herald.EINVALID, "invalid project id %s: must be a positive integer", quoteTrunc(project)))
		return
	}
	switch r.Method {
	case http.MethodPost:
	case http.MethodOptions:
		hdr.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		hdr.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		hdr.Set("Access-Control-Max-Age", "3600")
		w.WriteHeader(http.StatusOK)
		return
	default:
		hdr.Set("Allow", "POST, OPTIONS")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed: use POST")
		return
	}

	ctx, span := h.tracer.Start(r.Context(), spanName(endpoint), trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	if span.IsRecording() {
		r = r.WithContext(ctx)
		span.SetAttributes(semconv.HTTPRequestMethodPost, semconv.HTTPRoute(routeName(endpoint)), attrProjectID.Int64(projectID))
	}
	id, err := h.ingest(w, r, projectID, endpoint)
	if err != nil {
		recordAnswer(span, h.fail(w, r, err), err)
		return
	}
	recordAnswer(span, http.StatusOK, nil)
	hdr.Set("Content-Type", "application/json")
	if id == "" {
		_, _ = w.Write([]byte("{}"))
		return
	}
	_, _ = w.Write([]byte(`{"id":"` + id + `"}`))
}

// ingest reads, checks, parses and saves one request, and returns the event
// id to answer with. The key is checked before the body is read: the one in
// the request's headers or query, or else the dsn of the envelope header,
// read alone first.
func (h *Handler) ingest(w http.ResponseWriter, r *http.Request, projectID int64, endpoint string) (string, error) {
	ctx := r.Context()
	if endpoint == "store" && isEnvelopeType(r.Header.Get("Content-Type")) {
		endpoint = "envelope"
	}
	key := PublicKey(r, "")
	if key != "" {
		if err := h.authorize(ctx, projectID, key); err != nil {
			return "", err
		}
	} else if endpoint == "store" {
		return "", errMissingKey
	}

	maxDecoded, what := h.limits.MaxBodySize, "envelope"
	if endpoint == "store" {
		maxDecoded, what = h.limits.MaxEventSize, "event"
	}
	b := h.getBody()
	defer h.putBody(b)
	if err := b.open(w, r, h.limits, maxDecoded, what); err != nil {
		return "", err
	}

	now := h.clock.Now()
	var events []*herald.Event
	var id string
	var env *Envelope
	switch endpoint {
	case "envelope":
		if key == "" {
			line, err := b.readLine()
			if err != nil {
				return "", err
			}
			if env, err = parseEnvelopeHeader(line); err != nil {
				return "", err
			}
			if key = dsnKey(env.DSN); key == "" {
				return "", errMissingKey
			}
			if err := h.authorize(ctx, projectID, key); err != nil {
				return "", err
			}
		}
		body, err := b.readAll()
		if err != nil {
			return "", err
		}
		if env == nil {
			env, err = ParseEnvelope(body)
		} else {
			_, rest := cutLine(body)
			err = env.parseItems(rest)
		}
		if err != nil {
			return "", err
		}
		if events, err = h.envelopeEvents(env, now); err != nil {
			return "", err
		}
		id = env.EventID
	case "store":
		if err := b.openLegacy(); err != nil {
			return "", err
		}
		body, err := b.readAll()
		if err != nil {
			return "", err
		}
		e, err := parseEvent(body, "", now)
		if err != nil {
			return "", err
		}
		events = []*herald.Event{e}
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		items := 1
		if env != nil {
			items = len(env.Items)
		}
		span.SetAttributes(attrItemCount.Int(items))
	}
	if len(events) == 0 {
		h.reportDropped(ctx, projectID, env)
		return id, nil
	}
	if err := h.checkRate(projectID, key, len(events)); err != nil {
		return "", err
	}
	for _, e := range events {
		e.ProjectID = projectID
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(eventAttributes(events)...)
	}
	if err := h.SaveFunc(ctx, events); err != nil {
		return "", fmt.Errorf("save events: %w", err)
	}
	h.reportDropped(ctx, projectID, env)
	return events[0].ID, nil
}

// reportDropped counts the items of an accepted envelope that are not
// events, by type (DroppedFunc), and logs the first drop of each type at
// info level, later ones at debug level.
func (h *Handler) reportDropped(ctx context.Context, projectID int64, env *Envelope) {
	if env == nil {
		return
	}
	type count struct {
		label string
		n     int
	}
	var counts []count
	for _, it := range env.Items {
		if it.Type == "event" {
			continue
		}
		label := ItemTypeLabel(it.Type)
		i := slices.IndexFunc(counts, func(c count) bool { return c.label == label })
		if i < 0 {
			counts = append(counts, count{label: label})
			i = len(counts) - 1
		}
		counts[i].n++
	}
	for _, c := range counts {
		if h.DroppedFunc != nil {
			h.DroppedFunc(c.label, c.n)
		}
		level := slog.LevelDebug
		if _, seen := h.dropped.LoadOrStore(c.label, true); !seen {
			level = slog.LevelInfo
		}
		h.logger.Log(ctx, level, "envelope items dropped: Herald keeps events only; items of this type are answered 200 and not stored",
			"item_type", c.label, "items", c.n, "project_id", projectID)
	}
}

// itemTypes are the envelope item types Sentry defines (Relay's ItemType)
// other than "event".
var itemTypes = []string{
	"attachment", "check_in", "client_report", "feedback", "form_data",
	"log", "metric_buckets", "nel", "otel_log", "otel_span",
	"otel_traces_data", "profile", "profile_chunk", "raw_security",
	"replay_event", "replay_recording", "replay_video", "security",
	"session", "sessions", "span", "statsd", "trace_metric",
	"transaction", "unreal_report", "user_report", "user_report_v2",
}

// ItemTypeLabel names an envelope item type in DroppedFunc's calls and in
// logs: the type itself when Sentry defines it, "other" for any other, so
// that the labels are a small known set whatever clients send.
func ItemTypeLabel(itemType string) string {
	if itemType == "event" || slices.Contains(itemTypes, itemType) {
		return itemType
	}
	return "other"
}

// getBody returns a body to read a request into, with the capacity of its
// buffer reserved from the in-flight budget. A pooled buffer whose capacity
// cannot be reserved goes back to the pool, and the request starts with an
// empty one.
func (h *Handler) getBody() *body {
	b, _ := h.bodies.Get().(*body)
	if b == nil {
		return &body{budget: &h.inFlight}
	}
	if n := int64(cap(b.buf)); n > 0 {
		if !h.inFlight.reserve(n) {
			h.bodies.Put(b)
			return &body{budget: &h.inFlight}
		}
		b.reserved = n
	}
	return b
}

// putBody releases what a request's body reserved and pools it; a buffer
// larger than maxPooledBuffer is dropped.
func (h *Handler) putBody(b *body) {
	b.close()
	h.inFlight.release(b.reserved)
	b.reserved = 0
	if cap(b.buf) > maxPooledBuffer {
		b.buf = nil
	}
	b.buf = b.buf[:0]
	h.bodies.Put(b)
}

// authorize checks a DSN key and that its rate limit leaves room.
func (h *Handler) authorize(ctx context.Context, projectID int64, key string) error {
	if err := h.checkKey(ctx, projectID, key); err != nil {
		return err
	}
	return h.checkRate(projectID, key, 0)
}

// errMissingKey answers a request that carries no DSN key.
var errMissingKey = herald.Errorf(herald.EUNAUTHORIZED,
	"missing DSN key: send X-Sentry-Auth: Sentry sentry_key=<public key>, or the sentry_key query parameter")

// envelopeEvents normalizes the event items of an envelope; items of other
// types are skipped. The first event takes the header's event id when it has
// none of its own.
func (h *Handler) envelopeEvents(env *Envelope, now time.Time) ([]*herald.Event, error) {
	var events []*herald.Event
	fallback := env.EventID
	for i, it := range env.Items {
		if it.Type != "event" {
			continue
		}
		if int64(len(it.Payload)) > h.limits.MaxEventSize {
			return nil, herald.Errorf(herald.ETOOLARGE, "item %d: event exceeds the limit of %s", i+1, formatSize(h.limits.MaxEventSize))
		}
		e, err := parseEvent(it.Payload, fallback, now)
		if err != nil {
			return nil, herald.Errorf(herald.ErrorCode(err), "item %d: %s", i+1, herald.ErrorMessage(err))
		}
		fallback = ""
		events = append(events, e)
	}
	return events, nil
}

// checkKey checks that public is an active key of the project.
func (h *Handler) checkKey(ctx context.Context, projectID int64, public string) error {
	if len(public) > maxKeyLength {
		return errInvalidKey
	}
	now := h.clock.Now()
	if h.keys.valid(projectID, public, now) {
		return nil
	}
	k, err := h.findKey(ctx, projectID, public)
	if herald.ErrorCode(err) == herald.ENOTFOUND {
		return errInvalidKey
	} else if err != nil {
		return fmt.Errorf("find project key: %w", err)
	}
	if !k.IsActive || k.ProjectID != projectID {
		return errInvalidKey
	}
	h.keys.add(projectID, public, now)
	return nil
}

// keyLookupTimeout bounds a shared key lookup, which goes on when the
// request that started it goes away (the others waiting for it still
// want its answer).
const keyLookupTimeout = 10 * time.Second

// findKey looks the key up through Projects, sharing one lookup among the
// requests that check the same key at once: when a trusted key's time
// runs out under load, or a client sends many requests with a key the
// cache does not hold, the requests in flight ask once, not once each. A
// request that goes away stops waiting; the lookup it started goes on
// for the others, bounded by keyLookupTimeout.
func (h *Handler) findKey(ctx context.Context, projectID int64, public string) (*herald.ProjectKey, error) {
	name := strconv.FormatInt(projectID, 10) + "/" + public
	ch := h.lookups.DoChan(name, func() (k any, err error) {
		// A panic would crash the server from the group's goroutine,
		// where net/http cannot recover it: it fails the lookup instead.
		defer func() {
			if p := recover(); p != nil {
				k, err = nil, fmt.Errorf("panic: %v", p)
			}
		}()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keyLookupTimeout)
		defer cancel()
		return h.Projects.FindProjectKey(ctx, projectID, public)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*herald.ProjectKey), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// errInvalidKey answers a key that is unknown, inactive or of another
// project. It does not say which.
var errInvalidKey = herald.Errorf(herald.EFORBIDDEN, "invalid DSN key for this project")

// rateLimitError is a refusal by the rate limiter.
type rateLimitError struct {
	retryAfter time.Duration
}

func (e *rateLimitError) Error() string {
	return fmt.Sprintf("rate limited for %s", e.retryAfter)
}

// checkRate takes n events from the key's allowance (n = 0 only checks that
// some is left).
func (h *Handler) checkRate(projectID int64, public string, n int) error {
	if h.rates == nil {
		return nil
	}
	if wait, ok := h.rates.take(keyRef{projectID, public}, n, h.clock.Now()); !ok {
		return &rateLimitError{retryAfter: wait}
	}
	return nil
}

// fail answers err: Sentry's {"detail": "..."} body, with the message also
// in X-Sentry-Error. Internal errors are logged and answered 503 with
// Retry-After, since the SDK may try again. It returns the status answered.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) int {
	hdr := w.Header()
	if errors.Is(err, errBusy) {
		hdr.Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, herald.ErrorMessage(err))
		return http.StatusTooManyRequests
	}
	if rl := (*rateLimitError)(nil); errors.As(err, &rl) {
		secs := strconv.Itoa(int(math.Ceil(max(rl.retryAfter, time.Second).Seconds())))
		hdr.Set("Retry-After", secs)
		hdr.Set("X-Sentry-Rate-Limits", secs+"::key")
		writeError(w, http.StatusTooManyRequests, "event rate limit of this DSN key exceeded")
		return http.StatusTooManyRequests
	}
	code := herald.ErrorCode(err)
	status := http.StatusServiceUnavailable
	switch code {
	case herald.EINVALID:
		status = http.StatusBadRequest
	case herald.EUNAUTHORIZED:
		status = http.StatusUnauthorized
	case herald.EFORBIDDEN:
		status = http.StatusForbidden
	case herald.ENOTFOUND:
		status = http.StatusNotFound
	case herald.ETOOLARGE:
		status = http.StatusRequestEntityTooLarge
	case herald.ECONFLICT:
		status = http.StatusConflict
	case herald.ERATELIMITED:
		status = http.StatusTooManyRequests
		hdr.Set("Retry-After", "60")
	default:
		h.logger.ErrorContext(r.Context(), "ingest failed", "path", r.URL.Path, "err", err)
		hdr.Set("Retry-After", "5")
	}
	writeError(w, status, herald.ErrorMessage(err))
	return status
}

// spanName names the span of a request to endpoint ("envelope" or
// "store"): its method and route, as OpenTelemetry's HTTP conventions do.
func spanName(endpoint string) string {
	if endpoint == "store" {
		return "POST " + routeStore
	}
	return "POST " + routeEnvelope
}

// routeName is the route of endpoint.
func routeName(endpoint string) string {
	if endpoint == "store" {
		return routeStore
	}
	return routeEnvelope
}

// The routes of ingest, as span names and http.route show them.
const (
	routeEnvelope = "/api/{project_id}/envelope/"
	routeStore    = "/api/{project_id}/store/"
)

// eventAttributes describe the events of a request on its span.
func eventAttributes(events []*herald.Event) []attribute.KeyValue {
	attrs := []attribute.KeyValue{attrEventCount.Int(len(events)), attrEventID.String(events[0].ID)}
	if len(events) > 1 {
		ids := make([]string, len(events))
		for i, e := range events {
			ids[i] = e.ID
		}
		attrs = append(attrs, attrEventIDs.StringSlice(ids))
	}
	return attrs
}

// recordAnswer records the answer of a request on its span (ended by the
// caller): a 5xx is an error.
func recordAnswer(span trace.Span, status int, err error) {
	if !span.IsRecording() {
		return
	}
	outcome := "accepted"
	switch {
	case status >= 500:
		outcome = "failed"
		span.SetStatus(codes.Error, err.Error())
		span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(status)))
	case status == http.StatusTooManyRequests:
		outcome = "rate_limited"
	case status >= 400:
		outcome = "rejected"
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(status), attrOutcome.String(outcome))
}

// writeError writes Sentry's error body.
func writeError(w http.ResponseWriter, status int, detail string) {
	hdr := w.Header()
	hdr.Set("X-Sentry-Error", headerSafe(detail))
	hdr.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b := jsontext.AppendString([]byte(`{"detail":`), detail)
	_, _ = w.Write(append(b, '}'))
}

// headerSafe makes s fit in a header value.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, truncate(s, 512))
}

// splitPath splits "/api/{project_id}/{envelope|store}/" into its parts.
func splitPath(path string) (project, endpoint string, ok bool) {
	rest, ok := strings.CutPrefix(path, "/api/")
	if !ok {
		return "", "", false
	}
	project, endpoint, ok = strings.Cut(rest, "/")
	if !ok || project == "" {
		return "", "", false
	}
	endpoint = strings.TrimSuffix(endpoint, "/")
	if endpoint != "envelope" && endpoint != "store" {
		return "", "", false
	}
	return project, endpoint, true
}

// keyRef names a DSN key of a project.
type keyRef struct {
	projectID int64
	public    string
}

// maxCachedKeys bounds the key cache; past it, expired entries are swept.
const maxCachedKeys = 10000

// keyCache remembers keys found valid, for a while.
type keyCache struct {
	ttl time.Duration
	mu  sync.RWMutex
	m   map[keyRef]time.Time
}

func newKeyCache(ttl time.Duration) *keyCache {
	return &keyCache{ttl: ttl, m: make(map[keyRef]time.Time)}
}

// valid reports whether the key was found valid less than ttl ago.
func (c *keyCache) valid(projectID int64, public string, now time.Time) bool {
	c.mu.RLock()
	exp, ok := c.m[keyRef{projectID, public}]
	c.mu.RUnlock()
	return ok && now.Before(exp)
}

// add records that the key was found valid at now.
func (c *keyCache) add(projectID int64, public string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedKeys {
		for k, exp := range c.m {
			if !now.Before(exp) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxCachedKeys {
			clear(c.m)
		}
	}
	c.m[keyRef{projectID, public}] = now.Add(c.ttl)
}
