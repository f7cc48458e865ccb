package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/delivery"
	"github.com/herald-dev/herald/internal/webhook"
)

// Relay bounds.
const (
	// relayWorkers is the relay's requests in flight to its receiver: as
	// many as Herald sends to one destination at once.
	relayWorkers = delivery.DefaultPerDestinationConcurrency
	// relayQueue bounds the deliveries the relay holds; past it, the
	// events posted wait for room.
	relayQueue = 4096
	// relayRetryWait is the pause before a delivery that failed is sent
	// again.
	relayRetryWait = 50 * time.Millisecond
	// relayTimeout bounds one delivery request of the relay.
	relayTimeout = 10 * time.Second
)

// RelayOptions configure ServeRelay.
type RelayOptions struct {
	// Addr is the address to listen on; 127.0.0.1:0 when empty.
	Addr string
	// URL is where every event is delivered, signed as the Service Hook
	// HookID whose secret is Secret.
	URL    string
	HookID string
	Secret string
}

// relayServer is the state of ServeRelay.
type relayServer struct {
	opts   RelayOptions
	queue  chan *herald.Delivery
	client *http.Client
}

// ServeRelay serves the relay scenario's server until ctx is done: for each
// POST, whatever its path and without checking it, it answers 200 as soon
// as it has read the body, and delivers {"event":<body>,"triggering_rules":[]}
// to opts.URL with the headers and signature of a Service Hook delivery,
// relayWorkers at a time over keep-alive connections, sending a delivery
// again until it is answered 2xx. It stores nothing and parses nothing: it
// does the two HTTP exchanges a delivered event needs and nothing else, so
// its rate is the most those exchanges allow on the machine. GET /readyz
// answers 200. Once it listens it prints "listening on <URL>" to stdout.
func ServeRelay(ctx context.Context, opts RelayOptions, stdout io.Writer) error {
	if opts.URL == "" || opts.HookID == "" || opts.Secret == "" {
		return herald.Errorf(herald.EINVALID, "relay: a URL, hook id and secret are required")
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("relay listen: %w", err)
	}
	rs := &relayServer{
		opts:   opts,
		queue:  make(chan *herald.Delivery, relayQueue),
		client: newHTTPClient(relayWorkers),
	}
	rs.client.Timeout = relayTimeout
	srv := &http.Server{Handler: rs, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	var wg sync.WaitGroup
	for range relayWorkers {
		wg.Go(func() { rs.work(ctx) })
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "herald bench relay: listening on http://%s\n", ln.Addr())
	select {
	case <-ctx.Done():
		err = nil
	case err = <-serveErr:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	wg.Wait()
	rs.client.CloseIdleConnections()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ServeHTTP implements http.Handler.
func (rs *relayServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/readyz":
		w.WriteHeader(http.StatusOK)
		return
	case r.Method != http.MethodPost:
		http.Error(w, "relay: POST an event", http.StatusMethodNotAllowed)
		return
	}
	event, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReceiverBody))
	if err != nil {
		status := http.StatusBadRequest
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		http.Error(w, "relay: "+err.Error(), status)
		return
	}
	body := make([]byte, 0, len(event)+40)
	body = append(body, `{"event":`...)
	body = append(body, event...)
	body = append(body, `,"triggering_rules":[]}`...)
	d := &herald.Delivery{
		ID:              herald.NewID(),
		DestinationKind: herald.DestinationHook,
		DestinationID:   rs.opts.HookID,
		URL:             rs.opts.URL,
		Body:            body,
		Signature:       webhook.Sign(rs.opts.Secret, body),
		Timestamp:       time.Now().Unix(),
	}
	select {
	case rs.queue <- d:
	case <-r.Context().Done():
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"id":"`+d.ID+`"}`)
}

// work sends the queued deliveries until ctx is done.
func (rs *relayServer) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-rs.queue:
			for !rs.send(ctx, d) {
				select {
				case <-ctx.Done():
					return
				case <-time.After(relayRetryWait):
				}
			}
		}
	}
}

// send makes one attempt at d and reports whether it was answered 2xx.
func (rs *relayServer) send(ctx context.Context, d *herald.Delivery) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return false
	}
	req.Header = delivery.Headers(d)
	resp, err := rs.client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode <= 299
}

// startRelay starts `herald bench relay` (Executable, or this process's
// executable) as a child process delivering to hook hookID at url.
func startRelay(ctx context.Context, opts Options, url, hookID, secret string) (*server, error) {
	exe := opts.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("relay: %w", err)
		}
	}
	s := &server{exited: make(chan struct{}), output: &tailBuffer{max: logTail}}
	args := []string{"bench", "relay", "--to", url, "--hook-id", hookID, "--secret", secret}
	if err := s.start(ctx, exe, args, opts.ServerEnv); err != nil {
		return nil, err
	}
	return s, nil
}

// relay: the two HTTP exchanges of a delivered event and nothing else.
// The load generator posts Events events to a relay process (see
// ServeRelay), which delivers each to the receiver; measured as throughput
// is, it is the reference the other scenarios' rates are compared with. It
// has no target: it passes when every event was delivered once.
func (b *bench) relay(ctx context.Context, r *Result) error {
	r.Database = relayDatabase
	label := b.labelOn(relayDatabase, ScenarioRelay)
	b.progress.watch(label, nil, 0)
	b.progress.set("starting relay")
	e := b.newEnv()
	defer func() { _ = e.close() }()
	rc, err := e.receiver(false)
	if err != nil {
		return err
	}
	hookID, secret := herald.NewID(), herald.RandomHex(32)
	rc.AddSecret(hookID, secret)
	if e.srv, err = startRelay(ctx, b.opts, rc.HookURL(0), hookID, secret); err != nil {
		return err
	}
	e.load = e.newLoader(e.srv.URL+"/api/1/store/", herald.RandomHex(16))
	b.progress.watch(label, e.counts, e.srv.pid)
	werr, err := b.burst(ctx, e, r, rc, b.opts.Events)
	if err != nil {
		return err
	}
	r.Target = "none: the reference for the others"
	r.Measured = r.Ratio
	r.Pass = complete(r) && noDuplicates(r)
	if r.Pass && werr == nil {
		b.relayRate = r.DeliveriesPerSec
	}
	return werr
}

// relayDatabase is the relay's database in the report: it has none.
const relayDatabase = "none"

// relayShare notes rate as a share of this round's relay rate, when the
// relay ran in it.
func (b *bench) relayShare(r *Result, rate float64) {
	if b.relayRate > 0 && rate > 0 {
		r.metric("of the relay's deliveries/s in this round", rate/b.relayRate, "×")
	}
}
