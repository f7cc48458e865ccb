package storetest_test

import (
	"context"
	"slices"
	"testing"

	"github.com/herald-dev/herald/internal/sqlstore"
	"github.com/herald-dev/herald/internal/storetest"
)

// TestPurgesSettle checks that a purge on SQLite waits for the dialect's
// Settle (a checkpoint of the log) after each of its transactions, not
// once at its end: each call finds fewer of the deleted issue's 1,500
// events left than the one before, the last finds none, and a purge of
// that size takes several transactions.
func TestPurgesSettle(t *testing.T) {
	t.Parallel()
	var left []int
	f := storetest.NewFixture(t, func(tb testing.TB, opts sqlstore.Options) *sqlstore.DB {
		s := storetest.OpenSQLite(tb, opts)
		d := s.Dialect()
		settle := d.Settle
		if settle == nil {
			tb.Fatal("the SQLite dialect has no Settle")
		}
		d.Settle = func(ctx context.Context) error {
			var n int
			if err := s.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM events`).Scan(&n); err != nil {
				return err
			}
			left = append(left, n)
			return settle(ctx)
		}
		// A second store on the same database, with the dialect's Settle
		// wrapped; the first store closes the database and the
		// checkpointer when the test ends.
		d.OnClose = nil
		wrapped, err := sqlstore.Open(tb.Context(), s.SQL(), d, opts)
		if err != nil {
			tb.Fatal(err)
		}
		return wrapped
	})
	issue, _ := f.Issue(t, "storm")
	f.Storm(t, issue, 1499)
	ctx := t.Context()
	if err := f.Store.DeleteIssue(ctx, issue.ID); err != nil {
		t.Fatal(err)
	}
	n, err := f.Store.PurgeIssues(ctx)
	if err != nil || n != 1500 {
		t.Fatalf("PurgeIssues = %d, %v; want 1,500 events, nil", n, err)
	}
	if len(left) < 3 || left[len(left)-1] != 0 || !slices.IsSortedFunc(left, func(a, b int) int { return b - a }) || len(slices.Compact(slices.Clone(left))) != len(left) {
		t.Fatalf("events left at each Settle: %v; want one call after each of several transactions, each with fewer left, the last with none", left)
	}
}
