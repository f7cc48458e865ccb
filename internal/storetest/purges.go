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
// deletes them all, a thousand at a time, with their bodies, and nothing
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
// thousand at a time, and no other issue's.
func testIssuePurges(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	gone, first := f.Issue(t, "gone")
	kept, other := f.Issue(t, "kept")
	events := make([]*herald.Event, 2499)
	for i := range events {
		events[i] = f.Event("gone")
		events[i].IssueID = gone.ID
	}
	f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error { return tx.InsertEvents(ctx, events) })
	count := func(issueID int64) int {
		t.Helper()
		var n int
		must(t, s.SQL().QueryRowContext(ctx, fmt.Sprintf(`SELECT COUNT(*) FROM events WHERE issue_id = %d`, issueID)).Scan(&n))
		return n
	}

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
