package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/herald-dev/herald"
)

// issueRoutes registers the Issues pages: the organization's issues, an
// issue, and one of its events. These are the pages webhook payloads link
// to: an issue's web_url (/organizations/{org}/issues/{id}/), an error's
// web_url (.../issues/{id}/events/{event_id}/) and an issue's project_url
// (/organizations/{org}/issues/?project={project id}).
func (s *Server) issueRoutes() {
	s.page("GET /organizations/{org}/issues/{$}", s.handleIssues)
	s.page("/organizations/{org}/issues/{issue_id}/{$}", s.handleIssue)
	s.page("GET /organizations/{org}/issues/{issue_id}/events/{event_id}/{$}", s.handleIssueEvent)
}

// Bounds of the Issues pages.
const (
	// issuesPerPage is how many issues a page of the list shows unless
	// ?limit= says otherwise (at most maxIssuesPerPage).
	issuesPerPage    = 25
	maxIssuesPerPage = 100
	// maxCursorLength bounds the ?cursor= of the list.
	maxCursorLength = 64 << 10
	// maxCommentLength bounds a comment, in characters, as the API does.
	maxCommentLength = 10000
)

// statusChoice is a choice of the list's status filter.
type statusChoice struct{ Value, Label string }

// issueStatuses are the choices of the list's status filter; "all" lists
// every status.
var issueStatuses = []statusChoice{{herald.IssueUnresolved, "Unresolved"}, {herald.IssueResolved, "Resolved"},
	{herald.IssueIgnored, "Ignored"}, {"all", "All"}}

// issueRow is an issue of the list with its project.
type issueRow struct {
	Issue   *herald.Issue
	Project *herald.Project
}

// issuesPage is the data of the issue list.
type issuesPage struct {
	// Status, Query, Project, Limit and Cursor are the filters as asked.
	Status   string
	Query    string
	Project  string
	Limit    string
	Cursor   string
	Statuses []statusChoice
	Projects []*herald.Project
	Issues   []issueRow
	// Next is the URL of the next page ("" on the last); Paged is set past
	// the first page.
	Next  string
	Paged bool
	// Error says why the filters could not be applied.
	Error string
}

// handleIssues lists the organization's issues, most recently seen first:
// ?status= (unresolved by default, resolved, ignored or all), ?query= (the
// API's search syntax; its is: terms win over ?status=), ?project= (a slug
// or, as payloads link, an id), ?limit= and ?cursor=. A filter that cannot
// be applied answers 400 with the reason on the page.
func (s *Server) handleIssues(w http.ResponseWriter, r *http.Request, v *visit) error {
	org, err := s.issueOrganization(w, r, v)
	if err != nil || org == nil {
		return err
	}
	if err := v.require("event:read"); err != nil {
		return err
	}
	ctx := r.Context()
	q := r.URL.Query()
	data := &issuesPage{Status: q.Get("status"), Query: q.Get("query"), Project: q.Get("project"), Limit: q.Get("limit"),
		Cursor: q.Get("cursor"), Statuses: issueStatuses}
	data.Paged = data.Cursor != ""
	if data.Status == "" {
		data.Status = herald.IssueUnresolved
	}
	if data.Projects, err = s.allProjects(ctx, org.ID); err != nil {
		return err
	}
	rows, next, err := s.listIssues(ctx, v, data)
	switch herald.ErrorCode(err) {
	case "":
		data.Issues = rows
		if next != "" {
			q.Set("cursor", next)
			data.Next = r.URL.Path + "?" + q.Encode()
		}
		s.render(w, r, v, http.StatusOK, "issues", data)
		return nil
	case herald.EINVALID:
		data.Error = herald.ErrorMessage(err)
		s.render(w, r, v, http.StatusBadRequest, "issues", data)
		return nil
	}
	return err
}

