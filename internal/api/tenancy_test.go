package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/herald-dev/herald"
)

// installedApp publishes a public app of acme, installs it on org and
// returns the installation's uuid and token.
func (ts *testServer) installedApp(t *testing.T, app appBody, org string) (uuid, token string) {
	t.Helper()
	var inst struct {
		UUID string `json:"uuid"`
		Code string `json:"code"`
	}
	ts.must(t, 201, "POST", "/api/0/organizations/"+org+"/sentry-app-installations/", map[string]any{"slug": app.Slug}).JSON(t, &inst)
	var tok struct {
		Token string `json:"token"`
	}
	ts.must(t, 201, "POST", "/api/0/sentry-app-installations/"+inst.UUID+"/authorizations/", map[string]any{
		"client_id": app.ClientID, "client_secret": *app.ClientSecret, "grant_type": "authorization_code", "code": inst.Code}).JSON(t, &tok)
	return inst.UUID, tok.Token
}

// globex creates a second organization with a team and a project.
func (ts *testServer) globex(t *testing.T) {
	t.Helper()
	ts.must(t, 201, "POST", "/api/0/organizations/", map[string]any{"name": "Globex", "slug": "globex"})
	ts.must(t, 201, "POST", "/api/0/organizations/globex/teams/", map[string]any{"name": "Ops", "slug": "ops"})
	ts.must(t, 201, "POST", "/api/0/teams/globex/ops/projects/", map[string]any{"name": "Api", "slug": "api"})
}

// TestInstallationTokenStaysInItsOrganization reproduces the escape of an
// installation's token: it could mint a personal token of the app's shared
// user, which had no organization and reached every one, and revoke other
// organizations' installation tokens.
func TestInstallationTokenStaysInItsOrganization(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	ts.globex(t)
	var app appBody
	ts.must(t, 201, "POST", "/api/0/sentry-apps/", map[string]any{"name": "Pager", "organization": "acme", "author": "Acme",
		"webhookUrl": "https://apps.example/pager", "events": []string{"issue"}, "scopes": []string{"org:read", "event:read", "event:write"}}).JSON(t, &app)
	ts.must(t, 200, "PUT", "/api/0/sentry-apps/pager/", map[string]any{"status": "published"})
	_, acmeToken := ts.installedApp(t, app, "acme")
	globexUUID, globexToken := ts.installedApp(t, app, "globex")

	t.Run("ErrMintPersonalToken", func(t *testing.T) {
		res := ts.do(t, "POST", "/api/0/api-tokens/", acmeToken, map[string]any{"scopes": []string{"event:read"}})
		if res.Status != 403 {
			t.Fatalf("POST api-tokens with an installation token = %d %s, want 403", res.Status, res.Body)
		}
		jsonEqual(t, res.Body, `{"detail":"This action is not available to an integration's token: use a personal token."}`)
	})
	t.Run("ErrListPersonalTokens", func(t *testing.T) {
		if res := ts.do(t, "GET", "/api/0/api-tokens/", acmeToken, nil); res.Status != 403 {
			t.Fatalf("GET api-tokens = %d %s, want 403", res.Status, res.Body)
		}
	})
	t.Run("ErrRevokeOtherInstallationsTokens", func(t *testing.T) {
		if res := ts.do(t, "DELETE", "/api/0/api-tokens/", acmeToken, map[string]any{}); res.Status != 403 {
			t.Fatalf("DELETE api-tokens = %d %s, want 403", res.Status, res.Body)
		}
		if res := ts.do(t, "GET", "/api/0/projects/globex/api/issues/", globexToken, nil); res.Status != 200 {
			t.Fatalf("globex's installation token after acme's DELETE = %d %s", res.Status, res.Body)
		}
	})
	t.Run("ErrOtherOrganization", func(t *testing.T) {
		for _, path := range []string{"/api/0/projects/globex/api/issues/", "/api/0/organizations/globex/"} {
			if res := ts.do(t, "GET", path, acmeToken, nil); res.Status != 403 {
				t.Errorf("GET %s = %d %s, want 403", path, res.Status, res.Body)
			}
		}
	})
	t.Run("ErrCreateOrganization", func(t *testing.T) {
		if res := ts.do(t, "POST", "/api/0/organizations/", acmeToken, map[string]any{"name": "Mine", "slug": "mine"}); res.Status != 403 {
			t.Fatalf("POST organizations = %d %s, want 403", res.Status, res.Body)
		}
	})
	t.Run("ListsOnlyItsOrganization", func(t *testing.T) {
		var orgs []struct {
			Slug string `json:"slug"`
		}
		ts.must(t, 200, "GET", "/api/0/organizations/", nil) // the superuser sees both
		res := ts.do(t, "GET", "/api/0/organizations/", acmeToken, nil)
		res.JSON(t, &orgs)
		if res.Status != 200 || len(orgs) != 1 || orgs[0].Slug != "acme" {
			t.Fatalf("organizations = %d %s", res.Status, res.Body)
		}
	})
	t.Run("LegacyPersonalTokenRefused", func(t *testing.T) {
		// A personal token of the app's user made before minting was
		// refused reaches nothing.
		ctx := context.Background()
		a, err := ts.Store.FindAppBySlug(ctx, "pager")
		if err != nil {
			t.Fatal(err)
		}
		legacy := &herald.Token{UserID: a.ProxyUserID, Scopes: herald.Scopes}
		if err := ts.Store.CreateToken(ctx, legacy); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/api/0/", "/api/0/projects/globex/api/issues/", "/api/0/projects/acme/web/issues/"} {
			if res := ts.do(t, "GET", path, legacy.Value, nil); res.Status != 401 {
				t.Errorf("GET %s with a legacy app personal token = %d %s, want 401", path, res.Status, res.Body)
			}
		}
	})
	t.Run("DiesWithItsInstallation", func(t *testing.T) {
		ts.must(t, 204, "DELETE", "/api/0/sentry-app-installations/"+globexUUID+"/", nil)
		if res := ts.do(t, "GET", "/api/0/projects/globex/api/issues/", globexToken, nil); res.Status != 401 {
			t.Fatalf("token of an uninstalled installation = %d %s, want 401", res.Status, res.Body)
		}
		if res := ts.do(t, "GET", "/api/0/projects/acme/web/issues/", acmeToken, nil); res.Status != 200 {
			t.Fatalf("acme's installation token = %d %s", res.Status, res.Body)
		}
	})
}

