package web_test

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/ingest"
	"github.com/herald-dev/herald/internal/storetest"
)

// appsURL is the fixture organization's Developer Settings.
const appsURL = "/settings/acme/developer-settings/"

// shownValue finds the value of the token or secret a page shows once in
// the input with that id.
func shownValue(t *testing.T, p *page, id string) string {
	t.Helper()
	m := regexp.MustCompile(`id="` + id + `" class="mono" readonly value="([^"]+)"`).FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("page (status %d) shows no %s:\n%s", p.Status, id, p.Body)
	}
	return m[1]
}

// appForm is a valid form of a new integration named name, subscribed to
// events with Issue & Event Read; edit changes it.
func appForm(name string, edit func(url.Values), events ...string) url.Values {
	f := url.Values{"name": {name}, "author": {"Acme"}, "webhookUrl": {"https://apps.example/" + herald.Slugify(name)},
		"perm-event": {"read"}, "events": events}
	if edit != nil {
		edit(f)
	}
	return f
}

// orgApps lists the fixture organization's apps.
func (e *env) orgApps(t *testing.T) []*herald.SentryApp {
	t.Helper()
	apps, err := e.Store.FindApps(context.Background(), herald.SentryAppFilter{OrganizationID: e.Org.ID})
	if err != nil {
		t.Fatal(err)
	}
	return apps
}

// appInstallations lists the live installations of app on the fixture's
// organization.
func (e *env) appInstallations(t *testing.T, app *herald.SentryApp) []*herald.Installation {
	t.Helper()
	insts, err := e.Store.FindInstallations(context.Background(), e.Org.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []*herald.Installation
	for _, inst := range insts {
		if inst.AppID == app.ID {
			out = append(out, inst)
		}
	}
	return out
}

// createApp creates an integration of acme through the form as the owner
// and returns it as stored.
func (e *env) createApp(t *testing.T, b *browser, internal bool, form url.Values) (*herald.SentryApp, *page) {
	t.Helper()
	path := appsURL + "new-public/"
	if internal {
		path = appsURL + "new-internal/"
	}
	b.get(path)
	p := b.post(path, form)
	if p.Status != http.StatusOK && p.Status != http.StatusSeeOther {
		t.Fatalf("create: status %d:\n%s", p.Status, p.Body)
	}
	for _, app := range e.orgApps(t) {
		if app.Name == form.Get("name") {
			return app, p
		}
	}
	t.Fatalf("no app %q after creating it", form.Get("name"))
	return nil, nil
}

// appEvent parses an SDK event and saves it in acme/web through the
// change service, as ingestion does.
func (e *env) appEvent(t *testing.T, payload string) {
	t.Helper()
	ev, err := ingest.ParseEvent([]byte(payload), e.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	ev.ProjectID = e.Project.ID
	if err := e.Changes.SaveEvents(context.Background(), []*herald.Event{ev}); err != nil {
		t.Fatal(err)
	}
}

func TestDeveloperSettingsList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.signIn(t, e.User.Email)
	p := b.get(appsURL)
	if p.Status != http.StatusOK {
		t.Fatalf("status %d", p.Status)
	}
	p.mustContain(t, "Developer Settings", `href="/settings/acme/developer-settings/new-internal/">New Internal Integration`,
		`href="/settings/acme/developer-settings/new-public/">New Public Integration`, "No internal integrations yet.")
	for _, path := range []string{"new-internal/", "new-public/"} {
		f := b.get(appsURL + path)
		f.mustContain(t, `<label for="app-name">Name</label>`, `name="name"`, `<label for="app-webhook">Webhook URL</label>`, `name="webhookUrl"`,
			`name="events" value="issue"`, `name="events" value="error"`, `name="events" value="comment"`, "Alert Rule Action",
			`name="perm-event"`, ">Save</button>")
	}
	e.createApp(t, b, true, appForm("Reporter", nil, "issue"))
	e.createApp(t, b, false, appForm("Pager", nil, "comment"))
	p = b.get(appsURL)
	p.mustContain(t, ">Reporter</a>", `href="/settings/acme/developer-settings/pager/">Pager</a>`, "unpublished", "webhooks: comment")
}

func TestCreateInternalApp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	b := e.signIn(t, e.User.Email)
	app, p := e.createApp(t, b, true, appForm("Pager Duty", nil, "issue", "error"))

	// The integration is internal, installed at once with a first token,
	// which the answer shows.
	if !app.IsInternal() || !strings.HasPrefix(app.Slug, "pager-duty-") || app.WebhookURL != "https://apps.example/pager-duty" ||
		!slices.Equal(app.Events, []string{"error", "issue"}) || !slices.Equal(app.Scopes, []string{"event:read"}) || app.VerifyInstall {
		t.Fatalf("app = %+v", app)
	}
	p.mustContain(t, "Pager Duty is installed", "Client ID", app.ClientID, app.ClientSecret)
	insts := e.appInstallations(t, app)
	if len(insts) != 1 || insts[0].Status != herald.InstallationInstalled {
		t.Fatalf("installations = %+v", insts)
	}
	tok, err := e.Store.FindTokenByValue(ctx, shownValue(t, p, "new-app-token"))
	if err != nil || tok.AppID != app.ID || !slices.Equal(tok.Scopes, app.Scopes) {
		t.Fatalf("token = %+v, %v", tok, err)
	}
	// As Sentry's (and the API's) internal installs, the install sends no
	// installation.created: nobody needs to learn of it.
	if ds := e.DeliveriesTo(t, herald.DestinationApp, insts[0].UUID); len(ds) != 0 {
		t.Fatalf("deliveries = %s", storetest.DeliveryEvents(ds))
	}
	// The integration receives the webhooks it subscribed to at once.
	e.appEvent(t, `{"event_id":"9fac2ceed9344f2bbfdd1fdacb0ed9b1","message":"boom","level":"error"}`)
	if got := storetest.DeliveryEvents(e.DeliveriesTo(t, herald.DestinationApp, insts[0].UUID)); got != "issue.created,error.created" && got != "error.created,issue.created" {
		t.Fatalf("deliveries = %s", got)
	}
	// Its page lists the installation and the token.
	page := b.get(appsURL + app.Slug + "/")
	page.mustContain(t, "Installations", "installed", "Tokens", "…"+tok.LastChars, "New Token")
}

