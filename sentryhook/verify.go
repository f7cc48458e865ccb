package sentryhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Request headers of Sentry and Herald webhook deliveries.
const (
	// HeaderSignature carries the signature of Sentry App deliveries.
	HeaderSignature = "Sentry-Hook-Signature"
	// HeaderResource names the resource of Sentry App deliveries.
	HeaderResource = "Sentry-Hook-Resource"
	// HeaderTimestamp is the unix second a Sentry App delivery was made.
	HeaderTimestamp = "Sentry-Hook-Timestamp"

	// HeaderServiceHookSignature carries the signature of Service Hook
	// deliveries, under the name Sentry sends.
	HeaderServiceHookSignature = "X-ServiceHook-Signature"
	// HeaderSentryHookSignature carries the signature of Service Hook
	// deliveries, under the name Sentry's documentation uses.
	HeaderSentryHookSignature = "X-Sentry-Hook-Signature"
	// HeaderServiceHookTimestamp is the unix second a Service Hook delivery
	// was made.
	HeaderServiceHookTimestamp = "X-ServiceHook-Timestamp"
	// HeaderServiceHookGUID is the id of the Service Hook.
	HeaderServiceHookGUID = "X-ServiceHook-GUID"

	// HeaderRequestID is the delivery id, the same on every retry.
	HeaderRequestID = "Request-ID"
)

// DefaultMaxBodyBytes is the body size ReadBody and Handler accept when told
// nothing else.
const DefaultMaxBodyBytes = 2 << 20

// signatureLen is the length of a signature: 32 bytes in hex.
const signatureLen = 2 * sha256.Size

// Errors of verification. They never carry a secret or a computed signature.
var (
	// ErrNoSecret means no secret, or an empty one, was given to verify
	// with. An empty key would let anyone sign.
	ErrNoSecret = errors.New("sentryhook: no secret to verify with (secrets must not be empty)")
	// ErrMissingSignature means the request carries no signature header, or
	// an empty one.
	ErrMissingSignature = errors.New("sentryhook: missing signature")
	// ErrMalformedSignature means the signature is not 64 hex characters, or
	// the two Service Hook signature headers disagree.
	ErrMalformedSignature = errors.New("sentryhook: malformed signature")
	// ErrSignatureMismatch means the signature is well formed but was not
	// made with any of the secrets over this body.
	ErrSignatureMismatch = errors.New("sentryhook: signature mismatch")
	// ErrBodyTooLarge means the body is longer than allowed.
	ErrBodyTooLarge = errors.New("sentryhook: body too large")
)

// Sign returns the signature of body: the lowercase hex HMAC-SHA256 of body
// keyed with the bytes of secret.
func Sign(secret string, body []byte) string {
	return hex.EncodeToString(mac(secret, body))
}

func mac(secret string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks that signature is the signature of body under one of
// secrets. The comparison takes the same time whichever secret matches and
// wherever the signature differs. It returns nil, ErrNoSecret,
// ErrMissingSignature, ErrMalformedSignature or ErrSignatureMismatch.
//
// The signature may be in upper or lower case; Sentry and Herald send lower
// case.
func Verify(body []byte, signature string, secrets ...string) error {
	if err := checkSecrets(secrets); err != nil {
		return err
	}
	if signature == "" {
		return ErrMissingSignature
	}
	if len(signature) != signatureLen {
		return ErrMalformedSignature
	}
	got, err := hex.DecodeString(signature)
	if err != nil {
		return ErrMalformedSignature
	}
	match := 0
	for _, s := range secrets {
		match |= subtle.ConstantTimeCompare(mac(s, body), got)
	}
	if match != 1 {
		return ErrSignatureMismatch
	}
	return nil
}

// checkSecrets returns ErrNoSecret unless there is at least one secret and
// none is empty.
func checkSecrets(secrets []string) error {
	if len(secrets) == 0 {
		return ErrNoSecret
	}
	for _, s := range secrets {
		if s == "" {
			return ErrNoSecret
		}
	}
	return nil
}

// Signature returns the signature a request's headers carry and the name of
// the header it came from. Sentry-Hook-Signature (Sentry App) wins over the
// Service Hook headers; when both Service Hook headers are present they must
// be equal. It returns ErrMissingSignature when there is none and
// ErrMalformedSignature when the Service Hook headers disagree.
func Signature(h http.Header) (signature, header string, err error) {
	if s := h.Get(HeaderSignature); s != "" {
		return s, HeaderSignature, nil
	}
	sentry, doc := h.Get(HeaderServiceHookSignature), h.Get(HeaderSentryHookSignature)
	switch {
	case sentry != "" && doc != "" && sentry != doc:
		return "", "", fmt.Errorf("%w: %s and %s differ", ErrMalformedSignature, HeaderServiceHookSignature, HeaderSentryHookSignature)
	case sentry != "":
		return sentry, HeaderServiceHookSignature, nil
	case doc != "":
		return doc, HeaderSentryHookSignature, nil
	}
	return "", "", ErrMissingSignature
}

// VerifyHeader checks the signature that h carries (see Signature) against
// body with Verify.
func VerifyHeader(h http.Header, body []byte, secrets ...string) error {
	if err := checkSecrets(secrets); err != nil {
		return err
	}
	sig, _, err := Signature(h)
	if err != nil {
		return err
	}
	return Verify(body, sig, secrets...)
}

// ReadBody reads the body of r, at most maxBytes of it (DefaultMaxBodyBytes
// when maxBytes <= 0), and returns ErrBodyTooLarge when it is longer. It
// refuses a body whose declared Content-Length is too long without reading
// it.
func ReadBody(r *http.Request, maxBytes int64) ([]byte, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBodyBytes
	}
	if r.ContentLength > maxBytes {
		return nil, ErrBodyTooLarge
	}
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, ErrBodyTooLarge
		}
		return nil, fmt.Errorf("sentryhook: read body: %w", err)
	}
	if int64(len(body)) > maxBytes {
		return nil, ErrBodyTooLarge
	}
	return body, nil
}

// SignRequest makes req a signed delivery of body: it sets req's body to
// body and the signature of body under secret in the headers that go with
// req's kind: Sentry-Hook-Signature when req carries a Sentry-Hook-Resource
// header, else both Service Hook signature headers. Tests use it to build
// requests a receiver must accept.
func SignRequest(req *http.Request, secret string, body []byte) {
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	sig := Sign(secret, body)
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	if req.Header.Get(HeaderResource) != "" {
		req.Header.Set(HeaderSignature, sig)
		return
	}
	req.Header.Set(HeaderServiceHookSignature, sig)
	req.Header.Set(HeaderSentryHookSignature, sig)
}
