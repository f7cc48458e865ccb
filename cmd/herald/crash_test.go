package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/herald-dev/herald"
)

// TestMain lets the test binary stand in for the herald binary, so tests
// can run it as a real process and kill it.
func TestMain(m *testing.M) {
	if os.Getenv("HERALD_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startProcess runs `herald serve args...` as a child process and waits
// until it is ready.
func startProcess(t *testing.T, addr string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--addr", addr}, args...)...)
	cmd.Env = append(os.Environ(), "HERALD_TEST_RUN_MAIN=1")
	cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("server process did not become ready")
	return nil
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestCrashSafety: every event answered 200 before the process is killed
// (SIGKILL, no shutdown) is delivered after a restart.
func TestCrashSafety(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the server as a process")
	}
	addr, dir := freeAddr(t), t.TempDir()
	args := []string{"--data-dir", dir, "--allow-destination", "127.0.0.0/8", "--bootstrap-token", testToken,
		"--retry-schedule", "1s,1s,1s,1s,1s", "--log-level", "warn"}
	cmd := startProcess(t, addr, args...)
	srv := &Server{URL: "http://" + addr}
	p := setUp(t, srv)

	var up atomic.Bool
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(200)
	})
	h := createHook(t, srv, rc.URL, "event.created")
	rc.setSecret(h.Secret)

	const n = 40
	accepted := map[string]bool{}
	for i := 0; i < n; i++ {
		id := herald.NewID()
		if storeEvent(t, srv, p, id, fmt.Sprintf("crash %d", i)) == 200 {
			accepted[id] = true
		}
	}
	if len(accepted) != n {
		t.Fatalf("accepted %d of %d", len(accepted), n)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	rc.mu.Lock()
	t.Logf("attempts before the kill: %d", len(rc.got))
	rc.mu.Unlock()
	up.Store(true)
	startProcess(t, addr, args...)
	deadline := time.After(45 * time.Second)
	for {
		delivered := map[string]bool{}
		rc.mu.Lock()
		for _, g := range rc.got {
			var body serviceHookBody
			if err := json.Unmarshal(g.Body, &body); err == nil && g.Verified {
				delivered[body.Event.EventID] = true
			}
		}
		rc.mu.Unlock()
		missing := 0
		for id := range accepted {
			if !delivered[id] {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		select {
		case <-rc.notify:
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%d of %d accepted events never delivered after the restart", missing, n)
		}
	}
}

// TestGracefulShutdown: SIGTERM while a delivery is in flight lets it
// finish and records it, and the process exits cleanly.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the server as a process")
	}
	addr, dir := freeAddr(t), t.TempDir()
	args := []string{"--data-dir", dir, "--allow-destination", "127.0.0.0/8", "--bootstrap-token", testToken, "--log-level", "warn"}
	cmd := startProcess(t, addr, args...)
	srv := &Server{URL: "http://" + addr}
	p := setUp(t, srv)
	inFlight := make(chan struct{}, 1)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		inFlight <- struct{}{}
		time.Sleep(700 * time.Millisecond)
		w.WriteHeader(200)
	})
	h := createHook(t, srv, rc.URL, "event.created")
	rc.setSecret(h.Secret)
	mustStatus(t, 200, storeEvent(t, srv, p, herald.NewID(), "shutdown"))
	select {
	case <-inFlight:
	case <-time.After(10 * time.Second):
		t.Fatal("delivery never started")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("process did not stop after SIGTERM")
	}
	startProcess(t, addr, args...)
	var list []struct {
		Status   string `json:"status"`
		Attempts int    `json:"attempts"`
	}
	call(t, srv.URL, "GET", "/api/0/projects/acme/web/hooks/"+h.ID+"/deliveries/", nil, &list)
	if len(list) != 1 || list[0].Status != "delivered" || list[0].Attempts != 1 {
		t.Fatalf("after graceful shutdown: %+v", list)
	}
}
