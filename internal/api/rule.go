package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/herald-dev/herald"
)

// ruleJSON is Sentry's issue alert rule serializer.
type ruleJSON struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	ActionMatch string            `json:"actionMatch"`
	FilterMatch string            `json:"filterMatch"`
	Frequency   int               `json:"frequency"`
	Environment *string           `json:"environment"`
	Conditions  []herald.RuleItem `json:"conditions"`
	Filters     []herald.RuleItem `json:"filters"`
	Actions     []herald.RuleItem `json:"actions"`
	Projects    []string          `json:"projects"`
	Status      string            `json:"status"`
	DateCreated string            `json:"dateCreated"`
	Owner       *string           `json:"owner"`
	CreatedBy   *string           `json:"createdBy"`
}

// newRuleJSON serializes a rule of project p.
func newRuleJSON(p *herald.Project, r *herald.AlertRule) *ruleJSON {
	out := &ruleJSON{
		ID:          strconv.FormatInt(r.ID, 10),
		Name:        r.Name,
		ActionMatch: r.ActionMatch,
		FilterMatch: r.FilterMatch,
		Frequency:   r.Frequency,
		Conditions:  nonNilItems(r.Conditions),
		Filters:     nonNilItems(r.Filters),
		Actions:     nonNilItems(r.Actions),
		Projects:    []string{p.Slug},
		Status:      "active",
		DateCreated: herald.FormatTime(r.DateCreated),
	}
	if r.Environment != "" {
		env := r.Environment
		out.Environment = &env
	}
	return out
}

func nonNilItems(l []herald.RuleItem) []herald.RuleItem {
	if l == nil {
		return []herald.RuleItem{}
	}
	return l
}

// ruleInput is the body of rule creation and update. Frequency may be a
// number or a numeric string, as Sentry's forms send it.
type ruleInput struct {
	Name        string            `json:"name"`
	ActionMatch string            `json:"actionMatch"`
	FilterMatch string            `json:"filterMatch"`
	Frequency   json.RawMessage   `json:"frequency"`
	Environment *string           `json:"environment"`
	Conditions  []herald.RuleItem `json:"conditions"`
	Filters     []herald.RuleItem `json:"filters"`
	Actions     []herald.RuleItem `json:"actions"`
}

// ruleFromInput validates the input into a rule of project p, with
// herald.ChangeService.CheckAlertRule.
func (s *Server) ruleFromInput(r *http.Request, p *herald.Project, in *ruleInput) (*herald.AlertRule, error) {
	rule := &herald.AlertRule{ProjectID: p.ID, Name: in.Name, ActionMatch: in.ActionMatch, FilterMatch: in.FilterMatch,
		Conditions: in.Conditions, Filters: in.Filters, Actions: in.Actions}
	if in.Environment != nil {
		rule.Environment = *in.Environment
	}
	if len(in.Frequency) > 0 && string(in.Frequency) != "null" {
		var v any
		if err := json.Unmarshal(in.Frequency, &v); err != nil {
			return nil, herald.InvalidField("frequency", "A valid integer is required.")
		}
		n, err := frequencyValue(v)
		if err != nil {
			return nil, herald.InvalidField("frequency", "A valid integer is required.")
		}
		rule.Frequency = n
	}
	if err := s.changes.CheckAlertRule(r.Context(), p, rule); err != nil {
		return nil, err
	}
	return rule, nil
}

// frequencyValue reads a whole number given as a JSON number or string.
func frequencyValue(v any) (int, error) {
	switch x := v.(type) {
	case float64:
		if x != float64(int(x)) {
			return 0, errors.New("not an integer")
		}
		return int(x), nil
	case string:
		return strconv.Atoi(x)
	}
	return 0, errors.New("not an integer")
}

// handleListRules answers GET /api/0/projects/{org}/{project}/rules/.
func (s *Server) handleListRules(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, err := s.project(r, a)
	if err != nil {
		return err
	}
	rules, err := s.store.FindRules(r.Context(), p.ID)
	if err != nil {
		return err
	}
	out := make([]*ruleJSON, 0, len(rules))
	for _, rule := range rules {
		out = append(out, newRuleJSON(p, rule))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleCreateRule answers POST /api/0/projects/{org}/{project}/rules/ with
// 201 and the rule.
func (s *Server) handleCreateRule(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, err := s.project(r, a)
	if err != nil {
		return err
	}
	var in ruleInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	rule, err := s.ruleFromInput(r, p, &in)
	if err != nil {
		return err
	}
	if err := s.store.CreateRule(r.Context(), rule); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newRuleJSON(p, rule))
	return nil
}

// rule loads the project and rule of a rule route.
func (s *Server) rule(r *http.Request, a *auth) (*herald.Project, *herald.AlertRule, error) {
	p, err := s.project(r, a)
	if err != nil {
		return nil, nil, err
	}
	id, err := pathID(r, "rule_id")
	if err != nil {
		return nil, nil, err
	}
	rule, err := s.store.FindRuleByID(r.Context(), p.ID, id)
	if err != nil {
		return nil, nil, err
	}
	return p, rule, nil
}

// handleGetRule answers GET /api/0/projects/{org}/{project}/rules/{rule_id}/.
func (s *Server) handleGetRule(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, rule, err := s.rule(r, a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newRuleJSON(p, rule))
	return nil
}

// handleUpdateRule answers PUT /api/0/projects/{org}/{project}/rules/{rule_id}/.
// As in Sentry, the body is the whole rule.
func (s *Server) handleUpdateRule(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, old, err := s.rule(r, a)
	if err != nil {
		return err
	}
	var in ruleInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	rule, err := s.ruleFromInput(r, p, &in)
	if err != nil {
		return err
	}
	rule.ID, rule.DateCreated = old.ID, old.DateCreated
	if err := s.store.UpdateRule(r.Context(), rule); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newRuleJSON(p, rule))
	return nil
}

// handleDeleteRule answers DELETE /api/0/projects/{org}/{project}/rules/{rule_id}/
// with 202, as Sentry does.
func (s *Server) handleDeleteRule(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, rule, err := s.rule(r, a)
	if err != nil {
		return err
	}
	if err := s.store.DeleteRule(r.Context(), p.ID, rule.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
