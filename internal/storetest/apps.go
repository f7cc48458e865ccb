package storetest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/sqlstore"
)

// App creates a Sentry App of the fixture's organization subscribed to
// events, with every scope they need.
func (f *Fixture) App(t testing.TB, slug string, internal bool, events ...string) *herald.SentryApp {
	t.Helper()
	app := &herald.SentryApp{Slug: slug, Name: slug, Author: "Acme", OrganizationID: f.Org.ID, WebhookURL: "https://apps.example/" + slug,
		Scopes: []string{"event:read", "event:write"}, Events: events, VerifyInstall: true}
	if internal {
		app.Status = herald.AppInternal
	}
	if _, _, err := f.Store.CreateApp(context.Background(), app); err != nil {
		t.Fatal(err)
	}
	return app
}

// Install installs app on the fixture's organization, as the rows of an
// installation (no webhook is sent), and verifies it.
func (f *Fixture) Install(t testing.TB, app *herald.SentryApp) *herald.Installation {
	t.Helper()
	ctx := context.Background()
	inst := &herald.Installation{AppID: app.ID, OrganizationID: f.Org.ID, Status: herald.InstallationPending, Code: herald.NewID()}
	must(t, f.Store.InTx(ctx, func(tx *sqlstore.Tx) error { return tx.InsertInstallation(ctx, inst, app) }))
	inst, err := f.Store.VerifyInstallation(ctx, inst.UUID)
	must(t, err)
	return inst
}

// AppDeliveries writes one pending delivery of each event to inst, due now,
// and returns them as written.
func (f *Fixture) AppDeliveries(t testing.TB, inst *herald.Installation, events ...string) []*herald.Delivery {
	t.Helper()
	now := f.Clock.Now()
	var ds []*herald.Delivery
	for i, e := range events {
		resource, _, _ := strings.Cut(e, ".")
		ds = append(ds, &herald.Delivery{ID: herald.NewTimeID(now), DestinationKind: herald.DestinationApp, DestinationID: inst.UUID,
			ProjectID: f.Project.ID, OrganizationID: inst.OrganizationID, Event: e, Resource: resource,
			Body: fmt.Appendf(nil, `{"action":%q,"n":%d}`, e, i), Signature: fmt.Sprintf("signature-%d", i), Timestamp: now.Unix(),
			Status: herald.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now})
	}
	ctx := context.Background()
	must(t, f.Store.InTx(ctx, func(tx *sqlstore.Tx) error { return tx.InsertDeliveries(ctx, ds) }))
	return ds
}

// DeliveriesTo returns the deliveries to a destination, oldest first.
func (f *Fixture) DeliveriesTo(t testing.TB, kind, id string) []*herald.Delivery {
	t.Helper()
	list, _, err := f.Store.FindDeliveries(context.Background(), herald.DeliveryFilter{DestinationKind: kind, DestinationID: id})
	must(t, err)
	slices.Reverse(list)
	return list
}

// DeliveryEvents joins the events of ds with commas.
func DeliveryEvents(ds []*herald.Delivery) string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Event)
	}
	return strings.Join(out, ",")
}

