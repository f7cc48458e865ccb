package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/herald-dev/herald"
)

// CreateHook inserts h with a new id and, unless set, a new secret.
func (s *DB) CreateHook(ctx context.Context, h *herald.Hook) error {
	if err := h.Validate(); err != nil {
		return err
	}
	h.ID = herald.NewID()
	if h.Secret == "" {
		h.Secret = herald.NewSecret()
	}
	h.Status, h.DisabledReason, h.FailingSince = herald.HookActive, "", nil
	h.Events = sortedUnique(h.Events)
	h.DateCreated = s.clock.Now().UTC()
	_, err := s.exec(ctx, nil, `INSERT INTO hooks (id, project_id, url, events, secret, status, date_created) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		h.ID, h.ProjectID, h.URL, joinList(h.Events), h.Secret, h.Status, ts(h.DateCreated))
	if err != nil {
		return fmt.Errorf("insert hook: %w", err)
	}
	return nil
}

func sortedUnique(l []string) []string {
	out := slices.Clone(l)
	slices.Sort(out)
	return slices.Compact(out)
}

const hookColumns = `h.id, h.project_id, h.url, h.events, h.secret, h.status, h.disabled_reason, h.failing_since, h.date_created`

func scanHook(row interface{ Scan(...any) error }) (*herald.Hook, error) {
	h := &herald.Hook{}
	var events string
	var failing sql.NullInt64
	var created int64
	if err := row.Scan(&h.ID, &h.ProjectID, &h.URL, &events, &h.Secret, &h.Status, &h.DisabledReason, &failing, &created); err != nil {
		return nil, err
	}
	h.Events, h.FailingSince, h.DateCreated = splitList(events), fromTSPtr(failing), fromTS(created)
	return h, nil
}

// FindHookByID returns the project's hook or ENOTFOUND.
func (s *DB) FindHookByID(ctx context.Context, projectID int64, id string) (*herald.Hook, error) {
	h, err := scanHook(s.queryRow(ctx, nil, `SELECT `+hookColumns+` FROM hooks h WHERE h.project_id = $1 AND h.id = $2`, projectID, id))
	if err != nil {
		return nil, notFound(err, "hook")
	}
	return h, nil
}

// FindHooks lists the hooks of f's project in creation order, those of
// f.Status only when it is set.
func (s *DB) FindHooks(ctx context.Context, f herald.HookFilter) ([]*herald.Hook, string, error) {
	afterTS, afterID, err := cursorTimeID(f.Page.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(f.Page)
	rows, err := s.query(ctx, nil, `SELECT `+hookColumns+` FROM hooks h WHERE h.project_id = $1 AND ($5 = '' OR h.status = $5)
		AND (h.date_created > $2 OR (h.date_created = $2 AND h.id > $3)) ORDER BY h.date_created, h.id LIMIT $4`,
		f.ProjectID, afterTS, afterID, limit+1, f.Status)
	if err != nil {
		return nil, "", fmt.Errorf("find hooks: %w", err)
	}
	defer rows.Close()
	var out []*herald.Hook
	for rows.Next() {
		h, err := scanHook(rows)
		if err != nil {
			return nil, "", fmt.Errorf("scan hook: %w", err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	return trimPage(out, limit, func(h *herald.Hook) string { return timeIDCursor(h.DateCreated, h.ID) })
}

// timeIDCursor and cursorTimeID encode a (time, id) keyset position.
func timeIDCursor(t time.Time, id string) string { return strconv.FormatInt(ts(t), 10) + ":" + id }

func cursorTimeID(c string) (int64, string, error) {
	if c == "" {
		return -1 << 62, "", nil
	}
	tsPart, id, ok := strings.Cut(c, ":")
	v, err := strconv.ParseInt(tsPart, 10, 64)
	if !ok || err != nil {
		return 0, "", herald.Errorf(herald.EINVALID, "invalid cursor %q", c)
	}
	return v, id, nil
}

// UpdateHook applies upd and returns the hook.
func (s *DB) UpdateHook(ctx context.Context, projectID int64, id string, upd herald.HookUpdate) (*herald.Hook, error) {
	h, err := s.FindHookByID(ctx, projectID, id)
	if err != nil {
		return nil, err
	}
	if upd.URL != nil {
		h.URL = *upd.URL
	}
	if upd.Events != nil {
		h.Events = sortedUnique(*upd.Events)
	}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	if upd.Status != nil && *upd.Status != h.Status {
		switch *upd.Status {
		case herald.HookActive:
			h.Status, h.DisabledReason, h.FailingSince = herald.HookActive, "", nil
		case herald.HookDisabled:
			h.Status, h.DisabledReason = herald.HookDisabled, "disabled by a user"
		default:
			return nil, herald.Errorf(herald.EINVALID, "invalid status %q", *upd.Status)
		}
	}
	_, err = s.exec(ctx, nil, `UPDATE hooks SET url = $1, events = $2, status = $3, disabled_reason = $4, failing_since = $5 WHERE id = $6`,
		h.URL, joinList(h.Events), h.Status, h.DisabledReason, tsPtr(h.FailingSince), h.ID)
	if err != nil {
		return nil, fmt.Errorf("update hook: %w", err)
	}
	return h, nil
}

// DeleteHook removes the hook and queues its deliveries for
// PurgeDestinations; a claim of one finds its destination gone, and it
// fails without being sent.
func (s *DB) DeleteHook(ctx context.Context, projectID int64, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `DELETE FROM hooks WHERE project_id = $1 AND id = $2`, projectID, id)
		if err != nil {
			return fmt.Errorf("delete hook: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return herald.Errorf(herald.ENOTFOUND, "hook not found")
		}
		return s.queuePurges(ctx, tx, `SELECT $1, $2 WHERE TRUE`, herald.DestinationHook, id)
	})
}

// RotateHookSecret gives the hook a new secret. Deliveries already created
// keep the signature they were created with.
func (s *DB) RotateHookSecret(ctx context.Context, projectID int64, id string) (*herald.Hook, error) {
	h, err := s.FindHookByID(ctx, projectID, id)
	if err != nil {
		return nil, err
	}
	h.Secret = herald.NewSecret()
	if _, err := s.exec(ctx, nil, `UPDATE hooks SET secret = $1 WHERE id = $2`, h.Secret, h.ID); err != nil {
		return nil, fmt.Errorf("rotate hook secret: %w", err)
	}
	return h, nil
}

// HookStats counts the hook's deliveries per bucket in [since, until).
func (s *DB) HookStats(ctx context.Context, hookID string, since, until time.Time, resolution time.Duration) ([]herald.HookStat, error) {
	if resolution <= 0 || until.Sub(since)/resolution > 10000 {
		return nil, herald.Errorf(herald.EINVALID, "too many buckets: narrow the range or widen the resolution")
	}
	res := resolution.Microseconds()
	start := ts(since) - ts(since)%res
	rows, err := s.query(ctx, nil, `SELECT (created_at - $1) / $2, COUNT(*) FROM deliveries
		WHERE destination_kind = $3 AND destination_id = $4 AND created_at >= $1 AND created_at < $5 GROUP BY 1`,
		start, res, herald.DestinationHook, hookID, ts(until))
	if err != nil {
		return nil, fmt.Errorf("hook stats: %w", err)
	}
	defer rows.Close()
	counts := map[int64]int64{}
	for rows.Next() {
		var bucket, n int64
		if err := rows.Scan(&bucket, &n); err != nil {
			return nil, fmt.Errorf("scan stats: %w", err)
		}
		counts[bucket] = n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []herald.HookStat
	for i, t := int64(0), start; t < ts(until); i, t = i+1, t+res {
		out = append(out, herald.HookStat{TS: t / 1e6, Total: counts[i]})
	}
	return out, nil
}
