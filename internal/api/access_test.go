package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/herald-dev/herald"
)

// Rule ids of Sentry's issue alert conditions and actions.
const (
	firstSeenCondition = "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"
	notifyEventAction  = "sentry.rules.actions.notify_event.NotifyEventAction"
)

// The callers of the access-control matrix, in the order they call each
// route: those that must be refused first, then those that may pass (and
// may change what the route names).
const (
	callerAnonymous         = "Anonymous"
	callerMalformedScheme   = "MalformedScheme"
	callerMalformedValue    = "MalformedValue"
	callerRevoked           = "Revoked"
	callerMintedByApp       = "MintedByInstallation"
	callerMissingScope      = "MissingScope"
	callerOtherOrganization = "OtherOrganization"
	callerOtherInstallation = "OtherInstallation"
	callerInstallation      = "Installation"
)

var matrixCallers = []string{
	callerAnonymous, callerMalformedScheme, callerMalformedValue, callerRevoked, callerMintedByApp,
	callerMissingScope, callerOtherOrganization, callerOtherInstallation, callerInstallation,
}

// installationScopes are the scopes of the Sentry App whose installation
// tokens call the matrix's routes.
var installationScopes = []string{"org:read", "project:read", "event:read", "event:write"}

// accessFixture is a server with two organizations and one of everything a
// route can name in acme, and a token (or header) for every caller.
type accessFixture struct {
	ts *testServer
	// values fills the routes' path values.
	values map[string]string
	// headers is the Authorization header of each caller ("" for none).
	headers map[string]string
}