// TestOrgReadDoesNotGrantIntegrations reproduces a read-only token minting
// org:integrations tokens and installing, verifying and uninstalling apps.
func TestOrgReadDoesNotGrantIntegrations(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	app := ts.createApp(t, "Pager", false, "issue")
	_, reader := ts.member(t, "reader@acme.example", "org:read")
	var inst struct {
		UUID string `json:"uuid"`
	}
	ts.must(t, 201, "POST", "/api/0/organizations/acme/sentry-app-installations/", map[string]any{"slug": app.Slug}).JSON(t, &inst)
	tests := []struct {
		name, method, path string
		body               any
	}{
		{"MintIntegrationsToken", "POST", "/api/0/api-tokens/", map[string]any{"scopes": []string{"org:integrations"}}},
		{"Install", "POST", "/api/0/organizations/acme/sentry-app-installations/", map[string]any{"slug": app.Slug}},
		{"Verify", "PUT", "/api/0/sentry-app-installations/" + inst.UUID + "/", map[string]any{"status": "installed"}},
		{"Uninstall", "DELETE", "/api/0/sentry-app-installations/" + inst.UUID + "/", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if res := ts.do(t, tt.method, tt.path, reader, tt.body); res.Status != 403 {
				t.Fatalf("%s %s with org:read = %d %s, want 403", tt.method, tt.path, res.Status, res.Body)
			}
		})
	}
	t.Run("ListWithoutGrantCode", func(t *testing.T) {
		res := ts.do(t, "GET", "/api/0/organizations/acme/sentry-app-installations/", reader, nil)
		if res.Status != 200 || strings.Contains(string(res.Body), `"code"`) {
			t.Fatalf("installations for org:read = %d %s, want 200 without the grant code", res.Status, res.Body)
		}
	})
	t.Run("IntegrationsTokenInstalls", func(t *testing.T) {
		_, integ := ts.member(t, "integrator@acme.example", "org:integrations")
		if res := ts.do(t, "PUT", "/api/0/sentry-app-installations/"+inst.UUID+"/", integ, map[string]any{"status": "installed"}); res.Status != 200 {
			t.Fatalf("verify with org:integrations = %d %s", res.Status, res.Body)
		}
	})
}

