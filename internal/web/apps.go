package web

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/delivery"
	"github.com/herald-dev/herald/internal/webhook"
)

// Bounds of a Sentry App's pages, the API's (internal/api/app.go).
const (
	maxAppSlugLength = 64
	// appSecretVisibleFor is how long after its creation an app's client
	// secret is shown on its page.
	appSecretVisibleFor = 24 * time.Hour
	// appRequestsRetention is how far back an app's request log goes.
	appRequestsRetention = 30 * 24 * time.Hour
	// maxAppRequestBody bounds the bodies shown in the request log.
	maxAppRequestBody = 1024
)

// maskedAppSecret is shown in place of a client secret the person may not
// see, as Sentry does.
var maskedAppSecret = strings.Repeat("*", 64)

// appRoutes registers the Developer Settings pages: the organization's
// integrations, the forms that create them, an integration's page (its
// settings, credentials, installations and tokens) and its request log.
// The scopes are those of the API's routes for Sentry Apps: org:read to
// view, org:write to create and change, org:admin to delete,
// org:integrations to install and uninstall.
func (s *Server) appRoutes() {
	const base = "/settings/{org}/developer-settings/"
	s.page("GET "+base+"{$}", s.handleApps)
	s.page(base+"new-internal/{$}", func(w http.ResponseWriter, r *http.Request, v *visit) error {
		return s.handleNewApp(w, r, v, true)
	})
	s.page(base+"new-public/{$}", func(w http.ResponseWriter, r *http.Request, v *visit) error {
		return s.handleNewApp(w, r, v, false)
	})
	s.page(base+"{app_slug}/{$}", s.handleApp)
	s.page("GET "+base+"{app_slug}/dashboard/{$}", s.handleAppDashboard)
}

// appsPath is the path of an organization's Developer Settings.
func appsPath(org *herald.Organization) string {
	return "/settings/" + org.Slug + "/developer-settings/"
}

// appPath is the path of an app's page.
func appPath(org *herald.Organization, app *herald.SentryApp) string {
	return appsPath(org) + app.Slug + "/"
}

// appPermLevel is one choice of a resource's permission: the scopes it grants,
// each level granting those of the levels below it as Sentry's do.
type appPermLevel struct {
	Value  string
	Label  string
	Scopes []string
}

// appPermission is one resource of Sentry's permissions form: a select of No
// Access or one of its levels.
type appPermission struct {
	// Name is the resource, the form field being "perm-" + Name.
	Name   string
	Label  string
	Help   string
	Levels []appPermLevel
}

// appLevels returns the Read, Write and Admin levels of a resource whose
// scopes are prefix + ":read", ":write" and ":admin".
func appLevels(prefix string) []appPermLevel {
	return []appPermLevel{
		{"read", "Read", []string{prefix + ":read"}},
		{"write", "Read & Write", []string{prefix + ":read", prefix + ":write"}},
		{"admin", "Admin", []string{prefix + ":read", prefix + ":write", prefix + ":admin"}},
	}
}

// appPermissions are the resources of Sentry's permissions form, in its
// order. Scopes no level names (org:integrations) are kept as they are by
// an edit.
var appPermissions = []appPermission{
	{Name: "project", Label: "Project", Help: "Projects, their settings and client keys.", Levels: appLevels("project")},
	{Name: "team", Label: "Team", Help: "Teams and their projects.", Levels: appLevels("team")},
	{Name: "release", Label: "Release", Help: "Releases and their files.", Levels: []appPermLevel{{"admin", "Admin", []string{"project:releases"}}}},
	{Name: "event", Label: "Issue & Event", Help: "Issues, events and comments; the issue, error and comment webhooks need Read.", Levels: appLevels("event")},
	{Name: "org", Label: "Organization", Help: "The organization and its integrations.", Levels: appLevels("org")},
	{Name: "member", Label: "Member", Help: "The organization's members.", Levels: appLevels("member")},
	{Name: "alerts", Label: "Alerts", Help: "Alert rules and incidents.", Levels: appLevels("alerts")[:2]},
}

// appPermScopes are the scopes that some level of appPermissions grants.
var appPermScopes = func() []string {
	var out []string
	for _, p := range appPermissions {
		for _, l := range p.Levels {
			for _, sc := range l.Scopes {
				if !slices.Contains(out, sc) {
					out = append(out, sc)
				}
			}
		}
	}
	return out
}()

// appResource is a resource an app may subscribe to, with what it sends.
type appResource struct {
	Name string
	Help string
}

