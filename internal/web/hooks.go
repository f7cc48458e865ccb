package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/delivery"
)

// Bounds of a hook's page.
const (
	// hookLogSize is how many deliveries a page of the delivery log shows.
	hookLogSize = 50
	// hookChartScan bounds the deliveries read to split the chart's
	// counts by outcome; past it, the rest of each hour is "not broken
	// down".
	hookChartScan = 5000
	// hookBodyExcerpt bounds the request body shown per delivery.
	hookBodyExcerpt = 2000
	// hookResponseExcerpt bounds the response body shown per attempt.
	hookResponseExcerpt = 1024
)

// hookRoutes registers the Service Hooks pages: the list, the form of a
// new hook, and a hook's page with its actions and delivery log. Viewing
// takes project:read and changing project:write, the scopes of the API's
// hook routes; each action takes the path of the API route it mirrors.
func (s *Server) hookRoutes() {
	const hooks = "/settings/{org}/projects/{project}/hooks/"
	const hook = hooks + "{hook_id}/"
	s.page("GET "+hooks+"{$}", s.handleHooks)
	s.page("GET "+hooks+"new/{$}", s.handleNewHook)
	s.page("POST "+hooks+"new/{$}", s.handleNewHook)
	s.page("GET "+hook+"{$}", s.handleHook)
	s.page("POST "+hook+"{$}", s.handleEditHook)
	s.page("POST "+hook+"status/{$}", s.handleHookStatus)
	s.page("POST "+hook+"rotate-secret/{$}", s.handleRotateHookSecret)
	s.page("POST "+hook+"delete/{$}", s.handleDeleteHook)
	s.page("POST "+hook+"test/{$}", s.handleTestHook)
	s.page("POST "+hook+"deliveries/recover/{$}", s.handleRecoverDeliveries)
	s.page("POST "+hook+"deliveries/{delivery_id}/redeliver/{$}", s.handleRedeliver)
}

// hooksPath is the path of a project's Service Hooks.
func hooksPath(p *herald.Project) string {
	return "/settings/" + url.PathEscape(p.Organization.Slug) + "/projects/" + url.PathEscape(p.Slug) + "/hooks/"
}

// hookPath is the path of a hook's page.
func hookPath(p *herald.Project, h *herald.Hook) string {
	return hooksPath(p) + url.PathEscape(h.ID) + "/"
}

// hookProject loads the project of a Service Hooks page: 404 for one the
// person may not open, 403 when the project does not have the
// servicehooks feature (the API's unavailable_feature).
func (s *Server) hookProject(r *http.Request, v *visit) (*herald.Project, error) {
	p, err := s.project(r, v)
	if err != nil {
		return nil, err
	}
	if err := v.require("project:read"); err != nil {
		return nil, err
	}
	if !p.HasFeature(herald.FeatureServiceHooks) {
		return nil, herald.Errorf(herald.EFORBIDDEN, "Service Hooks are not enabled for this project.")
	}
	return p, nil
}

// hook loads the hook named by the path with its project.
func (s *Server) hook(r *http.Request, v *visit) (*herald.Project, *herald.Hook, error) {
	p, err := s.hookProject(r, v)
	if err != nil {
		return nil, nil, err
	}
	id := r.PathValue("hook_id")
	if !herald.ValidID(id) {
		return nil, nil, herald.Errorf(herald.ENOTFOUND, "not found")
	}
	h, err := s.store.FindHookByID(r.Context(), p.ID, id)
	if err != nil {
		return nil, nil, err
	}
	return p, h, nil
}

// changeHook loads the hook of a POST and checks that the person may
// change it (project:write).
func (s *Server) changeHook(r *http.Request, v *visit) (*herald.Project, *herald.Hook, error) {
	p, h, err := s.hook(r, v)
	if err != nil {
		return nil, nil, err
	}
	if err := v.require("project:write"); err != nil {
		return nil, nil, err
	}
	return p, h, nil
}

// hookRow is a hook in the list, with the path of its page.
type hookRow struct {
	*herald.Hook
	Path string
}

// hooksPage is the data of a project's Service Hooks.
type hooksPage struct {
	Project *herald.Project
	Hooks   []hookRow
	// New is the path of the form of a new hook.
	New string
}

