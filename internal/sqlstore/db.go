// Package sqlstore implements herald.Store over database/sql. The SQL it
// speaks is common to SQLite and PostgreSQL (positional $N parameters,
// ON CONFLICT, RETURNING, timestamps as unix microseconds); the internal/sqlite
// and internal/postgres packages open the connection, own the schema
// migrations and hand a Dialect to Open.
//
// Deliveries are written in the same transaction as the change that causes
// them, together with one River job that sends all of them (a transactional
// outbox).
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/herald-dev/herald"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// migrations holds the numbered schema files NNNN_name.sql.
var migrations, _ = fs.Sub(migrationsFS, "migrations")

// Dialect is what differs between the databases sqlstore runs on.
type Dialect struct {
	// Name is "sqlite" or "postgres".
	Name string
	// TranslateDDL rewrites a migration statement, written for PostgreSQL,
	// into the dialect's SQL; nil keeps it as written.
	TranslateDDL func(string) string
	// IsUniqueViolation reports whether err is a unique-constraint failure.
	IsUniqueViolation func(error) bool
	// IsUnavailable reports whether err means the database cannot be
	// reached or cannot take writes (see DB.Unavailable); nil means never.
	IsUnavailable func(error) bool
	// ReadDB, when set, is a pool of read-only connections to the same
	// database that reads outside transactions use.
	ReadDB *sql.DB
	// River is the River driver over the same *sql.DB.
	River riverdriver.Driver[*sql.Tx]
	// ResetJobsSQL makes the jobs a crashed earlier run of node $1 left
	// running available again, so a restarted node resumes its work at once
	// instead of waiting for River's rescuer.
	ResetJobsSQL string
	// SkipLocked ends the query that picks deliveries to claim, so that
	// nodes claiming at once skip each other's rows (" FOR UPDATE SKIP
	// LOCKED" on PostgreSQL); empty where one writer claims at a time.
	SkipLocked string
	// SingleNode is set where one process owns the database: every claim
	// still held at start was left by an earlier run of that process.
	SingleNode bool
}

// Options configure a DB.
type Options struct {
	// Notifier builds the deliveries that saved events cause.
	Notifier herald.Notifier
	Clock    herald.Clock
	Logger   *slog.Logger
	// DisableAfter is how long a destination may fail without a success
	// before it is disabled (default 72h).
	DisableAfter time.Duration
}

// DB is a herald.Store on a SQL database.
type DB struct {
	db       *sql.DB
	dialect  Dialect
	notifier herald.Notifier
	clock    herald.Clock
	logger   *slog.Logger
	disable  time.Duration
	dispatch dispatch
	stmts    *stmtCache
	rdb      *sql.DB
	rstmts   *stmtCache
	health   *health
}

var _ herald.Store = (*DB)(nil)

