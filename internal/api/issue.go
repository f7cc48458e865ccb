package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/webhook"
)

// Bounds of issue requests.
const (
	maxAssigneeLength = 320
)

// issueJSON is Sentry's group serializer, as its issue routes answer.
type issueJSON struct {
	ID                  string                 `json:"id"`
	ShareID             *string                `json:"shareId"`
	ShortID             string                 `json:"shortId"`
	Title               string                 `json:"title"`
	Culprit             string                 `json:"culprit"`
	Permalink           string                 `json:"permalink"`
	Logger              *string                `json:"logger"`
	Level               string                 `json:"level"`
	Status              string                 `json:"status"`
	StatusDetails       *webhook.StatusDetails `json:"statusDetails"`
	Substatus           *string                `json:"substatus"`
	IsPublic            bool                   `json:"isPublic"`
	Platform            *string                `json:"platform"`
	Project             issueProjectJSON       `json:"project"`
	Type                string                 `json:"type"`
	Metadata            any                    `json:"metadata"`
	NumComments         int64                  `json:"numComments"`
	AssignedTo          *webhook.AssigneeActor `json:"assignedTo"`
	IsBookmarked        bool                   `json:"isBookmarked"`
	IsSubscribed        bool                   `json:"isSubscribed"`
	SubscriptionDetails *struct{}              `json:"subscriptionDetails"`
	HasSeen             bool                   `json:"hasSeen"`
	Annotations         []string               `json:"annotations"`
	IssueType           string                 `json:"issueType"`
	IssueCategory       string                 `json:"issueCategory"`
	Priority            string                 `json:"priority"`
	PriorityLockedAt    *string                `json:"priorityLockedAt"`
	IsUnhandled         bool                   `json:"isUnhandled"`
	Count               string                 `json:"count"`
	UserCount           int64                  `json:"userCount"`
	FirstSeen           string                 `json:"firstSeen"`
	LastSeen            string                 `json:"lastSeen"`
	Stats               map[string][][2]int64  `json:"stats,omitempty"`
}

// issueProjectJSON is the project of an issue.
type issueProjectJSON struct {
	ID       string  `json:"id"`
	Name     string  `json:"name"`
	Slug     string  `json:"slug"`
	Platform *string `json:"platform"`
}

// newIssueJSON serializes issue is of project p.
func (s *Server) newIssueJSON(r *http.Request, p *herald.Project, is *herald.Issue) *issueJSON {
	id := strconv.FormatInt(is.ID, 10)
	out := &issueJSON{
		ID:            id,
		ShortID:       is.ShortID,
		Title:         is.Title,
		Culprit:       is.Culprit,
		Permalink:     s.absoluteURL(r, "/organizations/"+orgSlugOf(p)+"/issues/"+id+"/"),
		Level:         is.Level,
		Status:        is.Status,
		StatusDetails: webhook.NewStatusDetails(is),
		Platform:      nullString(firstNonEmpty(is.Platform, p.Platform)),
		Project:       issueProjectJSON{ID: strconv.FormatInt(p.ID, 10), Name: p.Name, Slug: p.Slug, Platform: nullString(p.Platform)},
		Type:          webhook.IssueType(is),
		Metadata:      webhook.IssueMetadata(is),
		NumComments:   is.NumComments,
		AssignedTo:    webhook.NewAssigneeActor(is.AssignedTo),
		Annotations:   []string{},
		// Every issue Herald groups is an error in Sentry's types and
		// categories.
		IssueType:     webhook.ErrorIssueType,
		IssueCategory: webhook.ErrorIssueCategory,
		Priority:      webhook.IssuePriority(is.Level),
		IsUnhandled:   is.Unhandled,
		Count:         strconv.FormatInt(is.Count, 10),
		UserCount:     is.UserCount,
		FirstSeen:     herald.FormatTime(is.FirstSeen),
		LastSeen:      herald.FormatTime(is.LastSeen),
	}
	if is.Substatus != "" && is.Status != herald.IssueResolved {
		sub := is.Substatus
		out.Substatus = &sub
	}
	return out
}

// orgSlugOf names p's organization by slug, or by id when not loaded.
func orgSlugOf(p *herald.Project) string {
	if p.Organization != nil {
		return p.Organization.Slug
	}
	return strconv.FormatInt(p.OrganizationID, 10)
}

