package webhook

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/herald-dev/herald"
)

// IncidentChanged returns the delivery of c.Event (metric_alert.open,
// .warning, .critical or .resolved) to each of c's installations whose app
// has a webhook URL, with Herald as the actor.
func (n *Notifier) IncidentChanged(c *MetricAlertChange) []*herald.Delivery {
	if c == nil || c.Rule == nil || c.Incident == nil || c.Organization == nil || Resource(c.Event) != ResourceMetricAlert {
		return nil
	}
	now := n.changeTime(c.Now)
	var payload *AppPayload
	var ds []*herald.Delivery
	for _, inst := range c.Installations {
		if inst == nil || inst.App == nil || inst.App.WebhookURL == "" || inst.OrganizationID != c.Rule.OrganizationID {
			continue
		}
		if payload == nil {
			payload = NewAppPayload(c.Event, MetricAlertData(c, n.BaseURL), SentryActor)
		}
		ds = append(ds, appDelivery(inst, 0, c.Event, payload.Body(inst.UUID), now))
	}
	return ds
}

// metricAlertData is the data of metric_alert.* events.
type metricAlertData struct {
	MetricAlert      incidentJSON `json:"metric_alert"`
	DescriptionText  string       `json:"description_text"`
	DescriptionTitle string       `json:"description_title"`
	WebURL           string       `json:"web_url"`
}

// incidentJSON is Sentry's incident serializer.
type incidentJSON struct {
	ID             string        `json:"id"`
	Identifier     string        `json:"identifier"`
	OrganizationID string        `json:"organization_id"`
	Projects       []string      `json:"projects"`
	AlertRule      alertRuleJSON `json:"alert_rule"`
	// Activities is null: Sentry expands an incident's activities only
	// when asked, which webhooks never do.
	Activities   []any   `json:"activities"`
	Status       int     `json:"status"`
	StatusMethod int     `json:"status_method"`
	Type         int     `json:"type"`
	Title        string  `json:"title"`
	DateStarted  string  `json:"date_started"`
	DateDetected string  `json:"date_detected"`
	DateCreated  string  `json:"date_created"`
	DateClosed   *string `json:"date_closed"`
}

// alertRuleJSON is Sentry's metric alert rule serializer, as incidents
// embed it, keys in its order. Herald's rules are static-threshold rules on
// error and default events without an owner, so the fields for other kinds
// of rule (comparison_delta, sensitivity, seasonality, ...) are null.
type alertRuleJSON struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	OrganizationID string `json:"organization_id"`
	Status         int    `json:"status"`
	// QueryType is Sentry's SnubaQuery type: 0 for error events.
	QueryType          int           `json:"query_type"`
	Dataset            string        `json:"dataset"`
	Query              string        `json:"query"`
	Aggregate          string        `json:"aggregate"`
	ThresholdType      int           `json:"threshold_type"`
	ResolveThreshold   *float64      `json:"resolve_threshold"`
	TimeWindow         int           `json:"time_window"`
	Environment        *string       `json:"environment"`
	Resolution         int           `json:"resolution"`
	ThresholdPeriod    int           `json:"threshold_period"`
	Triggers           []triggerJSON `json:"triggers"`
	Projects           []string      `json:"projects"`
	IncludeAllProjects bool          `json:"include_all_projects"`
	Owner              *string       `json:"owner"`
	// OriginalAlertRuleID names the rule this one is a snapshot of.
	OriginalAlertRuleID *int64 `json:"original_alert_rule_id"`
	// ComparisonDelta is the minutes a percent-change rule compares with.
	ComparisonDelta *float64 `json:"comparison_delta"`
	DateModified    string   `json:"date_modified"`
	DateCreated     string   `json:"date_created"`
	CreatedBy       any      `json:"created_by"`
	Description     string   `json:"description"`
	Sensitivity     *string  `json:"sensitivity"`
	Seasonality     *string  `json:"seasonality"`
	// DetectionType is "static", "percent" or "dynamic".
	DetectionType string `json:"detection_type"`
	// EventTypes are the event types the rule counts, sorted.
	EventTypes []string `json:"event_types"`
}

// metricEventTypes are the event types a Herald metric alert counts: every
// event, errors and messages ("default") alike.
var metricEventTypes = []string{"default", "error"}

// triggerJSON is a trigger of alertRuleJSON.
type triggerJSON struct {
	ID               string              `json:"id"`
	AlertRuleID      string              `json:"alert_rule_id"`
	Label            string              `json:"label"`
	ThresholdType    int                 `json:"threshold_type"`
	AlertThreshold   float64             `json:"alert_threshold"`
	ResolveThreshold *float64            `json:"resolve_threshold"`
	DateCreated      string              `json:"date_created"`
	Actions          []triggerActionJSON `json:"actions"`
}

// triggerActionJSON is an action of triggerJSON, keys in the order of
// Sentry's serializer.
type triggerActionJSON struct {
	ID                 string `json:"id"`
	AlertRuleTriggerID string `json:"alert_rule_trigger_id"`
	Type               string `json:"type"`
	TargetType         string `json:"target_type"`
	TargetIdentifier   int64  `json:"target_identifier"`
	InputChannelID     any    `json:"input_channel_id"`
	IntegrationID      any    `json:"integration_id"`
	SentryAppID        int64  `json:"sentry_app_id"`
	DateCreated        string `json:"date_created"`
	Desc               string `json:"desc"`
	// Priority is the "priority" of settings that are an object, else null.
	Priority any `json:"priority"`
	Settings any `json:"settings,omitempty"`
	// SentryAppInstallationUUID is the installation of the action's app on
	// the rule's organization (null when there is none): Sentry's
	// integration-platform example finds an action's settings by it.
	SentryAppInstallationUUID *string `json:"sentry_app_installation_uuid"`
}

