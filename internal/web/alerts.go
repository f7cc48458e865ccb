package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/alert"
)

// The scopes of the Alerts pages: those of the API routes for the same
// things (internal/api/server.go). Issue alert rules are a project's
// (/api/0/projects/{org}/{project}/rules/), metric alert rules and their
// incidents an organization's (/api/0/organizations/{org}/alert-rules/).
const (
	issueRuleRead   = "project:read|alerts:read"
	issueRuleWrite  = "project:write|alerts:write"
	metricRuleRead  = "org:read|alerts:read"
	metricRuleWrite = "org:write|alerts:write"
)

// alertRoutes registers the Alerts pages, at Sentry's URLs: the list of
// rules, the forms and pages of issue and metric alert rules, and the
// pages of incidents that metric_alert.* payloads link to
// (/organizations/{org}/alerts/rules/details/{rule_id}/?alert={identifier}).
// Patterns take any method (handlers check it) so that none conflicts with
// the incident pattern /organizations/{org}/alerts/{identifier}/.
func (s *Server) alertRoutes() {
	const base = "/organizations/{org}/alerts/"
	s.page(base+"rules/{$}", s.handleAlertRules)
	s.page(base+"wizard/{$}", s.handleAlertWizard)
	s.page(base+"new/issue/{$}", s.handleNewIssueRule)
	s.page(base+"rules/{project}/{rule_id}/{$}", s.handleEditIssueRule)
	s.page(base+"rules/{project}/{rule_id}/details/{$}", s.handleIssueRuleDetails)
	s.page(base+"new/metric/{$}", s.handleNewMetricRule)
	s.page(base+"metric-rules/{rule_id}/{$}", s.handleEditMetricRule)
	s.page(base+"rules/details/{rule_id}/{$}", s.handleMetricRuleDetails)
	s.page(base+"{identifier}/{$}", s.handleIncident)
}

// alertPathID reads a positive numeric path value; anything else is not
// found.
func alertPathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, herald.Errorf(herald.ENOTFOUND, "not found")
	}
	return id, nil
}

// alertGetOnly answers 405 and reports false unless the request is a GET
// (or HEAD): the pages that only show things take no form.
func (s *Server) alertGetOnly(w http.ResponseWriter, r *http.Request, v *visit) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	s.render(w, r, v, http.StatusMethodNotAllowed, "error", map[string]any{
		"Status": http.StatusMethodNotAllowed, "Message": "This page takes no form.",
	})
	return false
}

// alertFormErrors is formErrors for the alert forms: messages of fields
// the form does not show are shown with those of no field.
func alertFormErrors(err error, fields ...string) (herald.FieldErrors, error) {
	fe, err := formErrors(err)
	if err != nil {
		return nil, err
	}
	out := herald.FieldErrors{}
	for f, msgs := range fe {
		if !slices.Contains(fields, f) {
			f = ""
		}
		out[f] = append(out[f], msgs...)
	}
	return out, nil
}

// alertOption is one choice of a select of the alert forms.
type alertOption struct {
	Value, Label string
}

// alertOptionLabel returns the label of value among opts, or value.
func alertOptionLabel(opts []alertOption, value string) string {
	for _, o := range opts {
		if o.Value == value {
			return o.Label
		}
	}
	return value
}

// alertChoices are the choices of the alert forms' selects, Sentry's
// words.
type alertChoices struct {
	ActionMatches, FilterMatches []alertOption
	Intervals                    []alertOption
	LevelMatches, Levels         []alertOption
	TagMatches                   []alertOption
	Comparisons, AgeUnits        []alertOption
	Aggregates, ThresholdTypes   []alertOption
}

// ruleChoices are the choices every alert form offers.
var ruleChoices = &alertChoices{
	ActionMatches: []alertOption{{herald.MatchAll, "all of these conditions are met"}, {herald.MatchAny, "any of these conditions are met"},
		{herald.MatchNone, "none of these conditions are met"}},
	FilterMatches: []alertOption{{herald.MatchAll, "all of these filters match"}, {herald.MatchAny, "any of these filters match"},
		{herald.MatchNone, "none of these filters match"}},
	Intervals: []alertOption{{"1m", "one minute"}, {"5m", "5 minutes"}, {"15m", "15 minutes"}, {"1h", "one hour"},
		{"1d", "one day"}, {"1w", "one week"}, {"30d", "30 days"}},
	LevelMatches: []alertOption{{"eq", "equal to"}, {"gte", "greater than or equal to"}, {"lte", "less than or equal to"}},
	Levels:       []alertOption{{"50", "fatal"}, {"40", "error"}, {"30", "warning"}, {"20", "info"}, {"10", "debug"}},
	TagMatches: []alertOption{{"eq", "equals"}, {"ne", "does not equal"}, {"co", "contains"}, {"nc", "does not contain"},
		{"sw", "starts with"}, {"ew", "ends with"}, {"is", "is set"}, {"ns", "is not set"}},
	Comparisons: []alertOption{{"older", "older"}, {"newer", "newer"}},
	AgeUnits:    []alertOption{{"minute", "minute(s)"}, {"hour", "hour(s)"}, {"day", "day(s)"}, {"week", "week(s)"}},
	Aggregates: []alertOption{{herald.AggregateCount, "Number of errors (count())"},
		{herald.AggregateUniqueUsers, "Users affected (count_unique(user))"}},
	ThresholdTypes: []alertOption{{strconv.Itoa(herald.ThresholdAbove), "Above"}, {strconv.Itoa(herald.ThresholdBelow), "Below"}},
}

// ---------------------------------------------------------------------
// The list of rules.

// issueRuleRow is an issue alert rule in the list, with its project.
type issueRuleRow struct {
	Rule    *herald.AlertRule
	Project *herald.Project
}

// metricRuleRow is a metric alert rule in the list, with its latest
// incident (nil when it never fired).
type metricRuleRow struct {
	Rule   *herald.MetricAlertRule
	Latest *incidentView
}

// alertsPage is the data of the list of alert rules.
type alertsPage struct {
	Projects []*herald.Project
	// Project is the project the list is limited to (?project=), or nil.
	Project     *herald.Project
	IssueRules  []issueRuleRow
	MetricRules []metricRuleRow
	// ShowIssue and ShowMetric tell which kinds the person may see.
	ShowIssue, ShowMetric bool
	// Query is "?project=<slug>" when the list is limited, for links.
	Query string
}

