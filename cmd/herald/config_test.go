package main

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		mod   func(*Config)
		field string
	}{
		{"OK", func(*Config) {}, ""},
		{"ErrAddr", func(c *Config) { c.Addr = "" }, "addr"},
		{"ErrDatabaseURL", func(c *Config) { c.DatabaseURL = "mysql://x" }, "database-url"},
		{"ErrDataDir", func(c *Config) { c.DataDir = "" }, "data-dir"},
		{"ErrDeliveryTimeout", func(c *Config) { c.DeliveryTimeout = 0 }, "delivery-timeout"},
		{"ErrRetrySchedule", func(c *Config) { c.RetrySchedule = "5s,soon" }, "retry-schedule"},
		{"ErrAllowDestination", func(c *Config) { c.AllowDestinations = []string{"not-a-cidr"} }, "allow-destination"},
		{"ErrURL", func(c *Config) { c.URL = "ftp://x" }, "url"},
		{"ErrLogLevel", func(c *Config) { c.LogLevel = "loud" }, "log-level"},
		{"ErrBootstrapToken", func(c *Config) { c.BootstrapToken = "short" }, "bootstrap-token"},
		{"ErrConcurrency", func(c *Config) { c.DestinationConcurrency = 0 }, "destination-concurrency"},
		{"ErrIngestBatch", func(c *Config) { c.IngestBatch = 0 }, "ingest-batch"},
		{"ErrIngestCommitters", func(c *Config) { c.IngestCommitters = 0 }, "ingest-committers"},
		{"ErrIngestCommittersMany", func(c *Config) { c.IngestCommitters = 65 }, "ingest-committers"},
		{"ErrRetention", func(c *Config) { c.Retention = time.Minute }, "retention"},
		{"ErrEventRetention", func(c *Config) { c.EventRetention = time.Minute }, "event-retention"},
		{"EventsKeptForEver", func(c *Config) { c.EventRetention = 0 }, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			c.mod(&cfg)
			err := cfg.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), c.field+":") {
				t.Fatalf("error = %v, want one naming %s", err, c.field)
			}
		})
	}
}

// TestFlagsFromEnvironment: every flag reads its HERALD_* variable, a flag
// on the command line wins, and --help names the variable.
func TestIngestBatchWait(t *testing.T) {
	cases := []struct {
		name        string
		databaseURL string
		set         time.Duration
		want        time.Duration
	}{
		{"SQLite", "", 0, 500 * time.Microsecond},
		{"PostgreSQL", "postgres://db/herald", 0, 2 * time.Millisecond},
		{"SetSQLite", "", 3 * time.Millisecond, 3 * time.Millisecond},
		{"SetPostgreSQL", "postgres://db/herald", 100 * time.Microsecond, 100 * time.Microsecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.DatabaseURL, cfg.IngestBatchWait = c.databaseURL, c.set
			if got := cfg.ingestBatchWait(); got != c.want {
				t.Fatalf("ingestBatchWait() = %s, want %s", got, c.want)
			}
		})
	}
}

func TestFlagsFromEnvironment(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	var help bytes.Buffer
	fs := newFlagSet("serve", "", &help)
	cfg.bindServe(fs)
	env := map[string]string{
		"HERALD_DELIVERY_TIMEOUT":  "2s",
		"HERALD_DATA_DIR":          "/from/env",
		"HERALD_ALLOW_DESTINATION": "127.0.0.0/8,::1",
		"HERALD_RETRY_SCHEDULE":    "1s,2s",
	}
	if err := parseFlags(fs, []string{"--data-dir", "/from/flag"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if cfg.DeliveryTimeout != 2*time.Second || cfg.DataDir != "/from/flag" || cfg.RetrySchedule != "1s,2s" ||
		len(cfg.AllowDestinations) != 2 {
		t.Fatalf("config = %+v", cfg)
	}
	fs.Usage()
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(help.String(), "$"+envName("serve", f.Name)) {
			t.Errorf("--help does not name $%s", envName("serve", f.Name))
		}
	})
	bad := newFlagSet("serve", "", &help)
	c2 := DefaultConfig()
	c2.bindServe(bad)
	err := parseFlags(bad, nil, func(k string) string {
		if k == "HERALD_DELIVERY_TIMEOUT" {
			return "soon"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "HERALD_DELIVERY_TIMEOUT") {
		t.Fatalf("bad env error = %v", err)
	}
}

// TestMigrateAndToken runs `herald migrate` and `herald token create`, then
// checks the printed token works against a server on the same data.
func TestMigrateAndToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := func(string) string { return "" }
	var out, errOut bytes.Buffer
	ctx := context.Background()
	if err := Run(ctx, []string{"migrate", "--data-dir", dir}, &out, &errOut, env); err != nil {
		t.Fatalf("migrate: %v (%s)", err, errOut.String())
	}
	if !strings.Contains(out.String(), "migrations applied") {
		t.Fatalf("migrate printed %q", out.String())
	}
	out.Reset()
	if err := Run(ctx, []string{"token", "create", "--data-dir", dir}, &out, &errOut, env); err != nil {
		t.Fatalf("token create: %v", err)
	}
	token := strings.TrimSpace(out.String())
	if len(token) != 64 {
		t.Fatalf("token = %q", token)
	}
	cfg := testConfig(t, sqliteBackend)
	cfg.DataDir, cfg.BootstrapToken = dir, ""
	srv := MustStart(t, cfg)
	var index struct {
		User struct {
			IsSuperuser bool `json:"isSuperuser"`
		} `json:"user"`
	}
	if status := callWith(t, token, srv.URL, "GET", "/api/0/", &index); status != 200 || !index.User.IsSuperuser {
		t.Fatalf("GET /api/0/ with the printed token: %d %+v", status, index)
	}
	if err := Run(ctx, []string{"nope"}, &out, &errOut, env); err == nil {
		t.Fatal("unknown command accepted")
	}
}
