package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/ingest"
)

// appBody is an app as the API answers it.
type appBody struct {
	Slug         string   `json:"slug"`
	Name         string   `json:"name"`
	UUID         string   `json:"uuid"`
	Status       string   `json:"status"`
	Events       []string `json:"events"`
	Scopes       []string `json:"scopes"`
	WebhookURL   *string  `json:"webhookUrl"`
	ClientID     string   `json:"clientId"`
	ClientSecret *string  `json:"clientSecret"`
	Owner        struct {
		ID   int64  `json:"id"`
		Slug string `json:"slug"`
	} `json:"owner"`
}

// createApp creates an app of acme through the API.
func (ts *testServer) createApp(t *testing.T, name string, internal bool, events ...string) appBody {
	t.Helper()
	var app appBody
	ts.must(t, 201, "POST", "/api/0/sentry-apps/", map[string]any{
		"name": name, "organization": "acme", "isInternal": internal, "author": "Acme",
		"webhookUrl": "https://apps.example/" + name, "events": events, "scopes": []string{"event:read", "event:write"},
	}).JSON(t, &app)
	return app
}

// member creates a user who owns acme (their role limits nothing), with a
// token of scopes.
func (ts *testServer) member(t *testing.T, email string, scopes ...string) (*herald.User, string) {
	t.Helper()
	return ts.memberAs(t, email, herald.RoleOwner, scopes...)
}

// memberAs creates a user who belongs to acme with role, with a token of
// scopes.
func (ts *testServer) memberAs(t *testing.T, email, role string, scopes ...string) (*herald.User, string) {
	t.Helper()
	ctx := context.Background()
	u, tok := ts.userToken(t, email, scopes...)
	org, err := ts.Store.FindOrganizationBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Store.AddMember(ctx, org.ID, u.ID, role); err != nil {
		t.Fatal(err)
	}
	return u, tok
}

