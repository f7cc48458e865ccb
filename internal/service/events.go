package service

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/sqlstore"
	"github.com/herald-dev/herald/internal/webhook"
)

// SaveEvents writes a batch of events in one transaction; see
// herald.ChangeService. Issue rows are visited in (project, hash) order and
// counted in id order, so that concurrent batches on PostgreSQL lock them
// in the same order; counters are written last, so that the rows of a busy
// issue or rule stay locked only until the commit that follows.
func (s *Service) SaveEvents(ctx context.Context, events []*herald.Event) error {
	if len(events) == 0 {
		return nil
	}
	now := s.clock.Now().UTC()
	return s.inTx(ctx, func(tx *sqlstore.Tx, out *outbox) error {
		// Nothing below reads what the held writes change: the events,
		// deliveries and counts go to PostgreSQL together at the end.
		tx.Hold()
		// Nor does it change configuration, and it only reads the
		// projects, hooks, installations and rules it is given.
		tx.CacheConfig()
		// The events already stored are looked up first: the same query
		// reads the configuration version the cached reads are checked
		// against.
		seen, err := tx.ExistingEvents(ctx, events)
		if err != nil {
			return err
		}
		projects, err := tx.Projects(ctx, projectIDs(events))
		if err != nil {
			return err
		}
		if events = newEvents(events, projects, seen); len(events) == 0 {
			return nil
		}
		hooks, err := tx.ActiveHooks(ctx, projectIDs(events))
		if err != nil {
			return err
		}
		changes, counts, err := group(ctx, tx, events, projects)
		if err != nil {
			return err
		}
		if err := tx.InsertEvents(ctx, events); err != nil {
			return err
		}
		if err := withInstallations(ctx, tx, changes); err != nil {
			return err
		}
		var deliveries []*herald.Delivery
		for _, c := range changes {
			c.Hooks, c.Now = hooks[c.Project.ID], now
			deliveries = append(deliveries, s.webhooks.EventSaved(c)...)
		}
		fired, issueMinutes, err := s.evaluateRules(ctx, tx, changes, now)
		if err != nil {
			return err
		}
		deliveries = append(deliveries, fired...)
		metricMinutes, err := s.metricCounts(ctx, tx, events, projects, now)
		if err != nil {
			return err
		}
		if err := s.write(ctx, tx, out, deliveries); err != nil {
			return err
		}
		if err := tx.CountIssues(ctx, counts); err != nil {
			return err
		}
		if err := tx.AddIssueCounts(ctx, issueMinutes); err != nil {
			return err
		}
		return tx.AddMetricCounts(ctx, metricMinutes)
	})
}

// projectIDs lists the distinct projects of events.
func projectIDs(events []*herald.Event) []int64 {
	var ids []int64
	for _, e := range events {
		if !slices.Contains(ids, e.ProjectID) {
			ids = append(ids, e.ProjectID)
		}
	}
	return ids
}

