package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/herald-dev/herald"
)

// issueDetailColumns are the issue's columns with its comment count and
// assignee, read from issueDetailFrom.
const issueDetailColumns = `i.id, i.project_id, i.hash, i.short_id, i.title, i.culprit, i.level, i.status, i.substatus, i.type, i.value,
	i.platform, i.first_seen, i.last_seen, i.times_seen, i.user_count, i.resolution_type, i.resolution_release, i.resolution_commit,
	i.resolution_repository, i.unhandled, i.num_comments, i.assignee_type, i.assignee_id,
	COALESCE(NULLIF(u.name, ''), u.email, t.slug, ''), COALESCE(u.email, '')`

const issueDetailFrom = ` FROM issues i
	LEFT JOIN users u ON i.assignee_type = 'user' AND u.id = i.assignee_id
	LEFT JOIN teams t ON i.assignee_type = 'team' AND t.id = i.assignee_id `

// scanIssueDetail reads an issue of issueDetailColumns.
func scanIssueDetail(row interface{ Scan(...any) error }) (*herald.Issue, error) {
	is := &herald.Issue{}
	var first, last int64
	var r herald.Resolution
	var a herald.Assignee
	err := row.Scan(&is.ID, &is.ProjectID, &is.Hash, &is.ShortID, &is.Title, &is.Culprit, &is.Level, &is.Status, &is.Substatus,
		&is.Type, &is.Value, &is.Platform, &first, &last, &is.Count, &is.UserCount, &r.Type, &r.Release, &r.Commit, &r.Repository,
		&is.Unhandled, &is.NumComments, &a.Type, &a.ID, &a.Name, &a.Email)
	if err != nil {
		return nil, err
	}
	is.FirstSeen, is.LastSeen, is.Resolution = fromTS(first), fromTS(last), storedResolution(r)
	if a.Type != "" {
		is.AssignedTo = &a
	}
	return is, nil
}

// findIssueQuery is FindIssue's query for an issue of organization $1
// with id $2 or, byShortID, with short id $2: found through the primary
// key or the issues_short_id index, whatever the number of issues.
func findIssueQuery(byShortID bool) string {
	key := `i.id = $2`
	if byShortID {
		key = `i.short_id = $2`
	}
	return `SELECT ` + issueDetailColumns + issueDetailFrom + `WHERE i.project_id IN (SELECT id FROM projects WHERE org_id = $1 AND NOT deleted) AND ` +
		key + ` AND NOT i.deleted LIMIT 1`
}

