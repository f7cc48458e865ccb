package bench

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to create and drop the bench's schema

	"github.com/herald-dev/herald"
)

// Server start and stop bounds.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
	// logTail is how much of the server's output is kept to explain a
	// failure.
	logTail = 16 << 10
)

// listeningLine matches the line `herald serve` prints once it listens.
var listeningLine = regexp.MustCompile(`listening on (http://\S+)`)

// server is the Herald node under test: a child process the bench started,
// or a running one it was pointed at.
type server struct {
	// URL is the server's base URL; token an API token with every scope.
	URL   string
	token string
	// pid is the process whose memory and CPU are measured; 0 when unknown.
	pid int

	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	output  *tailBuffer
	dataDir string
	// dropSchema removes the PostgreSQL schema the server ran in.
	dropSchema func() error
}

// startServer starts `herald serve` as a child process on a free loopback
// port with a fresh database, with flags added to the bench's own.
func startServer(ctx context.Context, opts Options, flags []string) (*server, error) {
	if opts.Target != "" {
		return &server{URL: strings.TrimSuffix(opts.Target, "/"), token: opts.Token, pid: opts.PID}, nil
	}
	s := &server{token: "bench-" + herald.RandomHex(16), exited: make(chan struct{}), output: &tailBuffer{max: logTail}}
	dir, err := os.MkdirTemp("", "herald-bench-")
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	s.dataDir = dir
	args := []string{
		"--addr", "127.0.0.1:0",
		"--data-dir", dir,
		"--allow-destination", "127.0.0.0/8",
		"--bootstrap-token", s.token,
		"--log-level", "warn",
	}
	if opts.Database == Postgres {
		u, drop, err := createSchema(ctx, opts.DatabaseURL)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.dropSchema = drop
		args = append(args, "--database-url", u)
	}
	args = append(append(args, flags...), opts.ServerFlags...)
	if err := s.start(ctx, opts.Executable, append(append([]string(nil), opts.ServerArgs...), args...), opts.ServerEnv); err != nil {
		return nil, err
	}
	return s, nil
}

// start runs exe with args as s's child process, its environment the
// bench's without Herald's variables plus env, and waits until it prints
// the line it listens on and its /readyz answers 200. On failure the child
// is stopped and s cleaned up.
func (s *server) start(ctx context.Context, exe string, args, env []string) error {
	s.cmd = exec.Command(exe, args...)
	s.cmd.Env = childEnv(os.Environ(), env)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return errors.Join(fmt.Errorf("server stdout: %w", err), s.cleanUp())
	}
	s.cmd.Stderr = s.output
	if err := s.cmd.Start(); err != nil {
		return errors.Join(fmt.Errorf("start server: %w", err), s.cleanUp())
	}
	s.pid = s.cmd.Process.Pid
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(s.output, line)
			if m := listeningLine.FindStringSubmatch(line); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case s.URL = <-urls:
	case <-s.exited:
		return errors.Join(fmt.Errorf("server exited before listening (%w): %s", s.waitErr, s.output.String()), s.cleanUp())
	case <-timer.C:
		_ = s.stop()
		return fmt.Errorf("server did not listen within %s: %s", startTimeout, s.output.String())
	case <-ctx.Done():
		_ = s.stop()
		return fmt.Errorf("start server: %w", ctx.Err())
	}
	if err := s.waitReady(ctx); err != nil {
		_ = s.stop()
		return err
	}
	return nil
}

// waitReady polls /readyz until it answers 200.
func (s *server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server not ready at %s/readyz: %w", s.URL, ctx.Err())
		case <-s.exited:
			return fmt.Errorf("server exited (%w): %s", s.waitErr, s.output.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// alive reports an error when a child server has exited.
func (s *server) alive() error {
	if s.cmd == nil {
		return nil
	}
	select {
	case <-s.exited:
		return fmt.Errorf("server exited (%w): %s", s.waitErr, s.output.String())
	default:
		return nil
	}
}

// stop ends a child server (SIGTERM, then SIGKILL after stopTimeout) and
// removes its database. A server the bench did not start is left alone.
func (s *server) stop() error {
	if s.cmd == nil {
		return nil
	}
	var err error
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			_ = s.cmd.Process.Kill()
			<-s.exited
			err = fmt.Errorf("server did not stop within %s and was killed", stopTimeout)
		}
	}
	return errors.Join(err, s.cleanUp())
}

// cleanUp removes the server's data directory and schema.
func (s *server) cleanUp() error {
	var errs []error
	if s.dataDir != "" {
		errs = append(errs, os.RemoveAll(s.dataDir))
		s.dataDir = ""
	}
	if s.dropSchema != nil {
		errs = append(errs, s.dropSchema())
		s.dropSchema = nil
	}
	return errors.Join(errs...)
}

// childEnv is env without Herald's own variables (flags set the child's
// configuration, and a stray HERALD_DATABASE_URL must not redirect it),
// plus extra.
func childEnv(env, extra []string) []string {
	out := make([]string, 0, len(env)+len(extra))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "HERALD_") {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// createSchema creates a fresh schema in the PostgreSQL database at base
// and returns a URL whose search_path selects it, and a function that
// drops it.
func createSchema(ctx context.Context, base string) (string, func() error, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, herald.Errorf(herald.EINVALID, "database-url: want postgres://..., got an invalid URL")
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, fmt.Errorf("open postgres: %w", err)
	}
	defer db.Close()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(cctx); err != nil {
		return "", nil, fmt.Errorf("postgres unreachable at %s: %w", u.Redacted(), err)
	}
	schema := "herald_bench_" + herald.RandomHex(6)
	if _, err := db.ExecContext(cctx, `CREATE SCHEMA `+schema); err != nil {
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	drop := func() error {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return fmt.Errorf("drop schema: %w", err)
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			return fmt.Errorf("drop schema %s: %w", schema, err)
		}
		return nil
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	mu  sync.Mutex
	buf []byte
}

// Write implements io.Writer.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// String returns what is kept, trimmed.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}
