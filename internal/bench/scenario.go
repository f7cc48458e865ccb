package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/metrics"
)

// Scenario targets, the same on both
// databases.
const (
	// targetRatioOneIssue is throughput's with one issue, and
	// targetRatioIssues with its events spread over several.
	targetRatioOneIssue = 0.25
	targetRatioIssues   = 0.2
	targetRatioNew      = 0.2
	// targetMixed is the mixed scenario's events/s over the one-issue
	// throughput's deliveries/s of the same run.
	targetMixed      = 0.7
	targetP99        = 100 * time.Millisecond
	targetFanout     = time.Second
	targetIsolation  = 0.9
	targetBacklogRSS = 200 << 20

	// sampleInterval is how often the server's VmRSS is read.
	sampleInterval = 100 * time.Millisecond
	// backlogRetryStep is the backlog server's wait between retries, so
	// that the queued deliveries are retried soon after the receiver is back.
	backlogRetryStep = "2s"
	// pacedInFlight is the least number of requests the paced load keeps
	// in flight at most.
	pacedInFlight = 256
)

// bench is one run of the benchmark.
type bench struct {
	opts     Options
	progress *progress
	// oneIssueRate is the deliveries/s of this run's one-issue throughput
	// scenario, once it has run without losses; 0 before.
	oneIssueRate float64
	// oneIssueCPU is that scenario's machine CPU per event, in µs.
	oneIssueCPU float64
	// relayRate is the deliveries/s of this round's relay scenario, once
	// it has run without losses; 0 before.
	relayRate float64
	// tag names the build and round in progress lines when a run has
	// several; empty otherwise.
	tag string
}

// database names what the server runs on in the report.
func (b *bench) database() string {
	if b.opts.Target != "" {
		return "target"
	}
	return b.opts.Database
}

// run runs the scenario name and returns its result, with Error set if it
// did not complete.
func (b *bench) run(ctx context.Context, name string) Result {
	r := Result{Scenario: name, Database: b.database()}
	r.BackgroundCPUPercent = backgroundCPU(ctx, backgroundWindow)
	var err error
	switch name {
	case ScenarioRelay:
		err = b.relay(ctx, &r)
	case ScenarioThroughput:
		err = b.throughput(ctx, &r)
	case ScenarioNewIssues:
		err = b.newIssues(ctx, &r)
	case ScenarioMixed:
		err = b.mixed(ctx, &r)
	case ScenarioLatency:
		err = b.latency(ctx, &r)
	case ScenarioFanout:
		err = b.fanout(ctx, &r)
	case ScenarioIsolation:
		err = b.isolation(ctx, &r)
	case ScenarioBacklog:
		err = b.backlog(ctx, &r)
	}
	r.setCPUPerEvent()
	switch name {
	case ScenarioThroughput:
		r.ratioBudget(b.targetRatio())
	case ScenarioNewIssues:
		r.ratioBudget(targetRatioNew)
	case ScenarioMixed:
		r.budget(b.oneIssueCPU/targetMixed, "one-issue storm's CPU per event ÷ "+factor(targetMixed))
	}
	if err != nil {
		r.Error = err.Error()
		r.Pass = false
	}
	if name == ScenarioThroughput && err == nil && b.opts.Issues == 1 && r.Failed == 0 && r.Deliveries == r.Expected {
		b.oneIssueRate, b.oneIssueCPU = r.DeliveriesPerSec, r.MachineCPUPerEvent
	}
	return r
}

// backgroundWindow is how long the machine's CPU is watched before a
// scenario starts, to tell a busy machine from a slow server.
const backgroundWindow = 500 * time.Millisecond

// backgroundCPU returns the machine's busy CPU over d, while the bench is
// idle (100% is one core); 0 when it cannot be read.
func backgroundCPU(ctx context.Context, d time.Duration) float64 {
	busy0, total0, err := readCPUTotals()
	if err != nil {
		return 0
	}
	select {
	case <-ctx.Done():
		return 0
	case <-time.After(d):
	}
	busy1, total1, err := readCPUTotals()
	if err != nil || total1 <= total0 {
		return 0
	}
	return 100 * float64(runtime.NumCPU()) * float64(busy1-busy0) / float64(total1-total0)
}

