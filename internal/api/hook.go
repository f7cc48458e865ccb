package api

import (
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/herald-dev/herald"
)

// Bounds of Service Hook requests.
const (
	maxHookURLLength = 2048
	maxHookEvents    = 100
	// maxStatsBuckets bounds the buckets one stats request may ask for.
	maxStatsBuckets = 2000
)

// hookJSON is Sentry's service hook serializer. Secret is shown only by the
// calls that set it: creation and Herald's rotate-secret.
type hookJSON struct {
	ID             string   `json:"id"`
	DateCreated    string   `json:"dateCreated"`
	URL            string   `json:"url"`
	Events         []string `json:"events"`
	Secret         string   `json:"secret,omitempty"`
	Status         string   `json:"status"`
	DisabledReason *string  `json:"disabledReason,omitempty"`
}

// newHookJSON serializes h, with its secret only when withSecret is set.
func newHookJSON(h *herald.Hook, withSecret bool) *hookJSON {
	out := &hookJSON{
		ID:          h.ID,
		DateCreated: herald.FormatTime(h.DateCreated),
		URL:         h.URL,
		Events:      sortStrings(slices.Clone(nonNil(h.Events))),
		Status:      h.Status,
	}
	if withSecret {
		out.Secret = h.Secret
	}
	if h.Status == herald.HookDisabled {
		reason := h.DisabledReason
		out.DisabledReason = &reason
	}
	return out
}

// hookInput is the body of hook creation and update. Status and IsActive
// are read only by updates (IsActive is Sentry's name, Status Herald's).
type hookInput struct {
	URL      *string   `json:"url"`
	Events   *[]string `json:"events"`
	Status   *string   `json:"status"`
	IsActive *bool     `json:"isActive"`
}

// validate checks the fields present in the input (all of url and events
// when create is set) and returns the update they make.
func (in *hookInput) validate(create bool) (herald.HookUpdate, error) {
	var upd herald.HookUpdate
	fe := fieldErrors{}
	if in.URL == nil {
		if create {
			fe.add("url", msgRequired)
		}
	} else if msg := hookURLProblem(*in.URL); msg != "" {
		fe.add("url", msg)
	} else {
		upd.URL = in.URL
	}
	if in.Events == nil {
		if create {
			fe.add("events", msgRequired)
		}
	} else if events, msg := cleanHookEvents(*in.Events); msg != "" {
		fe.add("events", msg)
	} else {
		upd.Events = &events
	}
	if !create {
		switch {
		case in.Status != nil && *in.Status != herald.HookActive && *in.Status != herald.HookDisabled:
			fe.add("status", strconv.Quote(*in.Status)+" is not a valid choice.")
		case in.Status != nil:
			upd.Status = in.Status
		case in.IsActive != nil:
			status := herald.HookDisabled
			if *in.IsActive {
				status = herald.HookActive
			}
			upd.Status = &status
		}
	}
	return upd, fe.err()
}

// Messages for hook URLs that parse but are refused. They are Herald's own:
// Sentry's serializer has no such rules.
//
// A host name outside ASCII is refused rather than converted with IDNA: its
// xn-- form is the name that is resolved and sent, so what the hook shows is
// what is dialed, with no look-alike characters, and validation needs no
// IDNA tables.
const (
	msgURLUserinfo    = "URL must not contain a username or password."
	msgURLUnicodeHost = "Enter the host name in ASCII: an internationalized domain name in its xn-- (punycode) form."
)

