package sentryhook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Kind is the kind of webhook a delivery is.
type Kind string

// Delivery kinds.
const (
	// KindServiceHook is a project Service Hook delivery: event.created or
	// event.alert, the payload with no envelope.
	KindServiceHook Kind = "service_hook"
	// KindSentryApp is a Sentry App delivery: an envelope of action,
	// installation, data and actor.
	KindSentryApp Kind = "sentry_app"
)

// Resources: the Sentry-Hook-Resource values of Sentry App deliveries, and
// ResourceEvent for Service Hook deliveries.
const (
	ResourceIssue        = "issue"
	ResourceError        = "error"
	ResourceComment      = "comment"
	ResourceInstallation = "installation"
	ResourceMetricAlert  = "metric_alert"
	ResourceEventAlert   = "event_alert"
	// ResourceEvent is the resource of Service Hook deliveries, whose events
	// are event.created and event.alert.
	ResourceEvent = "event"
)

// ErrInvalidPayload means a body is not a webhook payload: not JSON, not an
// object, or missing what its kind requires. Parse wraps it with the reason.
var ErrInvalidPayload = errors.New("sentryhook: invalid payload")

// Delivery is one webhook delivery, parsed.
type Delivery struct {
	Kind Kind
	// RequestID is the Request-ID header: the delivery's id, the same on
	// every retry. Empty when the sender sent none.
	RequestID string
	// Resource and Action name the event: "issue" and "created" for
	// issue.created; "event" and "created" or "alert" for Service Hooks.
	Resource string
	Action   string
	// Timestamp is when the sender made the delivery, from the timestamp
	// header; zero when it is missing or not a unix second.
	Timestamp time.Time
	// HookID is the Service Hook's id (X-ServiceHook-GUID).
	HookID string
	// Installation is the Sentry App installation the delivery is for.
	Installation Installation
	// Actor is who caused a Sentry App event.
	Actor Actor
	// Data is the raw payload: the envelope's data for Sentry App
	// deliveries, the whole body for Service Hooks.
	Data json.RawMessage
	// Payload is Data decoded into the resource's type (see the package
	// documentation), or nil for resources this package does not know.
	Payload any
	// Body is the request body exactly as received.
	Body []byte
}

// Event returns the event name, such as "issue.created".
func (d *Delivery) Event() string { return d.Resource + "." + d.Action }

// DedupeKey returns the key that identifies d among retries and
// redeliveries: "request:" and the Request-ID when there is one; for a
// Service Hook without one, "event:", the event id, ":" and the event name;
// otherwise "body:" and the SHA-256 of the body in hex.
func (d *Delivery) DedupeKey() string {
	if d.RequestID != "" {
		return "request:" + d.RequestID
	}
	if p, ok := d.Payload.(*ServiceHookPayload); ok && p.Event.EventID != "" {
		return "event:" + p.Event.EventID + ":" + d.Event()
	}
	sum := sha256.Sum256(d.Body)
	return "body:" + hex.EncodeToString(sum[:])
}

// Installation is the Sentry App installation of an envelope.
type Installation struct {
	UUID string `json:"uuid"`
}

// Actor types.
const (
	ActorUser        = "user"
	ActorApplication = "application"
)

// Actor is who caused a Sentry App event: a user (Type "user", ID the user
// id), an app with its own token (Type "application", ID the app uuid), or
// Sentry itself (Type "application", ID "sentry").
type Actor struct {
	Type string `json:"type"`
	// ID is the user id in decimal or the application id: senders write
	// user ids as numbers and application ids as strings.
	ID   string `json:"id"`
	Name string `json:"name"`
}

