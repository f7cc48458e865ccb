package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/herald-dev/herald"
)

// RetentionArgs are the arguments of the periodic job that deletes old
// deliveries; River runs periodic jobs on the elected leader only.
type RetentionArgs struct{}

// Kind is the job kind (River's JobArgs).
func (RetentionArgs) Kind() string { return "herald.retention" }

// retentionWorker runs RetentionArgs jobs.
type retentionWorker struct {
	river.WorkerDefaults[RetentionArgs]
	s   *DB
	age time.Duration
}

// Work deletes what is older than the retention period, and the alert
// counters no window reaches any more.
func (w *retentionWorker) Work(ctx context.Context, _ *river.Job[RetentionArgs]) error {
	n, err := w.s.PurgeDeliveries(ctx, w.s.clock.Now().Add(-w.age))
	if err != nil {
		return err
	}
	if n > 0 {
		w.s.logger.Info("retention: deleted old deliveries", "deliveries", n)
	}
	if _, err := w.s.PurgeAlertCounts(ctx, w.s.clock.Now()); err != nil {
		return err
	}
	return nil
}

// PurgeDeliveries deletes finished (delivered or failed) deliveries created
// before the given time, with their attempts, and returns how many. Pending
// deliveries are kept whatever their age.
func (s *DB) PurgeDeliveries(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		// Bounded batches keep each transaction short.
		var n int64
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			rows, err := s.query(ctx, tx, `SELECT id FROM deliveries WHERE created_at < $1 AND status <> $2 LIMIT 1000`, ts(before), herald.DeliveryPending)
			if err != nil {
				return fmt.Errorf("find deliveries to purge: %w", err)
			}
			ids, err := scanIDs(rows)
			if err != nil || len(ids) == 0 {
				return err
			}
			n, err = s.deleteDeliveries(ctx, tx, `id `+s.inText(1), jsonList(ids))
			return err
		})
		if err != nil {
			return total, fmt.Errorf("purge deliveries: %w", err)
		}
		total += n
		if n < 1000 {
			return total, nil
		}
	}
}
