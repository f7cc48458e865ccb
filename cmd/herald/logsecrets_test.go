package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-dev/herald"
)

// lockedBuffer collects the output of several writers at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// secrets are the secret values a scenario created or presented, by what
// they are.
type secrets map[string]string

func (s secrets) add(t *testing.T, what, value string) {
	t.Helper()
	if len(value) < 8 {
		t.Fatalf("%s = %q: too short to be a secret worth scanning for", what, value)
	}
	s[what] = value
}

// TestLogsHoldNoSecrets runs a server at --log-level debug through every
// place a secret passes — tokens of every kind (bootstrap, `herald token
// create`, personal, an internal app's, an installation's and its refresh
// token, a wrong one presented), app client secrets (before and after a
// rotation), Service Hook secrets (likewise), a DSN's secret key used by a
// legacy client, a person's password (a wrong one too) and the session
// cookie of the dashboard — with deliveries to a receiver that answers and
// one that fails, and then looks for each secret in every line logged, by
// the server and by the commands. Any hit fails.
func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		backend backend
		format  string
	}{
		{sqliteBackend, "text"},
		{postgresBackend, "json"},
	}
	for _, tt := range tests {
		t.Run(string(tt.backend), func(t *testing.T) {
			t.Parallel()
			testLogsHoldNoSecrets(t, tt.backend, tt.format)
		})
	}
}

