package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-dev/herald"
)

// Load generator bounds.
const (
	// maxSendAttempts bounds the tries of one event; every try past the
	// first is counted as a retry.
	maxSendAttempts = 10
	// maxRetryWait bounds the wait before a retry, whatever Retry-After says.
	maxRetryWait = time.Second
	// requestTimeout bounds one request of the load generator.
	requestTimeout = 30 * time.Second
	// lateAfter is how far behind its schedule a paced send must start to
	// be counted late.
	lateAfter = 10 * time.Millisecond
)

// eventTemplate is a compact event as sentry-go's store transport sends one
// for a captured error, split around its event_id.
const eventTemplate = `{"event_id":"%s"%s,"timestamp":"%s","level":"error","platform":"go",` +
	`"release":"shop@1.4.2","environment":"production","server_name":"api-7f9c",` +
	`"sdk":{"name":"sentry.go","version":"0.31.1","integrations":["ContextifyFrames","Environment","GlobalTags","IgnoreErrors","IgnoreTransactions","Modules"],"packages":[{"name":"sentry-go","version":"0.31.1"}]},` +
	`"contexts":{"device":{"arch":"amd64","num_cpu":2},"os":{"name":"linux"},"runtime":{"go_maxprocs":2,"go_numcgocalls":1,"go_numroutines":14,"name":"go","version":"go1.26.8"},"trace":{"span_id":"bafa82ae8f2392c5","trace_id":"38c5bcdde1f62bd34ae2f83775bce7a3"}},` +
	`"tags":{"region":"eu-west-1"},"user":{"id":"42","ip_address":"203.0.113.7"},` +
	`"request":{"url":"https://api.example.com/users/42","method":"GET","headers":{"User-Agent":"curl/8.5.0","Accept":"*/*"}},` +
	`"modules":{"example.com/shop":"(devel)","github.com/getsentry/sentry-go":"v0.31.1"},` +
	`"exception":[{"type":"*errors.errorString","value":"user 42 not found","stacktrace":{"frames":[` +
	`{"function":"(*conn).serve","module":"net/http","abs_path":"/usr/local/go/src/net/http/server.go","lineno":2102},` +
	`{"function":"HandlerFunc.ServeHTTP","module":"net/http","abs_path":"/usr/local/go/src/net/http/server.go","lineno":2220},` +
	`{"function":"(*Server).handleUser","module":"example.com/shop/api","abs_path":"/app/api/user.go","lineno":88,"in_app":true},` +
	`{"function":"(*Store).LoadUser","module":"example.com/shop/store","abs_path":"/app/store/user.go","lineno":41,"in_app":true}]}}]}`

// eventBody builds event bodies that differ only in their event_id and
// fingerprint.
type eventBody struct {
	prefix, suffix []byte
}

// newEventBody returns bodies stamped with timestamp t.
func newEventBody(t time.Time) eventBody {
	full := fmt.Sprintf(eventTemplate, "\x00", "", herald.FormatTime(t))
	before, after, _ := bytes.Cut([]byte(full), []byte{0})
	return eventBody{prefix: before, suffix: after}
}

// with returns the body of the event with id, a 32-hex event id, and
// fingerprint: "" for none, so that the event is grouped by its exception
// (the same for every event: one issue, as in an error storm).
func (b eventBody) with(id, fingerprint string) []byte {
	out := make([]byte, 0, len(b.prefix)+len(id)+len(b.suffix)+len(fingerprint)+24)
	out = append(out, b.prefix...)
	out = append(out, id...)
	out = append(out, '"')
	if fingerprint != "" {
		out = append(out, `,"fingerprint":[`...)
		out = strconv.AppendQuote(out, fingerprint)
		out = append(out, ']')
	}
	return append(out, b.suffix[1:]...)
}

// spread says how a scenario's events are grouped into issues.
type spread struct {
	// issues is the number of recurring issues: 1 sends the same
	// exception every time (one issue), more spreads the recurring events
	// over that many fingerprints.
	issues int
	// newEvery, when positive, gives every newEvery-th event a fingerprint
	// of its own, so that it opens a new issue (1: every event does).
	newEvery int
}

// fingerprint returns the fingerprint of event number i of a scenario,
// whose id is id; "" for none (grouped by its exception).
func (s spread) fingerprint(i int, id string) string {
	if s.newEvery > 0 && i%s.newEvery == s.newEvery-1 {
		return "bench-new-" + id
	}
	switch {
	case s.issues <= 1:
		return ""
	case s.newEvery > 0:
		// The recurring events, in order, cycle through the issues.
		r := i - i/s.newEvery
		return "bench-" + strconv.Itoa(r%s.issues)
	}
	// Spread by event id, which is random.
	n, _ := strconv.ParseUint(id[:min(len(id), 8)], 16, 64)
	return "bench-" + strconv.FormatUint(n%uint64(s.issues), 10)
}

