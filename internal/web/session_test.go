package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald/internal/web"
)

func TestSignInFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.newBrowser(t)

	res := b.get("/organizations/acme/issues/1/")
	if res.Status != http.StatusFound || res.Location != "/auth/login/?next=%2Forganizations%2Facme%2Fissues%2F1%2F" {
		t.Fatalf("signed out: status %d location %q", res.Status, res.Location)
	}
	if strings.Contains(res.Body, "Acme") {
		t.Fatalf("the redirect shows the page: %s", res.Body)
	}
	login := b.get(res.Location)
	login.mustContain(t, `name="username"`, `name="password"`, "Sign In")

	res = b.post("/auth/login/", url.Values{"username": {e.User.Email}, "password": {testPassword}, "next": {"/settings/acme/"}})
	if res.Status != http.StatusFound || res.Location != "/settings/acme/" {
		t.Fatalf("sign in: status %d location %q: %s", res.Status, res.Location, res.Body)
	}
	var session *http.Cookie
	for _, c := range b.c.Jar.Cookies(mustURL(t, e.URL)) {
		if c.Name == "herald_session" {
			session = c
		}
	}
	if session == nil {
		t.Fatal("no session cookie")
	}
	if !strings.Contains(res.Header.Get("Set-Cookie"), "HttpOnly") || !strings.Contains(strings.Join(res.Header.Values("Set-Cookie"), ";"), "SameSite=Lax") {
		t.Fatalf("session cookie flags: %q", res.Header.Values("Set-Cookie"))
	}
	b.get("/settings/acme/").mustContain(t, "Projects", "Web")

	res = b.post("/auth/logout/", url.Values{})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("sign out: status %d", res.Status)
	}
	if res := b.get("/settings/acme/"); res.Status != http.StatusFound {
		t.Fatalf("after sign out: status %d", res.Status)
	}
}

func TestSignInRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.newBrowser(t)
	b.get("/auth/login/")

	res := b.post("/auth/login/", url.Values{"username": {e.User.Email}, "password": {"wrong"}})
	if res.Status != http.StatusUnauthorized {
		t.Fatalf("wrong password: status %d", res.Status)
	}
	res.mustContain(t, "The email or the password is not right.")
	res = b.post("/auth/login/", url.Values{"username": {"nobody@acme.example"}, "password": {"wrong"}})
	if res.Status != http.StatusUnauthorized {
		t.Fatalf("unknown user: status %d", res.Status)
	}
	res.mustContain(t, "The email or the password is not right.")

	// Without the sign-in form's token the post is refused even with the
	// right password.
	res = b.post("/auth/login/", url.Values{"username": {e.User.Email}, "password": {testPassword}, "csrf_token": {"forged"}})
	if res.Status != http.StatusForbidden {
		t.Fatalf("forged sign-in: status %d", res.Status)
	}

	// An open redirect is refused: next must be a path of this site.
	for _, next := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example"} {
		b := e.newBrowser(t)
		b.get("/auth/login/")
		res = b.post("/auth/login/", url.Values{"username": {e.User.Email}, "password": {testPassword}, "next": {next}})
		if res.Status != http.StatusFound || res.Location != "/" {
			t.Fatalf("next %q: status %d location %q", next, res.Status, res.Location)
		}
	}
}

func TestSignInLockout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.newBrowser(t)
	b.get("/auth/login/")
	for range 5 {
		b.post("/auth/login/", url.Values{"username": {e.User.Email}, "password": {"wrong"}})
	}
	res := b.post("/auth/login/", url.Values{"username": {e.User.Email}, "password": {testPassword}})
	if res.Status != http.StatusTooManyRequests {
		t.Fatalf("locked account: status %d", res.Status)
	}
	res.mustContain(t, "locked")
	e.Clock.Add(16 * time.Minute)
	res = b.post("/auth/login/", url.Values{"username": {e.User.Email}, "password": {testPassword}})
	if res.Status != http.StatusFound {
		t.Fatalf("after the lockout: status %d: %s", res.Status, res.Body)
	}
}

func TestSessionExpires(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.signIn(t, e.User.Email)
	if res := b.get("/settings/acme/"); res.Status != http.StatusOK {
		t.Fatalf("signed in: status %d", res.Status)
	}
	e.Clock.Add(15 * 24 * time.Hour)
	if res := b.get("/settings/acme/"); res.Status != http.StatusFound {
		t.Fatalf("expired session: status %d", res.Status)
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.signIn(t, e.User.Email)
	for _, token := range []string{"", "forged"} {
		res := b.post("/settings/acme/", url.Values{"name": {"Sneaky"}, "csrf_token": {token}})
		if res.Status != http.StatusForbidden {
			t.Fatalf("token %q: status %d", token, res.Status)
		}
	}
	if res := b.get("/settings/acme/projects/sneaky/"); res.Status != http.StatusNotFound {
		t.Fatalf("a refused post created the project: status %d", res.Status)
	}
	// Another session's token is refused too.
	other := e.signIn(t, e.User.Email)
	if res := b.post("/settings/acme/", url.Values{"name": {"Sneaky"}, "csrf_token": {other.CSRF}}); res.Status != http.StatusForbidden {
		t.Fatalf("another session's token: status %d", res.Status)
	}
	if res := b.post("/settings/acme/", url.Values{"name": {"Honest"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("with the token: status %d: %s", res.Status, res.Body)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestCookiesSecureOverHTTPS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv, err := web.New(web.Config{Store: e.Store, Changes: e.Changes, BaseURL: "https://herald.example", Clock: e.Clock})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/auth/login/", nil))
	cookies := rec.Result().Cookies()
	if len(cookies) == 0 {
		t.Fatal("no cookie set")
	}
	for _, c := range cookies {
		if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
			t.Fatalf("cookie %s: Secure %v HttpOnly %v SameSite %v", c.Name, c.Secure, c.HttpOnly, c.SameSite)
		}
	}
	if _, err := web.New(web.Config{Store: e.Store, Changes: e.Changes, BaseURL: "ftp://herald.example"}); err == nil {
		t.Fatal("web.New took an ftp base URL")
	}
}

// TestSignInFormKeepsItsToken checks that a request the browser makes on
// its own while the sign-in form is open (/favicon.ico, another tab) does
// not expire the form.
func TestSignInFormKeepsItsToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.newBrowser(t)
	b.get("/auth/login/")
	form := b.CSRF
	if res := b.get("/favicon.ico"); res.Status != http.StatusMovedPermanently {
		t.Fatalf("favicon: status %d location %q", res.Status, res.Location)
	}
	b.get("/auth/login/?next=/settings/")
	res := b.post("/auth/login/", url.Values{"username": {e.User.Email}, "password": {testPassword}, "csrf_token": {form}})
	if res.Status != http.StatusFound {
		t.Fatalf("sign in with the first tab's form: status %d", res.Status)
	}
}
