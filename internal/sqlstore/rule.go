package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/alert"
)

const ruleColumns = `id, project_id, name, action_match, filter_match, frequency, environment, conditions, filters, actions, date_created`

// encodeItems stores a rule's items as a JSON list.
func encodeItems(items []herald.RuleItem) (string, error) {
	if items == nil {
		items = []herald.RuleItem{}
	}
	b, err := json.Marshal(items)
	if err != nil {
		return "", fmt.Errorf("encode rule items: %w", err)
	}
	return string(b), nil
}

func scanRule(row interface{ Scan(...any) error }) (*herald.AlertRule, error) {
	r := &herald.AlertRule{}
	var conds, filters, actions string
	var created int64
	if err := row.Scan(&r.ID, &r.ProjectID, &r.Name, &r.ActionMatch, &r.FilterMatch, &r.Frequency, &r.Environment,
		&conds, &filters, &actions, &created); err != nil {
		return nil, err
	}
	for _, x := range []struct {
		raw string
		dst *[]herald.RuleItem
	}{{conds, &r.Conditions}, {filters, &r.Filters}, {actions, &r.Actions}} {
		if err := json.Unmarshal([]byte(x.raw), x.dst); err != nil {
			return nil, fmt.Errorf("decode rule %d items: %w", r.ID, err)
		}
	}
	r.DateCreated = fromTS(created)
	return r, nil
}