// env is a server set up for a scenario: a project, a load generator, and
// the receivers its hooks point at.
type env struct {
	b      *bench
	srv    *server
	api    *apiClient
	proj   project
	client *http.Client
	counts *counters
	load   *loader
	rcs    []*Receiver
	// spread groups the events the env sends into issues.
	spread spread
}

// open starts a fresh server with flags (or connects to the target), sets
// up a project through the API, and points the progress line at it.
func (b *bench) open(ctx context.Context, label string, flags []string) (*env, error) {
	b.progress.watch(label, nil, 0)
	b.progress.set("starting server")
	srv, err := startServer(ctx, b.opts, flags)
	if err != nil {
		return nil, err
	}
	e := b.newEnv()
	e.srv = srv
	e.api = &apiClient{base: srv.URL, token: srv.token, client: e.client}
	b.progress.set("setting up")
	if e.proj, err = e.api.setUp(ctx); err != nil {
		return nil, errors.Join(err, e.close())
	}
	e.load = e.newLoader(srv.URL+"/api/"+e.proj.ID+"/store/", e.proj.Key)
	b.progress.watch(label, e.counts, srv.pid)
	return e, nil
}

// newEnv returns an env without a server yet.
func (b *bench) newEnv() *env {
	return &env{b: b, client: newHTTPClient(max(b.opts.Concurrency, pacedInFlight)), counts: &counters{}, spread: spread{issues: b.opts.Issues}}
}

// newLoader returns a load generator posting to storeURL with the DSN
// public key key.
func (e *env) newLoader(storeURL, key string) *loader {
	return &loader{
		client:   e.client,
		storeURL: storeURL,
		auth:     storeAuth(key),
		body:     newEventBody(time.Now()),
		counts:   e.counts,
	}
}

// receiver starts a receiver that the progress line follows.
func (e *env) receiver(hang bool) (*Receiver, error) {
	rc, err := newReceiver(hang)
	if err != nil {
		return nil, err
	}
	e.rcs = append(e.rcs, rc)
	e.b.progress.mu.Lock()
	e.b.progress.rcs = e.rcs
	e.b.progress.mu.Unlock()
	return rc, nil
}

// hook creates a hook to rc on events (event.created when none).
func (e *env) hook(ctx context.Context, rc *Receiver, i int, events ...string) error {
	h, err := e.api.createHook(ctx, e.proj, rc.HookURL(i), events...)
	if err != nil {
		return err
	}
	rc.AddSecret(h.ID, h.Secret)
	return nil
}

// plan returns n events grouped as e.spread says, and has the load
// generator send them with their fingerprints.
func (e *env) plan(n int) *plan {
	p := newPlan(n, e.spread)
	e.load.plan = p
	return p
}

// ceiling measures the raw ceiling: n plain POSTs of an event's body from
// the load generator's client to rc, with the same concurrency.
func (e *env) ceiling(ctx context.Context, rc *Receiver, n int) (rawCeiling, error) {
	e.b.progress.set("raw ceiling")
	id := herald.NewID()
	body := e.load.body.with(id, e.spread.fingerprint(0, id))
	return ceiling(ctx, e.client, rc.URL+rawPath, body, n, e.b.opts.Concurrency)
}

// close releases the receivers (a hanging one lets its requests go) and
// stops the server.
func (e *env) close() error {
	var errs []error
	for _, rc := range e.rcs {
		errs = append(errs, rc.Close())
	}
	if e.srv != nil {
		errs = append(errs, e.srv.stop())
	}
	e.client.CloseIdleConnections()
	e.b.progress.watch("", nil, 0)
	return errors.Join(errs...)
}

