package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/herald-dev/herald/internal/bench"
	"github.com/herald-dev/herald/internal/buildinfo"
)

const benchSummary = `Benchmarks Herald: starts "herald serve" as a child process with a fresh
database (or targets a running server with --target), sends Sentry events
through the real ingest endpoint, receives the deliveries at a loopback
receiver, and prints events accepted/s, deliveries/s, their ratio to the
raw ceiling (plain POSTs of the same body to the same receiver, measured in
the same run), accept-to-delivery latency, the server's peak RSS and CPU,
the CPU per accepted event of Herald, of PostgreSQL, of the bench and of
the whole machine, and the CPU per event a ratio target allows (from the
machine's CPU per plain POST of the raw ceiling). Progress goes to stderr,
the report (Markdown, or --json) to stdout.

Scenarios: throughput (1 hook, one issue or --issues), newissues (a new
issue per event), mixed (recurring and new issues, with an issue alert rule
and a Sentry App: event.created, event.alert, error.created and
issue.created all counted), latency (steady --rate), fanout (1 event to
--fanout-hooks hooks), isolation (a healthy hook alone, beside a second
healthy one, then beside a hanging one), backlog (--backlog deliveries queued
while the receiver answers 503, then drained). Each scenario runs on a fresh
server. Unlike serve, bench reads no HERALD_* variables.

To compare two builds on a noisy machine, measure both in one run, several
times: --against OTHER-BINARY --rounds 3 runs each scenario on this build's
server and on the other's, alternating, and reports each figure's median.

The relay scenario (first in all) runs "herald bench relay" instead of a
server: a process that answers each event POST at once and delivers it,
signed as a Service Hook delivery, storing and parsing nothing. Its rate is
the most the two HTTP exchanges of a delivered event allow on this machine,
and throughput and newissues report their rate as a share of it.`

const benchRelaySummary = `Runs the bench's relay (the relay scenario starts it): answers every POST
with 200 once its body is read, and delivers {"event":<body>,
"triggering_rules":[]} to --to with the headers and signature of the
Service Hook --hook-id whose secret is --secret, 32 requests at a time,
each sent again until it is answered 2xx. It stores and parses nothing.
It prints "listening on <URL>" once it listens, and stops on SIGINT or
SIGTERM.`

