package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/herald-dev/herald"
)

// SaveEvents writes a batch of events in one transaction; see
// herald.EventService. Issue rows are visited in (project, hash) order so
// that concurrent batches on PostgreSQL lock them in the same order.
func (s *DB) SaveEvents(ctx context.Context, events []*herald.Event) error {
	if len(events) == 0 {
		return nil
	}
	now := s.clock.Now().UTC()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		projects, err := s.batchProjects(ctx, tx, events)
		if err != nil {
			return err
		}
		events, err = s.newEvents(ctx, tx, events, projects)
		if err != nil || len(events) == 0 {
			return err
		}
		hooks, err := s.batchHooks(ctx, tx, projects)
		if err != nil {
			return err
		}
		changes, counts, err := s.groupEvents(ctx, tx, events, projects)
		if err != nil {
			return err
		}
		if err := s.insertEvents(ctx, tx, events); err != nil {
			return err
		}
		if err := s.withInstallations(ctx, tx, changes); err != nil {
			return err
		}
		var deliveries []*herald.Delivery
		if s.notifier != nil {
			for _, c := range changes {
				c.Hooks, c.Now = hooks[c.Project.ID], now
				deliveries = append(deliveries, s.notifier.EventSaved(c)...)
			}
		}
		var ac alertCounts
		alerts, err := s.evaluateRules(ctx, tx, changes, now, &ac)
		if err != nil {
			return err
		}
		deliveries = append(deliveries, alerts...)
		if ac.metrics, err = s.metricCounts(ctx, tx, events, projects); err != nil {
			return err
		}
		if err := s.enqueue(ctx, tx, deliveries); err != nil {
			return err
		}
		// Counting last keeps the issue rows locked for as short a time as
		// possible: concurrent batches of one busy issue wait only for each
		// other's commit, not for each other's inserts.
		if err := s.countIssues(ctx, tx, counts); err != nil {
			return err
		}
		return s.addAlertCounts(ctx, tx, &ac, now)
	})
}

// batchProjects loads the projects of a batch of events.
func (s *DB) batchProjects(ctx context.Context, tx *sql.Tx, events []*herald.Event) (map[int64]*herald.Project, error) {
	var ids []int64
	seen := map[int64]bool{}
	for _, e := range events {
		if !seen[e.ProjectID] {
			seen[e.ProjectID] = true
			ids = append(ids, e.ProjectID)
		}
	}
	rows, err := s.query(ctx, tx, `SELECT `+projectColumns+projectFrom+`WHERE p.id `+s.inInt(1), jsonList(ids))
	if err != nil {
		return nil, fmt.Errorf("load projects: %w", err)
	}
	defer rows.Close()
	out := map[int64]*herald.Project{}
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, fmt.Errorf("scan project: %w", err)
		}
		out[p.ID] = p
	}
	return out, rows.Err()
}

// newEvents drops events of unknown projects and events whose id the
// project already has (SDKs resend on network errors).
func (s *DB) newEvents(ctx context.Context, tx *sql.Tx, events []*herald.Event, projects map[int64]*herald.Project) ([]*herald.Event, error) {
	ids := make([]string, len(events))
	var projectIDs []int64
	for i, e := range events {
		ids[i] = e.ID
		if projects[e.ProjectID] != nil && !slices.Contains(projectIDs, e.ProjectID) {
			projectIDs = append(projectIDs, e.ProjectID)
		}
	}
	// Both columns of the primary key are constrained, so this is index
	// lookups, not a scan of the project's events.
	rows, err := s.query(ctx, tx, `SELECT project_id, id FROM events WHERE project_id `+s.inInt(1)+` AND id `+s.inText(2),
		jsonList(projectIDs), jsonList(ids))
	if err != nil {
		return nil, fmt.Errorf("find existing events: %w", err)
	}
	defer rows.Close()
	type key struct {
		project int64
		id      string
	}
	dup := map[key]bool{}
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.project, &k.id); err != nil {
			return nil, fmt.Errorf("scan event id: %w", err)
		}
		dup[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := events[:0:0]
	for _, e := range events {
		k := key{e.ProjectID, e.ID}
		if projects[e.ProjectID] == nil || dup[k] {
			continue
		}
		dup[k] = true
		out = append(out, e)
	}
	return out, nil
}

// batchHooks loads the hooks of the batch's projects.
func (s *DB) batchHooks(ctx context.Context, tx *sql.Tx, projects map[int64]*herald.Project) (map[int64][]*herald.Hook, error) {
	var ids []int64
	for id := range projects {
		ids = append(ids, id)
	}
	rows, err := s.query(ctx, tx, `SELECT `+hookColumns+` FROM hooks h WHERE h.status = $1 AND h.project_id `+s.inInt(2)+` ORDER BY h.date_created, h.id`,
		herald.HookActive, jsonList(ids))
	if err != nil {
		return nil, fmt.Errorf("load hooks: %w", err)
	}
	defer rows.Close()
	out := map[int64][]*herald.Hook{}
	for rows.Next() {
		h, err := scanHook(rows)
		if err != nil {
			return nil, fmt.Errorf("scan hook: %w", err)
		}
		out[h.ProjectID] = append(out[h.ProjectID], h)
	}
	return out, rows.Err()
}

