package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/herald-dev/herald"
)

// InsertDeliveries writes deliveries, each with its body. A pending
// delivery is due at its NextAttemptAt; one with ClaimedBy set is written
// claimed by that node until its NextAttemptAt, for it to send at once.
//
// Deliveries given the same body (one slice: an event's Service Hook
// deliveries to each of its hooks) share one stored copy of it: the first
// of them keeps it under its own id, the others name that id in body_id.
func (t *Tx) InsertDeliveries(ctx context.Context, deliveries []*herald.Delivery) error {
	if len(deliveries) == 0 {
		return nil
	}
	const cols = 18
	args := make([]any, 0, len(deliveries)*cols)
	bodies := make([]any, 0, len(deliveries)*2)
	owners := make(map[bodyRef]string, len(deliveries))
	for _, d := range deliveries {
		if d.Status == "" {
			d.Status = herald.DeliveryPending
		}
		bodyID := ""
		if ref, ok := refOf(d.Body); !ok {
			bodies = append(bodies, d.ID, d.Body)
		} else if owner, shared := owners[ref]; shared {
			bodyID = owner
		} else {
			owners[ref] = d.ID
			bodies = append(bodies, d.ID, d.Body)
		}
		args = append(args, d.ID, d.DestinationKind, d.DestinationID, d.ProjectID, d.OrganizationID, d.Event, d.Resource,
			d.Signature, d.Timestamp, d.Status, d.Attempts, ts(d.NextAttemptAt), d.LastStatus, d.LastError,
			ts(d.CreatedAt), ts(d.UpdatedAt), d.ClaimedBy, bodyID)
	}
	s := t.s
	if err := t.write(ctx, s.insertStatements(`INSERT INTO deliveries (`+deliveryColumns+`, claimed_by, body_id) VALUES `, "", cols, args)...); err != nil {
		return fmt.Errorf("insert deliveries: %w", err)
	}
	if err := t.write(ctx, s.insertStatements(`INSERT INTO delivery_bodies (id, body) VALUES `, "", 2, bodies)...); err != nil {
		return fmt.Errorf("insert delivery bodies: %w", err)
	}
	return nil
}

// bodyRef identifies a body slice: deliveries whose bodies have the same
// bodyRef were given one body.
type bodyRef struct {
	first *byte
	n     int
}

// refOf returns body's bodyRef; an empty body has none.
func refOf(body []byte) (bodyRef, bool) {
	if len(body) == 0 {
		return bodyRef{}, false
	}
	return bodyRef{&body[0], len(body)}, true
}

// deliveryColumns are the columns of deliveries a Delivery is read from.
// Its body is kept apart, in delivery_bodies, so that the updates a
// delivery goes through (claims, outcomes) rewrite a short row.
const deliveryColumns = `id, destination_kind, destination_id, project_id, org_id, event, resource, signature, ts, status, attempts, next_attempt_at, last_status, last_error, created_at, updated_at`

// deliverySelect selects a delivery, deliveries d joined with its body b
// (deliveryFrom), in the order scanDelivery reads.
var deliverySelect = deliveryColumnsAs("d") + ", b.body"

// deliveryFrom is deliveries d with their bodies b.
const deliveryFrom = ` deliveries d JOIN delivery_bodies b ON b.id = ` + bodyKey + ` `

// bodyKey is the id of the delivery_bodies row holding the body of the
// delivery d: its body_id, or its own id when that is empty.
const bodyKey = `CASE WHEN d.body_id = '' THEN d.id ELSE d.body_id END`

func deliveryColumnsAs(alias string) string {
	return alias + "." + strings.ReplaceAll(deliveryColumns, ", ", ", "+alias+".")
}

