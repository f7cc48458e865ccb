// Package api serves Herald's HTTP API under /api/0/.
//
// The routes, field names, status codes and error bodies are Sentry's, so that
// Sentry's own clients (sentry-cli, the curl examples of Sentry's docs) work
// against Herald unchanged. Herald's additions live under routes Sentry does
// not define and never change a Sentry-defined shape:
//
//	POST /api/0/projects/{org}/{project}/hooks/{hook_id}/rotate-secret/
//	POST /api/0/projects/{org}/{project}/hooks/{hook_id}/test/
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
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/herald-dev/herald"
)

// Config configures a Server.
type Config struct {
	// Store holds everything the API reads, and writes where a write causes
	// nothing else.
	Store herald.Store
	// Changes makes the changes that cause webhooks (issue updates,
	// comments, installations).
	Changes herald.ChangeService
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
	// Web, when set, serves every path outside /api/ that no API route
	// serves: the dashboard. Without it such paths answer a JSON 404.
	Web http.Handler
	// BodyIdleTimeout is how long a request body may stall between two
	// reads (DefaultBodyIdleTimeout when 0); BodyTimeout bounds the whole
	// body (DefaultBodyTimeout when 0). Past either the connection is cut.
	BodyIdleTimeout, BodyTimeout time.Duration
	// Unavailable reports whether an error means that the database cannot
	// be reached (see sqlstore.DB.Unavailable): such errors get 503 with
	// Retry-After and a body that names nothing about the database, and
	// are not logged per request. Nil means no error is.
	Unavailable func(error) bool
}

// Server is Herald's HTTP API.
type Server struct {
	store   herald.Store
	changes herald.ChangeService
	baseURL *url.URL
	ingest  http.Handler
	clock   herald.Clock
	logger  *slog.Logger
	ready   func(ctx context.Context) error
	metrics http.Handler
	web     http.Handler
	handler http.Handler
	table   []Route
	// unavailable is Config.Unavailable, never nil.
	unavailable func(error) bool
}

// NewServer returns a Server for cfg. It fails when cfg has no Store or its
// BaseURL is not an absolute http or https URL.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Changes == nil {
		return nil, errors.New("api: Config.Store and Config.Changes are required")
	}
	s := &Server{
		store:   cfg.Store,
		changes: cfg.Changes,
		ingest:  cfg.Ingest,
		clock:   cfg.Clock,
		logger:  cfg.Logger,
		ready:   cfg.Ready,
		metrics: cfg.Metrics,
		web:     cfg.Web,
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
	s.logger = slog.New(LogHandler(s.logger.Handler()))
	if s.ready == nil {
		s.ready = s.store.Ping
	}
	s.unavailable = cfg.Unavailable
	if s.unavailable == nil {
		s.unavailable = func(error) bool { return false }
	}
	idle, total := cfg.BodyIdleTimeout, cfg.BodyTimeout
	if idle <= 0 {
		idle = DefaultBodyIdleTimeout
	}
	if total <= 0 {
		total = DefaultBodyTimeout
	}
	s.handler = limitBodyTime(s.logRequests(s.recoverPanics(s.routes())), idle, total)
	return s, nil
}

// Handler returns the HTTP handler serving every route.
func (s *Server) Handler() http.Handler { return s.handler }

