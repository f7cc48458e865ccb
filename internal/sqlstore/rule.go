package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/herald-dev/herald"
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

// ProjectRules loads the issue alert rules of projects in one query,
// ordered by id (through the configuration cache when the transaction uses
// it: see CacheConfig).
func (t *Tx) ProjectRules(ctx context.Context, projectIDs []int64) ([]*herald.AlertRule, error) {
	return listByID(ctx, t, "rules", projectIDs,
		func(r *herald.AlertRule) int64 { return r.ProjectID }, func(r *herald.AlertRule) int64 { return r.ID },
		func(ids []int64) ([]*herald.AlertRule, error) { return t.s.projectRules(ctx, t.tx, ids) })
}

// FireKey names the fire time of a rule for an issue.
type FireKey struct {
	RuleID, IssueID int64
}

// RuleFiresParams selects fire times.
type RuleFiresParams struct {
	RuleIDs, IssueIDs []int64
}

// RuleFires loads when each of the rules last fired for each of the
// issues, in one query.
func (t *Tx) RuleFires(ctx context.Context, p RuleFiresParams) (map[FireKey]time.Time, error) {
	rows, err := t.s.query(ctx, t.tx, `SELECT rule_id, issue_id, fired_at FROM rule_fires WHERE rule_id `+t.s.inInt(1)+` AND issue_id `+t.s.inInt(2),
		jsonList(nonNilList(p.RuleIDs)), jsonList(nonNilList(p.IssueIDs)))
	if err != nil {
		return nil, fmt.Errorf("load rule fires: %w", err)
	}
	defer rows.Close()
	out := map[FireKey]time.Time{}
	for rows.Next() {
		var k FireKey
		var at int64
		if err := rows.Scan(&k.RuleID, &k.IssueID, &at); err != nil {
			return nil, fmt.Errorf("scan rule fire: %w", err)
		}
		out[k] = fromTS(at)
	}
	return out, rows.Err()
}

// RecordFireParams records that a rule fired for an issue.
type RecordFireParams struct {
	FireKey
	At time.Time
	// Unless the rule fired for the issue after Unless (another
	// transaction got there first), in which case nothing is written.
	Unless time.Time
}

// RecordFire sets the fire time of a rule for an issue, unless it fired
// after p.Unless, and reports whether it did.
func (t *Tx) RecordFire(ctx context.Context, p RecordFireParams) (bool, error) {
	var id int64
	err := t.s.queryRow(ctx, t.tx, `INSERT INTO rule_fires (rule_id, issue_id, fired_at) VALUES ($1, $2, $3)
		ON CONFLICT (rule_id, issue_id) DO UPDATE SET fired_at = excluded.fired_at WHERE rule_fires.fired_at <= $4 RETURNING rule_id`,
		p.RuleID, p.IssueID, ts(p.At), ts(p.Unless)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("record rule fire: %w", err)
	}
	return true, nil
}
