package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/sqlstore"
)

// issueRowTables are the tables holding rows of an issue besides its own:
// its events, alert counters, seen users and comments.
var issueRowTables = []string{"events", "issue_seconds", "issue_minutes", "issue_minute_users", "issue_users", "comments"}

// IssueRows counts the rows of the issue in each of issueRowTables.
func (f *Fixture) IssueRows(t testing.TB, issueID int64) map[string]int {
	t.Helper()
	out := make(map[string]int, len(issueRowTables))
	for _, table := range issueRowTables {
		out[table] = f.Count(t, `SELECT COUNT(*) FROM %s WHERE issue_id = %d`, table, issueID)
	}
	return out
}

// Counted gives issue, as ingest would, a second of alert counts with two
// users, records the users as seen on it, and adds a comment.
func (f *Fixture) Counted(t testing.TB, issue *herald.Issue) {
	t.Helper()
	f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
		users := []string{"id:1", "id:2"}
		if err := tx.AddIssueCounts(ctx, []sqlstore.AlertCount{{ID: issue.ID, Second: sqlstore.Second(f.Clock.Now()), Events: 2, Users: users}}); err != nil {
			return err
		}
		if _, err := tx.AddIssueUsers(ctx, []sqlstore.IssueUser{{IssueID: issue.ID, Key: users[0]}, {IssueID: issue.ID, Key: users[1]}}); err != nil {
			return err
		}
		return tx.InsertComment(ctx, &herald.Comment{IssueID: issue.ID, UserID: f.User.ID, Text: "seen"})
	})
}