// UnmarshalJSON reads an actor whose id is a string or a number.
func (a *Actor) UnmarshalJSON(b []byte) error {
	var v struct {
		Type string          `json:"type"`
		ID   json.RawMessage `json:"id"`
		Name string          `json:"name"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	a.Type, a.Name, a.ID = v.Type, v.Name, ""
	switch id := bytes.TrimSpace(v.ID); {
	case len(id) == 0 || string(id) == "null":
	case id[0] == '"':
		if err := json.Unmarshal(id, &a.ID); err != nil {
			return fmt.Errorf("actor id: %w", err)
		}
	case id[0] == '-' || (id[0] >= '0' && id[0] <= '9'):
		var n json.Number
		if err := json.Unmarshal(id, &n); err != nil {
			return fmt.Errorf("actor id: %w", err)
		}
		a.ID = n.String()
	default:
		return errors.New("actor id is neither a string nor a number")
	}
	return nil
}

// envelope is a Sentry App body, with the keys of a Service Hook body that
// tell the two apart.
type envelope struct {
	Action          *string         `json:"action"`
	Installation    *Installation   `json:"installation"`
	Data            json.RawMessage `json:"data"`
	Actor           *Actor          `json:"actor"`
	TriggeringRules json.RawMessage `json:"triggering_rules"`
	Event           json.RawMessage `json:"event"`
}

// Parse reads a delivery from its request headers and raw body. It does not
// verify the signature: call VerifyHeader first.
//
// The kind comes from the headers (Sentry-Hook-Resource or
// Sentry-Hook-Signature mean a Sentry App; a Service Hook header means a
// Service Hook) or, when they say nothing, from the body: an object with
// "action" and "data" is a Sentry App envelope, anything else a Service Hook
// body. A Sentry App delivery without Sentry-Hook-Resource gets the resource
// its data's keys imply. h may be nil.
//
// Errors wrap ErrInvalidPayload and say what is wrong.
func Parse(h http.Header, body []byte) (*Delivery, error) {
	if h == nil {
		h = http.Header{}
	}
	if !bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("{")) {
		return nil, invalid("body is not a JSON object")
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, invalid("body: %s", jsonReason(err))
	}
	d := &Delivery{
		RequestID: h.Get(HeaderRequestID),
		Body:      body,
	}
	switch kindOf(h, &env) {
	case KindSentryApp:
		if err := d.parseApp(h, &env); err != nil {
			return nil, err
		}
	default:
		if err := d.parseServiceHook(h, body); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// kindOf tells a Sentry App delivery from a Service Hook one.
func kindOf(h http.Header, env *envelope) Kind {
	switch {
	case h.Get(HeaderResource) != "" || h.Get(HeaderSignature) != "" || h.Get(HeaderTimestamp) != "":
		return KindSentryApp
	case h.Get(HeaderServiceHookSignature) != "" || h.Get(HeaderSentryHookSignature) != "" ||
		h.Get(HeaderServiceHookGUID) != "" || h.Get(HeaderServiceHookTimestamp) != "":
		return KindServiceHook
	case env.Action != nil && env.Data != nil:
		return KindSentryApp
	}
	return KindServiceHook
}

func (d *Delivery) parseApp(h http.Header, env *envelope) error {
	d.Kind = KindSentryApp
	d.Timestamp = unixHeader(h.Get(HeaderTimestamp))
	if env.Action == nil || *env.Action == "" {
		return invalid(`envelope has no "action"`)
	}
	if env.Data == nil || string(env.Data) == "null" {
		return invalid(`envelope has no "data"`)
	}
	if !bytes.HasPrefix(env.Data, []byte("{")) {
		return invalid(`envelope "data" is not an object`)
	}
	d.Action = *env.Action
	d.Data = env.Data
	if env.Installation != nil {
		d.Installation = *env.Installation
	}
	if env.Actor != nil {
		d.Actor = *env.Actor
	}
	d.Resource = strings.TrimSpace(h.Get(HeaderResource))
	if d.Resource == "" {
		d.Resource = resourceOf(env.Data)
		if d.Resource == "" {
			return invalid("no %s header and the data does not say which resource it is", HeaderResource)
		}
	}
	p := newPayload(d.Resource)
	if p == nil {
		return nil
	}
	if err := json.Unmarshal(env.Data, p); err != nil {
		return invalid("%s data: %s", d.Resource, jsonReason(err))
	}
	d.Payload = p
	return nil
}

func (d *Delivery) parseServiceHook(h http.Header, body []byte) error {
	d.Kind = KindServiceHook
	d.Timestamp = unixHeader(h.Get(HeaderServiceHookTimestamp))
	d.HookID = h.Get(HeaderServiceHookGUID)
	d.Resource = ResourceEvent
	d.Data = body
	var p ServiceHookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return invalid("service hook body: %s", jsonReason(err))
	}
	d.Action = "created"
	if len(p.TriggeringRules) > 0 {
		d.Action = "alert"
	}
	d.Payload = &p
	return nil
}

// newPayload returns a pointer to the payload type of resource, or nil.
func newPayload(resource string) any {
	switch resource {
	case ResourceIssue:
		return new(IssuePayload)
	case ResourceError:
		return new(ErrorPayload)
	case ResourceComment:
		return new(CommentPayload)
	case ResourceInstallation:
		return new(InstallationPayload)
	case ResourceMetricAlert:
		return new(MetricAlertPayload)
	case ResourceEventAlert:
		return new(EventAlertPayload)
	}
	return nil
}

// resourceOf guesses the resource of Sentry App data from its keys.
func resourceOf(data json.RawMessage) string {
	var keys map[string]json.RawMessage
	if json.Unmarshal(data, &keys) != nil {
		return ""
	}
	has := func(k string) bool { _, ok := keys[k]; return ok }
	switch {
	case has("issue"):
		return ResourceIssue
	case has("error"):
		return ResourceError
	case has("comment_id"):
		return ResourceComment
	case has("installation"):
		return ResourceInstallation
	case has("metric_alert"):
		return ResourceMetricAlert
	case has("triggered_rule"):
		return ResourceEventAlert
	}
	return ""
}

// unixHeader reads a unix-seconds header, or returns the zero time.
func unixHeader(v string) time.Time {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidPayload}, args...)...)
}

// jsonReason shortens a decoding error to what is wrong and where.
func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		// Drop the name of the alias types custom decoders embed.
		field := strings.ReplaceAll(te.Field, "plain.", "")
		if field != "" {
			return fmt.Sprintf("%q is a JSON %s, want %s", field, te.Value, te.Type)
		}
		return fmt.Sprintf("found a JSON %s, want %s", te.Value, te.Type)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	}
	return err.Error()
}