// issueCount is the count update a batch makes to an existing issue.
type issueCount struct {
	id       int64
	n        int
	users    int
	lastSeen time.Time
}

// groupEvents finds or creates the issue of each event, regresses resolved
// ones, sets IssueID, and returns one change per event in input order and
// the count updates still to make (issues created here are counted already).
func (s *DB) groupEvents(ctx context.Context, tx *sql.Tx, events []*herald.Event, projects map[int64]*herald.Project) ([]*herald.EventChange, []issueCount, error) {
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
	changes := make([]*herald.EventChange, len(events))
	var counts []issueCount
	for _, k := range keys {
		idx := groups[k]
		p := projects[k.project]
		first := events[idx[0]]
		is, created, regressed, err := s.upsertIssue(ctx, tx, p, first, events, idx)
		if err != nil {
			return nil, nil, err
		}
		users, err := s.addIssueUsers(ctx, tx, is.ID, events, idx)
		if err != nil {
			return nil, nil, err
		}
		is.UserCount += int64(users)
		c := issueCount{id: is.ID, n: len(idx), users: users, lastSeen: is.LastSeen}
		if created {
			c.n = 0 // counted by the insert
		}
		if c.n > 0 || c.users > 0 {
			counts = append(counts, c)
		}
		for n, i := range idx {
			events[i].IssueID = is.ID
			changes[i] = &herald.EventChange{Project: p, Event: events[i], Issue: is,
				IssueCreated: created && n == 0, IssueRegressed: regressed && n == 0}
		}
	}
	slices.SortFunc(counts, func(a, b issueCount) int { return int(a.id - b.id) })
	return changes, counts, nil
}

// addIssueUsers records the users of a group's events on its issue and
// returns how many the issue had not seen before.
func (s *DB) addIssueUsers(ctx context.Context, tx *sql.Tx, issueID int64, events []*herald.Event, idx []int) (int, error) {
	var args []any
	seen := map[string]bool{}
	for _, i := range idx {
		if k := events[i].UserKey; k != "" && !seen[k] {
			seen[k] = true
			args = append(args, issueID, k)
		}
	}
	if len(args) == 0 {
		return 0, nil
	}
	added := 0
	q := `INSERT INTO issue_users (issue_id, user_key) VALUES ($1, $2) ON CONFLICT DO NOTHING`
	for r := 0; r < len(args); r += 2 {
		res, err := s.exec(ctx, tx, q, args[r], args[r+1])
		if err != nil {
			return 0, fmt.Errorf("add issue user: %w", err)
		}
		n, _ := res.RowsAffected()
		added += int(n)
	}
	return added, nil
}

// countIssues adds a batch's events to the counts of existing issues.
func (s *DB) countIssues(ctx context.Context, tx *sql.Tx, counts []issueCount) error {
	for _, c := range counts {
		_, err := s.exec(ctx, tx, `UPDATE issues SET times_seen = times_seen + $1, user_count = user_count + $2,
			last_seen = CASE WHEN last_seen > $3 THEN last_seen ELSE $3 END WHERE id = $4`,
			c.n, c.users, ts(c.lastSeen), c.id)
		if err != nil {
			return fmt.Errorf("count issue: %w", err)
		}
	}
	return nil
}

const issueColumns = `id, project_id, hash, short_id, title, culprit, level, status, substatus, type, value, platform, first_seen, last_seen, times_seen, user_count`

func scanIssue(row interface{ Scan(...any) error }) (*herald.Issue, error) {
	is := &herald.Issue{}
	var first, last int64
	err := row.Scan(&is.ID, &is.ProjectID, &is.Hash, &is.ShortID, &is.Title, &is.Culprit, &is.Level, &is.Status, &is.Substatus,
		&is.Type, &is.Value, &is.Platform, &first, &last, &is.Count, &is.UserCount)
	if err != nil {
		return nil, err
	}
	is.FirstSeen, is.LastSeen = fromTS(first), fromTS(last)
	return is, nil
}

