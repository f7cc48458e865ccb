package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/herald-dev/herald"
)

// metricRuleJSON is Sentry's metric alert rule serializer.
type metricRuleJSON struct {
	ID                 string              `json:"id"`
	Name               string              `json:"name"`
	OrganizationID     string              `json:"organizationId"`
	Status             int                 `json:"status"`
	Dataset            string              `json:"dataset"`
	Query              string              `json:"query"`
	Aggregate          string              `json:"aggregate"`
	ThresholdType      int                 `json:"thresholdType"`
	ResolveThreshold   *float64            `json:"resolveThreshold"`
	TimeWindow         int                 `json:"timeWindow"`
	Environment        *string             `json:"environment"`
	Resolution         int                 `json:"resolution"`
	ThresholdPeriod    int                 `json:"thresholdPeriod"`
	Triggers           []metricTriggerJSON `json:"triggers"`
	Projects           []string            `json:"projects"`
	IncludeAllProjects bool                `json:"includeAllProjects"`
	DateModified       string              `json:"dateModified"`
	DateCreated        string              `json:"dateCreated"`
}

// metricTriggerJSON is a trigger of metricRuleJSON.
type metricTriggerJSON struct {
	ID               string             `json:"id"`
	AlertRuleID      string             `json:"alertRuleId"`
	Label            string             `json:"label"`
	ThresholdType    int                `json:"thresholdType"`
	AlertThreshold   float64            `json:"alertThreshold"`
	ResolveThreshold *float64           `json:"resolveThreshold"`
	DateCreated      string             `json:"dateCreated"`
	Actions          []metricActionJSON `json:"actions"`
}

// metricActionJSON is an action of metricTriggerJSON.
type metricActionJSON struct {
	ID                 string `json:"id"`
	AlertRuleTriggerID string `json:"alertRuleTriggerId"`
	Type               string `json:"type"`
	TargetType         string `json:"targetType"`
	TargetIdentifier   string `json:"targetIdentifier"`
	SentryAppID        int64  `json:"sentryAppId"`
	Settings           any    `json:"settings"`
	DateCreated        string `json:"dateCreated"`
}

// newMetricRuleJSON serializes a metric alert rule.
func newMetricRuleJSON(r *herald.MetricAlertRule) *metricRuleJSON {
	id := strconv.FormatInt(r.ID, 10)
	created := herald.FormatTime(r.DateCreated)
	out := &metricRuleJSON{ID: id, Name: r.Name, OrganizationID: strconv.FormatInt(r.OrganizationID, 10), Dataset: "events",
		Query: r.Query, Aggregate: r.Aggregate, ThresholdType: r.ThresholdType, ResolveThreshold: r.ResolveThreshold,
		TimeWindow: r.TimeWindow, Resolution: 1, ThresholdPeriod: 1, Triggers: []metricTriggerJSON{}, Projects: r.Projects,
		DateModified: herald.FormatTime(r.DateModified), DateCreated: created}
	if out.Projects == nil {
		out.Projects = []string{}
	}
	if r.Environment != "" {
		env := r.Environment
		out.Environment = &env
	}
	for _, t := range r.Triggers {
		tj := metricTriggerJSON{ID: strconv.FormatInt(t.ID, 10), AlertRuleID: id, Label: t.Label, ThresholdType: r.ThresholdType,
			AlertThreshold: t.AlertThreshold, ResolveThreshold: r.ResolveThreshold, DateCreated: created, Actions: []metricActionJSON{}}
		for _, a := range t.Actions {
			app := strconv.FormatInt(a.SentryAppID, 10)
			tj.Actions = append(tj.Actions, metricActionJSON{ID: strconv.FormatInt(a.ID, 10), AlertRuleTriggerID: tj.ID, Type: a.Type,
				TargetType: "sentry_app", TargetIdentifier: app, SentryAppID: a.SentryAppID, Settings: a.Settings, DateCreated: created})
		}
		out.Triggers = append(out.Triggers, tj)
	}
	return out
}

// metricRuleInput is the body of metric alert creation and update.
type metricRuleInput struct {
	Name             string               `json:"name"`
	Aggregate        string               `json:"aggregate"`
	Query            string               `json:"query"`
	Dataset          string               `json:"dataset"`
	Environment      *string              `json:"environment"`
	Projects         []string             `json:"projects"`
	TimeWindow       float64              `json:"timeWindow"`
	ThresholdType    int                  `json:"thresholdType"`
	ResolveThreshold *float64             `json:"resolveThreshold"`
	Triggers         []metricTriggerInput `json:"triggers"`
}

