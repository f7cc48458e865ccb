package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald/internal/bench"
)

// runSmallBench runs opts on SQLite against the test binary standing in for
// `herald serve` (see TestMain), 8 requests in flight, within opts.Timeout
// and 10 s more, failing the test when the run does not complete. It skips
// under -short.
func runSmallBench(t *testing.T, opts bench.Options) []bench.Result {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the server as a process")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout+10*time.Second)
	defer cancel()
	var progress bytes.Buffer
	if opts.Progress == nil {
		opts.Progress = &progress
	} else {
		opts.Progress = io.MultiWriter(opts.Progress, &progress)
	}
	opts.Database, opts.Executable, opts.ServerEnv, opts.Concurrency = bench.SQLite, exe, []string{"HERALD_TEST_RUN_MAIN=1"}, 8
	results, err := bench.Run(ctx, opts)
	if err != nil {
		t.Fatalf("bench: %v\nprogress:\n%s", err, progress.String())
	}
	return results
}

// TestBenchThroughput runs a small throughput scenario end to end against
// the test binary standing in for `herald serve` (see TestMain), and checks
// that its figures are sane.
func TestBenchThroughput(t *testing.T) {
	t.Parallel()
	var progress bytes.Buffer
	results := runSmallBench(t, bench.Options{
		Scenarios:       []string{bench.ScenarioThroughput},
		Events:          200,
		CeilingRequests: 500,
		Timeout:         50 * time.Second,
		Progress:        &progress,
	})
	if len(results) != 1 {
		t.Fatalf("results = %+v", results)
	}
	r := results[0]
	switch {
	case r.Error != "":
		t.Fatalf("error: %s", r.Error)
	case r.Events != 200 || r.Accepted != 200 || r.Failed != 0:
		t.Fatalf("events %d accepted %d failed %d, want 200 200 0", r.Events, r.Accepted, r.Failed)
	case r.Deliveries != 200 || r.Expected != 200:
		t.Fatalf("deliveries %d of %d, want 200 of 200", r.Deliveries, r.Expected)
	case r.Signatures == 0 || r.BadSignatures != 0:
		t.Fatalf("signatures checked %d, bad %d", r.Signatures, r.BadSignatures)
	case r.AcceptedPerSec <= 0 || r.DeliveriesPerSec <= 0 || r.CeilingPerSec <= 0 || r.Ratio <= 0:
		t.Fatalf("rates: accepted %.0f/s deliveries %.0f/s ceiling %.0f/s ratio %.3f", r.AcceptedPerSec, r.DeliveriesPerSec, r.CeilingPerSec, r.Ratio)
	case r.Latency.Count != 200 || r.Latency.P50 < 0 || r.Latency.P50 > r.Latency.P95 || r.Latency.P95 > r.Latency.P99 || r.Latency.P99 > r.Latency.Max:
		t.Fatalf("latency = %+v", r.Latency)
	case r.Server == nil || r.Server.PeakRSSBytes <= 0 || r.Server.HWMBytes < r.Server.PeakRSSBytes/2 || r.Server.CPUSeconds < 0:
		t.Fatalf("server usage = %+v", r.Server)
	}
	if !strings.Contains(progress.String(), "bench sqlite/throughput") {
		t.Errorf("no progress line in %q", progress.String())
	}

	var md, js bytes.Buffer
	rep := bench.Report{Version: "test", Revision: bench.Revision(), Machine: bench.ReadMachine(), Results: results}
	if err := bench.WriteMarkdown(&md, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| throughput | sqlite |") {
		t.Errorf("markdown has no throughput row:\n%s", md.String())
	}
	if err := bench.WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	var back bench.Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Results) != 1 || back.Results[0].Deliveries != 200 {
		t.Fatalf("json round trip: %v %+v", err, back)
	}
}