// ruleArgs returns the stored form of r's settings.
func ruleArgs(r *herald.AlertRule) ([]any, error) {
	var out []any
	for _, items := range [][]herald.RuleItem{r.Conditions, r.Filters, r.Actions} {
		s, err := encodeItems(items)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// CreateRule inserts r; see herald.RuleService.
func (s *DB) CreateRule(ctx context.Context, r *herald.AlertRule) error {
	items, err := ruleArgs(r)
	if err != nil {
		return err
	}
	r.DateCreated = s.clock.Now().UTC().Truncate(time.Microsecond)
	err = s.queryRow(ctx, nil, `INSERT INTO alert_rules (project_id, name, action_match, filter_match, frequency, environment, conditions, filters, actions, date_created)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		r.ProjectID, r.Name, r.ActionMatch, r.FilterMatch, r.Frequency, r.Environment, items[0], items[1], items[2], ts(r.DateCreated)).Scan(&r.ID)
	if err != nil {
		return fmt.Errorf("insert rule: %w", err)
	}
	return nil
}

// FindRuleByID returns the project's rule or ENOTFOUND.
func (s *DB) FindRuleByID(ctx context.Context, projectID, id int64) (*herald.AlertRule, error) {
	r, err := scanRule(s.queryRow(ctx, nil, `SELECT `+ruleColumns+` FROM alert_rules WHERE project_id = $1 AND id = $2`, projectID, id))
	if err != nil {
		return nil, notFound(err, "rule")
	}
	return r, nil
}

// FindRules lists a project's rules ordered by id.
func (s *DB) FindRules(ctx context.Context, projectID int64) ([]*herald.AlertRule, error) {
	return s.projectRules(ctx, nil, []int64{projectID})
}

// projectRules loads the rules of projects in one query.
func (s *DB) projectRules(ctx context.Context, tx *sql.Tx, projectIDs []int64) ([]*herald.AlertRule, error) {
	rows, err := s.query(ctx, tx, `SELECT `+ruleColumns+` FROM alert_rules WHERE project_id `+s.inInt(1)+` ORDER BY id`, jsonList(projectIDs))
	if err != nil {
		return nil, fmt.Errorf("find rules: %w", err)
	}
	defer rows.Close()
	out := []*herald.AlertRule{}
	for rows.Next() {
		r, err := scanRule(rows)
		if err != nil {
			return nil, fmt.Errorf("scan rule: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// UpdateRule replaces the settings of a project's rule.
func (s *DB) UpdateRule(ctx context.Context, r *herald.AlertRule) error {
	items, err := ruleArgs(r)
	if err != nil {
		return err
	}
	res, err := s.exec(ctx, nil, `UPDATE alert_rules SET name = $1, action_match = $2, filter_match = $3, frequency = $4, environment = $5,
		conditions = $6, filters = $7, actions = $8 WHERE project_id = $9 AND id = $10`,
		r.Name, r.ActionMatch, r.FilterMatch, r.Frequency, r.Environment, items[0], items[1], items[2], r.ProjectID, r.ID)
	if err != nil {
		return fmt.Errorf("update rule: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return herald.Errorf(herald.ENOTFOUND, "rule not found")
	}
	return nil
}

// DeleteRule removes a project's rule and its fire times.
func (s *DB) DeleteRule(ctx context.Context, projectID, id int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `DELETE FROM rule_fires WHERE rule_id = $1 AND rule_id IN (SELECT id FROM alert_rules WHERE project_id = $2)`, id, projectID); err != nil {
			return fmt.Errorf("delete rule fires: %w", err)
		}
		res, err := s.exec(ctx, tx, `DELETE FROM alert_rules WHERE project_id = $1 AND id = $2`, projectID, id)
		if err != nil {
			return fmt.Errorf("delete rule: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return herald.Errorf(herald.ENOTFOUND, "rule not found")
		}
		return nil
	})
}

// minute is the unix minute of t, the bucket of the per-issue counters.
func minute(t time.Time) int64 { return t.Unix() / 60 }

// issueWindow holds what the batch's frequency conditions read of one
// issue: counts per window, read at most once per batch.
type issueWindow struct {
	events map[time.Duration]int64
	users  map[time.Duration]int64
}

// evaluateRules runs the issue alert rules of the batch's projects over its
// changes (hooks and time set) and returns the deliveries of the rules that
// fired; the issue event counts it leaves in ac are for addAlertCounts. It
// costs one query for the rules, nothing more when the batch's projects
// have none; then one query for the fire times of the batch's issues, one
// insert per new user where a rule counts users, one indexed range read per
// issue and window, one upsert per firing, and one installation query when
// a firing rule targets Sentry Apps.
func (s *DB) evaluateRules(ctx context.Context, tx *sql.Tx, changes []*herald.EventChange, now time.Time, ac *alertCounts) ([]*herald.Delivery, error) {
	an, ok := s.notifier.(herald.AlertNotifier)
	if !ok || len(changes) == 0 {
		return nil, nil
	}
	var projectIDs []int64
	for _, c := range changes {
		if !slices.Contains(projectIDs, c.Project.ID) {
			projectIDs = append(projectIDs, c.Project.ID)
		}
	}
	stored, err := s.projectRules(ctx, tx, projectIDs)
	if err != nil || len(stored) == 0 {
		return nil, err
	}
	rules := map[int64][]*alert.Rule{}
	var ruleIDs []int64
	countEvents, countUsers := map[int64]bool{}, map[int64]bool{}
	for _, r := range stored {
		c, err := alert.Compile(r)
		if err != nil {
			// Rules are validated when written; one that no longer
			// compiles must not stop ingest.
			s.logger.Warn("skipping an invalid alert rule", "rule", r.ID, "err", err)
			continue
		}
		rules[r.ProjectID] = append(rules[r.ProjectID], c)
		ruleIDs = append(ruleIDs, r.ID)
		ev, us := c.Windows()
		countEvents[r.ProjectID] = countEvents[r.ProjectID] || len(ev) > 0
		countUsers[r.ProjectID] = countUsers[r.ProjectID] || len(us) > 0
	}
	var issueIDs []int64
	for _, c := range changes {
		if len(rules[c.Project.ID]) > 0 && !slices.Contains(issueIDs, c.Issue.ID) {
			issueIDs = append(issueIDs, c.Issue.ID)
		}
	}
	if len(issueIDs) == 0 {
		return nil, nil
	}
	pending, err := s.countMinutes(ctx, tx, changes, countEvents, countUsers, now)
	if err != nil {
		return nil, err
	}
	ac.issues = pending
	fired, err := s.fireTimes(ctx, tx, ruleIDs, issueIDs)
	if err != nil {
		return nil, err
	}
	windows := map[int64]*issueWindow{}
	type firing struct {
		change *herald.EventChange
		rules  []*herald.AlertRule
	}
	var firings []firing
	var uuids []string
	for _, c := range changes {
		in := &alert.Input{Event: c.Event, Issue: c.Issue, FirstSeen: c.IssueCreated, Regressed: c.IssueRegressed, Now: now}
		w := windows[c.Issue.ID]
		if w == nil {
			w = &issueWindow{events: map[time.Duration]int64{}, users: map[time.Duration]int64{}}
			windows[c.Issue.ID] = w
		}
		var countErr error
		in.Events = func(d time.Duration) int64 {
			n, err := s.windowCount(ctx, tx, w.events, `SELECT COALESCE(SUM(events), 0) FROM issue_minutes WHERE issue_id = $1 AND minute > $2`, c.Issue.ID, d, now)
			countErr = err
			return n + pending.events[c.Issue.ID]
		}
		in.Users = func(d time.Duration) int64 {
			n, err := s.windowCount(ctx, tx, w.users, `SELECT COUNT(DISTINCT user_key) FROM issue_minute_users WHERE issue_id = $1 AND minute > $2`, c.Issue.ID, d, now)
			countErr = err
			return n
		}
		var fire []*herald.AlertRule
		for _, r := range rules[c.Project.ID] {
			key := fireKey{r.ID, c.Issue.ID}
			if last, ok := fired[key]; ok && now.Before(last.Add(time.Duration(r.Frequency)*time.Minute)) {
				continue
			}
			match := r.Matches(in)
			if countErr != nil {
				return nil, countErr
			}
			if !match {
				continue
			}
			won, err := s.recordFire(ctx, tx, key, now, now.Add(-time.Duration(r.Frequency)*time.Minute))
			if err != nil {
				return nil, err
			}
			fired[key] = now
			if !won {
				continue // another node fired it for this issue meanwhile
			}
			fire = append(fire, r.AlertRule)
			for _, u := range r.Installations {
				if !slices.Contains(uuids, u) {
					uuids = append(uuids, u)
				}
			}
		}
		if len(fire) > 0 {
			firings = append(firings, firing{c, fire})
		}
	}
	if len(firings) == 0 {
		return nil, nil
	}
	installs, err := s.installationsByUUID(ctx, tx, uuids)
	if err != nil {
		return nil, err
	}
	var ds []*herald.Delivery
	for _, f := range firings {
		ds = append(ds, an.RulesFired(f.change, f.rules, installs)...)
	}
	return ds, nil
}

// fireKey names the fire time of a rule for an issue.
type fireKey struct {
	rule  int64
	issue int64
}

// fireTimes loads when each rule last fired for each issue, in one query.
func (s *DB) fireTimes(ctx context.Context, tx *sql.Tx, ruleIDs, issueIDs []int64) (map[fireKey]time.Time, error) {
	rows, err := s.query(ctx, tx, `SELECT rule_id, issue_id, fired_at FROM rule_fires WHERE rule_id `+s.inInt(1)+` AND issue_id `+s.inInt(2),
		jsonList(ruleIDs), jsonList(issueIDs))
	if err != nil {
		return nil, fmt.Errorf("load rule fires: %w", err)
	}
	defer rows.Close()
	out := map[fireKey]time.Time{}
	for rows.Next() {
		var k fireKey
		var at int64
		if err := rows.Scan(&k.rule, &k.issue, &at); err != nil {
			return nil, fmt.Errorf("scan rule fire: %w", err)
		}
		out[k] = fromTS(at)
	}
	return out, rows.Err()
}

// recordFire sets the fire time of a rule for an issue, unless it fired
// after since (another transaction got there first), and reports whether
// it did.
func (s *DB) recordFire(ctx context.Context, tx *sql.Tx, k fireKey, now, since time.Time) (bool, error) {
	var id int64
	err := s.queryRow(ctx, tx, `INSERT INTO rule_fires (rule_id, issue_id, fired_at) VALUES ($1, $2, $3)
		ON CONFLICT (rule_id, issue_id) DO UPDATE SET fired_at = excluded.fired_at WHERE rule_fires.fired_at <= $4 RETURNING rule_id`,
		k.rule, k.issue, ts(now), ts(since)).Scan(&id)
	if err == sql.ErrNoRows {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("record rule fire: %w", err)
	}
	return true, nil
}

// issueMinutes are the events a batch adds to the minute counters of
// issues, written by addAlertCounts at the end of the batch.
type issueMinutes struct {
	order  []int64
	events map[int64]int64
}

// countMinutes counts the batch's events per issue, for the projects whose
// rules count events, and records the batch's users on the per-issue
// minute rows of the projects whose rules count users (one insert per
// distinct user of an issue in the batch). Event counts are written last,
// by addAlertCounts, so that the hot counter row of a busy issue is locked
// only until the commit that follows; until then the batch's counts are
// added in memory.
func (s *DB) countMinutes(ctx context.Context, tx *sql.Tx, changes []*herald.EventChange, events, users map[int64]bool, now time.Time) (issueMinutes, error) {
	m := minute(now)
	out := issueMinutes{events: map[int64]int64{}}
	type issueUser struct {
		issue int64
		user  string
	}
	seenUsers := map[issueUser]bool{}
	for _, c := range changes {
		p := c.Project.ID
		if events[p] {
			if _, ok := out.events[c.Issue.ID]; !ok {
				out.order = append(out.order, c.Issue.ID)
			}
			out.events[c.Issue.ID]++
		}
		if k := c.Event.UserKey; users[p] && k != "" && !seenUsers[issueUser{c.Issue.ID, k}] {
			seenUsers[issueUser{c.Issue.ID, k}] = true
			if _, err := s.exec(ctx, tx, `INSERT INTO issue_minute_users (issue_id, minute, user_key) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
				c.Issue.ID, m, k); err != nil {
				return out, fmt.Errorf("count issue user: %w", err)
			}
		}
	}
	slices.Sort(out.order) // a fixed order, as groupEvents visits issues
	return out, nil
}