// testIssueDeletion checks that deleting an issue hides it at once from
// every read of issues and of events, frees its group (the next event of
// it opens a new issue) and its events' ids (one sent again is stored
// anew), and leaves all its rows (events, alert counters, seen users,
// comments) to PurgeIssues, which deletes them and then the issue's row,
// and nothing of any other issue; and that no issue's id is ever given
// again, the newest issue's neither.
func testIssueDeletion(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	f.Clock.SetStep(time.Second)
	s := f.Store
	kept, keptEvent := f.Issue(t, "kept")
	gone, goneEvent := f.Issue(t, "gone")
	f.Storm(t, gone, 9)
	f.Counted(t, kept)
	f.Counted(t, gone)
	f.SecondCounters(t, gone, f.Clock.Now().Add(-time.Hour), 100)
	keptRows, goneRows := f.IssueRows(t, kept.ID), f.IssueRows(t, gone.ID)
	for _, table := range issueRowTables {
		if goneRows[table] == 0 || keptRows[table] == 0 {
			t.Fatalf("the issues' rows before the delete: %v, %v; want some in every table", goneRows, keptRows)
		}
	}

	must(t, s.DeleteIssue(ctx, gone.ID))
	wantCode(t, s.DeleteIssue(ctx, gone.ID), herald.ENOTFOUND)
	for _, key := range []string{fmt.Sprint(gone.ID), gone.ShortID} {
		_, err := s.FindIssue(ctx, f.Org.ID, key)
		wantCode(t, err, herald.ENOTFOUND)
	}
	_, err := s.FindIssueByID(ctx, gone.ID)
	wantCode(t, err, herald.ENOTFOUND)
	_, err = s.FindEventByID(ctx, f.Project.ID, goneEvent.ID)
	wantCode(t, err, herald.ENOTFOUND)
	listed, _, err := s.SearchIssues(ctx, herald.IssueSearch{ProjectID: f.Project.ID})
	must(t, err)
	if len(listed) != 1 || listed[0].ID != kept.ID {
		t.Fatalf("%d issues listed after the delete, want only the kept one", len(listed))
	}
	for _, sel := range []herald.IssueSelection{
		{ProjectID: f.Project.ID, IDs: []int64{gone.ID, kept.ID}},
		{ProjectID: f.Project.ID, Statuses: []string{herald.IssueUnresolved}},
	} {
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			got, err := tx.SelectIssues(ctx, sel)
			if err == nil && (len(got) != 1 || got[0].ID != kept.ID) {
				t.Errorf("SelectIssues(%+v): %d issues, want only the kept one", sel, len(got))
			}
			return err
		})
	}
	if rows := f.IssueRows(t, gone.ID); fmt.Sprint(rows) != fmt.Sprint(goneRows) {
		t.Fatalf("the deleted issue's rows before the purge: %v, want all kept (%v)", rows, goneRows)
	}

	again, againEvent := f.Issue(t, "gone")
	if again.ID <= gone.ID || again.ShortID == gone.ShortID {
		t.Fatalf("the group's next event opened issue %d (%s), want a new one after %d (%s)", again.ID, again.ShortID, gone.ID, gone.ShortID)
	}
	// An event of the deleted issue sent again before the purge is taken
	// as new, stored anew in the issue its group has now, and kept by the
	// purge.
	resent := *goneEvent
	f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
		seen, err := tx.ExistingEvents(ctx, []*herald.Event{&resent, keptEvent})
		if err != nil {
			return err
		}
		if len(seen) != 1 || !seen[sqlstore.EventKey{ProjectID: keptEvent.ProjectID, ID: keptEvent.ID}] {
			t.Errorf("ExistingEvents = %v, want only the kept issue's event", seen)
		}
		resent.IssueID = again.ID
		return tx.InsertEvents(ctx, []*herald.Event{&resent})
	})
	want := int64(-1)
	for table, n := range goneRows {
		if table != "comments" {
			want += int64(n)
		}
	}
	n, err := s.PurgeIssues(ctx)
	must(t, err)
	rows := f.IssueRows(t, gone.ID)
	for _, left := range rows {
		if n != want || left != 0 {
			t.Fatalf("purged %d rows, left %v; want its %d events and counters, and nothing left", n, rows, want)
		}
	}
	if left := f.Count(t, `SELECT COUNT(*) FROM issues WHERE id = %d`, gone.ID); left != 0 {
		t.Fatal("the purged issue's row is still stored")
	}
	if rows := f.IssueRows(t, kept.ID); fmt.Sprint(rows) != fmt.Sprint(keptRows) {
		t.Fatalf("the kept issue's rows after the purge: %v, want %v", rows, keptRows)
	}
	for _, e := range []*herald.Event{keptEvent, againEvent, &resent} {
		if got, err := s.FindEventByID(ctx, e.ProjectID, e.ID); err != nil || got.IssueID != e.IssueID {
			t.Fatalf("event %s of issue %d: %+v, %v", e.ID, e.IssueID, got, err)
		}
	}

	// The newest issue deleted and purged: the next issue still gets a
	// new id, and no purge deletes any of its events.
	must(t, s.DeleteIssue(ctx, again.ID))
	if n, err := s.PurgeIssues(ctx); err != nil || n != 2 {
		t.Fatalf("PurgeIssues = %d, %v; want the newest issue's 2 events", n, err)
	}
	var next *herald.Issue
	f.wantIDNotGivenAgain(t, "issues", again.ID, func() int64 {
		next, _ = f.Issue(t, "next")
		f.Storm(t, next, 4)
		return next.ID
	}, s.PurgeIssues)
	if n := f.Count(t, `SELECT COUNT(*) FROM events WHERE issue_id = %d`, next.ID); n != 5 {
		t.Fatalf("the new issue has %d events, want its 5", n)
	}
}

// wantIDNotGivenAgain checks what follows the purge of the newest row of
// table (issues, projects, metric_alert_rules), whose id was goneID: the
// row create then stores gets a higher id, purge finds nothing left, and
// the deleted row kept as the newest is gone.
func (f *Fixture) wantIDNotGivenAgain(t *testing.T, table string, goneID int64, create func() int64, purge func(context.Context) (int64, error)) {
	t.Helper()
	if id := create(); id <= goneID {
		t.Fatalf("a new row of %s was given id %d, the deleted row %d's or an older one", table, id, goneID)
	}
	if n, err := purge(context.Background()); err != nil || n != 0 {
		t.Fatalf("purge again = %d, %v; want nothing left", n, err)
	}
	if n := f.Count(t, `SELECT COUNT(*) FROM %s WHERE deleted`, table); n != 0 {
		t.Fatalf("%d deleted rows of %s left once a newer row is stored, want none", n, table)
	}
}

