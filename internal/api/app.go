package api

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/delivery"
	"github.com/herald-dev/herald/internal/webhook"
)

// Bounds of Sentry App requests. An app's name fits its slug, which has six
// characters of its uuid appended for internal apps, in 64 characters.
const (
	maxAppSlugLength     = 64
	maxAppRequestsBody   = 1024
	secretVisibleFor     = 24 * time.Hour
	appRequestsRetention = 30 * 24 * time.Hour
)

// maskedSecret is what Sentry shows in place of a client secret the caller
// may not see.
var maskedSecret = strings.Repeat("*", 64)

// appJSON is Sentry's Sentry App serializer. The client id, secret and owner
// are shown to members of the owning organization; other callers see
// published apps without them.
type appJSON struct {
	AllowedOrigins []string   `json:"allowedOrigins"`
	Author         *string    `json:"author"`
	Avatars        []struct{} `json:"avatars"`
	Events         []string   `json:"events"`
	FeatureData    []struct{} `json:"featureData"`
	IsAlertable    bool       `json:"isAlertable"`
	Metadata       struct{}   `json:"metadata"`
	Name           string     `json:"name"`
	Overview       *string    `json:"overview"`
	Popularity     *int       `json:"popularity"`
	RedirectURL    *string    `json:"redirectUrl"`
	Schema         struct{}   `json:"schema"`
	Scopes         []string   `json:"scopes"`
	Slug           string     `json:"slug"`
	Status         string     `json:"status"`
	UUID           string     `json:"uuid"`
	VerifyInstall  bool       `json:"verifyInstall"`
	WebhookURL     *string    `json:"webhookUrl"`
	// The credentials and the owner are shown to the owning
	// organization's members only, as in Sentry.
	*appOwnerFields
}

// appOwnerFields are the fields of an app only its owners see.
// WebhookHeaders is Herald's: Sentry Apps have no such field.
type appOwnerFields struct {
	ClientID       string          `json:"clientId"`
	ClientSecret   *string         `json:"clientSecret"`
	Owner          appOwnerJSON    `json:"owner"`
	WebhookHeaders []appHeaderJSON `json:"webhookHeaders"`
}

// appHeaderJSON is one of an app's webhook headers, in its body and its
// input.
type appHeaderJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// maskedHeaderValue is shown in place of a webhook header's value to those
// who may not change the app: values often carry a receiver's credentials.
const maskedHeaderValue = "********"

type appOwnerJSON struct {
	ID   int64  `json:"id"`
	Slug string `json:"slug"`
}

// newAppJSON serializes app; owner says whether the caller is a member of
// the owning organization (or a superuser). As in Sentry the client secret
// is shown to owners for a day after the app's creation (rotate it to see a
// new one), and only to tokens with org:write; others see it masked. The
// owners see the app's webhook headers, their values only with org:write.
func (s *Server) newAppJSON(app *herald.SentryApp, a *auth, owner bool) *appJSON {
	out := &appJSON{
		AllowedOrigins: []string{},
		Author:         nullString(app.Author),
		Avatars:        []struct{}{},
		Events:         nonNil(slices.Clone(app.Events)),
		FeatureData:    []struct{}{},
		IsAlertable:    app.IsAlertable,
		Name:           app.Name,
		Overview:       nullString(app.Overview),
		RedirectURL:    nullString(app.RedirectURL),
		Scopes:         nonNil(slices.Clone(app.Scopes)),
		Slug:           app.Slug,
		Status:         app.Status,
		UUID:           app.UUID,
		VerifyInstall:  app.VerifyInstall,
		WebhookURL:     nullString(app.WebhookURL),
	}
	if !owner {
		return out
	}
	out.appOwnerFields = &appOwnerFields{ClientID: app.ClientID, Owner: appOwnerJSON{ID: app.OrganizationID},
		WebhookHeaders: make([]appHeaderJSON, 0, len(app.WebhookHeaders))}
	for _, h := range app.WebhookHeaders {
		v := h.Value
		if !a.token.HasScope("org:write") {
			v = maskedHeaderValue
		}
		out.WebhookHeaders = append(out.WebhookHeaders, appHeaderJSON{Key: h.Key, Value: v})
	}
	if app.Owner != nil {
		out.Owner.Slug = app.Owner.Slug
	}
	if s.clock.Now().Sub(app.DateCreated) < secretVisibleFor {
		secret := maskedSecret
		if a.token.HasScope("org:write") {
			secret = app.ClientSecret
		}
		out.ClientSecret = &secret
	}
	return out
}