func TestCreatePublicApp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.signIn(t, e.User.Email)
	app, p := e.createApp(t, b, false, appForm("Pager", func(f url.Values) {
		f.Set("redirectUrl", "https://pager.example/done")
		f.Set("overview", "Pages people.")
		f.Set("verifyInstall", "true")
		f.Set("isAlertable", "true")
		f.Set("perm-project", "write")
	}, "issue", "comment"))
	if p.Status != http.StatusSeeOther || p.Location != appsURL+"pager/" {
		t.Fatalf("status %d, location %q", p.Status, p.Location)
	}
	if app.Status != herald.AppUnpublished || app.Slug != "pager" || app.Author != "Acme" || app.RedirectURL != "https://pager.example/done" ||
		app.Overview != "Pages people." || !app.VerifyInstall || !app.IsAlertable ||
		!slices.Equal(app.Scopes, []string{"event:read", "project:read", "project:write"}) || !slices.Equal(app.Events, []string{"comment", "issue"}) {
		t.Fatalf("app = %+v", app)
	}
	// A public integration is not installed until an organization installs
	// it.
	if insts := e.appInstallations(t, app); len(insts) != 0 {
		t.Fatalf("installations = %+v", insts)
	}
	page := b.get(appsURL + "pager/")
	page.mustContain(t, "Not installed on Acme.", "Install on Acme", app.ClientID, app.ClientSecret,
		`<option value="write" selected>Read &amp; Write</option>`)

	t.Run("Install", func(t *testing.T) {
		res := b.post(appsURL+"pager/", url.Values{"action": {"install"}})
		if res.Status != http.StatusSeeOther {
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
		insts := e.appInstallations(t, app)
		if len(insts) != 1 || insts[0].Status != herald.InstallationPending {
			t.Fatalf("installations = %+v", insts)
		}
		if got := storetest.DeliveryEvents(e.DeliveriesTo(t, herald.DestinationApp, insts[0].UUID)); got != "installation.created" {
			t.Fatalf("deliveries = %s", got)
		}
		b.get(appsURL+"pager/").mustContain(t, "pending", "Uninstall")
		res = b.post(appsURL+"pager/", url.Values{"action": {"uninstall"}, "installation": {insts[0].UUID}})
		if res.Status != http.StatusSeeOther {
			t.Fatalf("uninstall: status %d: %s", res.Status, res.Body)
		}
		if got := e.appInstallations(t, app); len(got) != 0 {
			t.Fatalf("installations after uninstall = %+v", got)
		}
		ds := e.DeliveriesTo(t, herald.DestinationApp, insts[0].UUID)
		events := strings.Split(storetest.DeliveryEvents(ds), ",")
		slices.Sort(events)
		if !slices.Equal(events, []string{"installation.created", "installation.deleted"}) {
			t.Fatalf("deliveries = %s", events)
		}
	})
}

func TestAppFormValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.person(t, "manager@acme.example", herald.RoleManager)
	owner := e.signIn(t, e.User.Email)
	manager := e.signIn(t, "manager@acme.example")
	e.createApp(t, owner, false, appForm("Taken", nil))
	long := strings.Repeat("n", 58)
	tests := []struct {
		name     string
		b        *browser
		internal bool
		form     url.Values
		field    string
		want     string
	}{
		{"EventsWithoutScopes", owner, true, appForm("Pager", func(f url.Values) { f.Set("perm-event", "no-access") }, "issue"),
			"events", "issue webhooks require the event:read permission."},
		{"WebhookURLScheme", owner, true, appForm("Pager", func(f url.Values) { f.Set("webhookUrl", "ftp://pager.example/") }),
			"webhookUrl", "URL must start with http[s]://"},
		{"WebhookURLInvalid", owner, false, appForm("Pager", func(f url.Values) { f.Set("webhookUrl", "http://") }),
			"webhookUrl", herald.MsgInvalidURL},
		{"WebhookURLUserinfo", owner, false, appForm("Pager", func(f url.Values) { f.Set("webhookUrl", "https://u:p@pager.example/") }),
			"webhookUrl", herald.MsgURLUserinfo},
		{"InternalEventsNeedWebhookURL", owner, true, appForm("Pager", func(f url.Values) { f.Set("webhookUrl", "") }, "issue"),
			"webhookUrl", "webhookUrl required if webhook events are enabled"},
		{"AlertableNeedsWebhookURL", owner, true, appForm("Pager", func(f url.Values) { f.Set("webhookUrl", ""); f.Set("isAlertable", "true") }),
			"webhookUrl", "webhookUrl required if alert rule action is enabled"},
		{"PublicNeedsWebhookURL", owner, false, appForm("Pager", func(f url.Values) { f.Set("webhookUrl", "") }),
			"webhookUrl", "webhookUrl required for public integrations"},
		{"PublicNeedsAuthor", owner, false, appForm("Pager", func(f url.Values) { f.Set("author", " ") }),
			"author", "author required for public integrations"},
		{"RedirectURL", owner, false, appForm("Pager", func(f url.Values) { f.Set("redirectUrl", "pager.example") }),
			"redirectUrl", "URL must start with http[s]://"},
		{"BlankName", owner, true, appForm(" ", nil), "name", herald.MsgBlank},
		{"LongName", owner, true, appForm(long, nil), "name", "Cannot exceed 57 characters"},
		{"NameWithoutLetters", owner, true, appForm("!!!", nil), "name", "Name must contain letters or digits."},
		{"NameTaken", owner, false, appForm("Taken", nil), "name", "Name Taken is already taken, please use another."},
		{"UnknownEvent", owner, true, appForm("Pager", nil, "issue", "event.created"), "events", "Invalid event subscription: event.created"},
		{"UnknownLevel", owner, true, appForm("Pager", func(f url.Values) { f.Set("perm-project", "owner") }),
			"scopes", `"owner" is not a valid choice for Project.`},
		{"ScopeBeyondRole", manager, true, appForm("Pager", func(f url.Values) { f.Set("perm-org", "admin") }),
			"scopes", "Requested permission of org:admin exceeds requester's permission."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := appsURL + "new-public/"
			if tt.internal {
				path = appsURL + "new-internal/"
			}
			tt.b.get(path)
			p := tt.b.post(path, tt.form)
			if p.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400:\n%s", p.Status, p.Body)
			}
			// The message shows under its field, and the form keeps what
			// was typed.
			p.mustContain(t, `<p class="error">`+appEscaped(tt.want), `name="webhookUrl"`)
			if i := strings.Index(p.Body, appEscaped(tt.want)); tt.field != "" && !appFieldBefore(p.Body, tt.field, i) {
				t.Fatalf("message %q is not shown with field %q:\n%s", tt.want, tt.field, p.Body)
			}
			if v := tt.form.Get("webhookUrl"); v != "" {
				p.mustContain(t, `value="`+appEscaped(v)+`"`)
			}
			if n := len(e.orgApps(t)); n != 1 {
				t.Fatalf("%d apps, want only the first", n)
			}
		})
	}
}

