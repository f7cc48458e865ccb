package service_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/storetest"
	"github.com/herald-dev/herald/internal/webhook"
)

func testSaveEvents(t *testing.T, open storetest.Opener) {
	ctx := context.Background()
	f := newFixture(t, open)
	s := f.Store
	h := f.Hook(t, "https://example.com/hook", herald.HookEventCreated)
	f.Hook(t, "https://example.com/alerts-only", herald.HookEventAlert)

	a1, a2, b := f.Event("aaaa"), f.Event("aaaa"), f.Event("bbbb")
	must(t, f.Changes.SaveEvents(ctx, []*herald.Event{a1, a2, b}))
	t.Run("Grouping", func(t *testing.T) {
		if a1.IssueID == 0 || a1.IssueID != a2.IssueID || a1.IssueID == b.IssueID {
			t.Fatalf("issue ids %d %d %d", a1.IssueID, a2.IssueID, b.IssueID)
		}
		is, err := s.FindIssueByID(ctx, a1.IssueID)
		must(t, err)
		if is.Count != 2 || is.Status != herald.IssueUnresolved || is.Substatus != "new" || !strings.HasPrefix(is.ShortID, "WEB-") {
			t.Fatalf("issue = %+v", is)
		}
		issues, _, err := s.SearchIssues(ctx, herald.IssueSearch{ProjectID: f.Project.ID})
		must(t, err)
		if len(issues) != 2 {
			t.Fatalf("issues = %d", len(issues))
		}
	})
	t.Run("EventStored", func(t *testing.T) {
		e, err := s.FindEventByID(ctx, f.Project.ID, a1.ID)
		must(t, err)
		if e.IssueID != a1.IssueID || len(e.Tags) != 2 || e.Tags[0].Key != "environment" || string(e.Data) != `{"event_id":"x"}` {
			t.Fatalf("event = %+v", e)
		}
	})
	t.Run("DeliveriesInSameTransaction", func(t *testing.T) {
		list, _, err := s.FindDeliveries(ctx, herald.DeliveryFilter{DestinationKind: herald.DestinationHook, DestinationID: h.ID})
		must(t, err)
		if len(list) != 3 {
			t.Fatalf("deliveries = %d, want one per event", len(list))
		}
		for _, d := range list {
			var body struct {
				Event struct {
					EventID string `json:"event_id"`
				} `json:"event"`
			}
			must(t, json.Unmarshal(d.Body, &body))
			if d.Status != herald.DeliveryPending || d.Signature != webhook.Sign(h.Secret, d.Body) || d.Event != herald.HookEventCreated {
				t.Fatalf("delivery = %+v", d)
			}
		}
	})
	t.Run("DuplicateEventSkipped", func(t *testing.T) {
		dup := *a1
		must(t, f.Changes.SaveEvents(ctx, []*herald.Event{&dup}))
		is, err := s.FindIssueByID(ctx, a1.IssueID)
		must(t, err)
		if is.Count != 2 {
			t.Fatalf("count after duplicate = %d", is.Count)
		}
	})
	t.Run("UserCount", func(t *testing.T) {
		batch := func(users ...string) []*herald.Event {
			var out []*herald.Event
			for _, u := range users {
				e := f.Event("users")
				e.UserKey = u
				out = append(out, e)
			}
			return out
		}
		first := batch("id:1", "id:1", "id:2", "")
		must(t, f.Changes.SaveEvents(ctx, first))
		must(t, f.Changes.SaveEvents(ctx, batch("id:2", "id:3")))
		is, err := s.FindIssueByID(ctx, first[0].IssueID)
		must(t, err)
		if is.UserCount != 3 || is.Count != 6 {
			t.Fatalf("userCount = %d, count = %d; want 3 and 6", is.UserCount, is.Count)
		}
	})
	t.Run("UnknownProjectSkipped", func(t *testing.T) {
		e := f.Event("cccc")
		e.ProjectID = 999999
		must(t, f.Changes.SaveEvents(ctx, []*herald.Event{e}))
	})
}

// testConfigChanges checks that a batch sees every configuration change
// committed before it starts, though batches read configuration through
// the store's cache, while batches of another project commit beside it
// (two at once on PostgreSQL, as its committers do): each round rotates a
// hook's secret, then saves an event, whose delivery must be signed with
// the new secret.
func testConfigChanges(t *testing.T, open storetest.Opener) {
	ctx := context.Background()
	f := newFixture(t, open)
	h := f.Hook(t, "https://example.com/config", herald.HookEventCreated)
	other := &herald.Project{OrganizationID: f.Org.ID, TeamID: f.Team.ID, Slug: "other", Name: "Other", Platform: "go"}
	must(t, f.Store.CreateProject(ctx, other))
	must(t, f.Store.CreateHook(ctx, &herald.Hook{ProjectID: other.ID, URL: "https://example.com/other", Events: []string{herald.HookEventCreated}}))

	stop := make(chan struct{})
	busy := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				busy <- nil
				return
			default:
			}
			e := f.Event("busy")
			e.ProjectID = other.ID
			if err := f.Changes.SaveEvents(ctx, []*herald.Event{e}); err != nil {
				busy <- err
				return
			}
		}
	}()
	for round := range 20 {
		rotated, err := f.Store.RotateHookSecret(ctx, f.Project.ID, h.ID)
		must(t, err)
		e := f.Event("checked")
		must(t, f.Changes.SaveEvents(ctx, []*herald.Event{e}))
		list, _, err := f.Store.FindDeliveries(ctx, herald.DeliveryFilter{DestinationKind: herald.DestinationHook, DestinationID: h.ID,
			Page: herald.Page{Limit: 100}})
		must(t, err)
		i := slices.IndexFunc(list, func(d *herald.Delivery) bool { return strings.Contains(string(d.Body), e.ID) })
		if len(list) != round+1 || i < 0 {
			t.Fatalf("round %d: %d deliveries, the event's at %d", round, len(list), i)
		}
		if list[i].Signature != webhook.Sign(rotated.Secret, list[i].Body) {
			t.Fatalf("round %d: the delivery is not signed with the secret rotated before its batch", round)
		}
	}
	close(stop)
	must(t, <-busy)
}
