package api

import (
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/herald-dev/herald"
)

// Bounds of Service Hook stats requests.
const (
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

// hookInput is the body of hook creation and update. Events may be left
// out or empty, as Sentry's ServiceHookValidator allows: a hook subscribed
// to no event is sent nothing. Status and IsActive are read only by updates
// (IsActive is Sentry's name, Status Herald's).
type hookInput struct {
	URL      *string   `json:"url"`
	Events   *[]string `json:"events"`
	Status   *string   `json:"status"`
	IsActive *bool     `json:"isActive"`
}

// validate checks the fields present in the input (url at least when
// create is set, events then defaulting to none) and returns the update
// they make.
func (in *hookInput) validate(create bool) (herald.HookUpdate, error) {
	var upd herald.HookUpdate
	fe := herald.FieldErrors{}
	if in.URL == nil {
		if create {
			fe.Add("url", herald.MsgRequired)
		}
	} else if msg := herald.URLProblem(*in.URL); msg != "" {
		fe.Add("url", msg)
	} else {
		upd.URL = in.URL
	}
	if in.Events == nil {
		if create {
			upd.Events = &[]string{}
		}
	} else if events, msg := herald.CleanHookEvents(*in.Events); msg != "" {
		fe.Add("events", msg)
	} else {
		upd.Events = &events
	}
	if !create {
		switch {
		case in.Status != nil && *in.Status != herald.HookActive && *in.Status != herald.HookDisabled:
			fe.Add("status", strconv.Quote(*in.Status)+" is not a valid choice.")
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
	return upd, fe.Err()
}

// handleListHooks answers GET /api/0/projects/{org}/{project}/hooks/,
// paginated, without the secrets; ?status=active|disabled selects the
// hooks of one status, as in Sentry (another value is refused with 400,
// where Sentry answers an empty list).
func (s *Server) handleListHooks(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, err := s.hookProject(r, a)
	if err != nil {
		return err
	}
	f := herald.HookFilter{ProjectID: p.ID, Status: r.URL.Query().Get("status")}
	if f.Status != "" && f.Status != herald.HookActive && f.Status != herald.HookDisabled {
		return herald.InvalidField("status", strconv.Quote(f.Status)+" is not a valid choice.")
	}
	if f.Page, err = pageFromRequest(r); err != nil {
		return err
	}
	hooks, next, err := s.store.FindHooks(r.Context(), f)
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
// other call shows again. events is optional. As in Sentry, listing and
// creating hooks need the project's servicehooks feature.
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

// handleGetHook answers GET /api/0/projects/{org}/{project}/hooks/{hook_id}/,
// with or without the servicehooks feature, as in Sentry.
func (s *Server) handleGetHook(w http.ResponseWriter, r *http.Request, a *auth) error {
	_, h, err := s.ungatedHook(r, a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newHookJSON(h, false))
	return nil
}

// handleUpdateHook answers PUT /api/0/projects/{org}/{project}/hooks/{hook_id}/.
// It may change url, events and status; "active" re-enables a disabled hook
// (Sentry's isActive: true does the same). Like Sentry's, it answers with or
// without the servicehooks feature.
func (s *Server) handleUpdateHook(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, h, err := s.ungatedHook(r, a)
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
// with 204, with or without the servicehooks feature, as in Sentry.
func (s *Server) handleDeleteHook(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, h, err := s.ungatedHook(r, a)
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
// empty ones with 0. Like Sentry's, it answers with or without the
// servicehooks feature.
func (s *Server) handleHookStats(w http.ResponseWriter, r *http.Request, a *auth) error {
	_, h, err := s.ungatedHook(r, a)
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

// handleTestHook answers Herald's
// POST /api/0/projects/{org}/{project}/hooks/{hook_id}/test/: a sample
// event is sent to the hook as a real one is (event.created, or event.alert
// for a hook subscribed to alerts only), signed with its secret and
// recorded in its delivery log; the answer is 202 with the delivery. A
// disabled hook gets 400.
func (s *Server) handleTestHook(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, h, err := s.hook(r, a)
	if err != nil {
		return err
	}
	d, err := s.changes.SendTestEvent(r.Context(), p.ID, h.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, newDeliveryJSON(d))
	return nil
}
