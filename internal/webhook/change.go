package webhook

import (
	"time"

	"github.com/herald-dev/herald"
)

// EventChange describes one saved event, what EventSaved, AlertDeliveries
// and RulesFired build deliveries from.
type EventChange struct {
	Project *herald.Project
	Event   *herald.Event
	Issue   *herald.Issue
	// IssueCreated is set when the event opened a new issue; IssueRegressed
	// when it reopened a resolved one.
	IssueCreated   bool
	IssueRegressed bool
	// Hooks are the project's active Service Hooks.
	Hooks []*herald.Hook
	// Installations are the installed Sentry App installations of the
	// project's organization that subscribe to issue or error events, each
	// with its App.
	Installations []*herald.Installation
	Now           time.Time
}

// IssueChange describes an issue changed through the API, for IssueChanged.
type IssueChange struct {
	// Event is "issue.resolved", "issue.ignored", "issue.unresolved" or
	// "issue.assigned".
	Event   string
	Project *herald.Project
	Issue   *herald.Issue
	Actor   herald.Actor
	// Installations are the organization's installed installations, with
	// their App.
	Installations []*herald.Installation
	Now           time.Time
}

// CommentChange describes a comment created, updated or deleted, for
// CommentChanged.
type CommentChange struct {
	// Event is "comment.created", "comment.updated" or "comment.deleted".
	Event         string
	Project       *herald.Project
	Comment       *herald.Comment
	Actor         herald.Actor
	Installations []*herald.Installation
	Now           time.Time
}

// InstallationChange describes an installation created or deleted, for
// InstallationChanged.
type InstallationChange struct {
	// Event is "installation.created" or "installation.deleted".
	Event string
	// Installation carries its App and Organization.
	Installation *herald.Installation
	Actor        herald.Actor
	Now          time.Time
}

// MetricAlertChange describes a metric alert incident change, for
// IncidentChanged.
type MetricAlertChange struct {
	// Event is "metric_alert.open", ".warning", ".critical" or ".resolved".
	Event    string
	Rule     *herald.MetricAlertRule
	Incident *herald.Incident
	// Value is the rule's aggregate at the evaluation.
	Value float64
	// Organization is the rule's organization.
	Organization *herald.Organization
	// Installations are the installations of the apps the rule's trigger
	// actions name, each with its App.
	Installations []*herald.Installation
	Now           time.Time
}