// template escapes s as html/template writes it in text and attributes.
func appEscaped(s string) string {
	return strings.NewReplacer(`&`, "&amp;", `'`, "&#39;", `"`, "&#34;", `<`, "&lt;", `>`, "&gt;", `+`, "&#43;").Replace(s)
}

// appFieldBefore reports whether the last form field before position i of
// body is field (its errors follow it), or the message is about a fieldset
// (scopes, events) whose legend comes first.
func appFieldBefore(body, field string, i int) bool {
	names := map[string]string{"scopes": "<legend>Permissions</legend>", "events": "<legend>Webhooks</legend>"}
	if legend, ok := names[field]; ok {
		j := strings.LastIndex(body[:i], "<legend>")
		return j >= 0 && strings.HasPrefix(body[j:], legend)
	}
	j := strings.LastIndex(body[:i], ` name="`)
	return j >= 0 && strings.HasPrefix(body[j:], ` name="`+field+`"`)
}

func TestAppPermissions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	owner := e.signIn(t, e.User.Email)
	app, _ := e.createApp(t, owner, true, appForm("Reporter", nil, "issue"))
	appURL := appsURL + app.Slug + "/"
	for _, p := range []struct{ email, role string }{
		{"member@acme.example", herald.RoleMember}, {"admin@acme.example", herald.RoleAdmin}, {"manager@acme.example", herald.RoleManager},
	} {
		e.person(t, p.email, p.role)
	}
	outsider := e.person(t, "outsider@globex.example", "")
	globex := &herald.Organization{Slug: "globex", Name: "Globex"}
	if err := e.Store.CreateOrganization(ctx, globex, outsider.ID); err != nil {
		t.Fatal(err)
	}
	browsers := map[string]*browser{}
	for _, email := range []string{"member@acme.example", "admin@acme.example", "manager@acme.example", "outsider@globex.example"} {
		browsers[email] = e.signIn(t, email)
	}
	save := appForm("Reporter", func(f url.Values) { f.Set("action", "save") }, "issue")
	tests := []struct {
		name   string
		email  string
		method string
		path   string
		form   url.Values
		want   int
	}{
		{"MemberSeesList", "member@acme.example", "GET", appsURL, nil, 200},
		{"MemberSeesApp", "member@acme.example", "GET", appURL, nil, 200},
		{"MemberSeesDashboard", "member@acme.example", "GET", appURL + "dashboard/", nil, 200},
		{"MemberCannotOpenForm", "member@acme.example", "GET", appsURL + "new-internal/", nil, 403},
		{"MemberCannotCreate", "member@acme.example", "POST", appsURL + "new-internal/", appForm("Mine", nil, "issue"), 403},
		{"MemberCannotCreatePublic", "member@acme.example", "POST", appsURL + "new-public/", appForm("Mine", nil), 403},
		{"MemberCannotEdit", "member@acme.example", "POST", appURL, save, 403},
		{"MemberCannotRotate", "member@acme.example", "POST", appURL, url.Values{"action": {"rotate"}}, 403},
		{"MemberCannotDelete", "member@acme.example", "POST", appURL, url.Values{"action": {"delete"}}, 403},
		{"MemberCannotMakeTokens", "member@acme.example", "POST", appURL, url.Values{"action": {"token-create"}}, 403},
		{"AdminCannotCreate", "admin@acme.example", "POST", appsURL + "new-internal/", appForm("Mine", nil, "issue"), 403},
		{"ManagerCannotDelete", "manager@acme.example", "POST", appURL, url.Values{"action": {"delete"}}, 403},
		{"ManagerCannotPublish", "manager@acme.example", "POST", appURL, url.Values{"action": {"publish"}}, 403},
		{"ManagerEdits", "manager@acme.example", "POST", appURL, save, 303},
		{"OutsiderList", "outsider@globex.example", "GET", appsURL, nil, 404},
		{"OutsiderApp", "outsider@globex.example", "GET", appURL, nil, 404},
		{"OutsiderDashboard", "outsider@globex.example", "GET", appURL + "dashboard/", nil, 404},
		{"OutsiderDelete", "outsider@globex.example", "POST", appURL, url.Values{"action": {"delete"}}, 404},
		{"AppOfAnotherOrganization", "outsider@globex.example", "GET", "/settings/globex/developer-settings/" + app.Slug + "/", nil, 404},
		{"UnknownApp", "member@acme.example", "GET", appsURL + "nope/", nil, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := browsers[tt.email]
			var p *page
			if tt.method == "GET" {
				p = b.get(tt.path)
			} else {
				p = b.post(tt.path, maps.Clone(tt.form))
			}
			if p.Status != tt.want {
				t.Fatalf("status %d, want %d:\n%s", p.Status, tt.want, p.Body)
			}
		})
	}
	if _, err := e.Store.FindAppBySlug(ctx, app.Slug); err != nil {
		t.Fatalf("app after the refused deletes: %v", err)
	}
	if n := len(e.orgApps(t)); n != 1 {
		t.Fatalf("%d apps after the refused creations", n)
	}

	t.Run("MemberSeesNoActions", func(t *testing.T) {
		b := browsers["member@acme.example"]
		list := b.get(appsURL)
		list.mustContain(t, ">Reporter</a>")
		for _, s := range []string{"New Internal Integration", "New Public Integration"} {
			if strings.Contains(list.Body, s) {
				t.Fatalf("member sees %q", s)
			}
		}
		p := b.get(appURL)
		p.mustContain(t, app.ClientID, strings.Repeat("*", 64), "Only those who may change the integration see its secret.")
		for _, s := range []string{app.ClientSecret, `name="webhookUrl"`, ">Save</button>", "Rotate client secret", ">Delete</button>", "New Token"} {
			if strings.Contains(p.Body, s) {
				t.Fatalf("member sees %q", s)
			}
		}
	})
	t.Run("ManagerCannotSeeDelete", func(t *testing.T) {
		p := browsers["manager@acme.example"].get(appURL)
		p.mustContain(t, ">Save</button>", "Rotate client secret", app.ClientSecret)
		if strings.Contains(p.Body, ">Delete</button>") {
			t.Fatal("manager sees Delete")
		}
	})
}

