package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/herald-dev/herald"
)

// PurgeDeliveries deletes finished (delivered or failed) deliveries created
// before the given time, with their attempts, and returns how many. Pending
// deliveries are kept whatever their age.
//
// It deletes them in batches (purgeDeliveries), looked for outside the
// batches' transactions, on a read connection: no index holds the finished
// deliveries by age, so the look-up for the last, partial batch reads the
// whole table (a tenth of a second per million deliveries on SQLite), and
// in the transaction it held SQLite's one writer, and every ingest batch
// with it, that long every hour. A batch's transaction deletes only those
// still old and finished: one redelivered meanwhile is pending again.
func (s *DB) PurgeDeliveries(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.purgeDeliveries(ctx, `SELECT id FROM deliveries WHERE created_at < $1 AND status <> $2`,
		[]any{ts(before), herald.DeliveryPending}, ` AND created_at < $2 AND status <> $3`, ts(before), herald.DeliveryPending)
	if err != nil {
		return n, fmt.Errorf("purge deliveries: %w", err)
	}
	return n, nil
}

// A purge deletes at most purgeBatch rows in one transaction, and at least
// purgeBatchMin: as many as it can in about purgeTxTarget (nextPurgeBatch),
// since every ingest batch waits for SQLite's writer as long. Rows differ
// a thousandfold in what deleting them costs: an event is stored whole, a
// few KB as SDKs usually send them, up to 1 MiB. Each purge starts from
// purgeBatchMin: a first transaction of a thousand events of a few KB held
// the writer for 400 ms in one run.
const (
	purgeBatch    = 1000
	purgeBatchMin = 50
	purgeTxTarget = 25 * time.Millisecond
)

// nextPurgeBatch is how many rows a purge deletes in its next transaction
// after deleting n in one that took took: as many as took that long
// scaled to purgeTxTarget, at most twice n, within the bounds above.
func nextPurgeBatch(n int, took time.Duration) int {
	next := 2 * n
	if took > 0 {
		next = min(next, int(int64(n)*int64(purgeTxTarget)/int64(took)))
	}
	return max(purgeBatchMin, min(purgeBatch, next))
}

// purgeDeliveries deletes deliveries in batches (purgeBatches): find
// selects their ids, and each batch's transaction deletes those of its ids
// that also meet and, a condition on the delivery's columns given andArgs
// from $2 on ($1 holds the ids), with their bodies and attempts.
func (s *DB) purgeDeliveries(ctx context.Context, find string, findArgs []any, and string, andArgs ...any) (int64, error) {
	return purgeBatches(ctx, s, find, findArgs, func(tx *sql.Tx, ids []string) (int64, error) {
		return s.deleteDeliveries(ctx, tx, `id `+s.inText(1)+and, append([]any{jsonList(ids)}, andArgs...)...)
	})
}

// purgeBatches deletes rows in batches (of nextPurgeBatch rows) and
// returns how many. find (a SELECT of keys of type K, given findArgs)
// looks for each batch on a read connection, outside any transaction; del
// deletes a batch in its own transaction. After each batch it waits for
// the dialect's Settle (SQLite's log checkpointed), and after each full
// batch as long again as the batch's transaction took, so that a purge of
// a million rows holds SQLite's writer at most half the time and writes
// its log no faster than checkpoints copy it back.
func purgeBatches[K any](ctx context.Context, s *DB, find string, findArgs []any, del func(tx *sql.Tx, keys []K) (int64, error)) (int64, error) {
	var total int64
	limit := purgeBatchMin
	find += ` LIMIT $` + itoa(len(findArgs)+1)
	for {
		rows, err := s.query(ctx, nil, find, append(findArgs[:len(findArgs):len(findArgs)], limit)...)
		if err != nil {
			return total, fmt.Errorf("find rows to delete: %w", err)
		}
		ids, err := scanColumn[K](rows)
		if err != nil || len(ids) == 0 {
			return total, err
		}
		start := time.Now()
		var n int64
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			n, err = del(tx, ids)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		took := time.Since(start)
		if s.dialect.Settle != nil {
			if err := s.dialect.Settle(ctx); err != nil {
				return total, err
			}
		}
		if len(ids) < limit {
			return total, nil
		}
		limit = nextPurgeBatch(limit, took)
		t := time.NewTimer(took)
		select {
		case <-ctx.Done():
			t.Stop()
			return total, ctx.Err()
		case <-t.C:
		}
	}
}

