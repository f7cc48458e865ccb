package sentryhook

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ServiceHookPayload is the body of a Service Hook delivery (event.created
// and event.alert): the seed's keys, with no envelope, plus the keys of
// Sentry's legacy webhooks plugin (project_slug, logger, level), so that
// receivers written for that plugin's body read Herald's too.
type ServiceHookPayload struct {
	// ID is the issue id.
	ID string `json:"id"`
	// Project is the project slug and ProjectName its name. ProjectSlug is
	// the slug again, the legacy plugin's key.
	Project     string `json:"project"`
	ProjectName string `json:"project_name"`
	ProjectSlug string `json:"project_slug"`
	Culprit     string `json:"culprit"`
	// URL is the web page of the issue.
	URL     string `json:"url"`
	Message string `json:"message"`
	// TriggeringRules are the names of the alert rules that fired; empty
	// for event.created.
	TriggeringRules []string         `json:"triggering_rules"`
	Event           ServiceHookEvent `json:"event"`
	// Logger is the event's logger, empty when it has none (Sentry's
	// plugin sends null then). Level is the event's level.
	Logger string `json:"logger"`
	Level  string `json:"level"`
}

// UnmarshalJSON reads a Service Hook body. Besides the seed's shape, it
// reads the one Sentry's own service hook task sends, whose "project" is an
// object ({"slug", "name"}) and whose event names its id "eventID" or "id":
// Project, ProjectName and Event.EventID are filled from those.
func (p *ServiceHookPayload) UnmarshalJSON(b []byte) error {
	type plain ServiceHookPayload
	v := struct {
		*plain
		Project json.RawMessage `json:"project"`
	}{plain: (*plain)(p)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch project := bytes.TrimSpace(v.Project); {
	case len(project) == 0 || string(project) == "null":
	case project[0] == '"':
		return json.Unmarshal(project, &p.Project)
	case project[0] == '{':
		var o struct{ Slug, Name string }
		if err := json.Unmarshal(project, &o); err != nil {
			return errors.New(`"project" is neither a slug nor a {"slug", "name"} object`)
		}
		p.Project = o.Slug
		if p.ProjectName == "" {
			p.ProjectName = o.Name
		}
	default:
		return errors.New(`"project" is neither a slug nor a {"slug", "name"} object`)
	}
	return nil
}

// ServiceHookEvent is the event of a Service Hook payload: the seed's keys
// (event_id, level, tags, platform, datetime), then the rest of the event as
// it was stored, whose shape varies by SDK beyond the fields below; Raw
// holds all of it. EventID is the receiver's idempotency key.
type ServiceHookEvent struct {
	EventID  string `json:"event_id"`
	Level    string `json:"level"`
	Tags     Tags   `json:"tags"`
	Platform string `json:"platform"`
	Datetime string `json:"datetime"`
	// ID is the event id again, as the legacy webhooks plugin sends it.
	ID          string `json:"id"`
	Title       string `json:"title"`
	Message     string `json:"message"`
	Culprit     string `json:"culprit"`
	Environment string `json:"environment"`
	Release     string `json:"release"`
	Logger      string `json:"logger"`
	// Type is the event type, "error" or "default".
	Type      string          `json:"type"`
	Metadata  Metadata        `json:"metadata"`
	Exception *Exception      `json:"exception"`
	User      json.RawMessage `json:"user,omitempty"`
	Contexts  json.RawMessage `json:"contexts,omitempty"`
	Request   json.RawMessage `json:"request,omitempty"`
	SDK       *SDK            `json:"sdk,omitempty"`

	// Raw is the whole event object as it was received.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON reads a Service Hook event, taking its id from "eventID"
// or "id" when there is no "event_id", and keeps its raw bytes in Raw.
func (e *ServiceHookEvent) UnmarshalJSON(b []byte) error {
	type plain ServiceHookEvent
	v := struct {
		*plain
		EventIDCamel string `json:"eventID"`
	}{plain: (*plain)(e)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if e.EventID == "" {
		e.EventID = cmp.Or(v.EventIDCamel, e.ID)
	}
	e.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// Tags are an event's tags as [key, value] pairs, in the sender's order.
type Tags [][2]string

// UnmarshalJSON reads tags as [key, value] pairs, the form webhooks use, or
// as {"key", "value"} objects, the form of Sentry's event API; a null value
// reads as "".
func (t *Tags) UnmarshalJSON(b []byte) error {
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil {
		return err
	}
	if items == nil {
		*t = nil
		return nil
	}
	tags := make(Tags, 0, len(items))
	for i, item := range items {
		var kv [2]string
		var o struct{ Key, Value *string }
		var pair []*string
		switch {
		case len(item) > 0 && item[0] == '{' && json.Unmarshal(item, &o) == nil:
			for j, p := range []*string{o.Key, o.Value} {
				if p != nil {
					kv[j] = *p
				}
			}
		case json.Unmarshal(item, &pair) == nil:
			for j := 0; j < len(pair) && j < 2; j++ {
				if pair[j] != nil {
					kv[j] = *pair[j]
				}
			}
		default:
			return fmt.Errorf("tag %d is neither a [key, value] pair of strings nor a {key, value} object", i)
		}
		tags = append(tags, kv)
	}
	*t = tags
	return nil
}

// Get returns the value of the first tag named key.
func (t Tags) Get(key string) (string, bool) {
	for _, kv := range t {
		if kv[0] == key {
			return kv[1], true
		}
	}
	return "", false
}

// IssuePayload is the data of the issue resource's events. ResolutionType
// is set on issue.resolved and Assignee on issue.assigned.
type IssuePayload struct {
	// ResolutionType is "now", "in_next_release", "in_release",
	// "in_commit" or "with_commit".
	ResolutionType string    `json:"resolution_type,omitempty"`
	Assignee       *Assignee `json:"assignee,omitempty"`
	Issue          Issue     `json:"issue"`
}

// Assignee is who an issue was assigned to.
type Assignee struct {
	// Type is "user" or "team".
	Type string `json:"type"`
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// Email is set for users only.
	Email string `json:"email,omitempty"`
}

// Issue is an issue (a group of events) as webhook payloads describe it.
type Issue struct {
	ID      string `json:"id"`
	ShortID string `json:"shortId"`
	Title   string `json:"title"`
	Culprit string `json:"culprit"`
	Level   string `json:"level"`
	// Status is "unresolved", "resolved" or "ignored"; Substatus refines it
	// ("new", "regressed", "escalating", "ongoing",
	// "archived_until_escalating", ...) and is empty when null.
	Status    string `json:"status"`
	Substatus string `json:"substatus"`
	FirstSeen string `json:"firstSeen"`
	LastSeen  string `json:"lastSeen"`
	// Count is the number of events. Sentry and Herald send it as a string
	// ("12"); older Herald releases sent a number. Both are read.
	Count     int64        `json:"count"`
	UserCount int64        `json:"userCount"`
	Project   IssueProject `json:"project"`
	// URL is the issue's API URL, WebURL its web page. Sentry itself sets
	// them on issue.created only.
	URL           string          `json:"url,omitempty"`
	WebURL        string          `json:"web_url,omitempty"`
	ProjectURL    string          `json:"project_url,omitempty"`
	Permalink     string          `json:"permalink"`
	Platform      string          `json:"platform"`
	Type          string          `json:"type"`
	Metadata      Metadata        `json:"metadata"`
	NumComments   int64           `json:"numComments"`
	AssignedTo    *AssignedTo     `json:"assignedTo"`
	StatusDetails json.RawMessage `json:"statusDetails,omitempty"`
	IsPublic      bool            `json:"isPublic"`
	IsBookmarked  bool            `json:"isBookmarked"`
	IsSubscribed  bool            `json:"isSubscribed"`
	HasSeen       bool            `json:"hasSeen"`
	// IssueType and IssueCategory are Sentry's type and category of the
	// issue: "error" and "error" for issues of errors and messages.
	IssueType     string `json:"issueType"`
	IssueCategory string `json:"issueCategory"`
	// Priority is "high", "medium" or "low"; PriorityLockedAt is when a
	// person set it, empty while it is the one computed.
	Priority         string `json:"priority"`
	PriorityLockedAt string `json:"priorityLockedAt"`
	// IsUnhandled reports that the issue's latest event was not handled
	// by the application (an exception mechanism says handled: false).
	IsUnhandled bool `json:"isUnhandled"`
}

// StatusDetails is what an issue's statusDetails says about how it was
// resolved. It is empty for an issue resolved "now" and for unresolved
// ones; ignored issues may carry other keys, which StatusDetails leaves
// out.
type StatusDetails struct {
	// InNextRelease is set when the issue is resolved in the next release.
	InNextRelease bool `json:"inNextRelease"`
	// InRelease is the version the issue is resolved in.
	InRelease string `json:"inRelease"`
	// InCommit is the commit the issue is resolved in.
	InCommit *Commit `json:"inCommit"`
}

// Commit is a commit that resolves an issue.
type Commit struct {
	// ID is the commit's id in its repository, such as a SHA.
	ID         string `json:"id"`
	Repository struct {
		Name string `json:"name"`
	} `json:"repository"`
}

// Details reads the issue's statusDetails (StatusDetails holds it as
// sent); an issue without one has empty details.
func (is *Issue) Details() (StatusDetails, error) {
	var d StatusDetails
	if len(is.StatusDetails) == 0 || string(is.StatusDetails) == "null" {
		return d, nil
	}
	if err := json.Unmarshal(is.StatusDetails, &d); err != nil {
		return StatusDetails{}, fmt.Errorf("issue statusDetails: %w", err)
	}
	return d, nil
}

// UnmarshalJSON reads an issue whose count is a number or a string holding
// one.
func (is *Issue) UnmarshalJSON(b []byte) error {
	type plain Issue
	v := struct {
		*plain
		Count json.RawMessage `json:"count"`
	}{plain: (*plain)(is)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	n, err := flexInt(v.Count)
	if err != nil {
		return fmt.Errorf("issue count: %w", err)
	}
	is.Count = n
	return nil
}

// IssueProject is the project an issue belongs to.
type IssueProject struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Slug string `json:"slug"`
	// Platform is the project's platform, empty when it has none.
	Platform string `json:"platform"`
}

// Metadata describes what an issue or event is about.
type Metadata struct {
	Type     string `json:"type,omitempty"`
	Value    string `json:"value,omitempty"`
	Filename string `json:"filename,omitempty"`
	Title    string `json:"title,omitempty"`
}

// AssignedTo is an issue's assignee as the issue shows it (the id is a
// string here, unlike Assignee's).
type AssignedTo struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
}

// ErrorPayload is the data of error.created.
type ErrorPayload struct {
	Error Event `json:"error"`
}

// Event is an error event as Sentry App payloads describe it (error.created
// and event_alert.triggered): the event as stored plus links to it. Its
// shape varies by SDK beyond the fields below; Raw holds all of it.
type Event struct {
	EventID string `json:"event_id"`
	// Project is the numeric project id.
	Project     int64  `json:"project"`
	Release     string `json:"release"`
	Dist        string `json:"dist"`
	Platform    string `json:"platform"`
	Message     string `json:"message"`
	Datetime    string `json:"datetime"`
	Tags        Tags   `json:"tags"`
	Culprit     string `json:"culprit"`
	Environment string `json:"environment"`
	Level       string `json:"level"`
	Logger      string `json:"logger"`
	Location    string `json:"location"`
	Title       string `json:"title"`
	// Type is the event type, "error" or "default".
	Type        string     `json:"type"`
	Metadata    Metadata   `json:"metadata"`
	Fingerprint []string   `json:"fingerprint"`
	Exception   *Exception `json:"exception"`
	// Timestamp and Received are unix seconds.
	Timestamp float64         `json:"timestamp"`
	Received  float64         `json:"received"`
	User      json.RawMessage `json:"user,omitempty"`
	Contexts  json.RawMessage `json:"contexts,omitempty"`
	Request   json.RawMessage `json:"request,omitempty"`
	SDK       *SDK            `json:"sdk,omitempty"`
	// URL is the event's API URL, WebURL its web page, IssueURL the API
	// URL of its issue and IssueID the issue's id.
	URL      string `json:"url"`
	WebURL   string `json:"web_url"`
	IssueURL string `json:"issue_url"`
	IssueID  string `json:"issue_id"`

	// Raw is the whole event object as it was received.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON reads an event and keeps its raw bytes in Raw.
func (e *Event) UnmarshalJSON(b []byte) error {
	type plain Event
	if err := json.Unmarshal(b, (*plain)(e)); err != nil {
		return err
	}
	e.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// Exception lists an event's exceptions, the innermost last.
type Exception struct {
	Values []ExceptionValue `json:"values"`
}

// ExceptionValue is one exception.
type ExceptionValue struct {
	Type       string          `json:"type"`
	Value      string          `json:"value"`
	Module     string          `json:"module,omitempty"`
	Mechanism  json.RawMessage `json:"mechanism,omitempty"`
	Stacktrace *Stacktrace     `json:"stacktrace,omitempty"`
}

// Stacktrace holds frames, oldest first: the frame that raised is last.
type Stacktrace struct {
	Frames []Frame `json:"frames"`
}

// Frame is one stack frame.
type Frame struct {
	Filename    string `json:"filename"`
	Function    string `json:"function"`
	Module      string `json:"module"`
	AbsPath     string `json:"abs_path"`
	Lineno      int    `json:"lineno"`
	Colno       int    `json:"colno"`
	InApp       bool   `json:"in_app"`
	ContextLine string `json:"context_line"`
}

// SDK names the SDK that sent an event.
type SDK struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// CommentPayload is the data of comment.created, comment.updated and
// comment.deleted. Timestamp is when the comment was first written.
type CommentPayload struct {
	// CommentID and IssueID are numbers on the wire; strings holding one
	// are read too.
	CommentID   int64  `json:"comment_id"`
	IssueID     int64  `json:"issue_id"`
	ProjectSlug string `json:"project_slug"`
	Timestamp   string `json:"timestamp"`
	// Comment is the text: the new text on comment.updated, the deleted
	// text on comment.deleted.
	Comment string `json:"comment"`
}

// UnmarshalJSON reads a comment payload whose ids are numbers or strings
// holding one.
func (c *CommentPayload) UnmarshalJSON(b []byte) error {
	type plain CommentPayload
	v := struct {
		*plain
		CommentID json.RawMessage `json:"comment_id"`
		IssueID   json.RawMessage `json:"issue_id"`
	}{plain: (*plain)(c)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	var err error
	if c.CommentID, err = flexInt(v.CommentID); err != nil {
		return fmt.Errorf("comment_id: %w", err)
	}
	if c.IssueID, err = flexInt(v.IssueID); err != nil {
		return fmt.Errorf("issue_id: %w", err)
	}
	return nil
}

// InstallationPayload is the data of installation.created and
// installation.deleted.
type InstallationPayload struct {
	Installation InstallationDetails `json:"installation"`
}

// InstallationDetails describes an installation of a Sentry App.
type InstallationDetails struct {
	App          InstallationApp          `json:"app"`
	Organization InstallationOrganization `json:"organization"`
	UUID         string                   `json:"uuid"`
	// Status is "pending" until the code is exchanged for a token, then
	// "installed". Act on the delivery's action, not on the status.
	Status string `json:"status"`
	// Code is the grant code a public integration exchanges for a token.
	// It is sent whenever the installation has an unexchanged grant: on
	// installation.created, and on installation.deleted of an installation
	// still pending.
	Code string `json:"code,omitempty"`
}

// InstallationOrganization is the organization an app is installed on.
type InstallationOrganization struct {
	Slug string `json:"slug"`
	// ID is the organization's id, a number.
	ID int64 `json:"id"`
}

// InstallationApp names the app an installation is of.
type InstallationApp struct {
	UUID string `json:"uuid"`
	Slug string `json:"slug"`
}

// MetricAlertPayload is the data of metric_alert.open, .warning, .critical
// and .resolved.
type MetricAlertPayload struct {
	MetricAlert      Incident `json:"metric_alert"`
	DescriptionText  string   `json:"description_text"`
	DescriptionTitle string   `json:"description_title"`
	// WebURL is the alert rule's web page for this incident.
	WebURL string `json:"web_url"`
}

// Incident statuses, Incident.Status.
const (
	IncidentOpen     = 1
	IncidentClosed   = 2
	IncidentWarning  = 10
	IncidentCritical = 20
)

// Incident is a metric alert incident.
type Incident struct {
	ID             string    `json:"id"`
	Identifier     string    `json:"identifier"`
	OrganizationID string    `json:"organization_id"`
	Projects       []string  `json:"projects"`
	AlertRule      AlertRule `json:"alert_rule"`
	// Activities is the incident's history when Sentry expands it, which
	// webhooks never do: it is null in metric_alert payloads.
	Activities []json.RawMessage `json:"activities"`
	// Status is one of IncidentOpen, IncidentClosed, IncidentWarning and
	// IncidentCritical.
	Status       int    `json:"status"`
	StatusMethod int    `json:"status_method"`
	Type         int    `json:"type"`
	Title        string `json:"title"`
	DateStarted  string `json:"date_started"`
	DateDetected string `json:"date_detected"`
	DateCreated  string `json:"date_created"`
	// DateClosed is empty until the incident is resolved.
	DateClosed string `json:"date_closed"`
}

// AlertRule is the metric alert rule of an incident.
type AlertRule struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	OrganizationID string `json:"organization_id"`
	Status         int    `json:"status"`
	// QueryType is Sentry's query type: 0 for errors, 1 for performance,
	// 2 for crash rates.
	QueryType     int    `json:"query_type"`
	Dataset       string `json:"dataset"`
	Query         string `json:"query"`
	Aggregate     string `json:"aggregate"`
	ThresholdType int    `json:"threshold_type"`
	// ResolveThreshold is nil when the rule resolves below its lowest
	// trigger.
	ResolveThreshold *float64 `json:"resolve_threshold"`
	// TimeWindow and Resolution are minutes.
	TimeWindow         float64        `json:"time_window"`
	Environment        string         `json:"environment"`
	Resolution         float64        `json:"resolution"`
	ThresholdPeriod    int            `json:"threshold_period"`
	Triggers           []AlertTrigger `json:"triggers"`
	Projects           []string       `json:"projects"`
	IncludeAllProjects bool           `json:"include_all_projects"`
	// Owner is the rule's owner, "user:<id>" or "team:<id>"; empty when
	// it has none.
	Owner string `json:"owner"`
	// OriginalAlertRuleID is the id of the rule this one is a snapshot
	// of, as sent (a number); null for rules that are not snapshots.
	OriginalAlertRuleID json.RawMessage `json:"original_alert_rule_id"`
	// ComparisonDelta is the minutes a percent-change rule compares with;
	// nil for other rules.
	ComparisonDelta *float64 `json:"comparison_delta"`
	DateModified    string   `json:"date_modified"`
	DateCreated     string   `json:"date_created"`
	CreatedBy       *User    `json:"created_by"`
	Description     string   `json:"description"`
	// Sensitivity and Seasonality configure anomaly detection; empty for
	// other rules.
	Sensitivity string `json:"sensitivity"`
	Seasonality string `json:"seasonality"`
	// DetectionType is "static", "percent" or "dynamic".
	DetectionType string `json:"detection_type"`
	// EventTypes are the event types the rule counts, such as "error" and
	// "default".
	EventTypes []string `json:"event_types"`
}

// AlertTrigger is a threshold of a metric alert rule.
type AlertTrigger struct {
	ID          string `json:"id"`
	AlertRuleID string `json:"alert_rule_id"`
	// Label is "critical" or "warning".
	Label            string        `json:"label"`
	ThresholdType    int           `json:"threshold_type"`
	AlertThreshold   float64       `json:"alert_threshold"`
	ResolveThreshold *float64      `json:"resolve_threshold"`
	DateCreated      string        `json:"date_created"`
	Actions          []AlertAction `json:"actions"`
}

// AlertAction is what a trigger does when it fires.
type AlertAction struct {
	ID                 string `json:"id"`
	AlertRuleTriggerID string `json:"alert_rule_trigger_id"`
	Type               string `json:"type"`
	TargetType         string `json:"target_type"`
	// TargetIdentifier is a number or a string, depending on the type.
	TargetIdentifier json.RawMessage `json:"target_identifier"`
	InputChannelID   json.RawMessage `json:"input_channel_id"`
	IntegrationID    *int64          `json:"integration_id"`
	SentryAppID      *int64          `json:"sentry_app_id"`
	DateCreated      string          `json:"date_created"`
	Desc             string          `json:"desc"`
	// Priority is the priority the action notifies with, empty when it
	// has none.
	Priority string    `json:"priority"`
	Settings []Setting `json:"settings,omitempty"`
	// SentryAppInstallationUUID is the installation of the action's app on
	// the organization: compare it with the delivery's installation to
	// find the settings meant for you. Empty when the app is not installed.
	SentryAppInstallationUUID string `json:"sentry_app_installation_uuid"`
}

// Setting is one name/value setting of an alert action.
type Setting struct {
	Name string `json:"name"`
	// Value is a string, number, boolean or null as sent.
	Value any `json:"value"`
}

// User is a person named in a payload.
type User struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
}

// EventAlertPayload is the data of event_alert.triggered.
type EventAlertPayload struct {
	Event Event `json:"event"`
	// TriggeredRule is the name of the issue alert rule that fired.
	TriggeredRule string `json:"triggered_rule"`
	// IssueAlert names the rule and the action's settings. Herald sends it
	// on every delivery; Sentry only to apps that offer an alert rule
	// action, so it may be nil.
	IssueAlert *IssueAlert `json:"issue_alert,omitempty"`
}

// IssueAlert describes the alert rule action that targeted the app.
type IssueAlert struct {
	// ID is the issue alert rule's id, Title its name.
	ID    int64  `json:"id"`
	Title string `json:"title"`
	// SentryAppID is the id of the app the action targets.
	SentryAppID int64     `json:"sentry_app_id"`
	Settings    []Setting `json:"settings"`
}

// flexInt reads a JSON number, a string holding an integer, or null (0).
func flexInt(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, fmt.Errorf("%s is not an integer", raw)
		}
		if s == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not an integer", s)
		}
		return n, nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		if len(raw) > 32 {
			raw = append(raw[:32:32], "..."...)
		}
		return 0, fmt.Errorf("%s is not an integer", raw)
	}
	return n, nil
}

// timeLayouts are the timestamp forms Sentry payloads use.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
}

// ParseTime reads a payload timestamp: RFC 3339 (with or without fraction,
// "Z" or an offset), or the same without a zone, which is UTC.
func ParseTime(s string) (time.Time, error) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("sentryhook: %q is not a timestamp", s)
}