// plan is the events a scenario sends: their distinct ids, the index of
// each id, and their fingerprints.
type plan struct {
	ids          []string
	index        map[string]int
	fingerprints []string
}

// newPlan returns n events with fresh ids, grouped as s says.
func newPlan(n int, s spread) *plan {
	p := &plan{ids: make([]string, n), index: make(map[string]int, n), fingerprints: make([]string, n)}
	for i := range p.ids {
		id := herald.NewID()
		p.ids[i], p.index[id], p.fingerprints[i] = id, i, s.fingerprint(i, id)
	}
	return p
}

// fingerprint returns the fingerprint of the event with id; "" for none or
// an id not in the plan.
func (p *plan) fingerprint(id string) string {
	if i, ok := p.index[id]; ok {
		return p.fingerprints[i]
	}
	return ""
}

// issues counts the distinct issues of the events accepted, those i whose
// accepts[i] is set: one per fingerprint, and one for all the events
// without one (grouped by their common exception).
func (p *plan) issues(accepts []time.Time) int {
	seen := map[string]struct{}{}
	for i, t := range accepts {
		if !t.IsZero() && i < len(p.fingerprints) {
			seen[p.fingerprints[i]] = struct{}{}
		}
	}
	return len(seen)
}

// counters are the load generator's running totals, read by the progress
// line.
type counters struct {
	sent     atomic.Int64
	accepted atomic.Int64
	retries  atomic.Int64
	failed   atomic.Int64
}

// loader posts events to a project's store endpoint over keep-alive
// connections.
type loader struct {
	client   *http.Client
	storeURL string
	auth     string
	body     eventBody
	// plan gives each event's fingerprint; nil for none.
	plan   *plan
	counts *counters

	mu       sync.Mutex
	statuses map[int]int
	lastErr  error
}

// newHTTPClient returns a client keeping up to conns idle connections to
// each host.
func newHTTPClient(conns int) *http.Client {
	tr := &http.Transport{
		MaxIdleConns:        conns * 4,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: requestTimeout}
}

// sendResult is what sending a set of events produced.
type sendResult struct {
	// accepts[i] is when the 200 of event i arrived; zero if it never did.
	accepts  []time.Time
	start    time.Time
	accepted int
	retries  int
	failed   int
	// late is how many paced sends started lateAfter or more behind their
	// schedule.
	late int
}

// lastAccept returns the latest accept time.
func (r sendResult) lastAccept() time.Time {
	var last time.Time
	for _, t := range r.accepts {
		if t.After(last) {
			last = t
		}
	}
	return last
}

// send posts every event of ids with at most concurrency requests in
// flight, as fast as the server accepts them.
func (l *loader) send(ctx context.Context, ids []string, concurrency int) sendResult {
	res := sendResult{accepts: make([]time.Time, len(ids)), start: time.Now()}
	var next atomic.Int64
	var wg sync.WaitGroup
	var retries, failed atomic.Int64
	for range min(concurrency, len(ids)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ids) || ctx.Err() != nil {
					return
				}
				at, tries, err := l.post(ctx, ids[i])
				retries.Add(int64(tries - 1))
				if err != nil {
					failed.Add(1)
					continue
				}
				res.accepts[i] = at
			}
		})
	}
	wg.Wait()
	res.retries, res.failed = int(retries.Load()), int(failed.Load())
	res.accepted = countAccepted(res.accepts)
	return res
}

// countAccepted is how many of accepts are set.
func countAccepted(accepts []time.Time) int {
	n := 0
	for _, t := range accepts {
		if !t.IsZero() {
			n++
		}
	}
	return n
}

// pace posts the events of ids open-loop at perSecond, each on its own
// schedule, with at most inFlight requests outstanding. A send that cannot
// start on time (no free slot) starts late and is counted.
func (l *loader) pace(ctx context.Context, ids []string, perSecond float64, inFlight int) sendResult {
	res := sendResult{accepts: make([]time.Time, len(ids)), start: time.Now()}
	interval := time.Duration(float64(time.Second) / perSecond)
	slots := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	var retries, failed atomic.Int64
	for i, id := range ids {
		due := res.start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		if ctx.Err() != nil {
			break
		}
		slots <- struct{}{}
		if time.Since(due) >= lateAfter {
			res.late++
		}
		wg.Go(func() {
			defer func() { <-slots }()
			at, tries, err := l.post(ctx, id)
			retries.Add(int64(tries - 1))
			if err != nil {
				failed.Add(1)
				return
			}
			res.accepts[i] = at
		})
	}
	wg.Wait()
	res.retries, res.failed = int(retries.Load()), int(failed.Load())
	res.accepted = countAccepted(res.accepts)
	return res
}