// listIssues finds the page of issues the filters of data select; a filter
// that cannot be applied is EINVALID.
func (s *Server) listIssues(ctx context.Context, v *visit, data *issuesPage) ([]issueRow, string, error) {
	if !slices.ContainsFunc(issueStatuses, func(c statusChoice) bool { return c.Value == data.Status }) {
		return nil, "", herald.Errorf(herald.EINVALID, "Invalid status %q: choose unresolved, resolved, ignored or all.", data.Status)
	}
	parsed, err := herald.ParseIssueQuery(data.Query)
	if err != nil {
		return nil, "", err
	}
	search := herald.IssueSearch{Statuses: parsed.Statuses, Assigned: parsed.Assigned, Text: parsed.Text}
	if len(search.Statuses) == 0 && data.Status != "all" {
		search.Statuses = []string{data.Status}
	}
	if parsed.Me {
		search.AssigneeUserID = v.user.ID
	}
	projects := data.Projects
	if data.Project != "" {
		p := findProject(data.Projects, data.Project)
		if p == nil {
			return nil, "", herald.Errorf(herald.EINVALID, "There is no project %q in %s.", data.Project, v.org.Name)
		}
		data.Project = p.Slug
		projects = []*herald.Project{p}
	}
	limit := issuesPerPage
	if data.Limit != "" {
		n, err := strconv.Atoi(data.Limit)
		if err != nil || n < 1 || n > maxIssuesPerPage {
			return nil, "", herald.Errorf(herald.EINVALID, "Invalid limit: between 1 and %d.", maxIssuesPerPage)
		}
		limit = n
	}
	return s.searchIssues(ctx, projects, search, data.Cursor, limit)
}

// findProject returns the project of ps whose slug or id is key, or nil.
func findProject(ps []*herald.Project, key string) *herald.Project {
	for _, p := range ps {
		if p.Slug == key || strconv.FormatInt(p.ID, 10) == key {
			return p
		}
	}
	return nil
}

// issueCursor is where a list of the issues of several projects resumes:
// for each project, the store's cursor into its issues (absent: from the
// start; cursorDone: none left).
type issueCursor map[int64]string

// cursorDone marks a project whose issues are all listed.
const cursorDone = "-"

// decodeIssueCursor reads a ?cursor= of the list.
func decodeIssueCursor(s string) (issueCursor, error) {
	c := issueCursor{}
	if s == "" {
		return c, nil
	}
	bad := herald.Errorf(herald.EINVALID, "Invalid cursor: go back to the first page.")
	if len(s) > maxCursorLength {
		return nil, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, bad
	}
	for k, v := range m {
		id, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			return nil, bad
		}
		c[id] = v
	}
	return c, nil
}

// encode writes c as a ?cursor= value.
func (c issueCursor) encode() string {
	m := make(map[string]string, len(c))
	for id, v := range c {
		m[strconv.FormatInt(id, 10)] = v
	}
	b, _ := json.Marshal(m)
	return base64.RawURLEncoding.EncodeToString(b)
}

