package main

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/getsentry/sentry-go"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/password"
	"github.com/herald-dev/herald/sentryhook"
)

// The two errors the browser test sends with sentry-go: different
// messages, so two issues.
const (
	firstError  = "checkout failed: card declined by the browser test"
	secondError = "inventory sync failed: warehouse timed out in the browser test"
)

// dsnPattern finds a DSN on a page.
var dsnPattern = regexp.MustCompile(`http://[0-9a-f]{32}@127\.0\.0\.1:[0-9]+/[0-9]+`)

// signInUser creates a person who signs in with email and password (as
// `herald user create` does) and makes them an owner of org through the
// API, as an admin would.
func signInUser(t *testing.T, srv *Server, org, email, pw, role string) {
	t.Helper()
	ctx := context.Background()
	hash, err := password.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	u := &herald.User{Email: email, Name: strings.Split(email, "@")[0]}
	if err := srv.Store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := srv.Store.SetPassword(ctx, u.ID, hash); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, 201, call(t, srv.URL, "POST", "/api/0/organizations/"+org+"/members/",
		map[string]any{"email": email, "orgRole": role}, nil))
}

// captureError sends err to dsn with the official Go SDK and waits until
// Herald has taken it. Its fingerprint adds the message to the default
// grouping, so that errors raised at the same place with other messages
// make other issues.
func captureError(t *testing.T, dsn string, err error) {
	t.Helper()
	client, cerr := sentry.NewClient(sentry.ClientOptions{Dsn: dsn, Transport: sentry.NewHTTPSyncTransport(), Environment: "production"})
	if cerr != nil {
		t.Fatal(cerr)
	}
	scope := sentry.NewScope()
	scope.SetFingerprint([]string{"{{ default }}", err.Error()})
	if id := sentry.NewHub(client, scope).CaptureException(err); id == nil {
		t.Fatal("the SDK did not send the event")
	}
	client.Flush(5 * time.Second)
}

