package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/herald-dev/herald"
)

// maxTokenLength bounds the bearer tokens looked up in the store.
const maxTokenLength = 256

// auth is the caller of a request: its token, and the scope the route needs
// ("" for routes any token may use; "a|b" when either will do).
type auth struct {
	token *herald.Token
	scope string
	// role is the user's role in the organization the route names, once
	// loaded: a person's token may do there what both its scopes and the
	// role allow. "" leaves the token's scopes alone (a superuser, a Sentry
	// App's token, or no organization).
	role string
}

// userID is the id of the token's user.
func (a *auth) userID() int64 { return a.token.UserID }

// superuser reports whether the token's user may act on every organization.
func (a *auth) superuser() bool { return a.token.User != nil && a.token.User.IsSuperuser }

// requireScope fails with 403 unless the token grants the route's scope
// (one of them, when the route names several).
func (a *auth) requireScope() error {
	if a.scope == "" {
		return nil
	}
	for _, sc := range strings.Split(a.scope, "|") {
		if a.has(sc) {
			return nil
		}
	}
	return herald.Errorf(herald.EFORBIDDEN, msgForbidden)
}

// has reports whether the caller has scope: its token grants it and, for a
// person in an organization, so does their role there.
func (a *auth) has(scope string) bool {
	return a.token.HasScope(scope) && (a.role == "" || herald.RoleHasScope(a.role, scope))
}

// member checks that the caller may act on the organization: a superuser
// always, a Sentry App's token on its installation's organization, a person
// as a member (whose role then bounds the token). It reports false when the
// caller is none of these.
func (s *Server) member(ctx context.Context, a *auth, orgID int64) (bool, error) {
	if a.superuser() {
		return true, nil
	}
	if !a.mayActOn(orgID) {
		return false, nil
	}
	role, err := s.store.MemberRole(ctx, orgID, a.userID())
	if err != nil || role == "" {
		return false, err
	}
	if !a.token.IsApp() {
		a.role = role
	}
	return true, nil
}

// authedFunc handles a request whose token has been verified; a returned
// error is written as the response.
type authedFunc func(w http.ResponseWriter, r *http.Request, a *auth) error

// authed serves h to requests with a valid bearer token, recording scope as
// what the route needs. Handlers check it once they have loaded the
// organization, so that an unknown organization is a 404 as in Sentry.
func (s *Server) authed(scope string, h authedFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := s.authenticate(r)
		if err == nil {
			err = h(w, r, &auth{token: tok, scope: scope})
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}

// personal serves h to the tokens of people only: a Sentry App's token
// gets 403, as in Sentry, where only a user manages personal tokens and
// organizations. An app token acts on its installation's organization
// and nothing else.
func personal(h authedFunc) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, a *auth) error {
		if a.token.IsApp() {
			return herald.Errorf(herald.EFORBIDDEN, msgPersonalOnly)
		}
		return h(w, r, a)
	}
}

// bearerToken returns the token of an "Authorization: Bearer <token>"
// header, and whether the request carries one.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, value, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(value), true
}

// authenticate returns the request's token: 401 without one ("credentials
// were not provided"), with one the store does not know ("Invalid token") or
// with an expired one ("Token expired").
func (s *Server) authenticate(r *http.Request) (*herald.Token, error) {
	value, ok := bearerToken(r)
	if !ok {
		return nil, herald.Errorf(herald.EUNAUTHORIZED, msgNoCredentials)
	}
	if value == "" || len(value) > maxTokenLength {
		return nil, herald.Errorf(herald.EUNAUTHORIZED, msgInvalidToken)
	}
	tok, err := s.store.FindTokenByValue(r.Context(), value)
	if herald.ErrorCode(err) == herald.EUNAUTHORIZED {
		if msg := herald.ErrorMessage(err); msg == msgTokenExpired {
			return nil, herald.Errorf(herald.EUNAUTHORIZED, msgTokenExpired)
		}
		return nil, herald.Errorf(herald.EUNAUTHORIZED, msgInvalidToken)
	} else if err != nil {
		return nil, err
	}
	return tok, nil
}

// organization loads the organization named by the {org} path value, by
// slug or by id, and checks that the caller may act on it: its user is a
// member (or a superuser) and its token has the route's scope.
func (s *Server) organization(r *http.Request, a *auth) (*herald.Organization, error) {
	ctx := r.Context()
	idOrSlug := r.PathValue("org")
	if len(idOrSlug) > herald.MaxSlugLength {
		return nil, herald.Errorf(herald.ENOTFOUND, msgNotFound)
	}
	org, err := s.store.FindOrganizationBySlug(ctx, idOrSlug)
	if herald.ErrorCode(err) == herald.ENOTFOUND && isNumeric(idOrSlug) {
		org, err = s.organizationByID(ctx, a, idOrSlug)
	}
	if err != nil {
		return nil, err
	}
	if ok, err := s.member(ctx, a, org.ID); err != nil {
		return nil, err
	} else if !ok {
		return nil, herald.Errorf(herald.EFORBIDDEN, msgForbidden)
	}
	if err := a.requireScope(); err != nil {
		return nil, err
	}
	return org, nil
}