// queuePurges queues for PurgeDestinations the deliveries of the
// destinations sel selects (a SELECT of kind and id with a WHERE clause,
// given args), in tx, the transaction deleting them.
func (s *DB) queuePurges(ctx context.Context, tx *sql.Tx, sel string, args ...any) error {
	if _, err := s.exec(ctx, tx, `INSERT INTO destination_purges (destination_kind, destination_id) `+sel+
		` ON CONFLICT DO NOTHING`, args...); err != nil {
		return fmt.Errorf("queue deliveries to delete: %w", err)
	}
	return nil
}

// PurgeDestinations deletes the deliveries of deleted destinations
// (DeleteHook, DeleteApp, DeleteProject queue them) and returns how many:
// in batches, as PurgeDeliveries, found through the index of deliveries by
// destination. A destination leaves the queue once none of its deliveries
// is left.
func (s *DB) PurgeDestinations(ctx context.Context) (int64, error) {
	var kind, id string
	return s.drainQueue(ctx, "destination", `SELECT destination_kind, destination_id FROM destination_purges LIMIT 1`, []any{&kind, &id},
		func() (int64, error) {
			// The batches are deleted by id alone: a delivery's
			// destination never changes, and with it in the condition
			// SQLite read every delivery of the destination, through its
			// index, for each batch.
			return s.purgeDeliveries(ctx, `SELECT id FROM deliveries WHERE destination_kind = $1 AND destination_id = $2`,
				[]any{kind, id}, ``)
		},
		func() error {
			_, err := s.exec(ctx, nil, `DELETE FROM destination_purges WHERE destination_kind = $1 AND destination_id = $2`, kind, id)
			return err
		})
}

// PurgeIssues deletes the issues DeleteIssue and PurgeEvents marked
// deleted, with their events and alert counters, and returns how many
// events and counters: in batches, as PurgeDeliveries, the events found
// through the index of events by issue and deleted by primary key, the
// counters as purgeCounters deletes them. An issue's row goes last, with its
// comments, and the issue leaves the queue.
func (s *DB) PurgeIssues(ctx context.Context) (int64, error) {
	var issueID, projectID int64
	n, err := s.drainQueue(ctx, "issue", `SELECT issue_id, project_id FROM issue_purges LIMIT 1`, []any{&issueID, &projectID},
		func() (int64, error) { return s.purgeIssue(ctx, issueID, projectID) },
		func() error {
			_, err := s.exec(ctx, nil, `DELETE FROM issue_purges WHERE issue_id = $1`, issueID)
			return err
		})
	if err != nil {
		return n, err
	}
	// The rows kept as the newest issue (notNewest) go once a newer
	// issue is stored.
	if _, err := s.exec(ctx, nil, `DELETE FROM issues WHERE deleted AND `+notNewest("issues")+`
		AND id NOT IN (SELECT issue_id FROM issue_purges)`); err != nil {
		return n, fmt.Errorf("delete purged issues: %w", err)
	}
	return n, nil
}

// purgeIssue deletes a deleted issue of a project: its events, its alert
// counters and its row (deleteMarked), and returns how many events and
// counters.
func (s *DB) purgeIssue(ctx context.Context, issueID, projectID int64) (int64, error) {
	// An issue queued but not deleted is one whose row an earlier
	// version deleted at once, and whose id SQLite gave again to a new
	// issue: the events of the two can no longer be told apart, and are
	// kept.
	var live int
	if err := s.queryRow(ctx, nil, `SELECT COUNT(*) FROM issues WHERE id = $1 AND NOT deleted`, issueID).Scan(&live); err != nil {
		return 0, fmt.Errorf("find the issue: %w", err)
	} else if live > 0 {
		return 0, nil
	}
	// The events are deleted only while still the issue's: one sent
	// again meanwhile is stored anew in another (ExistingEvents).
	events, err := purgeBatches(ctx, s, `SELECT id FROM events WHERE issue_id = $1`, []any{issueID},
		func(tx *sql.Tx, ids []string) (int64, error) { return s.deleteEvents(ctx, tx, projectID, ids, issueID) })
	if err != nil {
		return events, err
	}
	counters, err := s.purgeCounters(ctx, issueCounterTables, `issue_id = $1`, issueID)
	if err != nil {
		return events + counters, err
	}
	if err := s.deleteMarked(ctx, "issues", issueID); err != nil {
		return events + counters, fmt.Errorf("delete the issue: %w", err)
	}
	return events + counters, nil
}

// notNewest is a condition on the id of table's rows: not the newest row.
// The purges of deleted issues, projects and metric alert rules keep the
// newest one's row, hidden, until a newer one is stored: SQLite gives a
// new row the id after the highest stored, and no id may be given again
// (receivers and API clients keep them, and rows of the deleted one could
// show under the new one).
func notNewest(table string) string {
	return `id < (SELECT MAX(id) FROM ` + table + `)`
}

