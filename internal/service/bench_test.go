package service_test

import (
	"context"
	"testing"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/storetest"
)

// benchBatch is the number of events per SaveEvents call, about what the
// ingest batcher gathers under load.
const benchBatch = 32

func benchStores(b *testing.B, run func(b *testing.B, open storetest.Opener)) {
	b.Run("sqlite", func(b *testing.B) { run(b, storetest.OpenSQLite) })
	b.Run("postgres", func(b *testing.B) { run(b, storetest.OpenPostgres) })
}

// benchSaveEvents saves batches of one issue's events, per event.
func benchSaveEvents(b *testing.B, f *fixture) {
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i += benchBatch {
		events := make([]*herald.Event, 0, benchBatch)
		for j := 0; j < benchBatch; j++ {
			events = append(events, f.Event("same-group"))
		}
		if err := f.Changes.SaveEvents(ctx, events); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSaveEvents measures committing events with one hook's
// deliveries, per event.
func BenchmarkSaveEvents(b *testing.B) {
	benchStores(b, func(b *testing.B, open storetest.Opener) {
		f := newFixture(b, open)
		f.Hook(b, "https://example.com/hook", herald.HookEventCreated)
		benchSaveEvents(b, f)
	})
}

// BenchmarkSaveEventsWithApps measures committing events with one hook's
// deliveries and an installed Sentry App's error.created, per event.
func BenchmarkSaveEventsWithApps(b *testing.B) {
	benchStores(b, func(b *testing.B, open storetest.Opener) {
		f := newFixture(b, open)
		f.Hook(b, "https://example.com/hook", herald.HookEventCreated)
		f.Install(b, f.App(b, "bench", false, "issue", "error"))
		benchSaveEvents(b, f)
	})
}