// TestBenchMixed runs small throughput, newissues and mixed scenarios end
// to end (the mixed one with its Service Hook on event.created and
// event.alert, its issue alert rule and its internal Sentry App, all set up
// through the API) and checks that every delivery of every kind was
// counted exactly, and the CPU per event reported.
func TestBenchMixed(t *testing.T) {
	t.Parallel()
	results := runSmallBench(t, bench.Options{
		Scenarios:       []string{bench.ScenarioThroughput, bench.ScenarioNewIssues, bench.ScenarioMixed},
		Events:          100,
		NewIssuesEvents: 120,
		// 300 events over 20 recurring issues, 1 in 5 new: 60 new issues
		// and 20 recurring ones.
		MixedEvents:     300,
		MixedIssues:     20,
		MixedNewEvery:   5,
		CeilingRequests: 300,
		Timeout:         90 * time.Second,
	})
	if len(results) != 3 {
		t.Fatalf("results = %+v", results)
	}
	for _, r := range results {
		if r.Error != "" || r.Failed != 0 || r.Duplicates != 0 || r.BadSignatures != 0 || r.Signatures == 0 {
			t.Fatalf("%s: error %q, failed %d, duplicates %d, signatures %d (bad %d); notes %q",
				r.Scenario, r.Error, r.Failed, r.Duplicates, r.Signatures, r.BadSignatures, r.Notes)
		}
		if r.Server == nil || r.ServerCPUPerEvent != r.Server.CPUSeconds*1e6/float64(r.Accepted) || r.DatabaseCPUPerEvent != 0 {
			t.Fatalf("%s: CPU per event %v (server %+v, %d accepted), database %v", r.Scenario, r.ServerCPUPerEvent, r.Server, r.Accepted, r.DatabaseCPUPerEvent)
		}
	}
	if r := results[1]; r.Accepted != 120 || r.Deliveries != 120 || r.Expected != 120 || r.Target != "deliveries/s ≥ 0.2 × raw ceiling" {
		t.Fatalf("newissues: accepted %d, deliveries %d of %d, target %q", r.Accepted, r.Deliveries, r.Expected, r.Target)
	}
	r := results[2]
	if r.Accepted != 300 || r.Expected != 2*300+2*80 || r.Deliveries != r.Expected {
		t.Fatalf("mixed: accepted %d, deliveries %d of %d, want %d; notes %q", r.Accepted, r.Deliveries, r.Expected, 2*300+2*80, r.Notes)
	}
	metrics := map[string]bench.Metric{}
	for _, m := range r.Metrics {
		metrics[m.Name] = m
	}
	for kind, want := range map[string]int{"event.created": 300, "error.created": 300, "event.alert": 80, "issue.created": 80} {
		m := metrics[kind+" deliveries received / expected"]
		if m.Value != float64(want) || m.Unit != fmt.Sprintf("of %d", want) {
			t.Errorf("mixed %s: %+v, want %d of %d", kind, m, want, want)
		}
	}
	through := metrics["one-issue throughput deliveries/s, same run"]
	events := metrics["events delivered/s (events over the time to the last delivery)"]
	if through.Value != results[0].DeliveriesPerSec || events.Value <= 0 || r.Measured != events.Value/through.Value {
		t.Fatalf("mixed compared %v events/s with %v (throughput %v): measured %v", events.Value, through.Value, results[0].DeliveriesPerSec, r.Measured)
	}
	// Latencies of the deliveries naming an event: event.created,
	// error.created and event.alert.
	if r.Latency.Count != 300+300+80 {
		t.Fatalf("mixed latency count %d, want %d", r.Latency.Count, 680)
	}
}

// TestBenchMixedAlone runs the mixed scenario without the one-issue storm
// it is compared with: every delivery arrives, but its target is not
// measured, so it does not pass (--check fails on it).
func TestBenchMixedAlone(t *testing.T) {
	t.Parallel()
	results := runSmallBench(t, bench.Options{
		Scenarios:       []string{bench.ScenarioMixed},
		MixedEvents:     60,
		MixedIssues:     10,
		MixedNewEvery:   5,
		CeilingRequests: 100,
		Timeout:         60 * time.Second,
	})
	if len(results) != 1 {
		t.Fatalf("results = %+v", results)
	}
	r := results[0]
	if r.Error != "" || r.Deliveries != r.Expected || r.Expected == 0 {
		t.Fatalf("mixed: error %q, deliveries %d of %d", r.Error, r.Deliveries, r.Expected)
	}
	if r.Pass || r.Measured != 0 || !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.Contains(n, "target not measured") }) {
		t.Fatalf("mixed alone: pass %v, measured %v, notes %q", r.Pass, r.Measured, r.Notes)
	}
}

// TestBenchRelay runs the relay scenario, then a throughput storm that
// reports its rate as a share of the relay's: the relay, a child process
// of its own, delivers every event once with a signature that verifies,
// and stands as the reference (no target, no database).
func TestBenchRelay(t *testing.T) {
	t.Parallel()
	results := runSmallBench(t, bench.Options{
		Scenarios:       []string{bench.ScenarioRelay, bench.ScenarioThroughput},
		Events:          200,
		CeilingRequests: 300,
		Timeout:         50 * time.Second,
	})
	if len(results) != 2 {
		t.Fatalf("results = %+v", results)
	}
	relay, storm := results[0], results[1]
	switch {
	case relay.Error != "" || relay.Scenario != bench.ScenarioRelay || relay.Database != "none":
		t.Fatalf("relay: %+v", relay)
	case relay.Accepted != 200 || relay.Deliveries != 200 || relay.Duplicates != 0 || relay.Signatures == 0 || relay.BadSignatures != 0:
		t.Fatalf("relay: accepted %d, deliveries %d (%d duplicates), signatures %d (%d bad)",
			relay.Accepted, relay.Deliveries, relay.Duplicates, relay.Signatures, relay.BadSignatures)
	case !relay.Pass || relay.Ratio <= 0 || relay.Measured != relay.Ratio || relay.Server == nil || relay.ServerCPUPerEvent <= 0:
		t.Fatalf("relay: pass %v, ratio %.3f, measured %.3f, server %+v", relay.Pass, relay.Ratio, relay.Measured, relay.Server)
	}
	var share float64
	for _, m := range storm.Metrics {
		if m.Name == "of the relay's deliveries/s in this round" {
			share = m.Value
		}
	}
	if storm.Error != "" || storm.Deliveries != 200 || share <= 0 || math.Abs(share-storm.DeliveriesPerSec/relay.DeliveriesPerSec) > 1e-9 {
		t.Fatalf("throughput: error %q, deliveries %d, share of the relay %v (rates %.0f and %.0f)",
			storm.Error, storm.Deliveries, share, storm.DeliveriesPerSec, relay.DeliveriesPerSec)
	}
	var md bytes.Buffer
	if err := bench.WriteMarkdown(&md, bench.Report{Version: "test", Machine: bench.ReadMachine(), Results: results}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| relay | none | ") || !strings.Contains(md.String(), "| reference |") {
		t.Errorf("report lacks the relay's row:\n%s", md.String())
	}
}