// handleHooks lists a project's Service Hooks: each a link to its page
// with its URL, events and status.
func (s *Server) handleHooks(w http.ResponseWriter, r *http.Request, v *visit) error {
	p, err := s.hookProject(r, v)
	if err != nil {
		return err
	}
	data := &hooksPage{Project: p, New: hooksPath(p) + "new/"}
	f := herald.HookFilter{ProjectID: p.ID, Page: herald.Page{Limit: 100}}
	for len(data.Hooks) < 1000 {
		hooks, next, err := s.store.FindHooks(r.Context(), f)
		if err != nil {
			return err
		}
		for _, h := range hooks {
			data.Hooks = append(data.Hooks, hookRow{Hook: h, Path: hookPath(p, h)})
		}
		if next == "" {
			break
		}
		f.Page.Cursor = next
	}
	s.render(w, r, v, http.StatusOK, "hooks", data)
	return nil
}

// hookForm is what the form of a hook holds, shown again with its errors.
type hookForm struct {
	URL    string
	Events []string
	Errors herald.FieldErrors
}

// Choices lists the events a hook may subscribe to.
func (f *hookForm) Choices() []string { return herald.HookEvents }

// Has reports whether the form has event ticked.
func (f *hookForm) Has(event string) bool { return slices.Contains(f.Events, event) }

// readHookForm reads the url and events of a hook's form. The URL is
// trimmed of the spaces a paste brings; both are then checked as the API
// checks them, by the store.
func readHookForm(r *http.Request) *hookForm {
	return &hookForm{URL: strings.TrimSpace(r.PostFormValue("url")), Events: r.PostForm["events"]}
}

// newHookPage is the data of the form of a new hook.
type newHookPage struct {
	Project *herald.Project
	Back    string
	Form    *hookForm
}

// handleNewHook shows the form of a new hook (Add a new hook) and, on
// Save, creates it as POST /api/0/projects/{org}/{project}/hooks/ does:
// the answer is the hook's page with its secret, shown this once.
func (s *Server) handleNewHook(w http.ResponseWriter, r *http.Request, v *visit) error {
	p, err := s.hookProject(r, v)
	if err != nil {
		return err
	}
	if err := v.require("project:write"); err != nil {
		return err
	}
	data := &newHookPage{Project: p, Back: hooksPath(p), Form: &hookForm{Events: []string{herald.HookEventCreated}}}
	if r.Method != http.MethodPost {
		s.render(w, r, v, http.StatusOK, "hook-new", data)
		return nil
	}
	data.Form = readHookForm(r)
	h := &herald.Hook{ProjectID: p.ID, URL: data.Form.URL, Events: data.Form.Events}
	err = s.store.CreateHook(r.Context(), h)
	if err != nil {
		if data.Form.Errors, err = formErrors(err); err != nil {
			return err
		}
		s.render(w, r, v, http.StatusBadRequest, "hook-new", data)
		return nil
	}
	return s.showHook(w, r, v, p, h, http.StatusCreated, &hookPage{Secret: h.Secret, Created: true})
}

// hookPage is the data of a hook's page.
type hookPage struct {
	Project *herald.Project
	Hook    *herald.Hook
	// Path is the hook page's path, the base of its forms' actions;
	// Back the list's.
	Path string
	Back string
	// Secret is the secret just set (on creation or rotation), shown this
	// once; Created is set on creation.
	Secret  string
	Created bool
	// Form is the edit form; Since the value of the recover form, with
	// SinceErrors.
	Form        *hookForm
	Since       string
	SinceErrors herald.FieldErrors
	// Chart is the deliveries per hour of the last 24 hours by outcome
	// (nil on the live log's refreshes, which do not show it).
	Chart *barChart
	// Log is a page of the delivery log, newest first; Older and Newer
	// lead to the next and first pages ("" when there is none).
	Log   []*deliveryRow
	Older string
	Newer string
}

// deliveryRow is a delivery in the log, with its attempts and the headers
// it is sent with.
type deliveryRow struct {
	*herald.Delivery
	Headers []headerRow
	// Tries are the delivery's attempts, oldest first.
	Tries []*herald.Attempt
	Body  string
	// Redeliver is the path of its Redeliver form.
	Redeliver string
}

// headerRow is a request header; Hidden marks a signature, whose value is
// not shown (as the API's request logs leave it out).
type headerRow struct {
	Name, Value string
	Hidden      bool
}

// StatusClass is the badge class of the delivery's status.
func (d *deliveryRow) StatusClass() string {
	switch d.Status {
	case herald.DeliveryDelivered:
		return "ok"
	case herald.DeliveryFailed:
		return "bad"
	}
	return "warn"
}