// firstNonEmpty returns the first of ss that is not empty.
func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// statsPeriods are the ?statsPeriod= values of the issue list: the range
// and bucket size of each issue's "stats".
var statsPeriods = map[string]struct{ span, bucket time.Duration }{
	"24h": {24 * time.Hour, time.Hour},
	"14d": {14 * 24 * time.Hour, 24 * time.Hour},
}

// handleListIssues answers GET /api/0/projects/{org}/{project}/issues/:
// the project's issues, most recently seen first, filtered by ?query=
// (default is:unresolved, as in Sentry; an empty query lists all), with
// ?statsPeriod= (24h, 14d or empty for none) event counts, paginated.
func (s *Server) handleListIssues(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, err := s.project(r, a)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	raw, ok := q["query"]
	query := "is:unresolved"
	if ok {
		query = raw[0]
	}
	parsed, err := herald.ParseIssueQuery(query)
	if err != nil {
		return err
	}
	period := "24h"
	if v, ok := q["statsPeriod"]; ok {
		period = v[0]
	}
	if _, ok := statsPeriods[period]; !ok && period != "" {
		return herald.Errorf(herald.EINVALID, "Invalid stats_period. Valid choices are '', '24h', and '14d'")
	}
	page, err := pageFromRequest(r)
	if err != nil {
		return err
	}
	if v := q.Get("limit"); v != "" && q.Get("per_page") == "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPerPage {
			return herald.Errorf(herald.EINVALID, "Invalid limit parameter: between 1 and %d.", maxPerPage)
		}
		page.Limit = n
	}
	search := herald.IssueSearch{ProjectID: p.ID, Statuses: parsed.Statuses, Assigned: parsed.Assigned, Text: parsed.Text, Page: page}
	if parsed.Me {
		search.AssigneeUserID = a.userID()
	}
	ctx := r.Context()
	issues, next, err := s.store.SearchIssues(ctx, search)
	if err != nil {
		return err
	}
	out := make([]*issueJSON, 0, len(issues))
	for _, is := range issues {
		out = append(out, s.newIssueJSON(r, p, is))
	}
	if sp, ok := statsPeriods[period]; ok && len(issues) > 0 {
		ids := make([]int64, len(issues))
		for i, is := range issues {
			ids[i] = is.ID
		}
		until := s.clock.Now().UTC().Truncate(sp.bucket).Add(sp.bucket)
		stats, err := s.store.IssueStats(ctx, ids, until.Add(-sp.span), until, sp.bucket)
		if err != nil {
			return err
		}
		for i, is := range issues {
			points := [][2]int64{}
			for _, st := range stats[is.ID] {
				points = append(points, [2]int64{st.TS, st.Count})
			}
			out[i].Stats = map[string][][2]int64{period: points}
		}
	}
	s.setLinkHeader(w, r, next)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// issueUpdateInput is the body of issue updates, single or bulk.
type issueUpdateInput struct {
	Status          *string             `json:"status"`
	Substatus       *string             `json:"substatus"`
	StatusDetails   *statusDetailsInput `json:"statusDetails"`
	AssignedTo      json.RawMessage     `json:"assignedTo"`
	IgnoreDuration  *float64            `json:"ignoreDuration"`
	SnoozeDuration  *float64            `json:"snoozeDuration"`
	IgnoreCount     *float64            `json:"ignoreCount"`
	IgnoreUserCount *float64            `json:"ignoreUserCount"`
}

// statusDetailsInput is the statusDetails of an update, Sentry's
// StatusDetailsValidator: how a resolved issue was resolved, or the
// condition an ignored one waits for.
type statusDetailsInput struct {
	InNextRelease     *bool          `json:"inNextRelease"`
	InUpcomingRelease *bool          `json:"inUpcomingRelease"`
	InRelease         *string        `json:"inRelease"`
	InCommit          *inCommitInput `json:"inCommit"`
	IgnoreDuration    *float64       `json:"ignoreDuration"`
	IgnoreCount       *float64       `json:"ignoreCount"`
	IgnoreUserCount   *float64       `json:"ignoreUserCount"`
}

// inCommitInput names the commit of an inCommit resolution.
type inCommitInput struct {
	Commit     *string `json:"commit"`
	Repository *string `json:"repository"`
}

