package service

import (
	"context"
	"slices"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/alert"
	"github.com/herald-dev/herald/internal/sqlstore"
	"github.com/herald-dev/herald/internal/webhook"
)

// evaluateRules runs the issue alert rules of the batch's projects over its
// changes (hooks and time set) and returns the deliveries of the rules that
// fired, with the per-minute issue counts to write at the end of the batch.
// It costs one query for the rules, nothing more when the batch's projects
// have none; then one query for the fire times of the batch's issues, one
// insert per new user where a rule counts users, one indexed range read per
// issue and window, one upsert per firing, and one installation query when
// a firing rule targets Sentry Apps.
func (s *Service) evaluateRules(ctx context.Context, tx *sqlstore.Tx, changes []*webhook.EventChange, now time.Time) ([]*herald.Delivery, []sqlstore.MinuteCount, error) {
	var projectIDs []int64
	for _, c := range changes {
		if !slices.Contains(projectIDs, c.Project.ID) {
			projectIDs = append(projectIDs, c.Project.ID)
		}
	}
	stored, err := tx.ProjectRules(ctx, projectIDs)
	if err != nil || len(stored) == 0 {
		return nil, nil, err
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
		return nil, nil, nil
	}
	minutes, pending, err := countMinutes(ctx, tx, changes, countEvents, countUsers, now)
	if err != nil {
		return nil, nil, err
	}
	fired, err := tx.RuleFires(ctx, sqlstore.RuleFiresParams{RuleIDs: ruleIDs, IssueIDs: issueIDs})
	if err != nil {
		return nil, nil, err
	}
	windows := map[windowKey]int64{}
	type firing struct {
		change *webhook.EventChange
		rules  []*herald.AlertRule
	}
	var firings []firing
	var uuids []string
	for _, c := range changes {
		in := &alert.Input{Event: c.Event, Issue: c.Issue, FirstSeen: c.IssueCreated, Regressed: c.IssueRegressed, Now: now}
		var countErr error
		window := func(d time.Duration, users bool) int64 {
			k := windowKey{c.Issue.ID, d, users}
			n, ok := windows[k]
			if !ok {
				n, countErr = tx.IssueWindow(ctx, sqlstore.IssueWindowParams{IssueID: c.Issue.ID, After: sinceMinute(now, d), Users: users})
				windows[k] = n
			}
			return n
		}
		in.Events = func(d time.Duration) int64 { return window(d, false) + pending[c.Issue.ID] }
		in.Users = func(d time.Duration) int64 { return window(d, true) }
		var fire []*herald.AlertRule
		for _, r := range rules[c.Project.ID] {
			key := sqlstore.FireKey{RuleID: r.ID, IssueID: c.Issue.ID}
			every := time.Duration(r.Frequency) * time.Minute
			if last, ok := fired[key]; ok && now.Before(last.Add(every)) {
				continue
			}
			match := r.Matches(in)
			if countErr != nil {
				return nil, nil, countErr
			}
			if !match {
				continue
			}
			won, err := tx.RecordFire(ctx, sqlstore.RecordFireParams{FireKey: key, At: now, Unless: now.Add(-every)})
			if err != nil {
				return nil, nil, err
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
		return nil, minutes, nil
	}
	installs, err := tx.InstallationsByUUID(ctx, uuids)
	if err != nil {
		return nil, nil, err
	}
	var ds []*herald.Delivery
	for _, f := range firings {
		ds = append(ds, s.webhooks.RulesFired(f.change, f.rules, installs)...)
	}
	return ds, minutes, nil
}

// windowKey names a frequency window of an issue, read at most once per
// batch.
type windowKey struct {
	issue int64
	d     time.Duration
	users bool
}

// countMinutes counts the batch's events per issue, for the projects whose
// rules count events, and records the batch's users on the per-issue
// minute rows of the projects whose rules count users, at once (one insert
// per distinct user of an issue in the batch), so that the windows read
// next see them. The event counts are returned, to be written last by
// SaveEvents, so that the hot counter row of a busy issue is locked only
// until the commit that follows; until then they are added in memory
// (pending).
func countMinutes(ctx context.Context, tx *sqlstore.Tx, changes []*webhook.EventChange, events, users map[int64]bool, now time.Time) (
	counts []sqlstore.MinuteCount, pending map[int64]int64, err error) {
	m := minuteOf(now)
	pending = map[int64]int64{}
	var order []int64
	type issueUser struct {
		issue int64
		user  string
	}
	seenUsers := map[issueUser]bool{}
	var newUsers []sqlstore.MinuteCount
	for _, c := range changes {
		p := c.Project.ID
		if events[p] {
			if _, ok := pending[c.Issue.ID]; !ok {
				order = append(order, c.Issue.ID)
			}
			pending[c.Issue.ID]++
		}
		if k := c.Event.UserKey; users[p] && k != "" && !seenUsers[issueUser{c.Issue.ID, k}] {
			seenUsers[issueUser{c.Issue.ID, k}] = true
			newUsers = append(newUsers, sqlstore.MinuteCount{ID: c.Issue.ID, Minute: m, Users: []string{k}})
		}
	}
	if err := tx.AddIssueMinutes(ctx, newUsers); err != nil {
		return nil, nil, err
	}
	slices.Sort(order) // a fixed order, as issues are counted
	for _, id := range order {
		counts = append(counts, sqlstore.MinuteCount{ID: id, Minute: m, Events: pending[id]})
	}
	return counts, pending, nil
}
