package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/herald-dev/herald"
)

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
