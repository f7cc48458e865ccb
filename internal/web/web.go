// Package web serves Herald's dashboard: server-rendered HTML pages, with
// their assets embedded, that people sign in to and use as they would
// Sentry's (the seed's paths: Settings > [Project] > Service Hooks; Settings
// > Developer Settings > New Internal Integration), and the pages the links
// of every webhook payload point to (/organizations/{org}/issues/{id}/).
//
// Pages read through herald.Store and make every change that causes
// webhooks through herald.ChangeService, as the API does: there is no second
// path to the database. A person's role in an organization decides what
// they see and do there, by the scopes herald.RoleScopes grants, the same
// rules the API applies to their tokens.
//
// Sessions are stored in the database (so several nodes share them) and
// carried by an HttpOnly, SameSite=Lax cookie (Secure when the public URL
// is https). Every form carries the session's CSRF token, checked on every
// POST. A page asked for without a session redirects to
// /auth/login/?next=<path> and shows nothing.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/password"
)

// DefaultSessionLifetime is how long a sign-in lasts.
const DefaultSessionLifetime = 14 * 24 * time.Hour

// Config configures a Server.
type Config struct {
	// Store is what pages read, and write where a write causes nothing.
	Store herald.Store
	// Changes makes the changes that cause webhooks.
	Changes herald.ChangeService
	// BaseURL is Herald's public URL ("https://herald.example.com"): DSNs
	// shown are built from it, and cookies are Secure when it is https.
	BaseURL string
	// SessionLifetime is how long a sign-in lasts (DefaultSessionLifetime
	// when 0).
	SessionLifetime time.Duration
	// Clock tells the time; nil means herald.SystemClock.
	Clock herald.Clock
	// Logger receives errors; nil discards them.
	Logger *slog.Logger
	// Unavailable reports whether an error means the database cannot be
	// reached: such errors get a 503 page, not logged per request.
	Unavailable func(error) bool
}

// Server is the dashboard.
type Server struct {
	store    herald.Store
	changes  herald.ChangeService
	base     string
	secure   bool
	lifetime time.Duration
	clock    herald.Clock
	logger   *slog.Logger
	checker  *password.Checker
	pages    *pages
	mux      *http.ServeMux
	// patterns are the registered page patterns, in order.
	patterns []string
	// unavailable is Config.Unavailable, never nil.
	unavailable func(error) bool
}

// New returns a Server for cfg, which needs a Store, Changes and an
// absolute http(s) BaseURL.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Changes == nil {
		return nil, errors.New("web: Config.Store and Config.Changes are required")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("web: Config.BaseURL must be an absolute http(s) URL")
	}
	s := &Server{
		store:    cfg.Store,
		changes:  cfg.Changes,
		base:     strings.TrimSuffix(cfg.BaseURL, "/"),
		secure:   u.Scheme == "https",
		lifetime: cfg.SessionLifetime,
		clock:    cfg.Clock,
		logger:   cfg.Logger,
		checker:  password.NewChecker(2),
		mux:      http.NewServeMux(),
	}
	if s.lifetime <= 0 {
		s.lifetime = DefaultSessionLifetime
	}
	if s.clock == nil {
		s.clock = herald.SystemClock
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.unavailable = cfg.Unavailable
	if s.unavailable == nil {
		s.unavailable = func(error) bool { return false }
	}
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// Handler returns the handler of every dashboard route.
func (s *Server) Handler() http.Handler { return s.mux }

// Patterns lists the patterns of the pages for signed-in people (net/http
// ServeMux patterns, such as "/settings/{org}/{$}"), for tests that visit
// every page.
func (s *Server) Patterns() []string { return slices.Clone(s.patterns) }

// maxFormBytes bounds the body of a form post.
const maxFormBytes = 1 << 20

// visitFunc handles a page request of a signed-in person; a returned
// error is shown as an error page.
type visitFunc func(w http.ResponseWriter, r *http.Request, v *visit) error

// visit is one signed-in request: the session, and the organization the
// path names once loaded (with the person's scopes there).
type visit struct {
	session *herald.Session
	user    *herald.User
	org     *herald.Organization
	role    string
	// orgs are the organizations the person may open, for navigation.
	orgs []*herald.Organization
}

// can reports whether the person has scope in the visit's organization
// ("a|b": either): a superuser always, a member when their role grants it.
func (v *visit) can(scope string) bool {
	if v.user.IsSuperuser {
		return true
	}
	if v.role == "" {
		return false
	}
	for sc := range strings.SplitSeq(scope, "|") {
		if herald.RoleHasScope(v.role, sc) {
			return true
		}
	}
	return false
}

// require answers 403 unless the person has scope.
func (v *visit) require(scope string) error {
	if !v.can(scope) {
		return herald.Errorf(herald.EFORBIDDEN, "You do not have permission to do this here.")
	}
	return nil
}

// page registers a page for signed-in people. POSTs must carry the
// session's CSRF token.
func (s *Server) page(pattern string, h visitFunc) {
	s.patterns = append(s.patterns, pattern)
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Referrer-Policy", "same-origin")
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		v, err := s.signedIn(r)
		if err != nil {
			if herald.ErrorCode(err) == herald.EUNAUTHORIZED {
				http.Redirect(w, r, "/auth/login/?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
				return
			}
			s.fail(w, r, nil, err)
			return
		}
		if r.Method == http.MethodPost {
			if err := s.checkCSRF(r, v.session); err != nil {
				s.fail(w, r, v, err)
				return
			}
		}
		if err := h(w, r, v); err != nil {
			s.fail(w, r, v, err)
		}
	}))
}

