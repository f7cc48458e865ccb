package api

import (
	"crypto/subtle"
	"net/http"
	"strconv"

	"github.com/herald-dev/herald"
)

// installationJSON is Sentry's installation serializer. The grant code is
// shown to tokens with org:integrations while it may be exchanged.
type installationJSON struct {
	App          installationAppJSON `json:"app"`
	Organization installationOrgJSON `json:"organization"`
	UUID         string              `json:"uuid"`
	Status       string              `json:"status"`
	Code         string              `json:"code,omitempty"`
}

type installationAppJSON struct {
	UUID        string `json:"uuid"`
	Slug        string `json:"slug"`
	SentryAppID int64  `json:"sentryAppId"`
}

type installationOrgJSON struct {
	Slug string `json:"slug"`
	ID   int64  `json:"id"`
}

func newInstallationJSON(inst *herald.Installation, a *auth) *installationJSON {
	out := &installationJSON{
		App:          installationAppJSON{UUID: inst.App.UUID, Slug: inst.App.Slug, SentryAppID: inst.AppID},
		Organization: installationOrgJSON{Slug: inst.Organization.Slug, ID: inst.OrganizationID},
		UUID:         inst.UUID,
		Status:       inst.Status,
	}
	if a != nil && a.token.HasScope("org:integrations") {
		out.Code = inst.Code
	}
	return out
}

