package herald_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/herald-dev/herald"
)

func TestCleanHookEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		events []string
		want   []string
		msg    string
	}{
		// No event is valid, as Sentry's ServiceHookValidator allows: the
		// hook is sent nothing.
		{"OKNone", nil, []string{}, ""},
		{"OKEmpty", []string{}, []string{}, ""},
		{"OKSortedUnique", []string{"event.created", "event.alert", "event.created"}, []string{"event.alert", "event.created"}, ""},
		{"ErrUnknown", []string{"event.created", "issue.created"}, nil, "Invalid event name: issue.created"},
		{"ErrTooMany", slices.Repeat([]string{"event.created"}, herald.MaxHookEvents+1), nil, "Ensure this field has no more than 100 elements."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, msg := herald.CleanHookEvents(tt.events)
			if msg != tt.msg || (tt.msg == "" && !slices.Equal(got, tt.want)) || (tt.msg == "" && got == nil) {
				t.Fatalf("CleanHookEvents(%q) = %q, %q; want %q, %q", tt.events, got, msg, tt.want, tt.msg)
			}
		})
	}
	t.Run("NoEventsSubscribesToNothing", func(t *testing.T) {
		t.Parallel()
		h := &herald.Hook{URL: "https://example.com/h", Status: herald.HookActive}
		if err := h.Validate(); err != nil {
			t.Fatalf("Validate = %v", err)
		}
		for _, e := range herald.HookEvents {
			if h.Subscribes(e) {
				t.Fatalf("a hook without events subscribes to %s", e)
			}
		}
	})
}

