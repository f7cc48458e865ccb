package herald

import (
	"context"
	"time"
)

// Event levels, least to most severe.
var Levels = []string{"debug", "info", "warning", "error", "fatal"}

// Tag is one key/value tag of an event.
type Tag struct {
	Key   string
	Value string
}

// Pair returns the tag's key and value.
func (t Tag) Pair() (key, value string) { return t.Key, t.Value }

// Event is one error or message received from an SDK, normalized.
type Event struct {
	// ID is the event id as 32 lowercase hex characters.
	ID        string
	ProjectID int64
	IssueID   int64
	// Timestamp is when the event happened, per the SDK; Received is when
	// Herald accepted it.
	Timestamp   time.Time
	Received    time.Time
	Level       string
	Platform    string
	Message     string
	Title       string
	Culprit     string
	Type        string
	Value       string
	Environment string
	Release     string
	Tags        []Tag
	// UserKey identifies the event's user for unique-user counts ("" if none).
	UserKey string
	// GroupHash is the 32-hex grouping hash the event's issue is found by.
	GroupHash string
	// Data is the normalized event as compact JSON, what the API and the
	// error.created payload show.
	Data []byte
}

// Issue statuses.
const (
	IssueUnresolved = "unresolved"
	IssueResolved   = "resolved"
	IssueIgnored    = "ignored"
)

// Issue is a group of events that share a grouping hash.
type Issue struct {
	ID        int64
	ProjectID int64
	// ShortID is the project slug, uppercased, and a per-project number in
	// base 36, such as "WEB-1A".
	ShortID   string
	Hash      string
	Title     string
	Culprit   string
	Level     string
	Status    string
	Substatus string
	Type      string
	Value     string
	Platform  string
	FirstSeen time.Time
	LastSeen  time.Time
	Count     int64
	UserCount int64

	// AssignedTo is the issue's assignee, nil when unassigned, and
	// NumComments its number of comments; both are loaded by the
	// IssueService methods (and by SaveEvents for regressed issues).
	AssignedTo  *Assignee
	NumComments int64

	// Resolution is how a resolved issue was resolved (nil: now), kept
	// until the issue leaves resolved (unresolved, ignored or regressed).
	Resolution *Resolution
	// Unhandled reports that the issue's latest event, by its timestamp,
	// was unhandled (an exception whose mechanism says handled: false),
	// Sentry's isUnhandled.
	Unhandled bool
}

// EventService reads events and the issues they group into. Events are
// written by the ChangeService, with what they cause.
type EventService interface {
	// FindEventByID returns a project's event or ENOTFOUND.
	FindEventByID(ctx context.Context, projectID int64, id string) (*Event, error)
	// FindLatestEvent returns the issue's most recently received event, or
	// ENOTFOUND when it has none (retention removed them).
	FindLatestEvent(ctx context.Context, issueID int64) (*Event, error)
	// FindIssueByID returns the issue or ENOTFOUND (also for a deleted
	// issue).
	FindIssueByID(ctx context.Context, id int64) (*Issue, error)
}
