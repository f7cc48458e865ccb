package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/storetest"
)

// testHandoff checks that the Service Hook and Sentry App deliveries a
// change writes are claimed by the node and handed to its dispatcher once they commit, and
// that a destination the dispatcher says is stalled gets its delivery
// written unclaimed and due later instead.
func testHandoff(t *testing.T, open storetest.Opener) {
	ctx := context.Background()
	d := &dispatcher{}
	f := newFixture(t, open, d)
	s := f.Store
	lease := d.Lease()
	h := f.Hook(t, "https://example.com/hook", herald.HookEventCreated)
	must(t, f.Changes.SaveEvents(ctx, []*herald.Event{f.Event("a"), f.Event("b")}))
	got := d.take()
	if len(got) != 2 || got[0].URL != h.URL || !got[0].DestinationActive || len(got[0].Body) == 0 || got[0].ClaimedBy != "node-a" {
		t.Fatalf("handed over %+v", got)
	}
	// They are claimed by node-a: no other node takes them.
	other, err := s.ClaimDeliveries(ctx, "node-b", 10, f.Clock.Now().Add(lease))
	must(t, err)
	if len(other) != 0 {
		t.Fatalf("node-b claimed %d deliveries node-a was handed", len(other))
	}
	// A delivery the dispatcher puts off is written unclaimed, due after
	// the wait, and not handed over.
	busy := f.Hook(t, "https://example.com/busy", herald.HookEventCreated)
	must(t, f.Changes.SaveEvents(ctx, []*herald.Event{f.Event("c")}))
	handed := d.take()
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
	// An installed app's deliveries are handed over the same way, with
	// the app's URL and webhook headers.
	app := &herald.SentryApp{Slug: "pager", Name: "pager", Author: "Acme", OrganizationID: f.Org.ID, WebhookURL: "https://apps.example/pager",
		Scopes: []string{"event:read"}, Events: []string{"error"}, WebhookHeaders: []herald.WebhookHeader{{Key: "X-Pager-Key", Value: "k1"}}}
	if _, _, err := s.CreateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	inst := f.Install(t, app)
	must(t, f.Changes.SaveEvents(ctx, []*herald.Event{f.Event("d")}))
	var apps int
	for _, x := range d.take() {
		if x.DestinationKind != herald.DestinationApp {
			continue
		}
		apps++
		if x.DestinationID != inst.UUID || x.URL != app.WebhookURL || !x.DestinationActive || x.ClaimedBy != "node-a" ||
			len(x.AppHeaders) != 1 || x.AppHeaders[0] != app.WebhookHeaders[0] {
			t.Fatalf("app delivery handed over = %+v", x)
		}
	}
	if apps != 1 {
		t.Fatalf("handed over %d app deliveries, want 1", apps)
	}
	// A change that writes nothing, or fails, hands nothing over.
	must(t, f.Changes.SaveEvents(ctx, []*herald.Event{{ID: herald.NewID(), ProjectID: 1 << 40}}))
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := f.Changes.SaveEvents(canceled, []*herald.Event{f.Event("e")}); err == nil {
		t.Fatal("saved with a canceled context")
	}
	if n := len(d.take()); n != 0 {
		t.Fatalf("handed over %d deliveries of changes that wrote none", n)
	}
}