// handleAlertRules shows /organizations/{org}/alerts/rules/: the issue
// alert rules of the organization's projects and its metric alert rules,
// limited to one project by ?project=<slug or id>.
func (s *Server) handleAlertRules(w http.ResponseWriter, r *http.Request, v *visit) error {
	org, err := s.organization(r, v)
	if err != nil {
		return err
	}
	if !s.alertGetOnly(w, r, v) {
		return nil
	}
	data := &alertsPage{ShowIssue: v.can(issueRuleRead), ShowMetric: v.can(metricRuleRead)}
	if !data.ShowIssue && !data.ShowMetric {
		return v.require(issueRuleRead)
	}
	ctx := r.Context()
	if data.Projects, err = s.allProjects(ctx, org.ID); err != nil {
		return err
	}
	if q := r.URL.Query().Get("project"); q != "" {
		if data.Project = alertFindProject(data.Projects, q); data.Project == nil {
			return herald.Errorf(herald.ENOTFOUND, "not found")
		}
		data.Query = "?project=" + url.QueryEscape(data.Project.Slug)
	}
	if data.ShowIssue {
		for _, p := range data.Projects {
			if data.Project != nil && p.ID != data.Project.ID {
				continue
			}
			rules, err := s.store.FindRules(ctx, p.ID)
			if err != nil {
				return err
			}
			for _, rule := range rules {
				data.IssueRules = append(data.IssueRules, issueRuleRow{Rule: rule, Project: p})
			}
		}
	}
	if data.ShowMetric {
		rules, err := s.store.FindMetricAlerts(ctx, org.ID)
		if err != nil {
			return err
		}
		for _, rule := range rules {
			if data.Project != nil && !slices.Contains(rule.ProjectIDs, data.Project.ID) {
				continue
			}
			incidents, err := s.store.FindIncidents(ctx, org.ID, rule.ID)
			if err != nil {
				return err
			}
			row := metricRuleRow{Rule: rule}
			if len(incidents) > 0 {
				row.Latest = newIncidentView(incidents[0], 0)
			}
			data.MetricRules = append(data.MetricRules, row)
		}
	}
	s.render(w, r, v, http.StatusOK, "alerts", data)
	return nil
}

// alertFindProject returns the project whose slug or id is q, or nil.
func alertFindProject(projects []*herald.Project, q string) *herald.Project {
	for _, p := range projects {
		if p.Slug == q || strconv.FormatInt(p.ID, 10) == q {
			return p
		}
	}
	return nil
}

// alertWizardPage is the data of the choice of a new alert's kind.
type alertWizardPage struct {
	Query string
}

// handleAlertWizard shows /organizations/{org}/alerts/wizard/, Sentry's
// "Create Alert": an issue alert or a metric alert.
func (s *Server) handleAlertWizard(w http.ResponseWriter, r *http.Request, v *visit) error {
	if _, err := s.organization(r, v); err != nil {
		return err
	}
	if !s.alertGetOnly(w, r, v) {
		return nil
	}
	data := &alertWizardPage{}
	if q := r.URL.Query().Get("project"); q != "" {
		data.Query = "?project=" + url.QueryEscape(q)
	}
	s.render(w, r, v, http.StatusOK, "alerts-wizard", data)
	return nil
}

// ---------------------------------------------------------------------
// Issue alert rules.

// Form rows of the issue alert rule form. A list of rows holds the
// conditions, filters or actions of one kind; a row left blank is none.
type (
	// frequencyRow is an event frequency or unique user frequency
	// condition.
	frequencyRow struct{ Value, Interval string }
	// levelRow is a level filter.
	levelRow struct{ Match, Level string }
	// tagRow is a tagged event filter.
	tagRow struct{ Key, Match, Value string }
	// occurrencesRow is an issue occurrences filter.
	occurrencesRow struct{ Value string }
	// ageRow is an age comparison filter.
	ageRow struct{ Comparison, Value, Time string }
	// appActionRow is a Sentry App action: an installation's uuid (an
	// issue rule) or an app's id (a metric trigger), with the app's alert
	// settings as JSON.
	appActionRow struct{ Target, Settings string }
)

// issueRuleForm is the issue alert rule form, as posted or as made from a
// rule. Each kind of condition, filter and action has its own inputs;
// the kinds that take settings have a list of rows.
type issueRuleForm struct {
	Name, Project, Environment string
	ActionMatch, FilterMatch   string
	Frequency                  string

	FirstSeen, Regression, EveryEvent bool
	EventFrequency, UniqueUsers       []frequencyRow

	Levels      []levelRow
	Tags        []tagRow
	Occurrences []occurrencesRow
	Ages        []ageRow

	NotifyEvent, NotifyService bool
	Service                    string
	Apps                       []appActionRow
}

// issueRuleFields are the fields whose messages the issue rule form shows
// where they belong.
var issueRuleFields = []string{"name", "project", "environment", "actionMatch", "filterMatch", "frequency",
	"conditions", "filters", "actions"}

// alertFormRows reads the rows of a list: the values of each named input, in
// order, row i taking the i-th of each (missing ones are "").
func alertFormRows(form url.Values, names ...string) [][]string {
	n := 0
	for _, name := range names {
		n = max(n, len(form[name]))
	}
	n = min(n, 100)
	rows := make([][]string, n)
	for i := range rows {
		rows[i] = make([]string, len(names))
		for j, name := range names {
			if i < len(form[name]) {
				rows[i][j] = strings.TrimSpace(form[name][i])
			}
		}
	}
	return rows
}

// parseIssueRuleForm reads a posted issue alert rule form, dropping blank
// rows.
func parseIssueRuleForm(form url.Values) *issueRuleForm {
	f := &issueRuleForm{
		Name: form.Get("name"), Project: form.Get("project"), Environment: strings.TrimSpace(form.Get("environment")),
		ActionMatch: form.Get("actionMatch"), FilterMatch: form.Get("filterMatch"), Frequency: strings.TrimSpace(form.Get("frequency")),
		FirstSeen: form.Get("first_seen") != "", Regression: form.Get("regression") != "", EveryEvent: form.Get("every_event") != "",
		NotifyEvent: form.Get("notify_event") != "", NotifyService: form.Get("notify_service") != "",
		Service: strings.TrimSpace(form.Get("service")),
	}
	for _, row := range alertFormRows(form, "freq_value", "freq_interval") {
		if row[0] != "" {
			f.EventFrequency = append(f.EventFrequency, frequencyRow{row[0], row[1]})
		}
	}
	for _, row := range alertFormRows(form, "users_value", "users_interval") {
		if row[0] != "" {
			f.UniqueUsers = append(f.UniqueUsers, frequencyRow{row[0], row[1]})
		}
	}
	for _, row := range alertFormRows(form, "level_match", "level_level") {
		if row[0] != "" {
			f.Levels = append(f.Levels, levelRow{row[0], row[1]})
		}
	}
	for _, row := range alertFormRows(form, "tag_key", "tag_match", "tag_value") {
		if row[0] != "" || row[2] != "" {
			f.Tags = append(f.Tags, tagRow{row[0], row[1], row[2]})
		}
	}
	for _, row := range alertFormRows(form, "occurrences_value") {
		if row[0] != "" {
			f.Occurrences = append(f.Occurrences, occurrencesRow{row[0]})
		}
	}
	for _, row := range alertFormRows(form, "age_comparison", "age_value", "age_time") {
		if row[1] != "" {
			f.Ages = append(f.Ages, ageRow{row[0], row[1], row[2]})
		}
	}
	for _, row := range alertFormRows(form, "app_installation", "app_settings") {
		if row[0] != "" || row[1] != "" {
			f.Apps = append(f.Apps, appActionRow{row[0], row[1]})
		}
	}
	return f
}

