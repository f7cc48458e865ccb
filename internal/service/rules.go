package service

import (
	"cmp"
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
// fired, with the issue counts to write at the end of the batch. It costs
// one query for the rules, nothing more when the batch's projects have
// none; then one query for the fire times of the batch's issues, one read
// per issue and window (see issueWindow), one upsert per firing, and one
// installation query when a firing rule targets Sentry Apps.
func (s *Service) evaluateRules(ctx context.Context, tx *sqlstore.Tx, changes []*webhook.EventChange, now time.Time) ([]*herald.Delivery, []sqlstore.AlertCount, error) {
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
	counts, pending := issueCounts(changes, countEvents, countUsers, now)
	fired, err := tx.RuleFires(ctx, sqlstore.RuleFiresParams{RuleIDs: ruleIDs, IssueIDs: issueIDs})
	if err != nil {
		return nil, nil, err
	}
	windows, err := eventWindows(ctx, tx, rules, issueIDs, now)
	if err != nil {
		return nil, nil, err
	}
	type firing struct {
		change *webhook.EventChange
		rules  []*herald.AlertRule
	}
	var firings []firing
	var uuids []string
	for _, c := range changes {
		in := &alert.Input{Event: c.Event, Issue: c.Issue, FirstSeen: c.IssueCreated, Regressed: c.IssueRegressed, Now: now}
		var countErr error
		batch := pending[c.Issue.ID]
		if batch == nil {
			batch = &sqlstore.AlertCount{} // the project's rules count nothing
		}
		window := func(d time.Duration, users bool) int64 {
			k := windowKey{c.Issue.ID, d, users}
			n, ok := windows[k]
			if !ok {
				from, to := issueWindow(now, d)
				p := sqlstore.WindowParams{ID: c.Issue.ID, From: from, To: to, Users: users}
				if users {
					p.Except = batch.Users
				}
				n, countErr = tx.IssueWindow(ctx, p)
				windows[k] = n
			}
			return n
		}
		in.Events = func(d time.Duration) int64 { return window(d, false) + batch.Events }
		in.Users = func(d time.Duration) int64 { return window(d, true) + int64(len(batch.Users)) }
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
		return nil, counts, nil
	}
	installs, err := tx.InstallationsByUUID(ctx, uuids)
	if err != nil {
		return nil, nil, err
	}
	var ds []*herald.Delivery
	for _, f := range firings {
		ds = append(ds, s.webhooks.RulesFired(f.change, f.rules, installs)...)
	}
	return ds, counts, nil
}

// eventWindows reads, for every length of event frequency window the
// rules have, the windows of all of issues: one read per length rather
// than per issue. User windows are read as rules ask for them.
func eventWindows(ctx context.Context, tx *sqlstore.Tx, rules map[int64][]*alert.Rule, issues []int64, now time.Time) (map[windowKey]int64, error) {
	windows := map[windowKey]int64{}
	var lengths []time.Duration
	for _, rs := range rules {
		for _, r := range rs {
			ev, _ := r.Windows()
			for _, d := range ev {
				if !slices.Contains(lengths, d) {
					lengths = append(lengths, d)
				}
			}
		}
	}
	for _, d := range lengths {
		from, to := issueWindow(now, d)
		sums, err := tx.IssueEventWindows(ctx, issues, from, to)
		if err != nil {
			return nil, err
		}
		for _, id := range issues {
			windows[windowKey{id, d, false}] = sums[id]
		}
	}
	return windows, nil
}

// windowKey names a frequency window of an issue, read at most once per
// batch.
type windowKey struct {
	issue int64
	d     time.Duration
	users bool
}

// issueWindow is the window, in unix seconds [from, to), of an issue
// alert rule's frequency condition of d evaluated at now, as a batch is
// saved: the whole seconds of d up to now's second, which holds the batch.
func issueWindow(now time.Time, d time.Duration) (from, to int64) {
	to = sqlstore.Second(now) + 1
	return to - int64(d/time.Second), to
}

// issueCounts counts the batch's events per issue, for the projects whose
// rules count events, and its distinct users per issue, for the projects
// whose rules count users. It returns them twice: as the counts SaveEvents
// writes last, in issue id order, so that the counter rows of a busy issue
// are locked after the issue's own row and only until the commit that
// follows; and by issue (pending), for evaluation to add to the windows
// it reads.
func issueCounts(changes []*webhook.EventChange, events, users map[int64]bool, now time.Time) (counts []sqlstore.AlertCount, pending map[int64]*sqlstore.AlertCount) {
	sec := sqlstore.Second(now)
	pending = map[int64]*sqlstore.AlertCount{}
	type issueUser struct {
		issue int64
		user  string
	}
	seen := map[issueUser]bool{}
	for _, c := range changes {
		p, k := c.Project.ID, c.Event.UserKey
		if !events[p] && !users[p] {
			continue
		}
		ic := pending[c.Issue.ID]
		if ic == nil {
			ic = &sqlstore.AlertCount{ID: c.Issue.ID, Second: sec}
			pending[c.Issue.ID] = ic
		}
		if events[p] {
			ic.Events++
		}
		if u := (issueUser{c.Issue.ID, k}); users[p] && k != "" && !seen[u] {
			seen[u] = true
			ic.Users = append(ic.Users, k)
		}
	}
	for _, ic := range pending {
		counts = append(counts, *ic)
	}
	// A fixed order, as issues are counted.
	slices.SortFunc(counts, func(a, b sqlstore.AlertCount) int { return cmp.Compare(a.ID, b.ID) })
	return counts, pending
}
