package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzAuthorization sends any Authorization header to a token route and
// to GET /api/0/, and checks the answers against a model of bearer token
// parsing: only "Bearer <the token>" (scheme in any case, blanks around
// the value) is accepted; anything else is 401 on a token route, and on
// GET /api/0/ anything but a bearer token is no credential (200). Nothing
// is ever a server error.
func FuzzAuthorization(f *testing.F) {
	ts := newTestServer(f, nil)
	h := ts.API.Handler()
	for _, s := range []string{
		"Bearer " + superToken, "bearer " + superToken, "BEARER  " + superToken + " ", "Bearer", "Bearer ",
		"Basic dXNlcjpwYXNz", "Token " + superToken, "Bearer " + superToken + "x", "Bearer " + strings.Repeat("a", 300),
		"Bearer \x00", "DSN abc", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		scheme, value, hasValue := strings.Cut(header, " ")
		bearer := hasValue && strings.EqualFold(scheme, "Bearer")
		valid := bearer && strings.TrimSpace(value) == superToken

		for _, path := range []string{"/api/0/organizations/", "/api/0/"} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header["Authorization"] = []string{header}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			want := http.StatusUnauthorized
			if valid || (path == "/api/0/" && !bearer) {
				want = http.StatusOK
			}
			if rec.Code != want {
				t.Fatalf("GET %s with Authorization %q = %d %s, want %d", path, header, rec.Code, rec.Body, want)
			}
		}
	})
}
