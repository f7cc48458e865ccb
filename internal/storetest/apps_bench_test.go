package storetest_test

import (
	"context"
	"testing"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/storetest"
)

// BenchmarkSaveEventsWithApps measures committing events with one hook's
// deliveries and an installed Sentry App's error.created, per event.
func BenchmarkSaveEventsWithApps(b *testing.B) {
	benchStores(b, func(b *testing.B, open storetest.Opener) {
		f := storetest.NewFixture(b, open)
		f.Hook(b, "https://example.com/hook", herald.HookEventCreated)
		f.Install(b, f.App(b, "bench", false, "issue", "error"))
		ctx := context.Background()
		b.ResetTimer()
		for i := 0; i < b.N; i += benchBatch {
			events := make([]*herald.Event, 0, benchBatch)
			for j := 0; j < benchBatch; j++ {
				events = append(events, f.Event("same-group"))
			}
			if err := f.Store.SaveEvents(ctx, events); err != nil {
				b.Fatal(err)
			}
		}
	})
}
