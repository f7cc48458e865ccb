package herald

import (
	"context"
	"time"
)

// Issue alert rule match modes: how a rule combines its conditions
// (ActionMatch) and its filters (FilterMatch).
const (
	MatchAll  = "all"
	MatchAny  = "any"
	MatchNone = "none"
)

// RuleItem is one condition, filter or action of an issue alert rule, as
// Sentry's JSON has it: an "id" naming its kind (such as
// "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition") and
// the settings of that kind ("value", "interval", "match", ...).
type RuleItem map[string]any

// ID returns the item's kind, or "" when it has none.
func (it RuleItem) ID() string {
	s, _ := it["id"].(string)
	return s
}

// AlertRule is an issue alert rule of a project: when its conditions and
// filters match an event, it fires (at most once per Frequency per issue),
// which sends event.alert to the project's Service Hooks and runs its
// actions.
type AlertRule struct {
	ID        int64
	ProjectID int64
	Name      string
	// ActionMatch is how conditions combine and FilterMatch how filters
	// do: MatchAll, MatchAny or MatchNone.
	ActionMatch string
	FilterMatch string
	// Frequency is how many minutes must pass before the rule fires again
	// for the same issue.
	Frequency int
	// Environment limits the rule to events of one environment; "" means
	// any.
	Environment string
	Conditions  []RuleItem
	Filters     []RuleItem
	Actions     []RuleItem
	DateCreated time.Time
}

// RuleService manages the issue alert rules of projects. Rules are
// evaluated by SaveEvents, in the transaction that saves their events.
type RuleService interface {
	// CreateRule inserts r; the store sets ID and DateCreated.
	CreateRule(ctx context.Context, r *AlertRule) error
	// FindRuleByID returns the project's rule or ENOTFOUND.
	FindRuleByID(ctx context.Context, projectID, id int64) (*AlertRule, error)
	// FindRules lists a project's rules ordered by id.
	FindRules(ctx context.Context, projectID int64) ([]*AlertRule, error)
	// UpdateRule replaces the settings of the rule r.ID of r.ProjectID.
	UpdateRule(ctx context.Context, r *AlertRule) error
	// DeleteRule removes the project's rule.
	DeleteRule(ctx context.Context, projectID, id int64) error
}

// Metric alert aggregates.
const (
	AggregateCount       = "count()"
	AggregateUniqueUsers = "count_unique(user)"
)

// Metric alert threshold types, as Sentry numbers them.
const (
	ThresholdAbove = 0
	ThresholdBelow = 1
)

// Metric alert trigger labels.
const (
	TriggerCritical = "critical"
	TriggerWarning  = "warning"
)

// Incident statuses, as Sentry numbers them.
const (
	IncidentOpen     = 1
	IncidentClosed   = 2
	IncidentWarning  = 10
	IncidentCritical = 20
)

// MetricAlertRule is an organization's metric alert: an aggregate of the
// events of some projects that match a query, over a sliding window,
// compared with thresholds every evaluation.
type MetricAlertRule struct {
	ID             int64
	OrganizationID int64
	Name           string
	// Aggregate is AggregateCount or AggregateUniqueUsers.
	Aggregate string
	// Query keeps events matching every key:value term: level,
	// environment, release or a tag.
	Query string
	// Environment keeps events of one environment; "" means any.
	Environment string
	ProjectIDs  []int64
	// TimeWindow is the window's length in minutes.
	TimeWindow int
	// ThresholdType is ThresholdAbove or ThresholdBelow.
	ThresholdType int
	// ResolveThreshold is the value past which an incident closes; nil
	// means each trigger's own threshold.
	ResolveThreshold *float64
	Triggers         []*MetricTrigger
	DateCreated      time.Time
	DateModified     time.Time

	// Projects are the slugs of ProjectIDs, loaded by the store.
	Projects []string
}

// Trigger returns the rule's trigger labelled label, or nil.
func (r *MetricAlertRule) Trigger(label string) *MetricTrigger {
	for _, t := range r.Triggers {
		if t.Label == label {
			return t
		}
	}
	return nil
}

// MetricTrigger is a threshold of a metric alert rule: TriggerCritical
// (required) or TriggerWarning.
type MetricTrigger struct {
	ID             int64
	Label          string
	AlertThreshold float64
	Actions        []*MetricTriggerAction
}

// MetricTriggerAction notifies a Sentry App when its trigger fires.
type MetricTriggerAction struct {
	ID int64
	// Type is "sentry_app".
	Type        string
	SentryAppID int64
	// Settings are the app's alert settings, sent as they are.
	Settings any
}

// Incident is a period during which a metric alert rule was past a
// threshold. Its Status is IncidentWarning or IncidentCritical while open,
// IncidentClosed after.
type Incident struct {
	ID int64
	// Identifier numbers the organization's incidents from 1.
	Identifier     int64
	OrganizationID int64
	RuleID         int64
	Title          string
	Status         int
	DateStarted    time.Time
	DateClosed     *time.Time
	// History lists the incident's changes, oldest first.
	History []IncidentChange
}

// IncidentChange is one change of an incident's status, with the value
// that caused it.
type IncidentChange struct {
	Status int
	Value  float64
	At     time.Time
}

// MetricAlertService manages metric alert rules and reads their incidents;
// the ChangeService evaluates them.
type MetricAlertService interface {
	// CreateMetricAlert inserts r with its triggers and actions.
	CreateMetricAlert(ctx context.Context, r *MetricAlertRule) error
	// FindMetricAlertByID returns the organization's rule or ENOTFOUND.
	FindMetricAlertByID(ctx context.Context, orgID, id int64) (*MetricAlertRule, error)
	// FindMetricAlerts lists the organization's rules ordered by id.
	FindMetricAlerts(ctx context.Context, orgID int64) ([]*MetricAlertRule, error)
	// UpdateMetricAlert replaces the rule r.ID of r.OrganizationID; its
	// window counts start over.
	UpdateMetricAlert(ctx context.Context, r *MetricAlertRule) error
	// DeleteMetricAlert removes the rule with its incidents.
	DeleteMetricAlert(ctx context.Context, orgID, id int64) error
	// FindIncidents lists a rule's incidents with their history, newest
	// first.
	FindIncidents(ctx context.Context, orgID, ruleID int64) ([]*Incident, error)
}