// newEvents drops events of unknown projects, and events whose id their
// project already has (seen, which it adds to) or that the batch holds
// twice (SDKs resend on network errors).
func newEvents(events []*herald.Event, projects map[int64]*herald.Project, seen map[sqlstore.EventKey]bool) []*herald.Event {
	out := events[:0:0]
	for _, e := range events {
		k := sqlstore.EventKey{ProjectID: e.ProjectID, ID: e.ID}
		if projects[e.ProjectID] != nil && !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	return out
}

// group finds or creates the issue of each event, regresses resolved ones,
// sets IssueID, and returns one change per event in input order and the
// count updates still to make (issues created here are counted already),
// in issue id order.
func group(ctx context.Context, tx *sqlstore.Tx, events []*herald.Event, projects map[int64]*herald.Project) ([]*webhook.EventChange, []sqlstore.IssueCount, error) {
	type groupKey struct {
		project int64
		hash    string
	}
	groups := map[groupKey][]int{}
	var keys []groupKey
	for i, e := range events {
		k := groupKey{e.ProjectID, e.GroupHash}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	slices.SortFunc(keys, func(a, b groupKey) int {
		if a.project != b.project {
			return int(a.project - b.project)
		}
		return strings.Compare(a.hash, b.hash)
	})
	changes := make([]*webhook.EventChange, len(events))
	type found struct {
		issue              *herald.Issue
		group              eventGroup
		created, regressed bool
	}
	results := make([]found, len(keys))
	// The issues of each project, found or created together.
	for start := 0; start < len(keys); {
		end := start + 1
		for end < len(keys) && keys[end].project == keys[start].project {
			end++
		}
		p := projects[keys[start].project]
		news := make([]*herald.Issue, 0, end-start)
		for i := start; i < end; i++ {
			results[i].group = newEventGroup(events, groups[keys[i]])
			n := results[i].group.newIssue(p)
			n.UserCount = int64(len(userKeys(events, groups[keys[i]])))
			news = append(news, n)
		}
		issues, created, err := tx.UpsertIssues(ctx, p.ID, strings.ToUpper(p.Slug), news)
		if err != nil {
			return nil, nil, err
		}
		for i := start; i < end; i++ {
			results[i].issue, results[i].created = issues[i-start], created[i-start]
		}
		start = end
	}
	var users []sqlstore.IssueUser
	for i, k := range keys {
		r := &results[i]
		if !r.created {
			regressed, err := regress(ctx, tx, r.issue, r.group)
			if err != nil {
				return nil, nil, err
			}
			r.regressed = regressed
		}
		for _, key := range userKeys(events, groups[k]) {
			users = append(users, sqlstore.IssueUser{IssueID: r.issue.ID, Key: key})
		}
	}
	added, err := tx.AddIssueUsers(ctx, users)
	if err != nil {
		return nil, nil, err
	}
	var counts []sqlstore.IssueCount
	for i, k := range keys {
		r, idx := results[i], groups[k]
		is := r.issue
		if !r.created { // a new issue's counts were written by the insert
			is.UserCount += int64(added[is.ID])
			counts = append(counts, sqlstore.IssueCount{IssueID: is.ID, Events: len(idx), Users: added[is.ID],
				LastSeen: r.group.lastSeen, Unhandled: r.group.unhandled})
		}
		for n, i := range idx {
			events[i].IssueID = is.ID
			changes[i] = &webhook.EventChange{Project: projects[k.project], Event: events[i], Issue: is,
				IssueCreated: r.created && n == 0, IssueRegressed: r.regressed && n == 0}
		}
	}
	slices.SortFunc(counts, func(a, b sqlstore.IssueCount) int { return int(a.IssueID - b.IssueID) })
	return changes, counts, nil
}

// eventGroup is what the events of a batch that share a project and a
// grouping hash tell their issue.
type eventGroup struct {
	// first is the group's first event in the batch, the one a new issue
	// takes its title and first seen time from.
	first *herald.Event
	// count is the number of events.
	count int
	// lastSeen is the time of the latest event, and unhandled whether it
	// was unhandled (of several with that time, the one received last):
	// the issue's last_seen and Sentry's isUnhandled, unless the issue
	// has seen a later event.
	lastSeen  time.Time
	unhandled bool
}

// newEventGroup sums up the events idx, one group. Only the latest event
// is read for whether it was unhandled.
func newEventGroup(events []*herald.Event, idx []int) eventGroup {
	g := eventGroup{first: events[idx[0]], count: len(idx), lastSeen: events[idx[0]].Timestamp}
	latest := events[idx[0]]
	for _, i := range idx {
		// Of events with the same timestamp the one received last is
		// the latest: its flag is the issue's, as in Sentry.
		if !events[i].Timestamp.Before(g.lastSeen) {
			g.lastSeen, latest = events[i].Timestamp, events[i]
		}
	}
	g.unhandled = webhook.EventUnhandled(latest)
	return g
}

// newIssue is the issue the events of g open in project p when it has
// none of their hash yet.
func (g eventGroup) newIssue(p *herald.Project) *herald.Issue {
	first := g.first
	return &herald.Issue{ProjectID: p.ID, Hash: first.GroupHash, Title: first.Title, Culprit: first.Culprit, Level: first.Level,
		Status: herald.IssueUnresolved, Substatus: herald.SubstatusNew, Type: first.Type, Value: first.Value, Platform: first.Platform,
		FirstSeen: first.Timestamp, LastSeen: g.lastSeen, Count: int64(g.count), Unhandled: g.unhandled}
}

// regress brings the existing issue is up to date with the events of g:
// it regresses the issue when it was resolved, clearing its resolution,
// and reports whether it did. The issue then reflects the state after the
// events; its counts, last seen time and unhandled flag are written later
// (CountIssues).
func regress(ctx context.Context, tx *sqlstore.Tx, is *herald.Issue, g eventGroup) (regressed bool, err error) {
	if is.Status == herald.IssueResolved {
		n, err := tx.SetIssueStatus(ctx, sqlstore.SetIssueStatusParams{IDs: []int64{is.ID},
			Status: herald.IssueUnresolved, Substatus: herald.SubstatusRegressed, From: herald.IssueResolved})
		if err != nil {
			return false, err
		}
		regressed = n > 0
		is.Status, is.Substatus, is.Resolution = herald.IssueUnresolved, herald.SubstatusRegressed, nil
	}
	is.Count += int64(g.count)
	// As CountIssues does: the latest event decides, ties going to the
	// batch.
	if !is.LastSeen.After(g.lastSeen) {
		is.LastSeen, is.Unhandled = g.lastSeen, g.unhandled
	}
	return regressed, nil
}

// userKeys lists the distinct users of the events idx.
func userKeys(events []*herald.Event, idx []int) []string {
	var keys []string
	for _, i := range idx {
		if k := events[i].UserKey; k != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// withInstallations gives each change the installations of its
// organization subscribed to issues or errors (one query for the batch),
// and loads the assignee and comment count of the issues that regressed
// where an installation will be told (one more query, only then).
func withInstallations(ctx context.Context, tx *sqlstore.Tx, changes []*webhook.EventChange) error {
	var orgIDs []int64
	for _, c := range changes {
		if !slices.Contains(orgIDs, c.Project.OrganizationID) {
			orgIDs = append(orgIDs, c.Project.OrganizationID)
		}
	}
	installs, err := tx.OrgInstallations(ctx, orgIDs)
	if err != nil || len(installs) == 0 {
		return err
	}
	var regressed []*herald.Issue
	for _, c := range changes {
		c.Installations = subscribed(installs[c.Project.OrganizationID], herald.ResourceIssue, herald.ResourceError)
		if c.IssueRegressed && len(subscribed(c.Installations, herald.ResourceIssue)) > 0 {
			regressed = append(regressed, c.Issue)
		}
	}
	return tx.IssueExtras(ctx, regressed)
}
