package bench

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"maps"
	"math"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald"
)

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"OK", func(*Options) {}, ""},
		{"ErrScenario", func(o *Options) { o.Scenarios = []string{"throughput", "warp"} }, `"warp" is not one of`},
		{"ErrDatabase", func(o *Options) { o.Database = "mysql" }, "database: must be sqlite or postgres"},
		{"ErrTargetScheme", func(o *Options) { o.Target, o.Token = "ftp://x", "t" }, "target: must be an http(s) URL"},
		{"ErrTargetToken", func(o *Options) { o.Target = "http://127.0.0.1:8080" }, "token: required"},
		{"ErrPID", func(o *Options) { o.PID = -2 }, "pid: must not be negative"},
		{"ErrRate", func(o *Options) { o.Rate = -1 }, "rate: must be between"},
		{"ErrRateTimesDuration", func(o *Options) { o.Rate, o.Duration = 1, time.Millisecond }, "rate × duration"},
		{"ErrConcurrency", func(o *Options) { o.Concurrency = 5000 }, "concurrency: must be between 1 and 4096"},
		{"ErrEvents", func(o *Options) { o.Events = -5 }, "events: must be between"},
		{"ErrBacklogHooks", func(o *Options) { o.Backlog, o.BacklogHooks = 10, 11 }, "backlog-hooks: must be between 1 and 10"},
		{"ErrNewIssuesEvents", func(o *Options) { o.NewIssuesEvents = -1 }, "newissues-events: must be between"},
		{"ErrMixedEvents", func(o *Options) { o.MixedEvents = maxEvents + 1 }, "mixed-events: must be between"},
		{"ErrMixedIssues", func(o *Options) { o.MixedIssues = -3 }, "mixed-issues: must be between"},
		{"ErrMixedNewEvery", func(o *Options) { o.MixedNewEvery = -1 }, "mixed-new-every: must be between"},
		{"ErrScenarioName", func(o *Options) { o.Scenarios = []string{"new-issues"} }, `"new-issues" is not one of`},
		{"Rounds", func(o *Options) { o.Rounds, o.Against = 3, "/bin/true" }, ""},
		{"ErrRounds", func(o *Options) { o.Rounds = maxRounds + 1 }, "rounds: must be between 1 and 100"},
		{"ErrRoundsNegative", func(o *Options) { o.Rounds = -1 }, "rounds: must be between 1 and 100"},
		{"ErrAgainstMissing", func(o *Options) { o.Against = "/nonexistent/herald" }, "against: /nonexistent/herald is not an executable file"},
		{"ErrAgainstDirectory", func(o *Options) { o.Against = "/" }, "against: / is not an executable file"},
		{"ErrAgainstTarget", func(o *Options) { o.Against, o.Target, o.Token = "/bin/true", "http://127.0.0.1:8080", "t" }, "against: not with --target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := Options{Executable: "/bin/true"}
			tt.edit(&o)
			_, err := o.withDefaults()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || herald.ErrorCode(err) != herald.EINVALID {
				t.Fatalf("err = %v, want EINVALID %q", err, tt.want)
			}
		})
	}
}

