// Package sentryhooktest helps test webhook receivers: it holds a sample
// body of every event Sentry and Herald send, and builds signed requests
// carrying exactly the headers Herald sends with them.
//
// The samples tell one story: organization "acme", project "web", issue
// 1170 (WEB-1, a TypeError in fetchUser), event
// 9fac2ceed9344f2bbfdd1fdacb0ed9b1, the Sentry App "acme-pager" installed as
// a8e5d37a-696c-4c54-aac1-4a51b40ce7d9, and Jane Doe (user 1) acting on the
// issue.
package sentryhooktest

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/herald-dev/herald/sentryhook"
)

//go:embed payloads/*.json
var payloads embed.FS

// events lists every event, Service Hook events first, then the Sentry App
// events by resource.
var events = []string{
	"event.alert",
	"event.created",
	"issue.created",
	"issue.resolved",
	"issue.ignored",
	"issue.assigned",
	"issue.unresolved",
	"error.created",
	"comment.created",
	"comment.updated",
	"comment.deleted",
	"installation.created",
	"installation.deleted",
	"metric_alert.open",
	"metric_alert.warning",
	"metric_alert.critical",
	"metric_alert.resolved",
	"event_alert.triggered",
}

// Events returns the name of every event with a sample.
func Events() []string { return append([]string(nil), events...) }

// ServiceHook reports whether event is a Service Hook event (event.created
// or event.alert) rather than a Sentry App one.
func ServiceHook(event string) bool {
	return event == "event.created" || event == "event.alert"
}

// Payload returns the sample body of event as compact JSON, the form in
// which it goes on the wire, or an error naming the events there are.
func Payload(event string) ([]byte, error) {
	b, err := payloads.ReadFile("payloads/" + event + ".json")
	if err != nil {
		return nil, fmt.Errorf("sentryhooktest: no sample for %q (events: %s)", event, strings.Join(events, ", "))
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, fmt.Errorf("sentryhooktest: compact %s: %w", event, err)
	}
	return buf.Bytes(), nil
}

// MustPayload is Payload that panics on an unknown event.
func MustPayload(event string) []byte {
	b, err := Payload(event)
	if err != nil {
		panic(err)
	}
	return b
}

// NewRequest returns a POST of body to url as Herald delivers event: for a
// Service Hook event with X-Sentry-Hook-Signature, X-ServiceHook-Signature,
// X-ServiceHook-Timestamp and X-ServiceHook-GUID; for a Sentry App event with
// Sentry-Hook-Resource (the part of event before the dot),
// Sentry-Hook-Timestamp and Sentry-Hook-Signature; always with
// Content-Type, a random Request-ID and User-Agent. The signature is made
// with secret over body. The request suits both http.Client.Do and
// Handler.ServeHTTP. It panics when url is not valid, as httptest.NewRequest
// does.
func NewRequest(url, event, secret string, body []byte) *http.Request {
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		panic("sentryhooktest: " + err.Error())
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(sentryhook.HeaderRequestID, randomHex(16))
	req.Header.Set("User-Agent", "sentryhooktest")
	if ServiceHook(event) {
		req.Header.Set(sentryhook.HeaderServiceHookTimestamp, ts)
		req.Header.Set(sentryhook.HeaderServiceHookGUID, randomHex(16))
	} else {
		resource, _, _ := strings.Cut(event, ".")
		req.Header.Set(sentryhook.HeaderResource, resource)
		req.Header.Set(sentryhook.HeaderTimestamp, ts)
	}
	sentryhook.SignRequest(req, secret, body)
	return req
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