// Open wraps db, applies Herald's and River's migrations and returns the
// store. The caller keeps db open until Close.
func Open(ctx context.Context, db *sql.DB, d Dialect, opts Options) (*DB, error) {
	s := &DB{db: db, dialect: d, notifier: opts.Notifier, clock: opts.Clock, logger: opts.Logger, disable: opts.DisableAfter}
	if s.clock == nil {
		s.clock = herald.SystemClock
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.disable == 0 {
		s.disable = 72 * time.Hour
	}
	s.health = newHealth(db, s.logger)
	if d.Name == "sqlite" {
		s.stmts = newStmtCache(db)
	}
	if d.ReadDB != nil {
		s.rdb = d.ReadDB
		if d.Name == "sqlite" {
			s.rstmts = newStmtCache(d.ReadDB)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// SQL returns the underlying database handle.
func (s *DB) SQL() *sql.DB { return s.db }

// Dialect returns the dialect the store was opened with.
func (s *DB) Dialect() Dialect { return s.dialect }

// Close closes the database.
func (s *DB) Close() error {
	s.health.close()
	for _, c := range []*stmtCache{s.stmts, s.rstmts} {
		if c != nil {
			c.close()
		}
	}
	if s.rdb != nil {
		s.rdb.Close()
	}
	return s.db.Close()
}

// JobsConfig configures the job runner started by StartJobs.
type JobsConfig struct {
	// ID names this node among the nodes sharing the database. A node
	// restarted with the same ID resumes the jobs it left running.
	ID string
	// Retention is how long finished deliveries and their attempts are
	// kept (default 30 days), enforced hourly by the elected leader.
	Retention time.Duration
	// MetricAlertInterval is how often the leader evaluates metric alerts
	// (default 1m).
	MetricAlertInterval time.Duration
}

// StartJobs starts River on this node: leader election and the periodic
// jobs the leader runs (retention, metric alerts). Stop it with the
// returned client's Stop.
func (s *DB) StartJobs(ctx context.Context, cfg JobsConfig) (*river.Client[*sql.Tx], error) {
	if cfg.Retention == 0 {
		cfg.Retention = 30 * 24 * time.Hour
	}
	if cfg.MetricAlertInterval == 0 {
		cfg.MetricAlertInterval = time.Minute
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &retentionWorker{s: s, age: cfg.Retention})
	river.AddWorker(workers, &metricAlertWorker{s: s})
	if cfg.ID != "" && s.dialect.ResetJobsSQL != "" {
		res, err := s.db.ExecContext(ctx, s.dialect.ResetJobsSQL, cfg.ID)
		if err != nil {
			return nil, fmt.Errorf("reset jobs of an earlier run: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			s.logger.Info("resumed jobs left running by an earlier run of this node", "jobs", n, "node", cfg.ID)
		}
	}
	c, err := river.NewClient(s.dialect.River, &river.Config{
		ID:                   cfg.ID,
		Logger:               s.QuietLogger(s.logger),
		Workers:              workers,
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		JobTimeout:           10 * time.Minute,
		RescueStuckJobsAfter: 20 * time.Minute,
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
			func() (river.JobArgs, *river.InsertOpts) { return RetentionArgs{}, nil },
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

// Ping checks that the database answers and that every migration is applied.
func (s *DB) Ping(ctx context.Context) error {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM herald_migrations`).Scan(&n); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	files, err := migrationFiles(migrations)
	if err != nil {
		return err
	}
	if n < len(files) {
		return fmt.Errorf("ping: %d of %d migrations applied", n, len(files))
	}
	return nil
}

// Migrate applies Herald's pending migrations, then River's. It is safe to
// run on every start.
func (s *DB) Migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS herald_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	files, err := migrationFiles(migrations)
	if err != nil {
		return err
	}
	for _, name := range files {
		if err := s.applyMigration(ctx, name); err != nil {
			return err
		}
	}
	m, err := rivermigrate.New(s.dialect.River, nil)
	if err != nil {
		return fmt.Errorf("river migrator: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrate: %w", err)
	}
	// Deliveries were once sent by River jobs; their pending rows are due
	// for the dispatchers now, and the jobs would find no worker.
	if _, err := s.db.ExecContext(ctx, `DELETE FROM river_job WHERE kind = 'herald.deliver'`); err != nil {
		return fmt.Errorf("remove delivery jobs: %w", err)
	}
	return nil
}

func (s *DB) applyMigration(ctx context.Context, name string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM herald_migrations WHERE name = $1`, name).Scan(&n); err != nil {
			return fmt.Errorf("read migrations: %w", err)
		} else if n > 0 {
			return nil
		}
		body, err := fs.ReadFile(migrations, name)
		if err != nil {
			return fmt.Errorf("read migration %s: %w", name, err)
		}
		for _, stmt := range strings.Split(string(body), ";\n") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if s.dialect.TranslateDDL != nil {
				stmt = s.dialect.TranslateDDL(stmt)
			}
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migration %s: %w", name, err)
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO herald_migrations (name, applied_at) VALUES ($1, $2)`, name, ts(s.clock.Now()))
		return err
	})
}

func migrationFiles(fsys fs.FS) ([]string, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	return names, nil
}

// inTx runs fn in a transaction, committing when it returns nil.
func (s *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		_ = tx.Rollback()
		// Deliveries claimed in tx reach the handoff only if it committed.
		if ds := s.dispatch.take(tx); ds != nil && err == nil {
			s.dispatch.to.Dispatch(ds)
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// ts encodes a time as unix microseconds.
func ts(t time.Time) int64 { return t.UnixMicro() }

// fromTS decodes unix microseconds.
func fromTS(us int64) time.Time { return time.UnixMicro(us).UTC() }

func tsPtr(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: ts(*t), Valid: true}
}

func fromTSPtr(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromTS(n.Int64)
	return &t
}

// joinList and splitList store short string lists as comma-separated text.
func joinList(l []string) string { return strings.Join(l, ",") }

func splitList(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// placeholders returns "$from, $from+1, ..." n times.
func placeholders(from, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(from + i))
	}
	return b.String()
}

// valuesList returns rows groups of cols placeholders: "($1, $2), ($3, $4)".
func valuesList(rows, cols int) string {
	var b strings.Builder
	for r := 0; r < rows; r++ {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		b.WriteString(placeholders(r*cols+1, cols))
		b.WriteByte(')')
	}
	return b.String()
}

func itoa(n int) string { return strconv.Itoa(n) }

// notFound turns sql.ErrNoRows into an ENOTFOUND error about what.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return herald.Errorf(herald.ENOTFOUND, "%s not found", what)
	}
	return err
}

// pageLimit bounds a page size to [1, 100], defaulting to 100.
func pageLimit(p herald.Page) int {
	if p.Limit <= 0 || p.Limit > 100 {
		return 100
	}
	return p.Limit
}

// cursorInt parses a cursor holding an integer key ("" is 0).
func cursorInt(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(strings.SplitN(c, ":", 2)[0], 10, 64)
	if err != nil {
		return 0, herald.Errorf(herald.EINVALID, "invalid cursor %q", c)
	}
	return v, nil
}
