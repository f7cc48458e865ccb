// Package bench is Herald's benchmark, `herald bench`: it starts a Herald
// server as a child process (or targets a running one), sets it up through
// the real API, sends Sentry events to the real ingest endpoint, receives
// the deliveries at its own loopback receiver, and measures throughput,
// accept-to-delivery latency and the server's memory and CPU. Every rate is
// compared with the raw ceiling: plain POSTs of the same body from the same
// client to the same receiver, measured in the same run.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/herald-dev/herald"
)

// Databases the bench can run the server on.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Scenario names, in the order "all" runs them.
const (
	ScenarioRelay      = "relay"
	ScenarioThroughput = "throughput"
	ScenarioNewIssues  = "newissues"
	ScenarioMixed      = "mixed"
	ScenarioLatency    = "latency"
	ScenarioFanout     = "fanout"
	ScenarioIsolation  = "isolation"
	ScenarioBacklog    = "backlog"
)

// Scenarios lists every scenario in the order "all" runs them. The relay
// comes first, throughput and newissues being compared with it, and mixed
// follows throughput, whose rate it is compared with.
var Scenarios = []string{ScenarioRelay, ScenarioThroughput, ScenarioNewIssues, ScenarioMixed, ScenarioLatency, ScenarioFanout, ScenarioIsolation, ScenarioBacklog}

// DefaultPostgresURL is the database a PostgreSQL bench runs in (in a fresh
// schema) unless told otherwise.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Options configure a bench run. Zero fields take the values of
// DefaultOptions.
type Options struct {
	// Scenarios to run, from Scenarios.
	Scenarios []string
	// Database is SQLite or Postgres; DatabaseURL the PostgreSQL database
	// in which each server gets a fresh schema, dropped afterwards.
	Database    string
	DatabaseURL string

	// Target is the base URL of a running server to benchmark instead of
	// starting one; Token an API token of it with every scope; PID its
	// process id, to read its memory and CPU (0: not measured).
	Target string
	Token  string
	PID    int

	// Executable is the herald binary started as the server, with
	// ServerArgs (default: "serve") before the bench's flags; ServerEnv is
	// added to its environment. Default: this process's executable.
	Executable string
	ServerArgs []string
	ServerEnv  []string
	// ServerFlags are passed to every server after the bench's own flags,
	// so they override them.
	ServerFlags []string
	// Against is a second herald binary measured in the same run: each
	// scenario runs on Executable's server and on Against's, one after the
	// other, the order swapped every round. Empty: one build.
	Against string
	// Rounds runs every scenario this many times (each build once a
	// round); the report then adds each figure's median. Default 1.
	Rounds int

	// Concurrency is the load generator's requests in flight.
	Concurrency int
	// Issues spreads the events over that many issues (by fingerprint);
	// 1, the default, sends the same exception every time, one issue.
	Issues int
	// Events is the throughput scenario's event count; CeilingRequests the
	// least number of plain POSTs measuring the raw ceiling.
	Events          int
	CeilingRequests int
	// NewIssuesEvents is the newissues scenario's event count, each event
	// with a fingerprint of its own.
	NewIssuesEvents int
	// MixedEvents are sent over MixedIssues recurring issues in the mixed
	// scenario, every MixedNewEvery-th of them opening a new issue of its
	// own instead.
	MixedEvents   int
	MixedIssues   int
	MixedNewEvery int
	// FanoutHooks hooks receive each of FanoutRounds events, one at a time.
	FanoutHooks  int
	FanoutRounds int
	// IsolationEvents are sent to the healthy hook alone, then again beside
	// a hanging one.
	IsolationEvents int
	// Backlog deliveries are queued across BacklogHooks hooks while the
	// receiver answers 503.
	Backlog      int
	BacklogHooks int
	// Rate events per second are sent for Duration in the latency scenario.
	Rate     float64
	Duration time.Duration

	// Timeout bounds the whole run of each round and build;
	// ScenarioTimeout each scenario.
	Timeout         time.Duration
	ScenarioTimeout time.Duration

	// Progress receives a progress line every second; nil for none.
	Progress io.Writer
}

