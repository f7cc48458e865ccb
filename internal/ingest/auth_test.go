package ingest

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestPublicKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target string
		header map[string]string
		dsn    string
		want   string
	}{
		{"XSentryAuth", "/api/1/envelope/", map[string]string{"X-Sentry-Auth": "Sentry sentry_version=7, sentry_client=sentry.go/0.50.0, sentry_key=abc123"}, "", "abc123"},
		{"XSentryAuthKeyFirst", "/", map[string]string{"X-Sentry-Auth": "Sentry sentry_key=abc, sentry_version=7, sentry_secret=s"}, "", "abc"},
		{"XSentryAuthNoScheme", "/", map[string]string{"X-Sentry-Auth": "sentry_key=abc,sentry_version=7"}, "", "abc"},
		{"XSentryAuthQuoted", "/", map[string]string{"X-Sentry-Auth": `Sentry sentry_key="abc"`}, "", "abc"},
		{"AuthorizationSentry", "/", map[string]string{"Authorization": "Sentry sentry_key=abc, sentry_version=7"}, "", "abc"},
		{"AuthorizationBearerIgnored", "/", map[string]string{"Authorization": "Bearer sentry_key=abc"}, "", ""},
		{"Query", "/api/1/envelope/?sentry_key=abc&sentry_version=7&sentry_client=sentry.javascript.browser%2F8.0.0", nil, "", "abc"},
		{"DSN", "/", nil, "https://abc@o1.ingest.example.com/1", "abc"},
		{"DSNWithSecret", "/", nil, "http://abc:secret@127.0.0.1:8080/1", "abc"},
		{"HeaderWinsOverDSN", "/", map[string]string{"X-Sentry-Auth": "Sentry sentry_key=hdr"}, "https://dsn@h/1", "hdr"},
		{"QueryWinsOverDSN", "/?sentry_key=q", nil, "https://dsn@h/1", "q"},
		{"DSNWithoutKey", "/", nil, "https://h/1", ""},
		{"DSNBroken", "/", nil, "://", ""},
		{"None", "/", map[string]string{"X-Sentry-Auth": "Sentry sentry_version=7"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("POST", tt.target, nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if got := PublicKey(r, tt.dsn); got != tt.want {
				t.Errorf("PublicKey = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzPublicKey checks the DSN key parsers: a key written in any of the
// places SDKs put it is read back as written, and PublicKey takes the first
// place that has one, in the documented order.
func FuzzPublicKey(f *testing.F) {
	f.Add(testKey, "Sentry sentry_version=7, sentry_client=sentry.go/0.50.0, sentry_key="+testKey, "sentry_key="+testKey+"&sentry_version=7", "https://"+testKey+"@herald.example.com/42")
	f.Add("abc", `Sentry sentry_key="abc", sentry_secret=s`, "", "http://abc:secret@127.0.0.1:8080/1")
	f.Add("k=v", "sentry_key=k=v,sentry_version=7", "sentry_key=%20q%20", "://")
	f.Add("", "Bearer sentry_key=abc", "sentry_key=", "https://h/1")
	f.Fuzz(func(t *testing.T, key, header, query, dsn string) {
		// Written by an SDK, a key is read back as it was written.
		if key != "" && !strings.ContainsAny(key, ",\"") && strings.TrimSpace(key) == key {
			for _, h := range []string{
				"Sentry sentry_key=" + key + ", sentry_version=7",
				"Sentry sentry_version=7, sentry_client=x/1.0, sentry_key=" + key,
				"sentry_key=" + key + ",sentry_version=7",
				`Sentry sentry_key="` + key + `"`,
			} {
				if got := authHeaderKey(h); got != key {
					t.Fatalf("authHeaderKey(%q) = %q, want %q", h, got, key)
				}
			}
		}
		for _, u := range []*url.URL{
			{Scheme: "https", User: url.User(key), Host: "herald.example.com", Path: "/42"},
			{Scheme: "http", User: url.UserPassword(key, "secret"), Host: "127.0.0.1:8080", Path: "/1"},
		} {
			if got := dsnKey(u.String()); got != key {
				t.Fatalf("dsnKey(%q) = %q, want %q", u.String(), got, key)
			}
		}

		// Whatever the input, a key read from a header never spans
		// parameters, and PublicKey takes the first place with a key.
		hk := authHeaderKey(header)
		if strings.Contains(hk, ",") {
			t.Fatalf("authHeaderKey(%q) = %q", header, hk)
		}
		r := httptest.NewRequest("POST", "/api/42/envelope/", nil)
		r.Header.Set("X-Sentry-Auth", header)
		r.URL.RawQuery = query
		want := hk
		if want == "" {
			want = strings.TrimSpace(r.URL.Query().Get("sentry_key"))
		}
		if want == "" {
			want = dsnKey(dsn)
		}
		if got := PublicKey(r, dsn); got != want {
			t.Fatalf("PublicKey(X-Sentry-Auth %q, query %q, dsn %q) = %q, want %q", header, query, dsn, got, want)
		}
	})
}
