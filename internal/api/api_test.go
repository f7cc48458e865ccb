package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/api"
	"github.com/herald-dev/herald/internal/buildinfo"
	"github.com/herald-dev/herald/internal/openapitest"
	"github.com/herald-dev/herald/internal/service"
	"github.com/herald-dev/herald/internal/sqlstore"
	"github.com/herald-dev/herald/internal/storetest"
	"github.com/herald-dev/herald/internal/webhook"
)

// superToken is the bootstrap superuser token of every test server.
const superToken = "test-token-0123456789abcdef"

// testServer is the real API handler on a loopback listener over a fresh
// SQLite store.
type testServer struct {
	*httptest.Server
	Store *sqlstore.DB
	Clock *storetest.Clock
	// API is the server under test; Changes the service it writes through.
	API     *api.Server
	Changes *service.Service
	// BaseURL is the server's configured public URL (its own address).
	BaseURL string
}

// newTestServer starts a server whose BaseURL is its own address, with a
// bootstrap superuser token and cfg's Ready, if any.
func newTestServer(t testing.TB, ready func(context.Context) error) *testServer {
	t.Helper()
	clock := storetest.NewClock(time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC))
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	store := storetest.OpenSQLite(t, storetest.Options(clock))
	if _, err := store.EnsureSuperuserToken(context.Background(), superToken); err != nil {
		t.Fatalf("ensure superuser token: %v", err)
	}
	changes, err := service.New(service.Config{Store: store, Webhooks: &webhook.Notifier{BaseURL: base, Clock: clock}, Clock: clock})
	if err != nil {
		t.Fatalf("new service: %v", err)
	}
	srv, err := api.NewServer(api.Config{
		Store:   store,
		Changes: changes,
		BaseURL: base,
		Clock:   clock,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Ready:   ready,
	})
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	// Every exchange is checked against the OpenAPI document.
	ts.Config.Handler = openapitest.Middleware(t, srv.Handler())
	ts.Start()
	t.Cleanup(ts.Close)
	return &testServer{Server: ts, Store: store, Clock: clock, BaseURL: base, API: srv, Changes: changes}
}

// response is a finished request.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v.
func (r *response) JSON(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// do sends a request with token (none when "") and body: a string is sent
// as it is, anything else as JSON.
func (ts *testServer) do(t *testing.T, method, path, token string, body any) *response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	url := path
	if strings.HasPrefix(path, "/") {
		url = ts.URL + path
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return ts.send(t, req)
}

// send sends req and reads the whole answer.
func (ts *testServer) send(t *testing.T, req *http.Request) *response {
	t.Helper()
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// must sends a request and fails the test unless it gets want.
func (ts *testServer) must(t *testing.T, want int, method, path string, body any) *response {
	t.Helper()
	res := ts.do(t, method, path, superToken, body)
	if res.Status != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, res.Status, res.Body, want)
	}
	return res
}

// fixture creates, through the API, the organization "acme", its team
// "core" and the project "web".
func (ts *testServer) fixture(t *testing.T) {
	t.Helper()
	ts.must(t, 201, "POST", "/api/0/organizations/", map[string]any{"name": "Acme", "slug": "acme"})
	ts.must(t, 201, "POST", "/api/0/organizations/acme/teams/", map[string]any{"name": "Core", "slug": "core"})
	ts.must(t, 201, "POST", "/api/0/teams/acme/core/projects/", map[string]any{"name": "Web", "slug": "web", "platform": "javascript"})
}

// userToken creates a user and a token of it with scopes.
func (ts *testServer) userToken(t *testing.T, email string, scopes ...string) (*herald.User, string) {
	t.Helper()
	ctx := context.Background()
	u := &herald.User{Email: email, Name: email}
	if err := ts.Store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	return u, ts.token(t, u.ID, scopes...)
}

// token creates a token of the user with scopes.
func (ts *testServer) token(t *testing.T, userID int64, scopes ...string) string {
	t.Helper()
	tok := &herald.Token{UserID: userID, Scopes: scopes}
	if err := ts.Store.CreateToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	return tok.Value
}

// jsonEqual fails unless got and want hold the same JSON value.
func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body %q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %q is not JSON: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Fatalf("body = %s, want %s", gb, wb)
	}
}

