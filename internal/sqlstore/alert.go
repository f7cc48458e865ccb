package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/alert"
	"github.com/herald-dev/herald/internal/webhook"
)

// storedTrigger is a metric alert trigger as the triggers column keeps it.
type storedTrigger struct {
	Label          string         `json:"label"`
	AlertThreshold float64        `json:"alertThreshold"`
	Actions        []storedAction `json:"actions"`
}

// storedAction is a trigger action as the triggers column keeps it.
type storedAction struct {
	Type        string `json:"type"`
	SentryAppID int64  `json:"sentryAppId"`
	Settings    any    `json:"settings,omitempty"`
}

const metricColumns = `id, org_id, name, aggregate, query, environment, project_ids, time_window, threshold_type, resolve_threshold, triggers, date_created, date_modified`

// metricArgs returns the stored forms of r's project ids and triggers.
func metricArgs(r *herald.MetricAlertRule) (string, string, error) {
	ids := make([]string, len(r.ProjectIDs))
	for i, id := range r.ProjectIDs {
		ids[i] = strconv.FormatInt(id, 10)
	}
	ts := make([]storedTrigger, len(r.Triggers))
	for i, t := range r.Triggers {
		ts[i] = storedTrigger{Label: t.Label, AlertThreshold: t.AlertThreshold, Actions: []storedAction{}}
		for _, a := range t.Actions {
			ts[i].Actions = append(ts[i].Actions, storedAction{Type: a.Type, SentryAppID: a.SentryAppID, Settings: a.Settings})
		}
	}
	b, err := json.Marshal(ts)
	if err != nil {
		return "", "", fmt.Errorf("encode triggers: %w", err)
	}
	return joinList(ids), string(b), nil
}

// scanMetric reads a metric alert rule. Triggers and actions are numbered
// from the rule's id: trigger i of rule r is r*100+i+1 and action j of
// trigger t is t*100+j+1.
func scanMetric(row interface{ Scan(...any) error }) (*herald.MetricAlertRule, error) {
	r := &herald.MetricAlertRule{}
	var ids, triggers string
	var resolve sql.NullFloat64
	var created, modified int64
	if err := row.Scan(&r.ID, &r.OrganizationID, &r.Name, &r.Aggregate, &r.Query, &r.Environment, &ids, &r.TimeWindow,
		&r.ThresholdType, &resolve, &triggers, &created, &modified); err != nil {
		return nil, err
	}
	for _, s := range splitList(ids) {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("metric alert %d project id %q: %w", r.ID, s, err)
		}
		r.ProjectIDs = append(r.ProjectIDs, id)
	}
	if resolve.Valid {
		v := resolve.Float64
		r.ResolveThreshold = &v
	}
	var ts []storedTrigger
	if err := json.Unmarshal([]byte(triggers), &ts); err != nil {
		return nil, fmt.Errorf("decode metric alert %d triggers: %w", r.ID, err)
	}
	for i, t := range ts {
		mt := &herald.MetricTrigger{ID: r.ID*100 + int64(i) + 1, Label: t.Label, AlertThreshold: t.AlertThreshold}
		for j, a := range t.Actions {
			mt.Actions = append(mt.Actions, &herald.MetricTriggerAction{ID: mt.ID*100 + int64(j) + 1, Type: a.Type,
				SentryAppID: a.SentryAppID, Settings: a.Settings})
		}
		r.Triggers = append(r.Triggers, mt)
	}
	r.DateCreated, r.DateModified = fromTS(created), fromTS(modified)
	return r, nil
}

// CreateMetricAlert inserts r; see herald.MetricAlertService.
func (s *DB) CreateMetricAlert(ctx context.Context, r *herald.MetricAlertRule) error {
	ids, triggers, err := metricArgs(r)
	if err != nil {
		return err
	}
	r.DateCreated = s.clock.Now().UTC().Truncate(time.Microsecond)
	r.DateModified = r.DateCreated
	err = s.queryRow(ctx, nil, `INSERT INTO metric_alert_rules (org_id, name, aggregate, query, environment, project_ids, time_window, threshold_type,
		resolve_threshold, triggers, date_created, date_modified) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id`,
		r.OrganizationID, r.Name, r.Aggregate, r.Query, r.Environment, ids, r.TimeWindow, r.ThresholdType, nullFloat(r.ResolveThreshold),
		triggers, ts(r.DateCreated)).Scan(&r.ID)
	if err != nil {
		return fmt.Errorf("insert metric alert: %w", err)
	}
	stored, err := s.FindMetricAlertByID(ctx, r.OrganizationID, r.ID)
	if err != nil {
		return err
	}
	*r = *stored
	return nil
}

