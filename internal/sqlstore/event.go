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

// Projects loads projects by id, with their organization's slug (through
// the configuration cache when the transaction uses it: see CacheConfig).
func (t *Tx) Projects(ctx context.Context, ids []int64) (map[int64]*herald.Project, error) {
	return byID(ctx, t, "projects", ids, func(ids []int64) (map[int64]*herald.Project, error) { return t.projects(ctx, ids) })
}

// projects loads projects by id, in one query.
func (t *Tx) projects(ctx context.Context, ids []int64) (map[int64]*herald.Project, error) {
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
// query, by primary key. An event of a deleted issue, which PurgeIssues
// has yet to delete, is deleted now instead and not returned: the event
// sent again is stored anew, in the issue its group has now. In a
// transaction that uses the configuration cache (CacheConfig) and has not
// read the configuration version yet, the same query reads it, saving
// the cache's first lookup a round trip.
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
	match := `e.project_id ` + t.s.inInt(1) + ` AND e.id ` + t.s.inText(2)
	withVersion := t.cacheConfig && !t.versionRead
	cols := `e.project_id, e.id, EXISTS (SELECT 1 FROM issues i WHERE i.id = e.issue_id AND NOT i.deleted)`
	q := `SELECT ` + cols + ` FROM events e WHERE ` + match
	if withVersion {
		// The version's one row, joined with the events found: a row
		// with NULLs when there are none.
		q = `SELECT v.n, ` + cols + ` FROM config_version v LEFT JOIN events e ON ` + match + ` WHERE v.id = 1`
	}
	rows, err := t.s.query(ctx, t.tx, q, jsonList(projectIDs), jsonList(ids))
	if err != nil {
		return nil, fmt.Errorf("find existing events: %w", err)
	}
	defer rows.Close()
	out := map[EventKey]bool{}
	var stale []EventKey
	var project sql.NullInt64
	var id sql.NullString
	var live bool
	dest := []any{&project, &id, &live}
	if withVersion {
		dest = []any{&t.version, &project, &id, &live}
	}
	n := 0
	for rows.Next() {
		n++
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("scan event id: %w", err)
		}
		if k := (EventKey{ProjectID: project.Int64, ID: id.String}); project.Valid && live {
			out[k] = true
		} else if project.Valid {
			stale = append(stale, k)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("find existing events: %w", err)
	}
	if withVersion {
		if n == 0 {
			return nil, fmt.Errorf("read configuration version: %w", sql.ErrNoRows)
		}
		t.versionRead = true
	}
	for _, k := range stale {
		if _, err := t.s.exec(ctx, t.tx, `DELETE FROM events WHERE project_id = $1 AND id = $2
			AND NOT EXISTS (SELECT 1 FROM issues i WHERE i.id = events.issue_id AND NOT i.deleted)`, k.ProjectID, k.ID); err != nil {
			return nil, fmt.Errorf("delete an event of a deleted issue: %w", err)
		}
	}
	return out, nil
}

// ActiveHooks loads the active hooks of projects, oldest first (through the
// configuration cache when the transaction uses it: see CacheConfig).
func (t *Tx) ActiveHooks(ctx context.Context, projectIDs []int64) (map[int64][]*herald.Hook, error) {
	return byID(ctx, t, "hooks", projectIDs, func(ids []int64) (map[int64][]*herald.Hook, error) { return t.activeHooks(ctx, ids) })
}

