package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// CheckpointInterval is how often the checkpointer copies what the
// write-ahead log gained back into the database file. A checkpoint copies
// the latest frame of each page, so a page that every commit touches (an
// index's last leaf, a busy issue's row, a leaf of the events' random ids)
// is copied, and the files synced, once an interval however many commits
// wrote it: every 400 ms rather than 100 ms the one-issue storm's Herald CPU
// per event was 4% lower and its rate 4% higher (four alternating pairs).
const CheckpointInterval = 400 * time.Millisecond

// backstopPages is the size of the log, in pages (64 MiB of 8 KiB pages),
// past which the writer checkpoints after a commit itself, as SQLite does
// by default from 1,000 pages: only when the checkpointer falls that far
// behind.
const backstopPages = 8192

// checkpointer copies the write-ahead log back into the database file on a
// connection of its own, every interval.
//
// SQLite's default has the connection that commits do it, once the log has
// passed 1,000 pages, inside that commit: with one writer, every write
// waited while a checkpoint read back, wrote and synced thousands of pages
// (13% of the writer's time in a storm of events). A passive checkpoint
// takes no lock the writer needs, so here it runs beside the writer
// instead, on the other core. The log is restarted from its beginning by
// the first write after a checkpoint has copied all of it, as before.
type checkpointer struct {
	db   *sql.DB
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// startCheckpointer opens a connection to the database at path (a "file:"
// URI) and starts checkpointing it every interval.
func startCheckpointer(path string, interval time.Duration) (*checkpointer, error) {
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, fmt.Errorf("open sqlite checkpointer: %w", err)
	}
	db.SetMaxOpenConns(1)
	c := &checkpointer{db: db, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run(interval)
	return c, nil
}

// run checkpoints every interval until close. A checkpoint that fails (the
// database is busy past the wait, or the disk fails) is tried again at the
// next tick; the writer's backstop bounds the log meanwhile.
func (c *checkpointer) run(interval time.Duration) {
	defer close(c.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_, _ = c.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
			cancel()
		}
	}
}

// close stops the checkpointer and closes its connection; the writer's
// last connection to close checkpoints what is left.
func (c *checkpointer) close() {
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		c.db.Close()
	})
}
