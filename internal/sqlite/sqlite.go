// Package sqlite opens Herald's embedded store: a pure-Go SQLite database
// (modernc.org/sqlite) in WAL mode inside the data directory, with River's
// SQLite driver on the same database.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/riverqueue/river/riverdriver/riversqlite"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/herald-dev/herald/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// FileName is the database file inside the data directory.
const FileName = "herald.db"

// Open opens (creating if needed) the database in dir, applies migrations
// and returns the store.
func Open(ctx context.Context, dir string, opts sqlstore.Options) (*sqlstore.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	path := "file:" + filepath.Join(dir, FileName)
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// SQLite writes one transaction at a time; one connection avoids
	// SQLITE_BUSY between River and Herald and is what River's driver wants.
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// Readers run beside the writer in WAL mode.
	rdb, err := sql.Open("sqlite", path+"?mode=ro&_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite readers: %w", err)
	}
	rdb.SetMaxOpenConns(4)
	sub, _ := fs.Sub(migrations, "migrations")
	s, err := sqlstore.Open(ctx, db, sqlstore.Dialect{
		Name:              "sqlite",
		Migrations:        sub,
		IsUniqueViolation: isUniqueViolation,
		ReadDB:            rdb,
		River:             riversqlite.New(db),
		// One process owns the database file, so whatever is still marked
		// running was left by a crash of this process.
		ResetJobsSQL: `UPDATE river_job SET state = 'available' WHERE state = 'running' AND $1 <> ''`,
	}, opts)
	if err != nil {
		db.Close()
		rdb.Close()
		return nil, err
	}
	return s, nil
}

func isUniqueViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
