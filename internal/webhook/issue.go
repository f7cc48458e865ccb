package webhook

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/herald-dev/herald"
)

// issuePayload is the Issue of issue.* bodies: the seed's keys first, then
// the ones Sentry's group serializer adds, in the reference payloads' order,
// then Sentry's priority and handled fields.
type issuePayload struct {
	ID                  string         `json:"id"`
	ShortID             string         `json:"shortId"`
	Title               string         `json:"title"`
	Culprit             string         `json:"culprit"`
	Level               string         `json:"level"`
	Status              string         `json:"status"`
	FirstSeen           string         `json:"firstSeen"`
	LastSeen            string         `json:"lastSeen"`
	Count               string         `json:"count"`
	Project             issueProject   `json:"project"`
	URL                 string         `json:"url"`
	WebURL              string         `json:"web_url"`
	ProjectURL          string         `json:"project_url"`
	Substatus           *string        `json:"substatus"`
	StatusDetails       *StatusDetails `json:"statusDetails"`
	ShareID             *string        `json:"shareId"`
	Permalink           *string        `json:"permalink"`
	Logger              *string        `json:"logger"`
	IsPublic            bool           `json:"isPublic"`
	Platform            string         `json:"platform"`
	Type                string         `json:"type"`
	Metadata            any            `json:"metadata"`
	NumComments         int64          `json:"numComments"`
	AssignedTo          *AssigneeActor `json:"assignedTo"`
	IsBookmarked        bool           `json:"isBookmarked"`
	IsSubscribed        bool           `json:"isSubscribed"`
	SubscriptionDetails *struct{}      `json:"subscriptionDetails"`
	HasSeen             bool           `json:"hasSeen"`
	Annotations         []string       `json:"annotations"`
	UserCount           int64          `json:"userCount"`
	IssueType           string         `json:"issueType"`
	IssueCategory       string         `json:"issueCategory"`
	Priority            string         `json:"priority"`
	PriorityLockedAt    *string        `json:"priorityLockedAt"`
	IsUnhandled         bool           `json:"isUnhandled"`
}

// issueProject is the project of an Issue: the seed's three keys and
// Sentry's platform (null when the project has none).
type issueProject struct {
	ID       string  `json:"id"`
	Name     string  `json:"name"`
	Slug     string  `json:"slug"`
	Platform *string `json:"platform"`
}

// Sentry's issue type and category of every issue Herald groups: its
// ErrorGroupType, whether the events are exceptions or messages.
const (
	ErrorIssueType     = "error"
	ErrorIssueCategory = "error"
)

// Issue priorities, Sentry's PriorityLevel names.
const (
	PriorityLow    = "low"
	PriorityMedium = "medium"
	PriorityHigh   = "high"
)

// IssuePriority returns the priority Sentry gives a new issue of level when
// no severity score is at hand: low for debug and info, medium for
// warning, high for error and fatal, medium for any other level.
func IssuePriority(level string) string {
	switch level {
	case "debug", "info":
		return PriorityLow
	case "error", "fatal":
		return PriorityHigh
	}
	return PriorityMedium
}

// StatusDetails is Sentry's statusDetails of an issue, as its group
// serializer shows it: for a resolved issue, how it was resolved
// ({"inNextRelease": true}, {"inRelease": version} or {"inCommit":
// commit}); otherwise empty.
type StatusDetails struct {
	InNextRelease bool        `json:"inNextRelease,omitempty"`
	InRelease     string      `json:"inRelease,omitempty"`
	InCommit      *CommitJSON `json:"inCommit,omitempty"`
}

// CommitJSON is the commit of an inCommit resolution: the part of Sentry's
// commit serializer Herald knows, the commit's id and its repository's
// name.
type CommitJSON struct {
	ID         string         `json:"id"`
	Repository RepositoryJSON `json:"repository"`
}

// RepositoryJSON names the repository of a commit.
type RepositoryJSON struct {
	Name string `json:"name"`
}