// searchIssues lists a page of the issues of projects that search selects,
// most recently seen first, from the cursor raw: it merges the pages the
// store gives for each project, and returns the cursor of the next page
// ("" on the last), which holds each project's store cursor.
func (s *Server) searchIssues(ctx context.Context, projects []*herald.Project, search herald.IssueSearch, raw string, limit int) ([]issueRow, string, error) {
	cur, err := decodeIssueCursor(raw)
	if err != nil {
		return nil, "", err
	}
	type part struct {
		p      *herald.Project
		issues []*herald.Issue
		next   string
	}
	var parts []*part
	var rows []issueRow
	for _, p := range projects {
		if cur[p.ID] == cursorDone {
			continue
		}
		f := search
		f.ProjectID, f.Page = p.ID, herald.Page{Cursor: cur[p.ID], Limit: limit}
		issues, next, err := s.store.SearchIssues(ctx, f)
		if err != nil {
			return nil, "", err
		}
		parts = append(parts, &part{p: p, issues: issues, next: next})
		for _, is := range issues {
			rows = append(rows, issueRow{Issue: is, Project: p})
		}
	}
	slices.SortFunc(rows, func(a, b issueRow) int {
		if c := b.Issue.LastSeen.Compare(a.Issue.LastSeen); c != 0 {
			return c
		}
		return compareInt(b.Issue.ID, a.Issue.ID)
	})
	rows = rows[:min(limit, len(rows))]
	taken := map[int64]int{}
	for _, row := range rows {
		taken[row.Project.ID]++
	}
	next := issueCursor{}
	for id, c := range cur {
		next[id] = c
	}
	more := false
	for _, pt := range parts {
		k := taken[pt.p.ID]
		switch {
		case k == len(pt.issues) && pt.next == "":
			next[pt.p.ID] = cursorDone
		case k == len(pt.issues):
			next[pt.p.ID], more = pt.next, true
		case k == 0:
			more = true
		default:
			// The page ends inside this project's issues: ask the store
			// for the cursor after the k shown.
			f := search
			f.ProjectID, f.Page = pt.p.ID, herald.Page{Cursor: cur[pt.p.ID], Limit: k}
			_, c, err := s.store.SearchIssues(ctx, f)
			if err != nil {
				return nil, "", err
			}
			next[pt.p.ID], more = c, true
		}
	}
	if !more {
		return rows, "", nil
	}
	return rows, next.encode(), nil
}

// compareInt orders a before b.
func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// issueOrganization loads the {org} of an Issues page. Payloads name an
// organization by id when its slug was not at hand: such a path redirects
// to the slug's, and the returned organization is nil.
func (s *Server) issueOrganization(w http.ResponseWriter, r *http.Request, v *visit) (*herald.Organization, error) {
	org, err := s.organization(r, v)
	if herald.ErrorCode(err) != herald.ENOTFOUND {
		return org, err
	}
	id := r.PathValue("org")
	for _, o := range v.orgs {
		if strconv.FormatInt(o.ID, 10) == id {
			target := "/organizations/" + url.PathEscape(o.Slug) + strings.TrimPrefix(r.URL.Path, "/organizations/"+id)
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, target, http.StatusFound)
			return nil, nil
		}
	}
	return nil, err
}

// issuePage is the data of an issue's page and of its events' pages.
type issuePage struct {
	Issue   *herald.Issue
	Project *herald.Project
	// Event is the event shown: the one the path names, or the issue's
	// latest; nil when there is none.
	Event *eventView
	// EventPage is set on the page of one event.
	EventPage bool
	Comments  []*herald.Comment
	Members   []*herald.Member
	Teams     []*herald.Team
	// Assignee is the assignment form's value of the current assignee.
	Assignee string
	// Resolved says how a resolved issue was resolved, when not just now
	// ("Resolved in 1.2.3").
	Resolved string
	// Text is the comment being written, shown again with Errors.
	Text   string
	Errors herald.FieldErrors
}

// loadIssue loads the organization and the issue ({issue_id}: an id or a
// short id) of the path, with its project; ENOTFOUND when it is not the
// organization's. A nil issue means the request was redirected.
func (s *Server) loadIssue(w http.ResponseWriter, r *http.Request, v *visit) (*herald.Issue, *herald.Project, error) {
	org, err := s.issueOrganization(w, r, v)
	if err != nil || org == nil {
		return nil, nil, err
	}
	if err := v.require("event:read"); err != nil {
		return nil, nil, err
	}
	id := r.PathValue("issue_id")
	if !herald.ValidID(id) {
		return nil, nil, herald.Errorf(herald.ENOTFOUND, "not found")
	}
	ctx := r.Context()
	is, err := s.store.FindIssue(ctx, org.ID, id)
	if err != nil {
		return nil, nil, err
	}
	p, err := s.store.FindProjectByID(ctx, is.ProjectID)
	if err != nil {
		return nil, nil, err
	}
	if p.OrganizationID != org.ID {
		return nil, nil, herald.Errorf(herald.ENOTFOUND, "not found")
	}
	p.Organization = org
	return is, p, nil
}

