package storetest

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-dev/herald"
)

// handoff records what a store hands over after commit.
type handoff struct {
	mu  sync.Mutex
	got []*herald.Delivery
}

func (h *handoff) Dispatch(ds []*herald.Delivery) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, ds...)
}

// Defer defers deliveries to URLs ending in "/busy" by 30s.
func (h *handoff) Defer(d *herald.Delivery) time.Duration {
	if strings.HasSuffix(d.URL, "/busy") {
		return 30 * time.Second
	}
	return 0
}

func (h *handoff) take() []*herald.Delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	got := h.got
	h.got = nil
	return got
}

func deliveryIDs(ds []*herald.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	slices.Sort(out)
	return out
}

// testClaims checks the outbox the dispatchers of every node share: what is
// due, claims that exclude each other and lapse, release, and the handoff
// of deliveries a node writes.
func testClaims(t *testing.T, open Opener) {
	ctx := context.Background()
	lease := time.Minute

	t.Run("ClaimLapseRelease", func(t *testing.T) {
		f := NewFixture(t, open)
		s := f.Store
		h := f.Hook(t, "https://example.com/hook", herald.HookEventCreated)
		must(t, s.SaveEvents(ctx, []*herald.Event{f.Event("a"), f.Event("b"), f.Event("c")}))
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
		f.Hook(t, "https://example.com/hook", herald.HookEventCreated)
		must(t, s.SaveEvents(ctx, []*herald.Event{f.Event("a"), f.Event("b")}))
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
		f.Hook(t, "https://example.com/hook", herald.HookEventCreated)
		var events []*herald.Event
		for range 40 {
			events = append(events, f.Event("a"))
		}
		must(t, s.SaveEvents(ctx, events))
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

	t.Run("HandoffAfterCommit", func(t *testing.T) {
		f := NewFixture(t, open)
		s := f.Store
		h := f.Hook(t, "https://example.com/hook", herald.HookEventCreated)
		ho := &handoff{}
		s.SetHandoff("node-a", lease, ho)
		must(t, s.SaveEvents(ctx, []*herald.Event{f.Event("a"), f.Event("b")}))
		got := ho.take()
		if len(got) != 2 || got[0].URL != h.URL || !got[0].DestinationActive || len(got[0].Body) == 0 {
			t.Fatalf("handed over %+v", got)
		}
		// They are claimed by node-a: no other node takes them.
		other, err := s.ClaimDeliveries(ctx, "node-b", 10, f.Clock.Now().Add(lease))
		must(t, err)
		if len(other) != 0 {
			t.Fatalf("node-b claimed %d deliveries node-a was handed", len(other))
		}
		// A redelivery of a claimed pending delivery keeps the claim; of a
		// delivered one, it is due at once.
		_, err = s.Redeliver(ctx, got[0].ID)
		must(t, err)
		must(t, s.CompleteDeliveries(ctx, []*herald.Outcome{{DeliveryID: got[1].ID, Attempt: &herald.Attempt{StatusCode: 200}, Delivered: true}}))
		_, err = s.Redeliver(ctx, got[1].ID)
		must(t, err)
		due, err := s.ClaimDeliveries(ctx, "node-b", 10, f.Clock.Now().Add(lease))
		must(t, err)
		if len(due) != 1 || due[0].ID != got[1].ID {
			t.Fatalf("due after redeliver = %v, want only %s", deliveryIDs(due), got[1].ID)
		}
		if len(ho.take()) != 0 {
			t.Fatal("redelivery was handed over")
		}
		// A delivery the handoff defers is written unclaimed, due after the
		// wait, and not handed over.
		busy := f.Hook(t, "https://example.com/busy", herald.HookEventCreated)
		must(t, s.SaveEvents(ctx, []*herald.Event{f.Event("c")}))
		handed := ho.take()
		if len(handed) != 1 || handed[0].DestinationID != h.ID {
			t.Fatalf("handed over %d deliveries, or the deferred one", len(handed))
		}
		// Claims last a minute: at 30s only the deferred delivery is due.
		f.Clock.Add(29 * time.Second)
		early, err := s.ClaimDeliveries(ctx, "node-b", 10, f.Clock.Now().Add(lease))
		must(t, err)
		if len(early) != 0 {
			t.Fatalf("claimed %d before the deferred delivery was due", len(early))
		}
		f.Clock.Add(time.Second)
		deferred, err := s.ClaimDeliveries(ctx, "node-b", 10, f.Clock.Now().Add(lease))
		must(t, err)
		if len(deferred) != 1 || deferred[0].DestinationID != busy.ID || deferred[0].Attempts != 0 {
			t.Fatalf("deferred delivery claimed = %+v", deferred)
		}
		// A transaction that writes nothing hands nothing over.
		must(t, s.SaveEvents(ctx, []*herald.Event{{ID: herald.NewID(), ProjectID: 1 << 40}}))
		if len(ho.take()) != 0 {
			t.Fatal("handed over deliveries of an unknown project")
		}
	})

	t.Run("BodiesGoWithTheirDeliveries", func(t *testing.T) {
		f := NewFixture(t, open)
		s := f.Store
		bodies := func() (all, orphans int) {
			t.Helper()
			must(t, s.SQL().QueryRow(`SELECT COUNT(*) FROM delivery_bodies`).Scan(&all))
			must(t, s.SQL().QueryRow(`SELECT COUNT(*) FROM delivery_bodies WHERE id NOT IN (SELECT id FROM deliveries)`).Scan(&orphans))
			return all, orphans
		}
		h := f.Hook(t, "https://example.com/hook", herald.HookEventCreated)
		other := f.Hook(t, "https://example.com/other", herald.HookEventCreated)
		must(t, s.SaveEvents(ctx, []*herald.Event{f.Event("a"), f.Event("b")}))
		if all, _ := bodies(); all != 4 {
			t.Fatalf("%d bodies for 4 deliveries", all)
		}
		// Retention takes finished deliveries with their bodies.
		list, _, err := s.FindDeliveries(ctx, herald.DeliveryFilter{DestinationKind: herald.DestinationHook, DestinationID: other.ID})
		must(t, err)
		var out []*herald.Outcome
		for _, d := range list {
			out = append(out, &herald.Outcome{DeliveryID: d.ID, Attempt: &herald.Attempt{StatusCode: 200}, Delivered: true})
		}
		must(t, s.CompleteDeliveries(ctx, out))
		n, err := s.PurgeDeliveries(ctx, f.Clock.Now().Add(time.Hour))
		must(t, err)
		if all, orphans := bodies(); n != 2 || all != 2 || orphans != 0 {
			t.Fatalf("purged %d; %d bodies left, %d orphans", n, all, orphans)
		}
		// Deleting a hook takes its deliveries with their bodies.
		must(t, s.DeleteHook(ctx, f.Project.ID, h.ID))
		if all, orphans := bodies(); all != 0 || orphans != 0 {
			t.Fatalf("after deleting the hook: %d bodies, %d orphans", all, orphans)
		}
	})
}
