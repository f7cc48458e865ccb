package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/sentryhook"
)

// listenConfig is what herald listen is told.
type listenConfig struct {
	Addr           string
	Secrets        []string
	ForwardTo      string
	ForwardTimeout time.Duration
	MaxBodyBytes   int64
}

// Validate names the first field that is wrong.
func (c listenConfig) Validate() error {
	switch {
	case c.Addr == "":
		return errors.New("addr: must not be empty")
	case c.ForwardTimeout <= 0:
		return errors.New("forward-timeout: must be positive")
	case c.MaxBodyBytes <= 0:
		return errors.New("max-body-bytes: must be positive")
	}
	for _, s := range c.Secrets {
		if s == "" {
			return errors.New("secret: must not be empty")
		}
	}
	if c.ForwardTo != "" {
		u, err := url.Parse(c.ForwardTo)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("forward-to: must be an absolute http(s) URL, got %q", c.ForwardTo)
		}
	}
	return nil
}

const listenSummary = `Receives webhook deliveries on --addr, any path. For each it prints the
event (resource and action), the ids, the signature verdict and the body,
pretty-printed, then answers like a receiver would: 401 when the signature
is wrong, 400 when the body is not a webhook payload, 200 otherwise.

With --forward-to it also sends each delivery on, same body and headers,
and answers with the forwarded request's status and body instead: run your
own receiver behind it and watch what it gets. It adds its own id to a
Herald-Listen-Via header, and answers 508 instead of forwarding a delivery
that already carries it (--forward-to leading back to this listener).

Without --secret signatures are shown but not checked.`

// runListen runs herald listen until ctx is cancelled.
func runListen(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg := listenConfig{
		Addr:           "127.0.0.1:9000",
		ForwardTimeout: 10 * time.Second,
		MaxBodyBytes:   sentryhook.DefaultMaxBodyBytes,
	}
	fs := newFlagSet("listen", listenSummary, stderr)
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "address to listen on (host:port)")
	fs.Var(listFlag{&cfg.Secrets}, "secret", "secret to verify signatures with; repeatable or comma-separated, for rotation")
	fs.StringVar(&cfg.ForwardTo, "forward-to", cfg.ForwardTo, "URL to forward every delivery to, body and headers unchanged but for a Herald-Listen-Via header")
	fs.DurationVar(&cfg.ForwardTimeout, "forward-timeout", cfg.ForwardTimeout, "how long a forwarded request may take")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", cfg.MaxBodyBytes, "largest body accepted; a longer one gets 413")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("listen: unexpected argument %q", fs.Arg(0))
	}
	if err := cfg.Validate(); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	l := &listener{
		cfg: cfg,
		id:  herald.RandomHex(8),
		out: stdout,
		client: &http.Client{
			Timeout: cfg.ForwardTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
	srv := &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	verdict := "signatures checked"
	if len(cfg.Secrets) == 0 {
		verdict = "signatures NOT checked: no --secret"
	}
	l.print(fmt.Sprintf("listening on http://%s (%s)\n", ln.Addr(), verdict))

	select {
	case err := <-served:
		return fmt.Errorf("listen: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("listen: shutdown: %w", err)
	}
	return nil
}

// listener is herald listen's handler.
type listener struct {
	cfg listenConfig
	// id names this listener in the viaHeader of the requests it forwards,
	// so that one that comes back is not forwarded again.
	id     string
	out    io.Writer
	client *http.Client
	mu     sync.Mutex // serializes writes to out
}

// print writes s to the output in one piece.
func (l *listener) print(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.out, s)
}

func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n--- %s %s %s\n", time.Now().UTC().Format(time.RFC3339), r.Method, r.URL.RequestURI())
	defer func() { l.print(b.String()) }()

	body, err := sentryhook.ReadBody(r, l.cfg.MaxBodyBytes)
	if err != nil {
		fmt.Fprintf(&b, "rejected      %s\n", errText(err))
		status := http.StatusBadRequest
		if errors.Is(err, sentryhook.ErrBodyTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		http.Error(w, http.StatusText(status), status)
		return
	}

	status := http.StatusOK
	d, err := sentryhook.Parse(r.Header, body)
	if err != nil {
		fmt.Fprintf(&b, "payload       %s\n", errText(err))
		status = http.StatusBadRequest
	} else {
		describeDelivery(&b, d)
	}
	verdict, ok := l.verify(r.Header, body)
	fmt.Fprintf(&b, "signature     %s\n", verdict)
	if !ok {
		status = http.StatusUnauthorized
	}
	b.WriteString(prettyJSON(body))

	if l.cfg.ForwardTo != "" {
		l.forward(w, r, body, &b)
		return
	}
	http.Error(w, http.StatusText(status), status)
}

// verify returns the signature verdict on a delivery and whether it passes.
func (l *listener) verify(h http.Header, body []byte) (string, bool) {
	sig, header, err := sentryhook.Signature(h)
	if len(l.cfg.Secrets) == 0 {
		if err != nil {
			return "not checked (no --secret): " + errText(err), true
		}
		return "not checked (no --secret), in " + header, true
	}
	if err == nil {
		err = sentryhook.Verify(body, sig, l.cfg.Secrets...)
	}
	if err != nil {
		return "INVALID: " + errText(err), false
	}
	return "valid (" + header + ")", true
}

// errText is a sentryhook error without its package prefix.
func errText(err error) string { return strings.TrimPrefix(err.Error(), "sentryhook: ") }

// describeDelivery writes what a delivery is about.
func describeDelivery(b *strings.Builder, d *sentryhook.Delivery) {
	kind := "Service Hook"
	if d.Kind == sentryhook.KindSentryApp {
		kind = "Sentry App"
	}
	fmt.Fprintf(b, "event         %s (%s; resource %s, action %s)\n", d.Event(), kind, d.Resource, d.Action)
	line := func(name, v string) {
		if v != "" {
			fmt.Fprintf(b, "%-13s %s\n", name, v)
		}
	}
	line("request id", d.RequestID)
	line("hook id", d.HookID)
	line("installation", d.Installation.UUID)
	if d.Actor.Type != "" {
		line("actor", fmt.Sprintf("%s %s (%s)", d.Actor.Type, d.Actor.ID, d.Actor.Name))
	}
	if !d.Timestamp.IsZero() {
		line("timestamp", fmt.Sprintf("%s (%d)", d.Timestamp.Format(time.RFC3339), d.Timestamp.Unix()))
	}
	switch p := d.Payload.(type) {
	case *sentryhook.ServiceHookPayload:
		line("event id", p.Event.EventID)
		line("issue id", p.ID)
	case *sentryhook.IssuePayload:
		line("issue id", p.Issue.ID+" "+p.Issue.ShortID)
	case *sentryhook.ErrorPayload:
		line("event id", p.Error.EventID)
		line("issue id", p.Error.IssueID)
	case *sentryhook.EventAlertPayload:
		line("event id", p.Event.EventID)
		line("issue id", p.Event.IssueID)
	case *sentryhook.CommentPayload:
		line("comment id", fmt.Sprint(p.CommentID))
		line("issue id", fmt.Sprint(p.IssueID))
	case *sentryhook.MetricAlertPayload:
		line("incident id", p.MetricAlert.ID)
	}
	line("dedupe key", d.DedupeKey())
}

// prettyJSON indents a JSON body, or returns it as it is when it is not
// JSON.
func prettyJSON(body []byte) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		return string(body) + "\n"
	}
	buf.WriteByte('\n')
	return buf.String()
}