// FindIssue returns an organization's issue by id or short id, with its
// assignee and comment count.
func (s *DB) FindIssue(ctx context.Context, orgID int64, idOrShortID string) (*herald.Issue, error) {
	var arg any = strings.ToUpper(idOrShortID)
	id, err := strconv.ParseInt(idOrShortID, 10, 64)
	if err == nil {
		arg = id
	}
	is, err := scanIssueDetail(s.queryRow(ctx, nil, findIssueQuery(err != nil), orgID, arg))
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
	rows, err := s.query(ctx, nil, `SELECT `+issueDetailColumns+issueDetailFrom+`WHERE i.project_id = $1 AND NOT i.deleted
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

// SetIssueStatusParams sets the status of issues.
type SetIssueStatusParams struct {
	IDs       []int64
	Status    string
	Substatus string
	// Resolution is written with the status: how a resolved status was
	// resolved. Nil (or resolved now) clears it, as any status but
	// resolved should.
	Resolution *herald.Resolution
	// From, when set, limits the change to the issues whose status it is.
	From string
}

// SetIssueStatus sets the status, substatus and resolution of issues and
// returns how many it changed.
func (t *Tx) SetIssueStatus(ctx context.Context, p SetIssueStatusParams) (int64, error) {
	r := resolutionColumns(p.Resolution)
	res, err := t.s.exec(ctx, t.tx, `UPDATE issues SET status = $1, substatus = $2, resolution_type = $5, resolution_release = $6,
		resolution_commit = $7, resolution_repository = $8 WHERE id `+t.s.inInt(3)+` AND ($4 = '' OR status = $4)`,
		p.Status, p.Substatus, jsonList(nonNilList(p.IDs)), p.From, r.Type, r.Release, r.Commit, r.Repository)
	if err != nil {
		return 0, fmt.Errorf("update issue status: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// resolutionColumns returns what the resolution columns hold for r: empty
// for nil and for resolved now.
func resolutionColumns(r *herald.Resolution) herald.Resolution {
	if r == nil || r.ResolutionType() == herald.ResolvedNow {
		return herald.Resolution{}
	}
	return *r
}

// storedResolution returns the resolution the resolution columns r hold:
// nil (resolved now) when they are empty.
func storedResolution(r herald.Resolution) *herald.Resolution {
	if r.Type == "" {
		return nil
	}
	return &r
}

// AssignIssuesParams assigns issues.
type AssignIssuesParams struct {
	IDs []int64
	// Assignee is who the issues are assigned to; nil unassigns them.
	Assignee *herald.Assignee
}

// AssignIssues sets the assignee of issues.
func (t *Tx) AssignIssues(ctx context.Context, p AssignIssuesParams) error {
	typ, id := "", int64(0)
	if a := p.Assignee; a != nil {
		typ, id = a.Type, a.ID
	}
	if _, err := t.s.exec(ctx, t.tx, `UPDATE issues SET assignee_type = $1, assignee_id = $2 WHERE id `+t.s.inInt(3),
		typ, id, jsonList(nonNilList(p.IDs))); err != nil {
		return fmt.Errorf("assign issues: %w", err)
	}
	return nil
}

// SelectIssues loads the issues sel names, with their details, locking
// them (on PostgreSQL) until the transaction ends.
func (t *Tx) SelectIssues(ctx context.Context, sel herald.IssueSelection) ([]*herald.Issue, error) {
	return t.s.selectIssues(ctx, t.tx, sel)
}

// selectIssues loads the issues sel names, with their details, locking
// them on PostgreSQL in hash order, the order SaveEvents updates a
// project's issues in, so that the two cannot deadlock.
func (s *DB) selectIssues(ctx context.Context, tx *sql.Tx, sel herald.IssueSelection) ([]*herald.Issue, error) {
	q := `SELECT ` + issueDetailColumns + issueDetailFrom + `WHERE i.project_id = $1 AND NOT i.deleted AND `
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

// DeleteIssue deletes the issue: it is marked deleted, which hides it
// from every read (and the events of it from FindEventByID), and its hash
// is freed, so that the next event of its group opens a new issue; its
// events, alert counters and comments, and then its row, are left to
// PurgeIssues. Deleting them here held SQLite's one writer, and every
// ingest batch, as long as deleting a storm's counters takes.
func (s *DB) DeleteIssue(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		n, err := s.markIssuesDeleted(ctx, tx, `id = $1`, id)
		if err != nil {
			return err
		}
		if n == 0 {
			return herald.Errorf(herald.ENOTFOUND, "issue not found")
		}
		return nil
	})
}

// markIssuesDeleted marks deleted, in tx, the issues cond (a condition on
// the issues' columns, given args) selects and not yet deleted, frees
// their hashes and queues them for PurgeIssues; it returns how many. On
// PostgreSQL it locks them first in order of hash, the order in which an
// ingest batch locks the issues it has found (issuesByHash), so that the
// two wait for each other rather than deadlock.
func (s *DB) markIssuesDeleted(ctx context.Context, tx *sql.Tx, cond string, args ...any) (int64, error) {
	cond += ` AND NOT deleted`
	if s.dialect.Name != "sqlite" {
		cond = `id IN (SELECT id FROM issues WHERE ` + cond + ` ORDER BY hash FOR UPDATE)`
	}
	// The hash a deleted issue keeps until its purge is one no group
	// has (they are hexadecimal digests).
	rows, err := s.query(ctx, tx, `UPDATE issues SET deleted = true, hash = 'deleted~' || CAST(id AS TEXT) WHERE `+cond+
		` RETURNING id`, args...)
	if err != nil {
		return 0, fmt.Errorf("delete issues: %w", err)
	}
	ids, err := scanColumn[int64](rows)
	if err != nil {
		return 0, fmt.Errorf("delete issues: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	if _, err := s.exec(ctx, tx, `INSERT INTO issue_purges (issue_id, project_id) SELECT id, project_id FROM issues WHERE id `+s.inInt(1)+
		` ON CONFLICT DO NOTHING`, jsonList(ids)); err != nil {
		return 0, fmt.Errorf("queue deleted issues: %w", err)
	}
	return int64(len(ids)), nil
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

// IssueExtras fills in the assignee and comment count of issues, which
// ingest does not read, in one query.
func (t *Tx) IssueExtras(ctx context.Context, issues []*herald.Issue) error {
	s, tx := t.s, t.tx
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