// handleHook shows a hook's page: its settings and actions, a banner when
// it is disabled, the chart of its deliveries and its delivery log. The
// log's region is refreshed every 3 s while the page is open; those
// refreshes (X-Herald-Live) skip the chart.
func (s *Server) handleHook(w http.ResponseWriter, r *http.Request, v *visit) error {
	p, h, err := s.hook(r, v)
	if err != nil {
		return err
	}
	return s.showHook(w, r, v, p, h, http.StatusOK, &hookPage{})
}

// showHook renders a hook's page with data, filling what it lacks.
func (s *Server) showHook(w http.ResponseWriter, r *http.Request, v *visit, p *herald.Project, h *herald.Hook, status int, data *hookPage) error {
	ctx := r.Context()
	data.Project, data.Hook, data.Path, data.Back = p, h, hookPath(p, h), hooksPath(p)
	if data.Form == nil {
		data.Form = &hookForm{URL: h.URL, Events: h.Events}
	}
	now := s.clock.Now().UTC()
	if data.Since == "" {
		data.Since = now.Add(-24 * time.Hour).Format(sinceLayout)
	}
	cursor := ""
	if r.Method == http.MethodGet {
		cursor = r.URL.Query().Get("cursor")
	}
	if err := s.deliveryLog(ctx, p, h, cursor, data); err != nil {
		return err
	}
	if r.Header.Get("X-Herald-Live") == "" {
		chart, err := s.deliveryChart(ctx, h.ID, now)
		if err != nil {
			return err
		}
		data.Chart = chart
	}
	s.render(w, r, v, status, "hook", data)
	return nil
}

// deliveryLog loads a page of the hook's deliveries, newest first, with
// the attempts of those that had any.
func (s *Server) deliveryLog(ctx context.Context, p *herald.Project, h *herald.Hook, cursor string, data *hookPage) error {
	ds, next, err := s.store.FindDeliveries(ctx, herald.DeliveryFilter{
		DestinationKind: herald.DestinationHook,
		DestinationID:   h.ID,
		Page:            herald.Page{Cursor: cursor, Limit: hookLogSize},
	})
	if err != nil {
		return err
	}
	for _, d := range ds {
		row := &deliveryRow{Delivery: d, Headers: deliveryHeaders(d), Body: truncate(string(d.Body), hookBodyExcerpt),
			Redeliver: hookPath(p, h) + "deliveries/" + url.PathEscape(d.ID) + "/redeliver/"}
		if d.Attempts > 0 {
			if row.Tries, err = s.store.FindAttempts(ctx, d.ID); err != nil {
				return err
			}
			for _, a := range row.Tries {
				a.ResponseBody = truncate(a.ResponseBody, hookResponseExcerpt)
			}
		}
		data.Log = append(data.Log, row)
	}
	if next != "" {
		data.Older = hookPath(p, h) + "?cursor=" + url.QueryEscape(next) + "#deliveries"
	}
	if cursor != "" {
		data.Newer = hookPath(p, h) + "#deliveries"
	}
	return nil
}

// signatureHeaders are the headers whose value is a signature: shown by
// name only.
var signatureHeaders = []string{"X-Sentry-Hook-Signature", "X-ServiceHook-Signature", "Sentry-Hook-Signature"}

// headerNames spell headers as Herald's documentation does, where
// http.Header's canonical form differs.
var headerNames = map[string]string{
	"Request-Id":              "Request-ID",
	"X-Servicehook-Guid":      "X-ServiceHook-GUID",
	"X-Servicehook-Signature": "X-ServiceHook-Signature",
	"X-Servicehook-Timestamp": "X-ServiceHook-Timestamp",
}

