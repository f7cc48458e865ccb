package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/sqlstore"
)

// testDestinationPurges checks that deleting a hook, a Sentry App or a
// project leaves the deliveries to delete to PurgeDestinations, which
// deletes them all, in batches, with their bodies, and nothing
// else; meanwhile none of them is sent (a claim finds its destination
// gone).
func testDestinationPurges(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	gone := f.Hook(t, "https://example.com/gone", herald.HookEventCreated)
	kept := f.Hook(t, "https://example.com/kept", herald.HookEventCreated)
	f.Deliveries(t, gone, 2500)
	f.Deliveries(t, kept, 3)
	app := f.App(t, "gone", false, "issue.created")
	inst := f.Install(t, app)
	f.AppDeliveries(t, inst, "issue.created", "issue.resolved")
	p := &herald.Project{OrganizationID: f.Org.ID, TeamID: f.Team.ID, Slug: "gone", Name: "Gone"}
	must(t, s.CreateProject(ctx, p))
	other := &herald.Hook{ProjectID: p.ID, URL: "https://example.com/other", Events: []string{herald.HookEventCreated}}
	must(t, s.CreateHook(ctx, other))
	f.Deliveries(t, other, 4)

	must(t, s.DeleteHook(ctx, f.Project.ID, gone.ID))
	must(t, s.DeleteApp(ctx, app.ID))
	must(t, s.DeleteProject(ctx, p.ID))
	claimed, err := s.ClaimDeliveries(ctx, "node", 3000, f.Clock.Now().Add(time.Minute))
	must(t, err)
	if len(claimed) != 2500+3+2+4 {
		t.Fatalf("claimed %d deliveries, want all 2,509 still stored", len(claimed))
	}
	for _, d := range claimed {
		if d.DestinationActive != (d.DestinationID == kept.ID) {
			t.Fatalf("delivery to %s %s claimed with its destination active = %v", d.DestinationKind, d.DestinationID, d.DestinationActive)
		}
	}

	n, err := s.PurgeDestinations(ctx)
	must(t, err)
	if n != 2500+2+4 {
		t.Fatalf("purged %d deliveries, want 2,506", n)
	}
	for _, dest := range []struct{ kind, id string }{
		{herald.DestinationHook, gone.ID}, {herald.DestinationApp, inst.UUID}, {herald.DestinationHook, other.ID},
	} {
		if left := f.DeliveriesTo(t, dest.kind, dest.id); len(left) != 0 {
			t.Fatalf("%d deliveries to the deleted %s %s left", len(left), dest.kind, dest.id)
		}
	}
	if left := f.DeliveriesTo(t, herald.DestinationHook, kept.ID); len(left) != 3 {
		t.Fatalf("%d deliveries to the hook kept, want 3", len(left))
	}
	if all, orphans := f.StoredBodies(t); all != 3 || orphans != 0 {
		t.Fatalf("%d bodies, %d orphans; want the 3 of the hook kept", all, orphans)
	}
	if n, err := s.PurgeDestinations(ctx); err != nil || n != 0 {
		t.Fatalf("purge again = %d, %v; want nothing left", n, err)
	}
}

// testIssuePurges checks that deleting an issue hides its events at once
// and leaves deleting them to PurgeIssues, which deletes them all, a
// batch at a time, and no other issue's.
func testIssuePurges(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	gone, first := f.Issue(t, "gone")
	kept, other := f.Issue(t, "kept")
	f.Storm(t, gone, 2499)
	count := func(issueID int64) int { return f.Count(t, `SELECT COUNT(*) FROM events WHERE issue_id = %d`, issueID) }

	must(t, s.DeleteIssue(ctx, gone.ID))
	_, err := s.FindEventByID(ctx, f.Project.ID, first.ID)
	wantCode(t, err, herald.ENOTFOUND)
	if n := count(gone.ID); n != 2500 {
		t.Fatalf("%d events of the deleted issue stored before the purge, want 2,500", n)
	}
	n, err := s.PurgeIssues(ctx)
	must(t, err)
	if n != 2500 || count(gone.ID) != 0 {
		t.Fatalf("purged %d events, %d left; want 2,500 and none", n, count(gone.ID))
	}
	if _, err := s.FindEventByID(ctx, f.Project.ID, other.ID); err != nil || count(kept.ID) != 1 {
		t.Fatalf("the other issue's event: %v, %d stored", err, count(kept.ID))
	}
	if n, err := s.PurgeIssues(ctx); err != nil || n != 0 {
		t.Fatalf("purge again = %d, %v; want nothing left", n, err)
	}
}

