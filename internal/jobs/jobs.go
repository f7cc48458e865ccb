// Package jobs runs Herald's periodic work with River on the nodes' shared
// database: one node, elected leader, runs each periodic job, so that with
// many nodes retention and metric alert evaluation still happen once per
// period.
package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/sqlstore"
)

// Config configures the job runner.
type Config struct {
	// Store is the database River runs on (its dialect's River driver).
	Store *sqlstore.DB
	// Changes evaluates metric alerts.
	Changes herald.ChangeService
	// ID names this node among the nodes sharing the database. A node
	// restarted with the same ID resumes the jobs it left running.
	ID string
	// Retention is how long finished deliveries and their attempts are
	// kept (default 30 days), enforced hourly by the elected leader.
	Retention time.Duration
	// EventRetention is how long issues and events are kept (0: for
	// ever), enforced with Retention: an issue last seen longer ago is
	// deleted with its events, and of the issues kept, the events received
	// longer ago.
	EventRetention time.Duration
	// MetricAlertInterval is how often the leader evaluates metric alerts
	// (default 1m).
	MetricAlertInterval time.Duration
	// PurgeInterval is how often the leader deletes the deliveries of
	// deleted hooks and Sentry Apps, deleted issues with their events and
	// alert counters, deleted projects' events and issues, and deleted
	// metric alert rules' counters (default 1m).
	PurgeInterval time.Duration
	// Clock tells the time of the jobs; nil means herald.SystemClock.
	Clock herald.Clock
	// Logger receives the runner's logs; nil discards them.
	Logger *slog.Logger
}

