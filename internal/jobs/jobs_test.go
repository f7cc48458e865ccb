package jobs

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/sqlstore"
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
// deliveries of a deleted hook, the events of a deleted issue and a
// deleted project with its events, and only those.
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
	issue, _ := f.Issue(t, "gone")
	if err := f.Store.DeleteIssue(t.Context(), issue.ID); err != nil {
		t.Fatal(err)
	}
	project := &herald.Project{OrganizationID: f.Org.ID, TeamID: f.Team.ID, Slug: "gone", Name: "Gone"}
	if err := f.Store.CreateProject(t.Context(), project); err != nil {
		t.Fatal(err)
	}
	f.Project = project
	f.Issue(t, "gone")
	if err := f.Store.DeleteProject(t.Context(), project.ID); err != nil {
		t.Fatal(err)
	}
	rule := f.MetricRule(t, &herald.MetricAlertRule{Name: "Gone"}, nil, 5, 0)
	f.MetricRule(t, &herald.MetricAlertRule{Name: "Kept"}, nil, 5, 0)
	f.InTx(t, func(ctx context.Context, tx *sqlstore.Tx) error {
		return tx.AddMetricCounts(ctx, []sqlstore.AlertCount{{ID: rule.ID, Second: sqlstore.Second(f.Clock.Now()), Events: 1}})
	})
	if err := f.Store.DeleteMetricAlert(t.Context(), f.Org.ID, rule.ID); err != nil {
		t.Fatal(err)
	}
	events := func() int {
		var n int
		if err := f.Store.SQL().QueryRowContext(t.Context(), `SELECT (SELECT COUNT(*) FROM events WHERE issue_id = ? OR project_id = ?)
			+ (SELECT COUNT(*) FROM metric_seconds WHERE rule_id = ?)`, issue.ID, project.ID, rule.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if events() != 3 {
		t.Fatal("the deleted issue's or project's event, or the deleted rule's counter, went before the purge")
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
	for len(f.DeliveriesTo(t, herald.DestinationHook, gone.ID)) > 0 || events() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the deleted hook's deliveries, the deleted issue's or project's events or the deleted rule's counter are still there after 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(f.DeliveriesTo(t, herald.DestinationHook, kept.ID)); n != 2 {
		t.Fatalf("%d deliveries of the hook kept, want 2", n)
	}
}

// TestPurgeRunsAlone checks that a purge job starting while another is
// still at work returns at once and leaves the work to it: here the first
// waits for SQLite's writer, which a transaction holds.
func TestPurgeRunsAlone(t *testing.T) {
	t.Parallel()
	f := storetest.NewFixture(t, storetest.OpenSQLite)
	gone := f.Hook(t, "https://example.com/gone", herald.HookEventCreated)
	f.Deliveries(t, gone, 3)
	if err := f.Store.DeleteHook(t.Context(), f.Project.ID, gone.ID); err != nil {
		t.Fatal(err)
	}
	tx, err := f.Store.SQL().BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &purgeWorker{cfg: Config{Store: f.Store, Logger: slog.New(slog.DiscardHandler)}}
	first := make(chan error, 1)
	go func() { first <- w.Work(t.Context(), &river.Job[PurgeDestinationsArgs]{}) }()
	// Wait until the first run holds the worker.
	for w.busy.TryLock() {
		w.busy.Unlock()
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := w.Work(ctx, &river.Job[PurgeDestinationsArgs]{}); err != nil {
		t.Fatalf("a second run beside the first: %v; want it to return at once", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if left := f.DeliveriesTo(t, herald.DestinationHook, gone.ID); len(left) != 0 {
		t.Fatalf("%d deliveries of the deleted hook left", len(left))
	}
}

// TestEventRetention checks that the retention job deletes the issues and
// events older than the event retention, and keeps them all when it is 0.
func TestEventRetention(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		retention time.Duration
		wantOld   bool
	}{
		{"Ninety days", 90 * 24 * time.Hour, false},
		{"For ever", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := storetest.NewFixture(t, storetest.OpenSQLite)
			old, oldEvent := f.Issue(t, "old")
			f.Clock.Add(100 * 24 * time.Hour)
			_, newEvent := f.Issue(t, "new")
			w := &retentionWorker{cfg: Config{Store: f.Store, Retention: 30 * 24 * time.Hour, EventRetention: tc.retention,
				Clock: f.Clock, Logger: slog.New(slog.DiscardHandler)}}
			if err := w.Work(t.Context(), &river.Job[RetentionArgs]{}); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Store.PurgeIssues(t.Context()); err != nil {
				t.Fatal(err)
			}
			_, err := f.Store.FindIssue(t.Context(), f.Org.ID, strconv.FormatInt(old.ID, 10))
			_, eventErr := f.Store.FindEventByID(t.Context(), f.Project.ID, oldEvent.ID)
			if kept := err == nil && eventErr == nil; kept != tc.wantOld {
				t.Fatalf("the issue last seen 100 days ago: %v, its event: %v; want kept = %v", err, eventErr, tc.wantOld)
			}
			if _, err := f.Store.FindEventByID(t.Context(), f.Project.ID, newEvent.ID); err != nil {
				t.Fatalf("the new event: %v", err)
			}
		})
	}
}
