package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/sqlstore"
)

func deliveryIDs(ds []*herald.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	slices.Sort(out)
	return out
}

// testClaims checks the outbox the dispatchers of every node share: what is
// due, claims that exclude each other and lapse, release, and deliveries
// claimed as they are written.
func testClaims(t *testing.T, open Opener) {
	ctx := context.Background()
	lease := time.Minute

	t.Run("IdlePollWaitsForNoWriter", func(t *testing.T) {
		// A poll that finds nothing due returns while another
		// transaction holds the database (SQLite's single writer),
		// instead of waiting for it.
		f := NewFixture(t, open)
		h := f.Hook(t, "https://example.com/hook", herald.HookEventCreated)
		f.Deliveries(t, h, 1)
		_, err := f.Store.ClaimDeliveries(ctx, "node-a", 10, f.Clock.Now().Add(lease))
		must(t, err)
		f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
			if err := tx.InsertEvents(ctx, []*herald.Event{f.Event("held-writer")}); err != nil {
				return err
			}
			short, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			got, err := f.Store.ClaimDeliveries(short, "node-b", 10, f.Clock.Now().Add(lease))
			if err != nil || len(got) != 0 {
				t.Errorf("idle poll beside a writer = %v, %v", deliveryIDs(got), err)
			}
			return nil
		})
	})
	t.Run("ClaimLapseRelease", func(t *testing.T) {
		f := NewFixture(t, open)
		s := f.Store
		h := f.Hook(t, "https://example.com/hook", herald.HookEventCreated)
		f.Deliveries(t, h, 3)
		now := f.Clock.Now()

		first, err := s.ClaimDeliveries(ctx, "node-a", 2, now.Add(lease))
		must(t, err)
		if len(first) != 2 || first[0].URL != h.URL || !first[0].DestinationActive || len(first[0].Body) == 0 {
			t.Fatalf("first claim = %d deliveries, %+v", len(first), first)
		}
		rest, err := s.ClaimDeliveries(ctx, "node-b", 10, now.Add(lease))
		must(t, err)
		if len(rest) != 1 || slices.Contains(deliveryIDs(first), rest[0].ID) {
			t.Fatalf("second claim = %v, first %v", deliveryIDs(rest), deliveryIDs(first))
		}
		none, err := s.ClaimDeliveries(ctx, "node-b", 10, now.Add(lease))
		must(t, err)
		if len(none) != 0 {
			t.Fatalf("claimed deliveries another node holds: %v", deliveryIDs(none))
		}

		// node-a dies: its claims lapse after the lease.
		f.Clock.Add(lease + time.Second)
		lapsed, err := s.ClaimDeliveries(ctx, "node-b", 10, f.Clock.Now().Add(lease))
		must(t, err)
		if !slices.Equal(deliveryIDs(lapsed), deliveryIDs(append(first, rest...))) {
			t.Fatalf("after the lease node-b claimed %v", deliveryIDs(lapsed))
		}

		// node-b restarts: it releases its own claims at once.
		n, err := s.ReleaseDeliveries(ctx, "node-b")
		must(t, err)
		if n != 3 {
			t.Fatalf("released %d, want 3", n)
		}
		again, err := s.ClaimDeliveries(ctx, "node-a", 10, f.Clock.Now().Add(lease))
		must(t, err)
		if len(again) != 3 {
			t.Fatalf("claimed %d after release, want 3", len(again))
		}
		if _, err := s.ClaimDeliveries(ctx, "node-a", 0, f.Clock.Now()); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("RetryDueAtItsTime", func(t *testing.T) {
		f := NewFixture(t, open)
		s := f.Store
		f.Deliveries(t, f.Hook(t, "https://example.com/hook", herald.HookEventCreated), 2)
		ds, err := s.ClaimDeliveries(ctx, "node-a", 10, f.Clock.Now().Add(lease))
		must(t, err)
		if len(ds) != 2 {
			t.Fatalf("claimed %d", len(ds))
		}
		now := f.Clock.Now()
		must(t, s.CompleteDeliveries(ctx, []*herald.Outcome{
			{DeliveryID: ds[0].ID, Attempt: &herald.Attempt{StatusCode: 503}, NextAttemptAt: now.Add(30 * time.Second)},
			{DeliveryID: ds[1].ID, Attempt: &herald.Attempt{StatusCode: 200}, Delivered: true},
		}))
		f.Clock.Add(29 * time.Second)
		early, err := s.ClaimDeliveries(ctx, "node-b", 10, f.Clock.Now().Add(lease))
		must(t, err)
		if len(early) != 0 {
			t.Fatalf("claimed %d before the retry was due", len(early))
		}
		f.Clock.Add(time.Second)
		due, err := s.ClaimDeliveries(ctx, "node-b", 10, f.Clock.Now().Add(lease))
		must(t, err)
		if len(due) != 1 || due[0].ID != ds[0].ID || due[0].Attempts != 1 {
			t.Fatalf("due retry = %+v", due)
		}
	})

	t.Run("ConcurrentClaimsDisjoint", func(t *testing.T) {
		f := NewFixture(t, open)
		s := f.Store
		f.Deliveries(t, f.Hook(t, "https://example.com/hook", herald.HookEventCreated), 40)
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				for {
					ds, err := s.ClaimDeliveries(ctx, "node-"+string(rune('a'+i)), 3, f.Clock.Now().Add(lease))
					if err != nil {
						t.Error(err)
						return
					}
					if len(ds) == 0 {
						return
					}
					mu.Lock()
					for _, d := range ds {
						seen[d.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != 40 {
			t.Fatalf("claimed %d distinct deliveries, want 40", len(seen))
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("delivery %s claimed %d times", id, n)
			}
		}
	})

	t.Run("ClaimedAsWritten", func(t *testing.T) {
		f := NewFixture(t, open)
		s := f.Store
		h := f.Hook(t, "https://example.com/hook", herald.HookEventCreated)
		// Deliveries a node claims as it writes them, until the lease.
		now := f.Clock.Now()
		ds := f.Deliveries(t, h, 0)
		for i := range 2 {
			body := fmt.Appendf(nil, `{"claimed":%d}`, i)
			ds = append(ds, &herald.Delivery{ID: herald.NewTimeID(now), DestinationKind: herald.DestinationHook, DestinationID: h.ID,
				ProjectID: f.Project.ID, OrganizationID: f.Org.ID, Event: herald.HookEventCreated, Body: body, Signature: "s",
				Timestamp: now.Unix(), NextAttemptAt: now.Add(lease), CreatedAt: now, UpdatedAt: now, ClaimedBy: "node-a"})
		}
		must(t, s.InTx(ctx, func(tx *sqlstore.Tx) error { return tx.InsertDeliveries(ctx, ds) }))
		other, err := s.ClaimDeliveries(ctx, "node-b", 10, now.Add(lease))
		must(t, err)
		if len(other) != 0 {
			t.Fatalf("node-b claimed %d deliveries node-a holds", len(other))
		}
		// A redelivery of a claimed pending delivery keeps the claim; of a
		// delivered one, it is due at once.
		_, err = s.Redeliver(ctx, ds[0].ID)
		must(t, err)
		must(t, s.CompleteDeliveries(ctx, []*herald.Outcome{{DeliveryID: ds[1].ID, Attempt: &herald.Attempt{StatusCode: 200}, Delivered: true}}))
		_, err = s.Redeliver(ctx, ds[1].ID)
		must(t, err)
		due, err := s.ClaimDeliveries(ctx, "node-b", 10, f.Clock.Now().Add(lease))
		must(t, err)
		if len(due) != 1 || due[0].ID != ds[1].ID {
			t.Fatalf("due after redeliver = %v, want only %s", deliveryIDs(due), ds[1].ID)
		}
		must(t, s.CompleteDeliveries(ctx, []*herald.Outcome{{DeliveryID: ds[1].ID, Attempt: &herald.Attempt{StatusCode: 200}, Delivered: true}}))
		// node-a restarts: it releases its claim at once.
		n, err := s.ReleaseDeliveries(ctx, "node-a")
		must(t, err)
		released, err := s.ClaimDeliveries(ctx, "node-b", 10, f.Clock.Now().Add(lease))
		must(t, err)
		if n != 1 || len(released) != 1 || released[0].ID != ds[0].ID {
			t.Fatalf("released %d, then claimed %v", n, deliveryIDs(released))
		}
	})

	t.Run("BodiesGoWithTheirDeliveries", func(t *testing.T) {
		f := NewFixture(t, open)
		s := f.Store
		h := f.Hook(t, "https://example.com/hook", herald.HookEventCreated)
		other := f.Hook(t, "https://example.com/other", herald.HookEventCreated)
		f.Deliveries(t, h, 2)
		f.Deliveries(t, other, 2)
		if all, _ := f.StoredBodies(t); all != 4 {
			t.Fatalf("%d bodies for 4 deliveries", all)
		}
		// Retention takes finished deliveries with their bodies.
		list, _, err := s.FindDeliveries(ctx, herald.DeliveryFilter{DestinationKind: herald.DestinationHook, DestinationID: other.ID})
		must(t, err)
		f.Delivered(t, list...)
		n, err := s.PurgeDeliveries(ctx, f.Clock.Now().Add(time.Hour))
		must(t, err)
		if all, orphans := f.StoredBodies(t); n != 2 || all != 2 || orphans != 0 {
			t.Fatalf("purged %d; %d bodies left, %d orphans", n, all, orphans)
		}
		// Deleting a hook takes its deliveries with their bodies.
		must(t, s.DeleteHook(ctx, f.Project.ID, h.ID))
		if _, err := s.PurgeDestinations(ctx); err != nil {
			t.Fatal(err)
		}
		if all, orphans := f.StoredBodies(t); all != 0 || orphans != 0 {
			t.Fatalf("after deleting the hook: %d bodies, %d orphans", all, orphans)
		}
	})
}

// testBacklog checks the figures the backlog metrics read: pending
// deliveries, the earliest due time among them, and disabled hooks.
func testBacklog(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	b, err := s.Backlog(ctx)
	must(t, err)
	if b.Pending != 0 || !b.OldestDue.IsZero() || !b.OldestCreated.IsZero() || b.DisabledHooks != 0 {
		t.Fatalf("empty store backlog = %+v", b)
	}
	h := f.Hook(t, "https://example.com/backlog", herald.HookEventCreated)
	first := f.Deliveries(t, h, 2)
	f.Clock.Add(time.Minute)
	f.Deliveries(t, h, 1)
	// A delivered one is not pending any more.
	must(t, s.CompleteDeliveries(ctx, []*herald.Outcome{{DeliveryID: first[1].ID,
		Attempt: &herald.Attempt{DeliveryID: first[1].ID, Number: 1, URL: h.URL, StatusCode: 200, CreatedAt: f.Clock.Now()}}}))
	off := herald.HookDisabled
	_, err = s.UpdateHook(ctx, f.Project.ID, f.Hook(t, "https://example.com/off", herald.HookEventCreated).ID, herald.HookUpdate{Status: &off})
	must(t, err)
	b, err = s.Backlog(ctx)
	must(t, err)
	if b.Pending != 2 || !b.OldestDue.Equal(first[0].NextAttemptAt) || !b.OldestCreated.Equal(first[0].CreatedAt) || b.DisabledHooks != 1 {
		t.Fatalf("backlog = %+v, want 2 pending, oldest due and created %v, 1 disabled hook", b, first[0].NextAttemptAt)
	}
}
