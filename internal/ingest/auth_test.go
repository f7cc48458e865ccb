package ingest

import (
	"net/http/httptest"
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
