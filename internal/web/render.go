package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/herald-dev/herald"
)

//go:embed templates static
var assets embed.FS

// pages are the page templates by name, each the layout with its partials
// and one page file (templates/pages/<name>.html) defining "title" and
// "content".
type pages struct {
	byName map[string]*template.Template
}

// funcs are the template functions every page may use.
var funcs = template.FuncMap{
	"time":     formatTime,
	"ago":      ago,
	"join":     strings.Join,
	"contains": slices.Contains[[]string],
	"lower":    strings.ToLower,
	"upper":    strings.ToUpper,
	"query":    url.QueryEscape,
	"add":      func(a, b int) int { return a + b },
	"role":     roleName,
	"truncate": truncate,
}

// parsePages parses every page with the layout and the partials.
func parsePages() (*pages, error) {
	base, err := template.New("layout").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/partials/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: parse layout: %w", err)
	}
	files, err := fs.Glob(assets, "templates/pages/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: list pages: %w", err)
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, f := range files {
		t, err := template.Must(base.Clone()).ParseFS(assets, f)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", f, err)
		}
		p.byName[strings.TrimSuffix(path.Base(f), ".html")] = t
	}
	return p, nil
}

// view is what every page template gets: the person, the organization and
// the navigation, the session's CSRF token for forms, and the page's Data.
type view struct {
	User *herald.User
	// Org is the organization the page is about (nil on pages of no
	// organization); Orgs those the person may open.
	Org  *herald.Organization
	Orgs []*herald.Organization
	// Role is the person's role in Org ("" for a superuser who is not a
	// member).
	Role string
	CSRF string
	// Flash is a message about what the previous request did.
	Flash  string
	Status int
	Data   any
	visit  *visit
}

// Can reports whether the person has scope in the page's organization:
// templates show only the actions the person may take.
func (v *view) Can(scope string) bool { return v.visit != nil && v.visit.can(scope) }

// render writes the page name with data. A nil visit renders a page
// without navigation (sign-in, errors before sign-in).
func (s *Server) render(w http.ResponseWriter, r *http.Request, v *visit, status int, name string, data any) {
	t := s.pages.byName[name]
	if t == nil {
		s.logger.ErrorContext(r.Context(), "web: no such page", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	vw := &view{Status: status, Data: data, visit: v}
	if v != nil {
		vw.User, vw.Org, vw.Orgs, vw.Role, vw.CSRF = v.user, v.org, v.orgs, v.role, v.session.CSRF
		vw.Flash = s.takeFlash(w, r)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", vw); err != nil {
		s.logger.ErrorContext(r.Context(), "web: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// flashCookie carries a message to the page a POST redirects to.
const flashCookie = "herald_flash"

// redirect answers a successful POST: 303 to target, which shows flash.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, target, flash string) {
	if flash != "" {
		http.SetCookie(w, s.cookie(flashCookie, url.QueryEscape(flash), time.Minute))
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// takeFlash returns and clears the request's flash message.
func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil || c.Value == "" {
		return ""
	}
	http.SetCookie(w, s.cookie(flashCookie, "", 0))
	msg, err := url.QueryUnescape(c.Value)
	if err != nil {
		return ""
	}
	return truncate(msg, 300)
}

// formatTime shows a time in UTC to the minute.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// ago shows how long ago t was, roughly.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
}

// roleName shows a role as Sentry does.
func roleName(role string) string {
	if role == "" {
		return ""
	}
	return strings.ToUpper(role[:1]) + role[1:]
}

// truncate cuts s to at most n characters, marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// staticHandler serves the embedded assets under /_static/.
func staticHandler() http.Handler {
	sub, _ := fs.Sub(assets, "static")
	files := http.FileServerFS(sub)
	return http.StripPrefix("/_static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	}))
}
