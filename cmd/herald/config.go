package main

import (
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/api"
	"github.com/herald-dev/herald/internal/delivery"
	"github.com/herald-dev/herald/internal/ingest"
	"github.com/herald-dev/herald/internal/web"
)

// Config is everything `herald serve` can be told, by flag or by the
// matching HERALD_* environment variable (flag wins).
type Config struct {
	Addr                   string
	URL                    string
	DataDir                string
	DatabaseURL            string
	AllowDestinations      []string
	DeliveryTimeout        time.Duration
	RetrySchedule          string
	DisableAfter           time.Duration
	DestinationConcurrency int
	DeliveryWorkers        int
	PollInterval           time.Duration
	IngestBatch            int
	IngestBatchWait        time.Duration
	IngestCommitters       int
	IngestRateLimit        float64
	IngestMemoryMB         int
	HeapFloorMB            int
	ShutdownTimeout        time.Duration
	LogLevel               string
	LogFormat              string
	BootstrapToken         string
	NodeID                 string
	DebugAddr              string
	Retention              time.Duration
	EventRetention         time.Duration
	RescueAfter            time.Duration
	MetricAlertInterval    time.Duration
	MaxConnections         int
	BodyIdleTimeout        time.Duration
	BodyTimeout            time.Duration
	SessionLifetime        time.Duration

	// clock, when set, is the time of the store and the API instead of the
	// wall clock; tests set it to drive metric alert windows.
	clock herald.Clock
}

// DefaultConfig returns the configuration `herald serve` runs with when
// nothing is set.
func DefaultConfig() Config {
	return Config{
		Addr:                   ":8080",
		DataDir:                "herald-data",
		DeliveryTimeout:        5 * time.Second,
		RetrySchedule:          "5s,30s,2m,10m,30m,1h,3h,6h,12h,24h",
		DisableAfter:           72 * time.Hour,
		DestinationConcurrency: 32,
		DeliveryWorkers:        200,
		PollInterval:           20 * time.Millisecond,
		IngestBatch:            256,
		IngestCommitters:       2,
		IngestMemoryMB:         ingest.DefaultMaxInFlight >> 20,
		HeapFloorMB:            64,
		ShutdownTimeout:        15 * time.Second,
		LogLevel:               "info",
		LogFormat:              "text",
		Retention:              30 * 24 * time.Hour,
		EventRetention:         90 * 24 * time.Hour,
		MetricAlertInterval:    time.Minute,
		MaxConnections:         1024,
		BodyIdleTimeout:        api.DefaultBodyIdleTimeout,
		BodyTimeout:            api.DefaultBodyTimeout,
		SessionLifetime:        web.DefaultSessionLifetime,
	}
}

// Batch waits by database (BENCHMARKS.md). SQLite's one committer is idle
// while a batch waits, so a short wait pays; PostgreSQL's committers
// overlap, and a shorter wait there only made smaller batches that cost
// more CPU per event.
const (
	sqliteBatchWait   = 500 * time.Microsecond
	postgresBatchWait = 2 * time.Millisecond
)

// ingestBatchWait is --ingest-batch-wait, or the database's default when it
// is not set.
func (c Config) ingestBatchWait() time.Duration {
	switch {
	case c.IngestBatchWait > 0:
		return c.IngestBatchWait
	case c.DatabaseURL != "":
		return postgresBatchWait
	default:
		return sqliteBatchWait
	}
}