// handleListInstallations answers GET /api/0/organizations/{org}/sentry-app-installations/.
func (s *Server) handleListInstallations(w http.ResponseWriter, r *http.Request, a *auth) error {
	org, err := s.organization(r, a)
	if err != nil {
		return err
	}
	insts, err := s.store.FindInstallations(r.Context(), org.ID)
	if err != nil {
		return err
	}
	out := make([]*installationJSON, 0, len(insts))
	for _, inst := range insts {
		out = append(out, newInstallationJSON(inst, a))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleCreateInstallation answers POST /api/0/organizations/{org}/sentry-app-installations/
// {"slug"}: it installs the app with that slug, 201 with the installation
// (and its grant code), or 200 with the existing one when the app is
// already installed. A new installation fires installation.created.
func (s *Server) handleCreateInstallation(w http.ResponseWriter, r *http.Request, a *auth) error {
	org, err := s.organization(r, a)
	if err != nil {
		return err
	}
	var in struct {
		Slug *string `json:"slug"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Slug == nil || *in.Slug == "" {
		return herald.InvalidField("slug", herald.MsgRequired)
	}
	ctx := r.Context()
	app, err := s.store.FindAppBySlug(ctx, *in.Slug)
	if herald.ErrorCode(err) == herald.ENOTFOUND || len(*in.Slug) > maxAppSlugLength {
		return herald.InvalidField("slug", "Sentry App "+strconv.Quote(*in.Slug)+" does not exist.")
	} else if err != nil {
		return err
	}
	if !app.InstallableBy(org.ID) {
		// The same answer as for an app that does not exist, so that the
		// slugs of other organizations' apps are not revealed.
		return herald.InvalidField("slug", "Sentry App "+strconv.Quote(*in.Slug)+" does not exist.")
	}
	actor, err := s.actor(ctx, a)
	if err != nil {
		return err
	}
	inst := &herald.Installation{AppID: app.ID, OrganizationID: org.ID}
	created, err := s.changes.CreateInstallation(ctx, inst, actor)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, newInstallationJSON(inst, a))
	return nil
}

// installation loads the installation named by the {uuid} path value and
// checks that the caller may act on it: the installation's own app, or a
// member of its organization whose token has the route's scope.
func (s *Server) installation(r *http.Request, a *auth) (*herald.Installation, error) {
	uuid := r.PathValue("uuid")
	if !herald.ValidID(uuid) {
		return nil, herald.Errorf(herald.ENOTFOUND, msgNotFound)
	}
	ctx := r.Context()
	inst, err := s.store.FindInstallationByUUID(ctx, uuid)
	if err != nil {
		return nil, err
	}
	if isAppToken(a, inst.App) && a.mayActOn(inst.OrganizationID) {
		return inst, nil
	}
	if ok, err := s.member(ctx, a, inst.OrganizationID); err != nil {
		return nil, err
	} else if !ok {
		return nil, herald.Errorf(herald.ENOTFOUND, msgNotFound)
	}
	if err := a.requireScope(); err != nil {
		return nil, err
	}
	return inst, nil
}

// handleGetInstallation answers GET /api/0/sentry-app-installations/{uuid}/.
func (s *Server) handleGetInstallation(w http.ResponseWriter, r *http.Request, a *auth) error {
	inst, err := s.installation(r, a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newInstallationJSON(inst, a))
	return nil
}

// handleUpdateInstallation answers PUT /api/0/sentry-app-installations/{uuid}/
// {"status": "installed"}: the app verifies its installation, after which
// it receives the webhooks of the resources it subscribes to.
func (s *Server) handleUpdateInstallation(w http.ResponseWriter, r *http.Request, a *auth) error {
	inst, err := s.installation(r, a)
	if err != nil {
		return err
	}
	var in struct {
		Status *string `json:"status"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Status == nil {
		return herald.InvalidField("status", herald.MsgRequired)
	}
	if *in.Status != herald.InstallationInstalled {
		return herald.InvalidField("status", "Invalid value '"+*in.Status+"' for status. Valid values: 'installed'")
	}
	inst, err = s.store.VerifyInstallation(r.Context(), inst.UUID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newInstallationJSON(inst, a))
	return nil
}

// handleDeleteInstallation answers DELETE /api/0/sentry-app-installations/{uuid}/
// with 204: the app is uninstalled, its tokens for the organization revoked,
// and installation.deleted fires.
func (s *Server) handleDeleteInstallation(w http.ResponseWriter, r *http.Request, a *auth) error {
	inst, err := s.installation(r, a)
	if err != nil {
		return err
	}
	ctx := r.Context()
	actor, err := s.actor(ctx, a)
	if err != nil {
		return err
	}
	if err := s.changes.DeleteInstallation(ctx, inst.UUID, actor); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// authorizationJSON is the token an app gets for an installation.
type authorizationJSON struct {
	ID           string   `json:"id"`
	Token        string   `json:"token"`
	RefreshToken string   `json:"refreshToken"`
	DateCreated  string   `json:"dateCreated"`
	ExpiresAt    *string  `json:"expiresAt"`
	State        any      `json:"state"`
	Application  any      `json:"application"`
	Scopes       []string `json:"scopes"`
}

// handleAuthorization answers POST /api/0/sentry-app-installations/{uuid}/authorizations/,
// authenticated by the app's client_id and client_secret in the body:
// grant_type "authorization_code" with the installation's code, or
// "refresh_token" with a refresh token, gets 201 and a token that lasts 8
// hours with a refresh token.
func (s *Server) handleAuthorization(w http.ResponseWriter, r *http.Request) {
	if err := s.authorize(w, r); err != nil {
		s.writeError(w, r, err)
	}
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		GrantType    string `json:"grant_type"`
		Code         string `json:"code"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	uuid := r.PathValue("uuid")
	if !herald.ValidID(uuid) {
		return herald.Errorf(herald.ENOTFOUND, msgNotFound)
	}
	ctx := r.Context()
	inst, err := s.store.FindInstallationByUUID(ctx, uuid)
	if err != nil {
		return err
	}
	idOK := subtle.ConstantTimeCompare([]byte(in.ClientID), []byte(inst.App.ClientID)) == 1
	secretOK := subtle.ConstantTimeCompare([]byte(in.ClientSecret), []byte(inst.App.ClientSecret)) == 1
	if !idOK || !secretOK {
		return herald.Errorf(herald.EUNAUTHORIZED, "Invalid Client ID / Secret pair")
	}
	var auth *herald.AppAuthorization
	switch in.GrantType {
	case "authorization_code":
		if in.Code == "" {
			return herald.InvalidField("code", herald.MsgRequired)
		}
		auth, err = s.store.ExchangeGrant(ctx, uuid, in.Code)
	case "refresh_token":
		if in.RefreshToken == "" {
			return herald.InvalidField("refresh_token", herald.MsgRequired)
		}
		auth, err = s.store.RefreshAppToken(ctx, uuid, in.RefreshToken)
	default:
		return herald.Errorf(herald.EINVALID, "Invalid grant_type")
	}
	if err != nil {
		return err
	}
	t := auth.Token
	out := &authorizationJSON{
		ID:           strconv.FormatInt(t.ID, 10),
		Token:        t.Value,
		RefreshToken: auth.RefreshToken,
		DateCreated:  herald.FormatTime(t.DateCreated),
		Scopes:       nonNil(t.Scopes),
	}
	if t.ExpiresAt != nil {
		out.ExpiresAt = nullString(herald.FormatTime(*t.ExpiresAt))
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}
