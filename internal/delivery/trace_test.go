package delivery

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
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

// TestDispatcher_Trace sends deliveries of both kinds and checks the span
// of each attempt and its debug log line: the delivery id (the Request-ID
// the receiver got), the destination, the Sentry event id of the body, the
// attempt number, the answer and the outcome.
func TestDispatcher_Trace(t *testing.T) {
	t.Parallel()
	const eventID = "9fac2ceed9344f2bbfdd1fdacb0ed9b1"
	tests := []struct {
		name     string
		kind     string
		body     string
		answer   int
		blocked  bool // the Guard refuses the receiver
		attempts int  // made before this one
		status   int64
		outcome  string
		errType  string // "" for an attempt that succeeded
	}{
		{"HookDelivered", herald.DestinationHook, `{"id":"1","event":{"event_id":"` + eventID + `"}}`, 200, false, 0, 200, "delivered", ""},
		{"AppDelivered", herald.DestinationApp, `{"action":"created","data":{"error":{"event_id":"` + eventID + `"}}}`, 202, false, 0, 202, "delivered", ""},
		{"Retry", herald.DestinationHook, `{"event":{"event_id":"` + eventID + `"}}`, 500, false, 1, 500, "retry", "500"},
		{"FinalFourHundred", herald.DestinationApp, `{"data":{"event":{"event_id":"` + eventID + `"}}}`, 404, false, 0, 404, "failed", "404"},
		{"Blocked", herald.DestinationHook, `{"event":{"event_id":"` + eventID + `"}}`, 200, true, 0, 0, "retry", "_OTHER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			var logs syncBuffer
			store := newFakeStore()
			p := startDispatcher(t, store, 5*time.Second, func(o *DispatcherOptions) {
				o.TracerProvider = tp
				o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				if tt.blocked {
					o.Sender = NewSender(SenderOptions{Guard: &Guard{}, Clock: store.clock})
				}
			})
			rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tt.answer) })
			d := newDelivery(tt.kind, rec.URL+"/hook?token=receiver-credential")
			d.Body = []byte(tt.body)
			d.ProjectID = 7
			d.Attempts = tt.attempts

			p.Dispatch(store.claim(testNode, store.clock.Now().Add(p.Lease()), d))
			store.waitOutcomes(t, d.ID)

			spans := exp.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1", len(spans))
			}
			s := spans[0]
			a := make(map[attribute.Key]attribute.Value)
			for _, kv := range s.Attributes {
				a[kv.Key] = kv.Value
			}
			u, _ := url.Parse(rec.URL)
			port, _ := strconv.Atoi(u.Port())
			want := map[attribute.Key]any{
				"herald.delivery.id":        d.ID,
				"herald.delivery.attempt":   int64(tt.attempts + 1),
				"herald.delivery.outcome":   tt.outcome,
				"herald.destination.kind":   tt.kind,
				"herald.event.id":           eventID,
				"herald.project.id":         int64(7),
				"herald.webhook.event":      d.Event,
				"http.request.method":       "POST",
				"server.address":            "127.0.0.1",
				"server.port":               int64(port),
				"url.scheme":                "http",
				"http.response.status_code": tt.status,
				"error.type":                tt.errType,
			}
			if tt.kind == herald.DestinationHook {
				want["herald.hook.id"] = d.DestinationID
			} else {
				want["herald.installation.id"] = d.DestinationID
				want["herald.webhook.resource"] = d.Resource
			}
			for k, v := range want {
				got, ok := a[k]
				if zero := v == "" || v == int64(0); zero {
					if ok {
						t.Errorf("%s = %v, want none", k, got.AsInterface())
					}
					continue
				}
				if !ok || got.AsInterface() != v {
					t.Errorf("%s = %v, want %v", k, got.AsInterface(), v)
				}
			}
			for _, kv := range s.Attributes {
				if strings.Contains(kv.Value.String(), "receiver-credential") {
					t.Errorf("attribute %s holds the URL's query: %s", kv.Key, kv.Value.String())
				}
			}
			if s.Name != "webhook POST" || s.SpanKind != trace.SpanKindClient {
				t.Errorf("span = %q %s", s.Name, s.SpanKind)
			}
			if wantErr := tt.errType != ""; (s.Status.Code == codes.Error) != wantErr {
				t.Errorf("span status = %v, want an error: %v", s.Status, wantErr)
			}

			var line string
			for l := range strings.Lines(logs.String()) {
				if strings.Contains(l, "delivery attempt") {
					line = l
				}
			}
			if !strings.Contains(line, "delivery_id="+d.ID) || !strings.Contains(line, "event_id="+eventID) ||
				!strings.Contains(line, "outcome="+tt.outcome) {
				t.Errorf("attempt log line = %q in\n%s", line, logs.String())
			}
			if tt.blocked && !strings.Contains(logs.String(), `msg="delivery destination not allowed" delivery_id=`+d.ID) {
				t.Errorf("no refusal logged with the delivery id:\n%s", logs.String())
			}
		})
	}
}

// TestDispatcher_TraceOff checks that a Dispatcher without a
// TracerProvider sends as usual and logs attempts only at debug level.
func TestDispatcher_TraceOff(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	store := newFakeStore()
	p := startDispatcher(t, store, 5*time.Second, func(o *DispatcherOptions) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	rec := newRecorder(t, nil)
	d := newDelivery(herald.DestinationHook, rec.URL+"/hook")
	p.Dispatch(store.claim(testNode, store.clock.Now().Add(p.Lease()), d))
	store.waitOutcomes(t, d.ID)
	if o := store.outcome(t, d.ID); !o.Delivered {
		t.Fatalf("outcome = %+v", o)
	}
	if strings.Contains(logs.String(), "delivery attempt") {
		t.Fatalf("attempt logged at info level:\n%s", logs.String())
	}
}
