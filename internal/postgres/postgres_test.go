package postgres_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/herald-dev/herald/internal/postgres"
	"github.com/herald-dev/herald/internal/sqlstore"
	"github.com/herald-dev/herald/internal/storetest"
)

func TestIsUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"Refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"Reset", fmt.Errorf("query: %w", syscall.ECONNRESET), true},
		{"ClosedMidQuery", fmt.Errorf("scan: %w", io.ErrUnexpectedEOF), true},
		{"BadConn", driver.ErrBadConn, true},
		{"ConnDone", sql.ErrConnDone, true},
		{"ConnectionFailure", &pgconn.PgError{Code: "08006"}, true},
		{"AdminShutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"CannotConnectNow", &pgconn.PgError{Code: "57P03"}, true},
		{"TooManyConnections", &pgconn.PgError{Code: "53300"}, true},
		{"UniqueViolation", &pgconn.PgError{Code: "23505"}, false},
		{"SyntaxError", &pgconn.PgError{Code: "42601"}, false},
		{"Canceled", context.Canceled, false},
		{"NoRows", sql.ErrNoRows, false},
		{"Plain", errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := postgres.IsUnavailable(tt.err); got != tt.want {
				t.Errorf("IsUnavailable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestCompression checks that an event's data and a delivery's body are
// compressed with lz4 where the server has it (migration 0014).
func TestCompression(t *testing.T) {
	t.Parallel()
	s := storetest.OpenPostgres(t, sqlstore.Options{})
	ctx := context.Background()
	db := s.SQL()
	if _, err := db.ExecContext(ctx, `CREATE TEMP TABLE lz4_probe (b BYTEA COMPRESSION lz4)`); err != nil {
		t.Skipf("this PostgreSQL has no lz4: %v", err)
	}
	for _, c := range []struct{ table, column string }{{"events", "data"}, {"delivery_bodies", "body"}} {
		var method string
		err := db.QueryRowContext(ctx, `SELECT attcompression::text FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2`,
			c.table, c.column).Scan(&method)
		if err != nil {
			t.Fatalf("%s.%s: %v", c.table, c.column, err)
		}
		if method != "l" {
			t.Errorf("%s.%s compression = %q, want \"l\" (lz4)", c.table, c.column, method)
		}
	}
}

// TestAnalyzeNewTables checks that a table PostgreSQL has no statistics of
// is analyzed once enough rows were written to it, and a small one is not.
func TestAnalyzeNewTables(t *testing.T) {
	t.Parallel()
	s := storetest.OpenPostgres(t, sqlstore.Options{})
	ctx := context.Background()
	db := s.SQL()
	for _, q := range []string{
		`CREATE TABLE analyze_big (n INT)`,
		`CREATE TABLE analyze_small (n INT)`,
		`INSERT INTO analyze_big SELECT generate_series(1, 1500)`,
		`INSERT INTO analyze_small SELECT generate_series(1, 10)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	analyzed := func(table string) bool {
		t.Helper()
		var done bool
		err := db.QueryRowContext(ctx, `SELECT last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL FROM pg_stat_user_tables
			WHERE schemaname = current_schema() AND relname = $1`, table).Scan(&done)
		if err != nil {
			t.Fatalf("statistics of %s: %v", table, err)
		}
		return done
	}
	// PostgreSQL publishes the counts of rows written about a second
	// after the writes: ask until the big table is analyzed.
	var returned []string
	deadline := time.Now().Add(20 * time.Second)
	for !analyzed("analyze_big") {
		if time.Now().After(deadline) {
			t.Fatalf("analyze_big not analyzed; AnalyzeNewTables returned %v", returned)
		}
		tables, err := s.AnalyzeNewTables(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		returned = append(returned, tables...)
		time.Sleep(100 * time.Millisecond)
	}
	if slices.Contains(returned, "analyze_small") || analyzed("analyze_small") {
		t.Fatalf("analyze_small (10 rows) was analyzed; returned %v", returned)
	}
	tables, err := s.AnalyzeNewTables(ctx, 1000)
	if err != nil || slices.Contains(tables, "analyze_big") {
		t.Fatalf("second AnalyzeNewTables = %v, %v; want analyze_big left alone", tables, err)
	}
}