// handleIssue shows an issue: its summary, its latest event, its
// assignment and comments, with the actions the person may take. A POST
// takes one (action=resolve, ignore, unresolve, assign, comment,
// edit-comment, delete-comment) through the ChangeService, which sends
// the issue.* and comment.* webhooks the API's changes send.
func (s *Server) handleIssue(w http.ResponseWriter, r *http.Request, v *visit) error {
	is, p, err := s.loadIssue(w, r, v)
	if err != nil || is == nil {
		return err
	}
	data := &issuePage{Issue: is, Project: p}
	status := http.StatusOK
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		flash, err := s.changeIssue(r, v, p, is, data)
		if err == nil {
			s.redirect(w, r, r.URL.Path, flash)
			return nil
		}
		if data.Errors, err = formErrors(err); err != nil {
			return err
		}
		status = http.StatusBadRequest
	default:
		return herald.Errorf(herald.ENOTFOUND, "not found")
	}
	ev, err := s.latestEvent(r.Context(), is)
	if err != nil {
		return err
	}
	if ev != nil {
		data.Event = newEventView(ev)
	}
	return s.renderIssue(w, r, v, status, data)
}

// handleIssueEvent shows one event of an issue (an error payload's
// web_url). The event id may be 32 hex characters or a dashed UUID; an
// event of another issue of the project redirects to its own page.
func (s *Server) handleIssueEvent(w http.ResponseWriter, r *http.Request, v *visit) error {
	is, p, err := s.loadIssue(w, r, v)
	if err != nil || is == nil {
		return err
	}
	id := strings.ToLower(strings.ReplaceAll(r.PathValue("event_id"), "-", ""))
	if len(id) != 32 || !herald.ValidID(id) {
		return herald.Errorf(herald.ENOTFOUND, "not found")
	}
	ev, err := s.store.FindEventByID(r.Context(), p.ID, id)
	if err != nil {
		return err
	}
	if ev.IssueID != is.ID {
		http.Redirect(w, r, "/organizations/"+url.PathEscape(p.Organization.Slug)+"/issues/"+strconv.FormatInt(ev.IssueID, 10)+
			"/events/"+ev.ID+"/", http.StatusFound)
		return nil
	}
	data := &issuePage{Issue: is, Project: p, Event: newEventView(ev), EventPage: true}
	return s.renderIssue(w, r, v, http.StatusOK, data)
}

// latestEvent returns the most recent event of is, or nil when it has
// none left.
func (s *Server) latestEvent(ctx context.Context, is *herald.Issue) (*herald.Event, error) {
	ev, err := s.store.FindLatestEvent(ctx, is.ID)
	if herald.ErrorCode(err) == herald.ENOTFOUND {
		return nil, nil
	}
	return ev, err
}

// renderIssue loads what an issue's page shows besides the issue and the
// event, and renders it.
func (s *Server) renderIssue(w http.ResponseWriter, r *http.Request, v *visit, status int, data *issuePage) error {
	ctx := r.Context()
	var err error
	if data.Comments, err = s.store.FindComments(ctx, data.Issue.ID); err != nil {
		return err
	}
	if v.can("event:write") {
		if data.Members, err = s.store.FindMembers(ctx, v.org.ID); err != nil {
			return err
		}
		if data.Teams, err = s.store.FindTeams(ctx, v.org.ID); err != nil {
			return err
		}
	}
	if a := data.Issue.AssignedTo; a != nil {
		data.Assignee = a.Type + ":" + strconv.FormatInt(a.ID, 10)
	}
	data.Resolved = resolvedText(data.Issue)
	s.render(w, r, v, status, "issue", data)
	return nil
}

// resolvedText says how a resolved issue was resolved: in the next
// release, in a release or in a commit; "" when it is not resolved or was
// resolved now.
func resolvedText(is *herald.Issue) string {
	r := is.Resolution
	if is.Status != herald.IssueResolved || r == nil {
		return ""
	}
	switch r.Type {
	case herald.ResolvedInNextRelease:
		return "Resolved in the next release"
	case herald.ResolvedInRelease:
		return "Resolved in " + r.Release
	case herald.ResolvedInCommit:
		return "Resolved in commit " + r.Commit + " of " + r.Repository
	}
	return ""
}