// deleteMarked deletes the row id of table if it is marked deleted and not
// the newest (notNewest), once what belongs to it is purged.
func (s *DB) deleteMarked(ctx context.Context, table string, id int64) error {
	_, err := s.exec(ctx, nil, `DELETE FROM `+table+` WHERE id = $1 AND deleted AND `+notNewest(table), id)
	return err
}

// purgeCounters deletes the rows of tables (alert counters and seen
// users) that meet cond (a condition on the issue or rule they count,
// given args), as purgeWhere deletes them, and returns how many. Left to
// the cascade from an issue's or a rule's row, they were deleted in one
// transaction: 300,000 counters, three and a half days of a storm under
// an issue alert rule, held SQLite's writer, and every ingest batch, for
// half a second.
func (s *DB) purgeCounters(ctx context.Context, tables []string, cond string, args ...any) (int64, error) {
	var total int64
	for _, table := range tables {
		n, err := s.purgeWhere(ctx, table, cond, args...)
		total += n
		if err != nil {
			return total, fmt.Errorf("delete the counters of %s: %w", table, err)
		}
	}
	return total, nil
}

// issueCounterTables are the tables of an issue's counters and seen users.
var issueCounterTables = []string{issueCounters.seconds, issueCounters.minutes, issueCounters.users, "issue_users"}

// PurgeMetricAlerts deletes the metric alert rules DeleteMetricAlert
// marked deleted, with their counters, and returns how many counters: as
// purgeCounters deletes them. A rule's row goes last, but for the newest
// rule's, kept hidden until a newer rule is stored, as the newest issue's
// (notNewest); a rule is purged again when counters were added to it
// after its purge (by an ingest batch that read the rules before it was
// deleted).
func (s *DB) PurgeMetricAlerts(ctx context.Context) (int64, error) {
	var id int64
	tables := []string{metricCounters.seconds, metricCounters.minutes, metricCounters.users}
	counted := ``
	for _, table := range tables {
		counted += ` OR EXISTS (SELECT 1 FROM ` + table + ` c WHERE c.rule_id = r.id)`
	}
	return s.drainQueue(ctx, "metric alert", `SELECT id FROM metric_alert_rules r
		WHERE deleted AND (`+notNewest("metric_alert_rules")+counted+`) LIMIT 1`, []any{&id},
		func() (int64, error) { return s.purgeCounters(ctx, tables, `rule_id = $1`, id) },
		func() error { return s.deleteMarked(ctx, "metric_alert_rules", id) })
}

// PurgeProjects deletes the projects DeleteProject marked deleted, with
// their events, issues and alert counters, and returns how many events,
// issues and counters: in batches, as PurgeDeliveries, the events through
// their primary key, which begins with the project, the counters as
// purgeCounters deletes them, and the issues (with what is left of
// them) through their index by project and hash. A project's row goes
// last, with what is left of it (its rules, and any event an ingest batch
// wrote as it was being deleted), but for the newest project's: as the
// newest issue's (notNewest), it is kept, hidden and emptied, until a
// newer project is stored, so that SQLite never gives its id again.
func (s *DB) PurgeProjects(ctx context.Context) (int64, error) {
	var id int64
	return s.drainQueue(ctx, "project", `SELECT id FROM projects p WHERE deleted AND (`+notNewest("projects")+`
		OR EXISTS (SELECT 1 FROM events e WHERE e.project_id = p.id) OR EXISTS (SELECT 1 FROM issues i WHERE i.project_id = p.id)) LIMIT 1`, []any{&id},
		func() (int64, error) {
			events, err := purgeBatches(ctx, s, `SELECT id FROM events WHERE project_id = $1`, []any{id},
				func(tx *sql.Tx, ids []string) (int64, error) { return s.deleteEvents(ctx, tx, id, ids, 0) })
			if err != nil {
				return events, err
			}
			counters, err := s.purgeCounters(ctx, issueCounterTables, `issue_id IN (SELECT id FROM issues WHERE project_id = $1)`, id)
			if err != nil {
				return events + counters, err
			}
			issues, err := purgeBatches(ctx, s, `SELECT id FROM issues WHERE project_id = $1`, []any{id},
				func(tx *sql.Tx, ids []int64) (int64, error) {
					n, err := s.execCount(ctx, tx, `DELETE FROM issues WHERE project_id = $1 AND id `+s.inInt(2), id, jsonList(ids))
					if err != nil {
						return 0, fmt.Errorf("delete issues: %w", err)
					}
					return n, nil
				})
			return events + counters + issues, err
		},
		func() error { return s.deleteMarked(ctx, "projects", id) })
}

