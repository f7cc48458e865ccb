package main

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/tracing"
	"github.com/herald-dev/herald/internal/tracing/tracingtest"
)

// otelVariables are the variables that could turn tracing on; the tests
// clear those they do not set.
var otelVariables = []string{
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED",
	"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
	"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER", "OTEL_EXPORTER_OTLP_COMPRESSION",
}

// setOTelEnv sets the OpenTelemetry variables of the process to vars,
// clearing the others, for the rest of the test (which may not be
// parallel).
func setOTelEnv(t *testing.T, vars map[string]string) {
	t.Helper()
	for _, k := range otelVariables {
		t.Setenv(k, vars[k])
	}
}

// startClosable starts a server the test closes itself, or else the
// cleanup does.
func startClosable(t *testing.T, cfg Config, start func(context.Context, Config, *slog.Logger) (*Server, error)) (*Server, func()) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := start(context.Background(), cfg, logger)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return srv, closeOnce(t, srv)
}

// tracedRun is what runTraced did: the ids the spans must name.
type tracedRun struct {
	ProjectID  int64
	EventID    string
	HookID     string
	DeliveryID string
}

// runTraced sends one event to a project with a Service Hook and waits for
// its delivery.
func runTraced(t *testing.T, srv *Server) tracedRun {
	t.Helper()
	p := setUp(t, srv)
	rc := newReceiver(t, nil)
	h := createHook(t, srv, rc.URL+"/hook", "event.created")
	rc.setSecret(h.Secret)
	run := tracedRun{EventID: herald.NewID(), HookID: h.ID}
	run.ProjectID, _ = strconv.ParseInt(p.ID, 10, 64)
	mustStatus(t, 200, storeEvent(t, srv, p, run.EventID, "traced"))
	got := rc.wait(t, 1, 20*time.Second)
	run.DeliveryID = got[0].Header.Get("Request-ID")
	if !hex32.MatchString(run.DeliveryID) {
		t.Fatalf("Request-ID = %q", run.DeliveryID)
	}
	return run
}

// checkSpans checks the three kinds of spans of run: the ingest request
// with its event id, the commit linked to it, and the delivery attempt
// with its delivery, hook and event ids.
func checkSpans(t *testing.T, spans []tracingtest.Span, run tracedRun) {
	t.Helper()
	find := func(what string, match func(s tracingtest.Span) bool) tracingtest.Span {
		t.Helper()
		var found []tracingtest.Span
		for _, s := range spans {
			if match(s) {
				found = append(found, s)
			}
		}
		if len(found) != 1 {
			t.Fatalf("%d %s spans among %d, want 1: %+v", len(found), what, len(spans), spans)
		}
		return found[0]
	}
	ingest := find("ingest", func(s tracingtest.Span) bool {
		return s.Name == "POST /api/{project_id}/store/" && s.Attributes["herald.event.id"] == run.EventID
	})
	if ingest.Kind != "server" || ingest.Attributes["herald.project.id"] != run.ProjectID || ingest.Error ||
		ingest.Attributes["http.response.status_code"] != int64(200) || ingest.Attributes["herald.ingest.outcome"] != "accepted" {
		t.Errorf("ingest span = %+v", ingest)
	}
	commit := find("commit", func(s tracingtest.Span) bool {
		for _, l := range s.Links {
			if s.Name == "ingest commit" && l.SpanID == ingest.SpanID && l.TraceID == ingest.TraceID {
				return true
			}
		}
		return false
	})
	if commit.Error || commit.Attributes["herald.batch.events"] != int64(1) || commit.ParentSpanID != "" {
		t.Errorf("commit span = %+v", commit)
	}
	attempt := find("delivery", func(s tracingtest.Span) bool {
		return s.Name == "webhook POST" && s.Attributes["herald.delivery.id"] == run.DeliveryID
	})
	want := map[string]any{
		"herald.event.id":           run.EventID,
		"herald.hook.id":            run.HookID,
		"herald.project.id":         run.ProjectID,
		"herald.destination.kind":   herald.DestinationHook,
		"herald.webhook.event":      "event.created",
		"herald.delivery.attempt":   int64(1),
		"herald.delivery.outcome":   "delivered",
		"http.response.status_code": int64(200),
		"server.address":            "127.0.0.1",
	}
	for k, v := range want {
		if attempt.Attributes[k] != v {
			t.Errorf("delivery span %s = %v, want %v", k, attempt.Attributes[k], v)
		}
	}
	if attempt.Kind != "client" || attempt.Error {
		t.Errorf("delivery span = %+v", attempt)
	}
	for _, s := range spans {
		if s.Resource["service.name"] != "herald" || s.Resource["service.version"] != herald.Version {
			t.Fatalf("span %s resource = %v", s.Name, s.Resource)
		}
	}
}

