package bench

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Receiver paths: Service Hook deliveries go to hookPath and Sentry App
// deliveries to appPath (each followed by a number), the raw ceiling's
// plain POSTs to rawPath.
const (
	hookPath = "/hook/"
	appPath  = "/app/"
	rawPath  = "/raw"

	// maxReceiverBody bounds what the receiver reads of one request.
	maxReceiverBody = 1 << 20
	// signatureSample is how often a delivery's signature is checked: the
	// first of each hook and every signatureSample-th after.
	signatureSample = 16
)

// Kinds of delivery the receiver tells apart: the Service Hook events
// (event.alert is an event.created body with triggering rules) and the
// Sentry App events, named by their Sentry-Hook-Resource and action.
const (
	kindEventCreated = "event.created"
	kindEventAlert   = "event.alert"
	kindErrorCreated = "error.created"
	kindIssueCreated = "issue.created"
)

// arrival is one delivery a Receiver accepted.
type arrival struct {
	at time.Time
	// eventID is the event the delivery is about, when its kind names one.
	eventID string
	// dest is the Service Hook's id or the Sentry App's receiver path.
	dest string
	kind string
}

// Receiver is the bench's webhook endpoint on 127.0.0.1: it records the
// arrival time, kind and event id of every delivery (event.event_id of a
// Service Hook's, data.error.event_id of an app's error.created), verifies
// the signature of a sample (X-Sentry-Hook-Signature with the hook's
// secret, Sentry-Hook-Signature with the app's client secret), and counts
// deliveries received twice (same Request-ID). Until Hang is released it
// may hold every delivery unanswered, and it answers with the status set by
// SetStatus.
type Receiver struct {
	// URL is the receiver's base URL, such as http://127.0.0.1:41234.
	URL string

	srv     *http.Server
	ln      net.Listener
	hang    bool
	release chan struct{}
	once    sync.Once

	status    atomic.Int32
	delivered atomic.Int64
	refused   atomic.Int64
	hung      atomic.Int64
	raw       atomic.Int64

	mu         sync.Mutex
	secrets    map[string]string
	perDest    map[string]int
	seen       map[string]struct{}
	arrivals   []arrival
	duplicates int
	checked    int
	appChecked int
	badSigs    int
	unparsed   int
}

// payload is what the receiver reads of a delivery body: a Service Hook's
// event and triggering rules, or a Sentry App's action and error.
type payload struct {
	Event struct {
		EventID string `json:"event_id"`
	} `json:"event"`
	TriggeringRules []string `json:"triggering_rules"`
	Action          string   `json:"action"`
	Data            struct {
		Error struct {
			EventID string `json:"event_id"`
		} `json:"error"`
	} `json:"data"`
}

// newReceiver starts a receiver on 127.0.0.1. A hanging receiver holds
// every delivery until Close (or until the sender gives up).
func newReceiver(hang bool) (*Receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("receiver listen: %w", err)
	}
	rc := &Receiver{
		URL:     "http://" + ln.Addr().String(),
		ln:      ln,
		hang:    hang,
		release: make(chan struct{}),
		secrets: map[string]string{},
		perDest: map[string]int{},
		seen:    map[string]struct{}{},
	}
	rc.status.Store(http.StatusOK)
	rc.srv = &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { _ = rc.srv.Serve(ln) }()
	return rc, nil
}

// HookURL is the URL for hook number i.
func (rc *Receiver) HookURL(i int) string { return fmt.Sprintf("%s%s%d", rc.URL, hookPath, i) }

// AppURL is the URL for Sentry App number i.
func (rc *Receiver) AppURL(i int) string { return fmt.Sprintf("%s%s%d", rc.URL, appPath, i) }

// AddSecret lets the receiver verify the signatures of hookID's deliveries.
func (rc *Receiver) AddSecret(hookID, secret string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secrets[hookID] = secret
}

// AddAppSecret lets the receiver verify the signatures of the deliveries
// of the Sentry App at AppURL(i), whose client secret is secret.
func (rc *Receiver) AddAppSecret(i int, secret string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secrets[fmt.Sprintf("%s%d", appPath, i)] = secret
}

// SetStatus sets the status deliveries are answered with; only a 2xx
// counts as delivered.
func (rc *Receiver) SetStatus(code int) { rc.status.Store(int32(code)) }

// Delivered is the number of distinct deliveries answered with a 2xx.
func (rc *Receiver) Delivered() int { return int(rc.delivered.Load()) }

// Refused is the number of requests answered with a non-2xx status.
func (rc *Receiver) Refused() int { return int(rc.refused.Load()) }

