package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/herald-dev/herald/internal/api"
	"github.com/herald-dev/herald/internal/openapitest"
	"github.com/herald-dev/herald/internal/service"
	"github.com/herald-dev/herald/internal/storetest"
	"github.com/herald-dev/herald/internal/webhook"
)

// TestOpenAPIDocumentValid reads the document as a client does, anonymously,
// and checks that it is the embedded one and validates as OpenAPI 3.1.
func TestOpenAPIDocumentValid(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	res := ts.do(t, "GET", "/api/0/openapi.json", "", nil)
	if res.Status != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/0/openapi.json = %d %q, want 200 application/json", res.Status, res.Header.Get("Content-Type"))
	}
	if !bytes.Equal(res.Body, api.OpenAPI()) {
		t.Errorf("served document differs from api.OpenAPI()")
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	res.JSON(t, &doc)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	for _, p := range openapitest.ValidateDocument(res.Body) {
		t.Errorf("not valid OpenAPI 3.1: %s", p)
	}
}

// TestOpenAPICoversRoutes checks that every route of the route table is an
// operation of the document, and every operation a route. The table's
// patterns end with a slash, which the document's path of the document
// itself (/api/0/openapi.json) does not have.
func TestOpenAPICoversRoutes(t *testing.T) {
	t.Parallel()
	c, err := openapitest.Default()
	if err != nil {
		t.Fatal(err)
	}
	key := func(method, path string) string { return method + " " + strings.TrimSuffix(path, "/") }
	var routes []string
	for _, r := range newTestServer(t, nil).API.Routes() {
		routes = append(routes, key(r.Method, r.Path))
	}
	var ops []string
	for _, op := range c.Operations() {
		method, path, _ := strings.Cut(op, " ")
		ops = append(ops, key(method, path))
	}
	for _, r := range routes {
		if !slices.Contains(ops, r) {
			t.Errorf("route %s is not in the OpenAPI document (internal/api/openapi.json)", r)
		}
	}
	for _, op := range ops {
		if !slices.Contains(routes, op) {
			t.Errorf("operation %s of the OpenAPI document is not a route of the server", op)
		}
	}
	if len(routes) < 60 || len(routes) != len(ops) {
		t.Errorf("%d routes, %d operations", len(routes), len(ops))
	}
}

// TestOpenAPIServed checks who may read the document and how it is cached:
// anyone without a token, a valid token too, not an invalid one (as on
// every route); a matching If-None-Match gets 304.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	etag := ts.do(t, "GET", "/api/0/openapi.json", "", nil).Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || len(etag) < 10 {
		t.Fatalf("ETag = %q, want a strong entity tag", etag)
	}
	tests := []struct {
		name, method, path string
		header             map[string]string
		wantStatus         int
		wantDocument       bool
	}{
		{"Anonymous", "GET", "/api/0/openapi.json", nil, 200, true},
		{"TrailingSlash", "GET", "/api/0/openapi.json/", nil, 200, true},
		{"Token", "GET", "/api/0/openapi.json", map[string]string{"Authorization": "Bearer " + superToken}, 200, true},
		{"InvalidToken", "GET", "/api/0/openapi.json", map[string]string{"Authorization": "Bearer not-a-token-of-this-server"}, 401, false},
		{"OtherScheme", "GET", "/api/0/openapi.json", map[string]string{"Authorization": "Basic dXNlcjpwYXNzd29yZA=="}, 200, true},
		{"NotModified", "GET", "/api/0/openapi.json", map[string]string{"If-None-Match": etag}, 304, false},
		{"WeakNotModified", "GET", "/api/0/openapi.json", map[string]string{"If-None-Match": `"x", W/` + etag}, 304, false},
		{"Modified", "GET", "/api/0/openapi.json", map[string]string{"If-None-Match": `"an-older-version"`}, 200, true},
		{"Head", "HEAD", "/api/0/openapi.json", nil, 200, false},
		{"Post", "POST", "/api/0/openapi.json", nil, 405, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tt.method, ts.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			res := ts.send(t, req)
			if res.Status != tt.wantStatus {
				t.Fatalf("status = %d %s, want %d", res.Status, res.Body, tt.wantStatus)
			}
			if got := bytes.Equal(res.Body, api.OpenAPI()); got != tt.wantDocument {
				t.Errorf("answered with the document: %t, want %t", got, tt.wantDocument)
			}
			if res.Status == 200 || res.Status == 304 {
				if res.Header.Get("ETag") != etag || !strings.Contains(res.Header.Get("Cache-Control"), "public") {
					t.Errorf("ETag %q, Cache-Control %q: want %q and public", res.Header.Get("ETag"), res.Header.Get("Cache-Control"), etag)
				}
			}
			if res.Status == 401 {
				var body map[string]string
				if json.Unmarshal(res.Body, &body) != nil || body["detail"] != "Invalid token" {
					t.Errorf("body = %s, want Sentry's invalid token detail", res.Body)
				}
			}
		})
	}
}

// TestOpenAPIUnavailable calls every route of a server whose database is
// gone: each answers 503 with Retry-After, and the middleware checks that
// the document describes that answer.
func TestOpenAPIUnavailable(t *testing.T) {
	t.Parallel()
	store := storetest.OpenSQLite(t, storetest.Options(nil))
	changes, err := service.New(service.Config{Store: store, Webhooks: &webhook.Notifier{BaseURL: "http://herald.test"}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.NewServer(api.Config{Store: store, Changes: changes, BaseURL: "http://herald.test",
		Unavailable: func(error) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(openapitest.Middleware(t, srv.Handler()))
	defer hs.Close()
	ts := &testServer{Server: hs}
	value := regexp.MustCompile(`\{[a-z_]+\}`)
	for _, r := range srv.Routes() {
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			path := value.ReplaceAllString(r.Path, "9fac2ceed9344f2bbfdd1fdacb0ed9b1")
			var body any
			if r.Method == "POST" || r.Method == "PUT" {
				body = map[string]any{}
			}
			res := ts.do(t, r.Method, path, superToken, body)
			if res.Status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
				t.Errorf("%s %s = %d %s (Retry-After %q), want 503 with Retry-After", r.Method, path, res.Status, res.Body, res.Header.Get("Retry-After"))
			}
		})
	}
}