// NewStatusDetails returns the statusDetails of is: its resolution when it
// is resolved, else an empty object.
func NewStatusDetails(is *herald.Issue) *StatusDetails {
	out := &StatusDetails{}
	r := is.Resolution
	if is.Status != herald.IssueResolved || r == nil {
		return out
	}
	switch r.Type {
	case herald.ResolvedInNextRelease:
		out.InNextRelease = true
	case herald.ResolvedInRelease:
		out.InRelease = r.Release
	case herald.ResolvedInCommit:
		out.InCommit = &CommitJSON{ID: r.Commit, Repository: RepositoryJSON{Name: r.Repository}}
	}
	return out
}

// EventUnhandled reports whether e was unhandled: one of its exceptions has
// a mechanism with handled: false, or, when its stored data is not at hand,
// its "handled" tag (which ingest derives from the last exception) is "no".
func EventUnhandled(e *herald.Event) bool {
	if e == nil {
		return false
	}
	if len(e.Data) > 0 && gjson.ValidBytes(e.Data) {
		for _, h := range gjson.GetBytes(e.Data, "exception.values.#.mechanism.handled").Array() {
			if h.Type == gjson.False {
				return true
			}
		}
		return false
	}
	for _, t := range e.Tags {
		if t.Key == "handled" {
			return t.Value == "no"
		}
	}
	return false
}

// errorMetadata is the metadata of an issue of exceptions.
type errorMetadata struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// messageMetadata is the metadata of an issue of log messages.
type messageMetadata struct {
	Title string `json:"title"`
}

// AssigneeActor is Sentry's actor serializer: the assignedTo of an issue,
// with the id as a string.
type AssigneeActor struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
}

// NewAssigneeActor returns the assignedTo form of a, or nil for nil.
func NewAssigneeActor(a *herald.Assignee) *AssigneeActor {
	if a == nil {
		return nil
	}
	out := &AssigneeActor{Type: a.Type, ID: strconv.FormatInt(a.ID, 10), Name: a.Name}
	if a.Type == herald.AssigneeUser {
		out.Email = a.Email
	}
	return out
}

// IssueType returns the issue's type as Sentry names it: "error" for
// issues of exceptions, "default" for issues of messages.
func IssueType(is *herald.Issue) string {
	if is.Type != "" {
		return "error"
	}
	return "default"
}

// IssueMetadata returns the metadata object of an issue: {"type","value"}
// for exceptions, {"title"} for messages.
func IssueMetadata(is *herald.Issue) any {
	if is.Type != "" {
		return errorMetadata{Type: is.Type, Value: is.Value}
	}
	return messageMetadata{Title: is.Title}
}

// newIssuePayload serializes issue is of project p for a webhook body.
func newIssuePayload(p *herald.Project, is *herald.Issue, baseURL string) *issuePayload {
	id := strconv.FormatInt(is.ID, 10)
	projectID := strconv.FormatInt(p.ID, 10)
	out := &issuePayload{
		ID:            id,
		ShortID:       is.ShortID,
		Title:         is.Title,
		Culprit:       is.Culprit,
		Level:         is.Level,
		Status:        is.Status,
		FirstSeen:     herald.FormatTime(is.FirstSeen),
		LastSeen:      herald.FormatTime(is.LastSeen),
		Count:         strconv.FormatInt(is.Count, 10),
		Project:       issueProject{ID: projectID, Name: p.Name, Slug: p.Slug, Platform: projectPlatform(p)},
		URL:           IssueAPIURL(baseURL, p, id),
		WebURL:        IssueWebURL(baseURL, p, id),
		ProjectURL:    orgURL(baseURL, p) + "/issues/?project=" + projectID,
		StatusDetails: NewStatusDetails(is),
		Platform:      firstNonEmpty(is.Platform, p.Platform),
		Type:          IssueType(is),
		Metadata:      IssueMetadata(is),
		NumComments:   is.NumComments,
		AssignedTo:    NewAssigneeActor(is.AssignedTo),
		Annotations:   []string{},
		UserCount:     is.UserCount,
		IssueType:     ErrorIssueType,
		IssueCategory: ErrorIssueCategory,
		Priority:      IssuePriority(is.Level),
		IsUnhandled:   is.Unhandled,
	}
	if is.Substatus != "" && is.Status != herald.IssueResolved {
		sub := is.Substatus
		out.Substatus = &sub
	}
	return out
}

