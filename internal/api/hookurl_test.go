package api

import (
	"errors"
	"testing"

	"github.com/herald-dev/herald"
)

// TestHookURLFields checks that the Service Hook url and the Sentry App
// webhookUrl and redirectUrl answer a refused URL with herald.URLProblem's
// message against the field.
func TestHookURLFields(t *testing.T) {
	t.Parallel()
	tok := &herald.Token{Scopes: herald.Scopes}
	tests := []struct {
		name  string
		field string
		url   string
		want  string
	}{
		{"HookPort", "url", "http://a:99999/", herald.MsgInvalidURL},
		{"HookLineSeparator", "url", "https://exa\u2028mple.com/", herald.MsgInvalidURL},
		{"HookUserinfo", "url", "https://user:pass@example.com/", herald.MsgURLUserinfo},
		{"HookUnicodeHost", "url", "https://b\u00fccher.example/", herald.MsgURLUnicodeHost},
		{"AppWebhookPort", "webhookUrl", "http://a:0/", herald.MsgInvalidURL},
		{"AppWebhookZeroWidthSpace", "webhookUrl", "https://exa\u200bmple.com/", herald.MsgInvalidURL},
		{"AppWebhookUserinfo", "webhookUrl", "https://user:pass@example.com/", herald.MsgURLUserinfo},
		{"AppRedirectEmptyPort", "redirectUrl", "https://example.com:/", herald.MsgInvalidURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var err error
			if tt.field == "url" {
				events := []string{herald.HookEventCreated}
				_, err = (&hookInput{URL: &tt.url, Events: &events}).validate(true)
			} else {
				name, author, ok := "Pager", "Acme", "https://pager.example/h"
				in := &appInput{Name: &name, Author: &author, WebhookURL: &ok}
				if tt.field == "webhookUrl" {
					in.WebhookURL = &tt.url
				} else {
					in.RedirectURL = &tt.url
				}
				_, err = in.validate(&herald.SentryApp{Status: herald.AppUnpublished}, true, &auth{token: tok})
			}
			var fields herald.FieldErrors
			if !errors.As(err, &fields) {
				t.Fatalf("validate error = %v, want a field error", err)
			}
			if got := fields[tt.field]; len(got) != 1 || got[0] != tt.want {
				t.Fatalf("%s errors = %q, want [%q] (all: %v)", tt.field, got, tt.want, fields)
			}
		})
	}
}