// routes builds the route table.
func (s *Server) routes() http.Handler {
	rt := &router{server: s, mux: http.NewServeMux(), routes: map[string]*route{}}

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
	notFound := func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"detail": msgNotFound})
	}
	rt.mux.HandleFunc("/api/", notFound)
	if s.web != nil {
		rt.mux.Handle("/", s.web)
	} else {
		rt.mux.HandleFunc("/", notFound)
	}

	rt.add(Route{Method: "GET", Path: "/api/0/", Auth: AuthOptional}, http.HandlerFunc(s.handleIndex))
	rt.add(Route{Method: "GET", Path: "/api/0/openapi.json/", Auth: AuthOptional}, http.HandlerFunc(s.handleOpenAPI))

	rt.personal("GET", "/api/0/api-tokens/", "", s.handleListTokens)
	rt.personal("POST", "/api/0/api-tokens/", "", s.handleCreateToken)
	rt.personal("DELETE", "/api/0/api-tokens/", "", s.handleDeleteTokens)
	rt.personal("DELETE", "/api/0/api-tokens/{token_id}/", "", s.handleDeleteToken)

	rt.token("GET", "/api/0/organizations/", "org:read", s.handleListOrganizations)
	rt.personal("POST", "/api/0/organizations/", "org:write", s.handleCreateOrganization)
	rt.token("GET", "/api/0/organizations/{org}/", "org:read", s.handleGetOrganization)
	rt.token("GET", "/api/0/organizations/{org}/teams/", "team:read", s.handleListTeams)
	rt.token("POST", "/api/0/organizations/{org}/teams/", "team:write", s.handleCreateTeam)
	rt.token("GET", "/api/0/organizations/{org}/projects/", "org:read", s.handleListProjects)
	const members = "/api/0/organizations/{org}/members/"
	rt.token("GET", members, "member:read", s.handleListMembers)
	rt.token("POST", members, "member:write", s.handleAddMember)
	rt.token("GET", members+"{member_id}/", "member:read", s.handleGetMember)
	rt.token("PUT", members+"{member_id}/", "member:write", s.handleUpdateMember)
	rt.token("DELETE", members+"{member_id}/", "member:admin", s.handleRemoveMember)

	rt.token("POST", "/api/0/teams/{org}/{team}/projects/", "project:write", s.handleCreateProject)
	rt.token("GET", "/api/0/projects/{org}/{project}/", "project:read", s.handleGetProject)
	rt.token("PUT", "/api/0/projects/{org}/{project}/", "project:write", s.handleUpdateProject)
	rt.token("DELETE", "/api/0/projects/{org}/{project}/", "project:admin", s.handleDeleteProject)
	rt.token("GET", "/api/0/projects/{org}/{project}/keys/", "project:read", s.handleListKeys)
	rt.token("POST", "/api/0/projects/{org}/{project}/keys/", "project:write", s.handleCreateKey)

	const hooks = "/api/0/projects/{org}/{project}/hooks/"
	rt.token("GET", hooks, "project:read", s.handleListHooks)
	rt.token("POST", hooks, "project:write", s.handleCreateHook)
	rt.token("GET", hooks+"{hook_id}/", "project:read", s.handleGetHook)
	rt.token("PUT", hooks+"{hook_id}/", "project:write", s.handleUpdateHook)
	rt.token("DELETE", hooks+"{hook_id}/", "project:write", s.handleDeleteHook)
	rt.token("GET", hooks+"{hook_id}/stats/", "project:read", s.handleHookStats)
	rt.token("POST", hooks+"{hook_id}/rotate-secret/", "project:write", s.handleRotateHookSecret)
	rt.token("POST", hooks+"{hook_id}/test/", "project:write", s.handleTestHook)

	const deliveries = hooks + "{hook_id}/deliveries/"
	rt.token("GET", deliveries, "project:read", s.handleListDeliveries)
	rt.token("POST", deliveries+"recover/", "project:write", s.handleRecoverDeliveries)
	rt.token("GET", deliveries+"{delivery_id}/", "project:read", s.handleGetDelivery)
	rt.token("POST", deliveries+"{delivery_id}/redeliver/", "project:write", s.handleRedeliver)

	const rules = "/api/0/projects/{org}/{project}/rules/"
	// Alert rules take Sentry's alert permissions: the project's or the
	// organization's scope, or alerts:read / alerts:write, which members
	// have.
	rt.token("GET", rules, "project:read|alerts:read", s.handleListRules)
	rt.token("POST", rules, "project:write|alerts:write", s.handleCreateRule)
	rt.token("GET", rules+"{rule_id}/", "project:read|alerts:read", s.handleGetRule)
	rt.token("PUT", rules+"{rule_id}/", "project:write|alerts:write", s.handleUpdateRule)
	rt.token("DELETE", rules+"{rule_id}/", "project:write|alerts:write", s.handleDeleteRule)

	const alertRules = "/api/0/organizations/{org}/alert-rules/"
	rt.token("GET", alertRules, "org:read|alerts:read", s.handleListMetricRules)
	rt.token("POST", alertRules, "org:write|alerts:write", s.handleCreateMetricRule)
	rt.token("GET", alertRules+"{alert_rule_id}/", "org:read|alerts:read", s.handleGetMetricRule)
	rt.token("PUT", alertRules+"{alert_rule_id}/", "org:write|alerts:write", s.handleUpdateMetricRule)
	rt.token("DELETE", alertRules+"{alert_rule_id}/", "org:write|alerts:write", s.handleDeleteMetricRule)
	rt.token("GET", alertRules+"{alert_rule_id}/incidents/", "org:read|alerts:read", s.handleListIncidents)

	const issues = "/api/0/organizations/{org}/issues/{issue_id}/"
	rt.token("GET", "/api/0/projects/{org}/{project}/issues/", "event:read", s.handleListIssues)
	rt.token("PUT", "/api/0/projects/{org}/{project}/issues/", "event:write", s.handleBulkUpdateIssues)
	rt.token("GET", "/api/0/projects/{org}/{project}/events/{event_id}/", "event:read", s.handleGetEvent)
	rt.token("GET", issues, "event:read", s.handleGetIssue)
	rt.token("PUT", issues, "event:write", s.handleUpdateIssue)
	rt.token("DELETE", issues, "event:admin", s.handleDeleteIssue)
	rt.token("GET", issues+"comments/", "event:read", s.handleListComments)
	rt.token("POST", issues+"comments/", "event:write", s.handleCreateComment)
	rt.token("PUT", issues+"comments/{comment_id}/", "event:write", s.handleUpdateComment)
	rt.token("DELETE", issues+"comments/{comment_id}/", "event:write", s.handleDeleteComment)

	const apps = "/api/0/sentry-apps/"
	rt.token("GET", apps, "", s.handleListApps)
	rt.token("POST", apps, "org:write", s.handleCreateApp)
	rt.token("GET", apps+"{slug}/", "org:read", s.handleGetApp)
	rt.token("PUT", apps+"{slug}/", "org:write", s.handleUpdateApp)
	rt.token("DELETE", apps+"{slug}/", "org:admin", s.handleDeleteApp)
	rt.token("POST", apps+"{slug}/rotate-secret/", "org:write", s.handleRotateAppSecret)
	rt.token("GET", apps+"{slug}/requests/", "org:read", s.handleAppRequests)
	rt.token("GET", apps+"{slug}/api-tokens/", "org:write", s.handleListAppTokens)
	rt.token("POST", apps+"{slug}/api-tokens/", "org:write", s.handleCreateAppToken)
	rt.token("DELETE", apps+"{slug}/api-tokens/{token_id}/", "org:write", s.handleDeleteAppToken)
	rt.token("GET", "/api/0/organizations/{org}/sentry-apps/", "org:read", s.handleListOrgApps)

	const installations = "/api/0/sentry-app-installations/{uuid}/"
	rt.token("GET", "/api/0/organizations/{org}/sentry-app-installations/", "org:read|org:integrations", s.handleListInstallations)
	rt.token("POST", "/api/0/organizations/{org}/sentry-app-installations/", "org:integrations|org:write", s.handleCreateInstallation)
	rt.token("GET", installations, "org:read|org:integrations", s.handleGetInstallation)
	rt.token("PUT", installations, "org:integrations|org:write", s.handleUpdateInstallation)
	rt.token("DELETE", installations, "org:integrations|org:write", s.handleDeleteInstallation)
	rt.add(Route{Method: "POST", Path: installations + "authorizations/", Auth: AuthClient}, http.HandlerFunc(s.handleAuthorization))

	s.table = rt.table
	return rt.mux
}

