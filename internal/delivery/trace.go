package delivery

import (
	"context"
	"log/slog"
	"net/url"
	"strconv"

	"github.com/tidwall/gjson"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/herald-dev/herald"
)

// tracerName names the tracer of the package's spans.
const tracerName = "github.com/herald-dev/herald/internal/delivery"

// attemptSpanName names the span of a delivery attempt.
const attemptSpanName = "webhook POST"

// Attributes of the span of an attempt.
const (
	attrDeliveryID     = attribute.Key("herald.delivery.id")
	attrAttempt        = attribute.Key("herald.delivery.attempt")
	attrOutcome        = attribute.Key("herald.delivery.outcome")
	attrDestKind       = attribute.Key("herald.destination.kind")
	attrHookID         = attribute.Key("herald.hook.id")
	attrInstallationID = attribute.Key("herald.installation.id")
	attrWebhookEvent   = attribute.Key("herald.webhook.event")
	attrResource       = attribute.Key("herald.webhook.resource")
	attrProjectID      = attribute.Key("herald.project.id")
	attrEventID        = attribute.Key("herald.event.id")
)

// Outcomes of an attempt, as spans and logs name them.
const (
	outcomeDelivered = "delivered"
	outcomeRetry     = "retry"
	outcomeFailed    = "failed"
)

// outcomeName names what o makes of its delivery.
func outcomeName(o *herald.Outcome) string {
	switch {
	case o.Delivered:
		return outcomeDelivered
	case o.NextAttemptAt.IsZero():
		return outcomeFailed
	}
	return outcomeRetry
}

// traceAttempt describes an attempt on its span and ends it: the delivery
// (its id, which receivers get as Request-ID), its destination (hook or
// installation id), the webhook's event and resource, the Sentry event id
// its body names, the attempt's number, the receiver's host and port and
// its answer's status, and herald.delivery.outcome: delivered, retry or
// failed. An attempt without a 2xx answer is an error span, described by
// the attempt's error as the delivery log shows it. The URL itself is left
// out: its path or query may hold a credential of the receiver.
func (p *Dispatcher) traceAttempt(span trace.Span, d *herald.Delivery, a *herald.Attempt, o *herald.Outcome) {
	defer span.End()
	if !span.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{
		attrDeliveryID.String(d.ID),
		attrDestKind.String(d.DestinationKind),
		attrProjectID.Int64(d.ProjectID),
		attrWebhookEvent.String(d.Event),
		semconv.HTTPRequestMethodPost,
	}
	switch d.DestinationKind {
	case herald.DestinationHook:
		attrs = append(attrs, attrHookID.String(d.DestinationID))
	case herald.DestinationApp:
		attrs = append(attrs, attrInstallationID.String(d.DestinationID), attrResource.String(d.Resource))
	}
	if id := eventID(d.Body); id != "" {
		attrs = append(attrs, attrEventID.String(id))
	}
	if u, err := url.Parse(d.URL); err == nil && u.Host != "" {
		attrs = append(attrs, semconv.URLScheme(u.Scheme), semconv.ServerAddress(u.Hostname()))
		port, err := strconv.Atoi(u.Port())
		if err != nil {
			port = 80
			if u.Scheme == "https" {
				port = 443
			}
		}
		attrs = append(attrs, semconv.ServerPort(port))
	}
	if a != nil {
		attrs = append(attrs, attrAttempt.Int(a.Number))
		if a.StatusCode != 0 {
			attrs = append(attrs, semconv.HTTPResponseStatusCode(a.StatusCode))
		}
	}
	if o != nil {
		attrs = append(attrs, attrOutcome.String(outcomeName(o)))
		if !o.Delivered {
			errType, msg := "_OTHER", ""
			if a != nil {
				msg = a.Error
				if a.StatusCode != 0 {
					errType = strconv.Itoa(a.StatusCode)
				}
			}
			attrs = append(attrs, semconv.ErrorTypeKey.String(errType))
			span.SetStatus(codes.Error, msg)
		}
	}
	span.SetAttributes(attrs...)
}

// logAttempt logs an attempt at debug level with its delivery's id (the
// Request-ID the receiver got), the Sentry event id of its body and what
// came of it.
func (p *Dispatcher) logAttempt(ctx context.Context, d *herald.Delivery, a *herald.Attempt, o *herald.Outcome) {
	if a == nil || o == nil || !p.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("delivery_id", d.ID),
		slog.String("event", d.Event),
		slog.String("destination_kind", d.DestinationKind),
		slog.String("destination", d.DestinationID),
		slog.Int("attempt", a.Number),
		slog.Int("status", a.StatusCode),
		slog.String("outcome", outcomeName(o)),
		slog.Duration("duration", a.Duration),
	}
	if id := eventID(d.Body); id != "" {
		attrs = append(attrs, slog.String("event_id", id))
	}
	if a.Error != "" {
		attrs = append(attrs, slog.String("error", a.Error))
	}
	p.logger.LogAttrs(ctx, slog.LevelDebug, "delivery attempt", attrs...)
}

// eventIDPaths are where the webhook bodies name the Sentry event they are
// about: a Service Hook's event, a Sentry App's error or event alert.
var eventIDPaths = []string{"event.event_id", "data.error.event_id", "data.event.event_id"}

// eventID returns the Sentry event id a webhook body names, or "".
func eventID(body []byte) string {
	for _, path := range eventIDPaths {
		if r := gjson.GetBytes(body, path); r.Type == gjson.String {
			return r.Str
		}
	}
	return ""
}