// TestBrowserDashboard walks the seed's paths in headless Chromium, as a
// person would, against the real server: sign in; Settings > the project >
// Service Hooks > Add a new hook > the URL, event.created > Save; the
// secret shown verifies the delivery of an error sent with sentry-go; the
// hook's page shows the delivery live and Redeliver sends it again
// unchanged; Settings > Developer Settings > New Internal Integration >
// name, webhook URL, issue > Save; a new error reaches the integration as
// issue.created; the url of the event.created payload opens the issue,
// whose Resolve sends issue.resolved; signed out, the same URL leads to
// the sign-in page and shows nothing of the issue. With HERALD_SCREENSHOTS
// set, it saves a full-page PNG of every main page there.
//
// It does not run in parallel with the other tests: Chromium needs the
// machine's cores to answer within its timeouts.
func TestBrowserDashboard(t *testing.T) {
	srv := MustStart(t, testConfig(t, sqliteBackend))
	project := setUp(t, srv)
	const email, pw = "olivia@acme.example", "a long enough password"
	signInUser(t, srv, "acme", email, pw, "owner")
	in := newInbox(t)
	hookURL, appURL := in.URL+"/service-hook", in.URL+"/integration"
	b := newBrowser(t, srv.URL)

	// Sign in.
	b.open("/auth/login/")
	b.shot("01-sign-in")
	b.signIn(email, pw)

	// Settings > the project > Service Hooks > Add a new hook.
	b.follow("Settings")
	b.mustShow("Web")
	b.shot("02-settings-projects")
	b.follow("Web")
	dsn := dsnPattern.FindString(b.text())
	if dsn != project.DSN {
		t.Fatalf("the project's page shows the DSN %q, want %q", dsn, project.DSN)
	}
	b.shot("03-project-settings")
	b.follow("Service Hooks")
	b.follow("Add a new hook")
	b.fill("url", hookURL)
	b.tick("events", "event.created")
	b.shot("05-new-hook")
	b.follow("Save")
	secret := hex64After(b.text(), "secret")
	if secret == "" {
		t.Fatalf("no secret shown after saving the hook:\n%s", b.text())
	}
	b.mustShow(hookURL)
	b.shot("06-hook-secret")

	// The hook in the list, and its page, which shows the secret no more.
	b.follow("Service Hooks")
	b.mustShow(hookURL, "event.created")
	b.shot("04-service-hooks")
	b.followContaining(hookURL)
	hookPage := b.path()
	if strings.Contains(b.text(), secret) {
		t.Fatal("the hook's page shows its secret again")
	}

	// An error sent with sentry-go to the DSN the page showed reaches the
	// receiver, signed with the secret the page showed, and the open
	// hook's page lists it without a reload.
	const hasDelivery = `[...document.querySelectorAll("button, input[type=submit]")]
		.some((e) => (e.tagName === "INPUT" ? e.value : e.textContent).trim() === "Redeliver")`
	if eval[bool](b, "look for a delivery", hasDelivery) {
		t.Fatalf("the hook's delivery log lists a delivery before any event:\n%s", b.text())
	}
	captureError(t, dsn, errors.New(firstError))
	created := in.next(t, 0, "/service-hook", "event.created", secret)
	payload, ok := created.Payload.(*sentryhook.ServiceHookPayload)
	if !ok || payload.ID == "" || payload.URL != srv.URL+"/organizations/acme/issues/"+payload.ID+"/" ||
		!strings.Contains(payload.Message, firstError) {
		t.Fatalf("event.created payload = %s", created.Body)
	}
	b.waitFor("the delivery log lists the delivery", hasDelivery, browserStep)
	if b.path() != hookPage {
		t.Fatalf("the page moved to %s while waiting", b.path())
	}
	b.openDeliveryOf("Redeliver")
	b.mustShow(created.RequestID)
	b.shot("07-hook-deliveries")

	// Redeliver: the same delivery again, unchanged.
	b.follow("Redeliver")
	again := in.next(t, created.N+1, "/service-hook", "event.created", secret)
	if again.RequestID != created.RequestID || string(again.Body) != string(created.Body) || again.Signature != created.Signature {
		t.Fatalf("the redelivery differs from the delivery:\nRequest-ID %s, signature %s, body %s\nRequest-ID %s, signature %s, body %s",
			created.RequestID, created.Signature, created.Body, again.RequestID, again.Signature, again.Body)
	}

	// Settings > Developer Settings > New Internal Integration.
	b.follow("Settings")
	b.follow("Developer Settings")
	b.shot("08-developer-settings")
	b.follow("New Internal Integration")
	b.fill("name", "Acme Bot")
	b.fill("webhookUrl", appURL)
	b.tick("events", "issue")
	// Issue webhooks need Issue & Event Read (the form's default).
	b.choose("perm-event", "read")
	b.shot("09-new-internal-integration")
	b.follow("Save")
	b.mustShow("Acme Bot")
	clientSecret := hex64After(b.text(), "Client Secret")
	if clientSecret == "" {
		t.Fatalf("the integration's page shows no client secret:\n%s", b.text())
	}
	b.shot("10-integration")

	// A new error reaches the integration as issue.created.
	captureError(t, dsn, errors.New(secondError))
	issueCreated := in.next(t, 0, "/integration", "issue.created", clientSecret)
	newIssue, ok := issueCreated.Payload.(*sentryhook.IssuePayload)
	if !ok || issueCreated.Resource != sentryhook.ResourceIssue || newIssue.Issue.ID == "" || newIssue.Issue.ID == payload.ID ||
		!strings.Contains(newIssue.Issue.Title, secondError) {
		t.Fatalf("issue.created = %s", issueCreated.Body)
	}

	// The url of the event.created payload opens the first issue;
	// Resolve sends issue.resolved.
	b.open(payload.URL)
	b.mustShow(firstError, payload.Culprit)
	b.shot("12-issue")
	b.follow("Resolve")
	resolved := in.next(t, issueCreated.N+1, "/integration", "issue.resolved", clientSecret)
	if p, ok := resolved.Payload.(*sentryhook.IssuePayload); !ok || p.Issue.ID != payload.ID || p.Issue.Status != "resolved" {
		t.Fatalf("issue.resolved = %s", resolved.Body)
	}
	b.mustShow("Unresolve")

	// The other main pages.
	b.follow("Issues")
	b.mustShow(secondError) // unresolved; the first is resolved now
	b.shot("11-issues")
	b.follow("Alerts")
	b.shot("13-alerts")
	b.follow("Auth Tokens")
	b.shot("14-auth-tokens")
	b.follow("Settings")
	b.follow("Members")
	b.mustShow(email)
	b.shot("15-members")

	// On a phone.
	b.phone(func() {
		b.open(payload.URL)
		b.fitsPhone()
		b.shot("16-phone-issue")
		b.open(hookPage)
		b.fitsPhone()
		b.shot("17-phone-hook")
		b.follow("Service Hooks")
		b.fitsPhone()
		b.shot("18-phone-service-hooks")
	})

	// Signed out, the issue's URL leads to sign-in and shows nothing of it.
	b.follow("Sign out")
	b.open(payload.URL)
	if !strings.HasPrefix(b.path(), "/auth/login/") {
		t.Fatalf("signed out, %s shows %s", payload.URL, b.path())
	}
	if page := b.text(); strings.Contains(page, firstError) || payload.Culprit != "" && strings.Contains(page, payload.Culprit) {
		t.Fatalf("signed out, the sign-in page shows the issue:\n%s", page)
	}
	if !b.has(`input[name=username]`) || !b.has(`input[name=password]`) {
		t.Fatalf("signed out, %s is not the sign-in form:\n%s", b.path(), b.text())
	}
	b.check()
}

