// Package tracing sets up OpenTelemetry tracing for a Herald node.
//
// Tracing is optional and off by default. It is on when the standard
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT variable
// is set (see Enabled): Start then returns a Provider whose spans are
// batched and exported over OTLP/HTTP, or OTLP/gRPC when
// OTEL_EXPORTER_OTLP_PROTOCOL (or ..._TRACES_PROTOCOL) is "grpc". The
// exporter reads the other standard variables itself
// (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION, _CERTIFICATE, ...),
// the SDK reads the sampler's
// (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG) and the batch processor's
// (OTEL_BSP_*), and the resource takes OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES over its defaults (service.name "herald").
//
// When tracing is off nothing is created: no provider, no exporter, no
// goroutine. The instrumented packages (ingest, delivery) then get a no-op
// TracerProvider, whose spans cost a function call and record nothing.
//
// The Provider is wired into the packages that make spans; it is not
// installed as OpenTelemetry's global provider, so that several nodes in one
// process (as in tests) keep their spans apart.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ServiceName is the service.name of Herald's spans unless
// OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) names
// another.
const ServiceName = "herald"

// The environment variables that decide whether tracing is on.
const (
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	// EnvSDKDisabled set to "true" turns tracing off whatever else is set.
	EnvSDKDisabled = "OTEL_SDK_DISABLED"
	// EnvTracesExporter set to "none" turns tracing off; any value other
	// than "otlp" (the default) is refused.
	EnvTracesExporter = "OTEL_TRACES_EXPORTER"
	// EnvProtocol and EnvTracesProtocol may be "http/protobuf" (the
	// default), "http/json" or "grpc".
	EnvProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
)

// Enabled reports whether the environment getenv reads asks for traces to
// be exported: an OTLP endpoint is set, and neither OTEL_SDK_DISABLED=true
// nor OTEL_TRACES_EXPORTER=none turns tracing off.
func Enabled(getenv func(string) string) bool {
	if getenv(EnvEndpoint) == "" && getenv(EnvTracesEndpoint) == "" {
		return false
	}
	if strings.EqualFold(strings.TrimSpace(getenv(EnvSDKDisabled)), "true") {
		return false
	}
	return strings.TrimSpace(getenv(EnvTracesExporter)) != "none"
}

// Options configure Start.
type Options struct {
	// Getenv reads the variables that decide whether tracing is on and how
	// it is named. The OTLP exporter and the SDK read the process
	// environment themselves, so this is os.Getenv outside tests.
	Getenv func(string) string
	// Version is the service.version of the spans.
	Version string
	// Logger receives the errors of the exporter (a collector that cannot
	// be reached, ...); nil discards them.
	Logger *slog.Logger
	// Exporter, when set, receives the spans instead of an OTLP exporter
	// made from the environment, for tests. Tracing is then on
	// whatever the environment says.
	Exporter sdktrace.SpanExporter
}

// Provider is the tracer provider of a node that exports its spans. A nil
// *Provider is tracing turned off: its TracerProvider makes no-op spans and
// its Shutdown does nothing.
type Provider struct {
	tp *sdktrace.TracerProvider
}

// Start returns a Provider exporting spans over OTLP as the OTEL_*
// variables say, or nil (and no error) when Enabled is false. Shutdown
// flushes and stops it.
func Start(ctx context.Context, opts Options) (*Provider, error) {
	if opts.Getenv == nil {
		return nil, errors.New("tracing: Options.Getenv is required")
	}
	exporter := opts.Exporter
	if exporter == nil {
		if !Enabled(opts.Getenv) {
			return nil, nil
		}
		var err error
		if exporter, err = newExporter(ctx, opts.Getenv); err != nil {
			return nil, err
		}
	}
	res, err := newResource(ctx, opts.Version, opts.Getenv)
	if err != nil {
		_ = exporter.Shutdown(ctx)
		return nil, err
	}
	if opts.Logger != nil {
		logger := opts.Logger
		// The SDK reports export failures only through this handler,
		// which is global; the last node started gets them.
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			logger.Warn("opentelemetry: export failed", "err", err)
		}))
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(res),
	)
	return &Provider{tp: tp}, nil
}

// newExporter returns the OTLP exporter of the protocol the environment
// names (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else
// OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf), configured by the
// exporter from the OTEL_EXPORTER_OTLP_* variables. Settings Herald cannot
// honour are refused rather than exported somewhere other than asked.
func newExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	if e := strings.TrimSpace(getenv(EnvTracesExporter)); e != "" && e != "otlp" {
		return nil, fmt.Errorf("tracing: %s=%q: only otlp (or none) is supported", EnvTracesExporter, e)
	}
	name, protocol := EnvTracesProtocol, strings.TrimSpace(getenv(EnvTracesProtocol))
	if protocol == "" {
		name, protocol = EnvProtocol, strings.TrimSpace(getenv(EnvProtocol))
	}
	var exporter sdktrace.SpanExporter
	var err error
	switch protocol {
	case "", "http/protobuf", "http/json":
		exporter, err = otlptracehttp.New(ctx)
	case "grpc":
		exporter, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("tracing: %s=%q: use http/protobuf, http/json or grpc", name, protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: otlp exporter: %w", err)
	}
	return exporter, nil
}

// newResource describes the node: service.name "herald" and its version,
// then what OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME say, which win.
func newResource(ctx context.Context, version string, getenv func(string) string) (*resource.Resource, error) {
	attrs := []resource.Option{
		resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(ServiceName), semconv.ServiceVersion(version)),
		resource.WithFromEnv(),
	}
	// WithFromEnv reads the process environment; a getenv that differs
	// (in tests) names the service itself.
	if name := getenv("OTEL_SERVICE_NAME"); name != "" {
		attrs = append(attrs, resource.WithAttributes(semconv.ServiceName(name)))
	}
	res, err := resource.New(ctx, attrs...)
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	return res, nil
}

// TracerProvider returns the provider to make spans with: a no-op one when
// p is nil.
func (p *Provider) TracerProvider() trace.TracerProvider {
	if p == nil {
		return noop.NewTracerProvider()
	}
	return p.tp
}

// ForceFlush exports the spans ended so far. It does nothing when p is nil.
func (p *Provider) ForceFlush(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.tp.ForceFlush(ctx)
}

// Shutdown exports the spans still buffered and stops the provider; spans
// ended later are dropped. It does nothing when p is nil.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	if err := p.tp.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}