// viaHeader lists the ids of the listeners a forwarded delivery went
// through, one value each.
const viaHeader = "Herald-Listen-Via"

// hopHeaders are not forwarded: they describe one connection.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// forward sends the delivery on to --forward-to and answers with its
// answer, or 502 when there is none.
func (l *listener) forward(w http.ResponseWriter, r *http.Request, body []byte, b *strings.Builder) {
	if slices.Contains(r.Header.Values(viaHeader), l.id) {
		// --forward-to leads back here: forwarding it again would loop
		// until the connections ran out.
		fmt.Fprintf(b, "forwarded     not again: this listener forwarded it (--forward-to %s leads back here)\n", l.cfg.ForwardTo)
		http.Error(w, "forwarding loop: --forward-to leads back to this listener", http.StatusLoopDetected)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, l.cfg.ForwardTo, bytes.NewReader(body))
	if err != nil {
		fmt.Fprintf(b, "forwarded     failed: %v\n", err)
		http.Error(w, "could not forward", http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		req.Header.Del(h)
	}
	req.Header.Add(viaHeader, l.id)
	start := time.Now()
	resp, err := l.client.Do(req)
	if err != nil {
		fmt.Fprintf(b, "forwarded     %s: failed: %v\n", l.cfg.ForwardTo, err)
		http.Error(w, "could not forward", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxTriggerResponse))
	fmt.Fprintf(b, "forwarded     %s: %s (%s)\n", l.cfg.ForwardTo, resp.Status, time.Since(start).Round(time.Millisecond))
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		w.Header().Set("Retry-After", ra)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}