// testEventRetention checks that PurgeEvents deletes the issues last seen
// before the retention's start, leaving their events to PurgeIssues, and,
// of the issues kept, the events received before it, in every project:
// more than a thousand issues and events of them, so that both walks go
// past their first batch.
func testEventRetention(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	start := f.Clock.Now()

	// Before the retention's start: an issue that is never seen again, in
	// each of two projects, and 1,200 issues of one event each and a storm
	// of 2,500 events, which are seen again after it.
	expired, expiredEvent := f.Issue(t, "expired")
	p := &herald.Project{OrganizationID: f.Org.ID, TeamID: f.Team.ID, Slug: "other", Name: "Other"}
	must(t, s.CreateProject(ctx, p))
	others, otherEvents := f.Issues(t, p.ID, "expired", 1)
	otherExpired, otherEvent := others[0], otherEvents[0]
	kept, oldEvents := f.Issues(t, f.Project.ID, "kept", 1200)
	storm := kept[len(kept)-1]
	storms := f.Storm(t, storm, 2500)

	// Ten days on, every issue but the expired ones is seen again.
	f.Clock.Add(10 * 24 * time.Hour)
	var newEvents []*herald.Event
	f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
		counts := make([]sqlstore.IssueCount, len(kept))
		for i, is := range kept {
			e := f.Event(is.Hash)
			e.IssueID = is.ID
			newEvents = append(newEvents, e)
			counts[i] = sqlstore.IssueCount{IssueID: is.ID, Events: 1, LastSeen: e.Timestamp}
		}
		if err := tx.CountIssues(ctx, counts); err != nil {
			return err
		}
		return tx.InsertEvents(ctx, newEvents)
	})
	fresh, freshEvent := f.Issue(t, "fresh")

	issues, events, err := s.PurgeEvents(ctx, start.Add(5*24*time.Hour))
	must(t, err)
	if issues != 2 || events != 1200+2500 {
		t.Fatalf("purged %d issues and %d events, want the 2 expired issues and the 3,700 old events of the others", issues, events)
	}
	for _, e := range []*herald.Event{expiredEvent, otherEvent, oldEvents[0], oldEvents[1199], storms[2499]} {
		_, err := s.FindEventByID(ctx, e.ProjectID, e.ID)
		wantCode(t, err, herald.ENOTFOUND)
	}
	for _, id := range []int64{expired.ID, otherExpired.ID} {
		_, err := s.FindIssue(ctx, f.Org.ID, fmt.Sprint(id))
		wantCode(t, err, herald.ENOTFOUND)
	}
	if n := f.Count(t, `SELECT COUNT(*) FROM events WHERE received < %d`, start.Add(5*24*time.Hour).UnixMicro()); n != 2 {
		t.Fatalf("%d old events stored, want the expired issues' 2 left to PurgeIssues", n)
	}
	if n, err := s.PurgeIssues(ctx); err != nil || n != 2 {
		t.Fatalf("PurgeIssues = %d, %v; want the expired issues' 2 events", n, err)
	}
	for _, e := range append([]*herald.Event{freshEvent, newEvents[0]}, newEvents[1199]) {
		if _, err := s.FindEventByID(ctx, e.ProjectID, e.ID); err != nil {
			t.Fatalf("event %s received after the retention's start: %v", e.ID, err)
		}
	}
	if n := f.Count(t, `SELECT COUNT(*) FROM events`); n != 1200+1 {
		t.Fatalf("%d events stored, want the 1,201 received after the retention's start", n)
	}
	got, err := s.FindIssue(ctx, f.Org.ID, fmt.Sprint(storm.ID))
	must(t, err)
	if got.Count != 2 || !got.FirstSeen.Equal(start) {
		t.Fatalf("the storm's issue: count %d, first seen %s; want its count and first seen (%s) kept", got.Count, got.FirstSeen, start)
	}
	if _, err := s.FindIssue(ctx, f.Org.ID, fmt.Sprint(fresh.ID)); err != nil {
		t.Fatalf("the fresh issue: %v", err)
	}
	if issues, events, err := s.PurgeEvents(ctx, start.Add(5*24*time.Hour)); err != nil || issues != 0 || events != 0 {
		t.Fatalf("purge again = %d issues, %d events, %v; want nothing left", issues, events, err)
	}
}