// runBench runs `herald bench`.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer, _ func(string) string) error {
	if len(args) > 0 && args[0] == "relay" {
		return runBenchRelay(ctx, args[1:], stdout, stderr)
	}
	opts := bench.DefaultOptions()
	fs := newFlagSet("bench", benchSummary, stderr)
	scenario := fs.String("scenario", "all", "scenarios to run, comma-separated: "+strings.Join(bench.Scenarios, ", ")+" or all")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of Markdown")
	quiet := fs.Bool("quiet", false, "print no progress lines")
	check := fs.Bool("check", false, "exit with an error when a scenario misses its target (it always does when one does not complete)")
	fs.StringVar(&opts.Database, "database", opts.Database, "database of the server: sqlite or postgres")
	fs.StringVar(&opts.DatabaseURL, "database-url", opts.DatabaseURL, "PostgreSQL database for --database postgres; each server runs in a fresh schema, dropped afterwards")
	fs.StringVar(&opts.Target, "target", "", "base URL of a running server to benchmark instead of starting one (its memory and CPU are measured only with --pid)")
	fs.StringVar(&opts.Token, "token", "", "with --target: an API token with every scope")
	fs.IntVar(&opts.PID, "pid", 0, "with --target: the server's process id, to measure its memory and CPU")
	fs.StringVar(&opts.Executable, "server-binary", "", "herald binary started as the server instead of this one (its serve subcommand), to measure two builds with the same load generator")
	fs.StringVar(&opts.Against, "against", "", "a second herald binary measured in the same run: every scenario runs on both builds' servers, one after the other, the order swapped each round")
	fs.IntVar(&opts.Rounds, "rounds", opts.Rounds, "run every scenario this many times (on each build) and add each figure's median to the report")
	fs.Var(repeatedFlag{&opts.ServerFlags}, "server-flag", "flag passed to every server started, after the bench's own (repeatable), e.g. --server-flag=--ingest-batch=512")
	fs.IntVar(&opts.Concurrency, "concurrency", opts.Concurrency, "event requests in flight at once (and plain POSTs of the raw ceiling)")
	fs.IntVar(&opts.Issues, "issues", opts.Issues, "issues the events are spread over (by fingerprint); 1 sends the same exception every time, as an error storm does")
	fs.IntVar(&opts.Events, "events", opts.Events, "throughput: events sent")
	fs.IntVar(&opts.NewIssuesEvents, "newissues-events", opts.NewIssuesEvents, "newissues: events sent, each with a fingerprint of its own (a new issue)")
	fs.IntVar(&opts.MixedEvents, "mixed-events", opts.MixedEvents, "mixed: events sent")
	fs.IntVar(&opts.MixedIssues, "mixed-issues", opts.MixedIssues, "mixed: recurring issues the events are spread over")
	fs.IntVar(&opts.MixedNewEvery, "mixed-new-every", opts.MixedNewEvery, "mixed: 1 event in this many opens a new issue of its own (1: every event)")
	fs.IntVar(&opts.CeilingRequests, "ceiling-requests", opts.CeilingRequests, "plain POSTs measuring the raw ceiling, at least (throughput, newissues, mixed and isolation send as many as their events)")
	fs.IntVar(&opts.FanoutHooks, "fanout-hooks", opts.FanoutHooks, "fanout: hooks every event is delivered to")
	fs.IntVar(&opts.FanoutRounds, "fanout-rounds", opts.FanoutRounds, "fanout: events sent, one at a time")
	fs.IntVar(&opts.IsolationEvents, "isolation-events", opts.IsolationEvents, "isolation: events sent in each of its three phases")
	fs.IntVar(&opts.Backlog, "backlog", opts.Backlog, "backlog: deliveries queued while the receiver is down")
	fs.IntVar(&opts.BacklogHooks, "backlog-hooks", opts.BacklogHooks, "backlog: hooks the deliveries are spread over (events = backlog / hooks)")
	fs.Float64Var(&opts.Rate, "rate", opts.Rate, "latency: events per second, paced")
	fs.DurationVar(&opts.Duration, "duration", opts.Duration, "latency: how long the rate is held")
	fs.DurationVar(&opts.Timeout, "timeout", opts.Timeout, "the whole run's time limit, for each round and build")
	fs.DurationVar(&opts.ScenarioTimeout, "scenario-timeout", opts.ScenarioTimeout, "each scenario's time limit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	if opts.Executable != "" && opts.Target != "" {
		return errors.New("bench: server-binary: not with --target, which runs no server")
	}
	opts.Scenarios = nil
	for _, s := range strings.Split(*scenario, ",") {
		switch s = strings.TrimSpace(s); s {
		case "":
		case "all":
			opts.Scenarios = append(opts.Scenarios, bench.Scenarios...)
		default:
			opts.Scenarios = append(opts.Scenarios, s)
		}
	}
	if !*quiet {
		opts.Progress = stderr
	}
	results, runErr := bench.Run(ctx, opts)
	if results == nil && runErr != nil {
		return runErr
	}
	rep := bench.Report{
		Version:  buildinfo.Read().Version,
		Revision: bench.Revision(),
		Built:    buildinfo.Read().Date,
		Command:  "herald bench " + strings.Join(args, " "),
		Machine:  bench.ReadMachine(),
		Results:  results,
	}
	write := bench.WriteMarkdown
	if *asJSON {
		write = bench.WriteJSON
	}
	if err := write(stdout, rep); err != nil {
		return errors.Join(runErr, err)
	}
	if runErr == nil && *check {
		var missed []string
		for _, r := range results {
			if !r.Pass {
				missed = append(missed, r.Scenario)
			}
		}
		if len(missed) > 0 {
			return fmt.Errorf("bench: targets missed: %s", strings.Join(missed, ", "))
		}
	}
	return runErr
}

// runBenchRelay runs `herald bench relay`.
func runBenchRelay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var opts bench.RelayOptions
	fs := newFlagSet("bench relay", benchRelaySummary, stderr)
	fs.StringVar(&opts.Addr, "addr", "127.0.0.1:0", "address to listen on")
	fs.StringVar(&opts.URL, "to", "", "URL every event is delivered to")
	fs.StringVar(&opts.HookID, "hook-id", "", "Service Hook id the deliveries are sent as (X-ServiceHook-GUID)")
	fs.StringVar(&opts.Secret, "secret", "", "that hook's secret, which signs the deliveries")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench relay: unexpected argument %q", fs.Arg(0))
	}
	return bench.ServeRelay(ctx, opts, stdout)
}

// repeatedFlag collects every value of a repeatable flag as given (commas
// included, unlike listFlag: a server flag's value may hold them).
type repeatedFlag struct{ l *[]string }

func (f repeatedFlag) String() string {
	if f.l == nil {
		return ""
	}
	return strings.Join(*f.l, " ")
}

func (f repeatedFlag) Set(v string) error {
	if !strings.HasPrefix(v, "-") {
		return fmt.Errorf("want a flag such as --ingest-batch=512, got %q", v)
	}
	*f.l = append(*f.l, v)
	return nil
}