func TestWriteMarkdown(t *testing.T) {
	t.Parallel()
	rep := Report{Version: "v", Revision: "abc", Machine: Machine{CPUs: 2, Model: "cpu", MemoryBytes: 1 << 30}, Results: []Result{
		{Scenario: ScenarioThroughput, Database: SQLite, Events: 10, Accepted: 10, Deliveries: 10, Expected: 10,
			AcceptedPerSec: 1500, DeliveriesPerSec: 1400.6, CeilingPerSec: 20000, Ratio: 0.07, Latency: Latency{Count: 10, P50: 1, P95: 2, P99: 3, Max: 4},
			Server:            &Usage{PeakRSSBytes: 30 << 20, HWMBytes: 31 << 20, CPUSeconds: 1.5, CPUPercent: 75},
			ServerCPUPerEvent: 150000,
			Target:            "deliveries/s ≥ 0.25 × raw ceiling", Measured: 0.07, Notes: []string{"a note"}},
		{Scenario: ScenarioNewIssues, Database: Postgres, Events: 4, Accepted: 4, Deliveries: 4, Expected: 4,
			AcceptedPerSec: 900, DeliveriesPerSec: 900, CeilingPerSec: 30000, Ratio: 0.03,
			Server:            &Usage{PeakRSSBytes: 20 << 20, HWMBytes: 20 << 20, CPUSeconds: 0.002, CPUPercent: 70},
			ServerCPUPerEvent: 500, DatabaseCPUPercent: 60, DatabaseCPUSeconds: 0.0012, DatabaseCPUPerEvent: 300.4,
			Target: "deliveries/s ≥ 0.2 × raw ceiling", Measured: 0.03, Pass: false},
		{Scenario: ScenarioMixed, Database: SQLite, Accepted: 5, Target: "events/s ≥ 0.7 × ...", Measured: 0.8, Pass: true,
			Metrics: []Metric{{Name: metricOneIssueRate, Value: 1000, Unit: "deliveries/s"}}},
		{Scenario: ScenarioMixed, Database: SQLite, Accepted: 5, Target: "events/s ≥ 0.7 × ..."},
		{Scenario: ScenarioFanout, Database: "target", Error: "boom", Metrics: []Metric{{Name: "round 1", Value: 0.25, Unit: "s"}}},
		{Scenario: ScenarioRelay, Database: relayDatabase, Target: "none", Measured: 0.36, Pass: true},
		{Scenario: ScenarioRelay, Database: relayDatabase, Target: "none", Measured: 0.3},
	}}
	out := markdown(t, rep)
	wantLines(t, out,
		"herald v (commit abc, built unknown, ",
		"| server CPU | Herald CPU µs/event | PostgreSQL CPU µs/event | target |",
		"| throughput | sqlite | 1500 | 1401 | 20000 | 0.07 | 1.0 / 2.0 / 3.0 | 30.0 MiB | 1.5 s (75%) | 150000 | n/a | deliveries/s ≥ 0.25 × raw ceiling | 0.07 × | FAIL |",
		"| newissues | postgres | 900 | 900 | 30000 | 0.03 | n/a | 20.0 MiB | 0.0 s (70%) | 500 | 300 | deliveries/s ≥ 0.2 × raw ceiling | 0.03 × | FAIL |",
		"| 0.80 × throughput | pass |",
		"| n/a (no throughput) | FAIL |",
		"| fanout | target | n/a | 0 | 0 | 0.00 | n/a | n/a | n/a | n/a | n/a |  | 0.000 s | ERROR |",
		"| Herald CPU per accepted event | 150000 µs |",
		"| PostgreSQL CPU per accepted event (all its clients) | n/a |",
		"| PostgreSQL CPU per accepted event (all its clients) | 300 µs |",
		"| PostgreSQL processes CPU (all its clients) | 60% |",
		"| round 1 | 0.250 s |",
		"| none | 0.36 × | reference |",
		"| none | 0.30 × | FAIL |",
		"- a note",
		"- error: boom",
	)
	var js bytes.Buffer
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"server_cpu_us_per_event": 150000`, `"database_cpu_us_per_event": 300.4`} {
		if !strings.Contains(js.String(), want) {
			t.Errorf("json lacks %s", want)
		}
	}
	if strings.Count(js.String(), `"database_cpu_us_per_event"`) != 1 {
		t.Errorf("database_cpu_us_per_event not omitted on SQLite:\n%s", js.String())
	}
}

// TestWriteMarkdownRounds: a run of several rounds and builds names each
// result's round and build, and adds a table of each scenario's figures
// per build: the measured figure of every round and the medians of the
// completed ones.
func TestWriteMarkdownRounds(t *testing.T) {
	t.Parallel()
	res := func(build string, round int, ratio, rate, herald, pg float64) Result {
		return Result{Scenario: ScenarioThroughput, Database: Postgres, Build: build, Round: round, Accepted: 10,
			Measured: ratio, Ratio: ratio, DeliveriesPerSec: rate, ServerCPUPerEvent: herald, DatabaseCPUPerEvent: pg}
	}
	rep := Report{Results: []Result{
		res("this herald", 1, 0.10, 1000, 400, 300),
		res("/tmp/old", 1, 0.20, 2000, 200, 100),
		res("/tmp/old", 2, 0.30, 3000, 300, 200),
		res("this herald", 2, 0.14, 1400, 500, 350),
		res("this herald", 3, 0.12, 1200, 450, 320),
		{Scenario: ScenarioThroughput, Database: Postgres, Build: "/tmp/old", Round: 3, Error: "boom"},
	}}
	wantLines(t, markdown(t, rep),
		"| throughput, round 2, /tmp/old | postgres | 0 | 3000 |",
		"### throughput, round 3, this herald (postgres)",
		"### Medians of the rounds",
		// Medians of the completed rounds: the middle of three, the mean
		// of the middle two of two.
		"| throughput | postgres | this herald | 0.10 × / 0.14 × / 0.12 × | 0.12 × | 1200 | 450 | 320 |",
		"| throughput | postgres | /tmp/old | 0.20 × / 0.30 × / error | 0.25 × | 2500 | 250 | 150 |",
	)

	// One round of one build: no medians, and the scenario as it was.
	rep.Results = []Result{res("", 0, 0.1, 1000, 400, 300)}
	if out := markdown(t, rep); strings.Contains(out, "Medians") || !strings.Contains(out, "| throughput | postgres |") {
		t.Errorf("a single run's report:\n%s", out)
	}
}

// markdown is rep as WriteMarkdown writes it.
func markdown(t *testing.T, rep Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteMarkdown(&b, rep); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// wantLines fails t for each of want that out lacks.
func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("markdown lacks %q:\n%s", w, out)
		}
	}
}

// TestOrder: each round runs the builds in turn, the first one first in odd
// rounds and last in even ones.
func TestOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		round, builds int
		want          []int
	}{
		{1, 1, []int{0}},
		{2, 1, []int{0}},
		{1, 2, []int{0, 1}},
		{2, 2, []int{1, 0}},
		{3, 2, []int{0, 1}},
	}
	for _, tt := range tests {
		if got := order(tt.round, tt.builds); !slices.Equal(got, tt.want) {
			t.Errorf("order(%d, %d) = %v, want %v", tt.round, tt.builds, got, tt.want)
		}
	}
}

// TestMedian: the middle value, or the mean of the two middle ones.
func TestMedian(t *testing.T) {
	t.Parallel()
	tests := []struct {
		vs   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		if got := median(slices.Clone(tt.vs)); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.vs, got, tt.want)
		}
	}
}

// TestSetCPUPerEvent: CPU over accepted events, in µs, for the server and
// the database.
func TestSetCPUPerEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                           string
		r                              Result
		server, dbWant, bench, machine float64
	}{
		{"Both", Result{Accepted: 2000, Server: &Usage{CPUSeconds: 0.65}, DatabaseCPUSeconds: 0.58,
			BenchCPUSeconds: 0.3, MachineCPUSeconds: 1.7}, 325, 290, 150, 850},
		{"SQLite", Result{Accepted: 4, Server: &Usage{CPUSeconds: 0.001}, BenchCPUSeconds: 0.0004}, 250, 0, 100, 0},
		{"ServerNotMeasured", Result{Accepted: 10, DatabaseCPUSeconds: 0.001, MachineCPUSeconds: 0.003}, 0, 100, 0, 300},
		{"NothingAccepted", Result{Server: &Usage{CPUSeconds: 1}, DatabaseCPUSeconds: 1, BenchCPUSeconds: 1, MachineCPUSeconds: 1}, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.r
			r.setCPUPerEvent()
			if math.Abs(r.ServerCPUPerEvent-tt.server) > 1e-6 || math.Abs(r.DatabaseCPUPerEvent-tt.dbWant) > 1e-6 {
				t.Fatalf("per event: server %v, database %v; want %v, %v", r.ServerCPUPerEvent, r.DatabaseCPUPerEvent, tt.server, tt.dbWant)
			}
			if math.Abs(r.BenchCPUPerEvent-tt.bench) > 1e-6 || math.Abs(r.MachineCPUPerEvent-tt.machine) > 1e-6 {
				t.Fatalf("per event: bench %v, machine %v; want %v, %v", r.BenchCPUPerEvent, r.MachineCPUPerEvent, tt.bench, tt.machine)
			}
		})
	}
}

// TestBudget: the CPU per event a target allows, and Herald's and
// PostgreSQL's share of it; nothing when a figure is missing.
func TestBudget(t *testing.T) {
	t.Parallel()
	measured := Result{CeilingCPUPerPost: 50, MachineCPUPerEvent: 500, ServerCPUPerEvent: 200, DatabaseCPUPerEvent: 150}
	tests := []struct {
		name   string
		r      Result
		target float64
		want   []float64 // all processes, then Herald's and PostgreSQL's share; none when empty
	}{
		{"PostgreSQL", measured, 0.25, []float64{200, 50}},
		{"SQLite", Result{CeilingCPUPerPost: 50, MachineCPUPerEvent: 300, ServerCPUPerEvent: 220}, 0.2, []float64{250, 170}},
		{"LeftNegative", Result{CeilingCPUPerPost: 50, MachineCPUPerEvent: 900, ServerCPUPerEvent: 100}, 0.25, []float64{200, -600}},
		{"NoCeilingCPU", Result{MachineCPUPerEvent: 500, ServerCPUPerEvent: 200}, 0.25, nil},
		{"NoMachineCPU", Result{CeilingCPUPerPost: 50, ServerCPUPerEvent: 200}, 0.25, nil},
		{"NoTarget", measured, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.r
			r.ratioBudget(tt.target)
			if len(r.Metrics) != len(tt.want) {
				t.Fatalf("metrics %+v, want %v", r.Metrics, tt.want)
			}
			for i, m := range r.Metrics {
				if math.Abs(m.Value-tt.want[i]) > 1e-9 || m.Unit != "µs" {
					t.Errorf("metric %q = %v %s, want %v µs", m.Name, m.Value, m.Unit, tt.want[i])
				}
			}
		})
	}
	// The mixed storm's: the one-issue storm's CPU per event over 0.7.
	r := Result{MachineCPUPerEvent: 700, ServerCPUPerEvent: 400}
	r.budget(350/targetMixed, "one-issue")
	if len(r.Metrics) != 2 || math.Abs(r.Metrics[0].Value-500) > 1e-9 || math.Abs(r.Metrics[1].Value-200) > 1e-9 {
		t.Fatalf("mixed budget %+v, want 500 and 200 µs", r.Metrics)
	}
}

// TestBusySeconds: the machine's busy CPU time from /proc/stat's ticks.
func TestBusySeconds(t *testing.T) {
	t.Parallel()
	cpus := float64(runtime.NumCPU())
	tests := []struct {
		name        string
		busy, total int64
		wall        time.Duration
		want        float64
	}{
		{"HalfBusy", 50, 100, 2 * time.Second, cpus},
		{"AllBusy", 300, 300, time.Second, cpus},
		{"Idle", 0, 100, time.Second, 0},
		{"NoTicks", 0, 0, time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := busySeconds(tt.busy, tt.total, tt.wall); math.Abs(got-tt.want) > 1e-9 {
				t.Fatalf("busySeconds(%d, %d, %v) = %v, want %v", tt.busy, tt.total, tt.wall, got, tt.want)
			}
		})
	}
}

// TestMixedCounts: the deliveries the mixed scenario expects, and the
// exact comparison that fails it on a loss or an extra.
func TestMixedCounts(t *testing.T) {
	t.Parallel()
	want := mixedExpected(10000, 1500)
	if want[kindEventCreated] != 10000 || want[kindErrorCreated] != 10000 || want[kindEventAlert] != 1500 ||
		want[kindIssueCreated] != 1500 || sum(want) != 23000 || len(want) != len(mixedKinds) {
		t.Fatalf("expected = %v", want)
	}
	tests := []struct {
		name  string
		got   map[string]int
		ok    bool
		notes []string
	}{
		{"Exact", map[string]int{kindEventCreated: 10000, kindErrorCreated: 10000, kindEventAlert: 1500, kindIssueCreated: 1500}, true, nil},
		{"ErrLost", map[string]int{kindEventCreated: 10000, kindErrorCreated: 9998, kindEventAlert: 1500, kindIssueCreated: 1500}, false,
			[]string{"error.created: 2 of 10000 deliveries missing"}},
		{"ErrExtraAlert", map[string]int{kindEventCreated: 10000, kindErrorCreated: 10000, kindEventAlert: 1501, kindIssueCreated: 1500}, false,
			[]string{"event.alert: 1 deliveries more than the 1500 expected"}},
		{"ErrUnknownKind", map[string]int{kindEventCreated: 10000, kindErrorCreated: 10000, kindEventAlert: 1500, kindIssueCreated: 1500, "issue.resolved": 1}, false,
			[]string{"issue.resolved: 1 deliveries more than the 0 expected"}},
		{"ErrNothing", map[string]int{}, false, []string{
			"error.created: 10000 of 10000 deliveries missing", "event.alert: 1500 of 1500 deliveries missing",
			"event.created: 10000 of 10000 deliveries missing", "issue.created: 1500 of 1500 deliveries missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var r Result
			if ok := exactKinds(&r, want, tt.got); ok != tt.ok || !slices.Equal(r.Notes, tt.notes) {
				t.Fatalf("exact = %v, notes %q; want %v, %q", ok, r.Notes, tt.ok, tt.notes)
			}
		})
	}
}

// TestCreateSchema creates and drops a schema in the test database.
func TestCreateSchema(t *testing.T) {
	t.Parallel()
	base := os.Getenv("HERALD_TEST_DATABASE_URL")
	if base == "" {
		base = DefaultPostgresURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, drop, err := createSchema(ctx, base)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("PostgreSQL unreachable: %v", err)
	}
	parsed, _ := url.Parse(u)
	schema := parsed.Query().Get("search_path")
	if !strings.HasPrefix(schema, "herald_bench_") {
		t.Fatalf("url %q has no bench search_path", u)
	}
	db, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var current string
	if err := db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&current); err != nil || current != schema {
		t.Fatalf("current_schema = %q, %v; want %q", current, err, schema)
	}
	if err := drop(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1`, schema).Scan(&n); err != nil || n != 0 {
		t.Fatalf("schema still there: %d, %v", n, err)
	}
	if _, _, err := createSchema(ctx, "mysql://x"); err == nil || herald.ErrorCode(err) != herald.EINVALID {
		t.Fatalf("err = %v, want EINVALID for a non-postgres URL", err)
	}
}