// scanDelivery reads the columns of deliverySelect, then extra.
func scanDelivery(row interface{ Scan(...any) error }, extra ...any) (*herald.Delivery, error) {
	d := &herald.Delivery{}
	var next, created, updated int64
	dest := []any{&d.ID, &d.DestinationKind, &d.DestinationID, &d.ProjectID, &d.OrganizationID, &d.Event, &d.Resource,
		&d.Signature, &d.Timestamp, &d.Status, &d.Attempts, &next, &d.LastStatus, &d.LastError, &created, &updated, &d.Body}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = fromTS(next), fromTS(created), fromTS(updated)
	return d, nil
}

// FindDeliveriesToSend loads the pending deliveries among ids with their
// destination's URL and state, as ClaimDeliveries returns them, without
// claiming them (the conformance suite reads them so).
func (s *DB) FindDeliveriesToSend(ctx context.Context, ids []string) ([]*herald.Delivery, error) {
	return s.findDeliveriesToSend(ctx, nil, ids)
}

func (s *DB) findDeliveriesToSend(ctx context.Context, tx *sql.Tx, ids []string) ([]*herald.Delivery, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.query(ctx, tx, `SELECT `+deliverySelect+`, COALESCE(h.url, `+appDestinationURL+`, ''), COALESCE(h.status, `+appDestinationStatus+`, ''),
		`+appDestinationHeaders+` FROM`+deliveryFrom+`LEFT JOIN hooks h ON d.destination_kind = $2 AND h.id = d.destination_id `+appDestinationJoin+`
		WHERE d.status = $1 AND d.id `+s.inText(3), herald.DeliveryPending, herald.DestinationHook, jsonList(ids))
	if err != nil {
		return nil, fmt.Errorf("find deliveries to send: %w", err)
	}
	defer rows.Close()
	var out []*herald.Delivery
	for rows.Next() {
		var status, url, headers string
		d, err := scanDelivery(rows, &url, &status, &headers)
		if err != nil {
			return nil, fmt.Errorf("scan delivery: %w", err)
		}
		d.URL, d.DestinationActive = url, status == herald.HookActive
		if d.AppHeaders, err = parseHeaders(headers); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ClaimDeliveries claims due pending deliveries for node; see
// herald.DeliveryService.
func (s *DB) ClaimDeliveries(ctx context.Context, node string, limit int, until time.Time) ([]*herald.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	// Most polls find nothing due: one read, off SQLite's writer and
	// without a transaction, says so before any row is locked.
	var due int
	err := s.queryRow(ctx, nil, `SELECT COUNT(*) FROM (SELECT 1 FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $1 LIMIT 1) d`,
		ts(s.clock.Now())).Scan(&due)
	if err != nil || due == 0 {
		if err != nil {
			err = fmt.Errorf("find due deliveries: %w", err)
		}
		return nil, err
	}
	var out []*herald.Delivery
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		// The literal status lets SQLite use the partial index deliveries_due.
		rows, err := s.query(ctx, tx, `UPDATE deliveries SET next_attempt_at = $1, claimed_by = $2
			WHERE id IN (SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $3
				ORDER BY next_attempt_at LIMIT $4`+s.dialect.SkipLocked+`)
			RETURNING id`, ts(until), node, ts(s.clock.Now()), limit)
		if err != nil {
			return fmt.Errorf("claim deliveries: %w", err)
		}
		ids, err := scanColumn[string](rows)
		if err != nil || len(ids) == 0 {
			return err
		}
		out, err = s.findDeliveriesToSend(ctx, tx, ids)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *herald.Delivery) int { return a.NextAttemptAt.Compare(b.NextAttemptAt) })
	return out, nil
}