// resolution reads the resolution an update asks for, as Sentry does:
// status "resolvedInNextRelease" or statusDetails.inNextRelease true is in
// the next release, statusDetails.inRelease in that release,
// statusDetails.inCommit in that commit; none of them is resolved now
// (nil). More than one, inUpcomingRelease (a Sentry feature Herald does not
// have) and inRelease "latest" (Herald does not track releases) are
// refused.
func (in *issueUpdateInput) resolution(fe herald.FieldErrors) *herald.Resolution {
	var found []*herald.Resolution
	if in.Status != nil && *in.Status == "resolvedInNextRelease" {
		found = append(found, &herald.Resolution{Type: herald.ResolvedInNextRelease})
	}
	d := in.StatusDetails
	if d == nil {
		d = &statusDetailsInput{}
	}
	if d.InNextRelease != nil && *d.InNextRelease && len(found) == 0 {
		found = append(found, &herald.Resolution{Type: herald.ResolvedInNextRelease})
	}
	if d.InUpcomingRelease != nil && *d.InUpcomingRelease {
		fe.Add("statusDetails.inUpcomingRelease", "Your organization does not have access to this feature.")
	}
	if d.InRelease != nil {
		if *d.InRelease == "latest" {
			fe.Add("statusDetails.inRelease", `Herald does not track releases: give the version instead of "latest".`)
		}
		found = append(found, &herald.Resolution{Type: herald.ResolvedInRelease, Release: *d.InRelease})
	}
	if c := d.InCommit; c != nil {
		r := &herald.Resolution{Type: herald.ResolvedInCommit}
		for _, f := range []struct {
			name string
			v    *string
			dst  *string
		}{{"commit", c.Commit, &r.Commit}, {"repository", c.Repository, &r.Repository}} {
			if f.v == nil {
				fe.Add("statusDetails.inCommit."+f.name, herald.MsgRequired)
			} else {
				*f.dst = *f.v
			}
		}
		found = append(found, r)
	}
	if len(found) > 1 {
		fe.Add("statusDetails", "Give one of inNextRelease, inRelease and inCommit.")
	}
	if len(found) != 1 {
		return nil
	}
	return found[0]
}

// ignoreSubstatuses are the substatuses an update may give an ignored issue.
var ignoreSubstatuses = []string{herald.SubstatusUntilEscalating, herald.SubstatusUntilConditionMet, herald.SubstatusArchivedForever}

// issueUpdate validates the body of an issue update and resolves its
// assignee in org. "muted" is sentry-cli's name for ignored; an ignore with
// a duration or count waits for that condition.
func (s *Server) issueUpdate(ctx context.Context, in *issueUpdateInput, org *herald.Organization) (herald.IssueUpdate, error) {
	var upd herald.IssueUpdate
	fe := herald.FieldErrors{}
	res := in.resolution(fe)
	if in.Status != nil {
		status := *in.Status
		switch status {
		case "muted", "archived":
			status = herald.IssueIgnored
		case "resolvedInNextRelease":
			status = herald.IssueResolved
		}
		if !slices.Contains([]string{herald.IssueResolved, herald.IssueIgnored, herald.IssueUnresolved}, status) {
			fe.Add("status", strconv.Quote(*in.Status)+" is not a valid choice.")
		} else {
			upd.Status = &status
		}
		if status == herald.IssueResolved && res != nil {
			if err := res.Validate(); err != nil {
				var rfe herald.FieldErrors
				if !errors.As(err, &rfe) {
					return upd, err
				}
				for field, msgs := range rfe {
					if _, missing := fe[field]; !missing {
						fe[field] = msgs
					}
				}
			}
			upd.Resolution = res
		}
		if status == herald.IssueIgnored {
			sub := herald.SubstatusUntilEscalating
			ignore := []*float64{in.IgnoreDuration, in.SnoozeDuration, in.IgnoreCount, in.IgnoreUserCount}
			if d := in.StatusDetails; d != nil {
				ignore = append(ignore, d.IgnoreDuration, d.IgnoreCount, d.IgnoreUserCount)
			}
			for _, f := range ignore {
				if f != nil && *f > 0 {
					sub = herald.SubstatusUntilConditionMet
				}
			}
			if in.Substatus != nil {
				if !slices.Contains(ignoreSubstatuses, *in.Substatus) {
					fe.Add("substatus", strconv.Quote(*in.Substatus)+" is not a valid choice.")
				}
				sub = *in.Substatus
			}
			upd.Substatus = &sub
		}
	}
	if res != nil && (upd.Status == nil || *upd.Status != herald.IssueResolved) {
		fe.Add("statusDetails", `inNextRelease, inRelease and inCommit go with status "resolved".`)
	}
	if len(in.AssignedTo) > 0 {
		a, msg, err := s.resolveAssignee(ctx, in.AssignedTo, org)
		if err != nil {
			return upd, err
		}
		if msg != "" {
			fe.Add("assignedTo", msg)
		} else {
			upd.AssignedTo = &a
		}
	}
	if err := fe.Err(); err != nil {
		return upd, err
	}
	if upd.Status == nil && upd.AssignedTo == nil {
		return upd, herald.Errorf(herald.EINVALID, "Nothing to update: give status or assignedTo.")
	}
	return upd, nil
}

