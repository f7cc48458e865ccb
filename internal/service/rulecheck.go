package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/alert"
)

// CheckAlertRule validates an issue alert rule of project p before it is
// saved, for the API and the dashboard alike: every setting is checked
// (and defaulted) by alert.Compile, and each Sentry App action's
// installation must be installed on the project's organization. Problems
// are field errors, in Sentry's words.
func (s *Service) CheckAlertRule(ctx context.Context, p *herald.Project, rule *herald.AlertRule) error {
	compiled, err := alert.Compile(rule)
	if err != nil {
		return fieldError(err)
	}
	for _, uuid := range compiled.Installations {
		inst, err := s.store.FindInstallationByUUID(ctx, uuid)
		if herald.ErrorCode(err) == herald.ENOTFOUND || (err == nil && (inst.OrganizationID != p.OrganizationID || inst.Status != herald.InstallationInstalled)) {
			return herald.InvalidField("actions", fmt.Sprintf("Sentry App installation %q is not installed on this organization.", uuid))
		} else if err != nil {
			return err
		}
	}
	return nil
}

// CheckMetricAlertRule validates a metric alert rule of org before it is
// saved: the projects rule.Projects names (by slug) must be org's, and
// rule.ProjectIDs is set from them; each trigger action's app must be
// installed on org; every setting is checked by alert.CompileMetric.
func (s *Service) CheckMetricAlertRule(ctx context.Context, org *herald.Organization, rule *herald.MetricAlertRule) error {
	rule.ProjectIDs = rule.ProjectIDs[:0]
	for i, slug := range rule.Projects {
		p, err := s.store.FindProjectBySlug(ctx, org.ID, slug)
		if herald.ErrorCode(err) == herald.ENOTFOUND {
			return herald.InvalidField("projects", fmt.Sprintf("Project %q does not exist in this organization.", slug))
		} else if err != nil {
			return err
		}
		rule.ProjectIDs = append(rule.ProjectIDs, p.ID)
		rule.Projects[i] = p.Slug
	}
	var installed map[int64]bool
	for i, t := range rule.Triggers {
		for _, a := range t.Actions {
			if a.Type != "sentry_app" || a.SentryAppID <= 0 {
				return herald.InvalidField("triggers", fmt.Sprintf("Trigger %d: only sentry_app actions with a sentryAppId are supported.", i+1))
			}
			if installed == nil {
				insts, err := s.store.FindInstallations(ctx, org.ID)
				if err != nil {
					return err
				}
				installed = map[int64]bool{}
				for _, inst := range insts {
					installed[inst.AppID] = installed[inst.AppID] || inst.Status == herald.InstallationInstalled
				}
			}
			if !installed[a.SentryAppID] {
				return herald.InvalidField("triggers", fmt.Sprintf("Trigger %d: Sentry App %d is not installed on this organization.", i+1, a.SentryAppID))
			}
		}
	}
	if _, err := alert.CompileMetric(rule); err != nil {
		return fieldError(err)
	}
	return nil
}

// fieldError turns the alert package's field errors into herald's.
func fieldError(err error) error {
	var fe *alert.FieldError
	if errors.As(err, &fe) {
		return herald.InvalidField(fe.Field, fe.Message)
	}
	return err
}