func nullFloat(f *float64) sql.NullFloat64 {
	if f == nil {
		return sql.NullFloat64{}
	}
	return sql.NullFloat64{Float64: *f, Valid: true}
}

// FindMetricAlertByID returns the organization's rule or ENOTFOUND.
func (s *DB) FindMetricAlertByID(ctx context.Context, orgID, id int64) (*herald.MetricAlertRule, error) {
	r, err := scanMetric(s.queryRow(ctx, nil, `SELECT `+metricColumns+` FROM metric_alert_rules WHERE org_id = $1 AND id = $2`, orgID, id))
	if err != nil {
		return nil, notFound(err, "metric alert")
	}
	if err := s.withProjectSlugs(ctx, nil, []*herald.MetricAlertRule{r}); err != nil {
		return nil, err
	}
	return r, nil
}

// FindMetricAlerts lists the organization's rules ordered by id.
func (s *DB) FindMetricAlerts(ctx context.Context, orgID int64) ([]*herald.MetricAlertRule, error) {
	rules, err := s.metricRules(ctx, nil, `WHERE org_id = $1`, orgID)
	if err != nil {
		return nil, err
	}
	return rules, s.withProjectSlugs(ctx, nil, rules)
}

// metricRules loads the rules selected by where.
func (s *DB) metricRules(ctx context.Context, tx *sql.Tx, where string, args ...any) ([]*herald.MetricAlertRule, error) {
	rows, err := s.query(ctx, tx, `SELECT `+metricColumns+` FROM metric_alert_rules `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("find metric alerts: %w", err)
	}
	defer rows.Close()
	out := []*herald.MetricAlertRule{}
	for rows.Next() {
		r, err := scanMetric(rows)
		if err != nil {
			return nil, fmt.Errorf("scan metric alert: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// withProjectSlugs sets the Projects of rules, in one query.
func (s *DB) withProjectSlugs(ctx context.Context, tx *sql.Tx, rules []*herald.MetricAlertRule) error {
	var ids []int64
	for _, r := range rules {
		ids = append(ids, r.ProjectIDs...)
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := s.query(ctx, tx, `SELECT id, slug FROM projects WHERE id `+s.inInt(1), jsonList(ids))
	if err != nil {
		return fmt.Errorf("load project slugs: %w", err)
	}
	defer rows.Close()
	slugs := map[int64]string{}
	for rows.Next() {
		var id int64
		var slug string
		if err := rows.Scan(&id, &slug); err != nil {
			return fmt.Errorf("scan project slug: %w", err)
		}
		slugs[id] = slug
	}
	for _, r := range rules {
		r.Projects = []string{}
		for _, id := range r.ProjectIDs {
			if slug, ok := slugs[id]; ok {
				r.Projects = append(r.Projects, slug)
			}
		}
	}
	return rows.Err()
}

// UpdateMetricAlert replaces a rule's settings; its window counts start
// over, since they counted what the old query matched.
func (s *DB) UpdateMetricAlert(ctx context.Context, r *herald.MetricAlertRule) error {
	ids, triggers, err := metricArgs(r)
	if err != nil {
		return err
	}
	r.DateModified = s.clock.Now().UTC().Truncate(time.Microsecond)
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE metric_alert_rules SET name = $1, aggregate = $2, query = $3, environment = $4, project_ids = $5,
			time_window = $6, threshold_type = $7, resolve_threshold = $8, triggers = $9, date_modified = $10 WHERE org_id = $11 AND id = $12`,
			r.Name, r.Aggregate, r.Query, r.Environment, ids, r.TimeWindow, r.ThresholdType, nullFloat(r.ResolveThreshold), triggers,
			ts(r.DateModified), r.OrganizationID, r.ID)
		if err != nil {
			return fmt.Errorf("update metric alert: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return herald.Errorf(herald.ENOTFOUND, "metric alert not found")
		}
		for _, q := range []string{`DELETE FROM metric_minutes WHERE rule_id = $1`, `DELETE FROM metric_minute_users WHERE rule_id = $1`} {
			if _, err := s.exec(ctx, tx, q, r.ID); err != nil {
				return fmt.Errorf("reset metric counts: %w", err)
			}
		}
		return nil
	})
}

// DeleteMetricAlert removes the rule, its counts and its incidents.
func (s *DB) DeleteMetricAlert(ctx context.Context, orgID, id int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var found int64
		if err := s.queryRow(ctx, tx, `SELECT id FROM metric_alert_rules WHERE org_id = $1 AND id = $2`, orgID, id).Scan(&found); err != nil {
			return notFound(err, "metric alert")
		}
		for _, q := range []string{
			`DELETE FROM incident_history WHERE incident_id IN (SELECT id FROM incidents WHERE rule_id = $1)`,
			`DELETE FROM incidents WHERE rule_id = $1`,
			`DELETE FROM metric_minutes WHERE rule_id = $1`,
			`DELETE FROM metric_minute_users WHERE rule_id = $1`,
			`DELETE FROM metric_alert_rules WHERE id = $1`,
		} {
			if _, err := s.exec(ctx, tx, q, id); err != nil {
				return fmt.Errorf("delete metric alert: %w", err)
			}
		}
		return nil
	})
}

// metricCount is what a batch adds to one metric alert rule's counters.
type metricCount struct {
	rule  int64
	n     int
	users []string
}

// metricCounts matches a batch's events against the metric alert rules of
// the batch's organizations: one query for the rules, then each event
// against each rule in memory. addMetricCounts writes the result.
func (s *DB) metricCounts(ctx context.Context, tx *sql.Tx, events []*herald.Event, projects map[int64]*herald.Project) ([]metricCount, error) {
	var orgIDs []int64
	for _, p := range projects {
		if !slices.Contains(orgIDs, p.OrganizationID) {
			orgIDs = append(orgIDs, p.OrganizationID)
		}
	}
	if len(orgIDs) == 0 {
		return nil, nil
	}
	rules, err := s.metricRules(ctx, tx, `WHERE org_id `+s.inInt(1), jsonList(orgIDs))
	if err != nil || len(rules) == 0 {
		return nil, err
	}
	var out []metricCount
	for _, r := range rules {
		c, err := alert.CompileMetric(r)
		if err != nil {
			s.logger.Warn("skipping an invalid metric alert", "rule", r.ID, "err", err)
			continue
		}
		mc := metricCount{rule: r.ID}
		for _, e := range events {
			if !c.Counts(e) {
				continue
			}
			mc.n++
			if r.Aggregate == herald.AggregateUniqueUsers && e.UserKey != "" && !slices.Contains(mc.users, e.UserKey) {
				mc.users = append(mc.users, e.UserKey)
			}
		}
		if mc.n > 0 {
			out = append(out, mc)
		}
	}
	return out, nil
}

// addMetricCounts adds counts to the rules' counters of now's minute: one
// upsert per rule, one insert per distinct user. SaveEvents does it last,
// as it counts issues last: the counter row of a busy rule stays locked
// only until the commit that follows.
func (s *DB) addMetricCounts(ctx context.Context, tx *sql.Tx, counts []metricCount, now time.Time) error {
	m := minute(now)
	for _, c := range counts {
		if _, err := s.exec(ctx, tx, `INSERT INTO metric_minutes (rule_id, minute, events) VALUES ($1, $2, $3)
			ON CONFLICT (rule_id, minute) DO UPDATE SET events = metric_minutes.events + excluded.events`, c.rule, m, c.n); err != nil {
			return fmt.Errorf("count metric minute: %w", err)
		}
		for _, u := range c.users {
			if _, err := s.exec(ctx, tx, `INSERT INTO metric_minute_users (rule_id, minute, user_key) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
				c.rule, m, u); err != nil {
				return fmt.Errorf("count metric user: %w", err)
			}
		}
	}
	return nil
}

// metricValue reads a rule's aggregate over its window ending at now: at
// most TimeWindow counter rows, by primary key range.
func (s *DB) metricValue(ctx context.Context, r *herald.MetricAlertRule, now time.Time) (float64, error) {
	q := `SELECT COALESCE(SUM(events), 0) FROM metric_minutes WHERE rule_id = $1 AND minute > $2`
	if r.Aggregate == herald.AggregateUniqueUsers {
		q = `SELECT COUNT(DISTINCT user_key) FROM metric_minute_users WHERE rule_id = $1 AND minute > $2`
	}
	var n int64
	if err := s.queryRow(ctx, nil, q, r.ID, minute(now)-int64(r.TimeWindow)).Scan(&n); err != nil {
		return 0, fmt.Errorf("metric value: %w", err)
	}
	return float64(n), nil
}

const incidentColumns = `id, org_id, rule_id, identifier, title, status, date_started, date_closed`

func scanIncident(row interface{ Scan(...any) error }) (*herald.Incident, error) {
	in := &herald.Incident{}
	var started int64
	var closed sql.NullInt64
	if err := row.Scan(&in.ID, &in.OrganizationID, &in.RuleID, &in.Identifier, &in.Title, &in.Status, &started, &closed); err != nil {
		return nil, err
	}
	in.DateStarted, in.DateClosed = fromTS(started), fromTSPtr(closed)
	return in, nil
}

// EvaluateMetricAlerts evaluates every metric alert rule at now. It reads
// the rules and the open incidents (two queries), then each rule's window
// (one range read of at most TimeWindow rows); a rule whose status changes
// gets its own transaction with the incident change, its history and its
// deliveries.
func (s *DB) EvaluateMetricAlerts(ctx context.Context, now time.Time) error {
	now = now.UTC()
	rules, err := s.metricRules(ctx, nil, ``)
	if err != nil || len(rules) == 0 {
		return err
	}
	rows, err := s.query(ctx, nil, `SELECT `+incidentColumns+` FROM incidents WHERE status <> $1`, herald.IncidentClosed)
	if err != nil {
		return fmt.Errorf("load open incidents: %w", err)
	}
	open := map[int64]*herald.Incident{}
	for rows.Next() {
		in, err := scanIncident(rows)
		if err != nil {
			rows.Close()
			return fmt.Errorf("scan incident: %w", err)
		}
		open[in.RuleID] = in
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var errs []error
	for _, r := range rules {
		c, err := alert.CompileMetric(r)
		if err != nil {
			s.logger.Warn("skipping an invalid metric alert", "rule", r.ID, "err", err)
			continue
		}
		value, err := s.metricValue(ctx, r, now)
		if err != nil {
			return err
		}
		cur := herald.IncidentClosed
		if in := open[r.ID]; in != nil {
			cur = in.Status
		}
		next := c.Thresholds().Next(cur, value)
		if next == cur {
			continue
		}
		if err := s.changeIncident(ctx, r, open[r.ID], next, value, now); err != nil {
			errs = append(errs, fmt.Errorf("metric alert %d: %w", r.ID, err))
		}
	}
	return errors.Join(errs...)
}

// changeIncident moves rule r's incident (nil when none is open) to status
// next in one transaction: the incident row, its history and the
// metric_alert deliveries to the installations of the apps the rule's
// triggers name.
func (s *DB) changeIncident(ctx context.Context, r *herald.MetricAlertRule, in *herald.Incident, next int, value float64, now time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var events []string
		switch {
		case in == nil:
			in = &herald.Incident{OrganizationID: r.OrganizationID, RuleID: r.ID, Title: r.Name, Status: next, DateStarted: now}
			if err := s.queryRow(ctx, tx, `SELECT COALESCE(MAX(identifier), 0) + 1 FROM incidents WHERE org_id = $1`, r.OrganizationID).Scan(&in.Identifier); err != nil {
				return fmt.Errorf("next incident identifier: %w", err)
			}
			if err := s.queryRow(ctx, tx, `INSERT INTO incidents (org_id, rule_id, identifier, title, status, date_started) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
				in.OrganizationID, in.RuleID, in.Identifier, in.Title, in.Status, ts(now)).Scan(&in.ID); err != nil {
				return fmt.Errorf("insert incident: %w", err)
			}
			events = []string{webhook.MetricAlertOpen, incidentEvent(next)}
		case next == herald.IncidentClosed:
			in.DateClosed = &now
			events = []string{webhook.MetricAlertResolved}
		default:
			events = []string{incidentEvent(next)}
		}
		in.Status = next
		if _, err := s.exec(ctx, tx, `UPDATE incidents SET status = $1, date_closed = $2 WHERE id = $3`, in.Status, tsPtr(in.DateClosed), in.ID); err != nil {
			return fmt.Errorf("update incident: %w", err)
		}
		for _, e := range events {
			if _, err := s.exec(ctx, tx, `INSERT INTO incident_history (incident_id, status, value, at) VALUES ($1, $2, $3, $4)`,
				in.ID, eventStatus(e, next), value, ts(now)); err != nil {
				return fmt.Errorf("insert incident history: %w", err)
			}
		}
		mn, ok := s.notifier.(herald.MetricNotifier)
		if !ok {
			return nil
		}
		org, installs, err := s.metricTargets(ctx, tx, r)
		if err != nil {
			return err
		}
		if err := s.withProjectSlugs(ctx, tx, []*herald.MetricAlertRule{r}); err != nil {
			return err
		}
		var ds []*herald.Delivery
		for i, e := range events {
			shown := *in
			shown.Status = eventStatus(e, next)
			// A millisecond apart, the level's deliveries sort after open's.
			at := now.Add(time.Duration(i) * time.Millisecond)
			ds = append(ds, mn.IncidentChanged(&herald.MetricAlertChange{Event: e, Rule: r, Incident: &shown, Value: value,
				Organization: org, Installations: installs, Now: at})...)
		}
		return s.enqueue(ctx, tx, ds)
	})
}

// incidentEvent names the webhook of an incident reaching status.
func incidentEvent(status int) string {
	if status == herald.IncidentCritical {
		return webhook.MetricAlertCritical
	}
	return webhook.MetricAlertWarning
}

// eventStatus is the incident status a metric_alert event shows.
func eventStatus(event string, next int) int {
	switch event {
	case webhook.MetricAlertOpen:
		return herald.IncidentOpen
	case webhook.MetricAlertResolved:
		return herald.IncidentClosed
	}
	return next
}

// metricTargets loads a rule's organization and the live installations on
// it of the apps its trigger actions name, with their App.
func (s *DB) metricTargets(ctx context.Context, tx *sql.Tx, r *herald.MetricAlertRule) (*herald.Organization, []*herald.Installation, error) {
	org := &herald.Organization{}
	var created int64
	if err := s.queryRow(ctx, tx, `SELECT id, slug, name, date_created FROM organizations WHERE id = $1`, r.OrganizationID).Scan(
		&org.ID, &org.Slug, &org.Name, &created); err != nil {
		return nil, nil, fmt.Errorf("load organization: %w", err)
	}
	org.DateCreated = fromTS(created)
	var appIDs []int64
	for _, t := range r.Triggers {
		for _, a := range t.Actions {
			if !slices.Contains(appIDs, a.SentryAppID) {
				appIDs = append(appIDs, a.SentryAppID)
			}
		}
	}
	if len(appIDs) == 0 {
		return org, nil, nil
	}
	rows, err := s.query(ctx, tx, `SELECT i.id, i.uuid, i.app_id, i.org_id, a.uuid, a.slug, a.name, a.status, a.webhook_url, a.events, a.client_secret
		FROM app_installations i JOIN sentry_apps a ON a.id = i.app_id
		WHERE i.status = $1 AND a.webhook_url <> '' AND i.org_id = $2 AND i.app_id `+s.inInt(3)+` ORDER BY i.id`,
		herald.InstallationInstalled, r.OrganizationID, jsonList(appIDs))
	if err != nil {
		return nil, nil, fmt.Errorf("load installations: %w", err)
	}
	defer rows.Close()
	var out []*herald.Installation
	for rows.Next() {
		inst := &herald.Installation{Status: herald.InstallationInstalled, App: &herald.SentryApp{}}
		a := inst.App
		var events string
		if err := rows.Scan(&inst.ID, &inst.UUID, &inst.AppID, &inst.OrganizationID, &a.UUID, &a.Slug, &a.Name, &a.Status,
			&a.WebhookURL, &events, &a.ClientSecret); err != nil {
			return nil, nil, fmt.Errorf("scan installation: %w", err)
		}
		a.ID, a.Events, inst.Organization = inst.AppID, splitList(events), org
		out = append(out, inst)
	}
	return org, out, rows.Err()
}

// FindIncidents lists a rule's incidents, newest first, with their
// history (two queries).
func (s *DB) FindIncidents(ctx context.Context, orgID, ruleID int64) ([]*herald.Incident, error) {
	rows, err := s.query(ctx, nil, `SELECT `+incidentColumns+` FROM incidents WHERE org_id = $1 AND rule_id = $2 ORDER BY id DESC LIMIT 100`, orgID, ruleID)
	if err != nil {
		return nil, fmt.Errorf("find incidents: %w", err)
	}
	out := []*herald.Incident{}
	byID := map[int64]*herald.Incident{}
	var ids []int64
	for rows.Next() {
		in, err := scanIncident(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan incident: %w", err)
		}
		out = append(out, in)
		byID[in.ID] = in
		ids = append(ids, in.ID)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return out, err
	}
	hrows, err := s.query(ctx, nil, `SELECT incident_id, status, value, at FROM incident_history WHERE incident_id `+s.inInt(1)+` ORDER BY at, status`, jsonList(ids))
	if err != nil {
		return nil, fmt.Errorf("find incident history: %w", err)
	}
	defer hrows.Close()
	for hrows.Next() {
		var id, at int64
		var ch herald.IncidentChange
		if err := hrows.Scan(&id, &ch.Status, &ch.Value, &at); err != nil {
			return nil, fmt.Errorf("scan incident history: %w", err)
		}
		ch.At = fromTS(at)
		byID[id].History = append(byID[id].History, ch)
	}
	return out, hrows.Err()
}

// MetricAlertArgs are the arguments of the periodic job that evaluates
// metric alerts; River runs periodic jobs on the elected leader only.
type MetricAlertArgs struct{}

// Kind is the job kind (River's JobArgs).
func (MetricAlertArgs) Kind() string { return "herald.metric_alerts" }

// metricAlertWorker runs MetricAlertArgs jobs.
type metricAlertWorker struct {
	river.WorkerDefaults[MetricAlertArgs]
	s *DB
}

// Work evaluates every metric alert at the store's time.
func (w *metricAlertWorker) Work(ctx context.Context, _ *river.Job[MetricAlertArgs]) error {
	return w.s.EvaluateMetricAlerts(ctx, w.s.clock.Now())
}

// Ages past which alert counters are no use: no issue alert window is
// longer than 30 days, no metric alert window longer than a day.
const (
	issueCountAge  = 31 * 24 * time.Hour
	metricCountAge = 25 * time.Hour
)

// PurgeAlertCounts deletes the minute counters no alert window can reach
// any more at now, and returns how many rows it deleted.
func (s *DB) PurgeAlertCounts(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for _, p := range []struct {
		q   string
		age time.Duration
	}{
		{`DELETE FROM issue_minutes WHERE minute < $1`, issueCountAge},
		{`DELETE FROM issue_minute_users WHERE minute < $1`, issueCountAge},
		{`DELETE FROM metric_minutes WHERE minute < $1`, metricCountAge},
		{`DELETE FROM metric_minute_users WHERE minute < $1`, metricCountAge},
	} {
		res, err := s.exec(ctx, nil, p.q, minute(now.Add(-p.age)))
		if err != nil {
			return total, fmt.Errorf("purge alert counts: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}
