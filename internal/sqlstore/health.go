package sqlstore

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"time"
)

// outageProbeInterval is how often the database is pinged during an
// outage, to find its end.
const outageProbeInterval = time.Second

// health follows outages of the database so that each is logged twice,
// when it starts and when it ends, however many requests fail meanwhile.
type health struct {
	db     *sql.DB
	logger *slog.Logger
	probe  time.Duration

	mu     sync.Mutex
	down   bool
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup
}

func newHealth(db *sql.DB, logger *slog.Logger) *health {
	return &health{db: db, logger: logger, probe: outageProbeInterval, done: make(chan struct{})}
}

// fail records err, an unavailability of the database: the first of an
// outage is logged, and a probe starts that logs the outage's end.
func (h *health) fail(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down || h.closed {
		return
	}
	h.down = true
	h.logger.Error("database unavailable", "err", err)
	h.wg.Add(1)
	go h.watch()
}

// watch pings the database until it answers, then ends the outage.
func (h *health) watch() {
	defer h.wg.Done()
	t := time.NewTicker(h.probe)
	defer t.Stop()
	for {
		select {
		case <-h.done:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), h.probe)
		err := h.db.PingContext(ctx)
		cancel()
		if err == nil {
			// Logged before the outage ends, so that whatever is logged
			// once it has ended comes after this line.
			h.logger.Info("database available again")
			h.mu.Lock()
			h.down = false
			h.mu.Unlock()
			return
		}
	}
}

// isDown reports whether an outage is under way.
func (h *health) isDown() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.down
}

// close stops the probe.
func (h *health) close() {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// Unavailable reports whether err means that the database cannot be
// reached (a refused or lost connection, a server shutting down, a disk
// that is full), as opposed to a fault of the request. Callers answer
// such errors with 503 and need not log them: the first error of an
// outage is logged here, and the outage's end once the database answers
// a ping again.
func (s *DB) Unavailable(err error) bool {
	if err == nil || s.dialect.IsUnavailable == nil || !s.dialect.IsUnavailable(err) {
		return false
	}
	s.health.fail(err)
	return true
}

// Down reports whether the database is in an outage that Unavailable has
// seen and whose end has not been seen yet.
func (s *DB) Down() bool { return s.health.isDown() }

// QuietLogger returns a logger for a component that fails with the
// database, such as the job queue: its warnings and errors are dropped
// while an outage is under way, and those about an unavailable database
// (an error attribute Unavailable recognizes, or any warning while a ping
// fails) start one, so that an outage is logged once whoever meets it
// first.
func (s *DB) QuietLogger(l *slog.Logger) *slog.Logger {
	return slog.New(quietHandler{Handler: l.Handler(), s: s})
}

// quietHandler is the handler of QuietLogger.
type quietHandler struct {
	slog.Handler
	s *DB
}

// Handle implements slog.Handler.
func (q quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return q.Handler.Handle(ctx, r)
	}
	unavailable := false
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && q.s.Unavailable(err) {
			unavailable = true
			return false
		}
		return true
	})
	if unavailable || q.s.Down() || q.s.pingFails() {
		return nil
	}
	return q.Handler.Handle(ctx, r)
}

// pingFails reports whether the database fails a ping because it is
// unavailable, starting an outage when it does: a component may report an
// outage in words only (a message, an error flattened into a string), and
// is then taken at its word only if the database agrees.
func (s *DB) pingFails() bool {
	ctx, cancel := context.WithTimeout(context.Background(), outageProbeInterval)
	defer cancel()
	return s.Unavailable(s.db.PingContext(ctx))
}

// WithAttrs implements slog.Handler.
func (q quietHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietHandler{Handler: q.Handler.WithAttrs(attrs), s: q.s}
}

// WithGroup implements slog.Handler.
func (q quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{Handler: q.Handler.WithGroup(name), s: q.s}
}