// deliveryHeaders lists the headers a delivery is sent with, sorted by
// name, signatures hidden. They hold no secret: the signature is computed
// from the hook's secret, which no page shows again.
func deliveryHeaders(d *herald.Delivery) []headerRow {
	hs := delivery.Headers(d)
	names := make([]string, 0, len(hs))
	for name := range hs {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make([]headerRow, 0, len(names))
	for _, name := range names {
		row := headerRow{Name: name, Value: strings.Join(hs[name], ", ")}
		if n, ok := headerNames[name]; ok {
			row.Name = n
		}
		if slices.ContainsFunc(signatureHeaders, func(s string) bool { return strings.EqualFold(s, name) }) {
			row.Value, row.Hidden = "", true
		}
		out = append(out, row)
	}
	return out
}

// Series of the delivery chart, bottom first.
var deliverySeries = []chartSeries{
	{Name: "Delivered", Color: "#1f7a3f"},
	{Name: "Failed", Color: "#b42318"},
	{Name: "Pending", Color: "#d69e2e"},
	{Name: "Not broken down", Color: "#b8b3c2"},
}

// deliveryChart counts the hook's deliveries created in each hour of the
// last 24 (the current hour last) by outcome: delivered, failed, or
// pending (waiting for an attempt or a retry). The hours' totals are the
// store's HookStats; the split reads the deliveries themselves, at most
// hookChartScan of them, and what lies beyond is "not broken down".
func (s *Server) deliveryChart(ctx context.Context, hookID string, now time.Time) (*barChart, error) {
	end := now.Truncate(time.Hour).Add(time.Hour)
	start := end.Add(-24 * time.Hour)
	stats, err := s.store.HookStats(ctx, hookID, start, end, time.Hour)
	if err != nil {
		return nil, err
	}
	chart := &barChart{ID: "delivery-chart", Title: "Deliveries per hour, last 24 hours (UTC)", Series: deliverySeries}
	for i := range 24 {
		from := start.Add(time.Duration(i) * time.Hour)
		bar := chartBar{Label: from.Format("Jan 2 15:04") + "–" + from.Add(time.Hour).Format("15:04") + " UTC",
			Values: make([]int64, len(deliverySeries))}
		if from.Hour()%4 == 0 {
			bar.Tick = from.Format("15:04")
		}
		chart.Bars = append(chart.Bars, bar)
	}
	page := herald.Page{Limit: 100}
	read := 0
scan:
	for read < hookChartScan {
		ds, next, err := s.store.FindDeliveries(ctx, herald.DeliveryFilter{DestinationKind: herald.DestinationHook, DestinationID: hookID, Page: page})
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			read++
			if d.CreatedAt.Before(start) {
				break scan
			}
			if !d.CreatedAt.Before(end) {
				continue
			}
			col := 2
			switch d.Status {
			case herald.DeliveryDelivered:
				col = 0
			case herald.DeliveryFailed:
				col = 1
			}
			chart.Bars[int(d.CreatedAt.Sub(start)/time.Hour)].Values[col]++
		}
		if next == "" {
			break
		}
		page.Cursor = next
	}
	for _, st := range stats {
		i := (st.TS - start.Unix()) / 3600
		if i < 0 || i >= int64(len(chart.Bars)) {
			continue
		}
		vals := chart.Bars[i].Values
		if rest := st.Total - vals[0] - vals[1] - vals[2]; rest > 0 {
			vals[3] = rest
		}
	}
	return chart, nil
}

// handleEditHook saves a hook's url and events (Save Changes), as PUT
// /api/0/projects/{org}/{project}/hooks/{hook_id}/ does.
func (s *Server) handleEditHook(w http.ResponseWriter, r *http.Request, v *visit) error {
	p, h, err := s.changeHook(r, v)
	if err != nil {
		return err
	}
	form := readHookForm(r)
	_, err = s.store.UpdateHook(r.Context(), p.ID, h.ID, herald.HookUpdate{URL: &form.URL, Events: &form.Events})
	if err != nil {
		if form.Errors, err = formErrors(err); err != nil {
			return err
		}
		return s.showHook(w, r, v, p, h, http.StatusBadRequest, &hookPage{Form: form})
	}
	s.redirect(w, r, hookPath(p, h), "Hook saved.")
	return nil
}

// handleHookStatus enables or disables a hook (status=active|disabled),
// as PUT {"status"} does: enabling clears the reason it was disabled.
func (s *Server) handleHookStatus(w http.ResponseWriter, r *http.Request, v *visit) error {
	p, h, err := s.changeHook(r, v)
	if err != nil {
		return err
	}
	status := r.PostFormValue("status")
	if status != herald.HookActive && status != herald.HookDisabled {
		return herald.Errorf(herald.EINVALID, "%s is not a valid status.", strconv.Quote(status))
	}
	if _, err := s.store.UpdateHook(r.Context(), p.ID, h.ID, herald.HookUpdate{Status: &status}); err != nil {
		return err
	}
	msg := "Hook disabled: it gets no new deliveries, and its pending ones fail."
	if status == herald.HookActive {
		msg = "Hook enabled. Recover what failed meanwhile below."
	}
	s.redirect(w, r, hookPath(p, h), msg)
	return nil
}