func testApps(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	f.Clock.SetStep(time.Millisecond)
	s := f.Store
	var internal *herald.SentryApp
	t.Run("CreateInternal", func(t *testing.T) {
		internal = &herald.SentryApp{Slug: "pager-1a2b3c", Name: "Pager", OrganizationID: f.Org.ID, Status: herald.AppInternal,
			WebhookURL: "https://apps.example/pager", Scopes: []string{"event:read", "org:read"}, Events: []string{"issue", "error", "issue"}}
		inst, tok, err := s.CreateApp(ctx, internal)
		must(t, err)
		if len(internal.ClientID) != 64 || len(internal.ClientSecret) != 64 || len(internal.UUID) != 36 || internal.ProxyUserID == 0 {
			t.Fatalf("app = %+v", internal)
		}
		if strings.Join(internal.Events, ",") != "error,issue" || internal.Owner.Slug != "acme" {
			t.Fatalf("app = %+v", internal)
		}
		if inst == nil || inst.Status != herald.InstallationInstalled || inst.OrganizationID != f.Org.ID || tok == nil {
			t.Fatalf("installation %+v token %+v", inst, tok)
		}
		got, err := s.FindTokenByValue(ctx, tok.Value)
		must(t, err)
		if got.UserID != internal.ProxyUserID || !got.HasScope("event:read") || got.ExpiresAt != nil || got.OrganizationID != f.Org.ID {
			t.Fatalf("token = %+v", got)
		}
		member, err := s.IsMember(ctx, f.Org.ID, internal.ProxyUserID)
		must(t, err)
		if !member {
			t.Fatal("the app's user is not a member of its organization")
		}
		byUser, err := s.FindAppByProxyUser(ctx, got.UserID)
		must(t, err)
		if byUser.ID != internal.ID {
			t.Fatalf("app by proxy user = %+v", byUser)
		}
		_, err = s.FindAppByProxyUser(ctx, f.User.ID)
		wantCode(t, err, herald.ENOTFOUND)
	})
	t.Run("CreatePublicIsNotInstalled", func(t *testing.T) {
		app := f.App(t, "public", false, "issue")
		insts, err := s.FindInstallations(ctx, f.Org.ID)
		must(t, err)
		for _, i := range insts {
			if i.AppID == app.ID {
				t.Fatal("a public app was installed at creation")
			}
		}
	})
	t.Run("ErrDuplicateSlug", func(t *testing.T) {
		_, _, err := s.CreateApp(ctx, &herald.SentryApp{Slug: "public", Name: "Public", OrganizationID: f.Org.ID, Author: "Acme",
			WebhookURL: "https://apps.example/public"})
		wantCode(t, err, herald.ECONFLICT)
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		// The rules that span an app's fields hold in the store too.
		_, _, err := s.CreateApp(ctx, &herald.SentryApp{Slug: "nourl", Name: "No URL", OrganizationID: f.Org.ID, Author: "Acme"})
		wantCode(t, err, herald.EINVALID)
		events := []string{"issue"}
		_, err = s.UpdateApp(ctx, internal.ID, herald.SentryAppUpdate{Events: &events, Scopes: &[]string{"project:read"}})
		wantCode(t, err, herald.EINVALID)
	})
	t.Run("FindApps", func(t *testing.T) {
		other := &herald.User{Email: "other@example.com"}
		must(t, s.CreateUser(ctx, other))
		cases := []struct {
			name string
			f    herald.SentryAppFilter
			want string
		}{
			{"All", herald.SentryAppFilter{}, "pager-1a2b3c,public"},
			{"Internal", herald.SentryAppFilter{Status: herald.AppInternal}, "pager-1a2b3c"},
			{"Org", herald.SentryAppFilter{OrganizationID: f.Org.ID}, "pager-1a2b3c,public"},
			{"OtherOrg", herald.SentryAppFilter{OrganizationID: f.Org.ID + 100}, ""},
			{"Member", herald.SentryAppFilter{MemberUserID: f.User.ID}, "pager-1a2b3c,public"},
			{"NotMember", herald.SentryAppFilter{MemberUserID: other.ID}, ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				apps, err := s.FindApps(ctx, c.f)
				must(t, err)
				var slugs []string
				for _, a := range apps {
					slugs = append(slugs, a.Slug)
				}
				if got := strings.Join(slugs, ","); got != c.want {
					t.Fatalf("apps = %s, want %s", got, c.want)
				}
			})
		}
	})
	t.Run("UpdateScopesReachTokens", func(t *testing.T) {
		scopes := []string{"event:write", "event:read", "event:write"}
		url := "https://apps.example/v2"
		app, err := s.UpdateApp(ctx, internal.ID, herald.SentryAppUpdate{Scopes: &scopes, WebhookURL: &url})
		must(t, err)
		if app.WebhookURL != url || strings.Join(app.Scopes, ",") != "event:read,event:write" {
			t.Fatalf("app = %+v", app)
		}
		tokens, err := s.FindAppTokens(ctx, internal.ID)
		must(t, err)
		if len(tokens) != 1 || strings.Join(tokens[0].Scopes, ",") != "event:read,event:write" {
			t.Fatalf("tokens = %+v", tokens)
		}
		bad := []string{"root:all"}
		_, err = s.UpdateApp(ctx, internal.ID, herald.SentryAppUpdate{Scopes: &bad})
		wantCode(t, err, herald.EINVALID)
	})
	t.Run("RotateSecret", func(t *testing.T) {
		app, err := s.RotateAppSecret(ctx, internal.ID)
		must(t, err)
		got, err := s.FindAppBySlug(ctx, internal.Slug)
		must(t, err)
		if app.ClientSecret == internal.ClientSecret || got.ClientSecret != app.ClientSecret || len(app.ClientSecret) != 64 {
			t.Fatal("secret not rotated")
		}
	})
	t.Run("Tokens", func(t *testing.T) {
		tok, err := s.CreateAppToken(ctx, internal.ID)
		must(t, err)
		tokens, err := s.FindAppTokens(ctx, internal.ID)
		must(t, err)
		if len(tokens) != 2 || tokens[0].ID != tok.ID || tokens[0].Value != "" {
			t.Fatalf("tokens = %+v", tokens)
		}
		must(t, s.DeleteAppToken(ctx, internal.ID, tok.ID))
		wantCode(t, s.DeleteAppToken(ctx, internal.ID, tok.ID), herald.ENOTFOUND)
		_, err = s.FindTokenByValue(ctx, tok.Value)
		wantCode(t, err, herald.EUNAUTHORIZED)
		public, err := s.FindAppBySlug(ctx, "public")
		must(t, err)
		_, err = s.CreateAppToken(ctx, public.ID)
		wantCode(t, err, herald.EINVALID)
	})
	t.Run("Delete", func(t *testing.T) {
		tokens, err := s.FindAppTokens(ctx, internal.ID)
		must(t, err)
		must(t, s.DeleteApp(ctx, internal.ID))
		_, err = s.FindAppBySlug(ctx, internal.Slug)
		wantCode(t, err, herald.ENOTFOUND)
		_, err = s.FindUserByID(ctx, tokens[0].UserID)
		wantCode(t, err, herald.ENOTFOUND)
		insts, err := s.FindInstallations(ctx, f.Org.ID)
		must(t, err)
		if len(insts) != 0 {
			t.Fatalf("installations left: %d", len(insts))
		}
		wantCode(t, s.DeleteApp(ctx, internal.ID), herald.ENOTFOUND)
	})
}

