package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/herald-dev/herald"
)

// Sender defaults and bounds.
const (
	DefaultTimeout          = 5 * time.Second
	DefaultMaxResponseBytes = 4096

	// maxDrainBytes is how much of a response beyond the stored excerpt is
	// read and discarded so that its connection can be reused; a longer
	// response closes its connection instead.
	maxDrainBytes = 64 << 10
	// maxIdleConnsPerHost keeps enough warm connections for thousands of
	// deliveries a second to one receiver.
	maxIdleConnsPerHost = 512
)

// SenderOptions configure a Sender.
type SenderOptions struct {
	// Timeout bounds a whole attempt: connecting, sending, and reading the
	// response excerpt. Default DefaultTimeout.
	Timeout time.Duration
	// Guard checks every address dialed; nil means a zero Guard, which
	// blocks all non-public addresses.
	Guard *Guard
	// MaxResponseBytes is how much of the response body an attempt keeps.
	// Default DefaultMaxResponseBytes.
	MaxResponseBytes int
	// Clock stamps attempts and reads HTTP-date Retry-After values.
	// Default herald.SystemClock.
	Clock herald.Clock
}

// Sender makes delivery attempts: one HTTP POST each, through a client that
// dials only addresses its Guard permits, uses no proxy and never follows
// redirects.
type Sender struct {
	client   *http.Client
	timeout  time.Duration
	maxBytes int
	clock    herald.Clock
}

// NewSender returns a Sender with opts, defaults filled in.
func NewSender(opts SenderOptions) *Sender {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Guard == nil {
		opts.Guard = &Guard{}
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if opts.Clock == nil {
		opts.Clock = herald.SystemClock
	}
	dialer := &net.Dialer{
		Timeout:   opts.Timeout,
		KeepAlive: 30 * time.Second,
		Control:   opts.Guard.Control,
	}
	transport := &http.Transport{
		// No proxy: a proxy would dial the destination on our behalf,
		// beyond the guard's reach.
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        4 * maxIdleConnsPerHost,
		MaxIdleConnsPerHost: maxIdleConnsPerHost,
		// As many connections to one host as are kept idle: past that,
		// requests wait for a connection (within their timeout) instead of
		// dialing ones that are closed right after, which costs memory and
		// a dial per request when many hooks share one receiver.
		MaxConnsPerHost:       maxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   opts.Timeout,
		ExpectContinueTimeout: time.Second,
	}
	return &Sender{
		client: &http.Client{
			Transport: transport,
			Timeout:   opts.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		timeout:  opts.Timeout,
		maxBytes: opts.MaxResponseBytes,
		clock:    opts.Clock,
	}
}

// Headers returns the request headers of a delivery: those of a Service Hook
// or of a Sentry App, according to its destination kind. An app delivery
// carries the app's own webhook headers (d.AppHeaders) too; Herald's are set
// after them and win, though validation keeps their names apart.
func Headers(d *herald.Delivery) http.Header {
	h := make(http.Header, 8+len(d.AppHeaders))
	if d.DestinationKind == herald.DestinationApp {
		for _, x := range d.AppHeaders {
			h.Set(x.Key, x.Value)
		}
	}
	h.Set("Content-Type", "application/json")
	h.Set("Request-ID", d.ID)
	h.Set("User-Agent", herald.UserAgent())
	ts := strconv.FormatInt(d.Timestamp, 10)
	switch d.DestinationKind {
	case herald.DestinationHook:
		h.Set("X-Sentry-Hook-Signature", d.Signature)
		h.Set("X-ServiceHook-Signature", d.Signature)
		h.Set("X-ServiceHook-Timestamp", ts)
		h.Set("X-ServiceHook-GUID", d.DestinationID)
	case herald.DestinationApp:
		h.Set("Sentry-Hook-Resource", d.Resource)
		h.Set("Sentry-Hook-Timestamp", ts)
		h.Set("Sentry-Hook-Signature", d.Signature)
	}
	return h
}

// msgBlocked is the error of an attempt whose destination the Guard refused.
// It names neither the address nor the reason: attempts are shown to whoever
// may set the URL, who would otherwise learn what an internal name resolves
// to. The Dispatcher logs the detail.
const msgBlocked = "destination not allowed"

// Send makes one attempt at d: it POSTs d.Body to d.URL with Headers(d) and
// records the result. The attempt succeeded when its StatusCode is 2xx;
// otherwise Error says why, and says too when the answer is a final 4xx,
// which is not retried. retryAfter is the receiver's Retry-After on a 408,
// 425, 429 or 503 response, or 0.
//
// When the Guard refuses the address dialed, Error is only "destination not
// allowed", without the address or the reason.
func (s *Sender) Send(ctx context.Context, d *herald.Delivery) (a *herald.Attempt, retryAfter time.Duration) {
	a, retryAfter, _ = s.send(ctx, d)
	return a, retryAfter
}

// send is Send that also returns the Guard's refusal, naming the address and
// why it was refused, for the server log; refused is nil when the Guard let
// the attempt through.
func (s *Sender) send(ctx context.Context, d *herald.Delivery) (a *herald.Attempt, retryAfter time.Duration, refused *blockedError) {
	a = &herald.Attempt{
		DeliveryID: d.ID,
		Number:     d.Attempts + 1,
		URL:        d.URL,
		CreatedAt:  s.clock.Now(),
	}
	req, err := s.newRequest(ctx, d)
	if err != nil {
		a.Error = err.Error()
		return a, 0, nil
	}

	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		a.Duration = time.Since(start)
		a.Error = describe(err, s.timeout)
		if errors.As(err, &refused) {
			return a, 0, refused
		}
		return a, 0, nil
	}
	defer func() {
		_, _ = io.CopyN(io.Discard, resp.Body, maxDrainBytes)
		_ = resp.Body.Close()
	}()
	a.StatusCode = resp.StatusCode
	a.HookErrorID = answerHeader(resp.Header, "Sentry-Hook-Error")
	a.HookProjectID = answerHeader(resp.Header, "Sentry-Hook-Project")
	// A failed read keeps what arrived: the status decides the attempt.
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, int64(s.maxBytes)))
	a.Duration = time.Since(start)
	a.ResponseBody = cleanExcerpt(excerpt)

	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		// The receiver accepted the delivery; a failure to read the rest
		// of its response does not undo that.
	case code >= 300 && code < 400:
		a.Error = fmt.Sprintf("redirect not followed (%d)", code)
	case final(code):
		a.Error = fmt.Sprintf("non-2xx status %d (a 4xx answer is not retried)", code)
	default:
		a.Error = fmt.Sprintf("non-2xx status %d", code)
		if honoursRetryAfter(code) {
			retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), s.clock.Now())
		}
	}
	return a, retryAfter, nil
}