// activeHooks loads the active hooks of projects, in one query.
func (t *Tx) activeHooks(ctx context.Context, projectIDs []int64) (map[int64][]*herald.Hook, error) {
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

// CountIssues adds counts to their issues (each issue at most once in
// counts), in the order given: callers sort them by issue id so that concurrent batches lock issue rows in the
// same order. SQLite runs one prepared statement per issue; PostgreSQL
// locks the rows in that order and updates them all in one statement,
// rather than a round trip per issue, and Hold keeps it (a lone count
// too).
func (t *Tx) CountIssues(ctx context.Context, counts []IssueCount) error {
	const set = `times_seen = times_seen + $1, user_count = user_count + $2,
			last_seen = CASE WHEN last_seen > $3 THEN last_seen ELSE $3 END,
			unhandled = CASE WHEN last_seen > $3 THEN unhandled ELSE $5 END`
	if t.s.dialect.Name == "sqlite" || len(counts) < 3 {
		sts := make([]statement, len(counts))
		for i, c := range counts {
			sts[i] = statement{`UPDATE issues SET ` + set + ` WHERE id = $4`, []any{c.Events, c.Users, ts(c.LastSeen), c.IssueID, c.Unhandled}}
		}
		var err error
		if len(sts) == 1 {
			err = t.write(ctx, sts...) // a lone count has no order to keep
		} else {
			err = t.s.execAll(ctx, t.tx, sts)
		}
		if err != nil {
			return fmt.Errorf("count issue: %w", err)
		}
		return nil
	}
	// One statement takes the rows' locks in id order (the sub-select)
	// and updates them: a write Hold keeps like the others.
	const cols = 5
	args := make([]any, 0, len(counts)*cols)
	for _, c := range counts {
		args = append(args, c.IssueID, c.Events, c.Users, ts(c.LastSeen), c.Unhandled)
	}
	arrays, _, _ := columnArrays(args, cols) // every column has one Go type
	if err := t.write(ctx, statement{`UPDATE issues AS i SET times_seen = i.times_seen + v.events, user_count = i.user_count + v.users,
		last_seen = CASE WHEN i.last_seen > v.last_seen THEN i.last_seen ELSE v.last_seen END,
		unhandled = CASE WHEN i.last_seen > v.last_seen THEN i.unhandled ELSE v.unhandled END
		FROM (SELECT id FROM issues WHERE id = ANY(CAST($1 AS BIGINT[])) ORDER BY id FOR UPDATE) AS l,
		unnest(CAST($1 AS BIGINT[]), CAST($2 AS BIGINT[]), CAST($3 AS BIGINT[]), CAST($4 AS BIGINT[]), CAST($5 AS BOOLEAN[]))
			AS v (id, events, users, last_seen, unhandled)
		WHERE i.id = l.id AND v.id = l.id`, arrays}); err != nil {
		return fmt.Errorf("count issues: %w", err)
	}
	return nil
}

// IssueUser is a user key seen on an issue.
type IssueUser struct {
	IssueID int64
	Key     string
}

// AddIssueUsers records the user keys seen on issues (each pair at most
// once in users) and returns, by issue, how many it had not recorded
// before.
func (t *Tx) AddIssueUsers(ctx context.Context, users []IssueUser) (map[int64]int, error) {
	added := map[int64]int{}
	if len(users) == 0 {
		return added, nil
	}
	args := make([]any, 0, 2*len(users))
	for _, u := range users {
		args = append(args, u.IssueID, u.Key)
	}
	err := t.s.insertReturning(ctx, t.tx, `INSERT INTO issue_users (issue_id, user_key) VALUES `,
		` ON CONFLICT DO NOTHING RETURNING issue_id`, 2, args, func(rows *sql.Rows) error {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			added[id]++
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("add issue users: %w", err)
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

// UpsertIssues returns the project's issues with the hashes of news (one
// per hash), in the order of news, creating from news those the project
// does not have yet; created tells which it created. ProjectID, Hash,
// Title, Culprit, Level, Status, Substatus, Type, Value, Platform,
// FirstSeen, LastSeen, Count, UserCount and Unhandled of a created issue are written
// as news has them, and its ID and ShortID set: shortIDPrefix followed by
// the project's next number in base 36 ("WEB" gives "WEB-1A").
//
// It costs one statement to find them all and, when some are new, one to
// reserve their short ids and one per 256 to insert them. On PostgreSQL the
// short ids are reserved in a statement of their own, outside the
// transaction, so that the project's row is not held until the commit by
// one batch while concurrent ones wait: a rolled-back batch leaves a gap in
// the numbers, as Sentry's do. Callers pass news sorted by hash, the order
// in which concurrent batches then insert them.
func (t *Tx) UpsertIssues(ctx context.Context, projectID int64, shortIDPrefix string, news []*herald.Issue) (issues []*herald.Issue, created []bool, err error) {
	hashes := make([]string, len(news))
	for i, n := range news {
		hashes[i] = n.Hash
	}
	found, err := t.issuesByHash(ctx, projectID, hashes)
	if err != nil {
		return nil, nil, err
	}
	var missing []*herald.Issue
	for _, n := range news {
		if found[n.Hash] == nil {
			missing = append(missing, n)
		}
	}
	isNew := map[string]bool{}
	if len(missing) > 0 {
		last, err := t.reserveShortIDs(ctx, projectID, len(missing))
		if err != nil {
			return nil, nil, err
		}
		for i, n := range missing {
			n.ShortID = shortIDPrefix + "-" + strings.ToUpper(strconv.FormatInt(last-int64(len(missing)-1-i), 36))
		}
		ids, err := t.insertIssues(ctx, missing)
		if err != nil {
			return nil, nil, err
		}
		var lost []string
		for _, n := range missing {
			if id, ok := ids[n.Hash]; ok {
				n.ID, found[n.Hash], isNew[n.Hash] = id, n, true
			} else {
				lost = append(lost, n.Hash)
			}
		}
		if len(lost) > 0 {
			// Concurrent batches created these first.
			again, err := t.issuesByHash(ctx, projectID, lost)
			if err != nil {
				return nil, nil, err
			}
			for h, is := range again {
				found[h] = is
			}
		}
	}
	issues, created = make([]*herald.Issue, len(news)), make([]bool, len(news))
	for i, n := range news {
		if issues[i] = found[n.Hash]; issues[i] == nil {
			return nil, nil, fmt.Errorf("issue %s of project %d neither found nor created", n.Hash, projectID)
		}
		created[i] = isNew[n.Hash]
	}
	return issues, created, nil
}

// issuesByHash loads a project's issues with hashes, by hash. On
// PostgreSQL it locks them against deletion (FOR KEY SHARE, the lock a
// foreign key's check takes, which updates do not wait for) until the
// transaction ends: a batch counts the issues it found only at its end,
// and an issue deleted in between (by retention, or through the API) would
// leave the batch's events to an issue that is gone. It locks them in
// order of hash, the order in which retention and bulk updates lock a
// project's issues (selectIssues), so that none deadlocks with another.
// SQLite's one writer keeps the deletion out of the batch's transaction
// on its own.
func (t *Tx) issuesByHash(ctx context.Context, projectID int64, hashes []string) (map[string]*herald.Issue, error) {
	lock := ""
	if t.tx != nil && t.s.dialect.Name != "sqlite" {
		lock = ` ORDER BY hash FOR KEY SHARE`
	}
	rows, err := t.s.query(ctx, t.tx, `SELECT `+issueColumns+` FROM issues WHERE project_id = $1 AND hash `+t.s.inText(2)+lock,
		projectID, jsonList(nonNilList(hashes)))
	if err != nil {
		return nil, fmt.Errorf("find issues: %w", err)
	}
	defer rows.Close()
	out := make(map[string]*herald.Issue, len(hashes))
	for rows.Next() {
		is, err := scanIssue(rows)
		if err != nil {
			return nil, fmt.Errorf("scan issue: %w", err)
		}
		out[is.Hash] = is
	}
	return out, rows.Err()
}

// reserveShortIDs advances the project's short id counter by n and returns
// its new value, the last of the n numbers reserved. SQLite has a single
// writer, so there it is part of the transaction; PostgreSQL runs it on
// its own (see UpsertIssues).
func (t *Tx) reserveShortIDs(ctx context.Context, projectID int64, n int) (int64, error) {
	const q = `UPDATE projects SET next_short_id = next_short_id + $2 WHERE id = $1 RETURNING next_short_id`
	tx := t.tx
	if t.s.dialect.Name != "sqlite" {
		tx = nil
	}
	var last int64
	if err := t.s.queryRow(ctx, tx, q, projectID, n).Scan(&last); err != nil {
		return 0, fmt.Errorf("reserve short ids: %w", err)
	}
	return last, nil
}

// issueInsertColumns are the columns insertIssues writes.
const issueInsertColumns = `project_id, hash, short_id, title, culprit, level, status, substatus, type, value, platform,
	first_seen, last_seen, times_seen, user_count, unhandled`

// insertIssues inserts issues that their project does not have yet and
// returns the ids of those it inserted, by hash; an issue another
// transaction inserted first is left out.
func (t *Tx) insertIssues(ctx context.Context, issues []*herald.Issue) (map[string]int64, error) {
	const cols = 16
	args := make([]any, 0, len(issues)*cols)
	for _, n := range issues {
		args = append(args, n.ProjectID, n.Hash, n.ShortID, n.Title, n.Culprit, n.Level, n.Status, n.Substatus, n.Type, n.Value,
			n.Platform, ts(n.FirstSeen), ts(n.LastSeen), n.Count, n.UserCount, n.Unhandled)
	}
	ids := make(map[string]int64, len(issues))
	err := t.s.insertReturning(ctx, t.tx, `INSERT INTO issues (`+issueInsertColumns+`) VALUES `,
		` ON CONFLICT (project_id, hash) DO NOTHING RETURNING id, hash`, cols, args, func(rows *sql.Rows) error {
			var id int64
			var hash string
			if err := rows.Scan(&id, &hash); err != nil {
				return err
			}
			ids[hash] = id
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("insert issues: %w", err)
	}
	return ids, nil
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
	if err := t.write(ctx, t.s.insertStatements(`INSERT INTO events (`+eventColumns+`) VALUES `, ` ON CONFLICT (project_id, id) DO NOTHING`, cols, args)...); err != nil {
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

// FindEventByID returns a project's event or ENOTFOUND: also for an event
// of a deleted issue, which PurgeIssues has yet to delete.
func (s *DB) FindEventByID(ctx context.Context, projectID int64, id string) (*herald.Event, error) {
	return scanEvent(s.queryRow(ctx, nil, `SELECT `+eventColumns+` FROM events WHERE project_id = $1 AND id = $2
		AND EXISTS (SELECT 1 FROM issues i WHERE i.id = events.issue_id AND NOT i.deleted)`, projectID, id))
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

// FindIssueByID returns the issue, or ENOTFOUND (also for a deleted issue).
func (s *DB) FindIssueByID(ctx context.Context, id int64) (*herald.Issue, error) {
	is, err := scanIssue(s.queryRow(ctx, nil, `SELECT `+issueColumns+` FROM issues WHERE id = $1 AND NOT deleted`, id))
	if err != nil {
		return nil, notFound(err, "issue")
	}
	return is, nil
}