// How the callers of a route authenticate.
const (
	// AuthToken routes need a bearer token (401 without a valid one).
	AuthToken = "token"
	// AuthOptional routes answer without a token too (GET /api/0/); an
	// invalid one is still 401.
	AuthOptional = "optional"
	// AuthClient routes authenticate by a Sentry App's client id and
	// secret in the body, not by a token.
	AuthClient = "client"
)

// Route describes one /api/0/ route.
type Route struct {
	// Method is the HTTP method; Path the pattern, ending with a slash,
	// with its path values in braces ("/api/0/projects/{org}/{project}/").
	Method, Path string
	// Scope is the token scope the route needs: "" for any token, "a|b"
	// when either will do.
	Scope string
	// Auth is AuthToken, AuthOptional or AuthClient.
	Auth string
	// PersonalOnly routes refuse a Sentry App's token (403): only people
	// manage personal tokens and organizations.
	PersonalOnly bool
}

// Routes returns every /api/0/ route the server answers, in the order they
// were registered.
func (s *Server) Routes() []Route { return slices.Clone(s.table) }

// router registers each API path once, with and without its trailing
// slash, and dispatches on the method itself so that a known path with an
// unknown method gets Sentry's JSON 405.
type router struct {
	server *Server
	mux    *http.ServeMux
	routes map[string]*route
	table  []Route
}

// token serves method on path to callers with a bearer token, h checking
// scope once it has loaded what the route names.
func (rt *router) token(method, path, scope string, h authedFunc) {
	rt.add(Route{Method: method, Path: path, Scope: scope, Auth: AuthToken}, rt.server.authed(scope, h))
}

// personal is token for routes that refuse a Sentry App's token.
func (rt *router) personal(method, path, scope string, h authedFunc) {
	rt.add(Route{Method: method, Path: path, Scope: scope, Auth: AuthToken, PersonalOnly: true}, rt.server.authed(scope, personal(h)))
}

// add serves the route with h and records it in the route table.
func (rt *router) add(r Route, h http.Handler) {
	rt.table = append(rt.table, r)
	rt.handle(r.Method, r.Path, h)
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

// handleReady answers GET /readyz: 200 when Ready passes, else 503. It
// takes no token, so the answer names nothing about why: the reason is
// logged (once per outage when it is the database).
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		if !s.unavailable(err) {
			s.logger.LogAttrs(r.Context(), slog.LevelWarn, "not ready", slog.Any("err", err))
		}
		w.Header().Set("Retry-After", retryAfterUnavailable)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
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
// volume, are logged at debug level unless they fail on the server. A 503
// is not an error of the request: what made the server unavailable is
// logged where it is found.
//
// Each request gets an id (see RequestIDHeader), answered in
// X-Request-Id and put in its context, so that every line logged about it
// with that context, this one included, carries request_id (LogHandler).
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.clock.Now()
		id := requestID(r)
		w.Header().Set(RequestIDHeader, id)
		r = r.WithContext(WithRequestID(r.Context(), id))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		level := slog.LevelInfo
		if sw.status >= 500 && sw.status != http.StatusServiceUnavailable {
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