// metricTriggerInput is a trigger of metricRuleInput.
type metricTriggerInput struct {
	Label          string              `json:"label"`
	AlertThreshold *float64            `json:"alertThreshold"`
	Actions        []metricActionInput `json:"actions"`
}

// metricActionInput is an action of metricTriggerInput; the app is named by
// sentryAppId, by targetIdentifier with targetType "sentry_app", or (a
// Herald addition, as the API shows no app ids) by the uuid of its
// installation on the organization.
type metricActionInput struct {
	Type                      string `json:"type"`
	SentryAppInstallationUUID string `json:"sentryAppInstallationUuid"`
	TargetType                string `json:"targetType"`
	TargetIdentifier          any    `json:"targetIdentifier"`
	SentryAppID               any    `json:"sentryAppId"`
	Settings                  any    `json:"settings"`
}

// appID reads the action's app id, given as a number or a string.
func (a *metricActionInput) appID() int64 {
	for _, v := range []any{a.SentryAppID, a.TargetIdentifier} {
		switch x := v.(type) {
		case float64:
			if x > 0 && x == float64(int64(x)) {
				return int64(x)
			}
		case string:
			if n, err := strconv.ParseInt(x, 10, 64); err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}

// metricRuleFromInput validates the input into a rule of org, with
// herald.ChangeService.CheckMetricAlertRule.
func (s *Server) metricRuleFromInput(r *http.Request, org *herald.Organization, in *metricRuleInput) (*herald.MetricAlertRule, error) {
	if in.Dataset != "" && in.Dataset != "events" {
		return nil, herald.InvalidField("dataset", "Only the events dataset is supported.")
	}
	if in.TimeWindow != float64(int(in.TimeWindow)) {
		return nil, herald.InvalidField("timeWindow", "A valid integer is required.")
	}
	rule := &herald.MetricAlertRule{OrganizationID: org.ID, Name: in.Name, Aggregate: in.Aggregate, Query: in.Query,
		TimeWindow: int(in.TimeWindow), ThresholdType: in.ThresholdType, ResolveThreshold: in.ResolveThreshold}
	if in.Environment != nil {
		rule.Environment = *in.Environment
	}
	rule.Projects = append(rule.Projects, in.Projects...)
	for i, t := range in.Triggers {
		if t.AlertThreshold == nil {
			return nil, herald.InvalidField("triggers", fmt.Sprintf("Trigger %d: alertThreshold is required.", i+1))
		}
		mt := &herald.MetricTrigger{Label: t.Label, AlertThreshold: *t.AlertThreshold}
		for _, a := range t.Actions {
			id := a.appID()
			if uuid := a.SentryAppInstallationUUID; uuid != "" && id == 0 {
				inst, err := s.store.FindInstallationByUUID(r.Context(), uuid)
				if herald.ErrorCode(err) == herald.ENOTFOUND || err == nil && inst.OrganizationID != org.ID {
					return nil, herald.InvalidField("triggers", fmt.Sprintf("Trigger %d: Sentry App installation %q is not installed on this organization.", i+1, uuid))
				} else if err != nil {
					return nil, err
				}
				id = inst.AppID
			}
			if a.Type != "sentry_app" || id == 0 {
				return nil, herald.InvalidField("triggers", fmt.Sprintf("Trigger %d: only sentry_app actions with a sentryAppId are supported.", i+1))
			}
			mt.Actions = append(mt.Actions, &herald.MetricTriggerAction{Type: "sentry_app", SentryAppID: id, Settings: a.Settings})
		}
		rule.Triggers = append(rule.Triggers, mt)
	}
	if err := s.changes.CheckMetricAlertRule(r.Context(), org, rule); err != nil {
		return nil, err
	}
	return rule, nil
}

// handleListMetricRules answers GET /api/0/organizations/{org}/alert-rules/.
func (s *Server) handleListMetricRules(w http.ResponseWriter, r *http.Request, a *auth) error {
	org, err := s.organization(r, a)
	if err != nil {
		return err
	}
	rules, err := s.store.FindMetricAlerts(r.Context(), org.ID)
	if err != nil {
		return err
	}
	out := make([]*metricRuleJSON, 0, len(rules))
	for _, rule := range rules {
		out = append(out, newMetricRuleJSON(rule))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleCreateMetricRule answers POST /api/0/organizations/{org}/alert-rules/
// with 201 and the rule.
func (s *Server) handleCreateMetricRule(w http.ResponseWriter, r *http.Request, a *auth) error {
	org, err := s.organization(r, a)
	if err != nil {
		return err
	}
	var in metricRuleInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	rule, err := s.metricRuleFromInput(r, org, &in)
	if err != nil {
		return err
	}
	if err := s.store.CreateMetricAlert(r.Context(), rule); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newMetricRuleJSON(rule))
	return nil
}

// metricRule loads the organization and rule of an alert-rule route.
func (s *Server) metricRule(r *http.Request, a *auth) (*herald.Organization, *herald.MetricAlertRule, error) {
	org, err := s.organization(r, a)
	if err != nil {
		return nil, nil, err
	}
	id, err := pathID(r, "alert_rule_id")
	if err != nil {
		return nil, nil, err
	}
	rule, err := s.store.FindMetricAlertByID(r.Context(), org.ID, id)
	if err != nil {
		return nil, nil, err
	}
	return org, rule, nil
}

// handleGetMetricRule answers GET /api/0/organizations/{org}/alert-rules/{alert_rule_id}/.
func (s *Server) handleGetMetricRule(w http.ResponseWriter, r *http.Request, a *auth) error {
	_, rule, err := s.metricRule(r, a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newMetricRuleJSON(rule))
	return nil
}

// handleUpdateMetricRule answers PUT /api/0/organizations/{org}/alert-rules/{alert_rule_id}/
// with the whole rule as its body.
func (s *Server) handleUpdateMetricRule(w http.ResponseWriter, r *http.Request, a *auth) error {
	org, old, err := s.metricRule(r, a)
	if err != nil {
		return err
	}
	var in metricRuleInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	rule, err := s.metricRuleFromInput(r, org, &in)
	if err != nil {
		return err
	}
	rule.ID = old.ID
	if err := s.store.UpdateMetricAlert(r.Context(), rule); err != nil {
		return err
	}
	rule, err = s.store.FindMetricAlertByID(r.Context(), org.ID, old.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newMetricRuleJSON(rule))
	return nil
}

// handleDeleteMetricRule answers DELETE /api/0/organizations/{org}/alert-rules/{alert_rule_id}/
// with 204.
func (s *Server) handleDeleteMetricRule(w http.ResponseWriter, r *http.Request, a *auth) error {
	org, rule, err := s.metricRule(r, a)
	if err != nil {
		return err
	}
	if err := s.store.DeleteMetricAlert(r.Context(), org.ID, rule.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// incidentJSON is Sentry's incident serializer, with Herald's history of
// status changes as activities.
type incidentJSON struct {
	ID             string             `json:"id"`
	Identifier     string             `json:"identifier"`
	OrganizationID string             `json:"organizationId"`
	AlertRuleID    string             `json:"alertRuleId"`
	Title          string             `json:"title"`
	Status         int                `json:"status"`
	DateStarted    string             `json:"dateStarted"`
	DateClosed     *string            `json:"dateClosed"`
	Activities     []incidentActivity `json:"activities"`
}

// incidentActivity is one status change of an incident.
type incidentActivity struct {
	Status      int     `json:"status"`
	Value       float64 `json:"value"`
	DateCreated string  `json:"dateCreated"`
}

// handleListIncidents answers GET /api/0/organizations/{org}/alert-rules/{alert_rule_id}/incidents/,
// the rule's incidents, newest first, each with its history.
func (s *Server) handleListIncidents(w http.ResponseWriter, r *http.Request, a *auth) error {
	org, rule, err := s.metricRule(r, a)
	if err != nil {
		return err
	}
	incidents, err := s.store.FindIncidents(r.Context(), org.ID, rule.ID)
	if err != nil {
		return err
	}
	out := make([]incidentJSON, 0, len(incidents))
	for _, in := range incidents {
		j := incidentJSON{ID: strconv.FormatInt(in.ID, 10), Identifier: strconv.FormatInt(in.Identifier, 10),
			OrganizationID: strconv.FormatInt(in.OrganizationID, 10), AlertRuleID: strconv.FormatInt(in.RuleID, 10), Title: in.Title,
			Status: in.Status, DateStarted: herald.FormatTime(in.DateStarted), Activities: []incidentActivity{}}
		if in.DateClosed != nil {
			c := herald.FormatTime(*in.DateClosed)
			j.DateClosed = &c
		}
		for _, h := range in.History {
			j.Activities = append(j.Activities, incidentActivity{Status: h.Status, Value: h.Value, DateCreated: herald.FormatTime(h.At)})
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
