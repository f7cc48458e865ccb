package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald/internal/bench"
)

// TestBenchThroughput runs a small throughput scenario end to end against
// the test binary standing in for `herald serve` (see TestMain), and checks
// that its figures are sane.
func TestBenchThroughput(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the server as a process")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var progress bytes.Buffer
	results, err := bench.Run(ctx, bench.Options{
		Scenarios:       []string{bench.ScenarioThroughput},
		Database:        bench.SQLite,
		Executable:      exe,
		ServerEnv:       []string{"HERALD_TEST_RUN_MAIN=1"},
		Events:          200,
		CeilingRequests: 500,
		Concurrency:     8,
		Timeout:         50 * time.Second,
		Progress:        &progress,
	})
	if err != nil {
		t.Fatalf("bench: %v\nprogress:\n%s", err, progress.String())
	}
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
		{"ExtraArgument", []string{"throughput"}, `unexpected argument "throughput"`},
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
