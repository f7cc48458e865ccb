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
// alone cost PostgreSQL 130 µs per event. The store therefore looks, every
// analyzeInterval during its first analyzeFor, for the tables of its schema
// PostgreSQL has never analyzed although analyzeMinRows rows have been
// written to them, and analyzes them; analyzing invalidates the plans made
// before. A hundred rows are enough for the planner to prefer the indexes
// that stay right as the table grows (1,000 left the first second or two of
// a storm of new issues on the slow plans). Autovacuum keeps the statistics
// from then on.
const (
	analyzeInterval = 500 * time.Millisecond
	analyzeFor      = 10 * time.Minute
	analyzeMinRows  = 100
	analyzeTimeout  = time.Minute
)

// AnalyzeNewTables runs ANALYZE on the tables of the store's schema that
// PostgreSQL has never analyzed (neither by hand nor by autovacuum) although
// at least minRows rows have been written to them, and returns their names.
// On SQLite, whose planner does not keep plans made from statistics, it does
// nothing.
func (s *DB) AnalyzeNewTables(ctx context.Context, minRows int64) ([]string, error) {
	if s.dialect.Name != "postgres" {
		return nil, nil
	}
	tables, err := s.unanalyzedTables(ctx, minRows)
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

// unanalyzedTables lists the tables of AnalyzeNewTables.
func (s *DB) unanalyzedTables(ctx context.Context, minRows int64) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT relname FROM pg_stat_user_tables
		WHERE schemaname = current_schema() AND last_analyze IS NULL AND last_autoanalyze IS NULL
		AND n_mod_since_analyze >= $1 ORDER BY relname`, minRows)
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

// analyzer runs AnalyzeNewTables every analyzeInterval for analyzeFor, or
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
			tables, err := s.AnalyzeNewTables(ctx, analyzeMinRows)
			cancel()
			switch {
			case err != nil:
				logger.Warn("gather statistics of new tables", "err", err)
			case len(tables) > 0:
				logger.Info("gathered statistics of tables PostgreSQL had none of", "tables", strings.Join(tables, ","))
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
