package ingest

import (
	"net/http"
	"net/url"
	"strings"
)

// PublicKey returns the DSN public key a request authenticates with, or ""
// when it carries none. SDKs send it in one of four places, looked at in this
// order: the X-Sentry-Auth header ("Sentry sentry_key=abc, sentry_version=7,
// ..."), an Authorization header with the Sentry scheme (some SDKs), the
// sentry_key query parameter (the JavaScript SDK in browsers), or the dsn of
// the envelope header ("https://PUBLIC@host/PROJECT_ID"), passed as
// envelopeDSN.
func PublicKey(r *http.Request, envelopeDSN string) string {
	if k := authHeaderKey(r.Header.Get("X-Sentry-Auth")); k != "" {
		return k
	}
	if k := authHeaderKey(r.Header.Get("Authorization")); k != "" {
		return k
	}
	if r.URL != nil && r.URL.RawQuery != "" {
		if k := strings.TrimSpace(r.URL.Query().Get("sentry_key")); k != "" {
			return k
		}
	}
	return dsnKey(envelopeDSN)
}

// authHeaderKey returns the sentry_key of a Sentry auth header value, such as
// "Sentry sentry_key=abc, sentry_version=7". The "Sentry" scheme may be
// missing; any other scheme ("Bearer ...") yields "".
func authHeaderKey(v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	if scheme, rest, ok := strings.Cut(v, " "); ok && !strings.Contains(scheme, "=") {
		if !strings.EqualFold(scheme, "Sentry") {
			return ""
		}
		v = rest
	}
	for part := range strings.SplitSeq(v, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && strings.TrimSpace(name) == "sentry_key" {
			return strings.Trim(strings.TrimSpace(value), `"`)
		}
	}
	return ""
}

// dsnKey returns the public key of a DSN such as
// "https://PUBLIC[:SECRET]@host/PROJECT_ID", or "" if it has none.
func dsnKey(dsn string) string {
	if dsn == "" {
		return ""
	}
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return ""
	}
	return u.User.Username()
}
