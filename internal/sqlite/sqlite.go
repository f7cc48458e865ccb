// Package sqlite opens Herald's embedded store: a pure-Go SQLite database
// (modernc.org/sqlite) in WAL mode inside the data directory, with River's
// SQLite driver on the same database.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/riverqueue/river/riverdriver/riversqlite"
	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver

	"github.com/herald-dev/herald/internal/sqlstore"
)

// FileName is the database file inside the data directory.
const FileName = "herald.db"

// Open opens (creating if needed) the database in dir, applies migrations
// and returns the store. The database file and the -wal and -shm files
// beside it are made readable by their owner alone (0600).
func Open(ctx context.Context, dir string, opts sqlstore.Options) (*sqlstore.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	file := filepath.Join(dir, FileName)
	if err := restrictFiles(file); err != nil {
		return nil, err
	}
	path := "file:" + file
	// The writer does not copy the log back into the database file itself
	// (a checkpoint) unless the log passes 64 MiB: a checkpointer does it on
	// a connection of its own, beside the writer (see checkpointer).
	//
	// An 8 MiB page cache for the writer (the default is 2 MiB): recording
	// outcomes looks up deliveries scattered over the table, and every page
	// missing from the cache is a read from the file. The cache costs about
	// twice its size: the allocator under this SQLite (modernc.org/memory)
	// gives each 8 KiB page, with its header, a 16 KiB slot, so 8 MiB of
	// pages hold about 17 MiB of memory, and up to 24 MiB while the drain
	// of a backlog held more pages (sqlite3_db_status's CACHE_USED, read
	// every second). With a 16 MiB cache (33 to 34 MiB held) the
	// server peaked at 184 to 211 MiB while draining a backlog of 100,000
	// deliveries, with 8 MiB at 156 to 174 MiB, at the same drain rate and
	// storm rates (BENCHMARKS.md).
	//
	// A new database gets 8 KiB pages: an event or a delivery body (2 to
	// 3 KB each) filled a page of the default 4 KiB alone, where 8 KiB pages
	// hold two or three (a third less file, 40% fewer write calls per
	// event). page_size must come before the log is turned on, hence
	// _journal_mode, which the driver applies after the _pragma list.
	db, err := sql.Open("sqlite", path+"?_journal_mode=WAL&_pragma=page_size(8192)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_pragma=cache_size(-8192)&_pragma=wal_autocheckpoint("+strconv.Itoa(backstopPages)+")&_txlock=immediate")
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
	rdb, err := openReaders(path)
	if err != nil {
		db.Close()
		return nil, err
	}
	ckpt, err := startCheckpointer(path, CheckpointInterval, restartPages)
	if err != nil {
		db.Close()
		rdb.Close()
		return nil, err
	}
	s, err := sqlstore.Open(ctx, db, sqlstore.Dialect{
		Name:              "sqlite",
		TranslateDDL:      TranslateDDL,
		IsUniqueViolation: isUniqueViolation,
		IsUnavailable:     IsUnavailable,
		ReadDB:            rdb,
		River:             riversqlite.New(db),
		// One process owns the database file, so whatever is still marked
		// running was left by a crash of this process.
		ResetJobsSQL: `UPDATE river_job SET state = 'available' WHERE state = 'running' AND $1 <> ''`,
		SingleNode:   true,
		OnClose:      ckpt.close,
		Settle:       ckpt.settle,
	}, opts)
	if err != nil {
		ckpt.close()
		db.Close()
		rdb.Close()
		return nil, err
	}
	return s, nil
}

// readers is how many read-only connections run beside the writer.
const readers = 4

// openReaders opens the pool of read-only connections to the database at
// path (a "file:" URI), which run beside the writer in WAL mode. All of
// them stay open once opened: with database/sql's default of two idle
// connections, a third and fourth reader were closed as soon as their read
// ended and opened again for the next, each opening reading the schema
// and preparing its statements anew; four API reads at a time then cost
// the server 281 to 303 µs of CPU each instead of 133 to 161
// (BENCHMARKS.md).
func openReaders(path string) (*sql.DB, error) {
	rdb, err := sql.Open("sqlite", path+"?mode=ro&_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return nil, fmt.Errorf("open sqlite readers: %w", err)
	}
	rdb.SetMaxOpenConns(readers)
	rdb.SetMaxIdleConns(readers)
	return rdb, nil
}

// restrictFiles makes the database file at path readable and writable by
// its owner alone: it creates the file with mode 0600 before SQLite opens it,
// and takes the group and other permissions away from an existing database
// file and from the -wal, -shm and -journal files an earlier run left. SQLite
// creates those files with the database file's mode, so they follow.
func restrictFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("database file mode: %w", err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			if err := os.Chmod(p, perm&^0o077); err != nil {
				return fmt.Errorf("database file mode: %w", err)
			}
		}
	}
	return nil
}

// ddlTypes maps the PostgreSQL column definitions Herald's migrations use to
// SQLite's: an INTEGER PRIMARY KEY is SQLite's auto-assigned rowid, and
// booleans are stored as 0 and 1.
var ddlTypes = strings.NewReplacer(
	"BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "INTEGER PRIMARY KEY",
	"BOOLEAN NOT NULL DEFAULT FALSE", "INTEGER NOT NULL DEFAULT 0",
	"BOOLEAN NOT NULL DEFAULT TRUE", "INTEGER NOT NULL DEFAULT 1",
	"BOOLEAN", "INTEGER",
	"BYTEA", "BLOB",
	"DOUBLE PRECISION", "REAL",
)

// TranslateDDL rewrites a migration statement written for PostgreSQL into
// SQLite's column types.
func TranslateDDL(stmt string) string { return ddlTypes.Replace(stmt) }

// IsUnavailable reports whether err means the database file cannot serve
// requests for now: it is busy or locked past the wait, out of memory,
// read-only, failing at input/output, full, or cannot be opened. These are
// the primary result codes SQLite reports them with.
func IsUnavailable(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return errors.Is(err, sql.ErrConnDone)
	}
	switch e.Code() & 0xff {
	case sqliteBusy, sqliteLocked, sqliteNoMem, sqliteReadOnly, sqliteIOErr, sqliteFull, sqliteCantOpen:
		return true
	}
	return false
}

// SQLite's primary result codes (https://www.sqlite.org/rescode.html).
const (
	sqliteBusy     = 5
	sqliteLocked   = 6
	sqliteNoMem    = 7
	sqliteReadOnly = 8
	sqliteIOErr    = 10
	sqliteFull     = 13
	sqliteCantOpen = 14
)

func isUniqueViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