func testLogsHoldNoSecrets(t *testing.T, b backend, format string) {
	var logs lockedBuffer
	cfg := testConfig(t, b)
	cfg.LogLevel, cfg.LogFormat = "debug", format
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := Start(context.Background(), cfg, newLogger(cfg, &logs))
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	closeServer := closeOnce(t, srv)

	found := secrets{}
	found.add(t, "bootstrap token", testToken)
	storage := []string{"--data-dir", cfg.DataDir, "--log-level", "debug", "--log-format", format}
	if cfg.DatabaseURL != "" {
		storage = append(storage, "--database-url", cfg.DatabaseURL)
	}
	// command runs a herald command, its log going with the server's.
	command := func(args ...string) string {
		t.Helper()
		var stdout bytes.Buffer
		if err := Run(context.Background(), append(args, storage...), &stdout, &logs, func(string) string { return "" }); err != nil {
			t.Fatalf("herald %s: %v", strings.Join(args, " "), err)
		}
		return stdout.String()
	}

	// Tokens: from the command, personal, and a wrong one.
	cliToken := strings.TrimSpace(command("token", "create"))
	found.add(t, "token from herald token create", cliToken)
	mustStatus(t, 200, callWith(t, cliToken, srv.URL, "GET", "/api/0/organizations/", nil))
	p := setUp(t, srv)
	var personal struct {
		Token string `json:"token"`
	}
	mustStatus(t, 201, call(t, srv.URL, "POST", "/api/0/api-tokens/", map[string]any{"scopes": []string{"org:read", "project:read"}}, &personal))
	found.add(t, "personal token", personal.Token)
	mustStatus(t, 200, callWith(t, personal.Token, srv.URL, "GET", "/api/0/projects/acme/web/", nil))
	wrong := "wrong-token-" + herald.RandomHex(16)
	found.add(t, "wrong token presented", wrong)
	mustStatus(t, 401, callWith(t, wrong, srv.URL, "GET", "/api/0/organizations/", nil))

	// Service Hooks: one answering, its secret rotated, and one failing.
	ok := newReceiver(t, nil)
	h := createHook(t, srv, ok.URL+"/hook", "event.created")
	found.add(t, "hook secret", h.Secret)
	var rotated hook
	mustStatus(t, 200, call(t, srv.URL, "POST", "/api/0/projects/acme/web/hooks/"+h.ID+"/rotate-secret/", nil, &rotated))
	found.add(t, "rotated hook secret", rotated.Secret)
	ok.setSecret(rotated.Secret)
	failing := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		http.Error(w, "receiver down", http.StatusInternalServerError)
	})
	fh := createHook(t, srv, failing.URL+"/hook", "event.created")
	found.add(t, "failing hook secret", fh.Secret)

	// Sentry Apps: an internal one with a token, a public one installed
	// and authorized with its client secret, then rotated.
	internalRC := newReceiver(t, nil)
	internal := createApp(t, srv, "acme", "Acme Bot", internalRC.URL+"/hook", true, "issue", "error")
	found.add(t, "internal app client secret", internal.ClientSecret)
	internalRC.setSecret(internal.ClientSecret)
	var appToken struct {
		Token string `json:"token"`
	}
	mustStatus(t, 201, call(t, srv.URL, "POST", "/api/0/sentry-apps/"+internal.Slug+"/api-tokens/", nil, &appToken))
	found.add(t, "internal app token", appToken.Token)
	mustStatus(t, 200, callWith(t, appToken.Token, srv.URL, "GET", "/api/0/projects/acme/web/issues/", nil))

	publicRC := newReceiver(t, nil)
	public := createApp(t, srv, "acme", "Pager", publicRC.URL+"/hook", false, "issue")
	found.add(t, "public app client secret", public.ClientSecret)
	publicRC.setSecret(public.ClientSecret)
	var inst struct {
		UUID string `json:"uuid"`
		Code string `json:"code"`
	}
	mustStatus(t, 201, call(t, srv.URL, "POST", "/api/0/organizations/acme/sentry-app-installations/", map[string]any{"slug": public.Slug}, &inst))
	found.add(t, "installation grant code", inst.Code)
	authorizations := "/api/0/sentry-app-installations/" + inst.UUID + "/authorizations/"
	wrongSecret := herald.RandomHex(32)
	found.add(t, "wrong client secret presented", wrongSecret)
	mustStatus(t, 401, do(t, "", srv.URL, "POST", authorizations, map[string]any{
		"grant_type": "authorization_code", "code": inst.Code, "client_id": public.ClientID, "client_secret": wrongSecret}, nil))
	var auth struct {
		Token        string `json:"token"`
		RefreshToken string `json:"refreshToken"`
	}
	mustStatus(t, 201, do(t, "", srv.URL, "POST", authorizations, map[string]any{
		"grant_type": "authorization_code", "code": inst.Code, "client_id": public.ClientID, "client_secret": public.ClientSecret}, &auth))
	found.add(t, "installation token", auth.Token)
	found.add(t, "installation refresh token", auth.RefreshToken)
	mustStatus(t, 200, do(t, auth.Token, srv.URL, "PUT", "/api/0/sentry-app-installations/"+inst.UUID+"/", map[string]any{"status": "installed"}, nil))
	var refreshed struct {
		Token        string `json:"token"`
		RefreshToken string `json:"refreshToken"`
	}
	mustStatus(t, 201, do(t, "", srv.URL, "POST", authorizations, map[string]any{
		"grant_type": "refresh_token", "refresh_token": auth.RefreshToken, "client_id": public.ClientID, "client_secret": public.ClientSecret}, &refreshed))
	found.add(t, "refreshed installation token", refreshed.Token)
	found.add(t, "second refresh token", refreshed.RefreshToken)
	var rotatedApp struct {
		ClientSecret string `json:"clientSecret"`
	}
	mustStatus(t, 200, call(t, srv.URL, "POST", "/api/0/sentry-apps/"+public.Slug+"/rotate-secret/", nil, &rotatedApp))
	found.add(t, "rotated app client secret", rotatedApp.ClientSecret)
	publicRC.setSecret(rotatedApp.ClientSecret)

	// Events from a legacy client that sends the DSN's secret key, in the
	// header and in the query.
	var keys []struct {
		Public string `json:"public"`
		Secret string `json:"secret"`
	}
	mustStatus(t, 200, call(t, srv.URL, "GET", "/api/0/projects/acme/web/keys/", nil, &keys))
	found.add(t, "DSN secret key", keys[0].Secret)
	legacy := func(target string, header http.Header) {
		t.Helper()
		body := fmt.Sprintf(`{"event_id":%q,"message":"legacy client","level":"error","platform":"python"}`, herald.NewID())
		req, _ := http.NewRequest("POST", srv.URL+target, strings.NewReader(body))
		req.Header = header
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		mustStatus(t, 200, resp.StatusCode)
	}
	legacy("/api/"+p.ID+"/store/", http.Header{"X-Sentry-Auth": {"Sentry sentry_version=5, sentry_key=" + keys[0].Public + ", sentry_secret=" + keys[0].Secret}})
	legacy("/api/"+p.ID+"/store/?sentry_version=5&sentry_key="+keys[0].Public+"&sentry_secret="+keys[0].Secret, http.Header{})

	// The dashboard: a person created by the command signs in, wrongly
	// first.
	password := "correct horse " + herald.RandomHex(8)
	found.add(t, "password", password)
	if out := command("user", "create", "--email", "ada@acme.example", "--password", password, "--superuser"); strings.Contains(out, password) {
		t.Fatalf("herald user create printed the password: %s", out)
	}
	wrongPassword := "wrong horse " + herald.RandomHex(8)
	found.add(t, "wrong password", wrongPassword)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	signIn := func(pw string) int {
		t.Helper()
		resp, err := browser.Get(srv.URL + "/auth/login/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		csrf := cookieValue(t, jar, srv.URL, "herald_login")
		found.add(t, "sign-in form token "+csrf[:4], csrf)
		resp, err = browser.PostForm(srv.URL+"/auth/login/", url.Values{"username": {"ada@acme.example"}, "password": {pw}, "csrf_token": {csrf}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	mustStatus(t, 401, signIn(wrongPassword))
	mustStatus(t, 302, signIn(password))
	found.add(t, "session cookie", cookieValue(t, jar, srv.URL, "herald_session"))
	for _, page := range []string{"/", "/settings/acme/projects/web/keys/", "/settings/acme/projects/web/hooks/" + h.ID + "/",
		"/settings/account/api/auth-tokens/", "/no/such/page/"} {
		resp, err := browser.Get(srv.URL + page)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	// An event delivered to the hook and the apps, and failed at the
	// failing hook (as the legacy client's were).
	mustStatus(t, 200, storeEvent(t, srv, p, herald.NewID(), "secret-free"))
	ok.wait(t, 1, 20*time.Second)
	internalRC.wait(t, 2, 20*time.Second) // issue.created and error.created
	failing.wait(t, 2, 20*time.Second)
	closeServer()

	out := logs.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// The scan means something only if the log holds the scenario.
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`request_id`),
		regexp.MustCompile(`delivery attempt.*delivery_id.*` + fh.ID + `.*retry`),
		regexp.MustCompile(`(?i)debug`),
		regexp.MustCompile(`/auth/login/`),
		regexp.MustCompile(`/api/0/sentry-app-installations/`),
	} {
		if !want.MatchString(out) {
			t.Fatalf("the log has no line matching %s; the scenario did not run as meant:\n%s", want, out)
		}
	}
	for _, line := range lines {
		if strings.Contains(line, "http request") && !strings.Contains(line, "request_id") ||
			strings.Contains(line, "delivery attempt") && !strings.Contains(line, "delivery_id") {
			t.Errorf("log line without its request_id or delivery_id: %s", line)
		}
	}
	if len(lines) < 50 {
		t.Fatalf("the log holds %d lines; at debug level it should hold many more:\n%s", len(lines), out)
	}
	for i, line := range lines {
		for what, value := range found {
			if strings.Contains(line, value) {
				t.Errorf("log line %d holds the %s: %s", i+1, what, line)
			}
		}
	}
}

// cookieValue returns the value of the cookie name the jar holds for
// rawURL, failing when there is none.
func cookieValue(t *testing.T, jar http.CookieJar, rawURL, name string) string {
	t.Helper()
	u, _ := url.Parse(rawURL)
	for _, c := range jar.Cookies(u) {
		if c.Name == name && c.Value != "" {
			return c.Value
		}
	}
	t.Fatalf("no cookie %s", name)
	return ""
}
