// Package api serves Herald's HTTP API under /api/0/.
//
// The routes, field names, status codes and error bodies are Sentry's, so that
// Sentry's own clients (sentry-cli, the curl examples of Sentry's docs) work
// against Herald unchanged. Herald's additions live under routes Sentry does
// not define and never change a Sentry-defined shape:
//
//	POST /api/0/projects/{org}/{project}/hooks/{hook_id}/rotate-secret/
//	GET  /api/0/projects/{org}/{project}/hooks/{hook_id}/deliveries/
//	GET  /api/0/projects/{org}/{project}/hooks/{hook_id}/deliveries/{delivery_id}/
//	POST /api/0/projects/{org}/{project}/hooks/{hook_id}/deliveries/{delivery_id}/redeliver/
//	POST /api/0/projects/{org}/{project}/hooks/{hook_id}/deliveries/recover/
//	GET  /api/0/organizations/{org}/alert-rules/{alert_rule_id}/incidents/
//
// Every route is served with and without its trailing slash. The server also
// answers GET /healthz and GET /readyz, and mounts the ingest handler (the
// Sentry SDK protocol) at /api/{project_id}/envelope/ and /api/{project_id}/store/.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/herald-dev/herald"
)

// Config configures a Server.
type Config struct {
	// Store holds everything the API reads and writes.
	Store herald.Store
	// BaseURL is Herald's public URL, such as "http://127.0.0.1:8080"; DSNs
	// and pagination links are built from it. When empty they are built
	// from each request's Host.
	BaseURL string
	// Ingest serves the Sentry SDK protocol at /api/{project_id}/envelope/
	// and /api/{project_id}/store/; nil leaves those routes unserved.
	Ingest http.Handler
	// Clock tells the time; nil means the system clock.
	Clock herald.Clock
	// Logger receives request and error logs; nil discards them.
	Logger *slog.Logger
	// Ready reports whether the server may take traffic, for /readyz; nil
	// means Store.Ping.
	Ready func(ctx context.Context) error
	// Metrics, when set, serves GET /metrics.
	Metrics http.Handler
}

// Server is Herald's HTTP API.
type Server struct {
	store   herald.Store
	baseURL *url.URL
	ingest  http.Handler
	clock   herald.Clock
	logger  *slog.Logger
	ready   func(ctx context.Context) error
	metrics http.Handler
	handler http.Handler
}

// NewServer returns a Server for cfg. It fails when cfg has no Store or its
// BaseURL is not an absolute http or https URL.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("api: Config.Store is required")
	}
	s := &Server{
		store:   cfg.Store,
		ingest:  cfg.Ingest,
		clock:   cfg.Clock,
		logger:  cfg.Logger,
		ready:   cfg.Ready,
		metrics: cfg.Metrics,
	}
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("api: base URL %q is not an absolute http(s) URL", cfg.BaseURL)
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		u.RawPath, u.RawQuery, u.Fragment = "", "", ""
		s.baseURL = u
	}
	if s.clock == nil {
		s.clock = herald.SystemClock
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.ready == nil {
		s.ready = s.store.Ping
	}
	s.handler = s.logRequests(s.recoverPanics(s.routes()))
	return s, nil
}

// Handler returns the HTTP handler serving every route.
func (s *Server) Handler() http.Handler { return s.handler }