var (
	hex32      = regexp.MustCompile(`^[0-9a-f]{32}$`)
	hex64      = regexp.MustCompile(`^[0-9a-f]{64}$`)
	timeFormat = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)
)

func TestHealth(t *testing.T) {
	t.Parallel()
	ok := newTestServer(t, func(context.Context) error { return nil })
	down := newTestServer(t, func(context.Context) error {
		return errors.New("dial tcp 10.0.0.5:5432: postgres user herald: database unreachable")
	})
	tests := []struct {
		name   string
		ts     *testServer
		path   string
		status int
		body   string
	}{
		{"Healthz", ok, "/healthz", 200, `{"status":"ok"}`},
		{"Readyz", ok, "/readyz", 200, `{"status":"ok"}`},
		// Anonymous callers learn nothing of why.
		{"ReadyzDown", down, "/readyz", 503, `{"status":"unavailable"}`},
		{"HealthzWhileDown", down, "/healthz", 200, `{"status":"ok"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.ts.do(t, "GET", tt.path, "", nil)
			if res.Status != tt.status {
				t.Fatalf("status = %d, want %d", res.Status, tt.status)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type = %q", ct)
			}
			jsonEqual(t, res.Body, tt.body)
		})
	}
}

func TestReadyDefaultsToPing(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	res := ts.do(t, "GET", "/readyz", "", nil)
	if res.Status != 200 {
		t.Fatalf("readyz = %d %s", res.Status, res.Body)
	}
}

// anonymousIndex is the body of GET /api/0/ without a token: Sentry's
// fields, and the build of the running binary.
func anonymousIndex(t *testing.T) string {
	t.Helper()
	build, err := json.Marshal(buildinfo.Read())
	if err != nil {
		t.Fatal(err)
	}
	return `{"version":"0","auth":null,"user":null,"herald":` + string(build) + `}`
}

func TestIndex(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	t.Run("Anonymous", func(t *testing.T) {
		res := ts.do(t, "GET", "/api/0/", "", nil)
		if res.Status != 200 {
			t.Fatalf("status = %d", res.Status)
		}
		jsonEqual(t, res.Body, anonymousIndex(t))
	})
	t.Run("Token", func(t *testing.T) {
		for _, path := range []string{"/api/0/", "/api/0"} {
			res := ts.must(t, 200, "GET", path, nil)
			var body struct {
				Version string `json:"version"`
				Auth    struct {
					Scopes []string `json:"scopes"`
				} `json:"auth"`
				User struct {
					ID          string `json:"id"`
					Email       string `json:"email"`
					IsSuperuser bool   `json:"isSuperuser"`
				} `json:"user"`
				Herald buildinfo.Info `json:"herald"`
			}
			res.JSON(t, &body)
			if body.Version != "0" || len(body.Auth.Scopes) != len(herald.Scopes) || body.User.ID == "" || !body.User.IsSuperuser ||
				body.Herald != buildinfo.Read() {
				t.Fatalf("index = %s", res.Body)
			}
		}
	})
	t.Run("ErrInvalidToken", func(t *testing.T) {
		res := ts.do(t, "GET", "/api/0/", "nope", nil)
		if res.Status != 401 {
			t.Fatalf("status = %d", res.Status)
		}
		jsonEqual(t, res.Body, `{"detail":"Invalid token"}`)
	})
}

func TestErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	ts.must(t, 201, "POST", "/api/0/teams/acme/core/projects/", map[string]any{"name": "No hooks", "slug": "nohooks"})
	ts.must(t, 200, "PUT", "/api/0/projects/acme/nohooks/", map[string]any{"features": []string{}})
	hook := struct {
		ID string `json:"id"`
	}{}
	ts.must(t, 201, "POST", "/api/0/projects/acme/web/hooks/", map[string]any{
		"url": "https://example.com/hook", "events": []string{"event.created"},
	}).JSON(t, &hook)

	// A user with an organization of its own, "other", holding a project.
	owner, ownerToken := ts.userToken(t, "owner@other.example", "org:read", "org:write")
	res := ts.do(t, "POST", "/api/0/organizations/", ownerToken, map[string]any{"name": "Other"})
	if res.Status != 201 {
		t.Fatalf("create org as user = %d %s", res.Status, res.Body)
	}
	ts.must(t, 201, "POST", "/api/0/organizations/other/teams/", map[string]any{"slug": "team"})
	ts.must(t, 201, "POST", "/api/0/teams/other/team/projects/", map[string]any{"name": "App"})
	// ownerReadToken is the owner's token with org:read only; readToken's
	// user is no member of any organization.
	ownerReadToken := ts.token(t, owner.ID, "org:read")
	ownerWriteToken := ts.token(t, owner.ID, "project:write")
	_, readToken := ts.userToken(t, "reader@other.example", "org:read")

	const (
		noCredentials = `{"detail":"Authentication credentials were not provided."}`
		invalidToken  = `{"detail":"Invalid token"}`
		forbidden     = `{"detail":"You do not have permission to perform this action."}`
		notFound      = `{"detail":"The requested resource does not exist"}`
		noFeature     = `{"error_type":"unavailable_feature","detail":["You do not have that feature enabled"]}`
	)
	hooks := "/api/0/projects/acme/web/hooks/"
	tests := []struct {
		name   string
		method string
		path   string
		token  string
		body   any
		status int
		want   string // the whole body, as JSON
		prefix string // or the start of its detail
	}{
		{"ErrNoToken", "GET", "/api/0/organizations/", "", nil, 401, noCredentials, ""},
		{"ErrNoTokenHooks", "POST", hooks, "", `{}`, 401, noCredentials, ""},
		{"ErrBadToken", "GET", "/api/0/organizations/", "not-a-token", nil, 401, invalidToken, ""},
		{"ErrMissingScope", "GET", "/api/0/projects/other/app/", ownerReadToken, nil, 403, forbidden, ""},
		{"ErrMissingScopeHooks", "GET", "/api/0/projects/other/app/hooks/", ownerReadToken, nil, 403, forbidden, ""},
		{"ErrMissingWriteScope", "POST", "/api/0/organizations/other/teams/", ownerReadToken, `{"slug":"x"}`, 403, forbidden, ""},
		{"ErrMissingScopeForToken", "POST", "/api/0/api-tokens/", ownerReadToken, `{"scopes":["org:admin"]}`, 403, forbidden, ""},
		{"ErrDeleteProjectNeedsAdmin", "DELETE", "/api/0/projects/other/app/", ownerWriteToken, nil, 403, forbidden, ""},
		{"ErrNotMember", "GET", "/api/0/organizations/acme/", readToken, nil, 403, forbidden, ""},
		{"ErrNotMemberProject", "GET", "/api/0/organizations/other/projects/", readToken, nil, 403, forbidden, ""},
		{"ErrUnknownOrg", "GET", "/api/0/organizations/nope/", superToken, nil, 404, notFound, ""},
		{"ErrUnknownOrgHooks", "GET", "/api/0/projects/nope/web/hooks/", superToken, nil, 404, notFound, ""},
		{"ErrUnknownProject", "GET", "/api/0/projects/acme/nope/", superToken, nil, 404, notFound, ""},
		{"ErrOtherOrgsProject", "GET", "/api/0/projects/acme/app/", superToken, nil, 404, notFound, ""},
		{"ErrUnknownHook", "GET", hooks + "0123456789abcdef0123456789abcdef/", superToken, nil, 404, notFound, ""},
		{"ErrUnknownHookBadID", "DELETE", hooks + "..%2f/", superToken, nil, 404, notFound, ""},
		{"ErrUnknownTeam", "POST", "/api/0/teams/acme/nope/projects/", superToken, `{"name":"x"}`, 404, notFound, ""},
		{"ErrUnknownRoute", "GET", "/api/0/nope/", superToken, nil, 404, notFound, ""},
		{"ErrMethodNotAllowed", "PATCH", "/api/0/organizations/", superToken, nil, 405, `{"detail":"Method \"PATCH\" not allowed."}`, ""},
		{"ErrInvalidEvent", "POST", hooks, superToken, `{"url":"https://example.com/h","events":["event.created","event.nope"]}`, 400, `{"events":["Invalid event name: event.nope"]}`, ""},
		{"ErrEventsNotList", "POST", hooks, superToken, `{"url":"https://example.com/h","events":"event.created"}`, 400, `{"events":["Expected a list of items but got type \"string\"."]}`, ""},
		{"ErrMissingFields", "POST", hooks, superToken, `{}`, 400, `{"url":["This field is required."]}`, ""},
		{"ErrEmptyBody", "POST", hooks, superToken, ``, 400, `{"url":["This field is required."]}`, ""},
		{"ErrHookStatusFilter", "GET", hooks + "?status=paused", superToken, nil, 400, `{"status":["\"paused\" is not a valid choice."]}`, ""},
		{"ErrBadURL", "POST", hooks, superToken, `{"url":"not a url","events":["event.created"]}`, 400, `{"url":["Enter a valid URL."]}`, ""},
		{"ErrURLScheme", "POST", hooks, superToken, `{"url":"ftp://example.com/h","events":["event.created"]}`, 400, `{"url":["Enter a valid URL."]}`, ""},
		{"ErrURLNoHost", "POST", hooks, superToken, `{"url":"https:///h","events":["event.created"]}`, 400, `{"url":["Enter a valid URL."]}`, ""},
		{"ErrURLRelative", "POST", hooks, superToken, `{"url":"/hook","events":["event.created"]}`, 400, `{"url":["Enter a valid URL."]}`, ""},
		{"ErrURLTooLong", "POST", hooks, superToken, `{"url":"https://example.com/` + strings.Repeat("a", 2048) + `","events":["event.created"]}`, 400, `{"url":["Ensure this field has no more than 2048 characters."]}`, ""},
		{"ErrUpdateInvalidEvent", "PUT", hooks + hook.ID + "/", superToken, `{"events":["issue.created"]}`, 400, `{"events":["Invalid event name: issue.created"]}`, ""},
		{"ErrUpdateBadStatus", "PUT", hooks + hook.ID + "/", superToken, `{"status":"paused"}`, 400, `{"status":["\"paused\" is not a valid choice."]}`, ""},
		{"ErrNoFeatureList", "GET", "/api/0/projects/acme/nohooks/hooks/", superToken, nil, 403, noFeature, ""},
		{"ErrNoFeatureCreate", "POST", "/api/0/projects/acme/nohooks/hooks/", superToken, `{"url":"https://example.com/h","events":["event.created"]}`, 403, noFeature, ""},
		{"ErrNoFeatureRotate", "POST", "/api/0/projects/acme/nohooks/hooks/" + hook.ID + "/rotate-secret/", superToken, nil, 403, noFeature, ""},
		{"ErrMalformedJSON", "POST", hooks, superToken, `{"url":`, 400, "", "Malformed request body: "},
		{"ErrTrailingJSON", "POST", hooks, superToken, `{} {}`, 400, "", "Malformed request body: "},
		{"ErrNotObject", "POST", "/api/0/organizations/", superToken, `[1,2]`, 400, "", "Malformed request body: "},
		{"ErrTooLarge", "POST", hooks, superToken, `{"url":"` + strings.Repeat("a", 1<<20) + `"}`, 413, `{"detail":"Request body is larger than 1048576 bytes."}`, ""},
		{"ErrDuplicateOrg", "POST", "/api/0/organizations/", superToken, `{"name":"Acme again","slug":"acme"}`, 409, `{"detail":"An organization with this slug already exists."}`, ""},
		{"ErrDuplicateTeam", "POST", "/api/0/organizations/acme/teams/", superToken, `{"slug":"core"}`, 409, `{"detail":"A team with this slug already exists."}`, ""},
		{"ErrDuplicateProject", "POST", "/api/0/teams/acme/core/projects/", superToken, `{"name":"Web"}`, 409, `{"detail":"A project with this slug already exists."}`, ""},
		{"ErrOrgNameRequired", "POST", "/api/0/organizations/", superToken, `{"slug":"x"}`, 400, `{"name":["This field is required."]}`, ""},
		{"ErrOrgSlugNumeric", "POST", "/api/0/organizations/", superToken, `{"name":"X","slug":"123"}`, 400, `{"slug":["Enter a valid slug consisting of lowercase letters, numbers, underscores or hyphens. It cannot be entirely numeric."]}`, ""},
		{"ErrOrgSlugUpper", "POST", "/api/0/organizations/", superToken, `{"name":"X","slug":"Acme"}`, 400, `{"slug":["Enter a valid slug consisting of lowercase letters, numbers, underscores or hyphens. It cannot be entirely numeric."]}`, ""},
		{"ErrOrgSlugTooLong", "POST", "/api/0/organizations/", superToken, `{"name":"X","slug":"` + strings.Repeat("a", 51) + `"}`, 400, `{"slug":["Ensure this field has no more than 50 characters."]}`, ""},
		{"ErrProjectSlug", "PUT", "/api/0/projects/acme/web/", superToken, `{"slug":"no spaces"}`, 400, `{"slug":["Enter a valid slug consisting of lowercase letters, numbers, underscores or hyphens. It cannot be entirely numeric."]}`, ""},
		{"ErrProjectSlugTaken", "PUT", "/api/0/projects/acme/web/", superToken, `{"slug":"nohooks"}`, 400, `{"slug":["Another project (nohooks) is already using that slug"]}`, ""},
		{"ErrProjectFeature", "PUT", "/api/0/projects/acme/web/", superToken, `{"features":["Bad Feature"]}`, 400, `{"features":["Invalid feature name: \"Bad Feature\""]}`, ""},
		{"ErrInvalidScope", "POST", "/api/0/api-tokens/", superToken, `{"scopes":["project:read","nope:read"]}`, 400, `{"scopes":["\"nope:read\" is not a valid choice."]}`, ""},
		{"ErrPerPageTooLarge", "GET", "/api/0/organizations/?per_page=101", superToken, nil, 400, `{"detail":"Invalid per_page parameter. Max is 100"}`, ""},
		{"ErrPerPageZero", "GET", "/api/0/organizations/?per_page=0", superToken, nil, 400, `{"detail":"Invalid per_page parameter."}`, ""},
		{"ErrBadCursor", "GET", "/api/0/organizations/?cursor=zzz", superToken, nil, 400, "", "invalid cursor"},
		{"ErrDeliveryStatus", "GET", hooks + hook.ID + "/deliveries/?status=lost", superToken, nil, 400, `{"status":["Invalid status: lost"]}`, ""},
		{"ErrRecoverSince", "POST", hooks + hook.ID + "/deliveries/recover/", superToken, `{"since":"yesterday"}`, 400, `{"since":["Datetime has wrong format. Use RFC 3339, such as 2024-01-15T12:00:00Z."]}`, ""},
		{"ErrUnknownDelivery", "GET", hooks + hook.ID + "/deliveries/0123456789abcdef0123456789abcdef/", superToken, nil, 404, notFound, ""},
		{"ErrStatsRange", "GET", hooks + hook.ID + "/stats/?since=200&until=100", superToken, nil, 400, `{"detail":"since must be before until"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ts.do(t, tt.method, tt.path, tt.token, tt.body)
			if res.Status != tt.status {
				t.Fatalf("status = %d %s, want %d", res.Status, res.Body, tt.status)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type = %q", ct)
			}
			if tt.prefix != "" {
				var body struct {
					Detail string `json:"detail"`
				}
				res.JSON(t, &body)
				if !strings.HasPrefix(body.Detail, tt.prefix) {
					t.Fatalf("detail = %q, want it to start with %q", body.Detail, tt.prefix)
				}
				return
			}
			jsonEqual(t, res.Body, tt.want)
		})
	}
}

func TestIngestMount(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	store := ts.Store
	ingest := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"`+r.PathValue("project_id")+`"}`)
	})
	tests := []struct {
		name   string
		ingest http.Handler
		path   string
		status int
		body   string
	}{
		{"Envelope", ingest, "/api/42/envelope/", 200, `{"id":"42"}`},
		{"EnvelopeNoSlash", ingest, "/api/42/envelope", 200, `{"id":"42"}`},
		{"Store", ingest, "/api/7/store/", 200, `{"id":"7"}`},
		{"APIStillServed", ingest, "/api/0/", 200, anonymousIndex(t)},
		{"ErrNoIngest", nil, "/api/42/envelope/", 404, `{"detail":"The requested resource does not exist"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := api.NewServer(api.Config{Store: store, Changes: ts.Changes, BaseURL: "http://127.0.0.1:8080", Ingest: tt.ingest})
			if err != nil {
				t.Fatal(err)
			}
			hs := httptest.NewServer(srv.Handler())
			defer hs.Close()
			method := "POST"
			if strings.HasPrefix(tt.path, "/api/0/") {
				method = "GET"
			}
			res := (&testServer{Server: hs}).do(t, method, tt.path, "", `{}`)
			if res.Status != tt.status {
				t.Fatalf("status = %d %s", res.Status, res.Body)
			}
			jsonEqual(t, res.Body, tt.body)
		})
	}
}