// projectPlatform returns the platform of p, nil (null) when it has none.
func projectPlatform(p *herald.Project) *string {
	if p.Platform == "" {
		return nil
	}
	platform := p.Platform
	return &platform
}

// IssueAPIURL returns the API URL of an issue of project p:
// <baseURL>/api/0/organizations/<org slug>/issues/<issue id>/.
func IssueAPIURL(baseURL string, p *herald.Project, issueID string) string {
	return strings.TrimRight(baseURL, "/") + "/api/0/organizations/" + url.PathEscape(orgSlug(p)) + "/issues/" + url.PathEscape(issueID) + "/"
}

// orgURL returns the web URL of the organization of p.
func orgURL(baseURL string, p *herald.Project) string {
	return strings.TrimRight(baseURL, "/") + "/organizations/" + url.PathEscape(orgSlug(p))
}

// orgSlug names the organization of p by its slug, or by its id when the
// organization is not loaded.
func orgSlug(p *herald.Project) string {
	if p.Organization != nil && p.Organization.Slug != "" {
		return p.Organization.Slug
	}
	return strconv.FormatInt(p.OrganizationID, 10)
}

// issueData is the data of issue.created, issue.ignored and
// issue.unresolved.
type issueData struct {
	Issue *issuePayload `json:"issue"`
}

// resolvedData is the data of issue.resolved: resolution_type (now,
// in_next_release, in_release or in_commit, from the issue's Resolution)
// first, as Sentry adds it before the issue.
type resolvedData struct {
	ResolutionType string        `json:"resolution_type"`
	Issue          *issuePayload `json:"issue"`
}

// assignedData is the data of issue.assigned.
type assignedData struct {
	Assignee *assigneeData `json:"assignee"`
	Issue    *issuePayload `json:"issue"`
}

// assigneeData is the assignee of issue.assigned, in Sentry's key order,
// with the id as a number.
type assigneeData struct {
	Type  string `json:"type"`
	Name  string `json:"name"`
	ID    int64  `json:"id"`
	Email string `json:"email,omitempty"`
}

// IssueData returns the compact JSON "data" of an issue.* event about issue
// is of project p: {"issue"} for issue.created, issue.ignored and
// issue.unresolved; {"resolution_type","issue"} for issue.resolved, the
// type being the issue's Resolution's; {"assignee","issue"} for
// issue.assigned, the assignee being the issue's.
func IssueData(event string, p *herald.Project, is *herald.Issue, baseURL string) []byte {
	issue := newIssuePayload(p, is, baseURL)
	var data any = issueData{Issue: issue}
	switch event {
	case IssueResolved:
		data = resolvedData{ResolutionType: is.Resolution.ResolutionType(), Issue: issue}
	case IssueAssigned:
		d := assignedData{Issue: issue}
		if a := is.AssignedTo; a != nil {
			d.Assignee = &assigneeData{Type: a.Type, Name: a.Name, ID: a.ID}
			if a.Type == herald.AssigneeUser {
				d.Assignee.Email = a.Email
			}
		}
		data = d
	}
	return mustEncode(data)
}

// mustEncode encodes values made only of strings, numbers, booleans and
// lists or objects of them, which cannot fail.
func mustEncode(v any) []byte {
	b, err := encode(v)
	if err != nil {
		panic("webhook: encode payload: " + err.Error())
	}
	return b
}