// post sends the event with id until it is accepted, at most
// maxSendAttempts times. It returns when the 200 arrived and the number of
// tries made.
func (l *loader) post(ctx context.Context, id string) (time.Time, int, error) {
	var fingerprint string
	if l.plan != nil {
		fingerprint = l.plan.fingerprint(id)
	}
	body := l.body.with(id, fingerprint)
	var err error
	try := 1
	for ; try <= maxSendAttempts; try++ {
		if try == 1 {
			l.counts.sent.Add(1)
		} else {
			l.counts.retries.Add(1)
		}
		var status int
		var wait time.Duration
		status, wait, err = l.postOnce(ctx, body)
		if err == nil && status == http.StatusOK {
			l.counts.accepted.Add(1)
			return time.Now(), try, nil
		}
		l.record(status, err)
		if err == nil {
			err = fmt.Errorf("store answered %d", status)
		}
		if ctx.Err() != nil || (status >= 400 && status < 500 && status != http.StatusTooManyRequests) {
			break
		}
		wait = min(max(wait, time.Duration(try)*50*time.Millisecond), maxRetryWait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	l.counts.failed.Add(1)
	return time.Time{}, min(try, maxSendAttempts), fmt.Errorf("event %s: %w", id, err)
}

// postOnce makes one request and returns its status and Retry-After.
func (l *loader) postOnce(ctx context.Context, body []byte) (int, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.storeURL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, fmt.Errorf("new request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Sentry-Auth", l.auth)
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("post event: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	var wait time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		wait = time.Duration(s) * time.Second
	}
	return resp.StatusCode, wait, nil
}

// record notes a refused try for the report.
func (l *loader) record(status int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.statuses == nil {
		l.statuses = map[int]int{}
	}
	l.statuses[status]++
	if err != nil {
		l.lastErr = err
	}
}

// refusals describes the tries that were not accepted, such as "503×12";
// empty when there were none.
func (l *loader) refusals() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b bytes.Buffer
	for status, n := range l.statuses {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		if status == 0 {
			fmt.Fprintf(&b, "error×%d", n)
		} else {
			fmt.Fprintf(&b, "%d×%d", status, n)
		}
	}
	if l.lastErr != nil {
		fmt.Fprintf(&b, " (last error: %v)", l.lastErr)
	}
	return b.String()
}

// rawCeiling is one measurement of the raw ceiling.
type rawCeiling struct {
	// perSec is the plain POSTs per second.
	perSec float64
	// cpuPerPost is the machine's busy CPU per timed POST, in µs: every
	// process (the bench's client and receiver, anything else running)
	// and the kernel's network work; 0 when /proc/stat cannot be read.
	cpuPerPost float64
}

// ceiling posts n copies of body to url with at most concurrency requests
// in flight, through client, and returns the requests per second and the
// machine's CPU per request. A first round of as many requests as
// concurrency opens the connections untimed.
func ceiling(ctx context.Context, client *http.Client, url string, body []byte, n, concurrency int) (rawCeiling, error) {
	if _, err := postAll(ctx, client, url, body, concurrency, concurrency); err != nil {
		return rawCeiling{}, err
	}
	busy, total, cpuErr := readCPUTotals()
	elapsed, err := postAll(ctx, client, url, body, n, concurrency)
	if err != nil {
		return rawCeiling{}, err
	}
	c := rawCeiling{perSec: rate(n, elapsed)}
	if busy2, total2, err := readCPUTotals(); err == nil && cpuErr == nil {
		c.cpuPerPost = 1e6 * busySeconds(busy2-busy, total2-total, elapsed) / float64(n)
	}
	return c, nil
}

// postAll posts n copies of body to url with at most concurrency requests
// in flight and returns how long it took.
func postAll(ctx context.Context, client *http.Client, url string, body []byte, n, concurrency int) (time.Duration, error) {
	var next, failed atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range min(concurrency, n) {
		wg.Go(func() {
			for int(next.Add(1)-1) < n && ctx.Err() == nil {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
				if err != nil {
					once.Do(func() { firstErr = err })
					failed.Add(1)
					continue
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					once.Do(func() { firstErr = err })
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("raw ceiling: %w", err)
	}
	if f := failed.Load(); f > 0 {
		if firstErr == nil {
			firstErr = errors.New("non-200 answers")
		}
		return 0, fmt.Errorf("raw ceiling: %d of %d plain POSTs failed: %w", f, n, firstErr)
	}
	return elapsed, nil
}