// resolveAssignee reads an assignedTo value as Sentry takes it: a user id
// (number or string, optionally "user:<id>"), a username or email, or
// "team:<id>"; null or "" unassigns. It returns a message for values that
// name nobody in org.
func (s *Server) resolveAssignee(ctx context.Context, raw json.RawMessage, org *herald.Organization) (*herald.Assignee, string, error) {
	const unknown = "Unable to resolve actor identifier"
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		return nil, "", nil
	}
	var value any
	if err := json.Unmarshal(raw, &value); err != nil {
		return nil, "", herald.Errorf(herald.EINVALID, "Malformed assignedTo.")
	}
	var v string
	switch value := value.(type) {
	case string:
		v = value
	case float64:
		v = string(raw)
	default:
		return nil, "Expected a string or an integer.", nil
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, "", nil
	}
	if len(v) > maxAssigneeLength {
		return nil, unknown, nil
	}
	if id, ok := strings.CutPrefix(v, "team:"); ok {
		n, ok := parseID(id)
		if !ok {
			return nil, unknown, nil
		}
		t, err := s.store.FindTeamByID(ctx, org.ID, n)
		if herald.ErrorCode(err) == herald.ENOTFOUND {
			return nil, unknown, nil
		} else if err != nil {
			return nil, "", err
		}
		return &herald.Assignee{Type: herald.AssigneeTeam, ID: t.ID, Name: t.Slug}, "", nil
	}
	v = strings.TrimPrefix(v, "user:")
	var u *herald.User
	var err error
	if n, ok := parseID(v); ok {
		u, err = s.store.FindUserByID(ctx, n)
	} else {
		u, err = s.store.FindUserByEmail(ctx, v)
	}
	if herald.ErrorCode(err) == herald.ENOTFOUND {
		return nil, unknown, nil
	} else if err != nil {
		return nil, "", err
	}
	member, err := s.store.IsMember(ctx, org.ID, u.ID)
	if err != nil {
		return nil, "", err
	}
	if !member {
		return nil, "Cannot assign to non-team member", nil
	}
	return &herald.Assignee{Type: herald.AssigneeUser, ID: u.ID, Name: firstNonEmpty(u.Name, u.Email), Email: u.Email}, "", nil
}