// upsertIssue finds the issue of the events idx (one group) or creates it
// (counting them), and regresses it when it was resolved. The returned issue
// reflects the state after the events; the caller counts them into an
// existing issue with countIssues.
func (s *DB) upsertIssue(ctx context.Context, tx *sql.Tx, p *herald.Project, first *herald.Event, events []*herald.Event, idx []int) (is *herald.Issue, created, regressed bool, err error) {
	lastSeen := first.Timestamp
	for _, i := range idx {
		if events[i].Timestamp.After(lastSeen) {
			lastSeen = events[i].Timestamp
		}
	}
	find := func() (*herald.Issue, error) {
		return scanIssue(s.queryRow(ctx, tx, `SELECT `+issueColumns+` FROM issues WHERE project_id = $1 AND hash = $2`, p.ID, first.GroupHash))
	}
	is, err = find()
	if errors.Is(err, sql.ErrNoRows) {
		var n int64
		if err := s.queryRow(ctx, tx, `UPDATE projects SET next_short_id = next_short_id + 1 WHERE id = $1 RETURNING next_short_id`, p.ID).Scan(&n); err != nil {
			return nil, false, false, fmt.Errorf("next short id: %w", err)
		}
		is = &herald.Issue{ProjectID: p.ID, Hash: first.GroupHash, ShortID: strings.ToUpper(p.Slug) + "-" + strings.ToUpper(strconv.FormatInt(n, 36)),
			Title: first.Title, Culprit: first.Culprit, Level: first.Level, Status: herald.IssueUnresolved, Substatus: "new",
			Type: first.Type, Value: first.Value, Platform: first.Platform, FirstSeen: first.Timestamp, LastSeen: lastSeen, Count: int64(len(idx))}
		err = s.queryRow(ctx, tx, `INSERT INTO issues (project_id, hash, short_id, title, culprit, level, status, substatus, type, value, platform, first_seen, last_seen, times_seen)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (project_id, hash) DO NOTHING RETURNING id`,
			is.ProjectID, is.Hash, is.ShortID, is.Title, is.Culprit, is.Level, is.Status, is.Substatus, is.Type, is.Value, is.Platform,
			ts(is.FirstSeen), ts(is.LastSeen), is.Count).Scan(&is.ID)
		if err == nil {
			return is, true, false, nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return nil, false, false, fmt.Errorf("insert issue: %w", err)
		}
		// Another transaction created it first.
		if is, err = find(); err != nil {
			return nil, false, false, fmt.Errorf("find issue: %w", err)
		}
	} else if err != nil {
		return nil, false, false, fmt.Errorf("find issue: %w", err)
	}
	if is.Status == herald.IssueResolved {
		res, err := s.exec(ctx, tx, `UPDATE issues SET status = $1, substatus = $2 WHERE id = $3 AND status = $4`,
			herald.IssueUnresolved, "regressed", is.ID, herald.IssueResolved)
		if err != nil {
			return nil, false, false, fmt.Errorf("regress issue: %w", err)
		}
		n, _ := res.RowsAffected()
		regressed = n > 0
		is.Status, is.Substatus = herald.IssueUnresolved, "regressed"
	}
	is.Count += int64(len(idx))
	if lastSeen.After(is.LastSeen) {
		is.LastSeen = lastSeen
	}
	return is, false, regressed, nil
}

const eventColumns = `project_id, id, issue_id, timestamp, received, level, platform, message, title, culprit, type, value, environment, release, tags, user_key, hash, data`

// insertEvents writes events with multi-row inserts.
func (s *DB) insertEvents(ctx context.Context, tx *sql.Tx, events []*herald.Event) error {
	const cols = 18
	args := make([]any, 0, len(events)*cols)
	for _, e := range events {
		args = append(args, e.ProjectID, e.ID, e.IssueID, ts(e.Timestamp), ts(e.Received), e.Level, e.Platform, e.Message,
			e.Title, e.Culprit, e.Type, e.Value, e.Environment, e.Release, encodeTags(e.Tags), e.UserKey, e.GroupHash, e.Data)
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO events (`+eventColumns+`) VALUES `, ` ON CONFLICT (project_id, id) DO NOTHING`, cols, args); err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	return nil
}

// encodeTags stores tags as "key=value" lines; keys never hold "=" or a
// newline, and newlines in values are replaced.
func encodeTags(tags []herald.Tag) string {
	var b strings.Builder
	for i, t := range tags {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(t.Key)
		b.WriteByte('=')
		b.WriteString(strings.ReplaceAll(t.Value, "\n", " "))
	}
	return b.String()
}

func decodeTags(s string) []herald.Tag {
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	out := make([]herald.Tag, 0, len(lines))
	for _, l := range lines {
		k, v, _ := strings.Cut(l, "=")
		out = append(out, herald.Tag{Key: k, Value: v})
	}
	return out
}

// FindEventByID returns a project's event or ENOTFOUND.
func (s *DB) FindEventByID(ctx context.Context, projectID int64, id string) (*herald.Event, error) {
	e := &herald.Event{}
	var stamp, received int64
	var tags string
	err := s.queryRow(ctx, nil, `SELECT `+eventColumns+` FROM events WHERE project_id = $1 AND id = $2`, projectID, id).Scan(
		&e.ProjectID, &e.ID, &e.IssueID, &stamp, &received, &e.Level, &e.Platform, &e.Message, &e.Title, &e.Culprit,
		&e.Type, &e.Value, &e.Environment, &e.Release, &tags, &e.UserKey, &e.GroupHash, &e.Data)
	if err != nil {
		return nil, notFound(err, "event")
	}
	e.Timestamp, e.Received, e.Tags = fromTS(stamp), fromTS(received), decodeTags(tags)
	return e, nil
}

// FindIssueByID returns the issue or ENOTFOUND.
func (s *DB) FindIssueByID(ctx context.Context, id int64) (*herald.Issue, error) {
	is, err := scanIssue(s.queryRow(ctx, nil, `SELECT `+issueColumns+` FROM issues WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "issue")
	}
	return is, nil
}
