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

// Projects loads projects by id, with their organization's slug.
func (t *Tx) Projects(ctx context.Context, ids []int64) (map[int64]*herald.Project, error) {
	rows, err := t.s.query(ctx, t.tx, `SELECT `+projectColumns+projectFrom+`WHERE p.id `+t.s.inInt(1), jsonList(nonNilList(ids)))
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

// EventKey names an event of a project.
type EventKey struct {
	ProjectID int64
	ID        string
}

// ExistingEvents returns which of events their project already has: one
// query, by primary key.
func (t *Tx) ExistingEvents(ctx context.Context, events []*herald.Event) (map[EventKey]bool, error) {
	ids := make([]string, len(events))
	var projectIDs []int64
	for i, e := range events {
		ids[i] = e.ID
		if !slices.Contains(projectIDs, e.ProjectID) {
			projectIDs = append(projectIDs, e.ProjectID)
		}
	}
	// Both columns of the primary key are constrained, so this is index
	// lookups, not a scan of the project's events.
	rows, err := t.s.query(ctx, t.tx, `SELECT project_id, id FROM events WHERE project_id `+t.s.inInt(1)+` AND id `+t.s.inText(2),
		jsonList(projectIDs), jsonList(ids))
	if err != nil {
		return nil, fmt.Errorf("find existing events: %w", err)
	}
	defer rows.Close()
	out := map[EventKey]bool{}
	for rows.Next() {
		var k EventKey
		if err := rows.Scan(&k.ProjectID, &k.ID); err != nil {
			return nil, fmt.Errorf("scan event id: %w", err)
		}
		out[k] = true
	}
	return out, rows.Err()
}

// ActiveHooks loads the active hooks of projects, oldest first.
func (t *Tx) ActiveHooks(ctx context.Context, projectIDs []int64) (map[int64][]*herald.Hook, error) {
	rows, err := t.s.query(ctx, t.tx, `SELECT `+hookColumns+` FROM hooks h WHERE h.status = $1 AND h.project_id `+t.s.inInt(2)+` ORDER BY h.date_created, h.id`,
		herald.HookActive, jsonList(nonNilList(projectIDs)))
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

// IssueCount is what a batch of events adds to an existing issue.
type IssueCount struct {
	IssueID int64
	// Events and Users are added to the issue's count and user count.
	Events, Users int
	// LastSeen is the batch's latest event time; the issue's last_seen
	// only moves forward.
	LastSeen time.Time
	// Unhandled says whether the batch's latest event (at LastSeen) was
	// unhandled; it becomes the issue's unless the issue has seen a later
	// event, as last_seen does.
	Unhandled bool
}

// CountIssues adds counts to their issues, one statement each, in the
// order given: callers sort them by issue id so that concurrent batches
// lock issue rows in the same order.
func (t *Tx) CountIssues(ctx context.Context, counts []IssueCount) error {
	for _, c := range counts {
		_, err := t.s.exec(ctx, t.tx, `UPDATE issues SET times_seen = times_seen + $1, user_count = user_count + $2,
			last_seen = CASE WHEN last_seen > $3 THEN last_seen ELSE $3 END,
			unhandled = CASE WHEN last_seen > $3 THEN unhandled ELSE $5 END WHERE id = $4`,
			c.Events, c.Users, ts(c.LastSeen), c.IssueID, c.Unhandled)
		if err != nil {
			return fmt.Errorf("count issue: %w", err)
		}
	}
	return nil
}

// AddIssueUsers records the distinct user keys seen on an issue and
// returns how many it had not recorded before.
func (t *Tx) AddIssueUsers(ctx context.Context, issueID int64, keys []string) (int, error) {
	added := 0
	for _, k := range keys {
		res, err := t.s.exec(ctx, t.tx, `INSERT INTO issue_users (issue_id, user_key) VALUES ($1, $2) ON CONFLICT DO NOTHING`, issueID, k)
		if err != nil {
			return 0, fmt.Errorf("add issue user: %w", err)
		}
		n, _ := res.RowsAffected()
		added += int(n)
	}
	return added, nil
}

// issueColumns are the columns of an issue, without what the
// IssueService methods add (assignee, comment count).
const issueColumns = `id, project_id, hash, short_id, title, culprit, level, status, substatus, type, value, platform, first_seen, last_seen,
	times_seen, user_count, resolution_type, resolution_release, resolution_commit, resolution_repository, unhandled`

// scanIssue reads an issue of issueColumns.
func scanIssue(row interface{ Scan(...any) error }) (*herald.Issue, error) {
	is := &herald.Issue{}
	var first, last int64
	var r herald.Resolution
	err := row.Scan(&is.ID, &is.ProjectID, &is.Hash, &is.ShortID, &is.Title, &is.Culprit, &is.Level, &is.Status, &is.Substatus,
		&is.Type, &is.Value, &is.Platform, &first, &last, &is.Count, &is.UserCount, &r.Type, &r.Release, &r.Commit, &r.Repository, &is.Unhandled)
	if err != nil {
		return nil, err
	}
	is.FirstSeen, is.LastSeen, is.Resolution = fromTS(first), fromTS(last), storedResolution(r)
	return is, nil
}

// UpsertIssueParams names the issue to find or create.
type UpsertIssueParams struct {
	// New is the issue to create when its project has none with its Hash:
	// ProjectID, Hash, Title, Culprit, Level, Status, Substatus, Type,
	// Value, Platform, FirstSeen, LastSeen, Count and Unhandled are
	// written as they are; ID and ShortID are set.
	New *herald.Issue
	// ShortIDPrefix starts the new issue's short id, followed by the
	// project's next number in base 36 ("WEB" gives "WEB-1A").
	ShortIDPrefix string
}

// UpsertIssue returns the project's issue with p.New's hash, creating it
// from p.New when there is none (created is then set, and the issue
// returned is p.New). An issue another transaction creates meanwhile is
// found, not duplicated.
func (t *Tx) UpsertIssue(ctx context.Context, p UpsertIssueParams) (is *herald.Issue, created bool, err error) {
	s, n := t.s, p.New
	find := func() (*herald.Issue, error) {
		return scanIssue(s.queryRow(ctx, t.tx, `SELECT `+issueColumns+` FROM issues WHERE project_id = $1 AND hash = $2`, n.ProjectID, n.Hash))
	}
	is, err = find()
	if err == nil {
		return is, false, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, false, fmt.Errorf("find issue: %w", err)
	}
	var next int64
	if err := s.queryRow(ctx, t.tx, `UPDATE projects SET next_short_id = next_short_id + 1 WHERE id = $1 RETURNING next_short_id`, n.ProjectID).Scan(&next); err != nil {
		return nil, false, fmt.Errorf("next short id: %w", err)
	}
	n.ShortID = p.ShortIDPrefix + "-" + strings.ToUpper(strconv.FormatInt(next, 36))
	err = s.queryRow(ctx, t.tx, `INSERT INTO issues (project_id, hash, short_id, title, culprit, level, status, substatus, type, value, platform,
		first_seen, last_seen, times_seen, unhandled)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (project_id, hash) DO NOTHING RETURNING id`,
		n.ProjectID, n.Hash, n.ShortID, n.Title, n.Culprit, n.Level, n.Status, n.Substatus, n.Type, n.Value, n.Platform,
		ts(n.FirstSeen), ts(n.LastSeen), n.Count, n.Unhandled).Scan(&n.ID)
	if err == nil {
		return n, true, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, false, fmt.Errorf("insert issue: %w", err)
	}
	// Another transaction created it first.
	if is, err = find(); err != nil {
		return nil, false, fmt.Errorf("find issue: %w", err)
	}
	return is, false, nil
}

const eventColumns = `project_id, id, issue_id, timestamp, received, level, platform, message, title, culprit, type, value, environment, release, tags, user_key, hash, data`

// InsertEvents writes events with multi-row inserts; an event its project
// already has is left as it is.
func (t *Tx) InsertEvents(ctx context.Context, events []*herald.Event) error {
	const cols = 18
	args := make([]any, 0, len(events)*cols)
	for _, e := range events {
		args = append(args, e.ProjectID, e.ID, e.IssueID, ts(e.Timestamp), ts(e.Received), e.Level, e.Platform, e.Message,
			e.Title, e.Culprit, e.Type, e.Value, e.Environment, e.Release, encodeTags(e.Tags), e.UserKey, e.GroupHash, e.Data)
	}
	if err := t.s.insertRows(ctx, t.tx, `INSERT INTO events (`+eventColumns+`) VALUES `, ` ON CONFLICT (project_id, id) DO NOTHING`, cols, args); err != nil {
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
	return scanEvent(s.queryRow(ctx, nil, `SELECT `+eventColumns+` FROM events WHERE project_id = $1 AND id = $2`, projectID, id))
}

// FindLatestEvent returns the issue's most recently received event or
// ENOTFOUND (read by the events_issue index).
func (s *DB) FindLatestEvent(ctx context.Context, issueID int64) (*herald.Event, error) {
	return scanEvent(s.queryRow(ctx, nil, `SELECT `+eventColumns+` FROM events WHERE issue_id = $1
		ORDER BY received DESC, id DESC LIMIT 1`, issueID))
}

// scanEvent reads one event of eventColumns, or ENOTFOUND.
func scanEvent(row *sql.Row) (*herald.Event, error) {
	e := &herald.Event{}
	var stamp, received int64
	var tags string
	err := row.Scan(&e.ProjectID, &e.ID, &e.IssueID, &stamp, &received, &e.Level, &e.Platform, &e.Message, &e.Title, &e.Culprit,
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