func testAppRequests(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	f.Clock.SetStep(time.Millisecond)
	s := f.Store
	app := f.App(t, "logged", false, "issue", "error")
	inst := f.Install(t, app)
	f.AppDeliveries(t, inst, "installation.created", "issue.created", "error.created", "issue.created", "error.created")
	ds := f.DeliveriesTo(t, herald.DestinationApp, inst.UUID)
	if len(ds) != 5 {
		t.Fatalf("deliveries = %s", DeliveryEvents(ds))
	}
	// Attempts at distinct times by event: installation.created first, then
	// the error.created ones, then the issue.created ones, which fail.
	order := map[string]int{"installation.created": 0, "error.created": 1, "issue.created": 3}
	var outcomes []*herald.Outcome
	start := f.Clock.Now()
	for _, d := range ds {
		code, errText := 200, ""
		if d.Event == "issue.created" {
			code, errText = 500, "non-2xx status 500"
		}
		at := start.Add(time.Duration(order[d.Event]) * time.Second)
		order[d.Event]++
		outcomes = append(outcomes, &herald.Outcome{DeliveryID: d.ID, Delivered: code == 200, NextAttemptAt: at.Add(time.Hour),
			Attempt: &herald.Attempt{URL: app.WebhookURL, StatusCode: code, Error: errText, ResponseBody: "oops", CreatedAt: at}})
	}
	must(t, s.CompleteDeliveries(ctx, outcomes))
	// No attempt for another app's deliveries shows up.
	otherInst := f.Install(t, f.App(t, "quiet", false, "issue"))
	f.AppDeliveries(t, otherInst, "issue.created")
	od := f.DeliveriesTo(t, herald.DestinationApp, otherInst.UUID)
	must(t, s.CompleteDeliveries(ctx, []*herald.Outcome{{DeliveryID: od[len(od)-1].ID, Delivered: true, Attempt: &herald.Attempt{StatusCode: 200}}}))

	cases := []struct {
		name string
		f    herald.AppRequestFilter
		want string
	}{
		{"All", herald.AppRequestFilter{}, "issue.created,issue.created,error.created,error.created,installation.created"},
		{"EventType", herald.AppRequestFilter{EventType: "error.created"}, "error.created,error.created"},
		{"ErrorsOnly", herald.AppRequestFilter{ErrorsOnly: true}, "issue.created,issue.created"},
		{"PerEvent", herald.AppRequestFilter{PerEvent: 1}, "issue.created"},
		{"OtherOrganization", herald.AppRequestFilter{OrganizationID: f.Org.ID + 100}, ""},
		{"Since", herald.AppRequestFilter{Since: f.Clock.Now().Add(time.Hour)}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reqs, err := s.FindAppRequests(ctx, app.ID, c.f)
			must(t, err)
			var events []string
			for _, r := range reqs {
				events = append(events, r.Delivery.Event)
				if r.Organization.Slug != "acme" || r.Attempt.URL != app.WebhookURL || len(r.Delivery.Body) == 0 {
					t.Fatalf("request = %+v", r)
				}
			}
			if got := strings.Join(events, ","); got != c.want {
				t.Fatalf("requests = %s, want %s", got, c.want)
			}
		})
	}
	t.Run("NewestFirst", func(t *testing.T) {
		reqs, err := s.FindAppRequests(ctx, app.ID, herald.AppRequestFilter{})
		must(t, err)
		if !sort.SliceIsSorted(reqs, func(i, j int) bool { return reqs[i].Attempt.CreatedAt.After(reqs[j].Attempt.CreatedAt) }) {
			t.Fatal("not newest first")
		}
	})
}