// newIssueRuleForm is the form of a new rule of the project with slug
// project.
func newIssueRuleForm(project string) *issueRuleForm {
	return &issueRuleForm{Project: project, ActionMatch: herald.MatchAll, FilterMatch: herald.MatchAll,
		Frequency: strconv.Itoa(alert.DefaultFrequency)}
}

// issueRuleFormOf is the form of rule r of project p, for editing it.
func issueRuleFormOf(p *herald.Project, r *herald.AlertRule) *issueRuleForm {
	f := &issueRuleForm{Name: r.Name, Project: p.Slug, Environment: r.Environment, ActionMatch: r.ActionMatch,
		FilterMatch: r.FilterMatch, Frequency: strconv.Itoa(r.Frequency)}
	for _, it := range r.Conditions {
		switch it.ID() {
		case alert.FirstSeen:
			f.FirstSeen = true
		case alert.Regression:
			f.Regression = true
		case alert.EveryEvent:
			f.EveryEvent = true
		case alert.EventFrequency:
			f.EventFrequency = append(f.EventFrequency, frequencyRow{ruleItemText(it, "value"), ruleItemText(it, "interval")})
		case alert.UniqueUserFrequency:
			f.UniqueUsers = append(f.UniqueUsers, frequencyRow{ruleItemText(it, "value"), ruleItemText(it, "interval")})
		}
	}
	for _, it := range r.Filters {
		switch it.ID() {
		case alert.LevelFilter:
			f.Levels = append(f.Levels, levelRow{ruleItemText(it, "match"), ruleItemText(it, "level")})
		case alert.TaggedEventFilter:
			f.Tags = append(f.Tags, tagRow{ruleItemText(it, "key"), ruleItemText(it, "match"), ruleItemText(it, "value")})
		case alert.IssueOccurrencesFilter:
			f.Occurrences = append(f.Occurrences, occurrencesRow{ruleItemText(it, "value")})
		case alert.AgeComparisonFilter:
			f.Ages = append(f.Ages, ageRow{ruleItemText(it, "comparison_type"), ruleItemText(it, "value"), ruleItemText(it, "time")})
		}
	}
	for _, it := range r.Actions {
		switch it.ID() {
		case alert.NotifyEventAction:
			f.NotifyEvent = true
		case alert.NotifyEventServiceAction:
			f.NotifyService, f.Service = true, ruleItemText(it, "service")
		case alert.SentryAppAction:
			f.Apps = append(f.Apps, appActionRow{ruleItemText(it, "sentryAppInstallationUuid"), alertSettingsText(it["settings"])})
		}
	}
	return f
}

