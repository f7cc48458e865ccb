package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"time"
)

// The alert counters. Each issue and metric alert rule has a counter of
// its events per minute (issue_minutes, metric_minutes) and per second
// (issue_seconds, metric_seconds), written together, and a row per user
// and minute holding the first and last second the user was seen in it
// (issue_minute_users, metric_minute_users). A window of whole seconds
// sums the minute counters of the minutes it holds whole and the second
// counters of the partial minutes at its two ends: a read of at most its
// length in minutes plus 120 rows, exact to the second.

// Minute is the unix minute of t: the bucket of the per-minute alert
// counters.
func Minute(t time.Time) int64 { return t.Unix() / 60 }

// Second is the unix second of t: the bucket of the per-second alert
// counters, and the unit of alert windows.
func Second(t time.Time) int64 { return t.Unix() }

// AlertCount is what a batch adds to the counters of one issue or metric
// alert rule (ID) at one second.
type AlertCount struct {
	ID int64
	// Second is when the batch was saved (see Second).
	Second int64
	Events int64
	// Users are the distinct user keys seen (recorded when counting users).
	Users []string
}

// WindowParams selects the counters of one issue or metric alert rule over
// a window of whole seconds, From included and To left out. A window of a
// minute or more is exact; a shorter one may count a user seen in its
// minute but outside it.
type WindowParams struct {
	ID       int64
	From, To int64
	// Users counts the distinct users of the window instead of its events.
	Users bool
	// Except leaves these users out of the count of users: those of the
	// batch being saved, which the caller counts itself.
	Except []string
}

// counterTables names the tables of one kind of alert counter.
type counterTables struct {
	id, minutes, seconds, users string
}

var (
	issueCounters  = counterTables{id: "issue_id", minutes: "issue_minutes", seconds: "issue_seconds", users: "issue_minute_users"}
	metricCounters = counterTables{id: "rule_id", minutes: "metric_minutes", seconds: "metric_seconds", users: "metric_minute_users"}
)

// AddIssueCounts adds counts to the counters of issues: for each issue
// with events, its minute and its second, and each of its users (see
// addCounts for the statements).
func (t *Tx) AddIssueCounts(ctx context.Context, counts []AlertCount) error {
	return t.addCounts(ctx, issueCounters, counts)
}

// AddMetricCounts adds counts to the counters of metric alert rules: for
// each rule, its minute and its second, and each of its distinct users.
func (t *Tx) AddMetricCounts(ctx context.Context, counts []AlertCount) error {
	return t.addCounts(ctx, metricCounters, counts)
}

// IssueWindow sums an issue's events (or counts its distinct users) over a
// window: one read.
func (t *Tx) IssueWindow(ctx context.Context, p WindowParams) (int64, error) {
	return t.window(ctx, issueCounters, p)
}

// IssueEventWindows sums the events of each of issues over the window
// [from, to) of whole seconds: one read for them all. Issues without
// events in it are left out of the answer.
//
// Each issue's counters are summed in a subquery of their own (see
// rangeSum). PostgreSQL planned the form reading all the issues' rows at
// once (issue_id = ANY(...) AND second in a range) once for every window,
// with a range of unknown bounds taken for a sliver of the table: it read
// every issue's counters of the window through the index on second and
// kept the few it was asked for (2,651 rows read for 28 in the mixed
// benchmark, 0.5 ms a read).
func (t *Tx) IssueEventWindows(ctx context.Context, issues []int64, from, to int64) (map[int64]int64, error) {
	out := map[int64]int64{}
	if to <= from || len(issues) == 0 {
		return out, nil
	}
	tc := issueCounters
	q, args := t.s.issueWindowsQuery(issues, from, to)
	rows, err := t.s.query(ctx, t.tx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read %s windows: %w", tc.minutes, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("scan %s window: %w", tc.minutes, err)
		}
		// Issues without counters in the window are left out (see
		// issueWindowsQuery).
		if n > 0 {
			out[id] = n
		}
	}
	return out, rows.Err()
}

// MetricWindow sums a metric alert rule's events (or counts its distinct
// users) over a window: one read.
func (t *Tx) MetricWindow(ctx context.Context, p WindowParams) (int64, error) {
	return t.window(ctx, metricCounters, p)
}