// TestPublishing reproduces another organization installing acme's
// unpublished public app, and checks publishing as Sentry does it.
func TestPublishing(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	ts.globex(t)
	app := ts.createApp(t, "Pager", false, "issue")
	ts.createApp(t, "Ledger", true)
	owner, err := ts.Store.FindOrganizationBySlug(context.Background(), "globex")
	if err != nil {
		t.Fatal(err)
	}
	outsider, outsiderToken := ts.userToken(t, "ops@globex.example", herald.Scopes...)
	if _, err := ts.Store.SQL().Exec(`INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'owner')`, owner.ID, outsider.ID); err != nil {
		t.Fatal(err)
	}
	_, acmeAdmin := ts.member(t, "admin@acme.example", herald.Scopes...)
	const globexInstalls = "/api/0/organizations/globex/sentry-app-installations/"

	t.Run("ErrInstallUnpublished", func(t *testing.T) {
		res := ts.do(t, "POST", globexInstalls, outsiderToken, map[string]any{"slug": "pager"})
		missing := ts.do(t, "POST", globexInstalls, outsiderToken, map[string]any{"slug": "no-such-app"})
		if res.Status != 400 || missing.Status != 400 {
			t.Fatalf("install unpublished = %d %s; missing = %d", res.Status, res.Body, missing.Status)
		}
		// The answer does not tell an app of another organization from
		// one that does not exist.
		jsonEqual(t, res.Body, `{"slug":["Sentry App \"pager\" does not exist."]}`)
		jsonEqual(t, missing.Body, `{"slug":["Sentry App \"no-such-app\" does not exist."]}`)
	})
	t.Run("ErrGetUnpublished", func(t *testing.T) {
		if res := ts.do(t, "GET", "/api/0/sentry-apps/pager/", outsiderToken, nil); res.Status != 404 {
			t.Fatalf("GET another organization's unpublished app = %d %s, want 404", res.Status, res.Body)
		}
	})
	t.Run("ErrPublishAsMember", func(t *testing.T) {
		res := ts.do(t, "PUT", "/api/0/sentry-apps/pager/", acmeAdmin, map[string]any{"status": "published"})
		if res.Status != 403 {
			t.Fatalf("publish as an owner who is not a superuser = %d %s, want 403", res.Status, res.Body)
		}
	})
	t.Run("ErrPublishInternal", func(t *testing.T) {
		var apps []appBody
		ts.must(t, 200, "GET", "/api/0/sentry-apps/?status=internal", nil).JSON(t, &apps)
		res := ts.do(t, "PUT", "/api/0/sentry-apps/"+apps[0].Slug+"/", superToken, map[string]any{"status": "published"})
		jsonEqual(t, res.Body, `{"status":["Internal integrations cannot be published."]}`)
	})
	t.Run("ErrBadStatus", func(t *testing.T) {
		res := ts.do(t, "PUT", "/api/0/sentry-apps/pager/", superToken, map[string]any{"status": "famous"})
		jsonEqual(t, res.Body, `{"status":["\"famous\" is not a valid choice."]}`)
	})
	t.Run("Published", func(t *testing.T) {
		var got appBody
		ts.must(t, 200, "PUT", "/api/0/sentry-apps/pager/", map[string]any{"status": "published"}).JSON(t, &got)
		if got.Status != "published" {
			t.Fatalf("status = %q", got.Status)
		}
		// Anyone sees a published app, without its credentials.
		res := ts.do(t, "GET", "/api/0/sentry-apps/pager/", outsiderToken, nil)
		var fields map[string]json.RawMessage
		res.JSON(t, &fields)
		if res.Status != 200 || fields["clientId"] != nil || fields["clientSecret"] != nil || fields["owner"] != nil {
			t.Fatalf("published app for an outsider = %d %s", res.Status, res.Body)
		}
		var listed []appBody
		ts.do(t, "GET", "/api/0/sentry-apps/?status=published", outsiderToken, nil).JSON(t, &listed)
		if len(listed) != 1 || listed[0].Slug != "pager" || listed[0].ClientID != "" {
			t.Fatalf("published apps = %+v", listed)
		}
		if res := ts.do(t, "POST", globexInstalls, outsiderToken, map[string]any{"slug": "pager"}); res.Status != 201 {
			t.Fatalf("install a published app = %d %s", res.Status, res.Body)
		}
		// Its management routes stay its owners'.
		if res := ts.do(t, "POST", "/api/0/sentry-apps/pager/rotate-secret/", outsiderToken, nil); res.Status != 404 {
			t.Fatalf("rotate another organization's published app's secret = %d %s, want 404", res.Status, res.Body)
		}
		// The owner still sees everything.
		var mine appBody
		ts.must(t, 200, "GET", "/api/0/sentry-apps/pager/", nil).JSON(t, &mine)
		if mine.ClientID != app.ClientID {
			t.Fatalf("owner's view = %+v", mine)
		}
	})
	t.Run("Unpublished", func(t *testing.T) {
		ts.must(t, 200, "PUT", "/api/0/sentry-apps/pager/", map[string]any{"status": "unpublished"})
		if res := ts.do(t, "GET", "/api/0/sentry-apps/pager/", outsiderToken, nil); res.Status != 404 {
			t.Fatalf("GET an unpublished app = %d %s, want 404", res.Status, res.Body)
		}
	})
}
