package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/password"
)

// Cookies of the dashboard.
const (
	// sessionCookie carries the session's value.
	sessionCookie = "herald_session"
	// loginCookie carries the CSRF token of the sign-in form, which no
	// session has yet (a double-submit token).
	loginCookie = "herald_login"
)

// csrfField is the form field every POST carries.
const csrfField = "csrf_token"

// signedIn loads the request's session, or EUNAUTHORIZED.
func (s *Server) signedIn(r *http.Request) (*visit, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return nil, herald.Errorf(herald.EUNAUTHORIZED, "not signed in")
	}
	sess, err := s.store.FindSession(r.Context(), c.Value)
	if err != nil {
		return nil, err
	}
	orgs, err := s.userOrgs(r.Context(), sess.User)
	if err != nil {
		return nil, err
	}
	return &visit{session: sess, user: sess.User, orgs: orgs}, nil
}

// checkCSRF refuses a POST whose form does not carry the session's token.
func (s *Server) checkCSRF(r *http.Request, sess *herald.Session) error {
	if !sameToken(r.PostFormValue(csrfField), sess.CSRF) {
		return errCSRF
	}
	return nil
}

// errCSRF answers a form without its token: a stale page, or a forgery.
var errCSRF = herald.Errorf(herald.EFORBIDDEN, "This form has expired or did not come from Herald: go back, reload the page and try again.")

// sameToken compares two tokens in constant time; empty ones never match.
func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// cookie returns a cookie of the dashboard that lasts maxAge (0 deletes
// it): HttpOnly, SameSite=Lax, Secure when Herald's public URL is https.
// Its lifetime is relative, so that the browser's clock does not matter;
// the server checks a session's expiry itself.
func (s *Server) cookie(name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure, MaxAge: -1}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	}
	return c
}

// nextPath returns the page to go to after signing in: next when it is a
// path of this site, "/" otherwise (no open redirect).
func nextPath(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}

// loginForm is what the sign-in page shows.
type loginForm struct {
	Next     string
	Username string
	Error    string
	CSRF     string
}

// handleLogin serves /auth/login/: the form (GET) and signing in (POST).
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "same-origin")
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	next := nextPath(r.FormValue("next"))
	if _, err := s.signedIn(r); err == nil && r.Method == http.MethodGet {
		http.Redirect(w, r, next, http.StatusFound)
		return
	}
	form := &loginForm{Next: next}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		status, msg := s.login(w, r, form)
		if msg == "" {
			http.Redirect(w, r, next, http.StatusFound)
			return
		}
		form.Error = msg
		s.loginPage(w, r, status, form)
		return
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s.loginPage(w, r, http.StatusOK, form)
}

// loginPage renders the sign-in form with a fresh double-submit token.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, status int, form *loginForm) {
	// A sign-in form already open (another tab, or a request the browser
	// made on its own such as /favicon.ico) keeps its token.
	if c, err := r.Cookie(loginCookie); err == nil && len(c.Value) == len(herald.NewSecret()) {
		form.CSRF = c.Value
	} else {
		form.CSRF = herald.NewSecret()
	}
	http.SetCookie(w, s.cookie(loginCookie, form.CSRF, time.Hour))
	s.render(w, r, nil, status, "login", form)
}

// loginWait is how long a sign-in waits for its turn to check a password
// (a few run at once, bcrypt being slow on purpose) before it gets 429.
const loginWait = 3 * time.Second

// Sign-in failures, as shown: the same message whether the email or the
// password was wrong.
const (
	msgBadLogin = "The email or the password is not right."
	msgLocked   = "Too many failed attempts: this account is locked for a while. Try again later."
	msgBusy     = "Too many people are signing in right now: try again in a moment."
)

// login checks the form's credentials and starts a session; on failure it
// returns the status and the message to answer with.
func (s *Server) login(w http.ResponseWriter, r *http.Request, form *loginForm) (int, string) {
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameToken(r.PostFormValue(csrfField), c.Value) {
		return http.StatusForbidden, herald.ErrorMessage(errCSRF)
	}
	form.Username = strings.TrimSpace(r.PostFormValue("username"))
	pw := r.PostFormValue("password")
	if form.Username == "" || pw == "" || len(form.Username) > 254 || len(pw) > 1024 {
		return http.StatusBadRequest, msgBadLogin
	}
	ctx := r.Context()
	now := s.clock.Now()
	u, err := s.store.FindLogin(ctx, form.Username)
	if err != nil && herald.ErrorCode(err) != herald.ENOTFOUND {
		return http.StatusServiceUnavailable, msgBusy
	}
	hash := ""
	if u != nil {
		hash = u.PasswordHash
	}
	// The check runs whether the user exists or not, so that the time
	// taken does not tell.
	checkCtx, cancel := context.WithTimeout(ctx, loginWait)
	ok, err := s.checker.Check(checkCtx, hash, pw)
	cancel()
	if errors.Is(err, password.ErrBusy) {
		return http.StatusTooManyRequests, msgBusy
	}
	if u == nil {
		return http.StatusUnauthorized, msgBadLogin
	}
	if now.Before(u.LockedUntil) {
		return http.StatusTooManyRequests, msgLocked
	}
	if err := s.store.RecordLogin(ctx, u.ID, ok, now); err != nil {
		return http.StatusServiceUnavailable, msgBusy
	}
	if !ok {
		return http.StatusUnauthorized, msgBadLogin
	}
	sess := &herald.Session{UserID: u.ID, ExpiresAt: now.Add(s.lifetime)}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return http.StatusServiceUnavailable, msgBusy
	}
	http.SetCookie(w, s.cookie(sessionCookie, sess.Value, s.lifetime))
	http.SetCookie(w, s.cookie(loginCookie, "", 0))
	return 0, ""
}

// handleLogout serves POST /auth/logout/: the session ends.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request, v *visit) error {
	if r.Method != http.MethodPost {
		return herald.Errorf(herald.ENOTFOUND, "not found")
	}
	if err := s.store.DeleteSession(r.Context(), v.session.Value); err != nil {
		return err
	}
	http.SetCookie(w, s.cookie(sessionCookie, "", 0))
	http.Redirect(w, r, "/auth/login/", http.StatusSeeOther)
	return nil
}