// appInput is the body of app creation and update, Sentry's field names.
type appInput struct {
	Name           *string   `json:"name"`
	Organization   *string   `json:"organization"`
	Author         *string   `json:"author"`
	Overview       *string   `json:"overview"`
	IsInternal     *bool     `json:"isInternal"`
	WebhookURL     *string   `json:"webhookUrl"`
	RedirectURL    *string   `json:"redirectUrl"`
	Events         *[]string `json:"events"`
	Scopes         *[]string `json:"scopes"`
	IsAlertable    *bool     `json:"isAlertable"`
	VerifyInstall  *bool     `json:"verifyInstall"`
	AllowedOrigins *[]string `json:"allowedOrigins"`
	// WebhookHeaders replaces the app's extra webhook headers (Herald's
	// field); [] removes them.
	WebhookHeaders *[]appHeaderJSON `json:"webhookHeaders"`
	// Status publishes or unpublishes a public app (superusers only); it
	// is ignored at creation, as in Sentry.
	Status *string `json:"status"`
}

// validate checks the input against cur, the app as it is (a zero app for
// creation), with herald.SentryAppUpdate.Validate; scopes beyond those of
// the caller's token are refused.
func (in *appInput) validate(cur *herald.SentryApp, create bool, a *auth) (herald.SentryAppUpdate, error) {
	upd := &herald.SentryAppUpdate{Name: in.Name, Author: in.Author, Overview: in.Overview, WebhookURL: in.WebhookURL,
		RedirectURL: in.RedirectURL, IsAlertable: in.IsAlertable, VerifyInstall: in.VerifyInstall, Scopes: in.Scopes,
		Events: in.Events}
	if in.WebhookHeaders != nil {
		headers := make([]herald.WebhookHeader, 0, len(*in.WebhookHeaders))
		for _, h := range *in.WebhookHeaders {
			headers = append(headers, herald.WebhookHeader(h))
		}
		upd.WebhookHeaders = &headers
	}
	return upd.Validate(cur, create, a.token.HasScope)
}

// pick returns *v, or cur when v is nil.
func pick(v *string, cur string) string {
	if v != nil {
		return *v
	}
	return cur
}

// handleCreateApp answers POST /api/0/sentry-apps/ with Sentry's body
// ({"name", "organization", "isInternal", "webhookUrl", "events", "scopes",
// "author", ...}) and 201. An internal app is installed on its organization
// at once; its slug ends with six characters of its uuid.
func (s *Server) handleCreateApp(w http.ResponseWriter, r *http.Request, a *auth) error {
	var in appInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Organization == nil || *in.Organization == "" {
		return herald.InvalidField("organization", herald.MsgRequired)
	}
	r.SetPathValue("org", *in.Organization)
	org, err := s.organization(r, a)
	if err != nil {
		return err
	}
	cur := &herald.SentryApp{Status: herald.AppUnpublished, VerifyInstall: true}
	if in.IsInternal != nil && *in.IsInternal {
		cur.Status, cur.VerifyInstall = herald.AppInternal, false
	}
	upd, err := in.validate(cur, true, a)
	if err != nil {
		return err
	}
	app := &herald.SentryApp{
		Name:           *upd.Name,
		Status:         cur.Status,
		OrganizationID: org.ID,
		Author:         pick(upd.Author, ""),
		Overview:       pick(upd.Overview, ""),
		WebhookURL:     pick(upd.WebhookURL, ""),
		RedirectURL:    pick(upd.RedirectURL, ""),
		VerifyInstall:  cur.VerifyInstall,
		Scopes:         []string{},
		Events:         []string{},
	}
	if upd.Scopes != nil {
		app.Scopes = *upd.Scopes
	}
	if upd.Events != nil {
		app.Events = *upd.Events
	}
	if upd.WebhookHeaders != nil {
		app.WebhookHeaders = *upd.WebhookHeaders
	}
	if upd.IsAlertable != nil {
		app.IsAlertable = *upd.IsAlertable
	}
	if upd.VerifyInstall != nil && !app.IsInternal() {
		app.VerifyInstall = *upd.VerifyInstall
	}
	app.Slug = herald.Slugify(app.Name)
	if app.IsInternal() {
		app.Slug += "-" + herald.RandomHex(3)
	}
	if _, _, err := s.store.CreateApp(r.Context(), app); herald.ErrorCode(err) == herald.ECONFLICT {
		return herald.InvalidField("name", "Name "+app.Name+" is already taken, please use another.")
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.newAppJSON(app, a, true))
	return nil
}

