// Package sqlstore implements herald.Store over database/sql: SQL and
// nothing else. The SQL it speaks is common to SQLite and PostgreSQL
// (positional $N parameters, ON CONFLICT, RETURNING, timestamps as unix
// microseconds); the internal/sqlite and internal/postgres packages open the
// connection and hand a Dialect to Open, which applies the numbered
// migrations embedded here.
//
// Besides the herald.Store methods, each its own transaction, a DB runs
// transactions for the service layer (InTx): the primitives of a Tx read and
// write rows, and the service decides what a change causes and composes
// them, so that a change and the deliveries it causes commit together.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

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
	// River is the River driver over the same *sql.DB, for the job runner
	// of internal/jobs; Migrate applies River's schema.
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
	// OnClose, when set, is called by Close before the databases are
	// closed, to stop what the dialect runs beside the store.
	OnClose func()
	// Settle, when set, is called by purges after each of their
	// transactions, and waited for: it has the database take in what the
	// transaction wrote (SQLite copies its log back into the database file)
	// before the purge writes more.
	Settle func(ctx context.Context) error
}

// Options configure a DB.
type Options struct {
	Clock  herald.Clock
	Logger *slog.Logger
	// DisableAfter is how long a destination may fail without a success
	// before it is disabled (default 72h).
	DisableAfter time.Duration
}

// DB is a herald.Store on a SQL database.
type DB struct {
	db      *sql.DB
	dialect Dialect
	clock   herald.Clock
	logger  *slog.Logger
	disable time.Duration
	stmts   *stmtCache
	rdb     *sql.DB
	rstmts  *stmtCache
	health  *health
	// analyze gathers the statistics of new tables (PostgreSQL only).
	analyze *analyzer
	// config keeps configuration read by transactions that CacheConfig.
	config configCache
	// rebound keeps the SQLite form of query texts (rebind).
	rebound reboundCache
}

var _ herald.Store = (*DB)(nil)

// Open wraps db, applies Herald's and River's migrations and returns the
// store. The caller keeps db open until Close.
func Open(ctx context.Context, db *sql.DB, d Dialect, opts Options) (*DB, error) {
	s := &DB{db: db, dialect: d, clock: opts.Clock, logger: opts.Logger, disable: opts.DisableAfter}
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
	if d.Name == "postgres" {
		s.analyze = startAnalyzer(s)
	}
	return s, nil
}

// SQL returns the underlying database handle.
func (s *DB) SQL() *sql.DB { return s.db }

// Dialect returns the dialect the store was opened with.
func (s *DB) Dialect() Dialect { return s.dialect }

// Close closes the database.
func (s *DB) Close() error {
	if s.dialect.OnClose != nil {
		s.dialect.OnClose()
	}
	s.analyze.close()
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

// Ping checks that the database answers and that every migration is applied.
func (s *DB) Ping(ctx context.Context) error {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM herald_migrations`).Scan(&n); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	files, err := migrationFiles(migrations, s.dialect.Name)
	if err != nil {
		return err
	}
	if n < len(files) {
		return fmt.Errorf("ping: %d of %d migrations applied", n, len(files))
	}
	return nil
}

// Migrate applies River's pending migrations, then Herald's, which may
// refer to River's tables. It is safe to run on every start.
func (s *DB) Migrate(ctx context.Context) error {
	m, err := rivermigrate.New(s.dialect.River, nil)
	if err != nil {
		return fmt.Errorf("river migrator: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrate: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS herald_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	files, err := migrationFiles(migrations, s.dialect.Name)
	if err != nil {
		return err
	}
	for _, name := range files {
		if err := s.applyMigration(ctx, name); err != nil {
			return err
		}
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

// forDialect reports whether the migration file name applies to dialect:
// every file does but one named NNNN_name.DIALECT.sql, which applies to
// that dialect alone.
func forDialect(name, dialect string) bool {
	parts := strings.Split(strings.TrimSuffix(name, ".sql"), ".")
	return len(parts) == 1 || parts[len(parts)-1] == dialect
}

// migrationFiles lists the migrations of fsys that apply to dialect, in
// the order they are applied.
func migrationFiles(fsys fs.FS, dialect string) ([]string, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	names = slices.DeleteFunc(names, func(name string) bool { return !forDialect(name, dialect) })
	sort.Strings(names)
	return names, nil
}

// inTx runs fn in a transaction, committing when it returns nil.
func (s *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Tx is a transaction of the store. Its methods are the primitives the
// service layer composes: each reads or writes rows, and decides nothing
// about what a change causes.
type Tx struct {
	s  *DB
	tx *sql.Tx
	// holding is set by Hold; held are the writes kept for Flush.
	holding bool
	held    []statement
	// cacheConfig is set by CacheConfig; version is the configuration
	// version, once versionRead.
	cacheConfig, versionRead bool
	version                  int64
}

// Hold makes the transaction keep the rows InsertEvents, InsertDeliveries
// and CountIssues write, and the counts AddIssueCounts and
// AddMetricCounts add, until Flush, which sends them all as one statement
// on PostgreSQL: one round trip instead of one each. Nothing the held
// writes change may be read before Flush, which InTx calls before it
// commits. On SQLite, where a statement is a function call, and on the Tx
// of NoTx, which has no end to flush at, Hold does nothing.
func (t *Tx) Hold() {
	t.holding = t.tx != nil && t.s.dialect.Name != "sqlite"
}

// Flush runs the writes held since Hold, as one statement.
func (t *Tx) Flush(ctx context.Context) error {
	held := t.held
	t.held = nil
	switch len(held) {
	case 0:
		return nil
	case 1:
		if _, err := t.s.exec(ctx, t.tx, held[0].q, held[0].args...); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	}
	var q strings.Builder
	var args []any
	q.WriteString("WITH ")
	for i, st := range held {
		if i > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "w%d AS (%s)", i, renumber(st.q, len(args)))
		args = append(args, st.args...)
	}
	q.WriteString(" SELECT 1")
	if _, err := t.s.exec(ctx, t.tx, q.String(), args...); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// write runs st now, or holds it for Flush.
func (t *Tx) write(ctx context.Context, sts ...statement) error {
	if t.holding {
		t.held = append(t.held, sts...)
		return nil
	}
	return t.s.execAll(ctx, t.tx, sts)
}

// renumber adds offset to the number of each $n parameter of q.
func renumber(q string, offset int) string {
	if offset == 0 {
		return q
	}
	var b strings.Builder
	last := 0
	forParamsAt(q, func(start, end int) {
		n, _ := strconv.Atoi(q[start+1 : end])
		b.WriteString(q[last : start+1])
		b.WriteString(strconv.Itoa(n + offset))
		last = end
	})
	b.WriteString(q[last:])
	return b.String()
}

// InTx runs fn in a transaction, committing when it returns nil and rolling
// back otherwise. The Tx must not be used after fn returns.
func (s *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		t := &Tx{s: s, tx: tx}
		if err := fn(t); err != nil {
			return err
		}
		return t.Flush(ctx)
	})
}

// NoTx returns a Tx whose primitives run outside any transaction, each
// statement on its own, reads on the read pool where the store has one:
// for reads that need not be consistent with each other, without holding a
// connection (SQLite's single writer) between them.
func (s *DB) NoTx() *Tx { return &Tx{s: s} }

// Now is the store's clock time, the time it stamps rows with.
func (s *DB) Now() time.Time { return s.clock.Now() }

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
