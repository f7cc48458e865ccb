package tracing_test

import (
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"

	"github.com/herald-dev/herald/internal/tracing"
	"github.com/herald-dev/herald/internal/tracing/tracingtest"
)

// env returns a getenv reading m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestEnabled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"Unset", nil, false},
		{"OtherVariablesOnly", map[string]string{"OTEL_SERVICE_NAME": "edge", "OTEL_EXPORTER_OTLP_HEADERS": "a=b"}, false},
		{"Endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true},
		{"TracesEndpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, true},
		{"SDKDisabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, false},
		{"SDKNotDisabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "false"}, true},
		{"ExporterNone", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, false},
		{"ExporterOTLP", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "otlp"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tracing.Enabled(env(tt.env)); got != tt.want {
				t.Fatalf("Enabled = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestStart_Off checks that without an endpoint Start makes nothing, and
// that the nil Provider it returns makes spans that record nothing.
func TestStart_Off(t *testing.T) {
	t.Parallel()
	p, err := tracing.Start(context.Background(), tracing.Options{Getenv: env(map[string]string{"OTEL_SERVICE_NAME": "edge"})})
	if err != nil || p != nil {
		t.Fatalf("Start = %v, %v; want nil, nil", p, err)
	}
	_, span := p.TracerProvider().Tracer("test").Start(context.Background(), "x")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Fatalf("span of tracing turned off records: %v", span.SpanContext())
	}
	span.End()
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestStart_Refused checks that settings Herald cannot honour fail Start
// rather than send traces elsewhere than asked.
func TestStart_Refused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"Protocol", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{"TracesProtocol", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc/json"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		{"Zipkin", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := tracing.Start(context.Background(), tracing.Options{Getenv: env(tt.env)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start = %v, %v; want an error naming %s", p, err, tt.want)
			}
		})
	}
}

// TestStart_Resource checks the resource of the spans: service.name
// "herald" unless OTEL_SERVICE_NAME names another, and service.version.
func TestStart_Resource(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"Default", nil, "herald"},
		{"ServiceName", map[string]string{"OTEL_SERVICE_NAME": "herald-eu"}, "herald-eu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			exp := tracetest.NewInMemoryExporter()
			p, err := tracing.Start(context.Background(), tracing.Options{Getenv: env(tt.env), Version: "1.2.3", Exporter: exp})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Shutdown(context.Background())
			_, span := p.TracerProvider().Tracer("test").Start(context.Background(), "x")
			span.End()
			if err := p.ForceFlush(context.Background()); err != nil {
				t.Fatal(err)
			}
			spans := exp.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1", len(spans))
			}
			attrs := map[string]string{}
			for _, kv := range spans[0].Resource.Attributes() {
				attrs[string(kv.Key)] = kv.Value.String()
			}
			if attrs["service.name"] != tt.want || attrs["service.version"] != "1.2.3" || attrs["telemetry.sdk.language"] != "go" {
				t.Fatalf("resource = %v, want service.name %s", attrs, tt.want)
			}
		})
	}
}

// TestStart_OTLP exports a span over OTLP/HTTP, configured only by the
// standard variable, to a loopback collector.
func TestStart_OTLP(t *testing.T) {
	c := tracingtest.NewCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", c.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_SERVICE_NAME", "")
	p, err := tracing.Start(context.Background(), tracing.Options{Getenv: os.Getenv, Version: "1.2.3"})
	if err != nil || p == nil {
		t.Fatalf("Start = %v, %v", p, err)
	}
	_, span := p.TracerProvider().Tracer("test").Start(context.Background(), "exported")
	span.End()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	reqs := c.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d export requests, want 1: %+v", len(reqs), reqs)
	}
	r := reqs[0]
	if r.Err != "" || r.Method != "POST" || r.Path != tracingtest.TracesPath || r.ContentType != "application/x-protobuf" {
		t.Fatalf("export request = %+v", r)
	}
	if len(r.Spans) != 1 || r.Spans[0].Name != "exported" || r.Spans[0].Resource["service.name"] != "herald" ||
		r.Spans[0].Resource["service.version"] != "1.2.3" {
		t.Fatalf("spans = %+v", r.Spans)
	}
}

// grpcCollector is a loopback OTLP/gRPC trace service that keeps the names
// of the spans it gets.
type grpcCollector struct {
	collectorpb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	names []string
	svc   []any
}

func (c *grpcCollector) Export(_ context.Context, req *collectorpb.ExportTraceServiceRequest) (*collectorpb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				c.svc = append(c.svc, kv.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				c.names = append(c.names, sp.GetName())
			}
		}
	}
	return &collectorpb.ExportTraceServiceResponse{}, nil
}

// TestStart_OTLPGRPC exports a span over OTLP/gRPC when the protocol
// variable asks for it.
func TestStart_OTLPGRPC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &grpcCollector{}
	srv := grpc.NewServer()
	collectorpb.RegisterTraceServiceServer(srv, c)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+ln.Addr().String())
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "")
	t.Setenv("OTEL_SERVICE_NAME", "")
	p, err := tracing.Start(context.Background(), tracing.Options{Getenv: os.Getenv})
	if err != nil || p == nil {
		t.Fatalf("Start = %v, %v", p, err)
	}
	_, span := p.TracerProvider().Tracer("test").Start(context.Background(), "over grpc")
	span.End()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.names) != 1 || c.names[0] != "over grpc" || len(c.svc) != 1 || c.svc[0] != "herald" {
		t.Fatalf("collector got spans %q of services %v", c.names, c.svc)
	}
}