// openDeliveryOf opens, with a click on its summary, the closed <details>
// holding the first button labelled label, when there is one: a delivery
// of the log shows its attempts and buttons when expanded.
func (b *browser) openDeliveryOf(label string) {
	b.t.Helper()
	summary := `(() => {
  for (const e of document.querySelectorAll("button, input[type=submit]")) {
    if ((e.tagName === "INPUT" ? e.value : e.textContent).trim() !== ` + jsString(label) + `) continue;
    const d = e.closest("details");
    return d && !d.open ? d.querySelector(":scope > summary") : null;
  }
  return null;
})()`
	if eval[bool](b, "look for a closed delivery", summary+" !== null") {
		b.run("expand the delivery", chromedp.Click(chromedp.JSPath(summary)))
	}
}

// fitsPhone fails the test when the page is wider than the phone's
// screen, which would make a person scroll sideways.
func (b *browser) fitsPhone() {
	b.t.Helper()
	if w := eval[int](b, "measure the page", `document.documentElement.scrollWidth`); w > 390 {
		b.t.Errorf("%s is %d px wide on a 390 px phone", b.path(), w)
	}
}

// signIn fills the sign-in form the page shows and sends it, expecting to
// be signed in.
func (b *browser) signIn(email, pw string) {
	b.t.Helper()
	b.fill("username", email)
	b.fill("password", pw)
	b.follow("Sign In")
	if strings.HasPrefix(b.path(), "/auth/login/") {
		b.t.Fatalf("still on the sign-in page:\n%s", b.text())
	}
}