// incidentTitles are the description_title prefixes by event.
var incidentTitles = map[string]string{
	MetricAlertOpen:     "Open",
	MetricAlertWarning:  "Warning",
	MetricAlertCritical: "Critical",
	MetricAlertResolved: "Resolved",
}

// MetricAlertData returns the compact JSON "data" of a metric_alert.*
// event: the incident with its rule, a description of the value and the
// rule's web URL for the incident.
func MetricAlertData(c *MetricAlertChange, baseURL string) []byte {
	r, in := c.Rule, c.Incident
	ruleID := strconv.FormatInt(r.ID, 10)
	orgID := strconv.FormatInt(r.OrganizationID, 10)
	created := herald.FormatTime(r.DateCreated)
	appNames, appInstalls := map[int64]string{}, map[int64]string{}
	for _, inst := range c.Installations {
		if inst != nil && inst.App != nil && inst.OrganizationID == r.OrganizationID {
			appNames[inst.AppID] = inst.App.Name
			appInstalls[inst.AppID] = inst.UUID
		}
	}
	rule := alertRuleJSON{
		ID: ruleID, Name: r.Name, OrganizationID: orgID, Dataset: "events", Query: r.Query, Aggregate: r.Aggregate,
		ThresholdType: r.ThresholdType, ResolveThreshold: r.ResolveThreshold, TimeWindow: r.TimeWindow, Resolution: 1,
		ThresholdPeriod: 1, Triggers: []triggerJSON{}, Projects: nonNilStrings(r.Projects),
		DateModified: herald.FormatTime(r.DateModified), DateCreated: created, DetectionType: "static", EventTypes: metricEventTypes,
	}
	if r.Environment != "" {
		env := r.Environment
		rule.Environment = &env
	}
	for _, t := range r.Triggers {
		tj := triggerJSON{ID: strconv.FormatInt(t.ID, 10), AlertRuleID: ruleID, Label: t.Label, ThresholdType: r.ThresholdType,
			AlertThreshold: t.AlertThreshold, ResolveThreshold: r.ResolveThreshold, DateCreated: created, Actions: []triggerActionJSON{}}
		for _, a := range t.Actions {
			name := appNames[a.SentryAppID]
			if name == "" {
				name = "a Sentry App"
			}
			action := triggerActionJSON{ID: strconv.FormatInt(a.ID, 10), AlertRuleTriggerID: tj.ID, Type: a.Type,
				TargetType: "sentry_app", TargetIdentifier: a.SentryAppID, SentryAppID: a.SentryAppID, DateCreated: created,
				Desc: "Send a notification via " + name, Priority: settingsPriority(a.Settings), Settings: a.Settings}
			if uuid, ok := appInstalls[a.SentryAppID]; ok {
				action.SentryAppInstallationUUID = &uuid
			}
			tj.Actions = append(tj.Actions, action)
		}
		rule.Triggers = append(rule.Triggers, tj)
	}
	identifier := strconv.FormatInt(in.Identifier, 10)
	started := herald.FormatTime(in.DateStarted)
	inc := incidentJSON{
		ID: strconv.FormatInt(in.ID, 10), Identifier: identifier, OrganizationID: orgID, Projects: rule.Projects, AlertRule: rule,
		Status: in.Status, StatusMethod: 3, Type: 2, Title: in.Title, DateStarted: started, DateDetected: started, DateCreated: started,
	}
	if in.DateClosed != nil {
		closed := herald.FormatTime(*in.DateClosed)
		inc.DateClosed = &closed
	}
	unit := "events"
	if r.Aggregate == herald.AggregateUniqueUsers {
		unit = "users"
	}
	return mustEncode(metricAlertData{
		MetricAlert:      inc,
		DescriptionText:  strconv.FormatFloat(c.Value, 'f', -1, 64) + " " + unit + " in the last " + windowText(r.TimeWindow),
		DescriptionTitle: incidentTitles[c.Event] + ": " + in.Title,
		WebURL: strings.TrimRight(baseURL, "/") + "/organizations/" + url.PathEscape(c.Organization.Slug) +
			"/alerts/rules/details/" + ruleID + "/?alert=" + identifier,
	})
}

// settingsPriority returns the "priority" of an action's settings when they
// are an object and it is a string, as Sentry's serializer reads it; nil
// otherwise (settings that are a list of {"name", "value"} have none).
func settingsPriority(settings any) any {
	if m, ok := settings.(map[string]any); ok {
		if p, ok := m["priority"].(string); ok {
			return p
		}
	}
	return nil
}

// windowText phrases a window of minutes.
func windowText(minutes int) string {
	if minutes == 1 {
		return "minute"
	}
	return strconv.Itoa(minutes) + " minutes"
}

// nonNilStrings returns l, or an empty list for nil.
func nonNilStrings(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