func TestCleanWebhookHeaders(t *testing.T) {
	t.Parallel()
	type hs = []herald.WebhookHeader
	h := func(kv ...string) hs {
		var out hs
		for i := 0; i < len(kv); i += 2 {
			out = append(out, herald.WebhookHeader{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	many := func(n int) hs {
		var out hs
		for i := range n {
			out = append(out, herald.WebhookHeader{Key: "X-H" + strings.Repeat("a", i+1), Value: "v"})
		}
		return out
	}
	tests := []struct {
		name string
		in   hs
		want hs
		msgs []string
	}{
		{"OKNone", nil, hs{}, nil},
		{"OKCanonicalTrimmed", h("x-api-key", " \tsecret value\t ", "authorization", "Bearer abc"),
			h("X-Api-Key", "secret value", "Authorization", "Bearer abc"), nil},
		{"OKTokenCharacters", h("X-My_Header.v2!#$%&'*+^`|~", "a"), h("X-My_header.v2!#$%&'*+^`|~", "a"), nil},
		{"OKUnicodeValue", h("X-Team", "Équipe\tA"), h("X-Team", "Équipe\tA"), nil},
		{"OKAtBounds", h(strings.Repeat("x", herald.MaxWebhookHeaderNameLength), strings.Repeat("v", herald.MaxWebhookHeaderValueLength)),
			h(strings.Repeat("X", 1)+strings.Repeat("x", herald.MaxWebhookHeaderNameLength-1), strings.Repeat("v", herald.MaxWebhookHeaderValueLength)), nil},
		{"OKMaxCount", many(herald.MaxWebhookHeaders), nil, nil},

		{"ErrBlankName", h("  ", "v"), nil, []string{"A header name may not be blank."}},
		{"ErrNameSpace", h("X Api", "v"), nil, []string{`Invalid header name: "X Api".`}},
		{"ErrNameColon", h("X-Api:", "v"), nil, []string{`Invalid header name: "X-Api:".`}},
		{"ErrNameNewline", h("X-A\nB", "v"), nil, []string{`Invalid header name: "X-A\nB".`}},
		{"ErrNameNonASCII", h("X-Ünï", "v"), nil, []string{`Invalid header name: "X-Ünï".`}},
		{"ErrNamePseudo", h(":authority", "v"), nil, []string{`Invalid header name: ":authority".`}},
		{"ErrNameTooLong", h(strings.Repeat("x", herald.MaxWebhookHeaderNameLength+1), "v"), nil,
			[]string{"Ensure each header name has no more than 128 characters."}},
		{"ErrConnection", h("connection", "close"), nil, []string{"Connection is a hop-by-hop header and cannot be set."}},
		{"ErrKeepAlive", h("Keep-Alive", "timeout=5"), nil, []string{"Keep-Alive is a hop-by-hop header and cannot be set."}},
		{"ErrProxyAuthorization", h("proxy-authorization", "Basic x"), nil, []string{"Proxy-Authorization is a hop-by-hop header and cannot be set."}},
		{"ErrProxyConnection", h("Proxy-Connection", "keep-alive"), nil, []string{"Proxy-Connection is a hop-by-hop header and cannot be set."}},
		{"ErrTE", h("te", "trailers"), nil, []string{"TE is a hop-by-hop header and cannot be set."}},
		{"ErrTrailer", h("Trailer", "X"), nil, []string{"Trailer is a hop-by-hop header and cannot be set."}},
		{"ErrTransferEncoding", h("Transfer-Encoding", "chunked"), nil, []string{"Transfer-Encoding is a hop-by-hop header and cannot be set."}},
		{"ErrUpgrade", h("Upgrade", "h2c"), nil, []string{"Upgrade is a hop-by-hop header and cannot be set."}},
		{"ErrHost", h("HOST", "internal.example"), nil, []string{"Host is a hop-by-hop header and cannot be set."}},
		{"ErrContentLength", h("Content-Length", "0"), nil, []string{"Content-Length is a hop-by-hop header and cannot be set."}},
		{"ErrContentType", h("content-type", "text/plain"), nil, []string{"Content-Type is set by Herald and cannot be changed."}},
		{"ErrRequestID", h("Request-Id", "x"), nil, []string{"Request-ID is set by Herald and cannot be changed."}},
		{"ErrUserAgent", h("User-Agent", "x"), nil, []string{"User-Agent is set by Herald and cannot be changed."}},
		{"ErrSentryHookSignature", h("sentry-hook-signature", "forged"), nil, []string{"Sentry-Hook-Signature is set by Herald and cannot be changed."}},
		{"ErrSentryHookAny", h("Sentry-Hook-Whatever", "x"), nil, []string{"Sentry-Hook-Whatever is set by Herald and cannot be changed."}},
		{"ErrSentryHookError", h("Sentry-Hook-Error", "x"), nil, []string{"Sentry-Hook-Error is set by Herald and cannot be changed."}},
		{"ErrServiceHookSignature", h("X-ServiceHook-Signature", "x"), nil, []string{"X-ServiceHook-Signature is set by Herald and cannot be changed."}},
		{"ErrXSentryHookSignature", h("x-sentry-hook-signature", "x"), nil, []string{"X-Sentry-Hook-Signature is set by Herald and cannot be changed."}},
		{"ErrBlankValue", h("X-Api-Key", " \t "), nil, []string{"X-Api-Key: the value may not be blank."}},
		{"ErrValueNewline", h("X-Api-Key", "a\r\nX-Injected: 1"), nil, []string{"X-Api-Key: the value must be text without control characters."}},
		{"ErrValueNUL", h("X-Api-Key", "a\x00b"), nil, []string{"X-Api-Key: the value must be text without control characters."}},
		{"ErrValueDEL", h("X-Api-Key", "a\x7fb"), nil, []string{"X-Api-Key: the value must be text without control characters."}},
		{"ErrValueInvalidUTF8", h("X-Api-Key", "a\xffb"), nil, []string{"X-Api-Key: the value must be text without control characters."}},
		{"ErrValueTooLong", h("X-Api-Key", strings.Repeat("v", herald.MaxWebhookHeaderValueLength+1)), nil,
			[]string{"X-Api-Key: ensure the value has no more than 1024 bytes."}},
		{"ErrDuplicate", h("X-Api-Key", "a", "x-api-key", "b"), nil, []string{"X-Api-Key is given more than once."}},
		{"ErrTooMany", many(herald.MaxWebhookHeaders + 1), nil, []string{"Ensure this field has no more than 20 elements."}},
		{"ErrTooLarge", func() hs {
			var out hs
			for i := range 10 {
				out = append(out, herald.WebhookHeader{Key: "X-Big-" + string(rune('a'+i)), Value: strings.Repeat("v", 1000)})
			}
			return out
		}(), nil, []string{"Ensure the headers hold no more than 8192 bytes in all."}},
		{"ErrEveryProblem", h("Connection", "close", "X-Ok", "", "Bad Name", "v"), nil, []string{
			"Connection is a hop-by-hop header and cannot be set.", "X-Ok: the value may not be blank.", `Invalid header name: "Bad Name".`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, msgs := herald.CleanWebhookHeaders(tt.in)
			if !slices.Equal(msgs, tt.msgs) {
				t.Fatalf("messages = %q, want %q", msgs, tt.msgs)
			}
			if tt.msgs != nil {
				if got != nil {
					t.Fatalf("headers = %+v along with errors", got)
				}
				return
			}
			if tt.want != nil && !slices.Equal(got, tt.want) {
				t.Fatalf("headers = %+v, want %+v", got, tt.want)
			}
			if got == nil || len(got) != len(tt.in) {
				t.Fatalf("headers = %+v for %d given", got, len(tt.in))
			}
			// What is accepted is accepted again unchanged.
			again, msgs := herald.CleanWebhookHeaders(got)
			if msgs != nil || !slices.Equal(again, got) {
				t.Fatalf("cleaning again = %+v, %q", again, msgs)
			}
		})
	}
	t.Run("MessagesNeverShowValues", func(t *testing.T) {
		t.Parallel()
		_, msgs := herald.CleanWebhookHeaders(h("Content-Type", "s3cr3t", "X-A", "s3cr3t\n", "X-A", "s3cr3t"))
		if len(msgs) == 0 || strings.Contains(strings.Join(msgs, " "), "s3cr3t") {
			t.Fatalf("messages = %q", msgs)
		}
	})
}

func TestSentryAppUpdateHeaders(t *testing.T) {
	t.Parallel()
	cur := &herald.SentryApp{Status: herald.AppInternal, Name: "Pager", WebhookURL: "https://example.com/h"}
	all := func(string) bool { return true }
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		in := &herald.SentryAppUpdate{WebhookHeaders: &[]herald.WebhookHeader{{Key: "x-api-key", Value: " k "}}}
		upd, err := in.Validate(cur, false, all)
		if err != nil || upd.WebhookHeaders == nil || !slices.Equal(*upd.WebhookHeaders, []herald.WebhookHeader{{Key: "X-Api-Key", Value: "k"}}) {
			t.Fatalf("Validate = %+v, %v", upd.WebhookHeaders, err)
		}
	})
	t.Run("OKUnchanged", func(t *testing.T) {
		t.Parallel()
		upd, err := (&herald.SentryAppUpdate{}).Validate(cur, false, all)
		if err != nil || upd.WebhookHeaders != nil {
			t.Fatalf("Validate = %+v, %v", upd.WebhookHeaders, err)
		}
	})
	t.Run("ErrFieldErrors", func(t *testing.T) {
		t.Parallel()
		in := &herald.SentryAppUpdate{WebhookHeaders: &[]herald.WebhookHeader{{Key: "Host", Value: "x"}, {Key: "X-A", Value: ""}}}
		_, err := in.Validate(cur, false, all)
		var fe herald.FieldErrors
		if !errors.As(err, &fe) || !slices.Equal(fe["webhookHeaders"], []string{"Host is a hop-by-hop header and cannot be set.", "X-A: the value may not be blank."}) {
			t.Fatalf("err = %#v", err)
		}
	})
	t.Run("ErrAppValidate", func(t *testing.T) {
		t.Parallel()
		app := *cur
		app.WebhookHeaders = []herald.WebhookHeader{{Key: "Sentry-Hook-Resource", Value: "issue"}}
		err := app.Validate()
		var fe herald.FieldErrors
		if !errors.As(err, &fe) || len(fe["webhookHeaders"]) != 1 {
			t.Fatalf("Validate = %v", err)
		}
	})
}