// app loads the app named by the {slug} path value and checks that the
// caller may manage it: a member of its owning organization (or a
// superuser) whose token has the route's scope.
func (s *Server) app(r *http.Request, a *auth) (*herald.SentryApp, error) {
	app, err := s.appBySlug(r)
	if err != nil {
		return nil, err
	}
	owner, err := s.ownsApp(r.Context(), a, app)
	if err != nil {
		return nil, err
	} else if !owner {
		// An app of another organization is not there, as far as the
		// caller can tell.
		return nil, herald.Errorf(herald.ENOTFOUND, msgNotFound)
	}
	if err := a.requireScope(); err != nil {
		return nil, err
	}
	return app, nil
}

// appBySlug loads the app named by the {slug} path value.
func (s *Server) appBySlug(r *http.Request) (*herald.SentryApp, error) {
	slug := r.PathValue("slug")
	if slug == "" || len(slug) > maxAppSlugLength {
		return nil, herald.Errorf(herald.ENOTFOUND, msgNotFound)
	}
	return s.store.FindAppBySlug(r.Context(), slug)
}

// ownsApp reports whether the caller may manage app: a superuser, or a
// member of the owning organization whose token may act on it.
func (s *Server) ownsApp(ctx context.Context, a *auth, app *herald.SentryApp) (bool, error) {
	return s.member(ctx, a, app.OrganizationID)
}

// handleListApps answers GET /api/0/sentry-apps/: the apps of the caller's
// organizations and the published ones (every app for a superuser);
// ?status=internal|unpublished|published selects one kind, published apps
// being visible to every caller.
func (s *Server) handleListApps(w http.ResponseWriter, r *http.Request, a *auth) error {
	f := herald.SentryAppFilter{Status: r.URL.Query().Get("status"), OrPublished: true}
	if f.Status != "" && f.Status != herald.AppInternal && f.Status != herald.AppUnpublished && f.Status != herald.AppPublished {
		return herald.InvalidField("status", strconv.Quote(f.Status)+" is not a valid choice.")
	}
	if !a.superuser() {
		f.MemberUserID = a.userID()
	}
	if a.token.IsApp() {
		f.OrganizationID = a.token.OrganizationID
	}
	return s.writeApps(w, r, a, f)
}

// handleListOrgApps answers GET /api/0/organizations/{org}/sentry-apps/:
// the apps the organization owns.
func (s *Server) handleListOrgApps(w http.ResponseWriter, r *http.Request, a *auth) error {
	org, err := s.organization(r, a)
	if err != nil {
		return err
	}
	return s.writeApps(w, r, a, herald.SentryAppFilter{OrganizationID: org.ID})
}

// writeApps answers with the apps f selects, each with the fields the
// caller may see.
func (s *Server) writeApps(w http.ResponseWriter, r *http.Request, a *auth, f herald.SentryAppFilter) error {
	ctx := r.Context()
	apps, err := s.store.FindApps(ctx, f)
	if err != nil {
		return err
	}
	owns := map[int64]bool{}
	out := make([]*appJSON, 0, len(apps))
	for _, app := range apps {
		owner, ok := owns[app.OrganizationID]
		if !ok {
			if owner, err = s.ownsApp(ctx, a, app); err != nil {
				return err
			}
			owns[app.OrganizationID] = owner
		}
		out = append(out, s.newAppJSON(app, a, owner))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleGetApp answers GET /api/0/sentry-apps/{slug}/: any app to its
// owners, a published one to every caller with org:read.
func (s *Server) handleGetApp(w http.ResponseWriter, r *http.Request, a *auth) error {
	app, err := s.app(r, a)
	if herald.ErrorCode(err) == herald.ENOTFOUND {
		pub, perr := s.appBySlug(r)
		if perr != nil || pub.Status != herald.AppPublished {
			return err
		}
		if err := a.requireScope(); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, s.newAppJSON(pub, a, false))
		return nil
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.newAppJSON(app, a, true))
	return nil
}

// handleUpdateApp answers PUT /api/0/sentry-apps/{slug}/ with the fields of
// creation to change (the slug and the kind of app stay). A superuser
// publishes a public app with {"status": "published"}, after which any
// organization may install it, and unpublishes it with "unpublished".
func (s *Server) handleUpdateApp(w http.ResponseWriter, r *http.Request, a *auth) error {
	app, err := s.app(r, a)
	if err != nil {
		return err
	}
	var in appInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	upd, err := in.validate(app, false, a)
	if err != nil {
		return err
	}
	if app.IsInternal() {
		upd.VerifyInstall = nil
	}
	if in.Status != nil && *in.Status != app.Status {
		switch {
		case !a.superuser():
			return herald.Errorf(herald.EFORBIDDEN, "Only a superuser can publish or unpublish an integration.")
		case app.IsInternal():
			return herald.InvalidField("status", "Internal integrations cannot be published.")
		case *in.Status != herald.AppPublished && *in.Status != herald.AppUnpublished:
			return herald.InvalidField("status", strconv.Quote(*in.Status)+" is not a valid choice.")
		}
		upd.Status = in.Status
	}
	app, err = s.store.UpdateApp(r.Context(), app.ID, upd)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.newAppJSON(app, a, true))
	return nil
}