// routes builds the route table.
func (s *Server) routes() http.Handler {
	rt := &router{mux: http.NewServeMux(), routes: map[string]*route{}}

	rt.mux.HandleFunc("GET /healthz", s.handleHealth)
	rt.mux.HandleFunc("GET /readyz", s.handleReady)
	if s.metrics != nil {
		rt.mux.Handle("GET /metrics", s.metrics)
	}
	if s.ingest != nil {
		for _, p := range []string{"/api/{project_id}/envelope", "/api/{project_id}/store"} {
			rt.mux.Handle(p, s.ingest)
			rt.mux.Handle(p+"/{$}", s.ingest)
		}
	}
	rt.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"detail": msgNotFound})
	})

	rt.handle("GET", "/api/0/", http.HandlerFunc(s.handleIndex))

	rt.handle("GET", "/api/0/api-tokens/", s.authed("", s.handleListTokens))
	rt.handle("POST", "/api/0/api-tokens/", s.authed("", s.handleCreateToken))
	rt.handle("DELETE", "/api/0/api-tokens/", s.authed("", s.handleDeleteTokens))
	rt.handle("DELETE", "/api/0/api-tokens/{token_id}/", s.authed("", s.handleDeleteToken))

	rt.handle("GET", "/api/0/organizations/", s.authed("org:read", s.handleListOrganizations))
	rt.handle("POST", "/api/0/organizations/", s.authed("org:write", s.handleCreateOrganization))
	rt.handle("GET", "/api/0/organizations/{org}/", s.authed("org:read", s.handleGetOrganization))
	rt.handle("GET", "/api/0/organizations/{org}/teams/", s.authed("team:read", s.handleListTeams))
	rt.handle("POST", "/api/0/organizations/{org}/teams/", s.authed("team:write", s.handleCreateTeam))
	rt.handle("GET", "/api/0/organizations/{org}/projects/", s.authed("org:read", s.handleListProjects))

	rt.handle("POST", "/api/0/teams/{org}/{team}/projects/", s.authed("project:write", s.handleCreateProject))
	rt.handle("GET", "/api/0/projects/{org}/{project}/", s.authed("project:read", s.handleGetProject))
	rt.handle("PUT", "/api/0/projects/{org}/{project}/", s.authed("project:write", s.handleUpdateProject))
	rt.handle("DELETE", "/api/0/projects/{org}/{project}/", s.authed("project:admin", s.handleDeleteProject))
	rt.handle("GET", "/api/0/projects/{org}/{project}/keys/", s.authed("project:read", s.handleListKeys))
	rt.handle("POST", "/api/0/projects/{org}/{project}/keys/", s.authed("project:write", s.handleCreateKey))

	const hooks = "/api/0/projects/{org}/{project}/hooks/"
	rt.handle("GET", hooks, s.authed("project:read", s.handleListHooks))
	rt.handle("POST", hooks, s.authed("project:write", s.handleCreateHook))
	rt.handle("GET", hooks+"{hook_id}/", s.authed("project:read", s.handleGetHook))
	rt.handle("PUT", hooks+"{hook_id}/", s.authed("project:write", s.handleUpdateHook))
	rt.handle("DELETE", hooks+"{hook_id}/", s.authed("project:write", s.handleDeleteHook))
	rt.handle("GET", hooks+"{hook_id}/stats/", s.authed("project:read", s.handleHookStats))
	rt.handle("POST", hooks+"{hook_id}/rotate-secret/", s.authed("project:write", s.handleRotateHookSecret))

	const deliveries = hooks + "{hook_id}/deliveries/"
	rt.handle("GET", deliveries, s.authed("project:read", s.handleListDeliveries))
	rt.handle("POST", deliveries+"recover/", s.authed("project:write", s.handleRecoverDeliveries))
	rt.handle("GET", deliveries+"{delivery_id}/", s.authed("project:read", s.handleGetDelivery))
	rt.handle("POST", deliveries+"{delivery_id}/redeliver/", s.authed("project:write", s.handleRedeliver))

	const rules = "/api/0/projects/{org}/{project}/rules/"
	rt.handle("GET", rules, s.authed("project:read", s.handleListRules))
	rt.handle("POST", rules, s.authed("project:write", s.handleCreateRule))
	rt.handle("GET", rules+"{rule_id}/", s.authed("project:read", s.handleGetRule))
	rt.handle("PUT", rules+"{rule_id}/", s.authed("project:write", s.handleUpdateRule))
	rt.handle("DELETE", rules+"{rule_id}/", s.authed("project:write", s.handleDeleteRule))

	const alertRules = "/api/0/organizations/{org}/alert-rules/"
	rt.handle("GET", alertRules, s.authed("org:read", s.handleListMetricRules))
	rt.handle("POST", alertRules, s.authed("org:write", s.handleCreateMetricRule))
	rt.handle("GET", alertRules+"{alert_rule_id}/", s.authed("org:read", s.handleGetMetricRule))
	rt.handle("PUT", alertRules+"{alert_rule_id}/", s.authed("org:write", s.handleUpdateMetricRule))
	rt.handle("DELETE", alertRules+"{alert_rule_id}/", s.authed("org:write", s.handleDeleteMetricRule))
	rt.handle("GET", alertRules+"{alert_rule_id}/incidents/", s.authed("org:read", s.handleListIncidents))

	const issues = "/api/0/organizations/{org}/issues/{issue_id}/"
	rt.handle("GET", "/api/0/projects/{org}/{project}/issues/", s.authed("event:read", s.handleListIssues))
	rt.handle("PUT", "/api/0/projects/{org}/{project}/issues/", s.authed("event:write", s.handleBulkUpdateIssues))
	rt.handle("GET", "/api/0/projects/{org}/{project}/events/{event_id}/", s.authed("event:read", s.handleGetEvent))
	rt.handle("GET", issues, s.authed("event:read", s.handleGetIssue))
	rt.handle("PUT", issues, s.authed("event:write", s.handleUpdateIssue))
	rt.handle("DELETE", issues, s.authed("event:admin", s.handleDeleteIssue))
	rt.handle("GET", issues+"comments/", s.authed("event:read", s.handleListComments))
	rt.handle("POST", issues+"comments/", s.authed("event:write", s.handleCreateComment))
	rt.handle("PUT", issues+"comments/{comment_id}/", s.authed("event:write", s.handleUpdateComment))
	rt.handle("DELETE", issues+"comments/{comment_id}/", s.authed("event:write", s.handleDeleteComment))

	const apps = "/api/0/sentry-apps/"
	rt.handle("GET", apps, s.authed("", s.handleListApps))
	rt.handle("POST", apps, s.authed("org:write", s.handleCreateApp))
	rt.handle("GET", apps+"{slug}/", s.authed("org:read", s.handleGetApp))
	rt.handle("PUT", apps+"{slug}/", s.authed("org:write", s.handleUpdateApp))
	rt.handle("DELETE", apps+"{slug}/", s.authed("org:admin", s.handleDeleteApp))
	rt.handle("POST", apps+"{slug}/rotate-secret/", s.authed("org:write", s.handleRotateAppSecret))
	rt.handle("GET", apps+"{slug}/requests/", s.authed("org:read", s.handleAppRequests))
	rt.handle("GET", apps+"{slug}/api-tokens/", s.authed("org:write", s.handleListAppTokens))
	rt.handle("POST", apps+"{slug}/api-tokens/", s.authed("org:write", s.handleCreateAppToken))
	rt.handle("DELETE", apps+"{slug}/api-tokens/{token_id}/", s.authed("org:write", s.handleDeleteAppToken))
	rt.handle("GET", "/api/0/organizations/{org}/sentry-apps/", s.authed("org:read", s.handleListOrgApps))

	const installations = "/api/0/sentry-app-installations/{uuid}/"
	rt.handle("GET", "/api/0/organizations/{org}/sentry-app-installations/", s.authed("org:read|org:integrations", s.handleListInstallations))
	rt.handle("POST", "/api/0/organizations/{org}/sentry-app-installations/", s.authed("org:integrations|org:write", s.handleCreateInstallation))
	rt.handle("GET", installations, s.authed("org:read|org:integrations", s.handleGetInstallation))
	rt.handle("PUT", installations, s.authed("org:integrations|org:write", s.handleUpdateInstallation))
	rt.handle("DELETE", installations, s.authed("org:integrations|org:write", s.handleDeleteInstallation))
	rt.handle("POST", installations+"authorizations/", http.HandlerFunc(s.handleAuthorization))

	return rt.mux
}