// alertCounts are the counter updates of a batch that SaveEvents writes
// last.
type alertCounts struct {
	issues  issueMinutes
	metrics []metricCount
}

// addAlertCounts writes a batch's counter updates at now's minute: one
// upsert per counted issue and per metric rule that matched, and one
// insert per distinct user of count_unique(user) rules.
func (s *DB) addAlertCounts(ctx context.Context, tx *sql.Tx, ac *alertCounts, now time.Time) error {
	m := minute(now)
	for _, id := range ac.issues.order {
		if _, err := s.exec(ctx, tx, `INSERT INTO issue_minutes (issue_id, minute, events) VALUES ($1, $2, $3)
			ON CONFLICT (issue_id, minute) DO UPDATE SET events = issue_minutes.events + excluded.events`, id, m, ac.issues.events[id]); err != nil {
			return fmt.Errorf("count issue minute: %w", err)
		}
	}
	return s.addMetricCounts(ctx, tx, ac.metrics, now)
}

// windowCount reads q (issue id, first excluded minute) for the window d
// ending at now, once per issue and window.
func (s *DB) windowCount(ctx context.Context, tx *sql.Tx, cache map[time.Duration]int64, q string, issueID int64, d time.Duration, now time.Time) (int64, error) {
	if n, ok := cache[d]; ok {
		return n, nil
	}
	var n int64
	if err := s.queryRow(ctx, tx, q, issueID, minute(now)-int64(d/time.Minute)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count issue window: %w", err)
	}
	cache[d] = n
	return n, nil
}

