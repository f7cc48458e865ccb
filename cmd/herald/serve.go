package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"golang.org/x/net/netutil"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/api"
	"github.com/herald-dev/herald/internal/delivery"
	"github.com/herald-dev/herald/internal/heapfloor"
	"github.com/herald-dev/herald/internal/ingest"
	"github.com/herald-dev/herald/internal/jobs"
	"github.com/herald-dev/herald/internal/metrics"
	"github.com/herald-dev/herald/internal/postgres"
	"github.com/herald-dev/herald/internal/service"
	"github.com/herald-dev/herald/internal/sqlite"
	"github.com/herald-dev/herald/internal/sqlstore"
	"github.com/herald-dev/herald/internal/tracing"
	"github.com/herald-dev/herald/internal/web"
	"github.com/herald-dev/herald/internal/webhook"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg := DefaultConfig()
	fs := newFlagSet("serve", "Runs the Sentry-compatible API, SDK ingest and the delivery workers.", stderr)
	cfg.bindServe(fs)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	// The collector's percent is the process's, so the heap floor is set
	// here rather than in Start, which tests call many times in one process.
	gc := heapfloor.Start(heapfloor.Options{Floor: uint64(cfg.HeapFloorMB) << 20, Base: heapfloor.CurrentPercent()})
	defer gc.Stop()
	srv, err := Start(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "herald %s listening on %s (%s)\n", herald.Version, srv.URL, describeStore(cfg))
	fmt.Fprintf(stdout, "  API: %s/api/0/   DSNs: %s/api/0/projects/{org}/{project}/keys/\n", srv.URL, srv.URL)
	if cfg.BootstrapToken == "" {
		fmt.Fprintln(stdout, "  no bootstrap token set: create an API token with `herald token create` or set HERALD_BOOTSTRAP_TOKEN")
	}
	select {
	case <-ctx.Done():
	case err := <-srv.serveErr:
		srv.Close(context.Background())
		return err
	}
	shutdown, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	fmt.Fprintln(stdout, "herald shutting down")
	return srv.Close(shutdown)
}

func describeStore(cfg Config) string {
	if cfg.DatabaseURL != "" {
		return "postgres"
	}
	return "sqlite: " + filepath.Join(cfg.DataDir, sqlite.FileName)
}

// openStore opens the database cfg names, applying migrations.
func openStore(ctx context.Context, cfg Config, logger *slog.Logger) (*sqlstore.DB, error) {
	opts := sqlstore.Options{Logger: logger, DisableAfter: cfg.DisableAfter, Clock: cfg.clock}
	if cfg.DatabaseURL != "" {
		return postgres.Open(ctx, cfg.DatabaseURL, opts)
	}
	return sqlite.Open(ctx, cfg.DataDir, opts)
}

// Server is a running Herald node.
type Server struct {
	// URL is the public base URL; Addr the address it listens on.
	URL   string
	Addr  string
	Store *sqlstore.DB
	// Changes is the service the node's API and ingest write through.
	Changes *service.Service

	http     *http.Server
	jobs     *river.Client[*sql.Tx]
	dispatch *delivery.Dispatcher
	batcher  *ingest.Batcher
	serveErr chan error
	logger   *slog.Logger
	debug    *http.Server
	// tracing exports spans when OTEL_EXPORTER_OTLP_ENDPOINT is set; nil
	// otherwise.
	tracing *tracing.Provider
}

// Start opens the store, starts the workers and begins serving on cfg.Addr.
//
// Every line logged with a request's context carries its request_id. When
// the process environment sets OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), ingest requests, their commits and
// delivery attempts are traced and exported over OTLP (see package
// tracing); Close flushes the spans.
func Start(ctx context.Context, cfg Config, logger *slog.Logger) (*Server, error) {
	logger = slog.New(api.LogHandler(logger.Handler()))
	tp, err := tracing.Start(ctx, tracing.Options{Getenv: os.Getenv, Version: herald.Version, Logger: logger})
	if err != nil {
		return nil, err
	}
	s, err := start(ctx, cfg, logger, tp)
	if err != nil {
		_ = tp.Shutdown(ctx)
		return nil, err
	}
	return s, nil
}

