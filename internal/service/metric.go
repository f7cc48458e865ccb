package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/alert"
	"github.com/herald-dev/herald/internal/sqlstore"
	"github.com/herald-dev/herald/internal/webhook"
)

// metricCounts matches a batch's events against the metric alert rules of
// the batch's organizations, one query for the rules, then each event
// against each rule in memory, and returns what to add to the rules'
// counters at now.
func (s *Service) metricCounts(ctx context.Context, tx *sqlstore.Tx, events []*herald.Event, projects map[int64]*herald.Project, now time.Time) ([]sqlstore.AlertCount, error) {
	var orgIDs []int64
	for _, p := range projects {
		if !slices.Contains(orgIDs, p.OrganizationID) {
			orgIDs = append(orgIDs, p.OrganizationID)
		}
	}
	if len(orgIDs) == 0 {
		return nil, nil
	}
	rules, err := tx.MetricRules(ctx, orgIDs)
	if err != nil || len(rules) == 0 {
		return nil, err
	}
	sec := sqlstore.Second(now)
	var out []sqlstore.AlertCount
	for _, r := range rules {
		c, err := alert.CompileMetric(r)
		if err != nil {
			s.logger.Warn("skipping an invalid metric alert", "rule", r.ID, "err", err)
			continue
		}
		mc := sqlstore.AlertCount{ID: r.ID, Second: sec}
		for _, e := range events {
			if !c.Counts(e) {
				continue
			}
			mc.Events++
			if r.Aggregate == herald.AggregateUniqueUsers && e.UserKey != "" && !slices.Contains(mc.Users, e.UserKey) {
				mc.Users = append(mc.Users, e.UserKey)
			}
		}
		if mc.Events > 0 {
			out = append(out, mc)
		}
	}
	return out, nil
}

// EvaluateMetricAlerts evaluates every metric alert rule at now; see
// herald.ChangeService. It reads the rules and the open incidents (two
// queries), then each rule's window (one read of at most TimeWindow minute
// counters and 120 second counters, see metricWindow); a rule whose status
// changes gets its own transaction with the incident change, its history
// and its deliveries.
func (s *Service) EvaluateMetricAlerts(ctx context.Context, now time.Time) error {
	now = now.UTC()
	read := s.store.NoTx()
	rules, err := read.MetricRules(ctx, nil)
	if err != nil || len(rules) == 0 {
		return err
	}
	open, err := read.OpenIncidents(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range rules {
		c, err := alert.CompileMetric(r)
		if err != nil {
			s.logger.Warn("skipping an invalid metric alert", "rule", r.ID, "err", err)
			continue
		}
		from, to := metricWindow(now, r.TimeWindow)
		// A rule's counts start over when it changes: its window reads
		// nothing from before (see sqlstore's UpdateMetricAlert).
		from = max(from, sqlstore.Second(r.DateModified))
		n, err := read.MetricWindow(ctx, sqlstore.WindowParams{ID: r.ID, From: from, To: to, Users: r.Aggregate == herald.AggregateUniqueUsers})
		if err != nil {
			return err
		}
		value := float64(n)
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

// metricWindow is the window, in unix seconds [from, to), of a metric
// alert rule of the given minutes evaluated at now: the whole seconds of
// those minutes before now's second. Now's own second is left to the next
// evaluation, as events can still arrive in it: evaluations a window's
// length apart count each event once, those that arrive after an
// evaluation by the next.
func metricWindow(now time.Time, minutes int) (from, to int64) {
	to = sqlstore.Second(now)
	return to - int64(minutes)*60, to
}

// changeIncident moves rule r's incident (nil when none is open) to status
// next in one transaction: the incident row, its history and the
// metric_alert deliveries to the installations of the apps the rule's
// triggers name. A new incident sends metric_alert.open, then its level.
func (s *Service) changeIncident(ctx context.Context, r *herald.MetricAlertRule, in *herald.Incident, next int, value float64, now time.Time) error {
	return s.inTx(ctx, func(tx *sqlstore.Tx, out *outbox) error {
		var events []string
		switch {
		case in == nil:
			in = &herald.Incident{OrganizationID: r.OrganizationID, RuleID: r.ID, Title: r.Name, Status: next, DateStarted: now}
			if err := tx.InsertIncident(ctx, in); err != nil {
				return err
			}
			events = []string{webhook.MetricAlertOpen, incidentEvent(next)}
		case next == herald.IncidentClosed:
			in.DateClosed = &now
			events = []string{webhook.MetricAlertResolved}
		default:
			events = []string{incidentEvent(next)}
		}
		in.Status = next
		history := make([]herald.IncidentChange, len(events))
		for i, e := range events {
			history[i] = herald.IncidentChange{Status: eventStatus(e, next), Value: value, At: now}
		}
		if err := tx.UpdateIncident(ctx, in, history); err != nil {
			return err
		}
		var appIDs []int64
		for _, t := range r.Triggers {
			for _, a := range t.Actions {
				if !slices.Contains(appIDs, a.SentryAppID) {
					appIDs = append(appIDs, a.SentryAppID)
				}
			}
		}
		org, err := tx.Organization(ctx, r.OrganizationID)
		if err != nil {
			return err
		}
		installs, err := tx.AppInstallations(ctx, sqlstore.AppOrgParams{OrganizationID: r.OrganizationID, AppIDs: appIDs})
		if err != nil {
			return err
		}
		for _, inst := range installs {
			inst.Organization = org
		}
		if err := tx.WithProjectSlugs(ctx, []*herald.MetricAlertRule{r}); err != nil {
			return err
		}
		var ds []*herald.Delivery
		for i, e := range events {
			shown := *in
			shown.Status = eventStatus(e, next)
			// A millisecond apart, the level's deliveries sort after open's.
			at := now.Add(time.Duration(i) * time.Millisecond)
			ds = append(ds, s.webhooks.IncidentChanged(&webhook.MetricAlertChange{Event: e, Rule: r, Incident: &shown, Value: value,
				Organization: org, Installations: installs, Now: at})...)
		}
		return s.write(ctx, tx, out, ds)
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