// TestBrowserRolesCSRFAndSessions checks, in headless Chromium, what the
// dashboard refuses: a form posted without its CSRF token changes
// nothing; a member (no project:write) sees the hooks but no Add a new
// hook and cannot open its form; nobody sees another organization; a
// wrong password does not sign in; a page asked for while signed out
// leads to sign-in and back to the page after it; a session cookie kept
// after signing out no longer opens anything.
func TestBrowserRolesCSRFAndSessions(t *testing.T) {
	srv := MustStart(t, testConfig(t, sqliteBackend))
	setUp(t, srv)
	mustStatus(t, 201, call(t, srv.URL, "POST", "/api/0/organizations/", map[string]any{"name": "Globex", "slug": "globex"}, nil))
	const owner, member, pw = "olivia@acme.example", "max@acme.example", "a long enough password"
	signInUser(t, srv, "acme", owner, pw, "owner")
	signInUser(t, srv, "acme", member, pw, "member")
	in := newInbox(t)
	const hooks = "/settings/acme/projects/web/hooks/"
	b := newBrowser(t, srv.URL)

	// A page asked for while signed out leads to sign-in, and there
	// after it; a wrong password first does not sign in.
	b.open(hooks)
	if p := b.path(); !strings.HasPrefix(p, "/auth/login/") || strings.Contains(b.text(), "Add a new hook") {
		t.Fatalf("signed out, %s shows %s:\n%s", hooks, p, b.text())
	}
	b.fill("username", owner)
	b.fill("password", "not the password")
	if status := b.load("sign in with a wrong password", chromedp.Click(control(clickables, "Sign In", true))); status < 400 {
		t.Fatalf("a wrong password answered %d", status)
	}
	if !strings.HasPrefix(b.path(), "/auth/login/") || !b.has(`input[name=password]`) {
		t.Fatalf("a wrong password leads to %s", b.path())
	}
	b.signIn(owner, pw)
	if b.path() != hooks {
		t.Fatalf("signed in, the page is %s, want the one asked for, %s", b.path(), hooks)
	}

	// The hook form without its CSRF token, as another site would post
	// it: refused, nothing created.
	b.follow("Add a new hook")
	b.fill("url", in.URL+"/service-hook")
	b.tick("events", "event.created")
	eval[bool](b, "take the CSRF token away", `(() => {
  document.querySelectorAll("input[name=csrf_token]").forEach((e) => e.remove());
  return true;
})()`)
	if status := b.load("post the form without its token", chromedp.Click(control(clickables, "Save", true))); status != 403 {
		t.Fatalf("a form posted without its CSRF token answered %d:\n%s", status, b.text())
	}
	var list []hook
	mustStatus(t, 200, call(t, srv.URL, "GET", "/api/0/projects/acme/web/hooks/", nil, &list))
	if len(list) != 0 {
		t.Fatalf("a form posted without its CSRF token created %+v", list)
	}

	// Nobody sees another organization.
	for _, path := range []string{"/organizations/globex/issues/", "/settings/globex/"} {
		if status := b.status(path); status != 404 {
			t.Fatalf("an owner of acme opens %s: %d", path, status)
		}
	}

	// A session cookie kept after signing out opens nothing.
	cookies := b.cookies()
	if !slices.ContainsFunc(cookies, func(c *network.Cookie) bool { return c.Name == "herald_session" && c.HTTPOnly }) {
		t.Fatalf("no HttpOnly session cookie: %+v", cookies)
	}
	b.open("/settings/acme/")
	b.follow("Sign out")
	b.setCookies(cookies)
	b.open("/settings/acme/")
	if !strings.HasPrefix(b.path(), "/auth/login/") || strings.Contains(b.text(), "Web") {
		t.Fatalf("the session cookie of a signed-out session opens %s:\n%s", b.path(), b.text())
	}

	// A member sees the hooks, but cannot add one.
	b.signIn(member, pw)
	b.open(hooks)
	if strings.Contains(b.text(), "Add a new hook") {
		t.Fatalf("a member is offered to add a hook:\n%s", b.text())
	}
	if status := b.status(hooks + "new/"); status != 403 {
		t.Fatalf("a member opens the new hook form: %d", status)
	}
	if status := b.status("/settings/globex/"); status != 404 {
		t.Fatalf("a member of acme opens globex's settings: %d", status)
	}
	b.check()
}