// start is Start with its tracer provider.
func start(ctx context.Context, cfg Config, logger *slog.Logger, tp *tracing.Provider) (*Server, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	publicURL := strings.TrimSuffix(cfg.URL, "/")
	if publicURL == "" {
		publicURL = "http://" + displayAddr(ln.Addr().(*net.TCPAddr))
	}
	store, err := openStore(ctx, cfg, logger)
	if err != nil {
		ln.Close()
		return nil, err
	}
	if cfg.BootstrapToken != "" {
		if _, err := store.EnsureSuperuserToken(ctx, cfg.BootstrapToken); err != nil {
			ln.Close()
			store.Close()
			return nil, fmt.Errorf("bootstrap token: %w", err)
		}
	}
	allow, _ := delivery.ParseCIDRs(cfg.AllowDestinations)
	schedule, _ := delivery.ParseSchedule(cfg.RetrySchedule)
	nodeID := cfg.NodeID
	if nodeID == "" {
		host, _ := os.Hostname()
		nodeID = fmt.Sprintf("%s:%d", host, ln.Addr().(*net.TCPAddr).Port)
	}
	// SQLite has one writer. On PostgreSQL a few ingest transactions run at
	// once; more make smaller batches, each with its statements and commit
	// (BENCHMARKS.md: 4 cost PostgreSQL a third more CPU per event than 2).
	committers := 1
	if cfg.DatabaseURL != "" {
		committers = cfg.IngestCommitters
	}
	m := metrics.New()
	dispatcher := delivery.NewDispatcher(delivery.DispatcherOptions{
		Store:                     store,
		Node:                      nodeID,
		Sender:                    delivery.NewSender(delivery.SenderOptions{Timeout: cfg.DeliveryTimeout, Guard: &delivery.Guard{Allow: allow}}),
		Policy:                    delivery.Policy{Schedule: schedule},
		Logger:                    store.QuietLogger(logger),
		Lease:                     cfg.RescueAfter,
		PollInterval:              cfg.PollInterval,
		Concurrency:               cfg.DeliveryWorkers,
		PerDestinationConcurrency: cfg.DestinationConcurrency,
		Completers:                max(1, committers/2),
		OnRecorded:                m.OutcomesRecorded,
		TracerProvider:            tp.TracerProvider(),
	})
	m.Gauge("herald_dispatcher_held_deliveries", "Deliveries this node holds, queued or in flight.",
		func() float64 { held, _ := dispatcher.Load(); return float64(held) })
	m.Gauge("herald_dispatcher_unrecorded_outcomes", "Delivery outcomes waiting to be recorded.",
		func() float64 { _, n := dispatcher.Load(); return float64(n) })
	clock := cfg.clock
	if clock == nil {
		clock = herald.SystemClock
	}
	m.WatchBacklog(func(ctx context.Context) (metrics.Backlog, error) {
		b, err := store.Backlog(ctx)
		return metrics.Backlog(b), err
	}, clock.Now)
	changes, err := service.New(service.Config{Store: store, Webhooks: &webhook.Notifier{BaseURL: publicURL, Clock: cfg.clock},
		Dispatcher: dispatcher, Clock: cfg.clock, Logger: logger})
	if err != nil {
		ln.Close()
		store.Close()
		return nil, err
	}
	dashboard, err := web.New(web.Config{Store: store, Changes: changes, BaseURL: publicURL, SessionLifetime: cfg.SessionLifetime,
		Clock: cfg.clock, Logger: store.QuietLogger(logger), Unavailable: store.Unavailable})
	if err != nil {
		ln.Close()
		store.Close()
		return nil, err
	}
	if err := dispatcher.Start(ctx); err != nil {
		ln.Close()
		store.Close()
		return nil, err
	}
	runner, err := jobs.Start(ctx, jobs.Config{
		Store:               store,
		Changes:             changes,
		ID:                  nodeID,
		Retention:           cfg.Retention,
		EventRetention:      cfg.EventRetention,
		MetricAlertInterval: cfg.MetricAlertInterval,
		Clock:               cfg.clock,
		Logger:              logger,
	})
	if err != nil {
		ln.Close()
		_ = dispatcher.Stop(ctx)
		store.Close()
		return nil, err
	}
	batcher := ingest.NewBatcher(changes.SaveEvents, ingest.BatcherOptions{MaxEvents: cfg.IngestBatch, MaxWait: cfg.ingestBatchWait(), Workers: committers,
		TracerProvider: tp.TracerProvider(),
		OnCommit:       func(events int, took time.Duration, _ error) { m.IngestCommitted(events, took) }})
	ingestHandler := &ingest.Handler{
		Projects: store,
		SaveFunc: func(ctx context.Context, events []*herald.Event) error {
			err := batcher.Submit(ctx, events)
			if err == nil {
				m.EventsAccepted(len(events))
			}
			return err
		},
		DroppedFunc:    m.ItemsDropped,
		TracerProvider: tp.TracerProvider(),
		Logger:         store.QuietLogger(logger),
		RateLimit:      cfg.IngestRateLimit,
		Limits:         ingest.Limits{MaxInFlight: int64(cfg.IngestMemoryMB) << 20},
		Clock:          cfg.clock,
	}
	apiServer, err := api.NewServer(api.Config{Store: store, Changes: changes, BaseURL: publicURL, Ingest: ingestHandler, Logger: logger, Ready: store.Ping,
		Clock: cfg.clock, Metrics: m.Handler(), Unavailable: store.Unavailable, Web: dashboard.Handler(),
		BodyIdleTimeout: cfg.BodyIdleTimeout, BodyTimeout: cfg.BodyTimeout})
	if err != nil {
		ln.Close()
		batcher.Close()
		_ = dispatcher.Stop(ctx)
		_ = runner.Stop(ctx)
		store.Close()
		return nil, err
	}
	s := &Server{
		URL:     publicURL,
		Addr:    ln.Addr().String(),
		Store:   store,
		Changes: changes,
		http: &http.Server{Handler: m.Instrument(apiServer.Handler()), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
			MaxHeaderBytes: maxHeaderBytes},
		jobs:     runner,
		dispatch: dispatcher,
		batcher:  batcher,
		serveErr: make(chan error, 1),
		logger:   logger,
		tracing:  tp,
	}
	if cfg.DebugAddr != "" {
		if err := s.serveDebug(cfg.DebugAddr); err != nil {
			_ = s.Close(ctx)
			return nil, err
		}
	}
	go func() {
		if err := s.http.Serve(netutil.LimitListener(ln, cfg.MaxConnections)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serveErr <- err
		}
	}()
	return s, nil
}