// changeIssue applies a POST of an issue's page and returns the message
// to show after it.
func (s *Server) changeIssue(r *http.Request, v *visit, p *herald.Project, is *herald.Issue, data *issuePage) (string, error) {
	if err := v.require("event:write"); err != nil {
		return "", err
	}
	ctx := r.Context()
	actor := herald.Actor{User: v.user}
	update := func(upd herald.IssueUpdate) error {
		issues, err := s.changes.UpdateIssues(ctx, herald.IssueSelection{ProjectID: p.ID, IDs: []int64{is.ID}}, upd, actor)
		if err == nil && len(issues) == 0 {
			err = herald.Errorf(herald.ENOTFOUND, "not found")
		}
		return err
	}
	status := func(st string) herald.IssueUpdate {
		upd := herald.IssueUpdate{Status: &st}
		if st == herald.IssueIgnored {
			sub := herald.SubstatusUntilEscalating
			upd.Substatus = &sub
		}
		return upd
	}
	switch action := r.PostFormValue("action"); action {
	case "resolve":
		return "Issue resolved.", update(status(herald.IssueResolved))
	case "ignore":
		return "Issue ignored until it escalates.", update(status(herald.IssueIgnored))
	case "unresolve":
		return "Issue unresolved.", update(status(herald.IssueUnresolved))
	case "assign":
		a, err := s.assignee(ctx, v.org, r.PostFormValue("assignee"))
		if err != nil {
			return "", err
		}
		flash := "Issue unassigned."
		if a != nil {
			flash = "Issue assigned to " + a.Name + "."
		}
		return flash, update(herald.IssueUpdate{AssignedTo: &a})
	case "comment":
		data.Text = r.PostFormValue("text")
		text, err := commentText(data.Text)
		if err != nil {
			return "", err
		}
		return "Comment added.", s.changes.CreateComment(ctx, &herald.Comment{IssueID: is.ID, UserID: v.user.ID, Text: text}, actor)
	case "edit-comment", "delete-comment":
		id, err := strconv.ParseInt(r.PostFormValue("comment"), 10, 64)
		if err != nil || id <= 0 {
			return "", herald.Errorf(herald.ENOTFOUND, "not found")
		}
		if action == "delete-comment" {
			return "Comment deleted.", s.changes.DeleteComment(ctx, is.ID, id, v.user.ID, actor)
		}
		text, err := commentText(r.PostFormValue("text"))
		if err != nil {
			return "", err
		}
		_, err = s.changes.UpdateComment(ctx, is.ID, id, v.user.ID, text, actor)
		return "Comment updated.", err
	}
	return "", herald.Errorf(herald.EINVALID, "Unknown action.")
}

// commentText checks the text of a comment as the API does.
func commentText(text string) (string, error) {
	switch {
	case strings.TrimSpace(text) == "":
		return "", herald.InvalidField("text", "Write something first.")
	case utf8.RuneCountInString(text) > maxCommentLength:
		return "", herald.InvalidField("text", "A comment has at most "+strconv.Itoa(maxCommentLength)+" characters.")
	}
	return text, nil
}

// assignee reads the assignment form's value: "" unassigns,
// "user:<id>" names a member of org and "team:<id>" one of its teams.
func (s *Server) assignee(ctx context.Context, org *herald.Organization, value string) (*herald.Assignee, error) {
	bad := herald.InvalidField("assignee", "Choose a member or a team of "+org.Name+".")
	if value == "" {
		return nil, nil
	}
	kind, raw, _ := strings.Cut(value, ":")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return nil, bad
	}
	switch kind {
	case herald.AssigneeTeam:
		t, err := s.store.FindTeamByID(ctx, org.ID, id)
		if herald.ErrorCode(err) == herald.ENOTFOUND {
			return nil, bad
		} else if err != nil {
			return nil, err
		}
		return &herald.Assignee{Type: herald.AssigneeTeam, ID: t.ID, Name: t.Slug}, nil
	case herald.AssigneeUser:
		u, err := s.store.FindUserByID(ctx, id)
		if herald.ErrorCode(err) == herald.ENOTFOUND {
			return nil, bad
		} else if err != nil {
			return nil, err
		}
		member, err := s.store.IsMember(ctx, org.ID, u.ID)
		if err != nil {
			return nil, err
		}
		if !member {
			return nil, bad
		}
		name := u.Name
		if name == "" {
			name = u.Email
		}
		return &herald.Assignee{Type: herald.AssigneeUser, ID: u.ID, Name: name, Email: u.Email}, nil
	}
	return nil, bad
}