// deleteDeliveries deletes the deliveries matching cond, a condition on the
// columns of deliveries, with the bodies no other delivery shares (their
// attempts go by cascade), and returns how many it deleted.
func (s *DB) deleteDeliveries(ctx context.Context, tx *sql.Tx, cond string, args ...any) (int64, error) {
	// A body goes when one of the deliveries deleted uses it and no
	// delivery kept does: neither its owner (the delivery of the same id)
	// nor one naming it in body_id. Inside the subqueries cond's columns
	// are those of the delivery d there.
	if _, err := s.exec(ctx, tx, `DELETE FROM delivery_bodies WHERE id IN (SELECT `+bodyKey+` FROM deliveries d WHERE `+cond+`)
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = delivery_bodies.id AND NOT (`+cond+`))
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.body_id = delivery_bodies.id AND d.body_id <> '' AND NOT (`+cond+`))`, args...); err != nil {
		return 0, fmt.Errorf("delete delivery bodies: %w", err)
	}
	n, err := s.execCount(ctx, tx, `DELETE FROM deliveries WHERE `+cond, args...)
	if err != nil {
		return 0, fmt.Errorf("delete deliveries: %w", err)
	}
	return n, nil
}

// scanColumn reads and closes rows of one column of type T.
func scanColumn[T any](rows *sql.Rows) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("scan id: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ReleaseDeliveries makes node's claimed deliveries due now; on a
// single-node database every claim is released, whatever node made it.
func (s *DB) ReleaseDeliveries(ctx context.Context, node string) (int, error) {
	now := ts(s.clock.Now())
	res, err := s.exec(ctx, nil, `UPDATE deliveries SET next_attempt_at = $1, claimed_by = '' WHERE status = 'pending' AND claimed_by <> ''
		AND ($2 OR claimed_by = $3)`, now, s.dialect.SingleNode, node)
	if err != nil {
		return 0, fmt.Errorf("release deliveries: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// CompleteDeliveries records a batch of outcomes in one transaction.
func (s *DB) CompleteDeliveries(ctx context.Context, outcomes []*herald.Outcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	now := s.clock.Now().UTC()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		current, err := s.pendingState(ctx, tx, outcomes)
		if err != nil {
			return err
		}
		var (
			updates  []any
			attempts []any
			nUpd     int
			nAtt     int
			okDest   = map[string]bool{}
			badDest  = map[string]bool{}
		)
		for _, o := range outcomes {
			cur, ok := current[o.DeliveryID]
			if !ok {
				continue // no longer pending: delivered by another attempt, or deleted
			}
			status, inc, lastStatus, lastErr := herald.DeliveryPending, 0, cur.lastStatus, cur.lastError
			if o.Attempt != nil {
				inc = 1
				a := o.Attempt
				a.DeliveryID, a.Number = o.DeliveryID, cur.attempts+1
				if a.CreatedAt.IsZero() {
					a.CreatedAt = now
				}
				attempts = append(attempts, a.DeliveryID, a.Number, a.URL, a.StatusCode, a.Duration.Microseconds(), a.ResponseBody, a.Error, ts(a.CreatedAt),
					a.HookErrorID, a.HookProjectID)
				nAtt++
				lastStatus, lastErr = a.StatusCode, a.Error
				if cur.kind == herald.DestinationHook {
					if o.Delivered {
						okDest[cur.destination] = true
					} else {
						badDest[cur.destination] = true
					}
				}
			}
			next := o.NextAttemptAt
			switch {
			case o.Delivered:
				status, lastErr = herald.DeliveryDelivered, ""
				next = now
			case next.IsZero():
				status = herald.DeliveryFailed
				if o.Attempt == nil {
					lastErr = "destination is disabled or was removed"
				}
				next = now
			}
			updates = append(updates, o.DeliveryID, status, inc, ts(next), lastStatus, lastErr, ts(now))
			nUpd++
		}
		if nAtt > 0 {
			q := `INSERT INTO attempts (delivery_id, number, url, status_code, duration_us, response_body, error, created_at,
				hook_error_id, hook_project_id) VALUES `
			if err := s.insertRows(ctx, tx, q, "", 10, attempts); err != nil {
				return fmt.Errorf("insert attempts: %w", err)
			}
		}
		if nUpd > 0 {
			if err := s.updateDeliveries(ctx, tx, nUpd, updates); err != nil {
				return err
			}
		}
		return s.trackHookHealth(ctx, tx, okDest, badDest, now)
	})
}

type pending struct {
	kind, destination string
	attempts          int
	lastStatus        int
	lastError         string
}

// pendingState reads the current state of the outcomes' pending deliveries.
func (s *DB) pendingState(ctx context.Context, tx *sql.Tx, outcomes []*herald.Outcome) (map[string]pending, error) {
	ids := make([]string, len(outcomes))
	for i, o := range outcomes {
		ids[i] = o.DeliveryID
	}
	rows, err := s.query(ctx, tx, `SELECT id, destination_kind, destination_id, attempts, last_status, last_error FROM deliveries
		WHERE status = 'pending' AND id `+s.inText(1), jsonList(ids))
	if err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	defer rows.Close()
	out := map[string]pending{}
	for rows.Next() {
		var id string
		var p pending
		if err := rows.Scan(&id, &p.kind, &p.destination, &p.attempts, &p.lastStatus, &p.lastError); err != nil {
			return nil, fmt.Errorf("scan delivery: %w", err)
		}
		out[id] = p
	}
	return out, rows.Err()
}

// updateDeliveries applies n rows of (id, status, attempts increment,
// next_attempt_at, last_status, last_error, updated_at) in one statement.
func (s *DB) updateDeliveries(ctx context.Context, tx *sql.Tx, n int, args []any) error {
	if s.dialect.Name != "sqlite" {
		// One statement of one shape, the rows as a typed array per
		// column as the inserts take them, where the VALUES form had a
		// shape, and a plan, for each of its nine sizes.
		if arrays, _, ok := columnArrays(args, 7); ok {
			_, err := s.exec(ctx, tx, `UPDATE deliveries SET status = v.status, attempts = deliveries.attempts + v.inc,
				next_attempt_at = v.next, last_status = v.last_status, last_error = v.last_error, updated_at = v.updated, claimed_by = ''
				FROM unnest(CAST($1 AS TEXT[]), CAST($2 AS TEXT[]), CAST($3 AS BIGINT[]), CAST($4 AS BIGINT[]),
				CAST($5 AS BIGINT[]), CAST($6 AS TEXT[]), CAST($7 AS BIGINT[])) AS v (id, status, inc, next, last_status, last_error, updated)
				WHERE deliveries.id = v.id AND deliveries.status = 'pending'`, arrays...)
			if err != nil {
				return fmt.Errorf("update deliveries: %w", err)
			}
			return nil
		}
	}
	return forChunks(n, func(start, rows int) error {
		var values strings.Builder
		for r := 0; r < rows; r++ {
			if r > 0 {
				values.WriteString(", ")
			}
			b := r * 7
			fmt.Fprintf(&values, "(CAST($%d AS TEXT), CAST($%d AS TEXT), CAST($%d AS INTEGER), CAST($%d AS BIGINT), CAST($%d AS INTEGER), CAST($%d AS TEXT), CAST($%d AS BIGINT))",
				b+1, b+2, b+3, b+4, b+5, b+6, b+7)
		}
		q := `UPDATE deliveries SET status = v.column2, attempts = deliveries.attempts + v.column3, next_attempt_at = v.column4,
			last_status = v.column5, last_error = v.column6, updated_at = v.column7, claimed_by = ''
			FROM (VALUES ` + values.String() + `) AS v WHERE deliveries.id = v.column1 AND deliveries.status = 'pending'`
		if _, err := s.exec(ctx, tx, q, args[start*7:(start+rows)*7]...); err != nil {
			return fmt.Errorf("update deliveries: %w", err)
		}
		return nil
	})
}

// trackHookHealth resets the failure run of hooks that succeeded, starts one
// for hooks that failed, and disables hooks failing for longer than the
// store's DisableAfter.
func (s *DB) trackHookHealth(ctx context.Context, tx *sql.Tx, ok, bad map[string]bool, now time.Time) error {
	var okIDs, badIDs []string
	for id := range ok {
		okIDs = append(okIDs, id)
	}
	for id := range bad {
		if !ok[id] {
			badIDs = append(badIDs, id)
		}
	}
	if len(okIDs) > 0 {
		if _, err := s.exec(ctx, tx, `UPDATE hooks SET failing_since = NULL WHERE failing_since IS NOT NULL AND id `+s.inText(1), jsonList(okIDs)); err != nil {
			return fmt.Errorf("reset hook failures: %w", err)
		}
	}
	if len(badIDs) == 0 {
		return nil
	}
	if _, err := s.exec(ctx, tx, `UPDATE hooks SET failing_since = $1 WHERE failing_since IS NULL AND id `+s.inText(2), ts(now), jsonList(badIDs)); err != nil {
		return fmt.Errorf("mark hook failures: %w", err)
	}
	reason := fmt.Sprintf("disabled automatically: every delivery failed for %s", s.disable)
	if _, err := s.exec(ctx, tx, `UPDATE hooks SET status = $1, disabled_reason = $2 WHERE status = $3 AND failing_since <= $4 AND id `+s.inText(5),
		herald.HookDisabled, reason, herald.HookActive, ts(now.Add(-s.disable)), jsonList(badIDs)); err != nil {
		return fmt.Errorf("disable hooks: %w", err)
	}
	return nil
}

// FindDeliveries lists a destination's deliveries, newest first.
func (s *DB) FindDeliveries(ctx context.Context, f herald.DeliveryFilter) ([]*herald.Delivery, string, error) {
	before, beforeID, err := cursorTimeID(f.Page.Cursor)
	if err != nil {
		return nil, "", err
	}
	if f.Page.Cursor == "" {
		before, beforeID = 1<<62, ""
	}
	limit := pageLimit(f.Page)
	rows, err := s.query(ctx, nil, `SELECT `+deliverySelect+` FROM`+deliveryFrom+`WHERE d.destination_kind = $1 AND d.destination_id = $2
		AND ($3 = '' OR d.status = $3) AND (d.created_at < $4 OR (d.created_at = $4 AND d.id < $5)) ORDER BY d.created_at DESC, d.id DESC LIMIT $6`,
		f.DestinationKind, f.DestinationID, f.Status, before, beforeID, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("find deliveries: %w", err)
	}
	defer rows.Close()
	var out []*herald.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, "", fmt.Errorf("scan delivery: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	return trimPage(out, limit, func(d *herald.Delivery) string { return timeIDCursor(d.CreatedAt, d.ID) })
}

// FindDeliveryByID returns the delivery or ENOTFOUND.
func (s *DB) FindDeliveryByID(ctx context.Context, id string) (*herald.Delivery, error) {
	d, err := scanDelivery(s.queryRow(ctx, nil, `SELECT `+deliverySelect+` FROM`+deliveryFrom+`WHERE d.id = $1`, id))
	if err != nil {
		return nil, notFound(err, "delivery")
	}
	return d, nil
}

// FindAttempts lists a delivery's attempts, oldest first.
func (s *DB) FindAttempts(ctx context.Context, deliveryID string) ([]*herald.Attempt, error) {
	rows, err := s.query(ctx, nil, `SELECT id, delivery_id, number, url, status_code, duration_us, response_body, error, created_at,
		hook_error_id, hook_project_id FROM attempts WHERE delivery_id = $1 ORDER BY number, id`, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("find attempts: %w", err)
	}
	defer rows.Close()
	var out []*herald.Attempt
	for rows.Next() {
		a := &herald.Attempt{}
		var dur, created int64
		if err := rows.Scan(&a.ID, &a.DeliveryID, &a.Number, &a.URL, &a.StatusCode, &dur, &a.ResponseBody, &a.Error, &created,
			&a.HookErrorID, &a.HookProjectID); err != nil {
			return nil, fmt.Errorf("scan attempt: %w", err)
		}
		a.Duration, a.CreatedAt = time.Duration(dur)*time.Microsecond, fromTS(created)
		out = append(out, a)
	}
	return out, rows.Err()
}

// Redeliver queues the delivery for another attempt now.
func (s *DB) Redeliver(ctx context.Context, id string) (*herald.Delivery, error) {
	var d *herald.Delivery
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.clock.Now().UTC()
		// A pending delivery with an attempt under way (claimed) keeps it.
		res, err := s.exec(ctx, tx, `UPDATE deliveries SET updated_at = $2,
			next_attempt_at = CASE WHEN status = $1 AND claimed_by <> '' THEN next_attempt_at ELSE $2 END, status = $1 WHERE id = $3`,
			herald.DeliveryPending, ts(now), id)
		if err != nil {
			return fmt.Errorf("redeliver: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return herald.Errorf(herald.ENOTFOUND, "delivery not found")
		}
		if d, err = scanDelivery(s.queryRow(ctx, tx, `SELECT `+deliverySelect+` FROM`+deliveryFrom+`WHERE d.id = $1`, id)); err != nil {
			return fmt.Errorf("read delivery: %w", err)
		}
		return nil
	})
	return d, err
}

// RecoverDeliveries queues every failed delivery of a destination created
// since the given time and returns how many.
func (s *DB) RecoverDeliveries(ctx context.Context, kind, destinationID string, since time.Time) (int, error) {
	var ids []string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := s.query(ctx, tx, `SELECT id FROM deliveries WHERE destination_kind = $1 AND destination_id = $2 AND status = $3 AND created_at >= $4`,
			kind, destinationID, herald.DeliveryFailed, ts(since))
		if err != nil {
			return fmt.Errorf("find failed deliveries: %w", err)
		}
		if ids, err = scanColumn[string](rows); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `UPDATE deliveries SET status = $1, next_attempt_at = $2, updated_at = $2, claimed_by = '' WHERE id `+s.inText(3),
			herald.DeliveryPending, ts(s.clock.Now()), jsonList(ids)); err != nil {
			return fmt.Errorf("recover deliveries: %w", err)
		}
		return nil
	})
	return len(ids), err
}