// handleDeleteApp answers DELETE /api/0/sentry-apps/{slug}/ with 204; its
// installations and tokens go with it.
func (s *Server) handleDeleteApp(w http.ResponseWriter, r *http.Request, a *auth) error {
	app, err := s.app(r, a)
	if err != nil {
		return err
	}
	if err := s.store.DeleteApp(r.Context(), app.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleRotateAppSecret answers POST /api/0/sentry-apps/{slug}/rotate-secret/
// with {"clientSecret"}, the new secret, shown this once.
func (s *Server) handleRotateAppSecret(w http.ResponseWriter, r *http.Request, a *auth) error {
	app, err := s.app(r, a)
	if err != nil {
		return err
	}
	app, err = s.store.RotateAppSecret(r.Context(), app.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"clientSecret": app.ClientSecret})
	return nil
}

// internalApp loads an app of a route limited to internal integrations.
func (s *Server) internalApp(r *http.Request, a *auth) (*herald.SentryApp, error) {
	app, err := s.app(r, a)
	if err != nil {
		return nil, err
	}
	if !app.IsInternal() {
		return nil, herald.Errorf(herald.EFORBIDDEN, "This route is limited to internal integrations only")
	}
	return app, nil
}

// handleListAppTokens answers GET /api/0/sentry-apps/{slug}/api-tokens/:
// an internal app's tokens, without their values.
func (s *Server) handleListAppTokens(w http.ResponseWriter, r *http.Request, a *auth) error {
	app, err := s.internalApp(r, a)
	if err != nil {
		return err
	}
	tokens, err := s.store.FindAppTokens(r.Context(), app.ID)
	if err != nil {
		return err
	}
	out := make([]*tokenJSON, 0, len(tokens))
	for _, t := range tokens {
		out = append(out, newTokenJSON(t))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleCreateAppToken answers POST /api/0/sentry-apps/{slug}/api-tokens/
// with 201 and a new token of the internal app, its value shown only here.
func (s *Server) handleCreateAppToken(w http.ResponseWriter, r *http.Request, a *auth) error {
	app, err := s.internalApp(r, a)
	if err != nil {
		return err
	}
	t, err := s.store.CreateAppToken(r.Context(), app.ID)
	if err != nil {
		return err
	}
	out := newTokenJSON(t)
	out.Token = t.Value
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// handleDeleteAppToken answers DELETE /api/0/sentry-apps/{slug}/api-tokens/{token_id}/.
func (s *Server) handleDeleteAppToken(w http.ResponseWriter, r *http.Request, a *auth) error {
	app, err := s.internalApp(r, a)
	if err != nil {
		return err
	}
	id, err := pathID(r, "token_id")
	if err != nil {
		return err
	}
	if err := s.store.DeleteAppToken(r.Context(), app.ID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// appRequestJSON is one entry of an app's request log, Sentry's request
// serializer. Errors (no 2xx answer) carry the request and the response,
// bodies cut to 1024 characters, and, under Sentry's names, the
// Sentry-Hook-Error and Sentry-Hook-Project headers of the answer: error_id
// and project_id, both null unless the receiver sent both (Sentry keeps
// them only together) and the project is a number.
type appRequestJSON struct {
	WebhookURL     string            `json:"webhookUrl"`
	SentryAppSlug  string            `json:"sentryAppSlug"`
	EventType      string            `json:"eventType"`
	Date           string            `json:"date"`
	ResponseCode   int               `json:"responseCode"`
	Organization   *appRequestOrg    `json:"organization,omitempty"`
	RequestBody    *string           `json:"requestBody,omitempty"`
	RequestHeaders map[string]string `json:"requestHeaders,omitempty"`
	ResponseBody   *string           `json:"responseBody,omitempty"`
	Error          *string           `json:"error,omitempty"`
	*appRequestErrorRef
}

// appRequestErrorRef is the error a receiver reported while handling a
// request, as an error entry of the request log shows it.
type appRequestErrorRef struct {
	ErrorID   *string `json:"error_id"`
	ProjectID *int64  `json:"project_id"`
}

// newAppRequestErrorRef reads the error reference of an attempt's answer:
// null fields unless it names both an error and a numeric project.
func newAppRequestErrorRef(at *herald.Attempt) *appRequestErrorRef {
	ref := &appRequestErrorRef{}
	project, err := strconv.ParseInt(at.HookProjectID, 10, 64)
	if at.HookErrorID != "" && err == nil {
		ref.ErrorID, ref.ProjectID = &at.HookErrorID, &project
	}
	return ref
}

type appRequestOrg struct {
	Name string `json:"name"`
	Slug string `json:"slug"`
}

// truncateRunes cuts s to n characters.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// handleAppRequests answers GET /api/0/sentry-apps/{slug}/requests/: the
// latest attempts to deliver to the app (at most 100 per event type and 100
// in all, over the last 30 days), newest first; ?eventType= selects one
// event, ?errorsOnly=true the failed attempts, ?organizationSlug= one
// installing organization.
func (s *Server) handleAppRequests(w http.ResponseWriter, r *http.Request, a *auth) error {
	app, err := s.app(r, a)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := herald.AppRequestFilter{EventType: q.Get("eventType"), Since: s.clock.Now().Add(-appRequestsRetention)}
	if f.EventType != "" && (!webhook.ValidEvent(f.EventType) || webhook.ValidHookEvent(f.EventType)) {
		return herald.InvalidField("eventType", strconv.Quote(f.EventType)+" is not a valid choice.")
	}
	if v := q.Get("errorsOnly"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return herald.InvalidField("errorsOnly", "Must be a valid boolean.")
		}
		f.ErrorsOnly = b
	}
	ctx := r.Context()
	if slug := q.Get("organizationSlug"); slug != "" {
		org, err := s.store.FindOrganizationBySlug(ctx, slug)
		if herald.ErrorCode(err) == herald.ENOTFOUND || len(slug) > herald.MaxSlugLength {
			return herald.Errorf(herald.EINVALID, "Invalid organization.")
		} else if err != nil {
			return err
		}
		f.OrganizationID = org.ID
	}
	reqs, err := s.store.FindAppRequests(ctx, app.ID, f)
	if err != nil {
		return err
	}
	out := make([]*appRequestJSON, 0, len(reqs))
	for _, req := range reqs {
		d, at := req.Delivery, req.Attempt
		e := &appRequestJSON{
			WebhookURL:    at.URL,
			SentryAppSlug: app.Slug,
			EventType:     d.Event,
			Date:          herald.FormatTime(at.CreatedAt),
			ResponseCode:  at.StatusCode,
		}
		if !app.IsInternal() && req.Organization != nil {
			e.Organization = &appRequestOrg{Name: req.Organization.Name, Slug: req.Organization.Slug}
		}
		if at.StatusCode < 200 || at.StatusCode >= 300 {
			body := truncateRunes(string(d.Body), maxAppRequestsBody)
			resp := truncateRunes(at.ResponseBody, maxAppRequestsBody)
			e.RequestBody, e.ResponseBody, e.Error = &body, &resp, nullString(at.Error)
			e.appRequestErrorRef = newAppRequestErrorRef(at)
			e.RequestHeaders = map[string]string{}
			for k, v := range delivery.Headers(d) {
				if k != "Sentry-Hook-Signature" {
					e.RequestHeaders[k] = strings.Join(v, ", ")
				}
			}
		}
		out = append(out, e)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// isAppToken reports whether the request's token is app's own.
func isAppToken(a *auth, app *herald.SentryApp) bool {
	return a.token.UserID == app.ProxyUserID
}