// ruleItemText shows a setting of a rule item as a form value.
func ruleItemText(it herald.RuleItem, key string) string {
	switch v := it[key].(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

// alertSettingsText shows an action's settings as JSON ("" for none).
func alertSettingsText(settings any) string {
	if settings == nil {
		return ""
	}
	b, err := json.Marshal(settings)
	if err != nil {
		return ""
	}
	return string(b)
}

// alertFormNumber is a whole number of a form as a JSON number, as the API's
// clients send it; anything else is kept as the text, which the rule's
// validation then refuses with its own message.
func alertFormNumber(s string) any {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	return s
}

// rule makes the rule the form describes, for project projectID, the
// items in the order of the form: what the API makes of the same rule
// sent as JSON. It fails only on what the API could not even decode:
// a frequency that is not a whole number, settings that are not JSON.
func (f *issueRuleForm) rule(projectID int64) (*herald.AlertRule, error) {
	r := &herald.AlertRule{ProjectID: projectID, Name: f.Name, Environment: f.Environment,
		ActionMatch: f.ActionMatch, FilterMatch: f.FilterMatch}
	if f.Frequency != "" {
		n, err := strconv.Atoi(f.Frequency)
		if err != nil {
			return nil, herald.InvalidField("frequency", "A valid integer is required.")
		}
		r.Frequency = n
	}
	for _, c := range []struct {
		on bool
		id string
	}{{f.FirstSeen, alert.FirstSeen}, {f.Regression, alert.Regression}, {f.EveryEvent, alert.EveryEvent}} {
		if c.on {
			r.Conditions = append(r.Conditions, herald.RuleItem{"id": c.id})
		}
	}
	for _, row := range f.EventFrequency {
		r.Conditions = append(r.Conditions, herald.RuleItem{"id": alert.EventFrequency, "value": alertFormNumber(row.Value),
			"interval": row.Interval, "comparisonType": "count"})
	}
	for _, row := range f.UniqueUsers {
		r.Conditions = append(r.Conditions, herald.RuleItem{"id": alert.UniqueUserFrequency, "value": alertFormNumber(row.Value),
			"interval": row.Interval, "comparisonType": "count"})
	}
	for _, row := range f.Levels {
		r.Filters = append(r.Filters, herald.RuleItem{"id": alert.LevelFilter, "match": row.Match, "level": row.Level})
	}
	for _, row := range f.Tags {
		it := herald.RuleItem{"id": alert.TaggedEventFilter, "key": row.Key, "match": row.Match}
		if row.Value != "" {
			it["value"] = row.Value
		}
		r.Filters = append(r.Filters, it)
	}
	for _, row := range f.Occurrences {
		r.Filters = append(r.Filters, herald.RuleItem{"id": alert.IssueOccurrencesFilter, "value": alertFormNumber(row.Value)})
	}
	for _, row := range f.Ages {
		r.Filters = append(r.Filters, herald.RuleItem{"id": alert.AgeComparisonFilter, "comparison_type": row.Comparison,
			"value": alertFormNumber(row.Value), "time": row.Time})
	}
	if f.NotifyEvent {
		r.Actions = append(r.Actions, herald.RuleItem{"id": alert.NotifyEventAction})
	}
	if f.NotifyService {
		it := herald.RuleItem{"id": alert.NotifyEventServiceAction}
		if f.Service != "" {
			it["service"] = f.Service
		}
		r.Actions = append(r.Actions, it)
	}
	for _, row := range f.Apps {
		it := herald.RuleItem{"id": alert.SentryAppAction, "sentryAppInstallationUuid": row.Target}
		if row.Settings != "" {
			var settings any
			if err := json.Unmarshal([]byte(row.Settings), &settings); err != nil {
				return nil, herald.InvalidField("actions", fmt.Sprintf("Action %d: settings must be JSON, such as [{\"name\": \"channel\", \"value\": \"#alerts\"}].", len(r.Actions)+1))
			}
			it["settings"] = settings
		}
		r.Actions = append(r.Actions, it)
	}
	return r, nil
}

// issueRulePage is the data of the issue alert rule form.
type issueRulePage struct {
	Form *issueRuleForm
	// Rule and Project are the rule edited, nil for a new rule, which
	// chooses among Projects.
	Rule     *herald.AlertRule
	Project  *herald.Project
	Projects []*herald.Project
	// Apps are the installations an action may notify, by uuid.
	Apps    []alertOption
	Errors  herald.FieldErrors
	Choices *alertChoices
}

// The rows the issue rule form shows of each list: the form's, then a
// blank one to add one more of its kind.

// FrequencyRows are the rows of event frequency conditions.
func (d *issueRulePage) FrequencyRows() []frequencyRow {
	return append(slices.Clone(d.Form.EventFrequency), frequencyRow{Interval: "1h"})
}

// UserRows are the rows of unique user frequency conditions.
func (d *issueRulePage) UserRows() []frequencyRow {
	return append(slices.Clone(d.Form.UniqueUsers), frequencyRow{Interval: "1h"})
}

// LevelRows are the rows of level filters.
func (d *issueRulePage) LevelRows() []levelRow {
	return append(slices.Clone(d.Form.Levels), levelRow{})
}

// TagRows are the rows of tagged event filters.
func (d *issueRulePage) TagRows() []tagRow {
	return append(slices.Clone(d.Form.Tags), tagRow{Match: "eq"})
}

// OccurrencesRows are the rows of issue occurrences filters.
func (d *issueRulePage) OccurrencesRows() []occurrencesRow {
	return append(slices.Clone(d.Form.Occurrences), occurrencesRow{})
}

// AgeRows are the rows of age comparison filters.
func (d *issueRulePage) AgeRows() []ageRow {
	return append(slices.Clone(d.Form.Ages), ageRow{Comparison: "older", Time: "day"})
}

// AppRows are the rows of Sentry App actions.
func (d *issueRulePage) AppRows() []appActionRow {
	return append(slices.Clone(d.Form.Apps), appActionRow{})
}

// newIssueRulePage returns the form's data with the installations its
// actions may notify: the organization's installed alertable apps, and
// those f already names.
func (s *Server) newIssueRulePage(ctx context.Context, orgID int64, f *issueRuleForm) (*issueRulePage, error) {
	insts, err := s.store.FindInstallations(ctx, orgID)
	if err != nil {
		return nil, err
	}
	data := &issueRulePage{Form: f, Choices: ruleChoices, Errors: herald.FieldErrors{}}
	named := map[string]bool{}
	for _, a := range f.Apps {
		named[a.Target] = true
	}
	for _, inst := range insts {
		offered := inst.Status == herald.InstallationInstalled && inst.App != nil && inst.App.IsAlertable
		if inst.App == nil || !offered && !named[inst.UUID] {
			continue
		}
		data.Apps = append(data.Apps, alertOption{Value: inst.UUID, Label: inst.App.Name})
	}
	return data, nil
}

// handleNewIssueRule shows and saves the form of a new issue alert rule,
// /organizations/{org}/alerts/new/issue/?project=<slug>.
func (s *Server) handleNewIssueRule(w http.ResponseWriter, r *http.Request, v *visit) error {
	org, err := s.organization(r, v)
	if err != nil {
		return err
	}
	if err := v.require(issueRuleWrite); err != nil {
		return err
	}
	ctx := r.Context()
	projects, err := s.allProjects(ctx, org.ID)
	if err != nil {
		return err
	}
	f := newIssueRuleForm(r.URL.Query().Get("project"))
	if p := alertFindProject(projects, f.Project); p != nil {
		f.Project = p.Slug
	} else if len(projects) > 0 {
		f.Project = projects[0].Slug
	}
	status := http.StatusOK
	var saveErr error
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			return herald.Errorf(herald.EINVALID, "The form could not be read.")
		}
		f = parseIssueRuleForm(r.PostForm)
		if r.PostForm.Get("action") != "more" {
			p := alertFindProject(projects, f.Project)
			if p == nil {
				saveErr = herald.InvalidField("project", "Choose one of the organization's projects.")
			} else if rule, err := f.rule(p.ID); err != nil {
				saveErr = err
			} else if saveErr = s.changes.CheckAlertRule(ctx, p, rule); saveErr == nil {
				if saveErr = s.store.CreateRule(ctx, rule); saveErr == nil {
					s.redirect(w, r, issueRuleURL(org, p, rule)+"details/", "Alert rule "+rule.Name+" created.")
					return nil
				}
			}
		}
	}
	data, err := s.newIssueRulePage(ctx, org.ID, f)
	if err != nil {
		return err
	}
	data.Projects = projects
	if saveErr != nil {
		if data.Errors, err = alertFormErrors(saveErr, issueRuleFields...); err != nil {
			return err
		}
		status = http.StatusBadRequest
	}
	s.render(w, r, v, status, "rule-issue", data)
	return nil
}

// issueRuleURL is the path of the form of an issue alert rule.
func issueRuleURL(org *herald.Organization, p *herald.Project, r *herald.AlertRule) string {
	return "/organizations/" + org.Slug + "/alerts/rules/" + p.Slug + "/" + strconv.FormatInt(r.ID, 10) + "/"
}