// Start starts River on this node: leader election and the periodic jobs
// the leader runs (retention, the deliveries of deleted destinations,
// metric alerts). Stop it with the returned client's Stop.
func Start(ctx context.Context, cfg Config) (*river.Client[*sql.Tx], error) {
	if cfg.Retention == 0 {
		cfg.Retention = 30 * 24 * time.Hour
	}
	if cfg.MetricAlertInterval == 0 {
		cfg.MetricAlertInterval = time.Minute
	}
	if cfg.PurgeInterval == 0 {
		cfg.PurgeInterval = time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = herald.SystemClock
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d := cfg.Store.Dialect()
	workers := river.NewWorkers()
	river.AddWorker(workers, &retentionWorker{cfg: cfg})
	river.AddWorker(workers, &metricAlertWorker{cfg: cfg})
	river.AddWorker(workers, &purgeWorker{cfg: cfg})
	if cfg.ID != "" && d.ResetJobsSQL != "" {
		res, err := cfg.Store.SQL().ExecContext(ctx, d.ResetJobsSQL, cfg.ID)
		if err != nil {
			return nil, fmt.Errorf("reset jobs of an earlier run: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			cfg.Logger.Info("resumed jobs left running by an earlier run of this node", "jobs", n, "node", cfg.ID)
		}
	}
	c, err := river.NewClient(d.River, &river.Config{
		ID:                   cfg.ID,
		Logger:               cfg.Store.QuietLogger(cfg.Logger),
		Workers:              workers,
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		JobTimeout:           10 * time.Minute,
		RescueStuckJobsAfter: 20 * time.Minute,
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
			func() (river.JobArgs, *river.InsertOpts) { return RetentionArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(cfg.PurgeInterval),
				func() (river.JobArgs, *river.InsertOpts) { return PurgeDestinationsArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(cfg.MetricAlertInterval),
				// One attempt: a failed evaluation is retried by the next tick,
				// never beside it.
				func() (river.JobArgs, *river.InsertOpts) { return MetricAlertArgs{}, &river.InsertOpts{MaxAttempts: 1} }, nil)},
	})
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	if err := c.Start(ctx); err != nil {
		return nil, fmt.Errorf("start river: %w", err)
	}
	return c, nil
}

// RetentionArgs are the arguments of the periodic job that deletes old
// deliveries and alert counters.
type RetentionArgs struct{}

// Kind is the job kind (River's JobArgs).
func (RetentionArgs) Kind() string { return "herald.retention" }

// retentionWorker runs RetentionArgs jobs.
type retentionWorker struct {
	river.WorkerDefaults[RetentionArgs]
	cfg Config
}

// Work deletes what is older than the retention periods, the alert
// counters no window reaches any more, and expired sign-in sessions.
func (w *retentionWorker) Work(ctx context.Context, _ *river.Job[RetentionArgs]) error {
	now := w.cfg.Clock.Now()
	n, err := w.cfg.Store.PurgeDeliveries(ctx, now.Add(-w.cfg.Retention))
	if err != nil {
		return err
	}
	if n > 0 {
		w.cfg.Logger.Info("retention: deleted old deliveries", "deliveries", n)
	}
	if w.cfg.EventRetention > 0 {
		issues, events, err := w.cfg.Store.PurgeEvents(ctx, now.Add(-w.cfg.EventRetention))
		if issues > 0 || events > 0 {
			w.cfg.Logger.Info("retention: deleted old issues and events", "issues", issues, "events", events)
		}
		if err != nil {
			return err
		}
	}
	if _, err = w.cfg.Store.PurgeAlertCounts(ctx, now); err != nil {
		return err
	}
	_, err = w.cfg.Store.PurgeSessions(ctx, now)
	return err
}

// PurgeDestinationsArgs are the arguments of the periodic job that deletes
// the deliveries of deleted hooks and Sentry Apps, deleted issues with
// their events and alert counters (deleted through the API or by the event
// retention), deleted projects with their events and issues, and deleted
// metric alert rules with their counters.
type PurgeDestinationsArgs struct{}

// Kind is the job kind (River's JobArgs).
func (PurgeDestinationsArgs) Kind() string { return "herald.purge_destinations" }

// purgeWorker runs PurgeDestinationsArgs jobs.
type purgeWorker struct {
	river.WorkerDefaults[PurgeDestinationsArgs]
	cfg Config
	// busy is held by the run in progress.
	busy sync.Mutex
}

// Work deletes the deliveries of the destinations, the issues with their
// events and counters, the events and issues of the projects, and the
// metric alert rules with their counters deleted since the last run. A run that starts while another is still going (a
// destination of millions of deliveries takes minutes) leaves the work to
// it, rather than doubling the writer's share the purge takes.
func (w *purgeWorker) Work(ctx context.Context, _ *river.Job[PurgeDestinationsArgs]) error {
	if !w.busy.TryLock() {
		return nil
	}
	defer w.busy.Unlock()
	n, err := w.cfg.Store.PurgeDestinations(ctx)
	if n > 0 {
		w.cfg.Logger.Info("deleted the deliveries of deleted hooks and apps", "deliveries", n)
	}
	if err != nil {
		return err
	}
	n, err = w.cfg.Store.PurgeIssues(ctx)
	if n > 0 {
		w.cfg.Logger.Info("deleted the events and alert counters of deleted issues", "rows", n)
	}
	if err != nil {
		return err
	}
	n, err = w.cfg.Store.PurgeProjects(ctx)
	if n > 0 {
		w.cfg.Logger.Info("deleted the events and issues of deleted projects", "rows", n)
	}
	if err != nil {
		return err
	}
	n, err = w.cfg.Store.PurgeMetricAlerts(ctx)
	if n > 0 {
		w.cfg.Logger.Info("deleted the counters of deleted metric alerts", "rows", n)
	}
	return err
}

// MetricAlertArgs are the arguments of the periodic job that evaluates
// metric alerts.
type MetricAlertArgs struct{}

// Kind is the job kind (River's JobArgs).
func (MetricAlertArgs) Kind() string { return "herald.metric_alerts" }

// metricAlertWorker runs MetricAlertArgs jobs.
type metricAlertWorker struct {
	river.WorkerDefaults[MetricAlertArgs]
	cfg Config
}

// Work evaluates every metric alert at evalTime.
func (w *metricAlertWorker) Work(ctx context.Context, job *river.Job[MetricAlertArgs]) error {
	return w.cfg.Changes.EvaluateMetricAlerts(ctx, evalTime(w.cfg.Clock.Now(), job.ScheduledAt, w.cfg.MetricAlertInterval))
}

// evalTime is the time a metric alert evaluation counts up to: the time
// the job was scheduled for when it runs less than an interval late.
// River schedules the periodic job an interval apart, so consecutive
// windows then meet exactly whatever delay each run starts with, and no
// event falls between two of them; a run later than that (a backlog, a
// new leader, a clock not the system's) counts up to now.
func evalTime(now, scheduled time.Time, interval time.Duration) time.Time {
	if late := now.Sub(scheduled); late >= 0 && late < interval {
		return scheduled
	}
	return now
}