// mayActOn reports whether the token may act on the organization: a Sentry
// App's token only on the organization of its installation (the app's user
// is a member of every organization that installed it).
func (a *auth) mayActOn(orgID int64) bool {
	return a.token.OrganizationID == 0 || a.token.OrganizationID == orgID
}

// organizationByID finds an organization by its numeric id among those the
// caller can see. Slugs are never entirely numeric, so an id cannot be
// mistaken for one.
func (s *Server) organizationByID(ctx context.Context, a *auth, id string) (*herald.Organization, error) {
	want, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil, herald.Errorf(herald.ENOTFOUND, msgNotFound)
	}
	return s.memberOrganization(ctx, a, want)
}

// memberOrganization finds the organization with id among those the
// caller's user belongs to (any, for a superuser), or ENOTFOUND.
func (s *Server) memberOrganization(ctx context.Context, a *auth, id int64) (*herald.Organization, error) {
	userID := a.userID()
	if a.superuser() {
		userID = 0
	}
	page := herald.Page{Limit: maxPerPage}
	for {
		orgs, next, err := s.store.FindOrganizations(ctx, userID, page)
		if err != nil {
			return nil, err
		}
		for _, o := range orgs {
			if o.ID == id {
				return o, nil
			}
		}
		if next == "" {
			return nil, herald.Errorf(herald.ENOTFOUND, msgNotFound)
		}
		page.Cursor = next
	}
}

// project loads the project named by the {org} and {project} path values
// (each a slug or an id) after checking the caller's access to the
// organization.
func (s *Server) project(r *http.Request, a *auth) (*herald.Project, error) {
	org, err := s.organization(r, a)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	idOrSlug := r.PathValue("project")
	if len(idOrSlug) > herald.MaxSlugLength {
		return nil, herald.Errorf(herald.ENOTFOUND, msgNotFound)
	}
	p, err := s.store.FindProjectBySlug(ctx, org.ID, idOrSlug)
	if herald.ErrorCode(err) == herald.ENOTFOUND && isNumeric(idOrSlug) {
		id, perr := strconv.ParseInt(idOrSlug, 10, 64)
		if perr != nil {
			return nil, herald.Errorf(herald.ENOTFOUND, msgNotFound)
		}
		p, err = s.store.FindProjectByID(ctx, id)
		if err == nil && p.OrganizationID != org.ID {
			return nil, herald.Errorf(herald.ENOTFOUND, msgNotFound)
		}
	}
	if err != nil {
		return nil, err
	}
	if p.Organization == nil {
		p.Organization = org
	}
	return p, nil
}

// hookProject loads the project of a Service Hook route that needs the
// servicehooks feature and checks that it has it: Sentry's list and create
// routes, and Herald's own hook routes (rotate-secret, test, deliveries).
func (s *Server) hookProject(r *http.Request, a *auth) (*herald.Project, error) {
	p, err := s.project(r, a)
	if err != nil {
		return nil, err
	}
	if !p.HasFeature(herald.FeatureServiceHooks) {
		return nil, errUnavailableFeature
	}
	return p, nil
}

// hook loads the Service Hook named by the {hook_id} path value with its
// project, which must have the servicehooks feature (Herald's own hook
// routes).
func (s *Server) hook(r *http.Request, a *auth) (*herald.Project, *herald.Hook, error) {
	p, err := s.hookProject(r, a)
	if err != nil {
		return nil, nil, err
	}
	return s.projectHook(r, p)
}

// ungatedHook loads the Service Hook named by the {hook_id} path value with
// its project, whether or not the project has the servicehooks feature:
// Sentry's details and stats routes do not check it, so a project whose
// feature was turned off can still see, change and remove its hooks (which
// are sent nothing meanwhile).
func (s *Server) ungatedHook(r *http.Request, a *auth) (*herald.Project, *herald.Hook, error) {
	p, err := s.project(r, a)
	if err != nil {
		return nil, nil, err
	}
	return s.projectHook(r, p)
}

// projectHook loads p's hook named by the {hook_id} path value.
func (s *Server) projectHook(r *http.Request, p *herald.Project) (*herald.Project, *herald.Hook, error) {
	id := r.PathValue("hook_id")
	if !herald.ValidID(id) {
		return nil, nil, herald.Errorf(herald.ENOTFOUND, msgNotFound)
	}
	h, err := s.store.FindHookByID(r.Context(), p.ID, id)
	if err != nil {
		return nil, nil, err
	}
	return p, h, nil
}

// isNumeric reports whether s is a non-empty run of ASCII digits.
func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