// organization loads the organization named by the {org} path value and
// the person's role there: 404 for one they may not open.
func (s *Server) organization(r *http.Request, v *visit) (*herald.Organization, error) {
	ctx := r.Context()
	org, err := s.store.FindOrganizationBySlug(ctx, r.PathValue("org"))
	if err != nil {
		return nil, err
	}
	role, err := s.store.MemberRole(ctx, org.ID, v.user.ID)
	if err != nil {
		return nil, err
	}
	if role == "" && !v.user.IsSuperuser {
		return nil, herald.Errorf(herald.ENOTFOUND, "not found")
	}
	v.org, v.role = org, role
	return org, nil
}

// project loads the organization and the project named by the path.
func (s *Server) project(r *http.Request, v *visit) (*herald.Project, error) {
	org, err := s.organization(r, v)
	if err != nil {
		return nil, err
	}
	p, err := s.store.FindProjectBySlug(r.Context(), org.ID, r.PathValue("project"))
	if err != nil {
		return nil, err
	}
	p.Organization = org
	return p, nil
}

// userOrgs lists the organizations a person may open: all of them for a
// superuser, their memberships for others.
func (s *Server) userOrgs(ctx context.Context, u *herald.User) ([]*herald.Organization, error) {
	userID := u.ID
	if u.IsSuperuser {
		userID = 0
	}
	var out []*herald.Organization
	page := herald.Page{Limit: 100}
	for {
		orgs, next, err := s.store.FindOrganizations(ctx, userID, page)
		if err != nil {
			return nil, err
		}
		out = append(out, orgs...)
		if next == "" || len(out) >= 1000 {
			return out, nil
		}
		page.Cursor = next
	}
}

// fail answers err as an error page: 404 for what is not there (or not
// the person's to see), 403, 400 with the message, 503 while the database
// is unavailable, 500 (logged) for anything else.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, v *visit, err error) {
	status, msg := http.StatusInternalServerError, "Something went wrong on our side."
	switch herald.ErrorCode(err) {
	case herald.ENOTFOUND:
		status, msg = http.StatusNotFound, "This page does not exist, or it is not yours to see."
	case herald.EFORBIDDEN:
		status, msg = http.StatusForbidden, herald.ErrorMessage(err)
	case herald.EINVALID, herald.ECONFLICT:
		status, msg = http.StatusBadRequest, herald.ErrorMessage(err)
	case herald.ERATELIMITED:
		status, msg = http.StatusTooManyRequests, herald.ErrorMessage(err)
	case herald.EUNAUTHORIZED:
		status, msg = http.StatusUnauthorized, herald.ErrorMessage(err)
	default:
		if s.unavailable(err) {
			w.Header().Set("Retry-After", "5")
			status, msg = http.StatusServiceUnavailable, "Herald is temporarily unavailable: try again in a moment."
			break
		}
		s.logger.ErrorContext(r.Context(), "web: page failed", "path", r.URL.Path, "err", err)
	}
	s.render(w, r, v, status, "error", map[string]any{"Status": status, "Message": msg})
}
