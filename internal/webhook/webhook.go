// Package webhook holds Herald's webhook catalog (the event names and the
// resources they belong to), the builders of the bodies Herald sends, and the
// signature that goes with each body.
//
// Bodies are compact JSON built once per delivery, with keys in the order
// Sentry sends them and without HTML escaping, so the bytes a receiver
// verifies its HMAC over are the bytes Herald signed.
package webhook

import (
	"bytes"
	"encoding/json"

	"github.com/herald-dev/herald/sentryhook"
)

// Sign is sentryhook.Sign, the one signing function receivers verify with:
// the lowercase hex HMAC-SHA256 of body keyed with the secret's bytes. It is
// the value of the X-ServiceHook-Signature, X-Sentry-Hook-Signature and
// Sentry-Hook-Signature headers.
func Sign(secret string, body []byte) string { return sentryhook.Sign(secret, body) }

// encode marshals v as compact JSON without HTML escaping and without the
// trailing newline json.Encoder adds. Struct fields keep their declared
// order.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	b = bytes.TrimSuffix(b, []byte("\n"))
	return b[:len(b):len(b)], nil
}