// appResources are the resources of the form's events checkboxes, in
// Sentry's order (herald.AppResources).
var appResources = []appResource{
	{herald.ResourceIssue, "issue.created, issue.resolved, issue.ignored, issue.assigned and issue.unresolved: an issue is created, changes status or is assigned."},
	{herald.ResourceError, "error.created: every new error event of every project."},
	{herald.ResourceComment, "comment.created, comment.updated and comment.deleted: a comment on an issue is added, edited or removed."},
}

// appPermChoice is a resource of the permissions form with its selected level.
type appPermChoice struct {
	appPermission
	Selected string
}

// appForm is what the new and edit form shows: an app's fields as typed.
type appForm struct {
	Internal      bool
	Name          string
	Author        string
	Overview      string
	WebhookURL    string
	RedirectURL   string
	IsAlertable   bool
	VerifyInstall bool
	Events        []string
	Perms         []appPermChoice
	// WebhookHeaders are the app's extra webhook headers as the form's
	// text holds them: one "Name: value" a line.
	WebhookHeaders string
	// Action is the path the form posts to.
	Action string
}

// Resources are the resources of the events checkboxes.
func (f *appForm) Resources() []appResource { return appResources }

// newAppForm returns the form of app (a zero app of the right status for
// a new one).
func newAppForm(app *herald.SentryApp, action string) *appForm {
	f := &appForm{Internal: app.IsInternal(), Name: app.Name, Author: app.Author, Overview: app.Overview,
		WebhookURL: app.WebhookURL, RedirectURL: app.RedirectURL, IsAlertable: app.IsAlertable,
		VerifyInstall: app.VerifyInstall, Events: slices.Clone(app.Events), Action: action}
	var headers strings.Builder
	for _, h := range app.WebhookHeaders {
		headers.WriteString(h.Key + ": " + h.Value + "\n")
	}
	f.WebhookHeaders = headers.String()
	for _, p := range appPermissions {
		c := appPermChoice{appPermission: p, Selected: "no-access"}
		for _, l := range p.Levels {
			if slices.Contains(app.Scopes, l.Scopes[len(l.Scopes)-1]) {
				c.Selected = l.Value
			}
		}
		f.Perms = append(f.Perms, c)
	}
	return f
}

