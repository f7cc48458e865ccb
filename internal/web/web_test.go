package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/password"
	"github.com/herald-dev/herald/internal/service"
	"github.com/herald-dev/herald/internal/storetest"
	"github.com/herald-dev/herald/internal/web"
	"github.com/herald-dev/herald/internal/webhook"
)

// env is a dashboard on a fresh SQLite store with the storetest fixture
// (organization acme, team core, project web, owner jane@acme.example).
type env struct {
	*storetest.Fixture
	Changes *service.Service
	Web     *web.Server
	URL     string
}

// testPassword is every test user's password.
const testPassword = "correct horse battery staple"

// hashOnce hashes testPassword once for every test: bcrypt is slow on
// purpose.
var hashOnce = sync.OnceValues(func() (string, error) { return password.Hash(testPassword) })

// newEnv starts a dashboard.
func newEnv(t *testing.T) *env {
	t.Helper()
	fx := storetest.NewFixture(t, storetest.OpenSQLite)
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	changes, err := service.New(service.Config{Store: fx.Store, Webhooks: &webhook.Notifier{BaseURL: base, Clock: fx.Clock}, Clock: fx.Clock})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := web.New(web.Config{Store: fx.Store, Changes: changes, BaseURL: base, Clock: fx.Clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Unavailable: fx.Store.Unavailable})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	e := &env{Fixture: fx, Changes: changes, Web: srv, URL: base}
	e.setPassword(t, fx.User)
	return e
}

// setPassword gives u testPassword.
func (e *env) setPassword(t *testing.T, u *herald.User) {
	t.Helper()
	hash, err := hashOnce()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Store.SetPassword(context.Background(), u.ID, hash); err != nil {
		t.Fatal(err)
	}
}

// person creates a user with testPassword who is a member of acme with
// role ("" for none).
func (e *env) person(t *testing.T, email, role string) *herald.User {
	t.Helper()
	ctx := context.Background()
	u := &herald.User{Email: email}
	if err := e.Store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	e.setPassword(t, u)
	if role != "" {
		if err := e.Store.AddMember(ctx, e.Org.ID, u.ID, role); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

// browser is a person's HTTP client with cookies; it does not follow
// redirects, so tests see them.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	// CSRF is the session's token, read from the last page that had one.
	CSRF string
}

// newBrowser returns a client with no session.
func (e *env) newBrowser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: e.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// signIn returns a browser signed in as email (whose password is
// testPassword).
func (e *env) signIn(t *testing.T, email string) *browser {
	t.Helper()
	b := e.newBrowser(t)
	b.get("/auth/login/")
	res := b.post("/auth/login/", url.Values{"username": {email}, "password": {testPassword}})
	if res.Status != http.StatusFound {
		t.Fatalf("sign in as %s: status %d: %s", email, res.Status, res.Body)
	}
	b.get("/settings/account/api/auth-tokens/")
	if b.CSRF == "" {
		t.Fatal("no CSRF token after signing in")
	}
	return b
}

// page is a response.
type page struct {
	Status   int
	Header   http.Header
	Body     string
	Location string
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// do sends a request and reads the response.
func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	p := &page{Status: res.StatusCode, Header: res.Header, Body: string(body), Location: res.Header.Get("Location")}
	if m := csrfInput.FindStringSubmatch(p.Body); m != nil {
		b.CSRF = m[1]
	}
	return p
}

// get fetches path.
func (b *browser) get(path string) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post submits form to path with the session's CSRF token, unless form
// sets csrf_token itself.
func (b *browser) post(path string, form url.Values) *page {
	b.t.Helper()
	if _, ok := form["csrf_token"]; !ok {
		form.Set("csrf_token", b.CSRF)
	}
	req, err := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// mustContain fails unless the page has every one of texts.
func (p *page) mustContain(t *testing.T, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if !strings.Contains(p.Body, s) {
			t.Fatalf("page (status %d) lacks %q:\n%s", p.Status, s, p.Body)
		}
	}
}