// Validate names the first field that is wrong.
func (c Config) Validate() error {
	switch {
	case c.Addr == "":
		return fmt.Errorf("addr: must not be empty")
	case c.DatabaseURL == "" && c.DataDir == "":
		return fmt.Errorf("data-dir: must not be empty without --database-url")
	case c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://"):
		return fmt.Errorf("database-url: must start with postgres:// or postgresql://")
	case c.DeliveryTimeout <= 0 || c.DeliveryTimeout > 5*time.Minute:
		return fmt.Errorf("delivery-timeout: must be between 1ns and 5m, got %s", c.DeliveryTimeout)
	case c.RescueAfter != 0 && c.RescueAfter < delivery.MinLease(c.DeliveryTimeout):
		return fmt.Errorf("rescue-after: must be at least 2×delivery-timeout+2s (%s), got %s", delivery.MinLease(c.DeliveryTimeout), c.RescueAfter)
	case c.SessionLifetime < time.Minute:
		return fmt.Errorf("session-lifetime: must be at least 1m")
	case c.Retention < time.Hour:
		return fmt.Errorf("retention: must be at least 1h")
	case c.EventRetention != 0 && c.EventRetention < time.Hour:
		return fmt.Errorf("event-retention: must be at least 1h, or 0 to keep events for ever")
	case c.MetricAlertInterval < time.Second:
		return fmt.Errorf("metric-alert-interval: must be at least 1s")
	case c.DisableAfter <= 0:
		return fmt.Errorf("disable-after: must be positive")
	case c.DestinationConcurrency < 1 || c.DestinationConcurrency > 10000:
		return fmt.Errorf("destination-concurrency: must be between 1 and 10000")
	case c.DeliveryWorkers < 1 || c.DeliveryWorkers > 10000:
		return fmt.Errorf("delivery-workers: must be between 1 and 10000")
	case c.PollInterval < time.Millisecond:
		return fmt.Errorf("poll-interval: must be at least 1ms")
	case c.IngestBatch < 1 || c.IngestBatch > 2000:
		return fmt.Errorf("ingest-batch: must be between 1 and 2000")
	case c.IngestBatchWait < 0:
		return fmt.Errorf("ingest-batch-wait: must not be negative")
	case c.IngestCommitters < 1 || c.IngestCommitters > 64:
		return fmt.Errorf("ingest-committers: must be between 1 and 64")
	case c.IngestRateLimit < 0:
		return fmt.Errorf("ingest-rate-limit: must not be negative")
	case c.IngestMemoryMB < 1 || c.IngestMemoryMB > 1<<20:
		return fmt.Errorf("ingest-memory-mb: must be between 1 and 1048576")
	case c.HeapFloorMB < 0 || c.HeapFloorMB > 1<<20:
		return fmt.Errorf("heap-floor-mb: must be between 0 and 1048576")
	case c.MaxConnections < 1:
		return fmt.Errorf("max-connections: must be at least 1")
	case c.BodyIdleTimeout < time.Second || c.BodyIdleTimeout > time.Hour:
		return fmt.Errorf("body-idle-timeout: must be between 1s and 1h, got %s", c.BodyIdleTimeout)
	case c.BodyTimeout < c.BodyIdleTimeout || c.BodyTimeout > 24*time.Hour:
		return fmt.Errorf("body-timeout: must be between body-idle-timeout and 24h, got %s", c.BodyTimeout)
	case c.LogLevel != "debug" && c.LogLevel != "info" && c.LogLevel != "warn" && c.LogLevel != "error":
		return fmt.Errorf("log-level: must be debug, info, warn or error")
	case c.LogFormat != "text" && c.LogFormat != "json":
		return fmt.Errorf("log-format: must be text or json")
	case c.BootstrapToken != "" && len(c.BootstrapToken) < 16:
		return fmt.Errorf("bootstrap-token: must be at least 16 characters")
	}
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("url: must be an absolute http(s) URL, got %q", c.URL)
		}
	}
	if _, err := delivery.ParseSchedule(c.RetrySchedule); err != nil {
		return fmt.Errorf("retry-schedule: %w", err)
	}
	if _, err := delivery.ParseCIDRs(c.AllowDestinations); err != nil {
		return fmt.Errorf("allow-destination: %w", err)
	}
	return nil
}

// listFlag is a repeatable flag; values may also be comma-separated.
type listFlag struct{ l *[]string }

func (f listFlag) String() string {
	if f.l == nil {
		return ""
	}
	return strings.Join(*f.l, ",")
}

func (f listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*f.l = append(*f.l, p)
		}
	}
	return nil
}

