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
//
// It deletes a thousand at a time, each batch in a short transaction. The
// batch is looked for outside the transaction, on a read connection: no
// index holds the finished deliveries by age, so when none is old enough
// the look-up reads the whole table (a tenth of a second per million
// deliveries on SQLite), and in the transaction it held SQLite's one writer,
// and every ingest batch with it, that long every hour. The transaction
// deletes only those of the batch still old and finished: one redelivered
// meanwhile is pending again.
func (s *DB) PurgeDeliveries(ctx context.Context, before time.Time) (int64, error) {
	const batch = 1000
	var total int64
	for {
		rows, err := s.query(ctx, nil, `SELECT id FROM deliveries WHERE created_at < $1 AND status <> $2 LIMIT `+itoa(batch),
			ts(before), herald.DeliveryPending)
		if err != nil {
			return total, fmt.Errorf("find deliveries to purge: %w", err)
		}
		ids, err := scanIDs(rows)
		if err != nil || len(ids) == 0 {
			return total, err
		}
		var n int64
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			n, err = s.deleteDeliveries(ctx, tx, `id `+s.inText(1)+` AND created_at < $2 AND status <> $3`,
				jsonList(ids), ts(before), herald.DeliveryPending)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("purge deliveries: %w", err)
		}
		total += n
		if len(ids) < batch {
			return total, nil
		}
	}
}
