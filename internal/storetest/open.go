// Package storetest is the conformance suite every Herald store passes, run
// against SQLite and PostgreSQL, and the helpers tests use to open a fresh
// store of either kind.
package storetest

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver for schema set-up

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/postgres"
	"github.com/herald-dev/herald/internal/sqlite"
	"github.com/herald-dev/herald/internal/sqlstore"
)

// DefaultPostgresURL is used when HERALD_TEST_DATABASE_URL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Options returns the options of a test store on clock (the system clock
// when nil).
func Options(clock herald.Clock) sqlstore.Options {
	if clock == nil {
		clock = herald.SystemClock
	}
	return sqlstore.Options{Clock: clock}
}

// NewSQLite opens a store in a temporary directory, closed when the test ends.
func NewSQLite(tb testing.TB) herald.Store { return OpenSQLite(tb, Options(nil)) }

// OpenSQLite is NewSQLite with options.
func OpenSQLite(tb testing.TB, opts sqlstore.Options) *sqlstore.DB {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), tb.TempDir(), opts)
	if err != nil {
		tb.Fatalf("open sqlite store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// NewPostgres opens a store in a fresh schema of the test database, dropped
// when the test ends.
func NewPostgres(tb testing.TB) herald.Store {
	return OpenPostgres(tb, Options(nil))
}

// OpenPostgres is NewPostgres with options.
func OpenPostgres(tb testing.TB, opts sqlstore.Options) *sqlstore.DB {
	tb.Helper()
	url := PostgresSchemaURL(tb)
	s, err := postgres.Open(context.Background(), url, opts)
	if err != nil {
		tb.Fatalf("open postgres store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// PostgresSchemaURL creates a fresh schema in the test database and returns
// a URL whose search_path selects it; the schema is dropped when the test
// ends. Without a reachable database the test is skipped, or fails when
// CI=true.
func PostgresSchemaURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("HERALD_TEST_DATABASE_URL")
	if base == "" {
		base = DefaultPostgresURL
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatalf("open postgres: %v", err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL is required under CI=true but unreachable at %s: %v", base, err)
		}
		tb.Skipf("PostgreSQL unreachable at %s (set HERALD_TEST_DATABASE_URL): %v", base, err)
	}
	schema := "herald_test_" + herald.RandomHex(6)
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
	})
	sep := "?"
	for _, c := range base {
		if c == '?' {
			sep = "&"
		}
	}
	return base + sep + "search_path=" + schema
}
