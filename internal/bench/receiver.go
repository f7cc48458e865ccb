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
	"sync"
	"sync/atomic"
	"time"
)

// Receiver paths: deliveries go to hookPath (followed by anything), the raw
// ceiling's plain POSTs to rawPath.
const (
	hookPath = "/hook/"
	rawPath  = "/raw"

	// maxReceiverBody bounds what the receiver reads of one request.
	maxReceiverBody = 1 << 20
	// signatureSample is how often a delivery's signature is checked: the
	// first of each hook and every signatureSample-th after.
	signatureSample = 16
)

// arrival is one delivery a Receiver accepted.
type arrival struct {
	at      time.Time
	eventID string
	hookID  string
}

// Receiver is the bench's webhook endpoint on 127.0.0.1: it records the
// arrival time and event.event_id of every delivery, verifies the
// X-Sentry-Hook-Signature of a sample, and counts deliveries received twice
// (same Request-ID). Until Hang is released it may hold every delivery
// unanswered, and it answers with the status set by SetStatus.
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
	perHook    map[string]int
	seen       map[string]struct{}
	arrivals   []arrival
	duplicates int
	checked    int
	badSigs    int
	unparsed   int
}

// payload is what the receiver reads of a delivery body.
type payload struct {
	Event struct {
		EventID string `json:"event_id"`
	} `json:"event"`
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
		perHook: map[string]int{},
		seen:    map[string]struct{}{},
	}
	rc.status.Store(http.StatusOK)
	rc.srv = &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { _ = rc.srv.Serve(ln) }()
	return rc, nil
}

// HookURL is the URL for hook number i.
func (rc *Receiver) HookURL(i int) string { return fmt.Sprintf("%s%s%d", rc.URL, hookPath, i) }

// AddSecret lets the receiver verify the signatures of hookID's deliveries.
func (rc *Receiver) AddSecret(hookID, secret string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secrets[hookID] = secret
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
	hookID := r.Header.Get("X-ServiceHook-GUID")
	requestID := r.Header.Get("Request-ID")
	signature := r.Header.Get("X-Sentry-Hook-Signature")

	rc.mu.Lock()
	if parseErr != nil || p.Event.EventID == "" {
		rc.unparsed++
	}
	if _, ok := rc.seen[requestID]; ok {
		rc.duplicates++
		rc.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		return
	}
	rc.seen[requestID] = struct{}{}
	n := rc.perHook[hookID]
	rc.perHook[hookID] = n + 1
	if secret, ok := rc.secrets[hookID]; ok && n%signatureSample == 0 {
		rc.checked++
		if !validSignature(secret, body, signature) {
			rc.badSigs++
		}
	}
	rc.arrivals = append(rc.arrivals, arrival{at: at, eventID: p.Event.EventID, hookID: hookID})
	rc.delivered.Add(1)
	rc.mu.Unlock()
	w.WriteHeader(http.StatusOK)
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
	checked    int
	badSigs    int
	unparsed   int
}

// snapshot copies what the receiver has seen so far.
func (rc *Receiver) snapshot() receipt {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return receipt{
		arrivals:   append([]arrival(nil), rc.arrivals...),
		duplicates: rc.duplicates,
		checked:    rc.checked,
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
