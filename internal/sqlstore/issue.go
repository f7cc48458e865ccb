package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/webhook"
)

// issueDetailColumns are the issue's columns with its comment count and
// assignee, read from issueDetailFrom.
const issueDetailColumns = `i.id, i.project_id, i.hash, i.short_id, i.title, i.culprit, i.level, i.status, i.substatus, i.type, i.value,
	i.platform, i.first_seen, i.last_seen, i.times_seen, i.user_count, i.num_comments, i.assignee_type, i.assignee_id,
	COALESCE(NULLIF(u.name, ''), u.email, t.slug, ''), COALESCE(u.email, '')`

const issueDetailFrom = ` FROM issues i
	LEFT JOIN users u ON i.assignee_type = 'user' AND u.id = i.assignee_id
	LEFT JOIN teams t ON i.assignee_type = 'team' AND t.id = i.assignee_id `

func scanIssueDetail(row interface{ Scan(...any) error }) (*herald.Issue, error) {
	is := &herald.Issue{}
	var first, last int64
	var a herald.Assignee
	err := row.Scan(&is.ID, &is.ProjectID, &is.Hash, &is.ShortID, &is.Title, &is.Culprit, &is.Level, &is.Status, &is.Substatus,
		&is.Type, &is.Value, &is.Platform, &first, &last, &is.Count, &is.UserCount, &is.NumComments, &a.Type, &a.ID, &a.Name, &a.Email)
	if err != nil {
		return nil, err
	}
	is.FirstSeen, is.LastSeen = fromTS(first), fromTS(last)
	if a.Type != "" {
		is.AssignedTo = &a
	}
	return is, nil
}

// FindIssue returns an organization's issue by id or short id, with its
// assignee and comment count.
func (s *DB) FindIssue(ctx context.Context, orgID int64, idOrShortID string) (*herald.Issue, error) {
	q := `SELECT ` + issueDetailColumns + issueDetailFrom + `WHERE i.project_id IN (SELECT id FROM projects WHERE org_id = $1) AND `
	var arg any
	if id, err := strconv.ParseInt(idOrShortID, 10, 64); err == nil {
		q, arg = q+`i.id = $2`, id
	} else {
		q, arg = q+`i.short_id = $2`, strings.ToUpper(idOrShortID)
	}
	is, err := scanIssueDetail(s.queryRow(ctx, nil, q+` LIMIT 1`, orgID, arg))
	if err != nil {
		return nil, notFound(err, "issue")
	}
	return is, nil
}

