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

// purgeBatch is how many rows a purge deletes in one transaction.
const purgeBatch = 1000

// purgeDeliveries deletes deliveries in batches (purgeBatches): find
// selects their ids, and each batch's transaction deletes those of its ids
// that also meet and, a condition on the delivery's columns given andArgs
// from $2 on ($1 holds the ids), with their bodies and attempts.
func (s *DB) purgeDeliveries(ctx context.Context, find string, findArgs []any, and string, andArgs ...any) (int64, error) {
	return s.purgeBatches(ctx, find, findArgs, func(tx *sql.Tx, ids []string) (int64, error) {
		return s.deleteDeliveries(ctx, tx, `id `+s.inText(1)+and, append([]any{jsonList(ids)}, andArgs...)...)
	})
}

// purgeBatches deletes rows purgeBatch at a time and returns how many. find
// (a SELECT of ids, given findArgs) looks for each batch on a read
// connection, outside any transaction; del deletes a batch in its own
// transaction. After each full batch it waits as long as the batch's
// transaction took, so that a purge of a million rows holds SQLite's writer
// at most half the time, and the log's checkpoints keep up.
func (s *DB) purgeBatches(ctx context.Context, find string, findArgs []any, del func(tx *sql.Tx, ids []string) (int64, error)) (int64, error) {
	var total int64
	for {
		rows, err := s.query(ctx, nil, find+` LIMIT `+itoa(purgeBatch), findArgs...)
		if err != nil {
			return total, fmt.Errorf("find deliveries: %w", err)
		}
		ids, err := scanIDs(rows)
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
		if len(ids) < purgeBatch {
			return total, nil
		}
		t := time.NewTimer(time.Since(start))
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

// PurgeIssues deletes the events of deleted issues (DeleteIssue queues
// them) and returns how many: in batches, as PurgeDeliveries, found through
// the index of events by issue and deleted by primary key. An issue leaves
// the queue once none of its events is left.
func (s *DB) PurgeIssues(ctx context.Context) (int64, error) {
	var issueID, projectID int64
	return s.drainQueue(ctx, "issue", `SELECT issue_id, project_id FROM issue_purges LIMIT 1`, []any{&issueID, &projectID},
		func() (int64, error) {
			return s.purgeBatches(ctx, `SELECT id FROM events WHERE issue_id = $1`, []any{issueID},
				func(tx *sql.Tx, ids []string) (int64, error) {
					res, err := s.exec(ctx, tx, `DELETE FROM events WHERE project_id = $1 AND id `+s.inText(2), projectID, jsonList(ids))
					if err != nil {
						return 0, fmt.Errorf("delete events: %w", err)
					}
					return res.RowsAffected()
				})
		},
		func() error {
			_, err := s.exec(ctx, nil, `DELETE FROM issue_purges WHERE issue_id = $1`, issueID)
			return err
		})
}

// drainQueue empties a queue of deleted things (a destination, an issue)
// whose rows are still to be deleted, one entry at a time, and returns how
// many rows it deleted: next (a SELECT of one entry) reads the entry into
// key, purge deletes its rows, and dequeue removes the entry once they are
// gone.
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