// drainQueue empties a queue of deleted things (a destination, an issue, a
// project) whose rows are still to be deleted, one entry at a time, and
// returns how many rows it deleted: next (a SELECT of one entry) reads the
// entry into key, purge deletes its rows, and dequeue removes the entry
// once they are gone.
func (s *DB) drainQueue(ctx context.Context, what, next string, key []any, purge func() (int64, error), dequeue func() error) (int64, error) {
	var total int64
	for {
		err := s.queryRow(ctx, nil, next).Scan(key...)
		if errors.Is(err, sql.ErrNoRows) {
			return total, nil
		} else if err != nil {
			return total, fmt.Errorf("find a deleted %s: %w", what, err)
		}
		n, err := purge()
		total += n
		if err != nil {
			return total, fmt.Errorf("purge a deleted %s: %w", what, err)
		}
		if err := dequeue(); err != nil {
			return total, fmt.Errorf("dequeue a deleted %s: %w", what, err)
		}
	}
}

// deleteEvents deletes, in tx, the events of a project with the given ids,
// of the issue issueID unless it is 0.
func (s *DB) deleteEvents(ctx context.Context, tx *sql.Tx, projectID int64, ids []string, issueID int64) (int64, error) {
	q, args := `DELETE FROM events WHERE project_id = $1 AND id `+s.inText(2), []any{projectID, jsonList(ids)}
	if issueID != 0 {
		q, args = q+` AND issue_id = $3`, append(args, issueID)
	}
	n, err := s.execCount(ctx, tx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("delete events: %w", err)
	}
	return n, nil
}

// PurgeEvents deletes the issues and events older than the event
// retention, as Sentry's cleanup does, and returns how many of each: the
// issues last seen before the given time, deleted as DeleteIssue deletes
// them (their events, counters and rows left to PurgeIssues), and, of the
// issues kept, the events received before it. Both go a project at a
// time, in batches, as PurgeDeliveries: the issues through the index of
// issues by project and last seen, the events through the index of events
// by issue and time of arrival, a thousand issues at a time (those first
// seen before the given time, the only ones that can hold such an event).
func (s *DB) PurgeEvents(ctx context.Context, before time.Time) (issues, events int64, err error) {
	rows, err := s.query(ctx, nil, `SELECT id FROM projects ORDER BY id`)
	if err != nil {
		return 0, 0, fmt.Errorf("purge events: list projects: %w", err)
	}
	projects, err := scanColumn[int64](rows)
	if err != nil {
		return 0, 0, fmt.Errorf("purge events: list projects: %w", err)
	}
	for _, p := range projects {
		n, err := purgeBatches(ctx, s, `SELECT id FROM issues WHERE project_id = $1 AND last_seen < $2 AND NOT deleted`, []any{p, ts(before)},
			func(tx *sql.Tx, ids []int64) (int64, error) {
				// Those still last seen before then: an event may have
				// come since they were found.
				return s.markIssuesDeleted(ctx, tx, `project_id = $1 AND id `+s.inInt(2)+` AND last_seen < $3`, p, jsonList(ids), ts(before))
			})
		issues += n
		if err != nil {
			return issues, events, fmt.Errorf("purge issues: %w", err)
		}
		n, err = s.purgeOldEvents(ctx, p, before)
		events += n
		if err != nil {
			return issues, events, fmt.Errorf("purge events: %w", err)
		}
	}
	return issues, events, nil
}

// purgeOldEvents deletes the events of a project received before the
// given time, walking its issues first seen before then a thousand at a
// time, in order of id (those not deleted: PurgeIssues deletes the events
// of the others).
func (s *DB) purgeOldEvents(ctx context.Context, projectID int64, before time.Time) (int64, error) {
	var total, after int64
	for {
		rows, err := s.query(ctx, nil, `SELECT id FROM issues WHERE project_id = $1 AND first_seen < $2 AND id > $3 AND NOT deleted ORDER BY id LIMIT `+itoa(purgeBatch),
			projectID, ts(before), after)
		if err != nil {
			return total, fmt.Errorf("find issues: %w", err)
		}
		ids, err := scanColumn[int64](rows)
		if err != nil || len(ids) == 0 {
			return total, err
		}
		n, err := purgeBatches(ctx, s, `SELECT id FROM events WHERE issue_id `+s.inInt(1)+` AND received < $2`, []any{jsonList(ids), ts(before)},
			func(tx *sql.Tx, events []string) (int64, error) { return s.deleteEvents(ctx, tx, projectID, events, 0) })
		total += n
		if err != nil || len(ids) < purgeBatch {
			return total, err
		}
		after = ids[len(ids)-1]
	}
}
