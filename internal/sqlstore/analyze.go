package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Statistics of new tables (PostgreSQL).
//
// PostgreSQL plans a prepared statement from the table statistics it has
// when the statement is first run, and keeps the plan until the statistics
// change. On a new database every table is empty then, and the plans assume
// so: finding a batch's issues by hash read every issue of the project
// through issues_project_seen (a bitmap scan and a filter) rather than
// looking each hash up in the unique index, and the outcome update scanned
// every pending delivery. Autovacuum gathers statistics only once a minute
// (autovacuum_naptime), so a new installation under load spent its first
// minute that way: in the new-issue-per-event benchmark the issue lookup
// alone cost PostgreSQL 130 µs per event. The statistics of a table
// analyzed when small mislead the same way as it grows: the issues of the
// mixed benchmark, analyzed at a hundred rows (four pages), were then read
// whole for each batch's lookup by hash (891 rows read for 7), and the
// rules' last firings likewise.
//
// The store therefore looks, every analyzeInterval during its first
// analyzeFor, for the tables of its schema PostgreSQL has never analyzed
// although analyzeMinRows rows have been written to them, and for those of
// growingTables that hold twice the rows they held when last analyzed, and
// analyzes them; analyzing invalidates the plans made before. A lookup
// table growing from empty to a million rows is analyzed about fourteen
// times, each time it has doubled. The big tables (events, deliveries and
// their bodies, attempts) are read by primary key, where their first
// statistics plan well; analyzing them each time they doubled cost
// PostgreSQL more than the corrected plans saved (a second of its CPU in
// the 10,000 events of the mixed benchmark, the events' existence check
// planned again for each batch after). Autovacuum keeps the statistics
// from then on.
const (
	analyzeInterval = 500 * time.Millisecond
	analyzeFor      = 10 * time.Minute
	analyzeMinRows  = 100
	analyzeTimeout  = time.Minute
)

// growingTables are the tables a batch looks up a few of its rows in among
// all the table's rows, by keys other than the primary key or in a range
// of it: the issues by hash, the rules' last firings, the alert counters.
// Their plans go from reading the whole table (right while it is small) to
// the indexes as they grow, so AnalyzeGrownTables analyzes them again each
// time they have doubled. They are narrow, and cheap to analyze.
var growingTables = []string{
	"issues", "rule_fires",
	"issue_minutes", "issue_seconds", "issue_minute_users",
	"metric_minutes", "metric_seconds", "metric_minute_users",
}

// AnalyzeGrownTables runs ANALYZE on the tables of the store's schema that
// PostgreSQL has never analyzed (neither by hand nor by autovacuum)
// although at least minRows rows have been written to them, and on those
// of growing holding at least minRows rows and twice as many as when last
// analyzed, and returns their names. On SQLite, whose planner does not
// keep plans made from statistics, it does nothing.
func (s *DB) AnalyzeGrownTables(ctx context.Context, minRows int64, growing []string) ([]string, error) {
	if s.dialect.Name != "postgres" {
		return nil, nil
	}
	tables, err := s.grownTables(ctx, minRows, growing)
	if err != nil {
		return nil, fmt.Errorf("find tables to analyze: %w", err)
	}
	for _, t := range tables {
		if _, err := s.db.ExecContext(ctx, `ANALYZE `+quoteIdent(t)); err != nil {
			return nil, fmt.Errorf("analyze %s: %w", t, err)
		}
	}
	return tables, nil
}

// grownTables lists the tables of AnalyzeGrownTables, from the catalog and
// the statistics functions rather than pg_stat_user_tables, which computes
// every column of every table of the database first. reltuples is the rows
// counted by the last ANALYZE (or VACUUM), -1 before either; the live rows
// follow the inserts and deletes since, not the updates, so a table whose
// rows are updated in place is not analyzed again for it.
func (s *DB) grownTables(ctx context.Context, minRows int64, growing []string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT c.relname FROM pg_class c
		WHERE c.relnamespace = CAST(current_schema() AS regnamespace) AND c.relkind IN ('r', 'p') AND (
			(pg_stat_get_last_analyze_time(c.oid) IS NULL AND pg_stat_get_last_autoanalyze_time(c.oid) IS NULL
				AND pg_stat_get_mod_since_analyze(c.oid) >= $1)
			OR (c.relname = ANY(ARRAY(SELECT json_array_elements_text(CAST($2 AS json))))
				AND c.reltuples >= 0 AND pg_stat_get_live_tuples(c.oid) >= GREATEST($1, 2 * c.reltuples)))
		ORDER BY c.relname`, minRows, jsonList(growing))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		tables = append(tables, t)
	}
	return tables, rows.Err()
}

// quoteIdent quotes a PostgreSQL identifier.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// analyzer runs AnalyzeGrownTables every analyzeInterval for analyzeFor, or
// until closed.
type analyzer struct {
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// startAnalyzer starts the analyzer of s.
func startAnalyzer(s *DB) *analyzer {
	a := &analyzer{done: make(chan struct{})}
	// An outage is logged once, by whoever meets it first, not at every
	// check of the analyzer.
	logger := s.QuietLogger(s.logger)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		t := time.NewTicker(analyzeInterval)
		defer t.Stop()
		stop := time.NewTimer(analyzeFor)
		defer stop.Stop()
		for {
			select {
			case <-a.done:
				return
			case <-stop.C:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), analyzeTimeout)
			tables, err := s.AnalyzeGrownTables(ctx, analyzeMinRows, growingTables)
			cancel()
			switch {
			case err != nil:
				logger.Warn("gather statistics of new tables", "err", err)
			case len(tables) > 0:
				logger.Info("gathered statistics of new or grown tables", "tables", strings.Join(tables, ","))
			}
		}
	}()
	return a
}

// close stops the analyzer and waits for it.
func (a *analyzer) close() {
	if a == nil {
		return
	}
	a.once.Do(func() { close(a.done) })
	a.wg.Wait()
}