// hookURLProblem returns what is wrong with a hook URL, or "": it must be an
// absolute http or https URL of at most 2048 characters, without userinfo
// (a fragment is allowed: it is never sent), whose port, if written, is 1 to 65535 and whose host is an
// IPv4 address, a bracketed IPv6 address without zone, or an ASCII DNS name
// (see dnsNameValid). The Guard still checks the addresses dialed.
func hookURLProblem(raw string) string {
	if raw == "" {
		return msgBlank
	}
	if len(raw) > maxHookURLLength {
		return "Ensure this field has no more than 2048 characters."
	}
	if strings.ContainsFunc(raw, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
		return msgInvalidURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Opaque != "" {
		return msgInvalidURL
	}
	// Userinfo would be sent to the receiver (as Basic credentials) and
	// shown and logged with the URL.
	if u.User != nil {
		return msgURLUserinfo
	}
	// url.Parse leaves only digits in the port, possibly none ("http://a:/").
	if strings.HasSuffix(u.Host, ":") {
		return msgInvalidURL
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > math.MaxUint16 {
			return msgInvalidURL
		}
	}
	host := u.Hostname()
	if strings.HasPrefix(u.Host, "[") {
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return msgInvalidURL
		}
		return ""
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is4() {
		return ""
	}
	unicodeHost := false
	for _, r := range host {
		switch {
		case r < utf8.RuneSelf:
		case r == utf8.RuneError, !unicode.In(r, unicode.Letter, unicode.Mark, unicode.Digit):
			// Spaces, controls, format characters (U+200B, U+FEFF,
			// U+202E...), punctuation and symbols are in no host name.
			return msgInvalidURL
		default:
			unicodeHost = true
		}
	}
	if unicodeHost {
		return msgURLUnicodeHost
	}
	if !dnsNameValid(host) {
		return msgInvalidURL
	}
	return ""
}

// dnsNameValid reports whether name is an ASCII DNS host name: labels of
// letters, digits and hyphens, 1 to 63 bytes, neither starting nor ending
// with a hyphen, 253 bytes in all, optionally ending in a dot. The last label
// must not be a number (decimal, or hexadecimal with 0x), since browsers and
// inet_aton-style resolvers read such a name as an IPv4 address in short or
// octal form ("0x7f.1", "010.0.0.1", "2130706433").
func dnsNameValid(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := range len(l) {
			switch c := l[i]; {
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-':
			default:
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	if hex, ok := strings.CutPrefix(strings.ToLower(last), "0x"); ok {
		return strings.Trim(hex, "0123456789abcdef") != ""
	}
	return strings.Trim(last, "0123456789") != ""
}

// cleanHookEvents validates a hook's event list and returns it sorted and
// without duplicates, or a message naming the first bad event.
func cleanHookEvents(events []string) ([]string, string) {
	if len(events) == 0 {
		return nil, msgEmptyList
	}
	if len(events) > maxHookEvents {
		return nil, "Ensure this field has no more than 100 elements."
	}
	out := []string{}
	for _, e := range events {
		if !slices.Contains(herald.HookEvents, e) {
			return nil, "Invalid event name: " + e
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return sortStrings(out), ""
}

// handleListHooks answers GET /api/0/projects/{org}/{project}/hooks/,
// paginated, without the secrets.
func (s *Server) handleListHooks(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, err := s.hookProject(r, a)
	if err != nil {
		return err
	}
	page, err := pageFromRequest(r)
	if err != nil {
		return err
	}
	hooks, next, err := s.store.FindHooks(r.Context(), p.ID, page)
	if err != nil {
		return err
	}
	out := make([]*hookJSON, 0, len(hooks))
	for _, h := range hooks {
		out = append(out, newHookJSON(h, false))
	}
	s.setLinkHeader(w, r, next)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleCreateHook answers POST /api/0/projects/{org}/{project}/hooks/
// {"url", "events"} with 201 and the hook, including its secret, which no
// other call shows again.
func (s *Server) handleCreateHook(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, err := s.hookProject(r, a)
	if err != nil {
		return err
	}
	var in hookInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	upd, err := in.validate(true)
	if err != nil {
		return err
	}
	h := &herald.Hook{ProjectID: p.ID, URL: *upd.URL, Events: *upd.Events}
	if err := s.store.CreateHook(r.Context(), h); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newHookJSON(h, true))
	return nil
}

// handleGetHook answers GET /api/0/projects/{org}/{project}/hooks/{hook_id}/.
func (s *Server) handleGetHook(w http.ResponseWriter, r *http.Request, a *auth) error {
	_, h, err := s.hook(r, a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newHookJSON(h, false))
	return nil
}

// handleUpdateHook answers PUT /api/0/projects/{org}/{project}/hooks/{hook_id}/.
// It may change url, events and status; "active" re-enables a disabled hook
// (Sentry's isActive: true does the same).
func (s *Server) handleUpdateHook(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, h, err := s.hook(r, a)
	if err != nil {
		return err
	}
	var in hookInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	upd, err := in.validate(false)
	if err != nil {
		return err
	}
	h, err = s.store.UpdateHook(r.Context(), p.ID, h.ID, upd)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newHookJSON(h, false))
	return nil
}

// handleDeleteHook answers DELETE /api/0/projects/{org}/{project}/hooks/{hook_id}/
// with 204.
func (s *Server) handleDeleteHook(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, h, err := s.hook(r, a)
	if err != nil {
		return err
	}
	if err := s.store.DeleteHook(r.Context(), p.ID, h.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleRotateHookSecret answers Herald's
// POST /api/0/projects/{org}/{project}/hooks/{hook_id}/rotate-secret/ with
// the hook and its new secret, shown this once.
func (s *Server) handleRotateHookSecret(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, h, err := s.hook(r, a)
	if err != nil {
		return err
	}
	h, err = s.store.RotateHookSecret(r.Context(), p.ID, h.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newHookJSON(h, true))
	return nil
}

// hookStatJSON is one bucket of Sentry's service hook stats.
type hookStatJSON struct {
	TS    int64 `json:"ts"`
	Total int64 `json:"total"`
}

// statsResolutions are the bucket sizes ?resolution= may name.
var statsResolutions = map[string]time.Duration{
	"10s": 10 * time.Second,
	"1m":  time.Minute,
	"1h":  time.Hour,
	"1d":  24 * time.Hour,
}

// handleHookStats answers GET /api/0/projects/{org}/{project}/hooks/{hook_id}/stats/
// with the number of deliveries per bucket, [{"ts": unix, "total": n}], over
// ?since= and ?until= (unix seconds; default the last 24 hours) in buckets of
// ?resolution= (10s, 1m, 1h or 1d; default 1h). Every bucket is listed,
// empty ones with 0.
func (s *Server) handleHookStats(w http.ResponseWriter, r *http.Request, a *auth) error {
	_, h, err := s.hook(r, a)
	if err != nil {
		return err
	}
	since, until, res, err := s.statsRange(r)
	if err != nil {
		return err
	}
	stats, err := s.store.HookStats(r.Context(), h.ID, since, until, res)
	if err != nil {
		return err
	}
	step := int64(res / time.Second)
	counts := map[int64]int64{}
	for _, st := range stats {
		counts[floorTo(st.TS, step)] += st.Total
	}
	out := []hookStatJSON{}
	for ts := floorTo(since.Unix(), step); ts < until.Unix(); ts += step {
		out = append(out, hookStatJSON{TS: ts, Total: counts[ts]})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// statsRange reads a stats request's time range and resolution.
func (s *Server) statsRange(r *http.Request) (since, until time.Time, res time.Duration, err error) {
	q := r.URL.Query()
	res = time.Hour
	if v := q.Get("resolution"); v != "" {
		var ok bool
		if res, ok = statsResolutions[v]; !ok {
			return since, until, res, herald.Errorf(herald.EINVALID, "Invalid resolution: %s", v)
		}
	}
	until = s.clock.Now()
	if v := q.Get("until"); v != "" {
		if until, err = parseUnix(v); err != nil {
			return since, until, res, herald.Errorf(herald.EINVALID, "Invalid until parameter: %s", v)
		}
	}
	since = until.Add(-24 * time.Hour)
	if v := q.Get("since"); v != "" {
		if since, err = parseUnix(v); err != nil {
			return since, until, res, herald.Errorf(herald.EINVALID, "Invalid since parameter: %s", v)
		}
	}
	switch {
	case !since.Before(until):
		return since, until, res, herald.Errorf(herald.EINVALID, "since must be before until")
	case until.Sub(since)/res > maxStatsBuckets:
		return since, until, res, herald.Errorf(herald.EINVALID, "Too many buckets: ask for a shorter range or a coarser resolution")
	}
	return since, until, res, nil
}

// parseUnix parses unix seconds, possibly fractional.
func parseUnix(v string) (time.Time, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1<<40 {
		return time.Time{}, herald.Errorf(herald.EINVALID, "invalid unix time")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

// floorTo rounds ts down to a multiple of step.
func floorTo(ts, step int64) int64 {
	if r := ts % step; r != 0 {
		if ts < 0 {
			return ts - r - step
		}
		return ts - r
	}
	return ts
}

// sortStrings sorts l in place and returns it.
func sortStrings(l []string) []string {
	slices.Sort(l)
	return l
}