// newAccessFixture builds the fixture through the API, as a user would.
func newAccessFixture(t *testing.T) *accessFixture {
	t.Helper()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	ctx := context.Background()
	f := &accessFixture{ts: ts, values: map[string]string{"org": "acme", "team": "core", "project": "web"}, headers: map[string]string{}}

	ts.must(t, 201, "POST", "/api/0/organizations/", map[string]any{"name": "Globex", "slug": "globex"})
	ts.must(t, 201, "POST", "/api/0/organizations/globex/teams/", map[string]any{"name": "Ops", "slug": "ops"})
	ts.must(t, 201, "POST", "/api/0/teams/globex/ops/projects/", map[string]any{"name": "Api", "slug": "api"})

	var hook hookBody
	ts.must(t, 201, "POST", "/api/0/projects/acme/web/hooks/", map[string]any{"url": "https://example.com/h", "events": []string{"event.created"}}).JSON(t, &hook)
	f.values["hook_id"] = hook.ID
	e := ts.storeEvent(t, `{"event_id":"9fac2ceed9344f2bbfdd1fdacb0ed9b1","message":"boom","level":"error"}`)
	f.values["event_id"], f.values["issue_id"] = e.ID, fmt.Sprint(e.IssueID)
	var deliveries []deliveryBody
	ts.must(t, 200, "GET", "/api/0/projects/acme/web/hooks/"+hook.ID+"/deliveries/", nil).JSON(t, &deliveries)
	if len(deliveries) != 1 {
		t.Fatalf("deliveries = %+v", deliveries)
	}
	f.values["delivery_id"] = deliveries[0].ID
	var ids struct {
		ID string `json:"id"`
	}
	ts.must(t, 201, "POST", "/api/0/organizations/acme/issues/"+f.values["issue_id"]+"/comments/", map[string]any{"text": "seen"}).JSON(t, &ids)
	f.values["comment_id"] = ids.ID
	ts.must(t, 201, "POST", "/api/0/projects/acme/web/rules/", map[string]any{"name": "New issues",
		"conditions": []map[string]any{{"id": firstSeenCondition}}, "actions": []map[string]any{{"id": notifyEventAction}}}).JSON(t, &ids)
	f.values["rule_id"] = ids.ID
	ts.must(t, 201, "POST", "/api/0/organizations/acme/alert-rules/", map[string]any{"name": "Spike", "aggregate": "count()",
		"query": "", "timeWindow": 10, "projects": []string{"web"}, "thresholdType": 0,
		"triggers": []map[string]any{{"label": "critical", "alertThreshold": 4, "actions": []any{}}}}).JSON(t, &ids)
	f.values["alert_rule_id"] = ids.ID

	// An internal app of acme, named by the app routes, and a public app
	// of acme, published and installed on both organizations, whose
	// installation tokens are callers.
	var ledger struct {
		Slug string `json:"slug"`
	}
	ts.must(t, 201, "POST", "/api/0/sentry-apps/", map[string]any{"name": "Ledger", "organization": "acme", "isInternal": true,
		"scopes": []string{"project:read"}}).JSON(t, &ledger)
	f.values["slug"] = ledger.Slug
	var appTokens []struct {
		ID string `json:"id"`
	}
	ts.must(t, 200, "GET", "/api/0/sentry-apps/"+ledger.Slug+"/api-tokens/", nil).JSON(t, &appTokens)
	f.values["token_id"] = appTokens[0].ID

	var pager appBody
	ts.must(t, 201, "POST", "/api/0/sentry-apps/", map[string]any{"name": "Pager", "organization": "acme", "author": "Acme",
		"webhookUrl": "https://apps.example/pager", "scopes": installationScopes}).JSON(t, &pager)
	ts.must(t, 200, "PUT", "/api/0/sentry-apps/pager/", map[string]any{"status": "published"})
	install := func(org string) (uuid, token string) {
		var inst struct {
			UUID string `json:"uuid"`
			Code string `json:"code"`
		}
		ts.must(t, 201, "POST", "/api/0/organizations/"+org+"/sentry-app-installations/", map[string]any{"slug": "pager"}).JSON(t, &inst)
		var tok struct {
			Token string `json:"token"`
		}
		ts.must(t, 201, "POST", "/api/0/sentry-app-installations/"+inst.UUID+"/authorizations/", map[string]any{
			"client_id": pager.ClientID, "client_secret": *pager.ClientSecret, "grant_type": "authorization_code", "code": inst.Code}).JSON(t, &tok)
		return inst.UUID, tok.Token
	}
	var own, other string
	f.values["uuid"], own = install("acme")
	_, other = install("globex")
	f.headers[callerInstallation] = "Bearer " + own
	f.headers[callerOtherInstallation] = "Bearer " + other

	// A personal token of the app's user, as an installation could make
	// one before that was refused: it must be worthless.
	app, err := ts.Store.FindAppBySlug(ctx, "pager")
	if err != nil {
		t.Fatal(err)
	}
	minted := &herald.Token{UserID: app.ProxyUserID, Scopes: herald.Scopes}
	if err := ts.Store.CreateToken(ctx, minted); err != nil {
		t.Fatal(err)
	}
	f.headers[callerMintedByApp] = "Bearer " + minted.Value

	reader, missing := ts.member(t, "reader@acme.example", "member:read")
	f.values["member_id"] = fmt.Sprint(reader.ID)
	f.headers[callerMissingScope] = "Bearer " + missing
	outsider, outsiderToken := ts.userToken(t, "ops@globex.example", herald.Scopes...)
	globex, err := ts.Store.FindOrganizationBySlug(ctx, "globex")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Store.SQL().Exec(`INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'owner')`, globex.ID, outsider.ID); err != nil {
		t.Fatal(err)
	}
	f.headers[callerOtherOrganization] = "Bearer " + outsiderToken

	var revoked struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	ts.must(t, 201, "POST", "/api/0/api-tokens/", map[string]any{"scopes": herald.Scopes}).JSON(t, &revoked)
	ts.must(t, 204, "DELETE", "/api/0/api-tokens/"+revoked.ID+"/", nil)
	f.headers[callerRevoked] = "Bearer " + revoked.Token
	f.headers[callerMalformedScheme] = "Basic dXNlcjpwYXNzd29yZA=="
	f.headers[callerMalformedValue] = "Bearer " + strings.Repeat("x", 300)
	return f
}

// path fills the route's path values, failing for one the fixture does
// not know, so that a new route cannot go untested.
func (f *accessFixture) path(t *testing.T, pattern string) string {
	t.Helper()
	var b strings.Builder
	for rest := pattern; rest != ""; {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			b.WriteString(rest)
			break
		}
		end := strings.IndexByte(rest, '}')
		name := rest[open+1 : end]
		v, ok := f.values[name]
		if !ok {
			t.Fatalf("route %s: the access matrix has no value for {%s}: add one to newAccessFixture", pattern, name)
		}
		b.WriteString(rest[:open] + v)
		rest = rest[end+1:]
	}
	return b.String()
}

// matrixBodies are request bodies for routes that read one; others get
// "{}". Bodies only need to get a request past decoding: the matrix is
// about who may call, not what is valid.
var matrixBodies = map[string]string{
	"POST /api/0/sentry-apps/":                                    `{"name":"Intruder","organization":"acme","isInternal":true,"scopes":[]}`,
	"POST /api/0/sentry-app-installations/{uuid}/authorizations/": `{"grant_type":"authorization_code","code":"nope"}`,
}

// orgInBody lists the routes that name acme in their body rather than
// their path.
var orgInBody = map[string]bool{"POST /api/0/sentry-apps/": true}