// Bounds of an event's page.
const (
	// maxBreadcrumbs is how many of an event's last breadcrumbs are shown.
	maxBreadcrumbs = 50
	// maxShownValue bounds a value shown in a key/value list, in characters.
	maxShownValue = 2000
)

// eventView is an event as its page shows it, read from the normalized
// event JSON (herald.Event.Data) leniently: a part of unexpected shape is
// left out rather than failing the page.
type eventView struct {
	Event *herald.Event
	// Message is the event's log message, when it says more than the
	// exception.
	Message string
	// Exceptions are the event's exceptions, outermost first (Sentry's
	// order); Thread is the stack trace of a thread of an event without
	// exceptions (an attached stack trace).
	Exceptions []exceptionView
	Thread     *exceptionView
	Tags       []herald.Tag
	User       []field
	Request    *requestView
	// Contexts are the event's contexts (device, os, runtime, trace...) by
	// name.
	Contexts    []contextView
	Extra       []field
	Breadcrumbs []breadcrumbView
	SDK         string
}

// field is one key/value pair shown.
type field struct {
	Key   string
	Value string
}

// exceptionView is one exception with its stack trace.
type exceptionView struct {
	Type      string
	Value     string
	Module    string
	Mechanism string
	// Handled is "yes", "no" or "" when the SDK did not say.
	Handled string
	// Frames are most recent call first.
	Frames []frameView
}

// frameView is one stack frame.
type frameView struct {
	Function string
	// Where is the frame's file (or module, or absolute path).
	Where  string
	Module string
	Line   string
	InApp  bool
	// Context is the source around the line, when the SDK sent it.
	Context []contextLine
	Vars    []field
}

// contextLine is one line of source around a frame's line.
type contextLine struct {
	No      string
	Text    string
	Current bool
}

// requestView is the HTTP request an event happened in.
type requestView struct {
	Method  string
	URL     string
	Query   []field
	Headers []field
	Cookies []field
	Data    string
	Env     []field
}

// contextView is one context of an event.
type contextView struct {
	Name   string
	Fields []field
}

// breadcrumbView is one breadcrumb.
type breadcrumbView struct {
	Time     string
	Category string
	Level    string
	Message  string
}

// newEventView reads ev's data for its page.
func newEventView(ev *herald.Event) *eventView {
	out := &eventView{Event: ev, Tags: ev.Tags}
	var data map[string]any
	dec := json.NewDecoder(strings.NewReader(string(ev.Data)))
	dec.UseNumber()
	if dec.Decode(&data) != nil {
		data = map[string]any{}
	}
	out.Exceptions = exceptionsOf(data["exception"])
	if len(out.Exceptions) == 0 {
		out.Thread = threadOf(data)
	}
	out.Message = ev.Message
	if le, ok := data["logentry"].(map[string]any); ok && out.Message == "" {
		out.Message = text(le["formatted"])
	}
	if len(out.Exceptions) > 0 && (out.Message == out.Exceptions[0].Value || out.Message == ev.Title) {
		out.Message = ""
	}
	if u, ok := data["user"].(map[string]any); ok {
		out.User = fields(u, "id", "email", "username", "name", "ip_address")
	}
	out.Request = requestOf(data["request"])
	if cs, ok := data["contexts"].(map[string]any); ok {
		for _, name := range sortedKeys(cs) {
			c, ok := cs[name].(map[string]any)
			if !ok {
				continue
			}
			delete(c, "type")
			if fs := fields(c); len(fs) > 0 {
				out.Contexts = append(out.Contexts, contextView{Name: name, Fields: fs})
			}
		}
	}
	if ex, ok := data["extra"].(map[string]any); ok {
		out.Extra = fields(ex)
	}
	out.Breadcrumbs = breadcrumbsOf(data["breadcrumbs"])
	if sdk, ok := data["sdk"].(map[string]any); ok {
		out.SDK = strings.TrimSpace(text(sdk["name"]) + " " + text(sdk["version"]))
	}
	return out
}

