package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/herald-dev/herald"
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
	r, err := scanMetric(s.queryRow(ctx, nil, `SELECT `+metricColumns+` FROM metric_alert_rules WHERE org_id = $1 AND id = $2 AND NOT deleted`, orgID, id))
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
	rules, err := s.metricRules(ctx, nil, `AND org_id = $1`, orgID)
	if err != nil {
		return nil, err
	}
	return rules, s.withProjectSlugs(ctx, nil, rules)
}

// metricRules loads the rules, but for deleted ones, that and (empty, or
// further conditions, from AND on) selects.
func (s *DB) metricRules(ctx context.Context, tx *sql.Tx, and string, args ...any) ([]*herald.MetricAlertRule, error) {
	rows, err := s.query(ctx, tx, `SELECT `+metricColumns+` FROM metric_alert_rules WHERE NOT deleted `+and+` ORDER BY id`, args...)
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
	rows, err := s.query(ctx, tx, `SELECT id, slug FROM projects WHERE id `+s.inInt(1)+` AND NOT deleted`, jsonList(ids))
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
// over, since they counted what the old query matched. Windows read no
// counter from before the rule's DateModified (Service.EvaluateMetricAlerts
// starts them there), so only the counters of its second and its minute,
// which a window starting then still reads, are deleted here; the older
// ones are left to PurgeAlertCounts. Deleting them all here held SQLite's
// writer, and every ingest batch, for 120 ms for a rule with a counter for
// every second of its last 25 hours.
func (s *DB) UpdateMetricAlert(ctx context.Context, r *herald.MetricAlertRule) error {
	ids, triggers, err := metricArgs(r)
	if err != nil {
		return err
	}
	r.DateModified = s.clock.Now().UTC().Truncate(time.Microsecond)
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE metric_alert_rules SET name = $1, aggregate = $2, query = $3, environment = $4, project_ids = $5,
			time_window = $6, threshold_type = $7, resolve_threshold = $8, triggers = $9, date_modified = $10 WHERE org_id = $11 AND id = $12
			AND NOT deleted`,
			r.Name, r.Aggregate, r.Query, r.Environment, ids, r.TimeWindow, r.ThresholdType, nullFloat(r.ResolveThreshold), triggers,
			ts(r.DateModified), r.OrganizationID, r.ID)
		if err != nil {
			return fmt.Errorf("update metric alert: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return herald.Errorf(herald.ENOTFOUND, "metric alert not found")
		}
		for _, d := range []struct {
			table, column string
			from          int64
		}{
			{metricCounters.seconds, "second", Second(r.DateModified)},
			{metricCounters.minutes, "minute", Minute(r.DateModified)},
			{metricCounters.users, "minute", Minute(r.DateModified)},
		} {
			if _, err := s.exec(ctx, tx, `DELETE FROM `+d.table+` WHERE rule_id = $1 AND `+d.column+` >= $2`, r.ID, d.from); err != nil {
				return fmt.Errorf("reset metric counts: %w", err)
			}
		}
		return nil
	})
}

// DeleteMetricAlert deletes the rule: it is marked deleted, which hides
// it from every read and stops its evaluation, and its incidents are
// deleted; its counters, and then its row, are left to PurgeMetricAlerts.
func (s *DB) DeleteMetricAlert(ctx context.Context, orgID, id int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		n, err := s.execCount(ctx, tx, `UPDATE metric_alert_rules SET deleted = true WHERE org_id = $1 AND id = $2 AND NOT deleted`, orgID, id)
		if err != nil {
			return fmt.Errorf("delete metric alert: %w", err)
		}
		if n == 0 {
			return herald.Errorf(herald.ENOTFOUND, "metric alert not found")
		}
		for _, q := range []string{
			`DELETE FROM incident_history WHERE incident_id IN (SELECT id FROM incidents WHERE rule_id = $1)`,
			`DELETE FROM incidents WHERE rule_id = $1`,
		} {
			if _, err := s.exec(ctx, tx, q, id); err != nil {
				return fmt.Errorf("delete metric alert: %w", err)
			}
		}
		return nil
	})
}

// MetricRules loads the metric alert rules of organizations (every rule
// when orgIDs is nil), ordered by id: one query. Those of organizations go
// through the configuration cache when the transaction uses it (see
// CacheConfig).
func (t *Tx) MetricRules(ctx context.Context, orgIDs []int64) ([]*herald.MetricAlertRule, error) {
	if orgIDs == nil {
		return t.s.metricRules(ctx, t.tx, ``)
	}
	return listByID(ctx, t, "metric rules", orgIDs,
		func(r *herald.MetricAlertRule) int64 { return r.OrganizationID }, func(r *herald.MetricAlertRule) int64 { return r.ID },
		func(ids []int64) ([]*herald.MetricAlertRule, error) {
			return t.s.metricRules(ctx, t.tx, `AND org_id `+t.s.inInt(1), jsonList(ids))
		})
}

// WithProjectSlugs sets the Projects of rules, in one query.
func (t *Tx) WithProjectSlugs(ctx context.Context, rules []*herald.MetricAlertRule) error {
	return t.s.withProjectSlugs(ctx, t.tx, rules)
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

// OpenIncidents loads the incidents that are not closed, by rule.
func (t *Tx) OpenIncidents(ctx context.Context) (map[int64]*herald.Incident, error) {
	rows, err := t.s.query(ctx, t.tx, `SELECT `+incidentColumns+` FROM incidents WHERE status <> $1`, herald.IncidentClosed)
	if err != nil {
		return nil, fmt.Errorf("load open incidents: %w", err)
	}
	defer rows.Close()
	open := map[int64]*herald.Incident{}
	for rows.Next() {
		in, err := scanIncident(rows)
		if err != nil {
			return nil, fmt.Errorf("scan incident: %w", err)
		}
		open[in.RuleID] = in
	}
	return open, rows.Err()
}

// InsertIncident writes a new incident of in.OrganizationID and sets its
// ID and Identifier, the organization's next.
func (t *Tx) InsertIncident(ctx context.Context, in *herald.Incident) error {
	s, tx := t.s, t.tx
	if err := s.queryRow(ctx, tx, `SELECT COALESCE(MAX(identifier), 0) + 1 FROM incidents WHERE org_id = $1`, in.OrganizationID).Scan(&in.Identifier); err != nil {
		return fmt.Errorf("next incident identifier: %w", err)
	}
	if err := s.queryRow(ctx, tx, `INSERT INTO incidents (org_id, rule_id, identifier, title, status, date_started) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		in.OrganizationID, in.RuleID, in.Identifier, in.Title, in.Status, ts(in.DateStarted)).Scan(&in.ID); err != nil {
		return fmt.Errorf("insert incident: %w", err)
	}
	return nil
}

// UpdateIncident writes an incident's status and closing time, and adds
// changes to its history.
func (t *Tx) UpdateIncident(ctx context.Context, in *herald.Incident, changes []herald.IncidentChange) error {
	s, tx := t.s, t.tx
	if _, err := s.exec(ctx, tx, `UPDATE incidents SET status = $1, date_closed = $2 WHERE id = $3`, in.Status, tsPtr(in.DateClosed), in.ID); err != nil {
		return fmt.Errorf("update incident: %w", err)
	}
	for _, ch := range changes {
		if _, err := s.exec(ctx, tx, `INSERT INTO incident_history (incident_id, status, value, at) VALUES ($1, $2, $3, $4)`,
			in.ID, ch.Status, ch.Value, ts(ch.At)); err != nil {
			return fmt.Errorf("insert incident history: %w", err)
		}
	}
	return nil
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