// issueRule loads the project and issue alert rule the path names.
func (s *Server) issueRule(r *http.Request, v *visit) (*herald.Project, *herald.AlertRule, error) {
	p, err := s.project(r, v)
	if err != nil {
		return nil, nil, err
	}
	id, err := alertPathID(r, "rule_id")
	if err != nil {
		return nil, nil, err
	}
	rule, err := s.store.FindRuleByID(r.Context(), p.ID, id)
	if err != nil {
		return nil, nil, err
	}
	return p, rule, nil
}

// handleEditIssueRule shows and saves the form of an issue alert rule,
// /organizations/{org}/alerts/rules/{project}/{rule_id}/; a POST with
// action=delete deletes it. As the API's update, a save replaces the
// whole rule.
func (s *Server) handleEditIssueRule(w http.ResponseWriter, r *http.Request, v *visit) error {
	p, old, err := s.issueRule(r, v)
	if err != nil {
		return err
	}
	if err := v.require(issueRuleWrite); err != nil {
		return err
	}
	ctx := r.Context()
	f := issueRuleFormOf(p, old)
	status := http.StatusOK
	var saveErr error
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			return herald.Errorf(herald.EINVALID, "The form could not be read.")
		}
		switch r.PostForm.Get("action") {
		case "delete":
			if err := s.store.DeleteRule(ctx, p.ID, old.ID); err != nil {
				return err
			}
			s.redirect(w, r, "/organizations/"+v.org.Slug+"/alerts/rules/?project="+url.QueryEscape(p.Slug), "Alert rule "+old.Name+" deleted.")
			return nil
		case "more":
			f = parseIssueRuleForm(r.PostForm)
		default:
			f = parseIssueRuleForm(r.PostForm)
			if rule, err := f.rule(p.ID); err != nil {
				saveErr = err
			} else if saveErr = s.changes.CheckAlertRule(ctx, p, rule); saveErr == nil {
				rule.ID, rule.DateCreated = old.ID, old.DateCreated
				if saveErr = s.store.UpdateRule(ctx, rule); saveErr == nil {
					s.redirect(w, r, issueRuleURL(v.org, p, rule)+"details/", "Alert rule "+rule.Name+" saved.")
					return nil
				}
			}
		}
		f.Project = p.Slug
	}
	data, err := s.newIssueRulePage(ctx, p.OrganizationID, f)
	if err != nil {
		return err
	}
	data.Rule, data.Project = old, p
	if saveErr != nil {
		if data.Errors, err = alertFormErrors(saveErr, issueRuleFields...); err != nil {
			return err
		}
		status = http.StatusBadRequest
	}
	s.render(w, r, v, status, "rule-issue", data)
	return nil
}

// issueRuleDetailsPage is the data of an issue alert rule's page.
type issueRuleDetailsPage struct {
	Rule       *herald.AlertRule
	Project    *herald.Project
	Conditions []string
	Filters    []string
	Actions    []string
	// ActionMatch and FilterMatch phrase the match modes.
	ActionMatch, FilterMatch string
}

// handleIssueRuleDetails shows an issue alert rule,
// /organizations/{org}/alerts/rules/{project}/{rule_id}/details/.
func (s *Server) handleIssueRuleDetails(w http.ResponseWriter, r *http.Request, v *visit) error {
	p, rule, err := s.issueRule(r, v)
	if err != nil {
		return err
	}
	if err := v.require(issueRuleRead); err != nil {
		return err
	}
	if !s.alertGetOnly(w, r, v) {
		return nil
	}
	insts, err := s.store.FindInstallations(r.Context(), p.OrganizationID)
	if err != nil {
		return err
	}
	apps := map[string]string{}
	for _, inst := range insts {
		if inst.App != nil {
			apps[inst.UUID] = inst.App.Name
		}
	}
	data := &issueRuleDetailsPage{Rule: rule, Project: p,
		ActionMatch: alertOptionLabel(ruleChoices.ActionMatches, rule.ActionMatch),
		FilterMatch: alertOptionLabel(ruleChoices.FilterMatches, rule.FilterMatch)}
	for _, it := range rule.Conditions {
		data.Conditions = append(data.Conditions, describeCondition(it))
	}
	for _, it := range rule.Filters {
		data.Filters = append(data.Filters, describeFilter(it))
	}
	for _, it := range rule.Actions {
		data.Actions = append(data.Actions, describeAction(it, apps))
	}
	s.render(w, r, v, http.StatusOK, "rule-issue-details", data)
	return nil
}

// describeCondition phrases a condition as Sentry does.
func describeCondition(it herald.RuleItem) string {
	interval := alertOptionLabel(ruleChoices.Intervals, ruleItemText(it, "interval"))
	switch it.ID() {
	case alert.FirstSeen:
		return "A new issue is created"
	case alert.Regression:
		return "The issue changes state from resolved to unresolved"
	case alert.Reappeared:
		return "The issue changes state from ignored to unresolved"
	case alert.EveryEvent:
		return "An event is seen"
	case alert.EventFrequency:
		return "The issue is seen more than " + ruleItemText(it, "value") + " times in " + interval
	case alert.UniqueUserFrequency:
		return "The issue is seen by more than " + ruleItemText(it, "value") + " users in " + interval
	}
	return it.ID()
}

// describeFilter phrases a filter as Sentry does.
func describeFilter(it herald.RuleItem) string {
	switch it.ID() {
	case alert.LevelFilter:
		return "The event's level is " + alertOptionLabel(ruleChoices.LevelMatches, ruleItemText(it, "match")) + " " +
			alertOptionLabel(ruleChoices.Levels, ruleItemText(it, "level"))
	case alert.TaggedEventFilter:
		out := "The event's tags match " + ruleItemText(it, "key") + " " + alertOptionLabel(ruleChoices.TagMatches, ruleItemText(it, "match"))
		if v := ruleItemText(it, "value"); v != "" {
			out += " " + v
		}
		return out
	case alert.IssueOccurrencesFilter:
		return "The issue has happened at least " + ruleItemText(it, "value") + " times"
	case alert.AgeComparisonFilter:
		return "The issue is " + ruleItemText(it, "comparison_type") + " than " + ruleItemText(it, "value") + " " +
			alertOptionLabel(ruleChoices.AgeUnits, ruleItemText(it, "time"))
	}
	return it.ID()
}