// addCounts writes counts to the counters of tc: one upsert statement for
// the minutes, one for the seconds and one for the users on PostgreSQL (per
// 256 rows), a prepared statement per row on SQLite. Rows are written in
// id order, then time, then user key, so that transactions counting the
// same ones lock their rows in the same order; a user's row is rewritten
// only when the batch's seconds lie outside the seconds it holds.
func (t *Tx) addCounts(ctx context.Context, tc counterTables, counts []AlertCount) error {
	// Counts of one counter at the same minute, second or user are merged
	// first: one statement may not upsert a row twice.
	type bucket struct{ id, at int64 }
	type userBucket struct {
		id, minute int64
		user       string
	}
	perMinute, perSecond := map[bucket]int64{}, map[bucket]int64{}
	type span struct{ first, last int64 }
	perUser := map[userBucket]span{}
	for _, c := range counts {
		minute := c.Second / 60
		if c.Events > 0 {
			perMinute[bucket{c.ID, minute}] += c.Events
			perSecond[bucket{c.ID, c.Second}] += c.Events
		}
		for _, u := range c.Users {
			k := userBucket{c.ID, minute, u}
			sp, ok := perUser[k]
			if !ok {
				sp = span{c.Second, c.Second}
			}
			perUser[k] = span{min(sp.first, c.Second), max(sp.last, c.Second)}
		}
	}
	byBucket := func(a, b bucket) int { return cmp.Or(cmp.Compare(a.id, b.id), cmp.Compare(a.at, b.at)) }
	var minutes, seconds, users []any
	for _, k := range slices.SortedFunc(maps.Keys(perMinute), byBucket) {
		minutes = append(minutes, k.id, k.at, perMinute[k])
	}
	for _, k := range slices.SortedFunc(maps.Keys(perSecond), byBucket) {
		seconds = append(seconds, k.id, k.at, perSecond[k])
	}
	for _, k := range slices.SortedFunc(maps.Keys(perUser), func(a, b userBucket) int {
		return cmp.Or(cmp.Compare(a.id, b.id), cmp.Compare(a.minute, b.minute), cmp.Compare(a.user, b.user))
	}) {
		users = append(users, k.id, k.minute, k.user, perUser[k].first, perUser[k].last)
	}
	if err := t.write(ctx, t.s.insertStatements(`INSERT INTO `+tc.minutes+` (`+tc.id+`, minute, events) VALUES `,
		` ON CONFLICT (`+tc.id+`, minute) DO UPDATE SET events = `+tc.minutes+`.events + excluded.events`, 3, minutes)...); err != nil {
		return fmt.Errorf("count %s: %w", tc.minutes, err)
	}
	if err := t.write(ctx, t.s.insertStatements(`INSERT INTO `+tc.seconds+` (`+tc.id+`, second, events) VALUES `,
		` ON CONFLICT (`+tc.id+`, second) DO UPDATE SET events = `+tc.seconds+`.events + excluded.events`, 3, seconds)...); err != nil {
		return fmt.Errorf("count %s: %w", tc.seconds, err)
	}
	if err := t.write(ctx, t.s.insertStatements(`INSERT INTO `+tc.users+` (`+tc.id+`, minute, user_key, first_second, last_second) VALUES `,
		` ON CONFLICT (`+tc.id+`, minute, user_key) DO UPDATE SET
		first_second = CASE WHEN excluded.first_second < `+tc.users+`.first_second THEN excluded.first_second ELSE `+tc.users+`.first_second END,
		last_second = CASE WHEN excluded.last_second > `+tc.users+`.last_second THEN excluded.last_second ELSE `+tc.users+`.last_second END
		WHERE excluded.first_second < `+tc.users+`.first_second OR excluded.last_second > `+tc.users+`.last_second`, 5, users)...); err != nil {
		return fmt.Errorf("count %s: %w", tc.users, err)
	}
	return nil
}

// window reads the counters of tc over p's window. Events: the minute
// counters of the minutes the window holds whole, and the second counters
// of the partial minutes at its ends. Users: those with a row in a minute
// the window touches whose seconds reach into it; as a window of a minute
// or more covers the start or the end of each minute it touches, the
// user's first or last second there tells.
func (t *Tx) window(ctx context.Context, tc counterTables, p WindowParams) (int64, error) {
	if p.To <= p.From {
		return 0, nil
	}
	var q string
	var args []any
	if p.Users {
		q = `SELECT COUNT(DISTINCT user_key) FROM ` + tc.users + ` WHERE ` + tc.id + ` = $1 AND minute >= $2 AND minute <= $3
			AND last_second >= $4 AND first_second < $5 AND NOT (user_key ` + t.s.inText(6) + `)`
		args = []any{p.ID, p.From / 60, (p.To - 1) / 60, p.From, p.To, jsonList(p.Except)}
	} else {
		sum, bounds := t.s.windowSum(tc, "$1", p.From, p.To)
		q, args = `SELECT `+sum, append([]any{p.ID}, bounds...)
	}
	var n int64
	if err := t.s.queryRow(ctx, t.tx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("read %s window: %w", tc.minutes, err)
	}
	return n, nil
}

