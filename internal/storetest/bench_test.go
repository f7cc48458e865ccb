package storetest_test

import (
	"context"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/storetest"
)

// benchBatch is the number of deliveries completed at once, about what a
// dispatcher's recorder gathers under load.
const benchBatch = 32

func benchStores(b *testing.B, run func(b *testing.B, open storetest.Opener)) {
	b.Run("sqlite", func(b *testing.B) { run(b, storetest.OpenSQLite) })
	b.Run("postgres", func(b *testing.B) { run(b, storetest.OpenPostgres) })
}

// BenchmarkCompleteDeliveries measures loading and completing deliveries,
// per delivery.
func BenchmarkCompleteDeliveries(b *testing.B) {
	benchStores(b, func(b *testing.B, open storetest.Opener) {
		f := storetest.NewFixture(b, open)
		h := f.Hook(b, "https://example.com/hook", herald.HookEventCreated)
		ctx := context.Background()
		for i := 0; i < b.N; i += benchBatch {
			b.StopTimer()
			list := f.Deliveries(b, h, benchBatch)
			ids := make([]string, len(list))
			for k, d := range list {
				ids[k] = d.ID
			}
			b.StartTimer()
			ds, err := f.Store.FindDeliveriesToSend(ctx, ids)
			if err != nil {
				b.Fatal(err)
			}
			out := make([]*herald.Outcome, len(ds))
			for k, d := range ds {
				out[k] = &herald.Outcome{DeliveryID: d.ID, Delivered: true, Attempt: &herald.Attempt{URL: d.URL, StatusCode: 200, Duration: time.Millisecond}}
			}
			if err := f.Store.CompleteDeliveries(ctx, out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