// valuesOf returns the list of an interface that is either a list or an
// object {"values": [...]}, as exceptions, threads and breadcrumbs come.
func valuesOf(v any) []any {
	switch v := v.(type) {
	case []any:
		return v
	case map[string]any:
		if l, ok := v["values"].([]any); ok {
			return l
		}
		return []any{v}
	}
	return nil
}

// exceptionsOf reads an event's exceptions, outermost first.
func exceptionsOf(v any) []exceptionView {
	var out []exceptionView
	for _, x := range valuesOf(v) {
		m, ok := x.(map[string]any)
		if !ok {
			continue
		}
		ex := exceptionView{Type: text(m["type"]), Value: text(m["value"]), Module: text(m["module"]), Frames: framesOf(m["stacktrace"])}
		if mech, ok := m["mechanism"].(map[string]any); ok {
			ex.Mechanism = text(mech["type"])
			switch mech["handled"] {
			case true:
				ex.Handled = "yes"
			case false:
				ex.Handled = "no"
			}
		}
		if ex.Type == "" && ex.Value == "" && len(ex.Frames) == 0 {
			continue
		}
		out = append(out, ex)
	}
	slices.Reverse(out)
	return out
}

// threadOf returns the stack trace of an event without exceptions: its
// crashed (or current, or first) thread's, or its own top-level one.
func threadOf(data map[string]any) *exceptionView {
	var best *exceptionView
	for _, x := range valuesOf(data["threads"]) {
		m, ok := x.(map[string]any)
		if !ok {
			continue
		}
		frames := framesOf(m["stacktrace"])
		if len(frames) == 0 {
			continue
		}
		th := &exceptionView{Type: "Thread " + firstText(m["name"], m["id"]), Frames: frames}
		if m["crashed"] == true || m["current"] == true {
			return th
		}
		if best == nil {
			best = th
		}
	}
	if best == nil {
		if frames := framesOf(data["stacktrace"]); len(frames) > 0 {
			best = &exceptionView{Type: "Stack trace", Frames: frames}
		}
	}
	return best
}

// framesOf reads a stack trace's frames, most recent call first.
func framesOf(v any) []frameView {
	st, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	list, _ := st["frames"].([]any)
	var out []frameView
	for _, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			continue
		}
		f := frameView{Function: text(m["function"]), Module: text(m["module"]), InApp: m["in_app"] == true,
			Where: firstText(m["filename"], m["abs_path"], m["module"], m["package"])}
		if f.Module == f.Where {
			f.Module = ""
		}
		if line := text(m["lineno"]); line != "" {
			f.Line = line
			if col := text(m["colno"]); col != "" {
				f.Line += ":" + col
			}
		}
		f.Context = contextLines(m)
		if vars, ok := m["vars"].(map[string]any); ok {
			f.Vars = fields(vars)
		}
		out = append(out, f)
	}
	slices.Reverse(out)
	return out
}

