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

// TestAnalyzeGrownTables checks that a table PostgreSQL has no statistics
// of is analyzed once enough rows were written to it, and a small one is
// not; and that an analyzed table among those said to grow is analyzed
// again once it holds twice the rows it held then, not before, and another
// is not.
func TestAnalyzeGrownTables(t *testing.T) {
	t.Parallel()
	s := storetest.OpenPostgres(t, sqlstore.Options{})
	ctx := context.Background()
	db := s.SQL()
	exec := func(q string) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Autovacuum stays away from these tables, so that every ANALYZE the
	// test sees is AnalyzeGrownTables'.
	exec(`CREATE TABLE analyze_big (n INT) WITH (autovacuum_enabled = false)`)
	exec(`CREATE TABLE analyze_small (n INT) WITH (autovacuum_enabled = false)`)
	exec(`CREATE TABLE analyze_other (n INT) WITH (autovacuum_enabled = false)`)
	exec(`INSERT INTO analyze_big SELECT generate_series(1, 1500)`)
	exec(`INSERT INTO analyze_other SELECT generate_series(1, 1500)`)
	exec(`INSERT INTO analyze_small SELECT generate_series(1, 10)`)
	// stats reads what PostgreSQL says of a table: whether it was ever
	// analyzed, the rows it held then, and the live rows it counts now.
	stats := func(table string) (analyzed bool, reltuples, live float64) {
		t.Helper()
		err := db.QueryRowContext(ctx, `SELECT s.last_analyze IS NOT NULL OR s.last_autoanalyze IS NOT NULL, c.reltuples, s.n_live_tup
			FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
			WHERE s.schemaname = current_schema() AND s.relname = $1`, table).Scan(&analyzed, &reltuples, &live)
		if err != nil {
			t.Fatalf("statistics of %s: %v", table, err)
		}
		return analyzed, reltuples, live
	}
	growing := []string{"analyze_big", "analyze_small"}
	both := func() bool {
		big, _, _ := stats("analyze_big")
		other, _, _ := stats("analyze_other")
		return big && other
	}
	// PostgreSQL publishes the counts of rows written about a second
	// after the writes: ask until the big tables are analyzed.
	var returned []string
	deadline := time.Now().Add(20 * time.Second)
	for !both() {
		if time.Now().After(deadline) {
			t.Fatalf("analyze_big and analyze_other not both analyzed; AnalyzeGrownTables returned %v", returned)
		}
		tables, err := s.AnalyzeGrownTables(ctx, 1000, growing)
		if err != nil {
			t.Fatal(err)
		}
		returned = append(returned, tables...)
		time.Sleep(100 * time.Millisecond)
	}
	if analyzed, _, _ := stats("analyze_small"); analyzed || slices.Contains(returned, "analyze_small") {
		t.Fatalf("analyze_small (10 rows) was analyzed; returned %v", returned)
	}
	if _, reltuples, _ := stats("analyze_big"); reltuples != 1500 {
		t.Fatalf("analyze_big analyzed with %v rows, want 1500", reltuples)
	}
	// grow inserts rows, waits until PostgreSQL counts them in table,
	// and returns what AnalyzeGrownTables does then.
	grow := func(q, table string, live float64) []string {
		t.Helper()
		exec(q)
		deadline := time.Now().Add(20 * time.Second)
		for _, _, n := stats(table); n < live; _, _, n = stats(table) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v live rows counted, want %v", table, n, live)
			}
			time.Sleep(100 * time.Millisecond)
		}
		tables, err := s.AnalyzeGrownTables(ctx, 1000, growing)
		if err != nil {
			t.Fatal(err)
		}
		return tables
	}
	if tables := grow(`INSERT INTO analyze_other SELECT generate_series(1501, 4000)`, "analyze_other", 4000); slices.Contains(tables, "analyze_other") {
		t.Fatalf("analyze_other (not among the growing tables) analyzed again at 4,000 rows; returned %v", tables)
	}
	if tables := grow(`INSERT INTO analyze_big SELECT generate_series(1501, 2999)`, "analyze_big", 2999); slices.Contains(tables, "analyze_big") {
		t.Fatalf("analyze_big analyzed again at 2,999 rows (1,500 when last analyzed); returned %v", tables)
	}
	if tables := grow(`INSERT INTO analyze_big SELECT 3000`, "analyze_big", 3000); !slices.Contains(tables, "analyze_big") {
		t.Fatalf("analyze_big not analyzed again at 3,000 rows (1,500 when last analyzed); returned %v", tables)
	}
	if _, reltuples, _ := stats("analyze_big"); reltuples != 3000 {
		t.Fatalf("analyze_big analyzed again with %v rows, want 3000", reltuples)
	}
	if tables, err := s.AnalyzeGrownTables(ctx, 1000, growing); err != nil || slices.Contains(tables, "analyze_big") {
		t.Fatalf("AnalyzeGrownTables right after = %v, %v; want analyze_big left alone", tables, err)
	}
}