// DefaultOptions returns the options of `herald bench` without flags: every
// scenario on SQLite, sized for a 2-core machine.
func DefaultOptions() Options {
	return Options{
		Scenarios:       slices.Clone(Scenarios),
		Database:        SQLite,
		DatabaseURL:     DefaultPostgresURL,
		ServerArgs:      []string{"serve"},
		Concurrency:     32,
		Issues:          1,
		Events:          5000,
		CeilingRequests: 10000,
		NewIssuesEvents: 5000,
		MixedEvents:     10000,
		MixedIssues:     500,
		MixedNewEvery:   10,
		FanoutHooks:     1000,
		FanoutRounds:    3,
		IsolationEvents: 3000,
		Backlog:         100000,
		BacklogHooks:    100,
		Rate:            1000,
		Duration:        10 * time.Second,
		Timeout:         10 * time.Minute,
		ScenarioTimeout: 5 * time.Minute,
		Rounds:          1,
	}
}

// withDefaults fills zero fields from DefaultOptions.
func (o Options) withDefaults() (Options, error) {
	d := DefaultOptions()
	if len(o.Scenarios) == 0 {
		o.Scenarios = d.Scenarios
	}
	if o.Database == "" {
		o.Database = d.Database
	}
	if o.DatabaseURL == "" {
		o.DatabaseURL = d.DatabaseURL
	}
	switch {
	case o.Target != "":
		// A running server is measured: Executable is not started.
	case o.Executable != "":
		if !executable(o.Executable) {
			return o, herald.Errorf(herald.EINVALID, "server-binary: %s is not an executable file", o.Executable)
		}
	default:
		exe, err := os.Executable()
		if err != nil {
			return o, fmt.Errorf("find the herald binary: %w", err)
		}
		o.Executable = exe
	}
	switch {
	case o.Against == "":
	case o.Target != "":
		return o, herald.Errorf(herald.EINVALID, "against: not with --target, which runs no server")
	case !executable(o.Against):
		return o, herald.Errorf(herald.EINVALID, "against: %s is not an executable file", o.Against)
	}
	if o.ServerArgs == nil {
		o.ServerArgs = d.ServerArgs
	}
	fill := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	fill(&o.Concurrency, d.Concurrency)
	fill(&o.Issues, d.Issues)
	fill(&o.Events, d.Events)
	fill(&o.CeilingRequests, d.CeilingRequests)
	fill(&o.NewIssuesEvents, d.NewIssuesEvents)
	fill(&o.MixedEvents, d.MixedEvents)
	fill(&o.MixedIssues, d.MixedIssues)
	fill(&o.MixedNewEvery, d.MixedNewEvery)
	fill(&o.FanoutHooks, d.FanoutHooks)
	fill(&o.FanoutRounds, d.FanoutRounds)
	fill(&o.IsolationEvents, d.IsolationEvents)
	fill(&o.Backlog, d.Backlog)
	fill(&o.BacklogHooks, d.BacklogHooks)
	fill(&o.Rounds, d.Rounds)
	if o.Rate == 0 {
		o.Rate = d.Rate
	}
	if o.Duration == 0 {
		o.Duration = d.Duration
	}
	if o.Timeout == 0 {
		o.Timeout = d.Timeout
	}
	if o.ScenarioTimeout == 0 {
		o.ScenarioTimeout = d.ScenarioTimeout
	}
	return o, o.validate()
}

// Bounds of the options.
const (
	maxEvents      = 1_000_000
	maxHooks       = 10_000
	maxConcurrency = 4096
	maxRate        = 100_000
	maxRounds      = 100
)