// describeAction phrases an action; apps names the installations by
// uuid.
func describeAction(it herald.RuleItem, apps map[string]string) string {
	switch it.ID() {
	case alert.NotifyEventAction:
		return "Send a notification to the project's Service Hooks (event.alert)"
	case alert.NotifyEventServiceAction:
		if svc := ruleItemText(it, "service"); svc != "" {
			return "Send a notification via " + svc + " (event.alert to the project's Service Hooks)"
		}
		return "Send a notification via a service (event.alert to the project's Service Hooks)"
	case alert.SentryAppAction:
		uuid := ruleItemText(it, "sentryAppInstallationUuid")
		name := apps[uuid]
		if name == "" {
			name = "installation " + uuid + " (no longer installed)"
		}
		out := "Send a notification via " + name
		if s := alertSettingsText(it["settings"]); s != "" {
			out += " with settings " + s
		}
		return out
	}
	return it.ID()
}

// ---------------------------------------------------------------------
// Metric alert rules.

// metricRuleForm is the metric alert rule form, as posted or as made from
// a rule: a critical trigger and an optional warning trigger, each with
// rows of Sentry App actions (Target is the app's id).
type metricRuleForm struct {
	Name, Aggregate, Query, Environment string
	TimeWindow, ThresholdType           string
	ResolveThreshold                    string
	Projects                            []string
	Critical, Warning                   string
	CriticalActions, WarningActions     []appActionRow
}

// metricRuleFields are the fields whose messages the metric rule form
// shows where they belong.
var metricRuleFields = []string{"name", "aggregate", "query", "environment", "projects", "timeWindow", "thresholdType",
	"resolveThreshold", "triggers"}

// parseMetricRuleForm reads a posted metric alert rule form, dropping
// blank rows.
func parseMetricRuleForm(form url.Values) *metricRuleForm {
	f := &metricRuleForm{Name: form.Get("name"), Aggregate: form.Get("aggregate"), Query: strings.TrimSpace(form.Get("query")),
		Environment: strings.TrimSpace(form.Get("environment")), TimeWindow: strings.TrimSpace(form.Get("timeWindow")),
		ThresholdType: form.Get("thresholdType"), ResolveThreshold: strings.TrimSpace(form.Get("resolveThreshold")),
		Critical: strings.TrimSpace(form.Get("critical")), Warning: strings.TrimSpace(form.Get("warning"))}
	for _, p := range form["projects"] {
		if p != "" && !slices.Contains(f.Projects, p) {
			f.Projects = append(f.Projects, p)
		}
	}
	for _, row := range alertFormRows(form, "critical_app", "critical_settings") {
		if row[0] != "" || row[1] != "" {
			f.CriticalActions = append(f.CriticalActions, appActionRow{row[0], row[1]})
		}
	}
	for _, row := range alertFormRows(form, "warning_app", "warning_settings") {
		if row[0] != "" || row[1] != "" {
			f.WarningActions = append(f.WarningActions, appActionRow{row[0], row[1]})
		}
	}
	return f
}

// newMetricRuleForm is the form of a new metric alert rule of the
// project with slug project ("" for none chosen).
func newMetricRuleForm(project string) *metricRuleForm {
	f := &metricRuleForm{Aggregate: herald.AggregateCount, TimeWindow: "60", ThresholdType: strconv.Itoa(herald.ThresholdAbove)}
	if project != "" {
		f.Projects = []string{project}
	}
	return f
}

// alertFloat shows a number as a form value.
func alertFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// metricRuleFormOf is the form of rule r, for editing it.
func metricRuleFormOf(r *herald.MetricAlertRule) *metricRuleForm {
	f := &metricRuleForm{Name: r.Name, Aggregate: r.Aggregate, Query: r.Query, Environment: r.Environment,
		TimeWindow: strconv.Itoa(r.TimeWindow), ThresholdType: strconv.Itoa(r.ThresholdType), Projects: slices.Clone(r.Projects)}
	if r.ResolveThreshold != nil {
		f.ResolveThreshold = alertFloat(*r.ResolveThreshold)
	}
	for _, t := range r.Triggers {
		var rows []appActionRow
		for _, a := range t.Actions {
			rows = append(rows, appActionRow{strconv.FormatInt(a.SentryAppID, 10), alertSettingsText(a.Settings)})
		}
		switch t.Label {
		case herald.TriggerCritical:
			f.Critical, f.CriticalActions = alertFloat(t.AlertThreshold), rows
		case herald.TriggerWarning:
			f.Warning, f.WarningActions = alertFloat(t.AlertThreshold), rows
		}
	}
	return f
}

// metricRuleFromForm validates the form into a rule of org as the API's
// metric alert creation and update do: the projects found in the
// organization, each trigger with a threshold, each action's app
// installed on the organization, then every setting checked by
// alert.CompileMetric. The warning trigger is left out when it has
// neither a threshold nor an action.
func (s *Server) metricRuleFromForm(ctx context.Context, org *herald.Organization, f *metricRuleForm) (*herald.MetricAlertRule, error) {
	rule := &herald.MetricAlertRule{OrganizationID: org.ID, Name: f.Name, Aggregate: f.Aggregate, Query: f.Query,
		Environment: f.Environment}
	if f.TimeWindow != "" {
		n, err := strconv.Atoi(f.TimeWindow)
		if err != nil {
			return nil, herald.InvalidField("timeWindow", "A valid integer is required.")
		}
		rule.TimeWindow = n
	}
	n, err := strconv.Atoi(f.ThresholdType)
	if err != nil {
		return nil, herald.InvalidField("thresholdType", "A valid integer is required.")
	}
	rule.ThresholdType = n
	if f.ResolveThreshold != "" {
		v, err := strconv.ParseFloat(f.ResolveThreshold, 64)
		if err != nil {
			return nil, herald.InvalidField("resolveThreshold", "A valid number is required.")
		}
		rule.ResolveThreshold = &v
	}
	rule.Projects = append(rule.Projects, f.Projects...)
	triggers := []struct {
		label, threshold string
		actions          []appActionRow
	}{{herald.TriggerCritical, f.Critical, f.CriticalActions}}
	if f.Warning != "" || len(f.WarningActions) > 0 {
		triggers = append(triggers, struct {
			label, threshold string
			actions          []appActionRow
		}{herald.TriggerWarning, f.Warning, f.WarningActions})
	}
	for i, t := range triggers {
		if t.threshold == "" {
			return nil, herald.InvalidField("triggers", fmt.Sprintf("Trigger %d: alertThreshold is required.", i+1))
		}
		threshold, err := strconv.ParseFloat(t.threshold, 64)
		if err != nil {
			return nil, herald.InvalidField("triggers", fmt.Sprintf("Trigger %d: alertThreshold must be a number.", i+1))
		}
		mt := &herald.MetricTrigger{Label: t.label, AlertThreshold: threshold}
		for _, a := range t.actions {
			id, _ := strconv.ParseInt(a.Target, 10, 64)
			action := &herald.MetricTriggerAction{Type: "sentry_app", SentryAppID: id}
			if a.Settings != "" {
				if err := json.Unmarshal([]byte(a.Settings), &action.Settings); err != nil {
					return nil, herald.InvalidField("triggers", fmt.Sprintf("Trigger %d: settings must be JSON.", i+1))
				}
			}
			mt.Actions = append(mt.Actions, action)
		}
		rule.Triggers = append(rule.Triggers, mt)
	}
	if err := s.changes.CheckMetricAlertRule(ctx, org, rule); err != nil {
		return nil, err
	}
	return rule, nil
}