// contextLines reads the source lines around a frame's line.
func contextLines(m map[string]any) []contextLine {
	cur, ok := m["context_line"].(string)
	if !ok {
		return nil
	}
	lineNo, _ := strconv.Atoi(text(m["lineno"]))
	num := func(n int) string {
		if lineNo <= 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	var out []contextLine
	pre, _ := m["pre_context"].([]any)
	for i, l := range pre {
		out = append(out, contextLine{No: num(lineNo - len(pre) + i), Text: text(l)})
	}
	out = append(out, contextLine{No: num(lineNo), Text: cur, Current: true})
	post, _ := m["post_context"].([]any)
	for i, l := range post {
		out = append(out, contextLine{No: num(lineNo + 1 + i), Text: text(l)})
	}
	return out
}

// requestOf reads an event's HTTP request.
func requestOf(v any) *requestView {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	rv := &requestView{Method: text(m["method"]), URL: text(m["url"]), Query: pairs(m["query_string"]),
		Headers: pairs(m["headers"]), Cookies: pairs(m["cookies"]), Env: pairs(m["env"])}
	if d, ok := m["data"]; ok && d != nil {
		rv.Data = truncate(text(d), maxShownValue)
	}
	if rv.Method == "" && rv.URL == "" && len(rv.Query)+len(rv.Headers)+len(rv.Cookies)+len(rv.Env) == 0 && rv.Data == "" {
		return nil
	}
	return rv
}

// pairs reads key/value pairs sent as an object, a list of [key, value]
// pairs, or a query or cookie string.
func pairs(v any) []field {
	switch v := v.(type) {
	case map[string]any:
		return fields(v)
	case []any:
		var out []field
		for _, x := range v {
			if kv, ok := x.([]any); ok && len(kv) == 2 {
				out = append(out, field{Key: text(kv[0]), Value: truncate(text(kv[1]), maxShownValue)})
			}
		}
		return out
	case string:
		if v == "" {
			return nil
		}
		sep := "&"
		if strings.Contains(v, ";") {
			sep = ";" // a Cookie header
		}
		var out []field
		for _, part := range strings.Split(v, sep) {
			k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
			if sep == "&" {
				k, val = unescapeQuery(k), unescapeQuery(val)
			}
			if k != "" || val != "" {
				out = append(out, field{Key: k, Value: truncate(val, maxShownValue)})
			}
		}
		return out
	}
	return nil
}

// unescapeQuery decodes a part of a query string, or keeps it as it is
// when it is not well escaped.
func unescapeQuery(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// fields lists the members of an object: the keys of first in that order
// when present, then the others sorted.
func fields(m map[string]any, first ...string) []field {
	var out []field
	for _, k := range first {
		if v, ok := m[k]; ok && v != nil {
			out = append(out, field{Key: k, Value: truncate(text(v), maxShownValue)})
		}
	}
	for _, k := range sortedKeys(m) {
		if slices.Contains(first, k) || m[k] == nil {
			continue
		}
		out = append(out, field{Key: k, Value: truncate(text(m[k]), maxShownValue)})
	}
	return out
}

// breadcrumbsOf reads an event's last breadcrumbs, oldest first.
func breadcrumbsOf(v any) []breadcrumbView {
	list := valuesOf(v)
	if len(list) > maxBreadcrumbs {
		list = list[len(list)-maxBreadcrumbs:]
	}
	var out []breadcrumbView
	for _, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			continue
		}
		b := breadcrumbView{Time: timestampText(m["timestamp"]), Category: firstText(m["category"], m["type"]), Level: text(m["level"]),
			Message: text(m["message"])}
		if b.Message == "" && m["data"] != nil {
			b.Message = text(m["data"])
		}
		b.Message = truncate(b.Message, maxShownValue)
		out = append(out, b)
	}
	return out
}

// timestampText shows a breadcrumb's timestamp: unix seconds or a string.
func timestampText(v any) string {
	if n, ok := v.(json.Number); ok {
		if f, err := n.Float64(); err == nil {
			return time.Unix(int64(f), 0).UTC().Format("2006-01-02 15:04:05")
		}
	}
	return text(v)
}

// text shows a JSON value: a string as it is, other values as JSON.
func text(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// firstText returns the first of vs that shows as non-empty text.
func firstText(vs ...any) string {
	for _, v := range vs {
		if t := text(v); t != "" {
			return t
		}
	}
	return ""
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