func TestEditApp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	b := e.signIn(t, e.User.Email)
	app, _ := e.createApp(t, b, false, appForm("Pager", nil, "issue"))
	appURL := appsURL + "pager/"
	// A scope no select names, given through the API, is kept by an edit.
	keep := []string{"event:read", "org:integrations"}
	if _, err := e.Store.UpdateApp(ctx, app.ID, herald.SentryAppUpdate{Scopes: &keep}); err != nil {
		t.Fatal(err)
	}

	form := appForm("Pager Two", func(f url.Values) {
		f.Set("action", "save")
		f.Set("webhookUrl", "https://pager.example/v2")
		f.Set("perm-event", "write")
	}, "comment", "error")
	b.get(appURL).mustContain(t, `value="Pager"`, `name="events" value="issue" aria-describedby="event-issue-help" checked`)
	p := b.post(appURL, form)
	if p.Status != http.StatusSeeOther || p.Location != appURL {
		t.Fatalf("status %d, location %q:\n%s", p.Status, p.Location, p.Body)
	}
	got, err := e.Store.FindAppBySlug(ctx, "pager")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Pager Two" || got.WebhookURL != "https://pager.example/v2" || !slices.Equal(got.Events, []string{"comment", "error"}) ||
		!slices.Equal(got.Scopes, []string{"event:read", "event:write", "org:integrations"}) || got.VerifyInstall || got.ClientSecret != app.ClientSecret {
		t.Fatalf("app = %+v", got)
	}
	b.get(appURL).mustContain(t, "Integration saved.", `value="Pager Two"`)

	// A bad edit changes nothing and shows why.
	p = b.post(appURL, appForm("Pager", func(f url.Values) { f.Set("action", "save"); f.Set("perm-event", "no-access") }, "issue"))
	if p.Status != http.StatusBadRequest {
		t.Fatalf("status %d", p.Status)
	}
	p.mustContain(t, "issue webhooks require the event:read permission.", app.ClientID)
	if again, _ := e.Store.FindAppBySlug(ctx, "pager"); again.Name != "Pager Two" {
		t.Fatalf("app after a refused edit = %+v", again)
	}
}

func TestAppSecretAndTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	b := e.signIn(t, e.User.Email)
	app, _ := e.createApp(t, b, true, appForm("Reporter", nil, "issue"))
	appURL := appsURL + app.Slug + "/"

	t.Run("RotateSecret", func(t *testing.T) {
		b.get(appURL)
		p := b.post(appURL, url.Values{"action": {"rotate"}})
		if p.Status != http.StatusOK {
			t.Fatalf("status %d", p.Status)
		}
		secret := shownValue(t, p, "new-app-secret")
		got, err := e.Store.FindAppBySlug(ctx, app.Slug)
		if err != nil {
			t.Fatal(err)
		}
		if secret == app.ClientSecret || secret != got.ClientSecret {
			t.Fatalf("shown secret %q, stored %q, old %q", secret, got.ClientSecret, app.ClientSecret)
		}
	})
	t.Run("Tokens", func(t *testing.T) {
		p := b.post(appURL, url.Values{"action": {"token-create"}})
		if p.Status != http.StatusOK {
			t.Fatalf("status %d", p.Status)
		}
		p.mustContain(t, "Token created")
		tok, err := e.Store.FindTokenByValue(ctx, shownValue(t, p, "new-app-token"))
		if err != nil || tok.AppID != app.ID {
			t.Fatalf("token = %+v, %v", tok, err)
		}
		tokens, err := e.Store.FindAppTokens(ctx, app.ID)
		if err != nil || len(tokens) != 2 {
			t.Fatalf("tokens = %+v, %v", tokens, err)
		}
		p = b.post(appURL, url.Values{"action": {"token-revoke"}, "token": {"9999"}})
		if p.Status != http.StatusNotFound {
			t.Fatalf("revoke unknown: status %d", p.Status)
		}
		p = b.post(appURL, url.Values{"action": {"token-revoke"}, "token": {strconv.FormatInt(tok.ID, 10)}})
		if p.Status != http.StatusSeeOther {
			t.Fatalf("revoke: status %d", p.Status)
		}
		if _, err := e.Store.FindTokenByValue(ctx, tok.Value); herald.ErrorCode(err) != herald.EUNAUTHORIZED {
			t.Fatalf("revoked token: %v", err)
		}
	})
	t.Run("SecretHiddenAfterADay", func(t *testing.T) {
		e.Clock.Add(25 * time.Hour)
		got, err := e.Store.FindAppBySlug(ctx, app.Slug)
		if err != nil {
			t.Fatal(err)
		}
		p := b.get(appURL)
		p.mustContain(t, "Hidden: the client secret is shown only during the day after the integration was created.", got.ClientID)
		if strings.Contains(p.Body, got.ClientSecret) {
			t.Fatal("the secret is shown after a day")
		}
	})
	t.Run("InternalCannotBeUninstalled", func(t *testing.T) {
		insts := e.appInstallations(t, app)
		p := b.post(appURL, url.Values{"action": {"uninstall"}, "installation": {insts[0].UUID}})
		if p.Status != http.StatusBadRequest {
			t.Fatalf("status %d", p.Status)
		}
		if got := e.appInstallations(t, app); len(got) != 1 {
			t.Fatalf("installations = %+v", got)
		}
	})
}

func TestDeleteApp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	b := e.signIn(t, e.User.Email)
	app, _ := e.createApp(t, b, true, appForm("Reporter", nil, "issue"))
	appURL := appsURL + app.Slug + "/"
	b.get(appURL).mustContain(t, `data-confirm="Delete Reporter?`, ">Delete</button>")
	p := b.post(appURL, url.Values{"action": {"delete"}})
	if p.Status != http.StatusSeeOther || p.Location != appsURL {
		t.Fatalf("status %d, location %q", p.Status, p.Location)
	}
	if _, err := e.Store.FindAppBySlug(ctx, app.Slug); herald.ErrorCode(err) != herald.ENOTFOUND {
		t.Fatalf("deleted app: %v", err)
	}
	b.get(appsURL).mustContain(t, "Integration Reporter deleted.", "No internal integrations yet.")
	if p := b.get(appURL); p.Status != http.StatusNotFound {
		t.Fatalf("deleted app's page: status %d", p.Status)
	}
}

