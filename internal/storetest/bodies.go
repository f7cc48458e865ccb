package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/sqlstore"
)

// StoredBodies counts the stored delivery bodies, and those of them no
// delivery uses (neither its owner, the delivery of the same id, nor one
// naming it in body_id).
func (f *Fixture) StoredBodies(t testing.TB) (all, orphans int) {
	t.Helper()
	db := f.Store.SQL()
	must(t, db.QueryRow(`SELECT COUNT(*) FROM delivery_bodies`).Scan(&all))
	must(t, db.QueryRow(`SELECT COUNT(*) FROM delivery_bodies
		WHERE id NOT IN (SELECT id FROM deliveries) AND id NOT IN (SELECT body_id FROM deliveries)`).Scan(&orphans))
	return all, orphans
}

// Delivered records a first attempt answered 200 for each of ds.
func (f *Fixture) Delivered(t testing.TB, ds ...*herald.Delivery) {
	t.Helper()
	out := make([]*herald.Outcome, len(ds))
	for i, d := range ds {
		out[i] = &herald.Outcome{DeliveryID: d.ID, Attempt: &herald.Attempt{StatusCode: 200}, Delivered: true}
	}
	must(t, f.Store.CompleteDeliveries(context.Background(), out))
}

// testSharedBodies checks that deliveries written with one body slice (an
// event's deliveries to several hooks) keep one stored copy of it, that
// each reads it back, and that the copy stays while any delivery using it
// does: deleting the hook of the delivery that owns it and purging some of
// the others keep it, purging the last one removes it.
func testSharedBodies(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	a := f.Hook(t, "https://example.com/a", herald.HookEventCreated)
	b := f.Hook(t, "https://example.com/b", herald.HookEventCreated)
	c := f.Hook(t, "https://example.com/c", herald.HookEventCreated)
	now := f.Clock.Now()
	shared := []byte(`{"shared":true}`)
	delivery := func(h *herald.Hook, body []byte) *herald.Delivery {
		return &herald.Delivery{ID: herald.NewTimeID(now), DestinationKind: herald.DestinationHook, DestinationID: h.ID,
			ProjectID: h.ProjectID, OrganizationID: f.Org.ID, Event: herald.HookEventCreated, Body: body,
			Signature: "sig-" + h.ID, Timestamp: now.Unix(), Status: herald.DeliveryPending,
			NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
	}
	ds := []*herald.Delivery{delivery(a, shared), delivery(b, shared), delivery(a, []byte(`{"own":1}`)), delivery(c, shared)}
	must(t, s.InTx(ctx, func(tx *sqlstore.Tx) error { return tx.InsertDeliveries(ctx, ds) }))

	bodies := func(t *testing.T, want int) {
		t.Helper()
		if n, _ := f.StoredBodies(t); n != want {
			t.Fatalf("%d stored bodies, want %d", n, want)
		}
	}
	readBack := func(t *testing.T, ds ...*herald.Delivery) {
		t.Helper()
		for _, d := range ds {
			got, err := s.FindDeliveryByID(ctx, d.ID)
			must(t, err)
			if string(got.Body) != string(d.Body) || got.Signature != d.Signature {
				t.Fatalf("delivery to %s: body %q signature %q, want %q %q", d.DestinationID, got.Body, got.Signature, d.Body, d.Signature)
			}
		}
	}

	t.Run("OneCopy", func(t *testing.T) {
		bodies(t, 2)
		readBack(t, ds...)
		send, err := s.FindDeliveriesToSend(ctx, []string{ds[0].ID, ds[1].ID, ds[2].ID, ds[3].ID})
		must(t, err)
		if len(send) != 4 {
			t.Fatalf("%d deliveries to send, want 4", len(send))
		}
		for _, d := range send {
			want := string(shared)
			if d.ID == ds[2].ID {
				want = `{"own":1}`
			}
			if string(d.Body) != want {
				t.Fatalf("delivery %s to send has body %q, want %q", d.ID, d.Body, want)
			}
		}
	})
	t.Run("OwnerDeleted", func(t *testing.T) {
		must(t, s.DeleteHook(ctx, f.Project.ID, a.ID))
		if _, err := s.PurgeDestinations(ctx); err != nil {
			t.Fatal(err)
		}
		bodies(t, 1)
		readBack(t, ds[1], ds[3])
	})
	t.Run("PurgedOneByOne", func(t *testing.T) {
		f.Delivered(t, ds[1])
		f.Clock.Add(time.Hour)
		n, err := s.PurgeDeliveries(ctx, f.Clock.Now())
		must(t, err)
		if n != 1 {
			t.Fatalf("purged %d, want the one finished delivery", n)
		}
		bodies(t, 1)
		readBack(t, ds[3])
		f.Delivered(t, ds[3])
		n, err = s.PurgeDeliveries(ctx, f.Clock.Now())
		must(t, err)
		if n != 1 {
			t.Fatalf("purged %d, want the last delivery", n)
		}
		bodies(t, 0)
	})
}