// TestTracing runs an event through ingest and a delivery on a server
// whose spans go to an in-memory exporter, on both stores, and finds the
// request's, the commit's and the attempt's spans with their ids.
func TestTracing(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{sqliteBackend, postgresBackend} {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			exp := tracetest.NewInMemoryExporter()
			var tp *tracing.Provider
			srv, _ := startClosable(t, testConfig(t, b), func(ctx context.Context, cfg Config, logger *slog.Logger) (*Server, error) {
				var err error
				tp, err = tracing.Start(ctx, tracing.Options{Getenv: func(string) string { return "" }, Version: herald.Version, Exporter: exp})
				if err != nil {
					return nil, err
				}
				return start(ctx, cfg, logger, tp)
			})
			run := runTraced(t, srv)
			// The attempt's span ends once the receiver's answer is read.
			var spans []tracingtest.Span
			deadline := time.Now().Add(20 * time.Second)
			for {
				if err := tp.ForceFlush(context.Background()); err != nil {
					t.Fatal(err)
				}
				spans = fromStubs(exp.GetSpans())
				if hasSpan(spans, "herald.delivery.id", run.DeliveryID) || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			checkSpans(t, spans, run)
		})
	}
}

// hasSpan reports whether a span has attribute key set to v.
func hasSpan(spans []tracingtest.Span, key string, v any) bool {
	for _, s := range spans {
		if s.Attributes[key] == v {
			return true
		}
	}
	return false
}

// fromStubs turns in-memory spans into the collector's form.
func fromStubs(stubs tracetest.SpanStubs) []tracingtest.Span {
	var spans []tracingtest.Span
	for _, s := range stubs {
		sp := tracingtest.Span{
			Name:       s.Name,
			Kind:       s.SpanKind.String(),
			TraceID:    s.SpanContext.TraceID().String(),
			SpanID:     s.SpanContext.SpanID().String(),
			Attributes: map[string]any{},
			Error:      s.Status.Code == codes.Error,
			Message:    s.Status.Description,
			Resource:   map[string]any{},
		}
		if s.Parent.IsValid() {
			sp.ParentSpanID = s.Parent.SpanID().String()
		}
		for _, kv := range s.Attributes {
			sp.Attributes[string(kv.Key)] = kv.Value.AsInterface()
		}
		for _, kv := range s.Resource.Attributes() {
			sp.Resource[string(kv.Key)] = kv.Value.AsInterface()
		}
		for _, l := range s.Links {
			sp.Links = append(sp.Links, tracingtest.Link{TraceID: l.SpanContext.TraceID().String(),
				SpanID: l.SpanContext.SpanID().String()})
		}
		spans = append(spans, sp)
	}
	return spans
}

// TestOpenTelemetryExport starts the server the way `herald serve` does,
// with only OTEL_EXPORTER_OTLP_ENDPOINT pointing at a loopback OTLP/HTTP
// collector, runs an event through ingest and a delivery, and finds the
// three kinds of spans in what the collector decoded once the server
// closed.
func TestOpenTelemetryExport(t *testing.T) {
	c := tracingtest.NewCollector(t)
	setOTelEnv(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": c.URL})
	srv, closeServer := startClosable(t, testConfig(t, sqliteBackend), Start)
	if srv.tracing == nil {
		t.Fatal("no tracer provider with OTEL_EXPORTER_OTLP_ENDPOINT set")
	}
	run := runTraced(t, srv)
	closeServer()

	reqs := c.Requests()
	if len(reqs) == 0 {
		t.Fatal("the collector got no export request")
	}
	for _, r := range reqs {
		if r.Err != "" || r.Method != "POST" || r.Path != "/v1/traces" || r.ContentType != "application/x-protobuf" {
			t.Fatalf("export request = %+v", r)
		}
	}
	checkSpans(t, c.Spans(), run)
}

// TestOpenTelemetryOff checks that a server without an OTLP endpoint, or
// with tracing turned off by the standard variables, makes no tracer
// provider and exports nothing.
func TestOpenTelemetryOff(t *testing.T) {
	tests := []struct {
		name string
		vars func(collector string) map[string]string
	}{
		{"Unset", func(string) map[string]string {
			return map[string]string{"OTEL_SERVICE_NAME": "herald-off", "OTEL_TRACES_SAMPLER": "always_on"}
		}},
		{"SDKDisabled", func(c string) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": c, "OTEL_SDK_DISABLED": "true"}
		}},
		{"ExporterNone", func(c string) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": c + "/v1/traces", "OTEL_TRACES_EXPORTER": "none"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tracingtest.NewCollector(t)
			setOTelEnv(t, tt.vars(c.URL))
			srv, closeServer := startClosable(t, testConfig(t, sqliteBackend), Start)
			if srv.tracing != nil {
				t.Fatal("a tracer provider with tracing off")
			}
			runTraced(t, srv)
			closeServer()
			if reqs := c.Requests(); len(reqs) != 0 {
				t.Fatalf("the collector got %d export requests with tracing off", len(reqs))
			}
		})
	}
}