// storeEvent parses an SDK event and saves it in acme/web.
func (ts *testServer) storeEvent(t *testing.T, payload string) *herald.Event {
	t.Helper()
	ctx := context.Background()
	e, err := ingest.ParseEvent([]byte(payload), ts.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	org, err := ts.Store.FindOrganizationBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ts.Store.FindProjectBySlug(ctx, org.ID, "web")
	if err != nil {
		t.Fatal(err)
	}
	e.ProjectID = p.ID
	if err := ts.Changes.SaveEvents(ctx, []*herald.Event{e}); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestAppValidation(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	_, writer := ts.member(t, "writer@acme.example", "org:write")
	base := func(edit func(m map[string]any)) map[string]any {
		m := map[string]any{"name": "Pager", "organization": "acme", "author": "Acme", "webhookUrl": "https://pager.example/hook",
			"events": []string{"issue"}, "scopes": []string{"event:read"}}
		edit(m)
		return m
	}
	tests := []struct {
		name   string
		token  string
		body   map[string]any
		status int
		want   string
	}{
		{"ErrNameRequired", superToken, base(func(m map[string]any) { delete(m, "name") }), 400, `{"name":["This field is required."]}`},
		{"ErrNameBlank", superToken, base(func(m map[string]any) { m["name"] = "  " }), 400, `{"name":["This field may not be blank."]}`},
		{"ErrNameTooLong", superToken, base(func(m map[string]any) { m["name"] = strings.Repeat("a", 58) }), 400, `{"name":["Cannot exceed 57 characters"]}`},
		{"ErrNameWithoutLetters", superToken, base(func(m map[string]any) { m["name"] = "!!!" }), 400, `{"name":["Name must contain letters or digits."]}`},
		{"ErrOrganizationRequired", superToken, base(func(m map[string]any) { delete(m, "organization") }), 400, `{"organization":["This field is required."]}`},
		{"ErrUnknownOrganization", superToken, base(func(m map[string]any) { m["organization"] = "nope" }), 404, `{"detail":"The requested resource does not exist"}`},
		{"ErrPublicNeedsWebhookURL", superToken, base(func(m map[string]any) { delete(m, "webhookUrl"); m["events"] = []string{} }), 400,
			`{"webhookUrl":["webhookUrl required for public integrations"]}`},
		{"ErrPublicNeedsAuthor", superToken, base(func(m map[string]any) { delete(m, "author") }), 400, `{"author":["author required for public integrations"]}`},
		{"ErrEventNeedsScope", superToken, base(func(m map[string]any) { m["scopes"] = []string{"org:read"} }), 400,
			`{"events":["issue webhooks require the event:read permission."]}`},
		{"ErrCommentNeedsScope", superToken, base(func(m map[string]any) { m["events"] = []string{"comment"}; m["scopes"] = []string{} }), 400,
			`{"events":["comment webhooks require the event:read permission."]}`},
		{"ErrInvalidEvent", superToken, base(func(m map[string]any) { m["events"] = []string{"issue", "deploy"} }), 400,
			`{"events":["Invalid event subscription: deploy"]}`},
		{"ErrInvalidScope", superToken, base(func(m map[string]any) { m["scopes"] = []string{"event:read", "root:all"} }), 400,
			`{"scopes":["root:all not a valid scope"]}`},
		{"ErrWebhookURLScheme", superToken, base(func(m map[string]any) { m["webhookUrl"] = "ftp://pager.example" }), 400,
			`{"webhookUrl":["URL must start with http[s]://"]}`},
		{"ErrWebhookURLInvalid", superToken, base(func(m map[string]any) { m["webhookUrl"] = "http://" }), 400, `{"webhookUrl":["Enter a valid URL."]}`},
		{"ErrInternalEventsNeedWebhookURL", superToken, base(func(m map[string]any) { m["isInternal"] = true; delete(m, "webhookUrl") }), 400,
			`{"webhookUrl":["webhookUrl required if webhook events are enabled"]}`},
		{"ErrScopeBeyondToken", writer, base(func(m map[string]any) {}), 400,
			`{"scopes":["Requested permission of event:read exceeds requester's permission. Please contact an administrator to make the requested change."]}`},
		{"ErrTypeMismatch", superToken, base(func(m map[string]any) { m["events"] = "issue" }), 400, `{"events":["Expected a list of items but got type \"string\"."]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := ts.do(t, "POST", "/api/0/sentry-apps/", tt.token, tt.body)
			if res.Status != tt.status {
				t.Fatalf("status = %d %s, want %d", res.Status, res.Body, tt.status)
			}
			jsonEqual(t, res.Body, tt.want)
		})
	}
	t.Run("InternalWithoutWebhook", func(t *testing.T) {
		t.Parallel()
		res := ts.do(t, "POST", "/api/0/sentry-apps/", superToken, map[string]any{"name": "Reporter", "organization": "acme", "isInternal": true})
		if res.Status != 201 {
			t.Fatalf("status = %d %s", res.Status, res.Body)
		}
	})
	t.Run("ErrNameTaken", func(t *testing.T) {
		t.Parallel()
		body := base(func(m map[string]any) { m["name"] = "Taken" })
		ts.must(t, 201, "POST", "/api/0/sentry-apps/", body)
		res := ts.do(t, "POST", "/api/0/sentry-apps/", superToken, body)
		if res.Status != 400 {
			t.Fatalf("status = %d %s", res.Status, res.Body)
		}
		jsonEqual(t, res.Body, `{"name":["Name Taken is already taken, please use another."]}`)
	})
	t.Run("ErrNoScope", func(t *testing.T) {
		t.Parallel()
		_, reader := ts.userToken(t, "reader@acme.example", "org:read")
		if res := ts.do(t, "POST", "/api/0/sentry-apps/", reader, base(func(m map[string]any) {})); res.Status != 403 {
			t.Fatalf("status = %d %s", res.Status, res.Body)
		}
	})
}

func TestAppRoutes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	internal := ts.createApp(t, "Reporter", true, "issue", "error")
	public := ts.createApp(t, "Pager", false, "issue")

	t.Run("Created", func(t *testing.T) {
		if !regexp.MustCompile(`^reporter-[0-9a-f]{6}$`).MatchString(internal.Slug) || internal.Status != "internal" || public.Slug != "pager" ||
			public.Status != "unpublished" || !hex64.MatchString(public.ClientID) || public.ClientSecret == nil || !hex64.MatchString(*public.ClientSecret) ||
			public.Owner.Slug != "acme" || !slices.Equal(internal.Events, []string{"error", "issue"}) {
			t.Fatalf("apps = %+v %+v", internal, public)
		}
	})
	t.Run("InternalIsInstalled", func(t *testing.T) {
		var insts []struct {
			Status string `json:"status"`
			App    struct {
				Slug string `json:"slug"`
			} `json:"app"`
		}
		ts.must(t, 200, "GET", "/api/0/organizations/acme/sentry-app-installations/", nil).JSON(t, &insts)
		if len(insts) != 1 || insts[0].App.Slug != internal.Slug || insts[0].Status != "installed" {
			t.Fatalf("installations = %+v", insts)
		}
	})
	t.Run("GetAndList", func(t *testing.T) {
		var got appBody
		ts.must(t, 200, "GET", "/api/0/sentry-apps/pager/", nil).JSON(t, &got)
		if got.UUID != public.UUID {
			t.Fatalf("get = %+v", got)
		}
		for _, path := range []string{"/api/0/sentry-apps/", "/api/0/organizations/acme/sentry-apps/"} {
			var list []appBody
			ts.must(t, 200, "GET", path, nil).JSON(t, &list)
			if len(list) != 2 {
				t.Fatalf("%s = %+v", path, list)
			}
		}
		var internals []appBody
		ts.must(t, 200, "GET", "/api/0/sentry-apps/?status=internal", nil).JSON(t, &internals)
		if len(internals) != 1 || internals[0].Slug != internal.Slug {
			t.Fatalf("internal apps = %+v", internals)
		}
	})
	t.Run("OutsidersSeeNothing", func(t *testing.T) {
		_, outsider := ts.userToken(t, "outsider@example.com", "org:read", "org:write")
		if res := ts.do(t, "GET", "/api/0/sentry-apps/pager/", outsider, nil); res.Status != 404 {
			t.Fatalf("status = %d", res.Status)
		}
		res := ts.do(t, "GET", "/api/0/sentry-apps/", outsider, nil)
		jsonEqual(t, res.Body, `[]`)
	})
	t.Run("Update", func(t *testing.T) {
		var got appBody
		ts.must(t, 200, "PUT", "/api/0/sentry-apps/pager/", map[string]any{"webhookUrl": "https://pager.example/v2", "events": []string{"issue", "comment"}}).JSON(t, &got)
		if got.WebhookURL == nil || *got.WebhookURL != "https://pager.example/v2" || !slices.Equal(got.Events, []string{"comment", "issue"}) {
			t.Fatalf("updated = %+v", got)
		}
		res := ts.do(t, "PUT", "/api/0/sentry-apps/pager/", superToken, map[string]any{"webhookUrl": ""})
		if res.Status != 400 {
			t.Fatalf("removing a public app's webhook: %d %s", res.Status, res.Body)
		}
	})
	t.Run("RotateSecret", func(t *testing.T) {
		var got struct {
			ClientSecret string `json:"clientSecret"`
		}
		ts.must(t, 200, "POST", "/api/0/sentry-apps/pager/rotate-secret/", nil).JSON(t, &got)
		if !hex64.MatchString(got.ClientSecret) || got.ClientSecret == *public.ClientSecret {
			t.Fatalf("secret = %q", got.ClientSecret)
		}
	})
	t.Run("SecretMaskedWithoutWrite", func(t *testing.T) {
		_, reader := ts.member(t, "member@acme.example", "org:read")
		var got appBody
		res := ts.do(t, "GET", "/api/0/sentry-apps/pager/", reader, nil)
		res.JSON(t, &got)
		if got.ClientSecret == nil || *got.ClientSecret != strings.Repeat("*", 64) {
			t.Fatalf("secret = %v", got.ClientSecret)
		}
	})
	t.Run("APITokens", func(t *testing.T) {
		res := ts.do(t, "GET", "/api/0/sentry-apps/pager/api-tokens/", superToken, nil)
		if res.Status != 403 {
			t.Fatalf("public app tokens: %d %s", res.Status, res.Body)
		}
		var tok struct {
			ID    string `json:"id"`
			Token string `json:"token"`
		}
		ts.must(t, 201, "POST", "/api/0/sentry-apps/"+internal.Slug+"/api-tokens/", nil).JSON(t, &tok)
		if !hex64.MatchString(tok.Token) {
			t.Fatalf("token = %+v", tok)
		}
		var list []struct {
			ID    string `json:"id"`
			Token string `json:"token"`
		}
		ts.must(t, 200, "GET", "/api/0/sentry-apps/"+internal.Slug+"/api-tokens/", nil).JSON(t, &list)
		if len(list) != 2 || list[0].Token != "" {
			t.Fatalf("tokens = %+v", list)
		}
		// The app's token acts on its organization.
		if res := ts.do(t, "GET", "/api/0/projects/acme/web/issues/", tok.Token, nil); res.Status != 200 {
			t.Fatalf("app token: %d %s", res.Status, res.Body)
		}
		ts.must(t, 204, "DELETE", "/api/0/sentry-apps/"+internal.Slug+"/api-tokens/"+tok.ID+"/", nil)
		if res := ts.do(t, "GET", "/api/0/projects/acme/web/issues/", tok.Token, nil); res.Status != 401 {
			t.Fatalf("deleted token: %d", res.Status)
		}
	})
	t.Run("Requests", func(t *testing.T) {
		jsonEqual(t, ts.must(t, 200, "GET", "/api/0/sentry-apps/pager/requests/", nil).Body, `[]`)
		res := ts.do(t, "GET", "/api/0/sentry-apps/pager/requests/?eventType=event.created", superToken, nil)
		if res.Status != 400 {
			t.Fatalf("status = %d", res.Status)
		}
		jsonEqual(t, res.Body, `{"eventType":["\"event.created\" is not a valid choice."]}`)
		res = ts.do(t, "GET", "/api/0/sentry-apps/pager/requests/?organizationSlug=nope", superToken, nil)
		jsonEqual(t, res.Body, `{"detail":"Invalid organization."}`)
		res = ts.do(t, "GET", "/api/0/sentry-apps/pager/requests/?errorsOnly=maybe", superToken, nil)
		jsonEqual(t, res.Body, `{"errorsOnly":["Must be a valid boolean."]}`)
	})
	t.Run("Delete", func(t *testing.T) {
		ts.must(t, 204, "DELETE", "/api/0/sentry-apps/"+internal.Slug+"/", nil)
		ts.must(t, 404, "GET", "/api/0/sentry-apps/"+internal.Slug+"/", nil)
	})
}

func TestInstallationRoutes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	app := ts.createApp(t, "Pager", false, "issue")
	app2 := ts.createApp(t, "Other", false)
	var inst struct {
		UUID   string `json:"uuid"`
		Status string `json:"status"`
		Code   string `json:"code"`
		App    struct {
			Slug string `json:"slug"`
		} `json:"app"`
		Organization struct {
			Slug string `json:"slug"`
		} `json:"organization"`
	}
	const installs = "/api/0/organizations/acme/sentry-app-installations/"
	ts.must(t, 201, "POST", installs, map[string]any{"slug": "pager"}).JSON(t, &inst)
	if inst.Status != "pending" || !hex32.MatchString(inst.Code) || inst.App.Slug != "pager" || inst.Organization.Slug != "acme" {
		t.Fatalf("installation = %+v", inst)
	}
	path := "/api/0/sentry-app-installations/" + inst.UUID + "/"
	auth := path + "authorizations/"
	secret := *app.ClientSecret

	t.Run("InstallAgain", func(t *testing.T) {
		res := ts.must(t, 200, "POST", installs, map[string]any{"slug": "pager"})
		if !strings.Contains(string(res.Body), inst.UUID) {
			t.Fatalf("body = %s", res.Body)
		}
	})
	t.Run("ErrInstall", func(t *testing.T) {
		res := ts.do(t, "POST", installs, superToken, map[string]any{"slug": "nope"})
		jsonEqual(t, res.Body, `{"slug":["Sentry App \"nope\" does not exist."]}`)
		res = ts.do(t, "POST", installs, superToken, map[string]any{})
		jsonEqual(t, res.Body, `{"slug":["This field is required."]}`)
	})
	t.Run("ErrAuthorization", func(t *testing.T) {
		tests := []struct {
			name   string
			body   map[string]any
			status int
			want   string
		}{
			{"WrongSecret", map[string]any{"client_id": app.ClientID, "client_secret": strings.Repeat("0", 64), "grant_type": "authorization_code", "code": inst.Code},
				401, `{"detail":"Invalid Client ID / Secret pair"}`},
			{"OtherAppsCredentials", map[string]any{"client_id": app2.ClientID, "client_secret": *app2.ClientSecret, "grant_type": "authorization_code", "code": inst.Code},
				401, `{"detail":"Invalid Client ID / Secret pair"}`},
			{"GrantType", map[string]any{"client_id": app.ClientID, "client_secret": secret, "grant_type": "password"}, 400, `{"detail":"Invalid grant_type"}`},
			{"WrongCode", map[string]any{"client_id": app.ClientID, "client_secret": secret, "grant_type": "authorization_code", "code": "nope"},
				400, `{"detail":"Invalid grant"}`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := ts.do(t, "POST", auth, "", tt.body)
				if res.Status != tt.status {
					t.Fatalf("status = %d %s", res.Status, res.Body)
				}
				jsonEqual(t, res.Body, tt.want)
			})
		}
	})
	var tok struct {
		Token        string  `json:"token"`
		RefreshToken string  `json:"refreshToken"`
		ExpiresAt    *string `json:"expiresAt"`
	}
	t.Run("ExchangeAndVerify", func(t *testing.T) {
		ts.must(t, 201, "POST", auth, map[string]any{"client_id": app.ClientID, "client_secret": secret, "grant_type": "authorization_code", "code": inst.Code}).
			JSON(t, &tok)
		if !hex64.MatchString(tok.Token) || !hex64.MatchString(tok.RefreshToken) || tok.ExpiresAt == nil || !strings.HasPrefix(*tok.ExpiresAt, "2024-01-15T20:00:00") {
			t.Fatalf("token = %+v", tok)
		}
		// The app verifies its installation with its own token, whatever
		// its scopes.
		var got struct {
			Status string `json:"status"`
		}
		res := ts.do(t, "PUT", path, tok.Token, map[string]any{"status": "installed"})
		if res.Status != 200 {
			t.Fatalf("verify: %d %s", res.Status, res.Body)
		}
		res.JSON(t, &got)
		if got.Status != "installed" {
			t.Fatalf("status = %s", got.Status)
		}
		res = ts.do(t, "PUT", path, superToken, map[string]any{"status": "pending"})
		jsonEqual(t, res.Body, `{"status":["Invalid value 'pending' for status. Valid values: 'installed'"]}`)
	})
	t.Run("Refresh", func(t *testing.T) {
		var next struct {
			Token        string `json:"token"`
			RefreshToken string `json:"refreshToken"`
		}
		ts.must(t, 201, "POST", auth, map[string]any{"client_id": app.ClientID, "client_secret": secret, "grant_type": "refresh_token", "refresh_token": tok.RefreshToken}).
			JSON(t, &next)
		if res := ts.do(t, "GET", path, tok.Token, nil); res.Status != 401 {
			t.Fatalf("old token still works: %d", res.Status)
		}
		if res := ts.do(t, "GET", path, next.Token, nil); res.Status != 200 {
			t.Fatalf("new token: %d %s", res.Status, res.Body)
		}
		tok.Token = next.Token
	})
	t.Run("TokenBoundToItsOrganization", func(t *testing.T) {
		// The same app, published, installed on another organization:
		// acme's token reaches acme's projects only, and not the other
		// installation.
		ts.must(t, 200, "PUT", "/api/0/sentry-apps/pager/", map[string]any{"status": "published"})
		ts.must(t, 201, "POST", "/api/0/organizations/", map[string]any{"name": "Globex", "slug": "globex"})
		ts.must(t, 201, "POST", "/api/0/organizations/globex/teams/", map[string]any{"name": "Ops", "slug": "ops"})
		ts.must(t, 201, "POST", "/api/0/teams/globex/ops/projects/", map[string]any{"name": "Api", "slug": "api"})
		var other struct {
			UUID string `json:"uuid"`
		}
		ts.must(t, 201, "POST", "/api/0/organizations/globex/sentry-app-installations/", map[string]any{"slug": "pager"}).JSON(t, &other)
		if res := ts.do(t, "GET", "/api/0/projects/acme/web/issues/", tok.Token, nil); res.Status != 200 {
			t.Fatalf("own organization: %d %s", res.Status, res.Body)
		}
		if res := ts.do(t, "GET", "/api/0/projects/globex/api/issues/", tok.Token, nil); res.Status != 403 {
			t.Fatalf("other organization: %d %s", res.Status, res.Body)
		}
		if res := ts.do(t, "PUT", "/api/0/sentry-app-installations/"+other.UUID+"/", tok.Token, map[string]any{"status": "installed"}); res.Status != 404 {
			t.Fatalf("other installation: %d %s", res.Status, res.Body)
		}
	})
	t.Run("Uninstall", func(t *testing.T) {
		ts.must(t, 204, "DELETE", path, nil)
		ts.must(t, 404, "GET", path, nil)
		if res := ts.do(t, "GET", "/api/0/projects/acme/web/issues/", tok.Token, nil); res.Status != 401 {
			t.Fatalf("token of an uninstalled app: %d", res.Status)
		}
	})
}

// issueBody is an issue as the API answers it.
type issueBody struct {
	ID         string `json:"id"`
	ShortID    string `json:"shortId"`
	Title      string `json:"title"`
	Status     string `json:"status"`
	Substatus  *string
	Count      string `json:"count"`
	Level      string `json:"level"`
	LastSeen   string `json:"lastSeen"`
	AssignedTo *struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"assignedTo"`
	NumComments int                   `json:"numComments"`
	Stats       map[string][][2]int64 `json:"stats"`
}

func TestIssueRoutes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	a := ts.storeEvent(t, `{"platform":"go","exception":[{"type":"*errors.errorString","value":"boom","stacktrace":{"frames":[{"module":"shop","function":"Run","in_app":true}]}}]}`)
	ts.storeEvent(t, `{"platform":"go","exception":[{"type":"*errors.errorString","value":"boom again","stacktrace":{"frames":[{"module":"shop","function":"Run","in_app":true}]}}]}`)
	b := ts.storeEvent(t, `{"message":"disk full","level":"warning"}`)
	ida, idb := fmt.Sprint(a.IssueID), fmt.Sprint(b.IssueID)
	const list = "/api/0/projects/acme/web/issues/"
	issue := func(id string) string { return "/api/0/organizations/acme/issues/" + id + "/" }

	t.Run("List", func(t *testing.T) {
		var got []issueBody
		ts.must(t, 200, "GET", list, nil).JSON(t, &got)
		if len(got) != 2 || got[0].Stats["24h"] == nil || len(got[0].Stats["24h"]) != 24 {
			t.Fatalf("issues = %+v", got)
		}
		var total int64
		for _, p := range got {
			for _, pt := range p.Stats["24h"] {
				total += pt[1]
			}
		}
		if total != 3 {
			t.Fatalf("stats count %d events, want 3", total)
		}
		byID := map[string]issueBody{}
		for _, is := range got {
			byID[is.ID] = is
		}
		if byID[ida].Count != "2" || byID[idb].Level != "warning" || !strings.HasPrefix(byID[ida].ShortID, "WEB-") {
			t.Fatalf("issues = %+v", got)
		}
		var none []issueBody
		ts.must(t, 200, "GET", list+"?query=is:resolved&statsPeriod=", nil).JSON(t, &none)
		if len(none) != 0 {
			t.Fatalf("resolved = %+v", none)
		}
		var text []issueBody
		ts.must(t, 200, "GET", list+"?query="+url.QueryEscape("disk")+"&per_page=1", nil).JSON(t, &text)
		if len(text) != 1 || text[0].ID != idb || text[0].Stats["24h"] == nil {
			t.Fatalf("text = %+v", text)
		}
	})
	t.Run("ErrList", func(t *testing.T) {
		res := ts.do(t, "GET", list+"?statsPeriod=1y", superToken, nil)
		jsonEqual(t, res.Body, `{"detail":"Invalid stats_period. Valid choices are '', '24h', and '14d'"}`)
		res = ts.do(t, "GET", list+"?query=is:snoozed", superToken, nil)
		if res.Status != 400 {
			t.Fatalf("status = %d", res.Status)
		}
		res = ts.do(t, "GET", list+"?query=browser:chrome", superToken, nil)
		if res.Status != 400 {
			t.Fatalf("status = %d", res.Status)
		}
	})
	t.Run("BulkAsSentryCLI", func(t *testing.T) {
		res := ts.must(t, 200, "PUT", list+"?id="+ida, `{"status":"resolved","snoozeDuration":null}`)
		jsonEqual(t, res.Body, `{"status":"resolved","statusDetails":{}}`)
		res = ts.must(t, 200, "PUT", list+"?status=unresolved", `{"status":"muted","snoozeDuration":null}`)
		jsonEqual(t, res.Body, `{"status":"ignored","substatus":"archived_until_escalating","statusDetails":{}}`)
		var got issueBody
		ts.must(t, 200, "GET", issue(idb), nil).JSON(t, &got)
		if got.Status != "ignored" {
			t.Fatalf("issue b = %+v", got)
		}
		ts.must(t, 204, "PUT", list+"?status=unresolved", `{"status":"resolved"}`)
		res = ts.must(t, 200, "PUT", list, `{"status":"unresolved","snoozeDuration":null}`)
		jsonEqual(t, res.Body, `{"status":"unresolved","statusDetails":{}}`)
		var all []issueBody
		ts.must(t, 200, "GET", list, nil).JSON(t, &all)
		if len(all) != 2 {
			t.Fatalf("unresolved = %d, want 2", len(all))
		}
	})
	t.Run("ErrBulk", func(t *testing.T) {
		tests := []struct {
			name, query, body, want string
		}{
			{"Status", "?id=" + ida, `{"status":"snoozed"}`, `{"status":["\"snoozed\" is not a valid choice."]}`},
			{"ID", "?id=abc", `{"status":"resolved"}`, `{"detail":"Invalid id: \"abc\"."}`},
			{"Nothing", "?id=" + ida, `{}`, `{"detail":"Nothing to update: give status or assignedTo."}`},
			{"Selector", "?status=open", `{"status":"resolved"}`, `{"detail":"Invalid status: \"open\"."}`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := ts.do(t, "PUT", list+tt.query, superToken, tt.body)
				if res.Status != 400 {
					t.Fatalf("status = %d %s", res.Status, res.Body)
				}
				jsonEqual(t, res.Body, tt.want)
			})
		}
	})
	t.Run("GetByShortID", func(t *testing.T) {
		var got, byShort issueBody
		ts.must(t, 200, "GET", issue(ida), nil).JSON(t, &got)
		ts.must(t, 200, "GET", issue(got.ShortID), nil).JSON(t, &byShort)
		if byShort.ID != ida {
			t.Fatalf("by short id = %+v", byShort)
		}
	})
	t.Run("Assign", func(t *testing.T) {
		ctx := context.Background()
		org, _ := ts.Store.FindOrganizationBySlug(ctx, "acme")
		teams, _ := ts.Store.FindTeams(ctx, org.ID)
		super, _ := ts.Store.FindTokenByValue(ctx, superToken)
		outsider, _ := ts.userToken(t, "outsider@example.com")
		tests := []struct {
			name     string
			value    any
			wantType string
			wantErr  string
		}{
			{"UserIDNumber", super.UserID, "user", ""},
			{"UserIDString", fmt.Sprint(super.UserID), "user", ""},
			{"UserPrefix", fmt.Sprintf("user:%d", super.UserID), "user", ""},
			{"Email", super.User.Email, "user", ""},
			{"Team", fmt.Sprintf("team:%d", teams[0].ID), "team", ""},
			{"Unassign", nil, "", ""},
			{"Empty", "", "", ""},
			{"ErrUnknownUser", "nobody@example.com", "", `{"assignedTo":["Unable to resolve actor identifier"]}`},
			{"ErrUnknownTeam", "team:99999", "", `{"assignedTo":["Unable to resolve actor identifier"]}`},
			{"ErrNotMember", outsider.Email, "", `{"assignedTo":["Cannot assign to non-team member"]}`},
			{"ErrType", true, "", `{"assignedTo":["Expected a string or an integer."]}`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := ts.do(t, "PUT", issue(ida), superToken, map[string]any{"assignedTo": tt.value})
				if tt.wantErr != "" {
					if res.Status != 400 {
						t.Fatalf("status = %d %s", res.Status, res.Body)
					}
					jsonEqual(t, res.Body, tt.wantErr)
					return
				}
				var got issueBody
				res.JSON(t, &got)
				if res.Status != 200 || (tt.wantType == "") != (got.AssignedTo == nil) || (got.AssignedTo != nil && got.AssignedTo.Type != tt.wantType) {
					t.Fatalf("status %d, assignedTo = %+v", res.Status, got.AssignedTo)
				}
			})
		}
	})
	t.Run("Event", func(t *testing.T) {
		var got struct {
			EventID string `json:"eventID"`
			GroupID string `json:"groupID"`
			Type    string `json:"type"`
			Entries []struct {
				Type string `json:"type"`
			} `json:"entries"`
		}
		ts.must(t, 200, "GET", "/api/0/projects/acme/web/events/"+a.ID+"/", nil).JSON(t, &got)
		if got.EventID != a.ID || got.GroupID != ida || got.Type != "error" || len(got.Entries) == 0 || got.Entries[0].Type != "exception" {
			t.Fatalf("event = %+v", got)
		}
		ts.must(t, 404, "GET", "/api/0/projects/acme/web/events/"+strings.Repeat("0", 32)+"/", nil)
		ts.must(t, 404, "GET", "/api/0/projects/acme/web/events/nope/", nil)
	})
	t.Run("Scopes", func(t *testing.T) {
		super, _ := ts.Store.FindTokenByValue(context.Background(), superToken)
		reader := ts.token(t, super.UserID, "event:read")
		if res := ts.do(t, "PUT", issue(ida), reader, map[string]any{"status": "resolved"}); res.Status != 403 {
			t.Fatalf("update with event:read: %d", res.Status)
		}
		if res := ts.do(t, "DELETE", issue(ida), reader, nil); res.Status != 403 {
			t.Fatalf("delete with event:read: %d", res.Status)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		var short issueBody
		ts.must(t, 200, "GET", issue(idb), nil).JSON(t, &short)
		ts.must(t, 202, "DELETE", issue(idb), nil)
		// Gone from every route at once: by id and short id, from the
		// list, with its event and comments, and from a bulk update.
		ts.must(t, 404, "GET", issue(idb), nil)
		ts.must(t, 404, "GET", issue(short.ShortID), nil)
		ts.must(t, 404, "DELETE", issue(idb), nil)
		ts.must(t, 404, "PUT", issue(idb), map[string]any{"status": "resolved"})
		ts.must(t, 404, "GET", issue(idb)+"comments/", nil)
		ts.must(t, 404, "GET", "/api/0/projects/acme/web/events/"+b.ID+"/", nil)
		var left []issueBody
		ts.must(t, 200, "GET", list, nil).JSON(t, &left)
		if len(left) != 1 || left[0].ID != ida {
			t.Fatalf("issues listed after the delete: %+v, want only %s", left, ida)
		}
		res := ts.do(t, "PUT", list+"?id="+idb, superToken, map[string]any{"status": "resolved"})
		if res.Status != 204 {
			t.Fatalf("bulk update of the deleted issue: %d %s, want 204 (no issue matched)", res.Status, res.Body)
		}
		// The next event of its group, here the deleted event sent again,
		// opens a new issue, with a new id.
		again := ts.storeEvent(t, `{"event_id":"`+b.ID+`","message":"disk full","level":"warning"}`)
		if again.IssueID <= b.IssueID {
			t.Fatalf("the group's next event went to issue %d, want a new issue after %d", again.IssueID, b.IssueID)
		}
		ts.must(t, 200, "GET", issue(fmt.Sprint(again.IssueID)), nil)
		var ev struct {
			GroupID string `json:"groupID"`
		}
		ts.must(t, 200, "GET", "/api/0/projects/acme/web/events/"+b.ID+"/", nil).JSON(t, &ev)
		if ev.GroupID != fmt.Sprint(again.IssueID) {
			t.Fatalf("the event sent again is in issue %s, want %d", ev.GroupID, again.IssueID)
		}
	})
}

func TestCommentRoutes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	e := ts.storeEvent(t, `{"message":"boom"}`)
	comments := fmt.Sprintf("/api/0/organizations/acme/issues/%d/comments/", e.IssueID)
	var c struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Data struct {
			Text string `json:"text"`
		} `json:"data"`
		User struct {
			Email string `json:"email"`
		} `json:"user"`
	}
	ts.must(t, 201, "POST", comments, map[string]any{"text": "looking"}).JSON(t, &c)
	if c.Type != "note" || c.Data.Text != "looking" || c.User.Email != "admin@herald.local" {
		t.Fatalf("comment = %+v", c)
	}
	t.Run("ErrText", func(t *testing.T) {
		res := ts.do(t, "POST", comments, superToken, map[string]any{"text": ""})
		jsonEqual(t, res.Body, `{"text":["This field may not be blank."]}`)
		res = ts.do(t, "POST", comments, superToken, map[string]any{})
		jsonEqual(t, res.Body, `{"text":["This field is required."]}`)
	})
	t.Run("OnlyTheAuthorEdits", func(t *testing.T) {
		_, tok := ts.member(t, "bob@acme.example", "event:write", "event:read")
		if res := ts.do(t, "PUT", comments+c.ID+"/", tok, map[string]any{"text": "mine"}); res.Status != 404 {
			t.Fatalf("status = %d", res.Status)
		}
		if res := ts.do(t, "DELETE", comments+c.ID+"/", tok, nil); res.Status != 404 {
			t.Fatalf("status = %d", res.Status)
		}
	})
	t.Run("UpdateListDelete", func(t *testing.T) {
		ts.must(t, 200, "PUT", comments+c.ID+"/", map[string]any{"text": "fixed"})
		var list []struct {
			Data struct {
				Text string `json:"text"`
			} `json:"data"`
		}
		ts.must(t, 200, "GET", comments, nil).JSON(t, &list)
		if len(list) != 1 || list[0].Data.Text != "fixed" {
			t.Fatalf("comments = %+v", list)
		}
		var is issueBody
		ts.must(t, 200, "GET", fmt.Sprintf("/api/0/organizations/acme/issues/%d/", e.IssueID), nil).JSON(t, &is)
		if is.NumComments != 1 {
			t.Fatalf("numComments = %d", is.NumComments)
		}
		ts.must(t, 204, "DELETE", comments+c.ID+"/", nil)
		ts.must(t, 404, "DELETE", comments+c.ID+"/", nil)
	})
}

