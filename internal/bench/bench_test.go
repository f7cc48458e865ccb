package bench

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"net/url"
	"os"
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
			Server: &Usage{PeakRSSBytes: 30 << 20, HWMBytes: 31 << 20, CPUSeconds: 1.5, CPUPercent: 75},
			Target: "deliveries/s ≥ 0.3 × raw ceiling", Measured: 0.07, Notes: []string{"a note"}},
		{Scenario: ScenarioFanout, Database: "target", Error: "boom", Metrics: []Metric{{Name: "round 1", Value: 0.25, Unit: "s"}}},
	}}
	var b bytes.Buffer
	if err := WriteMarkdown(&b, rep); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"herald v (revision abc)",
		"| throughput | sqlite | 1500 | 1401 | 20000 | 0.07 | 1.0 / 2.0 / 3.0 | 30.0 MiB | 1.5 s (75%) | deliveries/s ≥ 0.3 × raw ceiling | 0.07 × | FAIL |",
		"| fanout | target | n/a | 0 | 0 | 0.00 | n/a | n/a | n/a |  | 0.000 s | ERROR |",
		"| round 1 | 0.250 s |",
		"- a note",
		"- error: boom",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
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