func TestPublishApp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	owner := e.signIn(t, e.User.Email)
	app, _ := e.createApp(t, owner, false, appForm("Pager", nil, "issue"))
	internal, _ := e.createApp(t, owner, true, appForm("Reporter", nil, "issue"))
	if p := owner.post(appsURL+"pager/", url.Values{"action": {"publish"}}); p.Status != http.StatusForbidden {
		t.Fatalf("owner publishes: status %d", p.Status)
	}
	if strings.Contains(owner.get(appsURL+"pager/").Body, ">Publish</button>") {
		t.Fatal("the owner, not a superuser, sees Publish")
	}
	root := &herald.User{Email: "root@herald.example", IsSuperuser: true}
	if err := e.Store.CreateUser(ctx, root); err != nil {
		t.Fatal(err)
	}
	e.setPassword(t, root)
	su := e.signIn(t, root.Email)
	su.get(appsURL+"pager/").mustContain(t, ">Publish</button>")
	if p := su.post(appsURL+"pager/", url.Values{"action": {"publish"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("publish: status %d: %s", p.Status, p.Body)
	}
	if got, _ := e.Store.FindAppBySlug(ctx, app.Slug); got.Status != herald.AppPublished {
		t.Fatalf("status = %q", got.Status)
	}
	if p := su.post(appsURL+internal.Slug+"/", url.Values{"action": {"publish"}}); p.Status != http.StatusBadRequest {
		t.Fatalf("publish internal: status %d", p.Status)
	}
}

func TestAppRequestLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	b := e.signIn(t, e.User.Email)
	app, _ := e.createApp(t, b, true, appForm("Reporter", nil, "issue"))
	dashboard := appsURL + app.Slug + "/dashboard/"
	p := b.get(dashboard)
	p.mustContain(t, `id="app-requests" data-live="3"`, "No requests yet")

	// An issue event queues issue.created to the integration; the sender
	// makes an attempt, which the receiver answers with a 500.
	e.appEvent(t, `{"event_id":"9fac2ceed9344f2bbfdd1fdacb0ed9b1","message":"boom","level":"error"}`)
	inst := e.appInstallations(t, app)[0]
	ds := e.DeliveriesTo(t, herald.DestinationApp, inst.UUID)
	if storetest.DeliveryEvents(ds) != "issue.created" {
		t.Fatalf("deliveries = %s", storetest.DeliveryEvents(ds))
	}
	now := e.Clock.Now()
	if err := e.Store.CompleteDeliveries(ctx, []*herald.Outcome{{DeliveryID: ds[0].ID, NextAttemptAt: now.Add(time.Minute),
		Attempt: &herald.Attempt{URL: app.WebhookURL, StatusCode: 500, ResponseBody: "receiver down", Error: "non-2xx status 500", CreatedAt: now}}}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		query  string
		status int
		want   []string
		not    []string
	}{
		{"All", "", 200, []string{"issue.created", "failure", "500", "receiver down", "non-2xx status 500", "Sentry-Hook-Resource", appEscaped(`"action":"created"`), app.WebhookURL},
			[]string{"No requests yet", ds[0].Signature}},
		{"EventType", "?eventType=issue.created", 200, []string{"issue.created", `<option value="issue.created" selected>`}, nil},
		{"OtherEventType", "?eventType=error.created", 200, []string{"No requests yet matching these filters"}, []string{"receiver down"}},
		{"ErrorsOnly", "?errorsOnly=true", 200, []string{"receiver down"}, nil},
		{"InvalidEventType", "?eventType=event.created", 400, []string{`&#34;event.created&#34; is not a valid choice.`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.get(dashboard + tt.query)
			if p.Status != tt.status {
				t.Fatalf("status %d, want %d", p.Status, tt.status)
			}
			p.mustContain(t, tt.want...)
			for _, s := range tt.not {
				if strings.Contains(p.Body, s) {
					t.Fatalf("page shows %q", s)
				}
			}
		})
	}
}