// bindServe registers serve's flags on fs.
func (c *Config) bindServe(fs *flag.FlagSet) {
	c.bindStorage(fs)
	fs.StringVar(&c.Addr, "addr", c.Addr, "address to listen on (host:port)")
	fs.StringVar(&c.URL, "url", c.URL, "public base URL of this server, used in DSNs and payload links (default: derived from the listen address)")
	fs.Var(listFlag{&c.AllowDestinations}, "allow-destination", "CIDR (or IP) that deliveries may go to even though it is loopback/private; repeatable, e.g. 127.0.0.0/8 for local development")
	fs.DurationVar(&c.DeliveryTimeout, "delivery-timeout", c.DeliveryTimeout, "how long one delivery attempt may take; a 2xx within it is success")
	fs.StringVar(&c.RetrySchedule, "retry-schedule", c.RetrySchedule, "comma-separated waits before each retry; after the last the delivery is failed")
	fs.DurationVar(&c.RescueAfter, "rescue-after", c.RescueAfter, "how long a node's claim on the deliveries it is sending lasts: when a node dies, other nodes send what it held after this long (default 2×delivery-timeout+30s, least 2×delivery-timeout+2s)")
	fs.DurationVar(&c.Retention, "retention", c.Retention, "how long delivered and failed deliveries and their attempts are kept")
	fs.DurationVar(&c.EventRetention, "event-retention", c.EventRetention, "how long issues and events are kept: an issue last seen longer ago is deleted with its events, and of the others the events received longer ago (0: for ever)")
	fs.DurationVar(&c.MetricAlertInterval, "metric-alert-interval", c.MetricAlertInterval, "how often the leader evaluates metric alert rules")
	fs.DurationVar(&c.DisableAfter, "disable-after", c.DisableAfter, "disable a destination whose deliveries have all failed for this long")
	fs.IntVar(&c.DestinationConcurrency, "destination-concurrency", c.DestinationConcurrency, "requests in flight to one destination at most; more wait for a later try")
	fs.IntVar(&c.DeliveryWorkers, "delivery-workers", c.DeliveryWorkers, "delivery requests in flight at once on this node, all destinations together")
	fs.DurationVar(&c.PollInterval, "poll-interval", c.PollInterval, "how often an idle node asks the database for due deliveries (retries, redeliveries, another node's lapsed claims)")
	fs.IntVar(&c.IngestBatch, "ingest-batch", c.IngestBatch, "events committed together in one transaction at most")
	fs.DurationVar(&c.IngestBatchWait, "ingest-batch-wait", c.IngestBatchWait, "how long an event may wait for others to share its commit while the database is idle (default 500µs on SQLite, 2ms on PostgreSQL)")
	fs.IntVar(&c.IngestCommitters, "ingest-committers", c.IngestCommitters, "ingest transactions in flight at once on PostgreSQL (SQLite has one writer: always 1)")
	fs.Float64Var(&c.IngestRateLimit, "ingest-rate-limit", c.IngestRateLimit, "events per second accepted per DSN key; 0 means unlimited")
	fs.IntVar(&c.IngestMemoryMB, "ingest-memory-mb", c.IngestMemoryMB, "MiB the bodies of all ingest requests in flight may hold together (raised to what one largest body needs); past it requests get 429")
	fs.IntVar(&c.HeapFloorMB, "heap-floor-mb", c.HeapFloorMB, "MiB the Go collector lets the heap reach before it collects, whatever little is live: fewer collections on a small heap, for up to this much memory; above it GOGC alone decides (0: off)")
	fs.IntVar(&c.MaxConnections, "max-connections", c.MaxConnections, "client connections open at once at most; more wait to be accepted")
	fs.DurationVar(&c.BodyIdleTimeout, "body-idle-timeout", c.BodyIdleTimeout, "how long a request body may stall before its connection is cut")
	fs.DurationVar(&c.BodyTimeout, "body-timeout", c.BodyTimeout, "how long a whole request body may take to arrive")
	fs.DurationVar(&c.SessionLifetime, "session-lifetime", c.SessionLifetime, "how long a dashboard sign-in lasts")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long a graceful shutdown waits for in-flight work")
	fs.StringVar(&c.BootstrapToken, "bootstrap-token", c.BootstrapToken, "ensure a superuser token with this value exists (idempotent)")
	fs.StringVar(&c.DebugAddr, "debug-addr", c.DebugAddr, "address of a separate listener serving Go's /debug/pprof/ profiles (off when empty; keep it private)")
	fs.StringVar(&c.NodeID, "node-id", c.NodeID, "this node's name among nodes sharing a database; a node restarted with the same name resumes its unfinished jobs at once (default: hostname:port)")
}

// bindStorage registers the flags that choose the database.
func (c *Config) bindStorage(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the embedded SQLite database")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "PostgreSQL URL (postgres://...); when set, used instead of the embedded database")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
}

// envName is the environment variable matching a flag of a command: the
// server's commands share HERALD_<FLAG> (data-dir → HERALD_DATA_DIR); the
// developer tools, whose --url or --addr mean something else, read
// HERALD_<COMMAND>_<FLAG> (trigger's url → HERALD_TRIGGER_URL).
func envName(command, flagName string) string {
	prefix := "HERALD_"
	command, _, _ = strings.Cut(command, " ")
	switch command {
	case "trigger", "listen", "bench":
		prefix += strings.ToUpper(command) + "_"
	}
	return prefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args, then fills every flag not given on the command
// line from its HERALD_* variable.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	for _, f := range visitAll(fs) {
		f.Usage += " [$" + envName(fs.Name(), f.Name) + "]"
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, f := range visitAll(fs) {
		if v := getenv(envName(fs.Name(), f.Name)); v != "" && !set[f.Name] {
			if err := fs.Set(f.Name, v); err != nil {
				return fmt.Errorf("%s: %w", envName(fs.Name(), f.Name), err)
			}
		}
	}
	return nil
}

func visitAll(fs *flag.FlagSet) []*flag.Flag {
	var out []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { out = append(out, f) })
	return out
}