// installationsByUUID loads the live installations with those uuids, with
// their App, keyed by uuid.
func (s *DB) installationsByUUID(ctx context.Context, tx *sql.Tx, uuids []string) (map[string]*herald.Installation, error) {
	out := map[string]*herald.Installation{}
	if len(uuids) == 0 {
		return out, nil
	}
	rows, err := s.query(ctx, tx, `SELECT i.id, i.uuid, i.app_id, i.org_id, a.uuid, a.slug, a.name, a.status, a.webhook_url, a.events, a.client_secret
		FROM app_installations i JOIN sentry_apps a ON a.id = i.app_id
		WHERE i.status = $1 AND a.webhook_url <> '' AND i.uuid `+s.inText(2),
		herald.InstallationInstalled, jsonList(uuids))
	if err != nil {
		return nil, fmt.Errorf("load installations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		inst := &herald.Installation{Status: herald.InstallationInstalled, App: &herald.SentryApp{}}
		a := inst.App
		var events string
		if err := rows.Scan(&inst.ID, &inst.UUID, &inst.AppID, &inst.OrganizationID, &a.UUID, &a.Slug, &a.Name, &a.Status,
			&a.WebhookURL, &events, &a.ClientSecret); err != nil {
			return nil, fmt.Errorf("scan installation: %w", err)
		}
		a.ID, a.Events = inst.AppID, splitList(events)
		out[inst.UUID] = inst
	}
	return out, rows.Err()
}