// parseID reads a positive integer id.
func parseID(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

// actor returns who a request acts as: the Sentry App when the token is an
// app's own, else the token's user.
func (s *Server) actor(ctx context.Context, a *auth) (herald.Actor, error) {
	app, err := s.store.FindAppByProxyUser(ctx, a.userID())
	switch herald.ErrorCode(err) {
	case "":
		return herald.Actor{App: app}, nil
	case herald.ENOTFOUND:
		return herald.Actor{User: a.token.User}, nil
	}
	return herald.Actor{}, err
}

// bulkUpdateJSON is the answer to a bulk update: the fields it set.
type bulkUpdateJSON struct {
	Status        *string                `json:"status,omitempty"`
	Substatus     *string                `json:"substatus,omitempty"`
	StatusDetails *webhook.StatusDetails `json:"statusDetails,omitempty"`
	AssignedTo    *webhook.AssigneeActor `json:"assignedTo,omitempty"`
}

// handleBulkUpdateIssues answers PUT /api/0/projects/{org}/{project}/issues/,
// what `sentry-cli issues resolve|mute|unresolve` sends: the issues named by
// ?id= (repeatable), else those whose status is ?status=, else those ?query=
// selects by status, else all (at most 1000), get the body's status and/or
// assignedTo. It answers 204 when no issue matched, else the fields set.
func (s *Server) handleBulkUpdateIssues(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, err := s.project(r, a)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	sel := herald.IssueSelection{ProjectID: p.ID}
	if len(q["id"]) > herald.MaxBulkIssues {
		return herald.Errorf(herald.EINVALID, "Too many ids: at most %d.", herald.MaxBulkIssues)
	}
	for _, v := range q["id"] {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return herald.Errorf(herald.EINVALID, "Invalid id: %q.", v)
		}
		sel.IDs = append(sel.IDs, id)
	}
	if len(sel.IDs) == 0 {
		switch st := q.Get("status"); {
		case st != "":
			if st == "muted" || st == "archived" {
				st = herald.IssueIgnored
			}
			if !slices.Contains([]string{herald.IssueResolved, herald.IssueIgnored, herald.IssueUnresolved}, st) {
				return herald.Errorf(herald.EINVALID, "Invalid status: %q.", q.Get("status"))
			}
			sel.Statuses = []string{st}
		case q.Get("query") != "":
			parsed, err := herald.ParseIssueQuery(q.Get("query"))
			if err != nil {
				return err
			}
			sel.Statuses = parsed.Statuses
		}
	}
	var in issueUpdateInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	upd, err := s.issueUpdate(ctx, &in, p.Organization)
	if err != nil {
		return err
	}
	actor, err := s.actor(ctx, a)
	if err != nil {
		return err
	}
	issues, err := s.changes.UpdateIssues(ctx, sel, upd, actor)
	if err != nil {
		return err
	}
	if len(issues) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	out := bulkUpdateJSON{Status: upd.Status}
	if upd.Status != nil {
		out.StatusDetails = webhook.NewStatusDetails(&herald.Issue{Status: *upd.Status, Resolution: upd.Resolution})
		if *upd.Status == herald.IssueIgnored {
			out.Substatus = upd.Substatus
		}
	}
	if upd.AssignedTo != nil {
		out.AssignedTo = webhook.NewAssigneeActor(*upd.AssignedTo)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// issue loads the issue named by the {issue_id} path value (an id or a
// short id) in the {org} organization, with its project.
func (s *Server) issue(r *http.Request, a *auth) (*herald.Project, *herald.Issue, error) {
	org, err := s.organization(r, a)
	if err != nil {
		return nil, nil, err
	}
	id := r.PathValue("issue_id")
	if !herald.ValidID(id) {
		return nil, nil, herald.Errorf(herald.ENOTFOUND, msgNotFound)
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
	if p.Organization == nil {
		p.Organization = org
	}
	return p, is, nil
}

// handleGetIssue answers GET /api/0/organizations/{org}/issues/{issue_id}/.
func (s *Server) handleGetIssue(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, is, err := s.issue(r, a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.newIssueJSON(r, p, is))
	return nil
}

// handleUpdateIssue answers PUT /api/0/organizations/{org}/issues/{issue_id}/
// {"status"?, "assignedTo"?} with the issue as it is now.
func (s *Server) handleUpdateIssue(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, is, err := s.issue(r, a)
	if err != nil {
		return err
	}
	var in issueUpdateInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	upd, err := s.issueUpdate(ctx, &in, p.Organization)
	if err != nil {
		return err
	}
	actor, err := s.actor(ctx, a)
	if err != nil {
		return err
	}
	issues, err := s.changes.UpdateIssues(ctx, herald.IssueSelection{ProjectID: p.ID, IDs: []int64{is.ID}}, upd, actor)
	if err != nil {
		return err
	}
	if len(issues) == 0 {
		return herald.Errorf(herald.ENOTFOUND, msgNotFound)
	}
	writeJSON(w, http.StatusOK, s.newIssueJSON(r, p, issues[0]))
	return nil
}

// handleDeleteIssue answers DELETE /api/0/organizations/{org}/issues/{issue_id}/
// with 202, as Sentry does, once the issue and its events are gone.
func (s *Server) handleDeleteIssue(w http.ResponseWriter, r *http.Request, a *auth) error {
	_, is, err := s.issue(r, a)
	if err != nil {
		return err
	}
	if err := s.store.DeleteIssue(r.Context(), is.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// eventJSON is Sentry's event serializer, filled from what Herald stores.
type eventJSON struct {
	ID           string            `json:"id"`
	EventID      string            `json:"eventID"`
	GroupID      string            `json:"groupID"`
	ProjectID    string            `json:"projectID"`
	Title        string            `json:"title"`
	Message      string            `json:"message"`
	Culprit      string            `json:"culprit"`
	Platform     string            `json:"platform"`
	Type         string            `json:"type"`
	Metadata     json.RawMessage   `json:"metadata"`
	DateCreated  string            `json:"dateCreated"`
	DateReceived string            `json:"dateReceived"`
	Tags         []tagJSON         `json:"tags"`
	Entries      []entryJSON       `json:"entries"`
	Contexts     json.RawMessage   `json:"contexts"`
	Context      json.RawMessage   `json:"context"`
	User         json.RawMessage   `json:"user"`
	SDK          json.RawMessage   `json:"sdk"`
	Fingerprints []string          `json:"fingerprints"`
	Errors       []json.RawMessage `json:"errors"`
	Size         int               `json:"size"`
	Release      *releaseJSON      `json:"release"`
	Environment  *string           `json:"environment"`
	Location     *string           `json:"location"`
}

type tagJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type entryJSON struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

type releaseJSON struct {
	Version string `json:"version"`
}

// entryKeys maps keys of a stored event to the type of the entry Sentry
// shows them as, in Sentry's order.
var entryKeys = []struct{ key, entry string }{
	{"exception", "exception"},
	{"logentry", "message"},
	{"request", "request"},
	{"breadcrumbs", "breadcrumbs"},
	{"threads", "threads"},
}

// newEventJSON serializes event e.
func newEventJSON(e *herald.Event) *eventJSON {
	var data map[string]json.RawMessage
	_ = json.Unmarshal(e.Data, &data)
	raw := func(k, fallback string) json.RawMessage {
		if v, ok := data[k]; ok && len(v) > 0 {
			return v
		}
		return json.RawMessage(fallback)
	}
	out := &eventJSON{
		ID:           e.ID,
		EventID:      e.ID,
		GroupID:      strconv.FormatInt(e.IssueID, 10),
		ProjectID:    strconv.FormatInt(e.ProjectID, 10),
		Title:        e.Title,
		Message:      e.Message,
		Culprit:      e.Culprit,
		Platform:     e.Platform,
		Type:         "default",
		Metadata:     raw("metadata", "{}"),
		DateCreated:  herald.FormatTime(e.Timestamp),
		DateReceived: herald.FormatTime(e.Received),
		Tags:         []tagJSON{},
		Entries:      []entryJSON{},
		Contexts:     raw("contexts", "{}"),
		Context:      raw("extra", "{}"),
		User:         raw("user", "null"),
		SDK:          raw("sdk", "null"),
		Fingerprints: []string{e.GroupHash},
		Errors:       []json.RawMessage{},
		Size:         len(e.Data),
		Environment:  nullString(e.Environment),
	}
	if e.Type != "" {
		out.Type = "error"
	}
	for _, t := range e.Tags {
		out.Tags = append(out.Tags, tagJSON{Key: t.Key, Value: t.Value})
	}
	for _, k := range entryKeys {
		if v, ok := data[k.key]; ok && len(v) > 0 && string(v) != "null" {
			out.Entries = append(out.Entries, entryJSON{Type: k.entry, Data: v})
		}
	}
	if e.Release != "" {
		out.Release = &releaseJSON{Version: e.Release}
	}
	var loc string
	if json.Unmarshal(raw("location", "null"), &loc) == nil && loc != "" {
		out.Location = &loc
	}
	return out
}

// handleGetEvent answers GET /api/0/projects/{org}/{project}/events/{event_id}/.
// The id may be 32 hex characters or a dashed UUID.
func (s *Server) handleGetEvent(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, err := s.project(r, a)
	if err != nil {
		return err
	}
	id := strings.ToLower(strings.ReplaceAll(r.PathValue("event_id"), "-", ""))
	if len(id) != 32 || !herald.ValidID(id) {
		return herald.Errorf(herald.ENOTFOUND, msgNotFound)
	}
	e, err := s.store.FindEventByID(r.Context(), p.ID, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newEventJSON(e))
	return nil
}