// Backlog is what the deliveries table says about the work waiting, for
// the metrics an operator alerts on.
type Backlog struct {
	// Pending is the number of deliveries still to send, OldestDue the
	// earliest time one of them was due and OldestCreated the earliest
	// time one of them was written (both zero when none is pending).
	Pending       int64
	OldestDue     time.Time
	OldestCreated time.Time
	// DisabledHooks is the number of Service Hooks disabled after failing.
	DisabledHooks int64
}

// backlogQuery reads the pending deliveries' count and their oldest due
// and creation times from the due-deliveries index alone, which holds both
// times (migration 0017); the literal status lets SQLite use that partial
// index. Through the table it read every pending row on every scrape of
// the metrics, and on SQLite it filled a reader's page cache with them.
const backlogQuery = `SELECT COUNT(*), MIN(next_attempt_at), MIN(created_at) FROM deliveries WHERE status = 'pending'`

// Backlog reads the backlog: one read of the due-deliveries index and a
// count of the disabled hooks.
func (s *DB) Backlog(ctx context.Context) (Backlog, error) {
	var b Backlog
	var due, created sql.NullInt64
	if err := s.queryRow(ctx, nil, backlogQuery).Scan(&b.Pending, &due, &created); err != nil {
		return Backlog{}, fmt.Errorf("read backlog: %w", err)
	}
	if due.Valid && created.Valid {
		b.OldestDue, b.OldestCreated = fromTS(due.Int64), fromTS(created.Int64)
	}
	if err := s.queryRow(ctx, nil, `SELECT COUNT(*) FROM hooks WHERE status = $1`, herald.HookDisabled).Scan(&b.DisabledHooks); err != nil {
		return Backlog{}, fmt.Errorf("count disabled hooks: %w", err)
	}
	return b, nil
}