// executable reports whether path is a file this process may run.
func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// validate names the first option that is wrong.
func (o Options) validate() error {
	for _, s := range o.Scenarios {
		if !slices.Contains(Scenarios, s) {
			return herald.Errorf(herald.EINVALID, "scenario: %q is not one of %s or all", s, strings.Join(Scenarios, ", "))
		}
	}
	inRange := func(name string, v, lo, hi int) error {
		if v < lo || v > hi {
			return herald.Errorf(herald.EINVALID, "%s: must be between %d and %d, got %d", name, lo, hi, v)
		}
		return nil
	}
	switch {
	case o.Database != SQLite && o.Database != Postgres:
		return herald.Errorf(herald.EINVALID, "database: must be sqlite or postgres, got %q", o.Database)
	case o.Target != "" && !strings.HasPrefix(o.Target, "http://") && !strings.HasPrefix(o.Target, "https://"):
		return herald.Errorf(herald.EINVALID, "target: must be an http(s) URL, got %q", o.Target)
	case o.Target != "" && o.Token == "":
		return herald.Errorf(herald.EINVALID, "token: required with --target (an API token with every scope)")
	case o.PID < 0:
		return herald.Errorf(herald.EINVALID, "pid: must not be negative")
	case o.Rate <= 0 || o.Rate > maxRate:
		return herald.Errorf(herald.EINVALID, "rate: must be between 1 and %d events/s", maxRate)
	case o.Duration <= 0 || o.Duration > time.Hour:
		return herald.Errorf(herald.EINVALID, "duration: must be between 1ns and 1h")
	case o.Rate*o.Duration.Seconds() < 1 || o.Rate*o.Duration.Seconds() > maxEvents:
		return herald.Errorf(herald.EINVALID, "rate × duration: must be between 1 and %d events", maxEvents)
	case o.Timeout <= 0 || o.ScenarioTimeout <= 0:
		return herald.Errorf(herald.EINVALID, "timeout: must be positive")
	}
	for _, err := range []error{
		inRange("concurrency", o.Concurrency, 1, maxConcurrency),
		inRange("events", o.Events, 1, maxEvents),
		inRange("issues", o.Issues, 1, maxEvents),
		inRange("ceiling-requests", o.CeilingRequests, 1, maxEvents),
		inRange("newissues-events", o.NewIssuesEvents, 1, maxEvents),
		inRange("mixed-events", o.MixedEvents, 1, maxEvents),
		inRange("mixed-issues", o.MixedIssues, 1, maxEvents),
		inRange("mixed-new-every", o.MixedNewEvery, 1, maxEvents),
		inRange("fanout-hooks", o.FanoutHooks, 1, maxHooks),
		inRange("fanout-rounds", o.FanoutRounds, 1, 100),
		inRange("isolation-events", o.IsolationEvents, 1, maxEvents),
		inRange("backlog", o.Backlog, 1, maxEvents),
		inRange("backlog-hooks", o.BacklogHooks, 1, min(maxHooks, o.Backlog)),
		inRange("rounds", o.Rounds, 1, maxRounds),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// Metric is a scenario-specific figure, such as a drain time.
type Metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

// Usage is what the server process used during a scenario's measured
// window.
type Usage struct {
	// PeakRSSBytes is the highest VmRSS sampled every 100ms in the window.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// HWMBytes is the process's lifetime peak (VmHWM) at the window's end.
	HWMBytes int64 `json:"hwm_bytes"`
	// CPUSeconds is user plus system time spent in the window; CPUPercent
	// that time over the window's wall time (200% is both cores).
	CPUSeconds float64 `json:"cpu_seconds"`
	CPUPercent float64 `json:"cpu_percent"`
}

// Result is what one scenario measured.
type Result struct {
	Scenario string `json:"scenario"`
	Database string `json:"database"`
	// Build is the server binary measured ("this herald" for the bench's
	// own, the URL for a target), and Round the round (from 1), when the
	// run measured two builds or several rounds; empty and 0 otherwise.
	Build string `json:"build,omitempty"`
	Round int    `json:"round,omitempty"`

	// Events sent, Accepted with a 200, Failed after every retry, and
	// Retries: tries past the first (non-200 answers or errors).
	Events   int `json:"events"`
	Accepted int `json:"accepted"`
	Failed   int `json:"failed"`
	Retries  int `json:"retries"`
	// Refusals lists the non-200 answers to the load generator, if any.
	Refusals string `json:"refusals,omitempty"`
	// Deliveries received (distinct Request-IDs answered 2xx) of Expected;
	// Duplicates received again; Signatures checked and found BadSignatures.
	Deliveries    int `json:"deliveries"`
	Expected      int `json:"expected"`
	Duplicates    int `json:"duplicates"`
	Signatures    int `json:"signatures_checked"`
	BadSignatures int `json:"bad_signatures"`

	// Seconds is the measured window's wall time.
	Seconds          float64 `json:"seconds"`
	AcceptedPerSec   float64 `json:"accepted_per_sec"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	// CeilingPerSec is the raw ceiling of this scenario's run; Ratio is
	// DeliveriesPerSec over it.
	CeilingPerSec float64 `json:"ceiling_per_sec"`
	Ratio         float64 `json:"ratio"`
	// Latency is from an event's 200 to each of its deliveries' arrival.
	Latency Latency `json:"latency"`
	// Server is nil when the server's process is not known.
	Server *Usage `json:"server,omitempty"`
	// BenchCPUPercent is the bench process's own CPU (load generator and
	// receiver) and MachineCPUPercent the whole machine's busy CPU (every
	// process, PostgreSQL included) over the measured window; 100% is one
	// core.
	BenchCPUPercent   float64 `json:"bench_cpu_percent"`
	MachineCPUPercent float64 `json:"machine_cpu_percent"`
	// DatabaseCPUPercent is the CPU of every "postgres" process on the
	// machine over the window (other clients of that server included), and
	// DatabaseCPUSeconds the same in seconds; 0 on SQLite.
	DatabaseCPUPercent float64 `json:"database_cpu_percent,omitempty"`
	DatabaseCPUSeconds float64 `json:"database_cpu_seconds,omitempty"`
	// BenchCPUSeconds and MachineCPUSeconds are the bench's CPU time and
	// the machine's busy CPU time (every core summed) over the window.
	BenchCPUSeconds   float64 `json:"bench_cpu_seconds"`
	MachineCPUSeconds float64 `json:"machine_cpu_seconds"`
	// ServerCPUPerEvent is the server's CPU time in the window over the
	// events accepted, in microseconds (0 when the server is not
	// measured); DatabaseCPUPerEvent the PostgreSQL processes' (0 on
	// SQLite).
	ServerCPUPerEvent   float64 `json:"server_cpu_us_per_event"`
	DatabaseCPUPerEvent float64 `json:"database_cpu_us_per_event,omitempty"`
	// BenchCPUPerEvent is the bench's own CPU (load generator and
	// receiver) per accepted event, and MachineCPUPerEvent the machine's
	// busy CPU per accepted event (every process and the kernel), in µs.
	BenchCPUPerEvent   float64 `json:"bench_cpu_us_per_event"`
	MachineCPUPerEvent float64 `json:"machine_cpu_us_per_event"`
	// CeilingCPUPerPost is the machine's busy CPU per plain POST of the raw
	// ceiling's run that set CeilingPerSec, in µs: what one HTTP exchange
	// costs both of its ends on this machine.
	CeilingCPUPerPost float64 `json:"ceiling_cpu_us_per_post"`
	// BackgroundCPUPercent is the machine's busy CPU during half a second
	// before the scenario, while the bench was idle: other work on a
	// shared machine.
	BackgroundCPUPercent float64 `json:"background_cpu_percent"`

	Metrics []Metric `json:"metrics,omitempty"`
	// Target is this scenario's target; Measured the figure
	// compared with it; Pass whether it is met (and nothing was lost).
	Target   string   `json:"target"`
	Measured float64  `json:"measured"`
	Pass     bool     `json:"pass"`
	Notes    []string `json:"notes,omitempty"`
	// Error is why the scenario did not complete; empty when it did.
	Error string `json:"error,omitempty"`
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func (r *Result) metric(name string, value float64, unit string) {
	r.Metrics = append(r.Metrics, Metric{Name: name, Value: value, Unit: unit})
}

// setCPUPerEvent sets the CPU per accepted event from the CPU the server
// and the database used in the window.
func (r *Result) setCPUPerEvent() {
	if r.Accepted <= 0 {
		return
	}
	if r.Server != nil {
		r.ServerCPUPerEvent = r.Server.CPUSeconds * 1e6 / float64(r.Accepted)
	}
	r.DatabaseCPUPerEvent = r.DatabaseCPUSeconds * 1e6 / float64(r.Accepted)
	r.BenchCPUPerEvent = r.BenchCPUSeconds * 1e6 / float64(r.Accepted)
	r.MachineCPUPerEvent = r.MachineCPUSeconds * 1e6 / float64(r.Accepted)
}

// budget adds the CPU per event a target allows on this machine, all
// reckoned at the machine as busy as in the run it is compared with:
// all is what an event may cost every process together (basis says how it
// was found), and less what the bench, the kernel and everything else but
// Herald and PostgreSQL took per event in this run, the rest is Herald's
// and PostgreSQL's share. Call it after setCPUPerEvent.
func (r *Result) budget(all float64, basis string) {
	if all <= 0 || r.MachineCPUPerEvent <= 0 {
		return
	}
	others := max(r.MachineCPUPerEvent-r.ServerCPUPerEvent-r.DatabaseCPUPerEvent, 0)
	r.metric("CPU per event the target allows, all processes ("+basis+")", all, "µs")
	r.metric("of it left to Herald and PostgreSQL (less the bench's and the rest of the machine's CPU per event)", all-others, "µs")
}

// ratioBudget is budget for a target ratio to the raw ceiling: the
// ceiling's CPU per POST over the target.
func (r *Result) ratioBudget(target float64) {
	if target > 0 {
		r.budget(r.CeilingCPUPerPost/target, "ceiling CPU per POST ÷ target")
	}
}

// ErrIncomplete is returned by Run when a scenario did not complete.
var ErrIncomplete = errors.New("a scenario did not complete")

// Run runs the scenarios of opts one after another, each on a fresh server
// unless opts.Target is set, and returns their results. With opts.Rounds
// or opts.Against it runs each scenario Rounds times on every build,
// alternating the builds (see order). A scenario that fails records its
// error in its Result and the others still run; Run then returns the
// results with an error wrapping ErrIncomplete.
func Run(ctx context.Context, opts Options) ([]Result, error) {
	own := opts.Executable == ""
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	builds, labels := []string{opts.Executable}, []string{opts.Executable}
	switch {
	case opts.Target != "":
		labels[0] = opts.Target
	case own:
		labels[0] = "this herald"
	}
	if opts.Against != "" {
		builds, labels = append(builds, opts.Against), append(labels, opts.Against)
	}
	several := len(builds) > 1 || opts.Rounds > 1
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout*time.Duration(opts.Rounds*len(builds)))
	defer cancel()
	progress := newProgress(opts.Progress)
	defer progress.stop()
	// One bench per build: each keeps its own one-issue rate for mixed.
	benches := make([]*bench, len(builds))
	for i, exe := range builds {
		o := opts
		o.Executable = exe
		benches[i] = &bench{opts: o, progress: progress}
	}
	var results []Result
	var failed []string
	for round := 1; round <= opts.Rounds; round++ {
		for _, b := range benches {
			// Mixed is compared with this round's one-issue storm only, and
			// throughput and newissues with this round's relay.
			b.oneIssueRate, b.oneIssueCPU, b.relayRate = 0, 0, 0
		}
		for _, name := range opts.Scenarios {
			for _, i := range order(round, len(builds)) {
				b := benches[i]
				if several {
					b.tag = fmt.Sprintf("(round %d, %s)", round, labels[i])
				}
				var r Result
				if ctx.Err() != nil {
					r = Result{Scenario: name, Database: b.database(), Error: "not run: " + ctx.Err().Error()}
				} else {
					sctx, scancel := context.WithTimeout(ctx, opts.ScenarioTimeout)
					r = b.run(sctx, name)
					scancel()
				}
				if several {
					r.Build, r.Round = labels[i], round
				}
				if r.Error != "" && !slices.Contains(failed, name) {
					failed = append(failed, name)
				}
				results = append(results, r)
			}
		}
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("%w: %s", ErrIncomplete, strings.Join(failed, ", "))
	}
	return results, nil
}

// order is the order in which round (from 1) runs each scenario on n
// builds: as given in odd rounds, reversed in even ones, so that neither
// build always runs first, on a machine that warms or cools as it goes.
func order(round, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	if round%2 == 0 {
		slices.Reverse(out)
	}
	return out
}