// metricRulePage is the data of the metric alert rule form.
type metricRulePage struct {
	Form *metricRuleForm
	// Rule is the rule edited, nil for a new rule.
	Rule     *herald.MetricAlertRule
	Projects []*herald.Project
	// Apps are the apps an action may notify, by id.
	Apps    []alertOption
	Errors  herald.FieldErrors
	Choices *alertChoices
}

// CriticalRows are the rows of the critical trigger's actions, then a
// blank one to add one more.
func (d *metricRulePage) CriticalRows() []appActionRow {
	return append(slices.Clone(d.Form.CriticalActions), appActionRow{})
}

// WarningRows are the rows of the warning trigger's actions, then a blank
// one.
func (d *metricRulePage) WarningRows() []appActionRow {
	return append(slices.Clone(d.Form.WarningActions), appActionRow{})
}

// newMetricRulePage returns the form's data with the apps its actions may
// notify: the organization's installed alertable apps, and those f
// already names.
func (s *Server) newMetricRulePage(ctx context.Context, orgID int64, f *metricRuleForm) (*metricRulePage, error) {
	projects, err := s.allProjects(ctx, orgID)
	if err != nil {
		return nil, err
	}
	insts, err := s.store.FindInstallations(ctx, orgID)
	if err != nil {
		return nil, err
	}
	data := &metricRulePage{Form: f, Projects: projects, Choices: ruleChoices, Errors: herald.FieldErrors{}}
	named := map[string]bool{}
	for _, a := range slices.Concat(f.CriticalActions, f.WarningActions) {
		named[a.Target] = true
	}
	for _, inst := range insts {
		id := strconv.FormatInt(inst.AppID, 10)
		offered := inst.Status == herald.InstallationInstalled && inst.App != nil && inst.App.IsAlertable
		if inst.App == nil || !offered && !named[id] || slices.ContainsFunc(data.Apps, func(o alertOption) bool { return o.Value == id }) {
			continue
		}
		data.Apps = append(data.Apps, alertOption{Value: id, Label: inst.App.Name})
	}
	return data, nil
}

// handleNewMetricRule shows and saves the form of a new metric alert
// rule, /organizations/{org}/alerts/new/metric/?project=<slug>.
func (s *Server) handleNewMetricRule(w http.ResponseWriter, r *http.Request, v *visit) error {
	org, err := s.organization(r, v)
	if err != nil {
		return err
	}
	if err := v.require(metricRuleWrite); err != nil {
		return err
	}
	ctx := r.Context()
	f := newMetricRuleForm(r.URL.Query().Get("project"))
	var saveErr error
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			return herald.Errorf(herald.EINVALID, "The form could not be read.")
		}
		f = parseMetricRuleForm(r.PostForm)
		if r.PostForm.Get("action") != "more" {
			rule, err := s.metricRuleFromForm(ctx, org, f)
			if err == nil {
				err = s.store.CreateMetricAlert(ctx, rule)
			}
			if err == nil {
				s.redirect(w, r, metricRuleDetailsURL(org, rule.ID), "Alert rule "+rule.Name+" created.")
				return nil
			}
			saveErr = err
		}
	}
	return s.renderMetricRuleForm(w, r, v, f, nil, saveErr)
}

// renderMetricRuleForm shows the metric alert rule form f of rule (nil for
// a new one), with the messages of saveErr (400) if any.
func (s *Server) renderMetricRuleForm(w http.ResponseWriter, r *http.Request, v *visit, f *metricRuleForm, rule *herald.MetricAlertRule, saveErr error) error {
	data, err := s.newMetricRulePage(r.Context(), v.org.ID, f)
	if err != nil {
		return err
	}
	data.Rule = rule
	status := http.StatusOK
	if saveErr != nil {
		if data.Errors, err = alertFormErrors(saveErr, metricRuleFields...); err != nil {
			return err
		}
		status = http.StatusBadRequest
	}
	s.render(w, r, v, status, "rule-metric", data)
	return nil
}

// metricRuleDetailsURL is the path of a metric alert rule's page.
func metricRuleDetailsURL(org *herald.Organization, id int64) string {
	return "/organizations/" + org.Slug + "/alerts/rules/details/" + strconv.FormatInt(id, 10) + "/"
}

// metricRule loads the organization and metric alert rule the path
// names.
func (s *Server) metricRule(r *http.Request, v *visit) (*herald.Organization, *herald.MetricAlertRule, error) {
	org, err := s.organization(r, v)
	if err != nil {
		return nil, nil, err
	}
	id, err := alertPathID(r, "rule_id")
	if err != nil {
		return nil, nil, err
	}
	rule, err := s.store.FindMetricAlertByID(r.Context(), org.ID, id)
	if err != nil {
		return nil, nil, err
	}
	return org, rule, nil
}

// handleEditMetricRule shows and saves the form of a metric alert rule,
// /organizations/{org}/alerts/metric-rules/{rule_id}/; a POST with
// action=delete deletes it with its incidents. As the API's update, a
// save replaces the whole rule.
func (s *Server) handleEditMetricRule(w http.ResponseWriter, r *http.Request, v *visit) error {
	org, old, err := s.metricRule(r, v)
	if err != nil {
		return err
	}
	if err := v.require(metricRuleWrite); err != nil {
		return err
	}
	ctx := r.Context()
	f := metricRuleFormOf(old)
	var saveErr error
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			return herald.Errorf(herald.EINVALID, "The form could not be read.")
		}
		switch r.PostForm.Get("action") {
		case "delete":
			if err := s.store.DeleteMetricAlert(ctx, org.ID, old.ID); err != nil {
				return err
			}
			s.redirect(w, r, "/organizations/"+org.Slug+"/alerts/rules/", "Alert rule "+old.Name+" deleted.")
			return nil
		case "more":
			f = parseMetricRuleForm(r.PostForm)
		default:
			f = parseMetricRuleForm(r.PostForm)
			rule, err := s.metricRuleFromForm(ctx, org, f)
			if err == nil {
				rule.ID = old.ID
				err = s.store.UpdateMetricAlert(ctx, rule)
			}
			if err == nil {
				s.redirect(w, r, metricRuleDetailsURL(org, old.ID), "Alert rule "+rule.Name+" saved.")
				return nil
			}
			saveErr = err
		}
	}
	return s.renderMetricRuleForm(w, r, v, f, old, saveErr)
}