// TestAppTokenActor: a change made with an app's own token names the app as
// the actor of its webhook.
func TestAppTokenActor(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	app := ts.createApp(t, "Bot", true, "comment")
	var tok struct {
		Token string `json:"token"`
	}
	ts.must(t, 201, "POST", "/api/0/sentry-apps/"+app.Slug+"/api-tokens/", nil).JSON(t, &tok)
	e := ts.storeEvent(t, `{"message":"boom"}`)
	res := ts.do(t, "POST", fmt.Sprintf("/api/0/organizations/acme/issues/%d/comments/", e.IssueID), tok.Token, map[string]any{"text": "triaged"})
	if res.Status != 201 || !strings.Contains(string(res.Body), `"sentry_app":{"uuid":"`+app.UUID) {
		t.Fatalf("comment: %d %s", res.Status, res.Body)
	}
	ctx := context.Background()
	insts, err := ts.Store.FindInstallations(ctx, app.Owner.ID)
	if err != nil || len(insts) != 1 {
		t.Fatalf("installations = %v, %v", insts, err)
	}
	ds, _, err := ts.Store.FindDeliveries(ctx, herald.DeliveryFilter{DestinationKind: herald.DestinationApp, DestinationID: insts[0].UUID})
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries = %v, %v", ds, err)
	}
	var body struct {
		Actor map[string]any `json:"actor"`
	}
	if err := json.Unmarshal(ds[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Actor["type"] != "application" || body.Actor["id"] != app.UUID || body.Actor["name"] != "Bot" {
		t.Fatalf("actor = %v", body.Actor)
	}
}