// SearchIssues lists a project's issues, most recently seen first.
func (s *DB) SearchIssues(ctx context.Context, f herald.IssueSearch) ([]*herald.Issue, string, error) {
	before, after, err := cursorTimeID(f.Page.Cursor)
	if err != nil {
		return nil, "", err
	}
	if f.Page.Cursor == "" {
		before = 1 << 62
	}
	afterID, _ := strconv.ParseInt(after, 10, 64)
	if f.Page.Cursor == "" {
		afterID = 1 << 62
	}
	limit := pageLimit(f.Page)
	assigned := 0
	if f.Assigned != nil && *f.Assigned {
		assigned = 1
	} else if f.Assigned != nil {
		assigned = 2
	}
	text := ""
	if f.Text != "" {
		text = "%" + escapeLike(strings.ToLower(f.Text)) + "%"
	}
	rows, err := s.query(ctx, nil, `SELECT `+issueDetailColumns+issueDetailFrom+`WHERE i.project_id = $1
		AND ($2 = 0 OR i.status `+s.inText(3)+`)
		AND ($4 = 0 OR ($4 = 1 AND i.assignee_type <> '') OR ($4 = 2 AND i.assignee_type = ''))
		AND ($5 = 0 OR (i.assignee_type = 'user' AND i.assignee_id = $5))
		AND ($6 = '' OR LOWER(i.title) LIKE $6 ESCAPE '\' OR LOWER(i.culprit) LIKE $6 ESCAPE '\')
		AND (i.last_seen < $7 OR (i.last_seen = $7 AND i.id < $8)) ORDER BY i.last_seen DESC, i.id DESC LIMIT $9`,
		f.ProjectID, len(f.Statuses), jsonList(nonNilList(f.Statuses)), assigned, f.AssigneeUserID, text, before, afterID, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("search issues: %w", err)
	}
	defer rows.Close()
	var out []*herald.Issue
	for rows.Next() {
		is, err := scanIssueDetail(rows)
		if err != nil {
			return nil, "", fmt.Errorf("scan issue: %w", err)
		}
		out = append(out, is)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	return trimPage(out, limit, func(is *herald.Issue) string { return timeIDCursor(is.LastSeen, strconv.FormatInt(is.ID, 10)) })
}

// escapeLike escapes LIKE's wildcards and its escape character.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// nonNilList returns l, or an empty list for nil, so that it encodes as [].
func nonNilList[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}

// UpdateIssues applies upd to the selected issues in one transaction, with
// the issue.* deliveries the changes cause.
func (s *DB) UpdateIssues(ctx context.Context, sel herald.IssueSelection, upd herald.IssueUpdate, actor herald.Actor) ([]*herald.Issue, error) {
	if upd.Status != nil && !slices.Contains([]string{herald.IssueResolved, herald.IssueIgnored, herald.IssueUnresolved}, *upd.Status) {
		return nil, herald.Errorf(herald.EINVALID, "invalid status %q", *upd.Status)
	}
	var out []*herald.Issue
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		p, err := scanProject(s.queryRow(ctx, tx, `SELECT `+projectColumns+projectFrom+`WHERE p.id = $1`, sel.ProjectID))
		if err != nil {
			return notFound(err, "project")
		}
		issues, err := s.selectIssues(ctx, tx, sel)
		if err != nil || len(issues) == 0 {
			out = issues
			return err
		}
		now := s.clock.Now().UTC()
		type change struct {
			issue *herald.Issue
			event string
		}
		var changes []change
		byStatus := map[[2]string][]int64{}
		var assignedIDs []int64
		for _, is := range issues {
			if upd.Status != nil {
				status, sub := *upd.Status, is.Substatus
				switch status {
				case herald.IssueResolved:
					sub = ""
				case herald.IssueIgnored:
					sub = herald.SubstatusUntilEscalating
					if upd.Substatus != nil {
						sub = *upd.Substatus
					}
				case herald.IssueUnresolved:
					if is.Status != herald.IssueUnresolved {
						sub = herald.SubstatusOngoing
					}
				}
				if status != is.Status || sub != is.Substatus {
					k := [2]string{status, sub}
					byStatus[k] = append(byStatus[k], is.ID)
				}
				if status != is.Status {
					changes = append(changes, change{is, statusEvent(status)})
				}
				is.Status, is.Substatus = status, sub
			}
			if upd.AssignedTo != nil {
				a := *upd.AssignedTo
				if !sameAssignee(is.AssignedTo, a) {
					assignedIDs = append(assignedIDs, is.ID)
					if a != nil {
						changes = append(changes, change{is, webhook.IssueAssigned})
					}
				}
				is.AssignedTo = a
			}
		}
		for k, ids := range byStatus {
			if _, err := s.exec(ctx, tx, `UPDATE issues SET status = $1, substatus = $2 WHERE id `+s.inInt(3), k[0], k[1], jsonList(ids)); err != nil {
				return fmt.Errorf("update issue status: %w", err)
			}
		}
		if len(assignedIDs) > 0 {
			typ, id := "", int64(0)
			if a := *upd.AssignedTo; a != nil {
				typ, id = a.Type, a.ID
			}
			if _, err := s.exec(ctx, tx, `UPDATE issues SET assignee_type = $1, assignee_id = $2 WHERE id `+s.inInt(3), typ, id, jsonList(assignedIDs)); err != nil {
				return fmt.Errorf("assign issues: %w", err)
			}
		}
		// Read the issues back: assignees get their names and emails.
		ids := make([]int64, len(issues))
		for i, is := range issues {
			ids[i] = is.ID
		}
		if out, err = s.selectIssues(ctx, tx, herald.IssueSelection{ProjectID: sel.ProjectID, IDs: ids}); err != nil {
			return err
		}
		fresh := make(map[int64]*herald.Issue, len(out))
		for _, is := range out {
			fresh[is.ID] = is
		}
		n, ok := s.notifier.(herald.AppNotifier)
		if !ok || len(changes) == 0 {
			return nil
		}
		installs, err := s.orgInstallations(ctx, tx, []int64{p.OrganizationID}, webhook.ResourceIssue)
		if err != nil || len(installs) == 0 {
			return err
		}
		var deliveries []*herald.Delivery
		for _, c := range changes {
			deliveries = append(deliveries, n.IssueChanged(&herald.IssueChange{Event: c.event, Project: p, Issue: fresh[c.issue.ID],
				Actor: actor, Installations: installs[p.OrganizationID], Now: now})...)
		}
		return s.enqueue(ctx, tx, deliveries)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// statusEvent names the webhook event of a change to status.
func statusEvent(status string) string {
	switch status {
	case herald.IssueResolved:
		return webhook.IssueResolved
	case herald.IssueIgnored:
		return webhook.IssueIgnored
	}
	return webhook.IssueUnresolved
}

// sameAssignee reports whether a and b name the same user or team.
func sameAssignee(a, b *herald.Assignee) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Type == b.Type && a.ID == b.ID
}

// selectIssues loads the issues sel names, with their details, locking
// them on PostgreSQL in hash order, the order SaveEvents updates a
// project's issues in, so that the two cannot deadlock.
func (s *DB) selectIssues(ctx context.Context, tx *sql.Tx, sel herald.IssueSelection) ([]*herald.Issue, error) {
	q := `SELECT ` + issueDetailColumns + issueDetailFrom + `WHERE i.project_id = $1 AND `
	args := []any{sel.ProjectID}
	if len(sel.IDs) > 0 {
		q += `i.id ` + s.inInt(2) + ` ORDER BY i.hash`
		args = append(args, jsonList(sel.IDs))
	} else {
		q += `($2 = 0 OR i.status ` + s.inText(3) + `) ORDER BY i.hash LIMIT $4`
		args = append(args, len(sel.Statuses), jsonList(nonNilList(sel.Statuses)), herald.MaxBulkIssues)
	}
	if s.dialect.Name == "postgres" {
		q += ` FOR UPDATE OF i`
	}
	rows, err := s.query(ctx, tx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("select issues: %w", err)
	}
	defer rows.Close()
	var out []*herald.Issue
	for rows.Next() {
		is, err := scanIssueDetail(rows)
		if err != nil {
			return nil, fmt.Errorf("scan issue: %w", err)
		}
		out = append(out, is)
	}
	return out, rows.Err()
}

// DeleteIssue removes the issue with its events and comments.
func (s *DB) DeleteIssue(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `DELETE FROM events WHERE issue_id = $1`, id); err != nil {
			return fmt.Errorf("delete events: %w", err)
		}
		res, err := s.exec(ctx, tx, `DELETE FROM issues WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("delete issue: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return herald.Errorf(herald.ENOTFOUND, "issue not found")
		}
		return nil
	})
}

// IssueStats counts the events of each issue, by the time Herald received
// them, per bucket of resolution in [since, until).
func (s *DB) IssueStats(ctx context.Context, issueIDs []int64, since, until time.Time, resolution time.Duration) (map[int64][]herald.IssueStat, error) {
	if resolution <= 0 || until.Sub(since)/resolution > 10000 {
		return nil, herald.Errorf(herald.EINVALID, "too many buckets: narrow the range or widen the resolution")
	}
	out := make(map[int64][]herald.IssueStat, len(issueIDs))
	if len(issueIDs) == 0 {
		return out, nil
	}
	res := resolution.Microseconds()
	start := ts(since) - ts(since)%res
	rows, err := s.query(ctx, nil, `SELECT issue_id, (received - $1) / $2, COUNT(*) FROM events
		WHERE issue_id `+s.inInt(3)+` AND received >= $1 AND received < $4 GROUP BY 1, 2`,
		start, res, jsonList(issueIDs), ts(until))
	if err != nil {
		return nil, fmt.Errorf("issue stats: %w", err)
	}
	defer rows.Close()
	counts := map[[2]int64]int64{}
	for rows.Next() {
		var id, bucket, n int64
		if err := rows.Scan(&id, &bucket, &n); err != nil {
			return nil, fmt.Errorf("scan stats: %w", err)
		}
		counts[[2]int64{id, bucket}] = n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, id := range issueIDs {
		var stats []herald.IssueStat
		for i, t := int64(0), start; t < ts(until); i, t = i+1, t+res {
			stats = append(stats, herald.IssueStat{TS: t / 1e6, Count: counts[[2]int64{id, i}]})
		}
		out[id] = stats
	}
	return out, nil
}

// FindUserByEmail returns the user or ENOTFOUND.
func (s *DB) FindUserByEmail(ctx context.Context, email string) (*herald.User, error) {
	u := &herald.User{}
	if err := scanUser(s.queryRow(ctx, nil, `SELECT `+userColumns+` FROM users u WHERE LOWER(u.email) = LOWER($1)`, email), u); err != nil {
		return nil, notFound(err, "user")
	}
	return u, nil
}

// FindTeamByID returns an organization's team or ENOTFOUND.
func (s *DB) FindTeamByID(ctx context.Context, orgID, id int64) (*herald.Team, error) {
	t := &herald.Team{}
	if err := scanTeam(s.queryRow(ctx, nil, `SELECT `+teamColumns+` FROM teams t WHERE t.org_id = $1 AND t.id = $2`, orgID, id), t); err != nil {
		return nil, notFound(err, "team")
	}
	return t, nil
}

// loadIssueExtras fills in the assignee and comment count of issues, which
// ingest does not read, in one query.
func (s *DB) loadIssueExtras(ctx context.Context, tx *sql.Tx, issues []*herald.Issue) error {
	if len(issues) == 0 {
		return nil
	}
	byID := make(map[int64][]*herald.Issue, len(issues))
	ids := make([]int64, 0, len(issues))
	for _, is := range issues {
		if _, ok := byID[is.ID]; !ok {
			ids = append(ids, is.ID)
		}
		byID[is.ID] = append(byID[is.ID], is)
	}
	rows, err := s.query(ctx, tx, `SELECT i.id, i.num_comments, i.assignee_type, i.assignee_id,
		COALESCE(NULLIF(u.name, ''), u.email, t.slug, ''), COALESCE(u.email, '')`+issueDetailFrom+`WHERE i.id `+s.inInt(1), jsonList(ids))
	if err != nil {
		return fmt.Errorf("load issue details: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, comments int64
		var a herald.Assignee
		if err := rows.Scan(&id, &comments, &a.Type, &a.ID, &a.Name, &a.Email); err != nil {
			return fmt.Errorf("scan issue details: %w", err)
		}
		for _, is := range byID[id] {
			is.NumComments = comments
			if a.Type != "" {
				a := a
				is.AssignedTo = &a
			}
		}
	}
	return rows.Err()
}