// router registers each API path once, with and without its trailing
// slash, and dispatches on the method itself so that a known path with an
// unknown method gets Sentry's JSON 405.
type router struct {
	mux    *http.ServeMux
	routes map[string]*route
}

// route holds the handlers of one path by method.
type route struct {
	methods map[string]http.Handler
}

// handle serves method on path, which must end with a slash.
func (rt *router) handle(method, path string, h http.Handler) {
	r, ok := rt.routes[path]
	if !ok {
		r = &route{methods: map[string]http.Handler{}}
		rt.routes[path] = r
		rt.mux.Handle(path+"{$}", r)
		rt.mux.Handle(strings.TrimSuffix(path, "/"), r)
	}
	r.methods[method] = h
}

func (rt *route) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, ok := rt.methods[r.Method]
	if !ok && r.Method == http.MethodHead {
		h, ok = rt.methods[http.MethodGet]
	}
	if !ok {
		allow := make([]string, 0, len(rt.methods))
		for m := range rt.methods {
			allow = append(allow, m)
		}
		sort.Strings(allow)
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{
			"detail": fmt.Sprintf("Method %q not allowed.", r.Method),
		})
		return
	}
	h.ServeHTTP(w, r)
}

// handleHealth answers GET /healthz: the process is alive.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReady answers GET /readyz: 200 when Ready passes, else 503 with the
// reason.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "detail": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	size   int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.size += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests logs one line per request. Ingest requests, which arrive in
// volume, are logged at debug level unless they fail on the server.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.clock.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelError
		} else if !strings.HasPrefix(r.URL.Path, "/api/0/") && strings.HasPrefix(r.URL.Path, "/api/") {
			level = slog.LevelDebug
		}
		s.logger.LogAttrs(r.Context(), level, "http request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Int("bytes", sw.size),
			slog.Duration("duration", s.clock.Now().Sub(start)),
			slog.String("remote", r.RemoteAddr))
	})
}

// recoverPanics turns a handler panic into a logged 500 so that one bad
// request cannot take the server down.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			s.logger.LogAttrs(r.Context(), slog.LevelError, "api: panic",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			if sw.status == 0 {
				writeJSON(sw, http.StatusInternalServerError, map[string]string{"detail": msgInternal})
			}
		}()
		next.ServeHTTP(sw, r)
	})
}