// issueWindowsQuery is the statement of IssueEventWindows and its
// arguments: a row per issue, its id and its events in the window.
// Issues without counters in the window are left out by the caller rather
// than by the statement, where SQLite would sum them twice.
func (s *DB) issueWindowsQuery(issues []int64, from, to int64) (string, []any) {
	sum, bounds := s.windowSum(issueCounters, "i.id", from, to)
	return `SELECT i.id, ` + sum + ` FROM ` + s.intRows(1) + ` i`, append([]any{jsonList(issues)}, bounds...)
}

// windowSum is an expression summing the events of tc's counters of id (an
// expression) over the window [from, to) of whole seconds, and the
// arguments of its parameters, from $2 on: the minute counters of the
// minutes the window holds whole, and the second counters of the partial
// minutes at its ends (or of the whole window, when it holds no whole
// minute).
func (s *DB) windowSum(tc counterTables, id string, from, to int64) (string, []any) {
	whole, wholeEnd := (from+59)/60, to/60
	if whole >= wholeEnd {
		return s.rangeSum(tc, tc.seconds, "second", id, 2), []any{from, to}
	}
	return s.rangeSum(tc, tc.minutes, "minute", id, 2) + ` + ` + s.rangeSum(tc, tc.seconds, "second", id, 4) + ` + ` +
			s.rangeSum(tc, tc.seconds, "second", id, 6),
		[]any{whole, wholeEnd, from, whole * 60, wholeEnd * 60, to}
}

// rangeSum is an expression summing the events of table's counters of the
// issue or rule id (an expression) from parameter $lo included to $lo+1
// left out of column (second or minute), 0 when there are none. On
// PostgreSQL the bounds are row comparisons over the primary key (id,
// column), which no other index can serve: written on column alone, they
// let PostgreSQL's generic plan, which takes a range of unknown bounds for
// a sliver of the table, read the range through the index on column, every
// issue's counters in it, and keep the few of id. SQLite plans each run
// from its values and finds the range in the primary key from the plain
// bounds, where it would search row comparisons by id alone, reading all
// of the issue's counters.
func (s *DB) rangeSum(tc counterTables, table, column, id string, lo int) string {
	from, to := `$`+itoa(lo), `$`+itoa(lo+1)
	cond := column + ` >= ` + from + ` AND ` + column + ` < ` + to
	if s.dialect.Name != "sqlite" {
		key := `(` + tc.id + `, ` + column + `)`
		cond = key + ` >= (` + id + `, ` + from + `) AND ` + key + ` < (` + id + `, ` + to + `)`
	}
	return `COALESCE((SELECT SUM(events) FROM ` + table + ` WHERE ` + tc.id + ` = ` + id + ` AND ` + cond + `), 0)`
}

// Ages past which alert counters are no use: no issue alert window is
// longer than 30 days, no metric alert window longer than a day.
const (
	issueCountAge  = 31 * 24 * time.Hour
	metricCountAge = 25 * time.Hour
)

// PurgeAlertCounts deletes the counters no alert window can reach any more
// at now, and returns how many rows it deleted.
func (s *DB) PurgeAlertCounts(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for _, p := range []struct {
		tc  counterTables
		age time.Duration
	}{{issueCounters, issueCountAge}, {metricCounters, metricCountAge}} {
		before := now.Add(-p.age)
		for _, d := range []struct {
			table, column string
			before        int64
		}{
			{p.tc.minutes, "minute", Minute(before)},
			{p.tc.seconds, "second", Minute(before) * 60},
			{p.tc.users, "minute", Minute(before)},
		} {
			n, err := s.purgeWhere(ctx, d.table, d.column+` < $1`, d.before)
			total += n
			if err != nil {
				return total, fmt.Errorf("purge alert counts: %w", err)
			}
		}
	}
	return total, nil
}

// purgeWhere deletes the rows of table that meet cond (a condition on its
// columns, given args) and returns how many: on SQLite in batches
// (purgeBatches), found by rowid through an index on cond's columns; an
// hour of alert counters can be hundreds of thousands of rows (one per
// issue and second with events), and 300,000 in one statement held
// SQLite's writer, and every ingest batch, for half a second. PostgreSQL
// deletes them in one statement, which takes no lock that ingest waits
// for: purges delete only rows no batch writes again (counters too old
// for any window, those of deleted issues).
func (s *DB) purgeWhere(ctx context.Context, table, cond string, args ...any) (int64, error) {
	if s.dialect.Name != "sqlite" {
		return s.execCount(ctx, nil, `DELETE FROM `+table+` WHERE `+cond, args...)
	}
	return purgeBatches(ctx, s, `SELECT rowid FROM `+table+` WHERE `+cond, args,
		func(tx *sql.Tx, ids []int64) (int64, error) {
			return s.execCount(ctx, tx, `DELETE FROM `+table+` WHERE rowid `+s.inInt(len(args)+1)+` AND `+cond,
				append(args[:len(args):len(args)], jsonList(ids))...)
		})
}
