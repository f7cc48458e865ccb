package ingest

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/herald-dev/herald"
)

// newTestTracer returns a tracer provider that exports each span to the
// returned exporter as it ends.
func newTestTracer(t *testing.T) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, exp
}

// spanNamed returns the only span named name, failing otherwise.
func spanNamed(t *testing.T, spans tracetest.SpanStubs, name string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans named %q in %v, want 1", len(found), name, spanNames(spans))
	}
	return found[0]
}

func spanNames(spans tracetest.SpanStubs) []string {
	var names []string
	for _, s := range spans {
		names = append(names, s.Name)
	}
	return names
}

// attrs returns a span's attributes by key.
func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value)
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

// TestHandler_Trace runs requests through a Handler and the Batcher that
// commits for it, and checks the span of each request and of its commit,
// which links to the request's span.
func TestHandler_Trace(t *testing.T) {
	t.Parallel()
	goEnv := mustReadFile(t, "sentry-go.envelope")
	env, err := ParseEnvelope(goEnv)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		target  string
		header  http.Header
		body    []byte
		saveErr error
		span    string
		status  int64
		outcome string
		eventID string
		items   int64
		commit  bool // whether the events reached a commit
	}{
		{"Accepted", "/api/42/envelope/", auth(testKey), goEnv, nil, "POST /api/{project_id}/envelope/", 200, "accepted", "2b76c81b0555406ba3d687af12b43305", int64(len(env.Items)), true},
		{"Store", "/api/42/store/", auth(testKey), mustReadFile(t, "store-go.json"), nil, "POST /api/{project_id}/store/", 200, "accepted", "", 1, true},
		{"Rejected", "/api/42/envelope/", auth(otherKey), goEnv, nil, "POST /api/{project_id}/envelope/", 403, "rejected", "", -1, false},
		{"Failed", "/api/42/envelope/", auth(testKey), goEnv, errors.New("disk full"), "POST /api/{project_id}/envelope/", 503, "failed", "2b76c81b0555406ba3d687af12b43305", int64(len(env.Items)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tp, exp := newTestTracer(t)
			th := newTestHandler(t)
			th.saver.err = tt.saveErr
			b := NewBatcher(th.saver.save, BatcherOptions{MaxWait: -1, TracerProvider: tp})
			t.Cleanup(b.Close)
			th.SaveFunc = b.Submit
			th.TracerProvider = tp

			w := th.serve("POST", tt.target, tt.header, tt.body)
			if int64(w.Code) != tt.status {
				t.Fatalf("status = %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			spans := exp.GetSpans()
			req := spanNamed(t, spans, tt.span)
			a := attrs(req)
			if req.SpanKind != trace.SpanKindServer || a["herald.project.id"].AsInt64() != 42 ||
				a["http.response.status_code"].AsInt64() != tt.status || a["herald.ingest.outcome"].AsString() != tt.outcome ||
				a["http.request.method"].AsString() != "POST" {
				t.Fatalf("request span = %s %v", req.SpanKind, req.Attributes)
			}
			if tt.items >= 0 && a["herald.envelope.items"].AsInt64() != tt.items {
				t.Fatalf("herald.envelope.items = %v, want %d", a["herald.envelope.items"], tt.items)
			}
			if tt.eventID != "" && a["herald.event.id"].AsString() != tt.eventID {
				t.Fatalf("herald.event.id = %v, want %s", a["herald.event.id"], tt.eventID)
			}
			if tt.commit && a["herald.event.id"].AsString() == "" {
				t.Fatalf("no herald.event.id: %v", req.Attributes)
			}
			if wantErr := tt.status >= 500; (req.Status.Code == codes.Error) != wantErr {
				t.Fatalf("request span status = %v, want an error: %v", req.Status, wantErr)
			}

			if !tt.commit {
				if slices.Contains(spanNames(spans), "ingest commit") {
					t.Fatalf("a commit span for a request that saved nothing: %v", spanNames(spans))
				}
				return
			}
			commit := spanNamed(t, spans, "ingest commit")
			ca := attrs(commit)
			if ca["herald.batch.events"].AsInt64() != 1 || ca["herald.batch.requests"].AsInt64() != 1 {
				t.Fatalf("commit span attributes = %v", commit.Attributes)
			}
			if len(commit.Links) != 1 || !commit.Links[0].SpanContext.Equal(req.SpanContext) {
				t.Fatalf("commit links = %v, want the request span %v", commit.Links, req.SpanContext)
			}
			if commit.Parent.IsValid() {
				t.Fatalf("commit span has a parent: %v", commit.Parent)
			}
			if wantErr := tt.saveErr != nil; (commit.Status.Code == codes.Error) != wantErr {
				t.Fatalf("commit span status = %v, want an error: %v", commit.Status, wantErr)
			}
		})
	}
}

// TestBatcher_TraceLinks checks that a commit serving several requests
// links to each of their spans, and that the save runs in the commit's
// span.
func TestBatcher_TraceLinks(t *testing.T) {
	t.Parallel()
	tp, exp := newTestTracer(t)
	release := make(chan struct{})
	var saveSpan trace.SpanContext
	save := func(ctx context.Context, events []*herald.Event) error {
		if strings.HasPrefix(events[0].ID, "blocker") {
			<-release
			return nil
		}
		saveSpan = trace.SpanContextFromContext(ctx)
		return nil
	}
	// A first batch of two events holds the one committer, so that the
	// two requests after it gather into one batch (two events fill it,
	// and the long MaxWait never ends one early) whatever the scheduling.
	b := NewBatcher(save, BatcherOptions{MaxEvents: 2, MaxWait: time.Hour, TracerProvider: tp})
	defer b.Close()
	blocker := submitAsync(context.Background(), b, testEvents("blocker", 2))
	waitTaken(t, b, 2)
	tracer := tp.Tracer("test")
	var requests []trace.SpanContext
	var done []<-chan error
	for i := range 2 {
		ctx, span := tracer.Start(context.Background(), "request")
		requests = append(requests, span.SpanContext())
		done = append(done, submitAsync(ctx, b, testEvents(string(rune('a'+i)), 1)))
		span.End()
	}
	waitTaken(t, b, 4)
	close(release)
	for _, ch := range append(done, blocker) {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	var commit *tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == "ingest commit" && s.SpanContext.Equal(saveSpan) {
			commit = &s
		}
	}
	if commit == nil {
		t.Fatalf("no commit span is the one the save of the two requests ran in (%v)", saveSpan)
	}
	var linked []trace.SpanContext
	for _, l := range commit.Links {
		linked = append(linked, l.SpanContext)
	}
	for _, r := range requests {
		if !slices.ContainsFunc(linked, r.Equal) {
			t.Fatalf("commit links %v lack request %v", linked, r)
		}
	}
	if a := attrs(*commit); len(linked) != 2 || a["herald.batch.events"].AsInt64() != 2 || a["herald.batch.requests"].AsInt64() != 2 {
		t.Fatalf("commit = %v links, attributes %v", len(linked), commit.Attributes)
	}
}