// testMetricAlertPurges checks that deleting a metric alert rule hides it
// at once from every read of rules, updates included, and leaves its
// counters to PurgeMetricAlerts, which deletes them and then the rule's
// row, and nothing of another rule; and that no rule's id is given again,
// the newest rule's neither.
func testMetricAlertPurges(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	gone := f.MetricRule(t, &herald.MetricAlertRule{Name: "Gone"}, nil, 5, 0)
	kept := f.MetricRule(t, &herald.MetricAlertRule{Name: "Kept"}, nil, 5, 0)
	now := f.Clock.Now()
	f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
		var counts []sqlstore.AlertCount
		for i := range 1200 {
			for _, r := range []*herald.MetricAlertRule{gone, kept} {
				counts = append(counts, sqlstore.AlertCount{ID: r.ID, Second: sqlstore.Second(now) - int64(i), Events: 1, Users: []string{"id:1"}})
			}
		}
		return tx.AddMetricCounts(ctx, counts)
	})
	rows := func(r *herald.MetricAlertRule) int {
		n := 0
		for _, table := range []string{"metric_seconds", "metric_minutes", "metric_minute_users"} {
			n += f.Count(t, `SELECT COUNT(*) FROM %s WHERE rule_id = %d`, table, r.ID)
		}
		return n
	}
	goneRows, keptRows := rows(gone), rows(kept)
	if goneRows < 1200 || keptRows != goneRows {
		t.Fatalf("%d and %d counter rows stored, want over 1,200 each", goneRows, keptRows)
	}

	must(t, s.DeleteMetricAlert(ctx, f.Org.ID, gone.ID))
	wantCode(t, s.DeleteMetricAlert(ctx, f.Org.ID, gone.ID), herald.ENOTFOUND)
	_, err := s.FindMetricAlertByID(ctx, f.Org.ID, gone.ID)
	wantCode(t, err, herald.ENOTFOUND)
	wantCode(t, s.UpdateMetricAlert(ctx, gone), herald.ENOTFOUND)
	listed, err := s.FindMetricAlerts(ctx, f.Org.ID)
	must(t, err)
	f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
		evaluated, err := tx.MetricRules(ctx, nil)
		if err == nil && (len(listed) != 1 || listed[0].ID != kept.ID || len(evaluated) != 1 || evaluated[0].ID != kept.ID) {
			t.Errorf("%d rules listed and %d evaluated after the delete, want only the kept one", len(listed), len(evaluated))
		}
		return err
	})
	if n := rows(gone); n != goneRows {
		t.Fatalf("%d of the deleted rule's %d counter rows left before the purge, want all", n, goneRows)
	}

	n, err := s.PurgeMetricAlerts(ctx)
	must(t, err)
	if n != int64(goneRows) || rows(gone) != 0 || rows(kept) != keptRows {
		t.Fatalf("purged %d rows, %d left, the kept rule's %d; want %d, none and %d", n, rows(gone), rows(kept), goneRows, keptRows)
	}
	if left := f.Count(t, `SELECT COUNT(*) FROM metric_alert_rules WHERE id = %d`, gone.ID); left != 0 {
		t.Fatal("the purged rule's row is still stored")
	}

	// The newest rule deleted and purged: the next rule still gets a new
	// id, and the kept row goes once it exists.
	must(t, s.DeleteMetricAlert(ctx, f.Org.ID, kept.ID))
	if n, err := s.PurgeMetricAlerts(ctx); err != nil || n != int64(keptRows) {
		t.Fatalf("PurgeMetricAlerts = %d, %v; want the newest rule's %d rows", n, err, keptRows)
	}
	f.wantIDNotGivenAgain(t, "metric_alert_rules", kept.ID, func() int64 {
		return f.MetricRule(t, &herald.MetricAlertRule{Name: "Next"}, nil, 5, 0).ID
	}, s.PurgeMetricAlerts)
}