// wait waits for n deliveries at rc, failing early if the server exits.
func (e *env) wait(ctx context.Context, rc *Receiver, n int) error {
	e.b.progress.set("delivering")
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { close(done) })
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- rc.waitDelivered(done, n) }()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case err := <-errc:
			return err
		case <-t.C:
			if err := e.srv.alive(); err != nil {
				// The waiter sees done closed and ends; errc holds its answer.
				if stop() {
					close(done)
				}
				return err
			}
		}
	}
}

// meter starts measuring the server, its ingest commits included (read
// from its metrics before the window starts and after it ends, so that
// the reads are not counted in its CPU).
func (e *env) meter() *meter {
	c0, ok := e.commits()
	m := startMeter(e.srv.pid, e.b.opts.Database == Postgres && e.b.opts.Target == "")
	if ok {
		m.commits0, m.commits = c0, e.commits
	}
	return m
}

// commits reads the server's ingest commits so far; false without a
// Herald API (the relay).
func (e *env) commits() (commitStats, bool) {
	if e.api == nil {
		return commitStats{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return e.api.commits(ctx)
}

// recordCommits adds the ingest commits d of a window to r: how many,
// their mean events, and their time over the window's (above 100% where
// several commit at once, as on PostgreSQL).
func recordCommits(r *Result, d commitStats, wall time.Duration) {
	if d.count <= 0 || wall <= 0 {
		return
	}
	r.metric("ingest commits", d.count, "commits")
	r.metric("events per ingest commit", d.events/d.count, "events")
	r.metric("ingest commits' time over the window", 100*d.seconds/wall.Seconds(), "%")
}

// postgresCommand is the command name of PostgreSQL's processes.
const postgresCommand = "postgres"

// meter measures the server process over a window: wall time, CPU time
// and peak memory.
type meter struct {
	pid   int
	start time.Time
	cpu   time.Duration
	s     *sampler

	// At the start: the bench's own CPU time, the PostgreSQL processes'
	// (when measureDB) and the machine's busy and total ticks.
	self        time.Duration
	db          time.Duration
	measureDB   bool
	busy, total int64

	// commits reads the server's ingest commits, commits0 at the start;
	// nil when the server does not export them.
	commits  func() (commitStats, bool)
	commits0 commitStats
}

// startMeter starts measuring process pid (0: nothing to measure), and
// the PostgreSQL server's processes when measureDB is set.
func startMeter(pid int, measureDB bool) *meter {
	m := &meter{pid: pid, start: time.Now(), measureDB: measureDB}
	if measureDB {
		m.db = readCommandCPU(postgresCommand)
	}
	if pid != 0 {
		m.cpu, _ = readCPU(pid)
	}
	m.self, _ = readCPU(os.Getpid())
	m.busy, m.total, _ = readCPUTotals()
	m.s = startSampler(pid, sampleInterval)
	return m
}

// stop ends the window and returns what the server used in it; nil when
// the server is not measured. It also records the bench's own CPU and the
// machine's in r.
func (m *meter) stop(r *Result) *Usage {
	wall := time.Since(m.start)
	peak, last, err := m.s.finish()
	if self, err := readCPU(os.Getpid()); err == nil && wall > 0 {
		r.BenchCPUSeconds = (self - m.self).Seconds()
		r.BenchCPUPercent = 100 * r.BenchCPUSeconds / wall.Seconds()
	}
	if m.measureDB {
		r.DatabaseCPUSeconds = (readCommandCPU(postgresCommand) - m.db).Seconds()
		r.DatabaseCPUPercent = 100 * r.DatabaseCPUSeconds / wall.Seconds()
	}
	if busy, total, err := readCPUTotals(); err == nil && total > m.total && wall > 0 {
		r.MachineCPUSeconds = busySeconds(busy-m.busy, total-m.total, wall)
		r.MachineCPUPercent = 100 * r.MachineCPUSeconds / wall.Seconds()
	}
	// The server's CPU is read before its metrics are, which cost it some.
	var usage *Usage
	if m.pid != 0 && err == nil {
		if cpu, err := readCPU(m.pid); err == nil {
			used := (cpu - m.cpu).Seconds()
			usage = &Usage{PeakRSSBytes: peak, HWMBytes: last.HWM, CPUSeconds: used, CPUPercent: 100 * used / wall.Seconds()}
		}
	}
	if m.commits != nil {
		if c1, ok := m.commits(); ok {
			recordCommits(r, c1.since(m.commits0), wall)
		}
	}
	return usage
}

// record fills r with what was sent and received: counts, rates from the
// start of sending, and accept-to-delivery latencies. perEvent is the
// number of deliveries each accepted event should produce at rc.
func record(r *Result, l *loader, sr sendResult, rec receipt, index map[string]int, perEvent int) {
	r.Events = len(sr.accepts)
	r.Accepted, r.Failed, r.Retries = sr.accepted, sr.failed, sr.retries
	r.Refusals = l.refusals()
	r.Expected = sr.accepted * perEvent
	r.Deliveries = len(rec.arrivals)
	r.Duplicates, r.Signatures, r.BadSignatures = rec.duplicates, rec.checked, rec.badSigs
	r.AcceptedPerSec = rate(sr.accepted, sr.lastAccept().Sub(sr.start))

	var last time.Time
	var early int
	ds := make([]time.Duration, 0, len(rec.arrivals))
	for _, a := range rec.arrivals {
		last = latest(last, a.at)
		i, ok := index[a.eventID]
		if !ok || sr.accepts[i].IsZero() {
			continue
		}
		d := a.at.Sub(sr.accepts[i])
		if d < 0 {
			// Delivered before the load generator read the 200.
			early++
			d = 0
		}
		ds = append(ds, d)
	}
	r.Seconds = last.Sub(sr.start).Seconds()
	r.DeliveriesPerSec = rate(len(rec.arrivals), last.Sub(sr.start))
	r.Latency = summarize(ds)
	if early > 0 {
		r.note("%d deliveries arrived before their event's 200 was read; counted as 0 ms", early)
	}
	if rec.unparsed > 0 {
		r.note("%d deliveries had no event.event_id", rec.unparsed)
	}
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// setRatio measures the raw ceiling again, now that the scenario is over,
// and sets r.CeilingPerSec to the higher of before and that, so that a
// machine busy with other work during one measurement does not flatter
// the ratio; then r.Ratio.
func (e *env) setRatio(ctx context.Context, r *Result, rc *Receiver, before rawCeiling, n int) {
	after, err := e.ceiling(ctx, rc, n)
	if err != nil {
		r.note("raw ceiling after the scenario not measured: %v", err)
	}
	r.metric("raw ceiling before the scenario", before.perSec, "req/s")
	r.metric("raw ceiling after the scenario", after.perSec, "req/s")
	higher := before
	if after.perSec > before.perSec {
		higher = after
	}
	r.CeilingPerSec, r.CeilingCPUPerPost = higher.perSec, higher.cpuPerPost
	if r.CeilingPerSec > 0 {
		r.Ratio = r.DeliveriesPerSec / r.CeilingPerSec
	}
}

// complete reports whether every accepted event was delivered, nothing
// failed and every checked signature verified, noting what did not.
func complete(r *Result) bool {
	ok := true
	if r.Failed > 0 {
		r.note("%d events were never accepted", r.Failed)
		ok = false
	}
	if r.Deliveries < r.Expected {
		r.note("%d of %d deliveries missing", r.Expected-r.Deliveries, r.Expected)
		ok = false
	}
	if r.BadSignatures > 0 {
		r.note("%d of %d checked signatures did not verify", r.BadSignatures, r.Signatures)
		ok = false
	}
	if r.Signatures == 0 && r.Deliveries > 0 {
		r.note("no signature was checked")
		ok = false
	}
	if r.Duplicates > 0 {
		r.note("%d deliveries received more than once (at-least-once)", r.Duplicates)
	}
	if r.Retries > 0 {
		r.note("%d event posts retried after %s", r.Retries, r.Refusals)
	}
	return ok
}

// throughput: one hook, Events events as fast as the server accepts them.
func (b *bench) throughput(ctx context.Context, r *Result) error {
	e, err := b.open(ctx, b.label(ScenarioThroughput), nil)
	if err != nil {
		return err
	}
	defer func() { _ = e.close() }()
	rc, err := e.receiver(false)
	if err != nil {
		return err
	}
	if err := e.hook(ctx, rc, 0); err != nil {
		return err
	}
	werr, err := b.burst(ctx, e, r, rc, b.opts.Events)
	if err != nil {
		return err
	}
	target := b.targetRatio()
	r.Target = fmt.Sprintf("deliveries/s ≥ %s × raw ceiling", factor(target))
	if b.opts.Issues > 1 {
		r.Target += fmt.Sprintf(" (%d issues)", b.opts.Issues)
	}
	r.Measured = r.Ratio
	r.Pass = complete(r) && r.Ratio >= target
	b.relayShare(r, r.DeliveriesPerSec)
	return werr
}

// factor formats a target's factor: 0.25, 0.2.
func factor(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// newIssues: one hook, NewIssuesEvents events as fast as they are
// accepted, each with a fingerprint of its own: a new issue per event.
func (b *bench) newIssues(ctx context.Context, r *Result) error {
	e, err := b.open(ctx, b.label(ScenarioNewIssues), nil)
	if err != nil {
		return err
	}
	defer func() { _ = e.close() }()
	e.spread = spread{newEvery: 1}
	rc, err := e.receiver(false)
	if err != nil {
		return err
	}
	if err := e.hook(ctx, rc, 0); err != nil {
		return err
	}
	werr, err := b.burst(ctx, e, r, rc, b.opts.NewIssuesEvents)
	if err != nil {
		return err
	}
	r.Target = fmt.Sprintf("deliveries/s ≥ %s × raw ceiling", factor(targetRatioNew))
	r.Measured = r.Ratio
	r.Pass = complete(r) && noDuplicates(r) && r.Ratio >= targetRatioNew
	b.relayShare(r, r.DeliveriesPerSec)
	return werr
}

// noDuplicates reports whether no delivery arrived twice (complete notes
// those that did).
func noDuplicates(r *Result) bool { return r.Duplicates == 0 }

// burst measures the raw ceiling, sends events as fast as they are accepted
// and waits for their deliveries at rc, recording the figures in r. It
// returns the wait's error (deliveries missing) apart from set-up errors.
func (b *bench) burst(ctx context.Context, e *env, r *Result, rc *Receiver, events int) (waitErr, err error) {
	nCeil := max(b.opts.CeilingRequests, events)
	ceil, err := e.ceiling(ctx, rc, nCeil)
	if err != nil {
		return nil, err
	}
	p := e.plan(events)
	m := e.meter()
	b.progress.set("sending")
	sr := e.load.send(ctx, p.ids, b.opts.Concurrency)
	waitErr = e.wait(ctx, rc, sr.accepted)
	r.Server = m.stop(r)
	record(r, e.load, sr, rc.snapshot(), p.index, 1)
	e.setRatio(ctx, r, rc, ceil, nCeil)
	return waitErr, nil
}

// targetRatio is the throughput target: one issue, or several.
func (b *bench) targetRatio() float64 {
	if b.opts.Issues > 1 {
		return targetRatioIssues
	}
	return targetRatioOneIssue
}

// label names a scenario in progress lines.
func (b *bench) label(scenario string) string { return b.labelOn(b.database(), scenario) }

// labelOn names a scenario run on database in progress lines.
func (b *bench) labelOn(database, scenario string) string {
	if b.tag != "" {
		return database + "/" + scenario + " " + b.tag
	}
	return database + "/" + scenario
}

// latency: one hook, Rate events per second for Duration, open-loop.
func (b *bench) latency(ctx context.Context, r *Result) error {
	e, err := b.open(ctx, b.label(ScenarioLatency), nil)
	if err != nil {
		return err
	}
	defer func() { _ = e.close() }()
	rc, err := e.receiver(false)
	if err != nil {
		return err
	}
	if err := e.hook(ctx, rc, 0); err != nil {
		return err
	}
	nCeil := b.opts.CeilingRequests
	ceil, err := e.ceiling(ctx, rc, nCeil)
	if err != nil {
		return err
	}
	p := e.plan(int(b.opts.Rate * b.opts.Duration.Seconds()))
	ids := p.ids
	m := e.meter()
	b.progress.set(fmt.Sprintf("sending %.0f events/s", b.opts.Rate))
	sr := e.load.pace(ctx, ids, b.opts.Rate, max(pacedInFlight, b.opts.Concurrency))
	werr := e.wait(ctx, rc, sr.accepted)
	r.Server = m.stop(r)
	record(r, e.load, sr, rc.snapshot(), p.index, 1)
	e.setRatio(ctx, r, rc, ceil, nCeil)
	r.metric("target rate", b.opts.Rate, "events/s")
	r.metric("late sends", float64(sr.late), "events")
	if sr.late > len(ids)/100 {
		r.note("%d sends started %s or more behind schedule: the load generator did not keep the rate", sr.late, lateAfter)
	}
	r.Target = fmt.Sprintf("p99 accept→delivery ≤ %d ms at %.0f events/s", targetP99.Milliseconds(), b.opts.Rate)
	r.Measured = r.Latency.P99
	r.Pass = complete(r) && r.Latency.Count > 0 && r.Latency.P99 <= ms(targetP99)
	return werr
}

// openWithHooks starts a server (see open) with a receiver behind hooks
// Service Hooks, and measures the raw ceiling before the scenario. The
// caller closes the env; on error it is already closed.
func (b *bench) openWithHooks(ctx context.Context, label string, flags []string, hooks int) (*env, *Receiver, rawCeiling, error) {
	e, err := b.open(ctx, label, flags)
	if err != nil {
		return nil, nil, rawCeiling{}, err
	}
	rc, err := e.receiver(false)
	if err == nil {
		b.progress.set(fmt.Sprintf("creating %d hooks", hooks))
		err = e.api.createHooks(ctx, e.proj, rc, hooks)
	}
	var ceil rawCeiling
	if err == nil {
		ceil, err = e.ceiling(ctx, rc, b.opts.CeilingRequests)
	}
	if err != nil {
		_ = e.close()
		return nil, nil, rawCeiling{}, err
	}
	return e, rc, ceil, nil
}

// fanout: FanoutHooks hooks; FanoutRounds events sent one at a time, each
// waiting for all its deliveries.
func (b *bench) fanout(ctx context.Context, r *Result) error {
	hooks, nCeil := b.opts.FanoutHooks, b.opts.CeilingRequests
	e, rc, ceil, err := b.openWithHooks(ctx, b.label(ScenarioFanout), nil, hooks)
	if err != nil {
		return err
	}
	defer func() { _ = e.close() }()
	p := e.plan(b.opts.FanoutRounds)
	ids, index := p.ids, p.index
	all := sendResult{accepts: make([]time.Time, len(ids))}
	var rounds []time.Duration
	var werr error
	m := e.meter()
	for i, id := range ids {
		b.progress.set(fmt.Sprintf("round %d of %d", i+1, len(ids)))
		sr := e.load.send(ctx, []string{id}, 1)
		if i == 0 {
			all.start = sr.start
		}
		all.accepts[i] = sr.accepts[0]
		all.accepted += sr.accepted
		all.failed += sr.failed
		all.retries += sr.retries
		if werr = e.wait(ctx, rc, all.accepted*hooks); werr != nil {
			break
		}
		var last time.Time
		for _, a := range rc.snapshot().arrivals {
			if a.eventID == id {
				last = latest(last, a.at)
			}
		}
		d := last.Sub(sr.start)
		rounds = append(rounds, d)
		r.metric(fmt.Sprintf("round %d: send → last of %d deliveries", i+1, hooks), d.Seconds(), "s")
	}
	r.Server = m.stop(r)
	record(r, e.load, all, rc.snapshot(), index, hooks)
	var total time.Duration
	for _, d := range rounds {
		total += d
	}
	// Rounds are sequential: the rate is deliveries over the rounds' time.
	r.DeliveriesPerSec = rate(len(rounds)*hooks, total)
	r.AcceptedPerSec = 0
	e.setRatio(ctx, r, rc, ceil, nCeil)
	r.Target = fmt.Sprintf("1 event → %d hooks delivered ≤ %s (worst round)", hooks, targetFanout)
	if len(rounds) > 0 {
		worst := slices.Max(rounds)
		r.Measured = worst.Seconds()
		r.Pass = complete(r) && worst <= targetFanout
	}
	return werr
}

// isolation: the healthy hook alone, then beside a hanging one, each on a
// fresh server; the healthy rates are compared. A third phase, beside a
// second healthy hook, shows what a second destination costs by itself.
func (b *bench) isolation(ctx context.Context, r *Result) error {
	n := b.opts.IsolationEvents
	var alone, control Result
	if err := b.isolationPhase(ctx, &alone, neighborNone); err != nil {
		return fmt.Errorf("healthy hook alone: %w", err)
	}
	if err := b.isolationPhase(ctx, &control, neighborHealthy); err != nil {
		return fmt.Errorf("healthy hook beside another healthy one: %w", err)
	}
	err := b.isolationPhase(ctx, r, neighborHanging)
	r.metric(fmt.Sprintf("healthy alone, %d events", n), alone.DeliveriesPerSec, "deliveries/s")
	r.metric(fmt.Sprintf("healthy beside a second healthy hook, %d events", n), control.DeliveriesPerSec, "deliveries/s")
	r.metric(fmt.Sprintf("healthy beside a hanging hook, %d events", n), r.DeliveriesPerSec, "deliveries/s")
	r.metric("healthy alone: raw ceiling", alone.CeilingPerSec, "req/s")
	alone.setCPUPerEvent()
	r.metric("healthy alone: Herald CPU per event", alone.ServerCPUPerEvent, "µs")
	if alone.DatabaseCPUSeconds > 0 {
		r.metric("healthy alone: PostgreSQL CPU per event", alone.DatabaseCPUPerEvent, "µs")
	}
	r.Target = fmt.Sprintf("healthy deliveries/s beside a hanging hook ≥ %.1f × alone", targetIsolation)
	if alone.DeliveriesPerSec > 0 {
		r.Measured = r.DeliveriesPerSec / alone.DeliveriesPerSec
		r.metric("beside a second healthy hook / alone", control.DeliveriesPerSec/alone.DeliveriesPerSec, "×")
	}
	r.Pass = r.Pass && r.Measured >= targetIsolation
	if err != nil {
		return fmt.Errorf("healthy hook beside a hanging one: %w", err)
	}
	return nil
}

// What an isolation phase puts beside the healthy hook.
const (
	neighborNone    = "healthy alone"
	neighborHealthy = "healthy + healthy"
	neighborHanging = "healthy + hanging"
)

// isolationPhase sends IsolationEvents events to a healthy hook, with a
// neighbor hook on another receiver, and records the healthy hook's
// deliveries in r.
func (b *bench) isolationPhase(ctx context.Context, r *Result, neighbor string) error {
	e, err := b.open(ctx, b.label(ScenarioIsolation)+" ("+neighbor+")", nil)
	if err != nil {
		return err
	}
	defer func() { _ = e.close() }()
	rc, err := e.receiver(false)
	if err != nil {
		return err
	}
	if err := e.hook(ctx, rc, 0); err != nil {
		return err
	}
	var other *Receiver
	if neighbor != neighborNone {
		if other, err = e.receiver(neighbor == neighborHanging); err != nil {
			return err
		}
		if err := e.hook(ctx, other, 0); err != nil {
			return err
		}
	}
	werr, err := b.burst(ctx, e, r, rc, b.opts.IsolationEvents)
	if err != nil {
		return err
	}
	r.Pass = complete(r)
	if neighbor == neighborHanging {
		r.metric("requests held by the hanging hook", float64(other.Hung()), "requests")
		// Each put-off is a delivery claimed or queued, and written
		// again, only to wait for the hanging hook.
		if outcomes, err := e.api.outcomes(ctx); err == nil {
			r.metric("put-offs of the hanging hook's deliveries", outcomes[metrics.ResultPutOff], "outcomes")
		}
	}
	return werr
}

// backlog: Backlog deliveries queued across BacklogHooks hooks while the
// receiver answers 503, then drained once it answers 200; the server's
// memory is sampled during the drain.
func (b *bench) backlog(ctx context.Context, r *Result) error {
	schedule := strings.TrimSuffix(strings.Repeat(backlogRetryStep+",", 100), ",")
	hooks, nCeil := b.opts.BacklogHooks, b.opts.CeilingRequests
	e, rc, ceil, err := b.openWithHooks(ctx, b.label(ScenarioBacklog), []string{"--retry-schedule", schedule}, hooks)
	if err != nil {
		return err
	}
	defer func() { _ = e.close() }()
	events := (b.opts.Backlog + hooks - 1) / hooks
	p := e.plan(events)
	ids, index := p.ids, p.index
	rc.SetStatus(http.StatusServiceUnavailable)
	b.progress.set(fmt.Sprintf("queueing %d deliveries (receiver answers 503)", events*hooks))
	queue := e.meter()
	sr := e.load.send(ctx, ids, b.opts.Concurrency)
	var queueing Result
	queued := queue.stop(&queueing)
	queueTime := time.Since(sr.start)

	m := e.meter()
	back := time.Now()
	rc.SetStatus(http.StatusOK)
	werr := e.wait(ctx, rc, sr.accepted*hooks)
	r.Server = m.stop(r)
	rec := rc.snapshot()
	record(r, e.load, sr, rec, index, hooks)

	// Rates and latency of the drain, from the receiver's return.
	var last time.Time
	ds := make([]time.Duration, 0, len(rec.arrivals))
	for _, a := range rec.arrivals {
		last = latest(last, a.at)
		ds = append(ds, max(a.at.Sub(back), 0))
	}
	drain := last.Sub(back)
	r.Seconds = drain.Seconds()
	r.DeliveriesPerSec = rate(len(rec.arrivals), drain)
	r.Latency = summarize(ds)
	e.setRatio(ctx, r, rc, ceil, nCeil)
	r.metric("queueing: events accepted/s", r.AcceptedPerSec, "events/s")
	r.metric("queueing: time", queueTime.Seconds(), "s")
	r.metric("queueing: 503 answers", float64(rc.Refused()), "requests")
	if queued != nil {
		r.metric("queueing: server peak RSS", mib(queued.PeakRSSBytes), "MiB")
		if sr.accepted > 0 {
			r.metric("queueing: Herald CPU per event", queued.CPUSeconds*1e6/float64(sr.accepted), "µs")
		}
	}
	if b.opts.Database == Postgres && sr.accepted > 0 && b.opts.Target == "" {
		r.metric("queueing: PostgreSQL CPU per event", queueing.DatabaseCPUSeconds*1e6/float64(sr.accepted), "µs")
	}
	r.metric("drain: time from the receiver's return to the last delivery", drain.Seconds(), "s")
	r.note("latency is from the receiver's return to each delivery")
	if b.opts.Target != "" {
		r.note("the target's own --retry-schedule applies, not the bench's %s steps: the drain waits for its retries", backlogRetryStep)
	}
	r.Target = fmt.Sprintf("server RSS ≤ %d MiB while draining %d deliveries", targetBacklogRSS>>20, events*hooks)
	r.Pass = complete(r)
	if r.Server == nil {
		r.note("server memory not measured (no --pid)")
		r.Pass = false
	} else {
		r.Measured = mib(r.Server.PeakRSSBytes)
		r.Pass = r.Pass && r.Server.PeakRSSBytes <= targetBacklogRSS
	}
	return werr
}