// Hung is the number of requests a hanging receiver held.
func (rc *Receiver) Hung() int { return int(rc.hung.Load()) }

// Close releases held requests and stops the receiver.
func (rc *Receiver) Close() error {
	rc.once.Do(func() { close(rc.release) })
	return rc.srv.Close()
}

// ServeHTTP implements http.Handler.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReceiverBody))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.URL.Path == rawPath {
		// The same work as a delivery: decode the body, count it, answer.
		var p payload
		_ = json.Unmarshal(body, &p)
		rc.mu.Lock()
		rc.raw.Add(1)
		rc.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		return
	}
	if rc.hang {
		rc.hung.Add(1)
		select {
		case <-rc.release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if code := int(rc.status.Load()); code < 200 || code > 299 {
		rc.refused.Add(1)
		w.WriteHeader(code)
		return
	}
	at := time.Now()
	var p payload
	parseErr := json.Unmarshal(body, &p)
	a, signature, app := classify(r, &p)
	a.at = at
	requestID := r.Header.Get("Request-ID")

	rc.mu.Lock()
	if parseErr != nil || (a.eventID == "" && (a.kind == kindEventCreated || a.kind == kindErrorCreated)) {
		rc.unparsed++
	}
	if _, ok := rc.seen[requestID]; ok {
		rc.duplicates++
		rc.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		return
	}
	rc.seen[requestID] = struct{}{}
	n := rc.perDest[a.dest]
	rc.perDest[a.dest] = n + 1
	if secret, ok := rc.secrets[a.dest]; ok && n%signatureSample == 0 {
		rc.checked++
		if app {
			rc.appChecked++
		}
		if !validSignature(secret, body, signature) {
			rc.badSigs++
		}
	}
	rc.arrivals = append(rc.arrivals, a)
	rc.delivered.Add(1)
	rc.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// classify returns what a delivery of body p is: its destination, kind and
// event id, with the signature header to check, and whether it went to a
// Sentry App (by its path; the others are Service Hooks).
func classify(r *http.Request, p *payload) (a arrival, signature string, app bool) {
	if strings.HasPrefix(r.URL.Path, appPath) {
		a.dest = r.URL.Path
		a.kind = r.Header.Get("Sentry-Hook-Resource") + "." + p.Action
		if a.kind == kindErrorCreated {
			a.eventID = p.Data.Error.EventID
		}
		return a, r.Header.Get("Sentry-Hook-Signature"), true
	}
	a.dest = r.Header.Get("X-ServiceHook-GUID")
	a.kind = kindEventCreated
	if len(p.TriggeringRules) > 0 {
		a.kind = kindEventAlert
	}
	a.eventID = p.Event.EventID
	return a, r.Header.Get("X-Sentry-Hook-Signature"), false
}

// validSignature reports whether signature is the seed's HMAC-SHA256 of
// body keyed with secret, in lowercase hex.
func validSignature(secret string, body []byte, signature string) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	want := make([]byte, hex.EncodedLen(sha256.Size))
	hex.Encode(want, mac.Sum(nil))
	return hmac.Equal(want, []byte(signature))
}

// receipt is what a receiver saw, copied out.
type receipt struct {
	arrivals   []arrival
	duplicates int
	// checked signatures, appChecked of them Sentry Apps', and badSigs
	// that did not verify.
	checked    int
	appChecked int
	badSigs    int
	// unparsed deliveries: not JSON, or an event.created or error.created
	// without its event id.
	unparsed int
}

// kinds counts the deliveries of each kind.
func (r receipt) kinds() map[string]int {
	out := map[string]int{}
	for _, a := range r.arrivals {
		out[a.kind]++
	}
	return out
}

// snapshot copies what the receiver has seen so far.
func (rc *Receiver) snapshot() receipt {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return receipt{
		arrivals:   append([]arrival(nil), rc.arrivals...),
		duplicates: rc.duplicates,
		checked:    rc.checked,
		appChecked: rc.appChecked,
		badSigs:    rc.badSigs,
		unparsed:   rc.unparsed,
	}
}

// errTimeout is returned when deliveries do not all arrive in time.
var errTimeout = errors.New("timed out")

// waitDelivered waits until the receiver has n deliveries, or until done
// is closed.
func (rc *Receiver) waitDelivered(done <-chan struct{}, n int) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for rc.Delivered() < n {
		select {
		case <-done:
			return fmt.Errorf("%d of %d deliveries arrived: %w", rc.Delivered(), n, errTimeout)
		case <-t.C:
		}
	}
	return nil
}