// expectation is what a caller must get from a route: a refusal with that
// status, or (allowed) anything that is not a refusal or a server error.
type expectation struct {
	status  int
	allowed bool
}

func refused(status int) expectation { return expectation{status: status} }

var allowed = expectation{allowed: true}

// expect derives what caller must get from route, by Sentry's rules: 401
// without a valid token; 403 for a token without the route's scope, for
// another organization's caller on an organization's routes and for a
// Sentry App's token on routes for people only; 404 for another
// organization's apps and installations, which it cannot tell exist.
func expect(r routeInfo, caller string) expectation {
	key := r.Method + " " + r.Path
	switch r.Auth {
	case "client":
		return refused(http.StatusUnauthorized)
	case "optional":
		// An Authorization header of another scheme is no credential
		// at all; a bearer token must be valid.
		if caller == callerMalformedValue || caller == callerRevoked || caller == callerMintedByApp {
			return refused(http.StatusUnauthorized)
		}
		return expectation{status: http.StatusOK, allowed: true}
	}
	boundToAcme := strings.Contains(r.Path, "{org}") || orgInBody[key]
	appOrInstallation := strings.Contains(r.Path, "{slug}") || strings.Contains(r.Path, "{uuid}")
	grants := func(scopes []string) bool {
		if r.Scope == "" {
			return true
		}
		tok := &herald.Token{Scopes: scopes}
		for sc := range strings.SplitSeq(r.Scope, "|") {
			if tok.HasScope(sc) {
				return true
			}
		}
		return false
	}
	switch caller {
	case callerAnonymous, callerMalformedScheme, callerMalformedValue, callerRevoked, callerMintedByApp:
		return refused(http.StatusUnauthorized)
	case callerMissingScope:
		if !grants([]string{"member:read"}) {
			return refused(http.StatusForbidden)
		}
		return allowed
	case callerOtherOrganization:
		switch {
		case boundToAcme:
			return refused(http.StatusForbidden)
		case appOrInstallation:
			return refused(http.StatusNotFound)
		}
		return allowed
	case callerOtherInstallation, callerInstallation:
		switch {
		case r.PersonalOnly:
			return refused(http.StatusForbidden)
		case caller == callerOtherInstallation && boundToAcme:
			return refused(http.StatusForbidden)
		case caller == callerOtherInstallation && appOrInstallation:
			return refused(http.StatusNotFound)
		case caller == callerInstallation && strings.Contains(r.Path, "{uuid}"):
			// An app acts on its own installation whatever its scopes.
			return allowed
		case !grants(installationScopes):
			return refused(http.StatusForbidden)
		}
		return allowed
	}
	panic("unknown caller " + caller)
}

// routeInfo is the part of api.Route the matrix reads.
type routeInfo struct {
	Method, Path, Scope, Auth string
	PersonalOnly              bool
}

// TestAccessMatrix calls every route of the API's route table as every
// kind of caller and checks Sentry's 401/403/404, or that an allowed
// caller is not refused. A route added to the table is covered at once; a
// path value the fixture cannot fill fails the test.
func TestAccessMatrix(t *testing.T) {
	t.Parallel()
	routes := newTestServer(t, nil).API.Routes()
	if len(routes) < 60 {
		t.Fatalf("route table has %d routes; expected the whole API", len(routes))
	}
	for _, route := range routes {
		r := routeInfo{route.Method, route.Path, route.Scope, route.Auth, route.PersonalOnly}
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			t.Parallel()
			f := newAccessFixture(t)
			path := f.path(t, r.Path)
			body, ok := matrixBodies[r.Method+" "+r.Path]
			if !ok && (r.Method == "POST" || r.Method == "PUT" || r.Method == "DELETE") {
				body = "{}"
			}
			for _, caller := range matrixCallers {
				want := expect(r, caller)
				res := f.call(t, r.Method, path, f.headers[caller], body)
				switch {
				case res.Status >= 500:
					t.Errorf("%s: %d %s", caller, res.Status, res.Body)
				case want.allowed && want.status != 0 && res.Status != want.status:
					t.Errorf("%s: %d %s, want %d", caller, res.Status, res.Body, want.status)
				case want.allowed && (res.Status == 401 || res.Status == 403):
					t.Errorf("%s: refused with %d %s, want allowed", caller, res.Status, res.Body)
				case !want.allowed && res.Status != want.status:
					t.Errorf("%s: %d %s, want %d", caller, res.Status, res.Body, want.status)
				}
			}
		})
	}
}

// call sends one request with an Authorization header (none when "").
func (f *accessFixture) call(t *testing.T, method, path, authorization, body string) *response {
	t.Helper()
	req, err := http.NewRequest(method, f.ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return f.ts.send(t, req)
}
