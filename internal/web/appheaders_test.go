package web_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald"
)

// TestAppWebhookHeadersForm checks the Webhook headers field of an
// integration's form: one "Name: value" a line, checked as the API checks
// them, shown again to edit, its values hidden from those who may not
// change the integration.
func TestAppWebhookHeadersForm(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	e.person(t, "member@acme.example", herald.RoleMember)
	b := e.signIn(t, e.User.Email)
	app, _ := e.createApp(t, b, true, appForm("Pager", func(f url.Values) {
		f.Set("webhookHeaders", "x-api-key:  k-123 \r\n\r\nAuthorization: Bearer t:with:colons\r\n")
	}, "issue"))
	want := []herald.WebhookHeader{{Key: "X-Api-Key", Value: "k-123"}, {Key: "Authorization", Value: "Bearer t:with:colons"}}
	if !slices.Equal(app.WebhookHeaders, want) {
		t.Fatalf("headers = %+v, want %+v", app.WebhookHeaders, want)
	}
	appURL := appsURL + app.Slug + "/"
	b.get(appURL).mustContain(t, `name="webhookHeaders"`, "X-Api-Key: k-123\nAuthorization: Bearer t:with:colons\n</textarea>")

	t.Run("ReadOnlyHidesValues", func(t *testing.T) {
		p := e.signIn(t, "member@acme.example").get(appURL)
		if p.Status != http.StatusOK {
			t.Fatalf("status %d", p.Status)
		}
		p.mustContain(t, "<code>X-Api-Key</code>, <code>Authorization</code>")
		if strings.Contains(p.Body, "k-123") || strings.Contains(p.Body, "Bearer t") {
			t.Fatal("a member who may not change the integration sees a header's value")
		}
	})

	tests := []struct {
		name string
		text string
		want string
	}{
		{"ErrNoColon", "X-Api-Key k-123", "Line 1: write a header as Name: value."},
		{"ErrHeraldHeader", "X-Ok: 1\nSentry-Hook-Signature: forged", "Sentry-Hook-Signature is set by Herald and cannot be changed."},
		{"ErrHopByHop", "Connection: close", "Connection is a hop-by-hop header and cannot be set."},
		{"ErrBlankValue", "X-Api-Key:   ", "X-Api-Key: the value may not be blank."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.post(appURL, appForm("Pager", func(f url.Values) { f.Set("action", "save"); f.Set("webhookHeaders", tt.text) }, "issue"))
			if p.Status != http.StatusBadRequest {
				t.Fatalf("status %d:\n%s", p.Status, p.Body)
			}
			p.mustContain(t, `<p class="error">`+appEscaped(tt.want))
			if i := strings.Index(p.Body, appEscaped(tt.want)); !appFieldBefore(p.Body, "webhookHeaders", i) {
				t.Fatalf("message %q is not shown with the headers field", tt.want)
			}
			// The form keeps what was typed.
			p.mustContain(t, appEscaped(strings.TrimSpace(strings.Split(tt.text, "\n")[0])))
			if got, _ := e.Store.FindAppBySlug(ctx, app.Slug); !slices.Equal(got.WebhookHeaders, want) {
				t.Fatalf("a refused edit changed the headers: %+v", got.WebhookHeaders)
			}
		})
	}

	t.Run("Clear", func(t *testing.T) {
		p := b.post(appURL, appForm("Pager", func(f url.Values) { f.Set("action", "save"); f.Set("webhookHeaders", " \n") }, "issue"))
		if p.Status != http.StatusSeeOther {
			t.Fatalf("status %d:\n%s", p.Status, p.Body)
		}
		if got, _ := e.Store.FindAppBySlug(ctx, app.Slug); len(got.WebhookHeaders) != 0 {
			t.Fatalf("headers = %+v", got.WebhookHeaders)
		}
	})
}

// TestAppRequestLogErrorRef checks that the request log page shows the
// error a receiver named in its answer's Sentry-Hook-Error and
// Sentry-Hook-Project headers.
func TestAppRequestLogErrorRef(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	b := e.signIn(t, e.User.Email)
	app, _ := e.createApp(t, b, true, appForm("Reporter", nil, "issue"))
	e.appEvent(t, `{"event_id":"9fac2ceed9344f2bbfdd1fdacb0ed9b1","message":"boom","level":"error"}`)
	inst := e.appInstallations(t, app)[0]
	ds := e.DeliveriesTo(t, herald.DestinationApp, inst.UUID)
	now := e.Clock.Now()
	if err := e.Store.CompleteDeliveries(ctx, []*herald.Outcome{{DeliveryID: ds[0].ID, NextAttemptAt: now.Add(time.Minute),
		Attempt: &herald.Attempt{URL: app.WebhookURL, StatusCode: 500, Error: "non-2xx status 500", CreatedAt: now,
			HookErrorID: "d5111da2c28645c5889d072017e3445d", HookProjectID: "42"}}}); err != nil {
		t.Fatal(err)
	}
	p := b.get(appsURL + app.Slug + "/dashboard/")
	p.mustContain(t, "Receiver's error", "d5111da2c28645c5889d072017e3445d", `<span class="mono">42</span>`, "<code>Sentry-Hook-Error</code>")
}