// handleRotateHookSecret gives a hook a new secret, as POST
// .../rotate-secret/ does, and shows it this once.
func (s *Server) handleRotateHookSecret(w http.ResponseWriter, r *http.Request, v *visit) error {
	p, h, err := s.changeHook(r, v)
	if err != nil {
		return err
	}
	h, err = s.store.RotateHookSecret(r.Context(), p.ID, h.ID)
	if err != nil {
		return err
	}
	return s.showHook(w, r, v, p, h, http.StatusOK, &hookPage{Secret: h.Secret})
}

// handleDeleteHook deletes a hook and its deliveries, as DELETE
// .../hooks/{hook_id}/ does.
func (s *Server) handleDeleteHook(w http.ResponseWriter, r *http.Request, v *visit) error {
	p, h, err := s.changeHook(r, v)
	if err != nil {
		return err
	}
	if err := s.store.DeleteHook(r.Context(), p.ID, h.ID); err != nil {
		return err
	}
	s.redirect(w, r, hooksPath(p), "Hook deleted.")
	return nil
}

// handleTestHook sends the hook a test event (Send Test Event), as POST
// .../test/ does: signed and logged like any delivery.
func (s *Server) handleTestHook(w http.ResponseWriter, r *http.Request, v *visit) error {
	p, h, err := s.changeHook(r, v)
	if err != nil {
		return err
	}
	d, err := s.changes.SendTestEvent(r.Context(), p.ID, h.ID)
	if err != nil {
		return err
	}
	s.redirect(w, r, hookPath(p, h)+"#delivery-"+d.ID, "Test event sent: "+d.Event+" delivery "+d.ID+" is queued.")
	return nil
}

// handleRedeliver queues a delivery of the hook again now, with the same
// id, body and signature, as POST .../deliveries/{delivery_id}/redeliver/
// does.
func (s *Server) handleRedeliver(w http.ResponseWriter, r *http.Request, v *visit) error {
	p, h, err := s.changeHook(r, v)
	if err != nil {
		return err
	}
	id := r.PathValue("delivery_id")
	if !herald.ValidID(id) {
		return herald.Errorf(herald.ENOTFOUND, "not found")
	}
	ctx := r.Context()
	d, err := s.store.FindDeliveryByID(ctx, id)
	if err != nil {
		return err
	}
	if d.DestinationKind != herald.DestinationHook || d.DestinationID != h.ID {
		return herald.Errorf(herald.ENOTFOUND, "not found")
	}
	if _, err := s.store.Redeliver(ctx, d.ID); err != nil {
		return err
	}
	s.redirect(w, r, hookPath(p, h)+"#delivery-"+d.ID, "Delivery "+d.ID+" is queued again.")
	return nil
}

// sinceLayout is the value of a datetime-local input, read as UTC.
const sinceLayout = "2006-01-02T15:04"

// parseSince reads the time of the recover form: RFC 3339, or a
// datetime-local value (with or without seconds) taken as UTC.
func parseSince(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, herald.InvalidField("since", herald.MsgRequired)
	}
	for _, layout := range []string{time.RFC3339Nano, sinceLayout, sinceLayout + ":05"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, herald.InvalidField("since", "Datetime has wrong format. Use RFC 3339, such as 2024-01-15T12:00:00Z.")
}

// handleRecoverDeliveries queues again every failed delivery of the hook
// created since the time given, as POST .../deliveries/recover/ does.
func (s *Server) handleRecoverDeliveries(w http.ResponseWriter, r *http.Request, v *visit) error {
	p, h, err := s.changeHook(r, v)
	if err != nil {
		return err
	}
	raw := r.PostFormValue("since")
	since, err := parseSince(raw)
	if err != nil {
		fe, _ := formErrors(err)
		return s.showHook(w, r, v, p, h, http.StatusBadRequest, &hookPage{Since: raw, SinceErrors: fe})
	}
	n, err := s.store.RecoverDeliveries(r.Context(), herald.DestinationHook, h.ID, since)
	if err != nil {
		return err
	}
	s.redirect(w, r, hookPath(p, h)+"#deliveries", chartPlural(int64(n), "failed delivery", "failed deliveries")+" since "+formatTime(since)+" queued again.")
	return nil
}