// testRetentionBesideIngest checks that an issue a batch of events has
// found is not deleted by retention before the batch has counted it: the
// purge waits for the batch (a lock on PostgreSQL, the one writer on
// SQLite), then finds the issue seen again and keeps it, and the batch's
// event is kept with it rather than left to an issue deleted meanwhile.
func testRetentionBesideIngest(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	idle, _ := f.Issue(t, "idle")
	f.Clock.Add(100 * 24 * time.Hour)
	e := f.Event("idle")
	purged := make(chan error, 1)
	f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
		is, _, err := upsertIssue(ctx, tx, newIssue(f, e))
		if err != nil {
			return err
		}
		if is.ID != idle.ID {
			return fmt.Errorf("the batch found issue %d, want %d", is.ID, idle.ID)
		}
		go func() {
			_, _, err := s.PurgeEvents(ctx, f.Clock.Now().Add(-90*24*time.Hour))
			purged <- err
		}()
		// The purge, given time, would delete the issue now, were it not
		// made to wait.
		select {
		case err := <-purged:
			purged <- err
		case <-time.After(300 * time.Millisecond):
		}
		e.IssueID = is.ID
		if err := tx.CountIssues(ctx, []sqlstore.IssueCount{{IssueID: is.ID, Events: 1, LastSeen: e.Timestamp}}); err != nil {
			return err
		}
		return tx.InsertEvents(ctx, []*herald.Event{e})
	})
	must(t, <-purged)
	if _, err := s.FindIssue(ctx, f.Org.ID, fmt.Sprint(idle.ID)); err != nil {
		t.Fatalf("the issue seen again during the purge: %v", err)
	}
	if _, err := s.FindEventByID(ctx, f.Project.ID, e.ID); err != nil {
		t.Fatalf("the event that saw it again: %v", err)
	}
}