// incidentStatuses name the statuses of incidents and of their changes,
// with the badge class of each.
var incidentStatuses = map[int][2]string{
	herald.IncidentOpen:     {"Opened", "warn"},
	herald.IncidentClosed:   {"Resolved", "ok"},
	herald.IncidentWarning:  {"Warning", "warn"},
	herald.IncidentCritical: {"Critical", "bad"},
}

// incidentView is an incident as pages show it.
type incidentView struct {
	Incident      *herald.Incident
	Status, Badge string
	History       []incidentChangeView
	// Current marks the incident a link named (?alert=).
	Current bool
}

// incidentChangeView is one change of an incident's status.
type incidentChangeView struct {
	Status, Badge string
	Value         string
	At            time.Time
}

// newIncidentView returns in as pages show it, Current when its
// identifier is current.
func newIncidentView(in *herald.Incident, current int64) *incidentView {
	st := incidentStatuses[in.Status]
	out := &incidentView{Incident: in, Status: st[0], Badge: st[1], Current: current != 0 && in.Identifier == current}
	for _, h := range in.History {
		hs := incidentStatuses[h.Status]
		out.History = append(out.History, incidentChangeView{Status: hs[0], Badge: hs[1], Value: alertFloat(h.Value), At: h.At})
	}
	return out
}

// triggerView is a trigger of a metric alert rule as its page shows it.
type triggerView struct {
	Label     string
	Threshold string
	Actions   []string
}

// metricRuleDetailsPage is the data of a metric alert rule's page.
type metricRuleDetailsPage struct {
	Rule      *herald.MetricAlertRule
	Aggregate string
	Above     bool
	Resolve   string
	Triggers  []triggerView
	Incidents []*incidentView
	// Current is the incident ?alert= names; Missing is set when it names
	// none of the rule's.
	Current *incidentView
	Missing string
}

// handleMetricRuleDetails shows a metric alert rule with its incidents,
// /organizations/{org}/alerts/rules/details/{rule_id}/, the page the
// metric_alert.* payloads link to with ?alert=<identifier>: that
// incident is shown first with its status history, and marked in the
// list.
func (s *Server) handleMetricRuleDetails(w http.ResponseWriter, r *http.Request, v *visit) error {
	org, rule, err := s.metricRule(r, v)
	if err != nil {
		return err
	}
	if err := v.require(metricRuleRead); err != nil {
		return err
	}
	if !s.alertGetOnly(w, r, v) {
		return nil
	}
	ctx := r.Context()
	incidents, err := s.store.FindIncidents(ctx, org.ID, rule.ID)
	if err != nil {
		return err
	}
	insts, err := s.store.FindInstallations(ctx, org.ID)
	if err != nil {
		return err
	}
	apps := map[int64]string{}
	for _, inst := range insts {
		if inst.App != nil {
			apps[inst.AppID] = inst.App.Name
		}
	}
	data := &metricRuleDetailsPage{Rule: rule, Aggregate: alertOptionLabel(ruleChoices.Aggregates, rule.Aggregate),
		Above: rule.ThresholdType == herald.ThresholdAbove}
	if rule.ResolveThreshold != nil {
		data.Resolve = alertFloat(*rule.ResolveThreshold)
	}
	for _, t := range rule.Triggers {
		tv := triggerView{Label: t.Label, Threshold: alertFloat(t.AlertThreshold)}
		for _, a := range t.Actions {
			name := apps[a.SentryAppID]
			if name == "" {
				name = "Sentry App " + strconv.FormatInt(a.SentryAppID, 10) + " (not installed)"
			}
			text := "Send a notification via " + name
			if st := alertSettingsText(a.Settings); st != "" {
				text += " with settings " + st
			}
			tv.Actions = append(tv.Actions, text)
		}
		data.Triggers = append(data.Triggers, tv)
	}
	var current int64
	if q := r.URL.Query().Get("alert"); q != "" {
		current, _ = strconv.ParseInt(q, 10, 64)
		data.Missing = q
	}
	for _, in := range incidents {
		iv := newIncidentView(in, current)
		if iv.Current {
			data.Current, data.Missing = iv, ""
		}
		data.Incidents = append(data.Incidents, iv)
	}
	s.render(w, r, v, http.StatusOK, "rule-metric-details", data)
	return nil
}

// incidentPage is the data of an incident's page.
type incidentPage struct {
	Rule     *herald.MetricAlertRule
	Incident *incidentView
}

// handleIncident shows an incident with its status history,
// /organizations/{org}/alerts/{identifier}/ (identifiers number the
// organization's incidents).
func (s *Server) handleIncident(w http.ResponseWriter, r *http.Request, v *visit) error {
	org, err := s.organization(r, v)
	if err != nil {
		return err
	}
	identifier, err := alertPathID(r, "identifier")
	if err != nil {
		return err
	}
	if err := v.require(metricRuleRead); err != nil {
		return err
	}
	if !s.alertGetOnly(w, r, v) {
		return nil
	}
	rule, in, err := s.findIncident(r.Context(), org.ID, identifier)
	if err != nil {
		return err
	}
	s.render(w, r, v, http.StatusOK, "incident", &incidentPage{Rule: rule, Incident: newIncidentView(in, 0)})
	return nil
}

// findIncident returns the organization's incident with identifier and
// its rule, or ENOTFOUND. The store finds incidents by rule, so each
// rule's are read until it is found.
func (s *Server) findIncident(ctx context.Context, orgID, identifier int64) (*herald.MetricAlertRule, *herald.Incident, error) {
	rules, err := s.store.FindMetricAlerts(ctx, orgID)
	if err != nil {
		return nil, nil, err
	}
	for _, rule := range rules {
		incidents, err := s.store.FindIncidents(ctx, orgID, rule.ID)
		if err != nil {
			return nil, nil, err
		}
		for _, in := range incidents {
			if in.Identifier == identifier {
				return rule, in, nil
			}
		}
	}
	return nil, nil, herald.Errorf(herald.ENOTFOUND, "not found")
}
