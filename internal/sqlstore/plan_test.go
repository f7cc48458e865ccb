package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/herald-dev/herald/internal/sqlstore"
	"github.com/herald-dev/herald/internal/storetest"
)

// planConn opens a store's fixture and holds one connection of it, closed
// when the test ends, so that session settings apply to every statement.
func planConn(t *testing.T, open storetest.Opener) (*storetest.Fixture, *sql.Conn) {
	t.Helper()
	f := storetest.NewFixture(t, open)
	conn, err := f.Store.SQL().Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return f, conn
}

// TestIssueWindowsPlan checks PostgreSQL's generic plan of the batch read
// of issues' alert windows (IssueEventWindows), with statistics taken when
// 30 issues had been counted in 4 seconds each and 600 issues counted in 11
// seconds each since: every issue's counters are found through the primary
// key, with the window's bounds in the index condition. A plan through the
// index on second reads every issue's counters of the window to keep the
// few asked for.
func TestIssueWindowsPlan(t *testing.T) {
	t.Parallel()
	f, conn := planConn(t, storetest.OpenPostgres)
	ctx := context.Background()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO issues (project_id, hash, short_id, title, culprit, level, status, substatus, type, value, platform,
		first_seen, last_seen, times_seen)
		SELECT $1, 'hash' || i, 'WEB-' || i, 'Error', '', 'error', 'unresolved', '', 'Error', '', 'other', 0, 0, 11
		FROM generate_series(1, 600) i`, f.Project.ID)
	// The counters' statistics are taken while the table is small, as in
	// a new installation, and the table grows after.
	const first = 1_700_000_000
	exec(`INSERT INTO issue_seconds (issue_id, second, events) SELECT id, s, 1 FROM issues, generate_series($1::bigint, $1::bigint + 3) s WHERE id <= 30`, first)
	exec(`INSERT INTO issue_minutes (issue_id, minute, events) SELECT id, m, 1 FROM issues, generate_series($1::bigint, $1::bigint + 3) m WHERE id <= 30`, first/60)
	exec(`ANALYZE issues`)
	exec(`ANALYZE issue_seconds`)
	exec(`ANALYZE issue_minutes`)
	exec(`INSERT INTO issue_seconds (issue_id, second, events) SELECT id, s, 1 FROM issues, generate_series($1::bigint, $1::bigint + 10) s
		ON CONFLICT DO NOTHING`, first)
	exec(`INSERT INTO issue_minutes (issue_id, minute, events) SELECT id, m, 1 FROM issues, generate_series($1::bigint, $1::bigint + 10) m
		ON CONFLICT DO NOTHING`, first/60)
	exec(`SET plan_cache_mode = force_generic_plan`)
	for _, c := range []struct {
		name     string
		from, to int64
	}{
		{"WithinMinute", first + 1, first + 11},
		{"WholeMinutesAndParts", first - 90, first + 11},
	} {
		q, args := f.Store.IssueWindowsQuery([]int64{1, 2, 3}, c.from, c.to)
		lits := make([]string, len(args))
		for i, a := range args {
			if s, ok := a.(string); ok {
				lits[i] = "'" + strings.ReplaceAll(s, "'", "''") + "'"
			} else {
				lits[i] = fmt.Sprint(a)
			}
		}
		exec(`PREPARE windows AS ` + q)
		rows, err := conn.QueryContext(ctx, `EXPLAIN EXECUTE windows(`+strings.Join(lits, ", ")+`)`)
		if err != nil {
			t.Fatalf("%s: explain: %v", c.name, err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		exec(`DEALLOCATE windows`)
		text := strings.Join(plan, "\n")
		if strings.Contains(text, "issue_seconds_second") || strings.Contains(text, "issue_minutes_minute") ||
			!strings.Contains(text, "issue_seconds_pkey") {
			t.Errorf("%s: the window's counters are not found by issue through the primary key:\n%s", c.name, text)
		}
		if strings.Contains(text, "Seq Scan on issue_") {
			t.Errorf("%s: a scan of a counter table:\n%s", c.name, text)
		}
	}
}

// planDB is a database the plan tests run on, and how it explains a query.
type planDB struct {
	name    string
	open    storetest.Opener
	explain string
}

// forPlanDBs runs test on SQLite and on PostgreSQL, in parallel.
func forPlanDBs(t *testing.T, test func(t *testing.T, db planDB)) {
	for _, db := range []planDB{
		{"SQLite", storetest.OpenSQLite, "EXPLAIN QUERY PLAN "},
		{"PostgreSQL", storetest.OpenPostgres, "EXPLAIN "},
	} {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			test(t, db)
		})
	}
}

// TestBacklogPlan checks that the backlog's read (for the metrics) reads
// the due-deliveries index alone on both databases: through the table it
// read every pending delivery on every scrape. PostgreSQL is kept off a
// sequential scan, which a small table would get, to see which index scan
// it can make.
func TestBacklogPlan(t *testing.T) {
	t.Parallel()
	want := map[string]string{"SQLite": "USING COVERING INDEX deliveries_due", "PostgreSQL": "Index Only Scan using deliveries_due"}
	forPlanDBs(t, func(t *testing.T, db planDB) {
		_, conn := planConn(t, db.open)
		if db.name == "PostgreSQL" {
			for _, q := range []string{"SET enable_seqscan = off", "SET enable_bitmapscan = off"} {
				if _, err := conn.ExecContext(context.Background(), q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
		}
		if got := explain(t, conn, db.explain+sqlstore.BacklogQuery); !strings.Contains(got, want[db.name]) {
			t.Errorf("plan of the backlog read:\n%s\nwant it to contain %q", got, want[db.name])
		}
	})
}

// TestIssueShortIDPlan checks that an issue is found by its short id
// through the issues_short_id index on both databases, with statistics
// taken over 3,000 issues of the organization's project: without the index
// the lookup read every issue of the organization.
func TestIssueShortIDPlan(t *testing.T) {
	t.Parallel()
	want := map[string]string{"SQLite": "USING INDEX issues_short_id", "PostgreSQL": "Index Scan using issues_short_id"}
	forPlanDBs(t, func(t *testing.T, db planDB) {
		f, conn := planConn(t, db.open)
		ctx := context.Background()
		if _, err := conn.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
			INSERT INTO issues (project_id, hash, short_id, title, culprit, level, status, substatus, type, value, platform,
				first_seen, last_seen, times_seen)
			SELECT $1, 'hash' || i, 'WEB-' || i, 'Error', '', 'error', 'unresolved', '', 'Error', '', 'other', i, i, 1 FROM n`,
			f.Project.ID); err != nil {
			t.Fatalf("fill: %v", err)
		}
		// The issues alone: a bare ANALYZE on PostgreSQL reaches every
		// schema of the database, other tests' too.
		if _, err := conn.ExecContext(ctx, `ANALYZE issues`); err != nil {
			t.Fatal(err)
		}
		plan := explain(t, conn, db.explain+sqlstore.FindIssueQuery(true), f.Org.ID, "WEB-2500")
		if !strings.Contains(plan, want[db.name]) {
			t.Errorf("plan of the short id's lookup:\n%s\nwant it to contain %q", plan, want[db.name])
		}
	})
}

// explain runs an EXPLAIN statement on conn and returns its plan, a line
// per row: the last column of each (SQLite's EXPLAIN QUERY PLAN gives the
// plan's text in its fourth, PostgreSQL's EXPLAIN in its only one).
func explain(t *testing.T, conn *sql.Conn, q string, args ...any) string {
	t.Helper()
	rows, err := conn.QueryContext(context.Background(), q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		detail := vals[len(vals)-1]
		if b, ok := detail.([]byte); ok {
			detail = string(b)
		}
		plan = append(plan, fmt.Sprint(detail))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}
