package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/storetest"
)

func TestEvalTime(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 1, 15, 12, 1, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		now  time.Time
		want time.Time
	}{
		{"OnTime", at, at},
		{"SlightlyLate", at.Add(800 * time.Millisecond), at},
		{"AlmostAnInterval", at.Add(59 * time.Second), at},
		{"AnIntervalLate", at.Add(time.Minute), at.Add(time.Minute)},
		{"Backlog", at.Add(10 * time.Minute), at.Add(10 * time.Minute)},
		{"ClockBehind", at.Add(-time.Hour), at.Add(-time.Hour)},
	} {
		if got := evalTime(tc.now, at, time.Minute); !got.Equal(tc.want) {
			t.Errorf("%s: evalTime = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestPurgeJob checks that the leader's periodic job deletes the
// deliveries of a deleted hook, and only those.
func TestPurgeJob(t *testing.T) {
	t.Parallel()
	f := storetest.NewFixture(t, storetest.OpenSQLite)
	gone := f.Hook(t, "https://example.com/gone", herald.HookEventCreated)
	kept := f.Hook(t, "https://example.com/kept", herald.HookEventCreated)
	f.Deliveries(t, gone, 3)
	f.Deliveries(t, kept, 2)
	if err := f.Store.DeleteHook(t.Context(), f.Project.ID, gone.ID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	runner, err := Start(ctx, Config{Store: f.Store, ID: "node-1", PurgeInterval: 100 * time.Millisecond,
		MetricAlertInterval: time.Hour, Clock: f.Clock})
	if err != nil {
		t.Fatal(err)
	}
	defer runner.Stop(context.Background())
	deadline := time.Now().Add(30 * time.Second)
	for len(f.DeliveriesTo(t, herald.DestinationHook, gone.ID)) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the deleted hook's deliveries are still there after 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(f.DeliveriesTo(t, herald.DestinationHook, kept.ID)); n != 2 {
		t.Fatalf("%d deliveries of the hook kept, want 2", n)
	}
}
