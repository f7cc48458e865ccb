package web

import (
	"net/http"

	"github.com/herald-dev/herald"
)

// routes registers every page. Each area registers its own pages: the
// sign-in and settings here, then Service Hooks (hooks.go), Developer
// Settings (apps.go), Issues (issues.go) and Alerts (alerts.go).
func (s *Server) routes() {
	s.mux.Handle("/_static/", staticHandler())
	s.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/_static/favicon.svg", http.StatusMovedPermanently)
	})
	s.mux.HandleFunc("/auth/login/{$}", s.handleLogin)
	s.page("/auth/logout/{$}", s.handleLogout)
	s.page("GET /{$}", s.handleHome)
	s.page("/organizations/{$}", s.handleOrganizations)
	s.page("GET /settings/{$}", s.handleSettingsHome)
	s.page("/settings/{org}/{$}", s.handleOrgSettings)
	s.page("GET /settings/{org}/projects/{$}", s.handleOrgSettings)
	s.page("/settings/{org}/projects/{project}/{$}", s.handleProjectSettings)
	s.page("/settings/{org}/projects/{project}/keys/{$}", s.handleProjectKeys)
	s.page("/settings/{org}/members/{$}", s.handleMembers)
	s.page("/settings/account/api/auth-tokens/{$}", s.handleAuthTokens)
	s.hookRoutes()
	s.appRoutes()
	s.issueRoutes()
	s.alertRoutes()
	s.page("/", func(w http.ResponseWriter, r *http.Request, v *visit) error {
		return herald.Errorf(herald.ENOTFOUND, "not found")
	})
}

// handleHome sends a person to their first organization's issues, or to
// the list of organizations when they have none.
func (s *Server) handleHome(w http.ResponseWriter, r *http.Request, v *visit) error {
	if len(v.orgs) == 0 {
		http.Redirect(w, r, "/organizations/", http.StatusFound)
		return nil
	}
	http.Redirect(w, r, "/organizations/"+v.orgs[0].Slug+"/issues/", http.StatusFound)
	return nil
}

// handleSettingsHome sends a person to their first organization's
// settings.
func (s *Server) handleSettingsHome(w http.ResponseWriter, r *http.Request, v *visit) error {
	if len(v.orgs) == 0 {
		http.Redirect(w, r, "/organizations/", http.StatusFound)
		return nil
	}
	http.Redirect(w, r, "/settings/"+v.orgs[0].Slug+"/", http.StatusFound)
	return nil
}