// TestBenchRounds runs a small throughput scenario twice on two builds (the
// test binary under two names) and checks that the builds alternate, each
// round's results are complete, and the report gives the medians.
func TestBenchRounds(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other-herald")
	if err := os.Symlink(exe, other); err != nil {
		t.Fatal(err)
	}
	results := runSmallBench(t, bench.Options{
		Scenarios:       []string{bench.ScenarioThroughput},
		Events:          100,
		CeilingRequests: 200,
		Against:         other,
		Rounds:          2,
		Timeout:         30 * time.Second,
	})
	type run struct {
		build string
		round int
	}
	var got []run
	for _, r := range results {
		if r.Error != "" || r.Deliveries != 100 || r.Duplicates != 0 || r.Ratio <= 0 {
			t.Fatalf("%s round %d: error %q, %d deliveries (%d duplicates), ratio %.3f", r.Build, r.Round, r.Error, r.Deliveries, r.Duplicates, r.Ratio)
		}
		got = append(got, run{r.Build, r.Round})
	}
	if want := []run{{exe, 1}, {other, 1}, {other, 2}, {exe, 2}}; !slices.Equal(got, want) {
		t.Fatalf("runs = %v, want %v", got, want)
	}
	var md bytes.Buffer
	if err := bench.WriteMarkdown(&md, bench.Report{Version: "test", Machine: bench.ReadMachine(), Results: results}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"### Medians of the rounds", "| throughput | sqlite | " + other + " | ", "### throughput, round 2, " + exe + " (sqlite)"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, md.String())
		}
	}
}

// TestBenchFlags: bad flags are refused before anything starts.
func TestBenchFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"UnknownScenario", []string{"--scenario", "warp"}, `scenario: "warp" is not one of`},
		{"UnknownDatabase", []string{"--database", "mysql"}, "database: must be sqlite or postgres"},
		{"TargetWithoutToken", []string{"--target", "http://127.0.0.1:1"}, "token: required with --target"},
		{"BadTarget", []string{"--target", "127.0.0.1:1", "--token", "x"}, "target: must be an http(s) URL"},
		{"ZeroConcurrency", []string{"--concurrency", "-1"}, "concurrency: must be between"},
		{"ServerFlagNotAFlag", []string{"--server-flag", "ingest-batch=5"}, "want a flag"},
		{"MixedNewEveryNegative", []string{"--mixed-new-every", "-1"}, "mixed-new-every: must be between"},
		{"NewIssuesEventsNegative", []string{"--newissues-events", "-5"}, "newissues-events: must be between"},
		{"ExtraArgument", []string{"throughput"}, `unexpected argument "throughput"`},
		{"ServerBinaryMissing", []string{"--server-binary", "/nonexistent/herald"}, "server-binary: /nonexistent/herald is not an executable file"},
		{"ServerBinaryWithTarget", []string{"--server-binary", "/bin/true", "--target", "http://127.0.0.1:1", "--token", "x"}, "server-binary: not with --target"},
		{"AgainstMissing", []string{"--against", "/nonexistent/herald"}, "against: /nonexistent/herald is not an executable file"},
		{"AgainstWithTarget", []string{"--against", "/bin/true", "--target", "http://127.0.0.1:1", "--token", "x"}, "against: not with --target"},
		{"TooManyRounds", []string{"--rounds", "101"}, "rounds: must be between 1 and 100"},
		{"RelayWithoutURL", []string{"relay", "--hook-id", "h", "--secret", "s"}, "a URL, hook id and secret are required"},
		{"RelayExtraArgument", []string{"relay", "--to", "http://127.0.0.1:1/", "x"}, `bench relay: unexpected argument "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := Run(context.Background(), append([]string{"bench"}, tt.args...), &stdout, &stderr, func(string) string { return "" })
			if err == nil || !strings.Contains(err.Error()+stderr.String(), tt.want) {
				t.Fatalf("err = %v, stderr = %q; want %q", err, stderr.String(), tt.want)
			}
			if errors.Is(err, bench.ErrIncomplete) {
				t.Fatal("a scenario ran")
			}
		})
	}
}