// parseAppForm reads a posted app form against cur, the app as it is (a
// zero app of the right status for a new one), and validates it as the
// API's SentryAppParser does: the same rules, fields and messages. Scopes
// beyond the person's own are refused. It returns the update, and the form
// as typed to show again with the errors.
func parseAppForm(r *http.Request, v *visit, cur *herald.SentryApp, create bool, action string) (herald.SentryAppUpdate, *appForm, error) {
	form := newAppForm(cur, action)
	if err := r.ParseForm(); err != nil {
		return herald.SentryAppUpdate{}, form, herald.Errorf(herald.EINVALID, "The form could not be read.")
	}
	pf := r.PostForm
	in := herald.SentryAppUpdate{}
	form.Name = pf.Get("name")
	if pf.Has("name") || !create {
		in.Name = &form.Name
	}
	form.WebhookURL = pf.Get("webhookUrl")
	in.WebhookURL = &form.WebhookURL
	form.IsAlertable = appChecked(pf.Get("isAlertable"))
	in.IsAlertable = &form.IsAlertable
	if !cur.IsInternal() {
		// The fields of public integrations only.
		form.Author, form.Overview, form.RedirectURL = pf.Get("author"), pf.Get("overview"), pf.Get("redirectUrl")
		in.Author, in.Overview, in.RedirectURL = &form.Author, &form.Overview, &form.RedirectURL
		form.VerifyInstall = appChecked(pf.Get("verifyInstall"))
		in.VerifyInstall = &form.VerifyInstall
	}

	// Scopes: those of each resource's level, and those no level names
	// kept as they are.
	fe := herald.FieldErrors{}
	scopes := []string{}
	for _, sc := range cur.Scopes {
		if !slices.Contains(appPermScopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	for i := range form.Perms {
		p := &form.Perms[i]
		p.Selected = pf.Get("perm-" + p.Name)
		if p.Selected == "" || p.Selected == "no-access" {
			p.Selected = "no-access"
			continue
		}
		i := slices.IndexFunc(p.Levels, func(l appPermLevel) bool { return l.Value == p.Selected })
		if i < 0 {
			fe.Add("scopes", strconv.Quote(p.Selected)+" is not a valid choice for "+p.Label+".")
			continue
		}
		for _, sc := range p.Levels[i].Scopes {
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	if err := fe.Err(); err != nil {
		return herald.SentryAppUpdate{}, form, err
	}
	in.Scopes = &scopes
	form.Events = pf["events"]
	in.Events = &form.Events
	form.WebhookHeaders = pf.Get("webhookHeaders")
	headers, msgs := parseHeaderLines(form.WebhookHeaders)
	if len(msgs) > 0 {
		return herald.SentryAppUpdate{}, form, herald.FieldErrors{"webhookHeaders": msgs}
	}
	in.WebhookHeaders = &headers
	upd, err := in.Validate(cur, create, v.can)
	return upd, form, err
}

// parseHeaderLines reads the webhook headers of the app form's text, one
// "Name: value" a line (blank lines skipped), or says which lines are not
// so. The headers are then checked as the API's are.
func parseHeaderLines(text string) ([]herald.WebhookHeader, []string) {
	headers := []herald.WebhookHeader{}
	var msgs []string
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			msgs = append(msgs, "Line "+strconv.Itoa(i+1)+": write a header as Name: value.")
			continue
		}
		headers = append(headers, herald.WebhookHeader{Key: name, Value: value})
	}
	return headers, msgs
}

// appChecked reports whether a checkbox's posted value means ticked.
func appChecked(v string) bool {
	b, err := strconv.ParseBool(v)
	return v == "on" || (err == nil && b)
}

// appsPage is the data of Developer Settings.
type appsPage struct {
	Internal []*herald.SentryApp
	Public   []*herald.SentryApp
}

// handleApps shows Developer Settings: the organization's internal and
// public integrations, each leading to its page, and the buttons that
// create them for those who may (org:write).
func (s *Server) handleApps(w http.ResponseWriter, r *http.Request, v *visit) error {
	org, err := s.organization(r, v)
	if err != nil {
		return err
	}
	if err := v.require("org:read"); err != nil {
		return err
	}
	apps, err := s.store.FindApps(r.Context(), herald.SentryAppFilter{OrganizationID: org.ID})
	if err != nil {
		return err
	}
	data := &appsPage{}
	for _, app := range apps {
		if app.IsInternal() {
			data.Internal = append(data.Internal, app)
		} else {
			data.Public = append(data.Public, app)
		}
	}
	s.render(w, r, v, http.StatusOK, "apps", data)
	return nil
}

// newAppPage is the data of the form that creates an app.
type newAppPage struct {
	Form   *appForm
	Errors herald.FieldErrors
}

// handleNewApp shows the form of a new internal or public integration and
// creates it as POST /api/0/sentry-apps/ does. A public one leads to its
// page; an internal one is installed on the organization at once, with a
// first token, which its page, rendered in the answer, shows this once.
func (s *Server) handleNewApp(w http.ResponseWriter, r *http.Request, v *visit, internal bool) error {
	org, err := s.organization(r, v)
	if err != nil {
		return err
	}
	if err := v.require("org:write"); err != nil {
		return err
	}
	cur := &herald.SentryApp{Status: herald.AppUnpublished, VerifyInstall: true, OrganizationID: org.ID}
	if internal {
		cur.Status, cur.VerifyInstall = herald.AppInternal, false
	}
	data := &newAppPage{Form: newAppForm(cur, r.URL.Path)}
	// A new integration reads issues and events, which its issue, error
	// and comment webhooks need; the form may take the permission away.
	data.Form.Perms[slices.IndexFunc(data.Form.Perms, func(c appPermChoice) bool { return c.Name == "event" })].Selected = "read"
	if r.Method != http.MethodPost {
		s.render(w, r, v, http.StatusOK, "app-form", data)
		return nil
	}
	app, inst, tok, err := s.createApp(r, v, cur, data)
	if err != nil {
		if data.Errors, err = formErrors(err); err != nil {
			return err
		}
		s.render(w, r, v, http.StatusBadRequest, "app-form", data)
		return nil
	}
	if inst == nil {
		s.redirect(w, r, appPath(org, app), "Integration "+app.Name+" created.")
		return nil
	}
	page, err := s.appPageData(r.Context(), v, org, app)
	if err != nil {
		return err
	}
	page.NewToken = tok
	page.Created = true
	s.render(w, r, v, http.StatusOK, "app", page)
	return nil
}

// createApp validates the posted form and creates the app as the API
// does; an internal app comes back installed, with its first token.
func (s *Server) createApp(r *http.Request, v *visit, cur *herald.SentryApp, data *newAppPage) (*herald.SentryApp, *herald.Installation, *herald.Token, error) {
	upd, form, err := parseAppForm(r, v, cur, true, data.Form.Action)
	data.Form = form
	if err != nil {
		return nil, nil, nil, err
	}
	app := *cur
	app.Apply(upd)
	if app.IsInternal() {
		app.VerifyInstall = false
	}
	app.Slug = herald.Slugify(app.Name)
	if app.IsInternal() {
		app.Slug += "-" + herald.RandomHex(3)
	}
	inst, tok, err := s.store.CreateApp(r.Context(), &app)
	if herald.ErrorCode(err) == herald.ECONFLICT {
		return nil, nil, nil, herald.InvalidField("name", "Name "+app.Name+" is already taken, please use another.")
	} else if err != nil {
		return nil, nil, nil, err
	}
	return &app, inst, tok, nil
}

// orgApp loads the organization and the app the path names: 404 unless
// the organization owns the app, as the API answers callers outside it.
func (s *Server) orgApp(r *http.Request, v *visit) (*herald.Organization, *herald.SentryApp, error) {
	org, err := s.organization(r, v)
	if err != nil {
		return nil, nil, err
	}
	if err := v.require("org:read"); err != nil {
		return nil, nil, err
	}
	slug := r.PathValue("app_slug")
	if slug == "" || len(slug) > maxAppSlugLength {
		return nil, nil, herald.Errorf(herald.ENOTFOUND, "not found")
	}
	app, err := s.store.FindAppBySlug(r.Context(), slug)
	if err != nil {
		return nil, nil, err
	}
	if app.OrganizationID != org.ID {
		return nil, nil, herald.Errorf(herald.ENOTFOUND, "not found")
	}
	return org, app, nil
}

// appPage is the data of an app's page.
type appPage struct {
	App *herald.SentryApp
	// Secret is the client secret as the person may see it: itself, masked,
	// or "" once it is no longer shown (a day after the app's creation).
	Secret string
	// NewSecret is the secret just rotated, shown this once.
	NewSecret string
	// Installations are the app's installations on the organization;
	// Installed says whether one is live.
	Installations []*herald.Installation
	Installed     bool
	// Tokens are an internal app's tokens, for those with org:write;
	// NewToken is the one just made, its value shown this once.
	Tokens   []*herald.Token
	NewToken *herald.Token
	// Created is set on the page shown when an internal app was just
	// created and installed.
	Created bool
	Form    *appForm
	Errors  herald.FieldErrors
}

// appPageData loads what an app's page shows, the client secret by the
// API's rules: to members of the owning organization for a day after the
// app's creation, in clear to those with org:write, masked to others.
func (s *Server) appPageData(ctx context.Context, v *visit, org *herald.Organization, app *herald.SentryApp) (*appPage, error) {
	data := &appPage{App: app, Form: newAppForm(app, appPath(org, app))}
	if s.clock.Now().Sub(app.DateCreated) < appSecretVisibleFor {
		data.Secret = maskedAppSecret
		if v.can("org:write") {
			data.Secret = app.ClientSecret
		}
	}
	insts, err := s.store.FindInstallations(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	for _, inst := range insts {
		if inst.AppID == app.ID {
			data.Installations = append(data.Installations, inst)
			data.Installed = true
		}
	}
	if app.IsInternal() && v.can("org:write") {
		if data.Tokens, err = s.store.FindAppTokens(ctx, app.ID); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// handleApp shows an app's page: its details and edit form, client id and
// secret, installations and tokens. A POST saves the form or, by its
// action, rotates the secret, deletes the app, creates or revokes a token,
// installs, uninstalls, publishes or unpublishes, each with the scope of
// the API route that does the same.
func (s *Server) handleApp(w http.ResponseWriter, r *http.Request, v *visit) error {
	org, app, err := s.orgApp(r, v)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if r.Method != http.MethodPost {
		data, err := s.appPageData(ctx, v, org, app)
		if err != nil {
			return err
		}
		s.render(w, r, v, http.StatusOK, "app", data)
		return nil
	}
	switch action := r.PostFormValue("action"); action {
	case "", "save":
		return s.saveApp(w, r, v, org, app)
	case "rotate":
		if err := v.require("org:write"); err != nil {
			return err
		}
		app, err = s.store.RotateAppSecret(ctx, app.ID)
		if err != nil {
			return err
		}
		data, err := s.appPageData(ctx, v, org, app)
		if err != nil {
			return err
		}
		data.NewSecret = app.ClientSecret
		s.render(w, r, v, http.StatusOK, "app", data)
		return nil
	case "delete":
		if err := v.require("org:admin"); err != nil {
			return err
		}
		if err := s.store.DeleteApp(ctx, app.ID); err != nil {
			return err
		}
		s.redirect(w, r, appsPath(org), "Integration "+app.Name+" deleted.")
		return nil
	case "token-create", "token-revoke":
		return s.changeAppToken(w, r, v, org, app, action)
	case "install", "uninstall":
		return s.changeInstallation(w, r, v, org, app, action)
	case "publish", "unpublish":
		if !v.user.IsSuperuser {
			return herald.Errorf(herald.EFORBIDDEN, "Only a superuser can publish or unpublish an integration.")
		}
		if app.IsInternal() {
			return herald.Errorf(herald.EINVALID, "Internal integrations cannot be published.")
		}
		status := herald.AppPublished
		if action == "unpublish" {
			status = herald.AppUnpublished
		}
		if _, err := s.store.UpdateApp(ctx, app.ID, herald.SentryAppUpdate{Status: &status}); err != nil {
			return err
		}
		s.redirect(w, r, appPath(org, app), "Integration "+app.Name+" "+status+".")
		return nil
	}
	return herald.Errorf(herald.EINVALID, "Unknown action.")
}

// saveApp applies the edit form as PUT /api/0/sentry-apps/{slug}/ does
// (org:write); the slug and the kind of app stay.
func (s *Server) saveApp(w http.ResponseWriter, r *http.Request, v *visit, org *herald.Organization, app *herald.SentryApp) error {
	if err := v.require("org:write"); err != nil {
		return err
	}
	ctx := r.Context()
	upd, form, err := parseAppForm(r, v, app, false, appPath(org, app))
	if err == nil {
		if app.IsInternal() {
			upd.VerifyInstall = nil
		}
		if _, err = s.store.UpdateApp(ctx, app.ID, upd); err == nil {
			s.redirect(w, r, appPath(org, app), "Integration saved.")
			return nil
		}
	}
	errs, err := formErrors(err)
	if err != nil {
		return err
	}
	data, err := s.appPageData(ctx, v, org, app)
	if err != nil {
		return err
	}
	data.Form, data.Errors = form, errs
	s.render(w, r, v, http.StatusBadRequest, "app", data)
	return nil
}

// changeAppToken creates (shown once) or revokes a token of an internal
// app, as the API's api-tokens routes do (org:write).
func (s *Server) changeAppToken(w http.ResponseWriter, r *http.Request, v *visit, org *herald.Organization, app *herald.SentryApp, action string) error {
	if err := v.require("org:write"); err != nil {
		return err
	}
	if !app.IsInternal() {
		return herald.Errorf(herald.EFORBIDDEN, "Tokens are for internal integrations only.")
	}
	ctx := r.Context()
	if action == "token-revoke" {
		id, err := strconv.ParseInt(r.PostFormValue("token"), 10, 64)
		if err != nil {
			return herald.Errorf(herald.ENOTFOUND, "not found")
		}
		if err := s.store.DeleteAppToken(ctx, app.ID, id); err != nil {
			return err
		}
		s.redirect(w, r, appPath(org, app), "Token revoked.")
		return nil
	}
	tok, err := s.store.CreateAppToken(ctx, app.ID)
	if err != nil {
		return err
	}
	data, err := s.appPageData(ctx, v, org, app)
	if err != nil {
		return err
	}
	data.NewToken = tok
	s.render(w, r, v, http.StatusOK, "app", data)
	return nil
}

// changeInstallation installs the app on the organization
// (installation.created) or uninstalls one of its installations there
// (installation.deleted), through the change service as the API's
// installation routes do (org:integrations).
func (s *Server) changeInstallation(w http.ResponseWriter, r *http.Request, v *visit, org *herald.Organization, app *herald.SentryApp, action string) error {
	if err := v.require("org:integrations"); err != nil {
		return err
	}
	ctx := r.Context()
	actor := herald.Actor{User: v.user}
	if action == "install" {
		if !app.InstallableBy(org.ID) {
			return herald.Errorf(herald.ENOTFOUND, "not found")
		}
		inst := &herald.Installation{AppID: app.ID, OrganizationID: org.ID}
		created, err := s.changes.CreateInstallation(ctx, inst, actor)
		if err != nil {
			return err
		}
		msg := app.Name + " is already installed."
		if created {
			msg = app.Name + " installed."
		}
		s.redirect(w, r, appPath(org, app), msg)
		return nil
	}
	uuid := r.PostFormValue("installation")
	if uuid == "" || len(uuid) > 64 {
		return herald.Errorf(herald.ENOTFOUND, "not found")
	}
	inst, err := s.store.FindInstallationByUUID(ctx, uuid)
	if err != nil {
		return err
	}
	if inst.AppID != app.ID || inst.OrganizationID != org.ID {
		return herald.Errorf(herald.ENOTFOUND, "not found")
	}
	if err := s.changes.DeleteInstallation(ctx, inst.UUID, actor); err != nil {
		return err
	}
	s.redirect(w, r, appPath(org, app), app.Name+" uninstalled.")
	return nil
}

// appHeader is one request header shown in the request log.
type appHeader struct {
	Name, Value string
}

// appRequestView is one entry of an app's request log. A request without
// a 2xx answer carries what was sent and received, as the API shows it.
type appRequestView struct {
	ID           int64
	Event        string
	URL          string
	Code         int
	OK           bool
	Date         time.Time
	Duration     time.Duration
	Organization *herald.Organization
	Headers      []appHeader
	RequestBody  string
	ResponseBody string
	Error        string
	// ErrorID and ProjectID are the Sentry-Hook-Error and
	// Sentry-Hook-Project headers of the answer, shown as the API shows
	// them: when both came.
	ErrorID   string
	ProjectID string
}

// appDashboardPage is the data of an app's request log.
type appDashboardPage struct {
	App      *herald.SentryApp
	Requests []*appRequestView
	// Events are the events the log may be narrowed to; EventType and
	// ErrorsOnly the filters applied.
	Events     []string
	EventType  string
	ErrorsOnly bool
	Errors     herald.FieldErrors
}

// appEvents are the events Sentry Apps receive, for the log's filter.
var appEvents = func() []string {
	var out []string
	for _, e := range webhook.Events() {
		if !webhook.ValidHookEvent(e) {
			out = append(out, e)
		}
	}
	return out
}()

// handleAppDashboard shows an app's request log (Sentry's "Dashboard" of
// an integration), as GET /api/0/sentry-apps/{slug}/requests/ serves it:
// the latest attempts to deliver to the app over the last 30 days, newest
// first, narrowed by ?eventType= and ?errorsOnly=. It updates live.
func (s *Server) handleAppDashboard(w http.ResponseWriter, r *http.Request, v *visit) error {
	_, app, err := s.orgApp(r, v)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	data := &appDashboardPage{App: app, Events: appEvents, EventType: q.Get("eventType"), ErrorsOnly: appChecked(q.Get("errorsOnly"))}
	f := herald.AppRequestFilter{EventType: data.EventType, ErrorsOnly: data.ErrorsOnly, Since: s.clock.Now().Add(-appRequestsRetention)}
	if f.EventType != "" && !slices.Contains(appEvents, f.EventType) {
		data.Errors = herald.FieldErrors{"eventType": {strconv.Quote(f.EventType) + " is not a valid choice."}}
		s.render(w, r, v, http.StatusBadRequest, "app-dashboard", data)
		return nil
	}
	reqs, err := s.store.FindAppRequests(r.Context(), app.ID, f)
	if err != nil {
		return err
	}
	for _, req := range reqs {
		d, at := req.Delivery, req.Attempt
		rv := &appRequestView{ID: at.ID, Event: d.Event, URL: at.URL, Code: at.StatusCode, Date: at.CreatedAt, Duration: at.Duration,
			OK: at.StatusCode >= 200 && at.StatusCode < 300}
		if !app.IsInternal() {
			rv.Organization = req.Organization
		}
		if !rv.OK {
			rv.RequestBody = truncate(string(d.Body), maxAppRequestBody)
			rv.ResponseBody = truncate(at.ResponseBody, maxAppRequestBody)
			rv.Error = at.Error
			if at.HookErrorID != "" && at.HookProjectID != "" {
				rv.ErrorID, rv.ProjectID = at.HookErrorID, at.HookProjectID
			}
			h := delivery.Headers(d)
			for _, k := range slices.Sorted(maps.Keys(h)) {
				if k != "Sentry-Hook-Signature" {
					rv.Headers = append(rv.Headers, appHeader{k, strings.Join(h[k], ", ")})
				}
			}
		}
		data.Requests = append(data.Requests, rv)
	}
	s.render(w, r, v, http.StatusOK, "app-dashboard", data)
	return nil
}