// maxHeaderBytes bounds a request's headers: SDKs and API clients send a
// few hundred bytes, and every open connection may hold this much.
const maxHeaderBytes = 64 << 10

// serveDebug serves net/http/pprof on its own listener.
func (s *Server) serveDebug(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("debug listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s.debug = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.debug.Serve(ln) }()
	return nil
}

// displayAddr turns a listen address into one a client can dial: an
// unspecified host becomes 127.0.0.1.
func displayAddr(a *net.TCPAddr) string {
	if a.IP == nil || a.IP.IsUnspecified() {
		return fmt.Sprintf("127.0.0.1:%d", a.Port)
	}
	return a.String()
}

// Close shuts the node down gracefully: it stops accepting requests, commits
// what ingest accepted, lets in-flight deliveries finish (or leaves them to
// be retried), then closes the database.
func (s *Server) Close(ctx context.Context) error {
	errs := []error{s.http.Shutdown(ctx)}
	if s.debug != nil {
		errs = append(errs, s.debug.Close())
	}
	s.batcher.Close()
	errs = append(errs, s.dispatch.Stop(ctx), s.jobs.Stop(ctx))
	if errors.Is(errs[len(errs)-1], context.DeadlineExceeded) {
		errs = append(errs, s.jobs.StopAndCancel(context.Background()))
	}
	errs = append(errs, s.Store.Close(), s.tracing.Shutdown(ctx))
	return errors.Join(errs...)
}
