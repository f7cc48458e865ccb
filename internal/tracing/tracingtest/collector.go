// Package tracingtest is an OTLP/HTTP trace collector for tests: a loopback
// HTTP server that accepts what an OTLP exporter sends to /v1/traces
// (protobuf, gzipped or not) and decodes the spans.
package tracingtest

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TracesPath is where an OTLP/HTTP exporter sends traces under its base
// endpoint.
const TracesPath = "/v1/traces"

// Collector is a loopback OTLP/HTTP collector. Its URL is the value for
// OTEL_EXPORTER_OTLP_ENDPOINT.
type Collector struct {
	*httptest.Server

	mu       sync.Mutex
	requests []Request
}

// Request is one export request the Collector got.
type Request struct {
	Method, Path, ContentType, ContentEncoding string
	// Err says why the body could not be decoded; "" when it was.
	Err   string
	Spans []Span
}

// Span is a span as exported, with its resource's attributes.
type Span struct {
	Name string
	// Kind is "server", "client", "internal", "producer" or "consumer".
	Kind                          string
	TraceID, SpanID, ParentSpanID string
	Attributes                    map[string]any
	Links                         []Link
	// Error is whether the span's status is an error; Message its
	// description.
	Error    bool
	Message  string
	Resource map[string]any
}

// Link is a span link.
type Link struct{ TraceID, SpanID string }

// NewCollector starts a Collector, closed when the test ends. It answers
// 200 to a protobuf POST to TracesPath and 400 to anything else.
func NewCollector(tb testing.TB) *Collector {
	tb.Helper()
	c := &Collector{}
	c.Server = httptest.NewServer(http.HandlerFunc(c.serve))
	tb.Cleanup(c.Close)
	return c
}

func (c *Collector) serve(w http.ResponseWriter, r *http.Request) {
	req := Request{Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"),
		ContentEncoding: r.Header.Get("Content-Encoding")}
	req.Spans, req.Err = decode(r)
	c.mu.Lock()
	c.requests = append(c.requests, req)
	c.mu.Unlock()
	if req.Err != "" {
		http.Error(w, req.Err, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

// decode reads the spans of an export request.
func decode(r *http.Request) ([]Span, string) {
	if r.Method != http.MethodPost || r.URL.Path != TracesPath {
		return nil, "not a POST to " + TracesPath
	}
	if r.Header.Get("Content-Type") != "application/x-protobuf" {
		return nil, "content type is not application/x-protobuf"
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, "gzip: " + err.Error()
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return nil, "read: " + err.Error()
	}
	// TracesData has the wire format of ExportTraceServiceRequest.
	var data tracepb.TracesData
	if err := proto.Unmarshal(raw, &data); err != nil {
		return nil, "decode: " + err.Error()
	}
	var spans []Span
	for _, rs := range data.GetResourceSpans() {
		res := attributes(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				sp := Span{
					Name:       s.GetName(),
					Kind:       kinds[s.GetKind()],
					TraceID:    hex.EncodeToString(s.GetTraceId()),
					SpanID:     hex.EncodeToString(s.GetSpanId()),
					Attributes: attributes(s.GetAttributes()),
					Error:      s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR,
					Message:    s.GetStatus().GetMessage(),
					Resource:   res,
				}
				if p := s.GetParentSpanId(); len(p) > 0 {
					sp.ParentSpanID = hex.EncodeToString(p)
				}
				for _, l := range s.GetLinks() {
					sp.Links = append(sp.Links, Link{TraceID: hex.EncodeToString(l.GetTraceId()), SpanID: hex.EncodeToString(l.GetSpanId())})
				}
				spans = append(spans, sp)
			}
		}
	}
	return spans, ""
}

var kinds = map[tracepb.Span_SpanKind]string{
	tracepb.Span_SPAN_KIND_INTERNAL: "internal",
	tracepb.Span_SPAN_KIND_SERVER:   "server",
	tracepb.Span_SPAN_KIND_CLIENT:   "client",
	tracepb.Span_SPAN_KIND_PRODUCER: "producer",
	tracepb.Span_SPAN_KIND_CONSUMER: "consumer",
}

// attributes turns OTLP attributes into a map of string, int64, float64,
// bool and []any values.
func attributes(kvs []*commonpb.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = value(kv.GetValue())
	}
	return m
}

func value(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_ArrayValue:
		var out []any
		for _, e := range x.ArrayValue.GetValues() {
			out = append(out, value(e))
		}
		return out
	}
	return nil
}

// Requests returns the export requests received so far.
func (c *Collector) Requests() []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Request(nil), c.requests...)
}

// Spans returns the spans of the requests received so far.
func (c *Collector) Spans() []Span {
	var spans []Span
	for _, r := range c.Requests() {
		spans = append(spans, r.Spans...)
	}
	return spans
}