// TestRunRefusesBadOptions: Run checks its options before starting
// anything.
func TestRunRefusesBadOptions(t *testing.T) {
	t.Parallel()
	_, err := Run(context.Background(), Options{Database: "oracle", Executable: "/bin/false"})
	if err == nil || errors.Is(err, ErrIncomplete) {
		t.Fatalf("err = %v", err)
	}
}

func TestParseOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want map[string]float64
	}{
		{"Empty", "", map[string]float64{}},
		{"Results", `# HELP herald_delivery_outcomes_total Recorded delivery outcomes by result.
# TYPE herald_delivery_outcomes_total counter
herald_delivery_outcomes_total{result="delivered"} 2999
herald_delivery_outcomes_total{result="put_off"} 1.5e+03
herald_http_requests_total{code="200"} 7
`, map[string]float64{"delivered": 2999, "put_off": 1500}},
		{"OtherMetricsAndGarbage", `herald_delivery_outcomes_total_x{result="put_off"} 9
herald_delivery_outcomes_total{result="failed"} many
herald_delivery_outcomes_total{result="retrying"`, map[string]float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := parseOutcomes(tt.text); !maps.Equal(got, tt.want) {
				t.Fatalf("parseOutcomes = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseCommits(t *testing.T) {
	t.Parallel()
	all := `# TYPE herald_ingest_commit_duration_seconds histogram
herald_ingest_commit_duration_seconds_bucket{le="0.001"} 10
herald_ingest_commit_duration_seconds_sum 1.25
herald_ingest_commit_duration_seconds_count 40
herald_ingest_commit_events_bucket{le="+Inf"} 40
herald_ingest_commit_events_sum 600
herald_ingest_commit_events_count 40
`
	tests := []struct {
		name   string
		text   string
		want   commitStats
		wantOK bool
	}{
		{"All", all, commitStats{count: 40, events: 600, seconds: 1.25}, true},
		{"OlderServer", "herald_ingest_events_total 600\n", commitStats{}, false},
		{"OneMissing", strings.ReplaceAll(all, "herald_ingest_commit_events_sum 600\n", ""), commitStats{count: 40, seconds: 1.25}, false},
		{"Garbage", strings.ReplaceAll(all, "1.25", "many"), commitStats{count: 40, events: 600}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, ok := parseCommits(tt.text); got != tt.want || ok != tt.wantOK {
				t.Fatalf("parseCommits = %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestRecordCommits(t *testing.T) {
	t.Parallel()
	var r Result
	recordCommits(&r, commitStats{count: 40, events: 600, seconds: 1.5}, 2*time.Second)
	want := []Metric{
		{Name: "ingest commits", Value: 40, Unit: "commits"},
		{Name: "events per ingest commit", Value: 15, Unit: "events"},
		{Name: "ingest commits' time over the window", Value: 75, Unit: "%"},
	}
	if !slices.Equal(r.Metrics, want) {
		t.Fatalf("metrics = %+v, want %+v", r.Metrics, want)
	}
	var none Result
	recordCommits(&none, commitStats{}, 2*time.Second)
	if len(none.Metrics) != 0 {
		t.Fatalf("no commits recorded metrics %+v", none.Metrics)
	}
}
