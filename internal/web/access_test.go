package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/herald-dev/herald"
)

// pathParam matches a pattern's wildcards.
var pathParam = regexp.MustCompile(`\{[a-z_]+\}`)

// visitable turns a page pattern into a path of acme: {org} is acme,
// {project} web, other wildcards 1; it reports the method the pattern
// is limited to ("" for any).
func visitable(pattern string) (method, path string) {
	if m, rest, ok := strings.Cut(pattern, " "); ok {
		method, pattern = m, rest
	}
	pattern = strings.TrimSuffix(pattern, "{$}")
	path = pathParam.ReplaceAllStringFunc(pattern, func(p string) string {
		switch p {
		case "{org}":
			return "acme"
		case "{project}":
			return "web"
		}
		return "1"
	})
	return method, path
}

// TestAccessMatrix visits every page as each kind of caller that must not
// see it: nobody signed in (sent to sign in, nothing done), a bearer
// token (tokens are for the API, not the dashboard) and the owner of
// another organization (404 on every page of acme).
func TestAccessMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	stranger := e.person(t, "owner@globex.example", "")
	if err := e.Store.CreateOrganization(ctx, &herald.Organization{Name: "Globex", Slug: "globex"}, stranger.ID); err != nil {
		t.Fatal(err)
	}
	tok := &herald.Token{UserID: e.User.ID, Scopes: herald.Scopes}
	if err := e.Store.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	anonymous := e.newBrowser(t)
	outsider := e.signIn(t, stranger.Email)

	patterns := e.Web.Patterns()
	if len(patterns) < 10 {
		t.Fatalf("only %d page patterns registered: %v", len(patterns), patterns)
	}
	for _, pattern := range patterns {
		method, path := visitable(pattern)
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			mismatch := method != "" && method != m && (method != http.MethodGet || m != http.MethodHead)

			t.Run("Anonymous/"+m+pattern, func(t *testing.T) {
				var res *page
				if m == http.MethodGet {
					res = anonymous.get(path)
				} else {
					res = anonymous.post(path, url.Values{"name": {"x"}})
				}
				// A method the page does not take falls to the catch-all
				// page, which sends to sign in too, or gets 405.
				if mismatch && res.Status == http.StatusMethodNotAllowed {
					return
				}
				if res.Status != http.StatusFound || !strings.HasPrefix(res.Location, "/auth/login/?next=") {
					t.Fatalf("%s %s: status %d location %q, want a redirect to sign in", m, path, res.Status, res.Location)
				}
			})

			t.Run("BearerToken/"+m+pattern, func(t *testing.T) {
				req, err := http.NewRequest(m, e.URL+path, strings.NewReader("name=x"))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+tok.Value)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				res := anonymous.do(req)
				if !mismatch && (res.Status != http.StatusFound || !strings.HasPrefix(res.Location, "/auth/login/")) {
					t.Fatalf("%s %s with a token: status %d, want a redirect to sign in", m, path, res.Status)
				}
			})

			if !strings.Contains(pattern, "{org}") {
				continue
			}
			t.Run("OtherOrganization/"+m+pattern, func(t *testing.T) {
				var res *page
				if m == http.MethodGet {
					res = outsider.get(path)
				} else {
					res = outsider.post(path, url.Values{"name": {"x"}})
				}
				if mismatch && res.Status == http.StatusMethodNotAllowed {
					return
				}
				if res.Status != http.StatusNotFound || strings.Contains(res.Body, "Acme") {
					t.Fatalf("%s %s as globex's owner: status %d, want 404", m, path, res.Status)
				}
			})
		}
	}
}
