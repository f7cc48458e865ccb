package webhook

import (
	"strings"

	"github.com/herald-dev/herald"
)

// Resources a Sentry App subscribes to (herald's Resource constants). A
// resource is also the value of the Sentry-Hook-Resource header of an app
// delivery.
const (
	ResourceIssue        = herald.ResourceIssue
	ResourceError        = herald.ResourceError
	ResourceComment      = herald.ResourceComment
	ResourceInstallation = herald.ResourceInstallation
	ResourceMetricAlert  = herald.ResourceMetricAlert
	ResourceEventAlert   = herald.ResourceEventAlert
)

// Service Hook event names.
const (
	EventAlert   = herald.HookEventAlert
	EventCreated = herald.HookEventCreated
)

// Sentry App event names, by resource.
const (
	IssueCreated    = "issue.created"
	IssueResolved   = "issue.resolved"
	IssueIgnored    = "issue.ignored"
	IssueAssigned   = "issue.assigned"
	IssueUnresolved = "issue.unresolved"

	ErrorCreated = "error.created"

	CommentCreated = "comment.created"
	CommentUpdated = "comment.updated"
	CommentDeleted = "comment.deleted"

	InstallationCreated = "installation.created"
	InstallationDeleted = "installation.deleted"

	MetricAlertOpen     = "metric_alert.open"
	MetricAlertWarning  = "metric_alert.warning"
	MetricAlertCritical = "metric_alert.critical"
	MetricAlertResolved = "metric_alert.resolved"

	EventAlertTriggered = "event_alert.triggered"
)

// catalog lists every event Herald sends with its resource; Service Hook
// events have none.
var catalog = []struct {
	name     string
	resource string
}{
	{EventAlert, ""},
	{EventCreated, ""},
	{IssueCreated, ResourceIssue},
	{IssueResolved, ResourceIssue},
	{IssueIgnored, ResourceIssue},
	{IssueAssigned, ResourceIssue},
	{IssueUnresolved, ResourceIssue},
	{ErrorCreated, ResourceError},
	{CommentCreated, ResourceComment},
	{CommentUpdated, ResourceComment},
	{CommentDeleted, ResourceComment},
	{InstallationCreated, ResourceInstallation},
	{InstallationDeleted, ResourceInstallation},
	{MetricAlertOpen, ResourceMetricAlert},
	{MetricAlertWarning, ResourceMetricAlert},
	{MetricAlertCritical, ResourceMetricAlert},
	{MetricAlertResolved, ResourceMetricAlert},
	{EventAlertTriggered, ResourceEventAlert},
}

// Events returns the names of every event Herald sends: the two Service Hook
// events followed by the Sentry App events grouped by resource.
func Events() []string {
	names := make([]string, len(catalog))
	for i, e := range catalog {
		names[i] = e.name
	}
	return names
}

// ValidEvent reports whether name is an event Herald sends.
func ValidEvent(name string) bool {
	for _, e := range catalog {
		if e.name == name {
			return true
		}
	}
	return false
}

// ValidHookEvent reports whether a Service Hook may subscribe to name
// (event.alert or event.created).
func ValidHookEvent(name string) bool {
	return name == EventAlert || name == EventCreated
}

// Resource returns the Sentry App resource an event belongs to, or "" for
// Service Hook events and unknown names.
func Resource(event string) string {
	for _, e := range catalog {
		if e.name == event {
			return e.resource
		}
	}
	return ""
}

// Action returns the part of a known event's name after the dot, the
// "action" of its Sentry App body ("created" for issue.created), or "" for
// unknown names.
func Action(event string) string {
	if !ValidEvent(event) {
		return ""
	}
	_, action, _ := strings.Cut(event, ".")
	return action
}
