package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// errGone is the error of a database that went away.
var errGone = errors.New("connection refused")

// flakyDriver is a database/sql driver whose connections answer Ping only
// while up is set.
type flakyDriver struct{ up *atomic.Bool }

func (d flakyDriver) Open(string) (driver.Conn, error) { return flakyConn(d), nil }

type flakyConn struct{ up *atomic.Bool }

func (c flakyConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("not supported") }
func (c flakyConn) Close() error                        { return nil }
func (c flakyConn) Begin() (driver.Tx, error)           { return nil, errors.New("not supported") }
func (c flakyConn) Ping(context.Context) error {
	if !c.up.Load() {
		return errGone
	}
	return nil
}

// recorder keeps log messages by level.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Level.String()+" "+rec.Message)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

// newFlakyStore returns a DB over a flaky driver whose dialect calls
// errGone unavailable, with its log recorder and the switch of the
// database.
func newFlakyStore(t *testing.T) (*DB, *recorder, *atomic.Bool) {
	t.Helper()
	up := &atomic.Bool{}
	db := sql.OpenDB(flakyConnector{up: up})
	t.Cleanup(func() { db.Close() })
	rec := &recorder{}
	s := &DB{db: db, logger: slog.New(rec), dialect: Dialect{IsUnavailable: func(err error) bool { return errors.Is(err, errGone) }}}
	s.health = newHealth(db, s.logger)
	s.health.probe = 5 * time.Millisecond
	t.Cleanup(s.health.close)
	return s, rec, up
}

type flakyConnector struct{ up *atomic.Bool }

func (c flakyConnector) Connect(context.Context) (driver.Conn, error) { return flakyConn(c), nil }
func (c flakyConnector) Driver() driver.Driver                        { return flakyDriver(c) }

// waitUntil polls cond for up to five seconds.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
	}
}

func TestUnavailableLogsAnOutageOnce(t *testing.T) {
	t.Parallel()
	s, rec, up := newFlakyStore(t)
	if s.Unavailable(errors.New("syntax error")) || s.Unavailable(nil) {
		t.Fatal("an error of the request counts as unavailability")
	}
	for range 100 {
		if !s.Unavailable(errGone) {
			t.Fatal("a refused connection is not unavailability")
		}
	}
	if !s.Down() {
		t.Fatal("not down during the outage")
	}
	up.Store(true)
	waitUntil(t, func() bool { return !s.Down() })
	want := []string{"ERROR database unavailable", "INFO database available again"}
	if got := rec.all(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("log = %q, want %q", got, want)
	}
	// The next outage is logged again.
	up.Store(false)
	s.Unavailable(errGone)
	if got := rec.all(); len(got) != 3 || got[2] != want[0] {
		t.Fatalf("log after a second outage = %q", got)
	}
}

func TestQuietLogger(t *testing.T) {
	t.Parallel()
	s, rec, up := newFlakyStore(t)
	l := s.QuietLogger(s.logger).With("component", "jobs")
	// An error flattened into a string is taken at its word once a ping
	// fails too.
	l.Error("clean jobs", "error", "dial tcp 127.0.0.1:5432: connect: connection refused")
	l.Error("fetch jobs", "err", errGone)
	l.Warn("elector", "err", errors.New("unrelated, but during the outage"))
	l.Info("still informative")
	up.Store(true)
	waitUntil(t, func() bool { return !s.Down() })
	l.Error("a real failure", "err", errors.New("boom"))
	want := []string{"ERROR database unavailable", "INFO still informative", "INFO database available again", "ERROR a real failure"}
	got := rec.all()
	if len(got) != len(want) {
		t.Fatalf("log = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("log = %q, want %q", got, want)
		}
	}
}
