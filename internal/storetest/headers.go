package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/herald-dev/herald"
)

// testAppHeaders checks a Sentry App's webhook headers (stored cleaned,
// replaced, cleared, refused when invalid, loaded with the app's deliveries
// to send) and the Sentry-Hook-Error and Sentry-Hook-Project headers of an
// answer, kept with the attempt.
func testAppHeaders(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	app := &herald.SentryApp{Slug: "headed", Name: "Headed", Author: "Acme", OrganizationID: f.Org.ID, WebhookURL: "https://apps.example/headed",
		Scopes: []string{"event:read"}, Events: []string{"issue"},
		WebhookHeaders: []herald.WebhookHeader{{Key: "x-api-key", Value: "  k1 "}, {Key: "Authorization", Value: "Bearer t"}}}
	_, _, err := s.CreateApp(ctx, app)
	must(t, err)
	want := []herald.WebhookHeader{{Key: "X-Api-Key", Value: "k1"}, {Key: "Authorization", Value: "Bearer t"}}
	inst := f.Install(t, app)

	t.Run("CreateCleans", func(t *testing.T) {
		got, err := s.FindAppBySlug(ctx, app.Slug)
		must(t, err)
		if !slices.Equal(got.WebhookHeaders, want) || !slices.Equal(app.WebhookHeaders, want) {
			t.Fatalf("headers = %+v, returned %+v, want %+v", got.WebhookHeaders, app.WebhookHeaders, want)
		}
		if inst.App == nil || !slices.Equal(inst.App.WebhookHeaders, want) {
			t.Fatalf("installation's app headers = %+v", inst.App)
		}
	})
	t.Run("SentWithAppDeliveries", func(t *testing.T) {
		ds := f.AppDeliveries(t, inst, "issue.created")
		h := f.Hook(t, "https://example.com/hook", herald.HookEventCreated)
		hd := f.Deliveries(t, h, 1)
		send, err := s.FindDeliveriesToSend(ctx, []string{ds[0].ID, hd[0].ID})
		must(t, err)
		if len(send) != 2 {
			t.Fatalf("to send = %d", len(send))
		}
		for _, d := range send {
			switch d.DestinationKind {
			case herald.DestinationApp:
				if !slices.Equal(d.AppHeaders, want) || d.URL != app.WebhookURL {
					t.Fatalf("app delivery headers = %+v url %s", d.AppHeaders, d.URL)
				}
			default:
				if d.AppHeaders != nil {
					t.Fatalf("hook delivery headers = %+v", d.AppHeaders)
				}
			}
		}
		// A delivery is sent with the app's headers as they are when it
		// is sent, as with its URL.
		next := []herald.WebhookHeader{{Key: "X-Tenant", Value: "acme"}}
		_, err = s.UpdateApp(ctx, app.ID, herald.SentryAppUpdate{WebhookHeaders: &next})
		must(t, err)
		send, err = s.FindDeliveriesToSend(ctx, []string{ds[0].ID})
		must(t, err)
		if len(send) != 1 || !slices.Equal(send[0].AppHeaders, next) {
			t.Fatalf("after update: %+v", send)
		}
	})
	t.Run("UpdateReplacesAndClears", func(t *testing.T) {
		// An update that leaves them out keeps them.
		name := "Headed 2"
		got, err := s.UpdateApp(ctx, app.ID, herald.SentryAppUpdate{Name: &name})
		must(t, err)
		if len(got.WebhookHeaders) != 1 || got.WebhookHeaders[0].Key != "X-Tenant" {
			t.Fatalf("headers = %+v", got.WebhookHeaders)
		}
		got, err = s.UpdateApp(ctx, app.ID, herald.SentryAppUpdate{WebhookHeaders: &[]herald.WebhookHeader{}})
		must(t, err)
		found, err := s.FindAppBySlug(ctx, app.Slug)
		must(t, err)
		if len(got.WebhookHeaders) != 0 || len(found.WebhookHeaders) != 0 {
			t.Fatalf("headers = %+v, stored %+v", got.WebhookHeaders, found.WebhookHeaders)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		bad := []herald.WebhookHeader{{Key: "Sentry-Hook-Signature", Value: "forged"}}
		_, _, err := s.CreateApp(ctx, &herald.SentryApp{Slug: "forger", Name: "Forger", Author: "Acme", OrganizationID: f.Org.ID,
			WebhookURL: "https://apps.example/forger", WebhookHeaders: bad})
		wantCode(t, err, herald.EINVALID)
		_, err = s.UpdateApp(ctx, app.ID, herald.SentryAppUpdate{WebhookHeaders: &bad})
		wantCode(t, err, herald.EINVALID)
	})
	t.Run("AnswerHeadersKept", func(t *testing.T) {
		ds := f.AppDeliveries(t, inst, "error.created", "comment.created")
		must(t, s.CompleteDeliveries(ctx, []*herald.Outcome{
			{DeliveryID: ds[0].ID, Attempt: &herald.Attempt{URL: app.WebhookURL, StatusCode: 500, Error: "non-2xx status 500",
				HookErrorID: "d5111da2c28645c5889d072017e3445d", HookProjectID: "42"}},
			{DeliveryID: ds[1].ID, Delivered: true, Attempt: &herald.Attempt{URL: app.WebhookURL, StatusCode: 200}},
		}))
		as, err := s.FindAttempts(ctx, ds[0].ID)
		must(t, err)
		if len(as) != 1 || as[0].HookErrorID != "d5111da2c28645c5889d072017e3445d" || as[0].HookProjectID != "42" {
			t.Fatalf("attempts = %+v", as)
		}
		reqs, err := s.FindAppRequests(ctx, app.ID, herald.AppRequestFilter{})
		must(t, err)
		found := map[string]*herald.Attempt{}
		for _, r := range reqs {
			found[r.Delivery.Event] = r.Attempt
		}
		if a := found["error.created"]; a == nil || a.HookErrorID != "d5111da2c28645c5889d072017e3445d" || a.HookProjectID != "42" {
			t.Fatalf("request log error.created = %+v", a)
		}
		if a := found["comment.created"]; a == nil || a.HookErrorID != "" || a.HookProjectID != "" {
			t.Fatalf("request log comment.created = %+v", a)
		}
	})
}