// newRequest builds the POST of d, or says why it cannot be sent.
func (s *Sender) newRequest(ctx context.Context, d *herald.Delivery) (*http.Request, error) {
	if d.DestinationKind != herald.DestinationHook && d.DestinationKind != herald.DestinationApp {
		return nil, fmt.Errorf("unknown destination kind %q", d.DestinationKind)
	}
	u, err := url.Parse(d.URL)
	if err != nil {
		return nil, errors.New("invalid url")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("invalid url: scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("invalid url: no host")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return nil, errors.New("invalid url")
	}
	req.Header = Headers(d)
	return req, nil
}

// describe turns a client error into the short text an attempt records.
// A refusal of the Guard is msgBlocked, without the address.
func describe(err error, timeout time.Duration) string {
	var be *blockedError
	var ne net.Error
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &be):
		return msgBlocked
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout after " + timeout.String()
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "dns lookup failed: no such host " + dnsErr.Name
		}
		return "dns lookup failed: " + dnsErr.Err
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before a complete response"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// Drop the "Post \"<url>\": " prefix; the attempt records the URL.
		return ue.Err.Error()
	}
	return err.Error()
}

// maxAnswerHeaderBytes bounds a header of an answer an attempt keeps
// (Sentry-Hook-Error, an event id of 32 hex digits, and
// Sentry-Hook-Project, a project id).
const maxAnswerHeaderBytes = 128

// answerHeader returns the first value of the answer's header name as
// storable text of at most maxAnswerHeaderBytes, without control
// characters; "" when absent.
func answerHeader(h http.Header, name string) string {
	v := strings.TrimSpace(h.Get(name))
	if v == "" {
		return ""
	}
	v = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, strings.ToValidUTF8(v, "\uFFFD"))
	if len(v) > maxAnswerHeaderBytes {
		v = cleanExcerpt([]byte(v[:maxAnswerHeaderBytes]))
	}
	return v
}

// cleanExcerpt makes a response excerpt storable text: a rune cut at the end
// is dropped, invalid UTF-8 is replaced and NUL bytes removed.
func cleanExcerpt(b []byte) string {
	if i := lastRuneStart(b); i >= 0 && !utf8.FullRune(b[i:]) {
		b = b[:i]
	}
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.ReplaceAll(s, "\x00", "")
}

// lastRuneStart returns the index of the start of the last (possibly
// incomplete) rune in b, or -1.
func lastRuneStart(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			return i
		}
	}
	return -1
}

// parseRetryAfter reads a Retry-After value, delay-seconds or HTTP-date, as
// a wait from now; 0 when it is absent, invalid or past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0
		}
		if n > int64(maxRetryAfter/time.Second) || errors.Is(err, strconv.ErrRange) {
			return maxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	return max(t.Sub(now), 0)
}
