package storetest_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/herald-dev/herald/internal/sqlstore"
	"github.com/herald-dev/herald/internal/storetest"
)

// TestPurgesSettle checks that purges on SQLite wait for the dialect's
// Settle (a checkpoint of the log) after each of their transactions, not
// once at their end: each call finds fewer of the rows being deleted left
// than the one before, the last finds none, and a purge of 1,500 rows
// takes several transactions. Both purges with their own kind of batch
// are checked: a deleted issue's events (by id), and alert counters (by
// rowid), those of a deleted issue and old ones.
func TestPurgesSettle(t *testing.T) {
	t.Parallel()
	var (
		table string // whose rows each Settle counts
		left  []int
	)
	f := storetest.NewFixture(t, func(tb testing.TB, opts sqlstore.Options) *sqlstore.DB {
		s := storetest.OpenSQLite(tb, opts)
		d := s.Dialect()
		settle := d.Settle
		if settle == nil {
			tb.Fatal("the SQLite dialect has no Settle")
		}
		d.Settle = func(ctx context.Context) error {
			var n int
			if err := s.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
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
	ctx := t.Context()
	check := func(purge string, n, want int64, err error) {
		t.Helper()
		if err != nil || n != want {
			t.Fatalf("%s = %d, %v; want %d rows, nil", purge, n, err, want)
		}
		if len(left) < 3 || left[len(left)-1] != 0 || !slices.IsSortedFunc(left, func(a, b int) int { return b - a }) || len(slices.Compact(slices.Clone(left))) != len(left) {
			t.Fatalf("%s: rows left at each Settle: %v; want one call after each of several transactions, each with fewer left, the last with none", purge, left)
		}
	}

	issue, _ := f.Issue(t, "storm")
	f.Storm(t, issue, 1499)
	if err := f.Store.DeleteIssue(ctx, issue.ID); err != nil {
		t.Fatal(err)
	}
	table, left = "events", nil
	n, err := f.Store.PurgeIssues(ctx)
	check("PurgeIssues", n, 1500, err)

	counted, _ := f.Issue(t, "deleted with counters")
	f.SecondCounters(t, counted, f.Clock.Now().Add(-time.Hour), 1500)
	if err := f.Store.DeleteIssue(ctx, counted.ID); err != nil {
		t.Fatal(err)
	}
	table, left = "issue_seconds", nil
	n, err = f.Store.PurgeIssues(ctx)
	check("PurgeIssues (counters)", n, 1501, err)

	old, _ := f.Issue(t, "counted")
	f.SecondCounters(t, old, f.Clock.Now().Add(-40*24*time.Hour), 1500)
	table, left = "issue_seconds", nil
	n, err = f.Store.PurgeAlertCounts(ctx, f.Clock.Now())
	check("PurgeAlertCounts", n, 1500, err)
}