// testProjectPurges checks that deleting a project hides it, its issues
// and its events at once, takes its keys and hooks, frees its slug, and
// leaves its events, issues and their alert counters to PurgeProjects,
// which deletes them all, a batch at a time, and then the project, and
// nothing of another project.
func testProjectPurges(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	p := &herald.Project{OrganizationID: f.Org.ID, TeamID: f.Team.ID, Slug: "gone", Name: "Gone"}
	must(t, s.CreateProject(ctx, p))
	keys, err := s.FindProjectKeys(ctx, p.ID)
	must(t, err)
	hook := &herald.Hook{ProjectID: p.ID, URL: "https://example.com/gone", Events: []string{herald.HookEventCreated}}
	must(t, s.CreateHook(ctx, hook))
	kept, keptEvent := f.Issue(t, "kept")
	issues, _ := f.Issues(t, p.ID, "gone", 1100)
	f.Storm(t, issues[0], 1500)
	f.Counted(t, kept)
	f.Counted(t, issues[0])
	f.SecondCounters(t, issues[1], f.Clock.Now().Add(-time.Hour), 1200)
	keptRows := f.IssueRows(t, kept.ID)
	count := func(table string, projectID int64) int {
		return f.Count(t, `SELECT COUNT(*) FROM %s WHERE project_id = %d`, table, projectID)
	}

	must(t, s.DeleteProject(ctx, p.ID))
	wantCode(t, s.DeleteProject(ctx, p.ID), herald.ENOTFOUND)
	_, err = s.FindProjectByID(ctx, p.ID)
	wantCode(t, err, herald.ENOTFOUND)
	_, err = s.FindProjectBySlug(ctx, f.Org.ID, "gone")
	wantCode(t, err, herald.ENOTFOUND)
	_, err = s.FindProjectKey(ctx, p.ID, keys[0].Public)
	wantCode(t, err, herald.ENOTFOUND)
	_, err = s.FindHookByID(ctx, p.ID, hook.ID)
	wantCode(t, err, herald.ENOTFOUND)
	_, err = s.FindIssue(ctx, f.Org.ID, fmt.Sprint(issues[0].ID))
	wantCode(t, err, herald.ENOTFOUND)
	_, err = s.FindIssue(ctx, f.Org.ID, issues[0].ShortID)
	wantCode(t, err, herald.ENOTFOUND)
	listed, _, err := s.FindProjects(ctx, f.Org.ID, herald.Page{})
	must(t, err)
	if len(listed) != 1 || listed[0].ID != f.Project.ID {
		t.Fatalf("%d projects listed after the deletion, want only %q", len(listed), f.Project.Slug)
	}
	again := &herald.Project{OrganizationID: f.Org.ID, TeamID: f.Team.ID, Slug: "gone", Name: "Gone again"}
	must(t, s.CreateProject(ctx, again))
	if n := count("events", p.ID); n != 2600 {
		t.Fatalf("%d events of the deleted project stored before the purge, want 2,600", n)
	}

	n, err := s.PurgeProjects(ctx)
	must(t, err)
	// The counters: 1,201 second counters, a minute counter, two users
	// seen in that minute and two seen on the issue.
	if n != 2600+1100+1206 || count("events", p.ID) != 0 || count("issues", p.ID) != 0 {
		t.Fatalf("purged %d rows, %d events and %d issues left; want 4,906 and none", n, count("events", p.ID), count("issues", p.ID))
	}
	for _, is := range issues[:2] {
		for table, left := range f.IssueRows(t, is.ID) {
			if left != 0 {
				t.Fatalf("%d rows of issue %d left in %s", left, is.ID, table)
			}
		}
	}
	if rows := f.IssueRows(t, kept.ID); fmt.Sprint(rows) != fmt.Sprint(keptRows) {
		t.Fatalf("the other project's issue's rows after the purge: %v, want %v", rows, keptRows)
	}
	if f.Count(t, `SELECT COUNT(*) FROM projects WHERE id = %d`, p.ID) != 0 {
		t.Fatal("the deleted project's row is left after its purge")
	}
	if _, err := s.FindEventByID(ctx, f.Project.ID, keptEvent.ID); err != nil {
		t.Fatalf("the other project's event: %v", err)
	}
	if _, err := s.FindIssue(ctx, f.Org.ID, fmt.Sprint(kept.ID)); err != nil {
		t.Fatalf("the other project's issue: %v", err)
	}
	if _, err := s.FindProjectBySlug(ctx, f.Org.ID, "gone"); err != nil {
		t.Fatalf("the project made with the freed slug: %v", err)
	}
	if n, err := s.PurgeProjects(ctx); err != nil || n != 0 {
		t.Fatalf("purge again = %d, %v; want nothing left", n, err)
	}

	// The newest project deleted and purged: the next project still gets
	// a new id.
	f.Issues(t, again.ID, "again", 3)
	must(t, s.DeleteProject(ctx, again.ID))
	if n, err := s.PurgeProjects(ctx); err != nil || n != 6 || count("events", again.ID) != 0 || count("issues", again.ID) != 0 {
		t.Fatalf("PurgeProjects = %d, %v; want the newest project's 3 events and 3 issues, and none left", n, err)
	}
	f.wantIDNotGivenAgain(t, "projects", again.ID, func() int64 {
		next := &herald.Project{OrganizationID: f.Org.ID, TeamID: f.Team.ID, Slug: "next", Name: "Next"}
		must(t, s.CreateProject(ctx, next))
		return next.ID
	}, s.PurgeProjects)
}

// testAlertCountPurges checks that PurgeAlertCounts deletes every counter
// older than its age, however many (on SQLite, over several batches), and
// none younger: 2,600 second counters of an issue from 40 days ago, 10
// from the last ten seconds.
func testAlertCountPurges(t *testing.T, open Opener) {
	f := NewFixture(t, open)
	issue, _ := f.Issue(t, "counted")
	now := f.Clock.Now()
	f.SecondCounters(t, issue, now.Add(-40*24*time.Hour), 2600)
	f.SecondCounters(t, issue, now.Add(-9*time.Second), 10)
	n, err := f.Store.PurgeAlertCounts(context.Background(), now)
	must(t, err)
	if left := f.Count(t, `SELECT COUNT(*) FROM issue_seconds WHERE issue_id = %d`, issue.ID); n != 2600 || left != 10 {
		t.Fatalf("purged %d counters, %d left; want 2,600 and the 10 of the last ten seconds", n, left)
	}
}

// SecondCounters stores n second counters of issue, of one event each, one
// a second from the second of from on.
func (f *Fixture) SecondCounters(t testing.TB, issue *herald.Issue, from time.Time, n int) {
	t.Helper()
	_, err := f.Store.SQL().ExecContext(context.Background(), fmt.Sprintf(`WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < %d)
		INSERT INTO issue_seconds (issue_id, second, events) SELECT %d, %d + i, 1 FROM s`, n-1, issue.ID, from.Unix()))
	must(t, err)
}
