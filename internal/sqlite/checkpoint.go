package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
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

// restartPages is the size of the log, in pages, past which the
// checkpointer also has the log start over: a passive checkpoint seldom
// catches up with a writer that commits while it copies, and the log
// otherwise grows to backstopPages, where the writer's commit checkpoints
// it (copying all that was committed since the last tick, and syncing,
// while every write waits): 3% of the server's CPU in a storm of events,
// on the writer. With the checkpointer restarting the log, the one-issue
// storm's rate was 10% higher at the same CPU per event, the mixed storm's
// 5% higher (three alternating pairs in a quiet sitting; BENCHMARKS.md).
const restartPages = backstopPages / 2

// restartWait bounds how long the checkpointer waits for the write lock,
// and then for readers to leave the log, to have it start over; writes
// wait while it holds the lock (that wait, and its copy of what was
// committed since its passive checkpoint).
const restartWait = 50 * time.Millisecond

// restartBackoff is how many ticks the checkpointer lets pass without
// trying to restart the log after a read kept it from doing so: a long
// read (a backup) would otherwise hold writes up for restartWait every
// tick.
const restartBackoff = 10

// checkpointer copies the write-ahead log back into the database file on a
// connection of its own, every interval.
//
// SQLite's default has the connection that commits do it, once the log has
// passed 1,000 pages, inside that commit: with one writer, every write
// waited while a checkpoint read back, wrote and synced thousands of pages
// (13% of the writer's time in a storm of events). A passive checkpoint
// takes no lock the writer needs, so here it runs beside the writer
// instead, on the other core. The log is restarted from its beginning by
// the first write after a checkpoint has copied all of it, which a passive
// checkpoint beside a busy writer seldom does: past restartPages the
// checkpointer takes the write lock for a moment to finish (checkpoint).
type checkpointer struct {
	db *sql.DB
	// restart is the log's size, in pages, from which a checkpoint also
	// has it start over (restartPages).
	restart int
	// backoff counts the checkpoints left before trying to restart again.
	backoff int
	// afterPassive, when set (by tests), is called after each passive
	// checkpoint.
	afterPassive func()
	// now carries settle's requests for a checkpoint at once, each with
	// the channel to close when it is over.
	now  chan chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// startCheckpointer opens a connection to the database at path (a "file:"
// URI) and starts checkpointing it every interval, having the log start
// over once it holds restart pages.
func startCheckpointer(path string, interval time.Duration, restart int) (*checkpointer, error) {
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout("+strconv.FormatInt(restartWait.Milliseconds(), 10)+")")
	if err != nil {
		return nil, fmt.Errorf("open sqlite checkpointer: %w", err)
	}
	db.SetMaxOpenConns(1)
	c := &checkpointer{db: db, restart: restart, now: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run(interval)
	return c, nil
}

// run checkpoints every interval, and whenever settle asks, until close.
// A checkpoint that fails (the database is busy past the wait, or the disk
// fails) is tried again at the next tick; the writer's backstop bounds the
// log meanwhile.
func (c *checkpointer) run(interval time.Duration) {
	defer close(c.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.checkpointNow()
		case done := <-c.now:
			c.checkpointNow()
			close(done)
		}
	}
}

// checkpointNow checkpoints, giving up after a minute.
func (c *checkpointer) checkpointNow() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c.checkpoint(ctx)
}

// settle checkpoints at once, between ticks, and returns when the
// checkpoint is over (or ctx is done, or the checkpointer closed). A purge
// calls it after each of its transactions: deleting events dirties a page
// of every index for each, and a purge wrote the log faster (about 60 MiB
// a second) than checkpoints at each tick copied it back, so the log
// passed backstopPages within a second and the writer checkpointed it
// itself, holding every write for 200 to 300 ms.
func (c *checkpointer) settle(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case c.now <- done:
	case <-c.stop:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// checkpoint copies what the log gained back into the database file
// without waiting for the writer (PASSIVE), then, when the log holds
// c.restart pages or more, copies what was committed meanwhile with the
// write lock held and waits for readers to leave the log (RESTART), so
// that the next commit starts it over from its beginning. It reports
// whether it tried to restart the log; after a read kept it from doing so
// it does not try again for restartBackoff calls.
func (c *checkpointer) checkpoint(ctx context.Context) (restart bool) {
	var busy, logPages, copied int
	if err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logPages, &copied); err != nil {
		return false
	}
	if c.afterPassive != nil {
		c.afterPassive()
	}
	if c.backoff > 0 {
		c.backoff--
		return false
	}
	if logPages < c.restart {
		return false
	}
	err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &logPages, &copied)
	if err != nil || busy != 0 {
		c.backoff = restartBackoff
	}
	return true
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
