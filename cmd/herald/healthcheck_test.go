package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	answer := func(status int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/readyz" || r.Method != http.MethodGet {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			if status == http.StatusFound {
				http.Redirect(w, r, "/elsewhere", status)
				return
			}
			w.WriteHeader(status)
		}))
		t.Cleanup(srv.Close)
		return srv.URL + "/readyz"
	}
	closedURL := "http://" + refusedAddr(t) + "/readyz"

	tests := []struct {
		name     string
		args     []string
		addr     string // HERALD_ADDR
		wantCode int    // 0: success
	}{
		{"Ready", []string{"--url", answer(200)}, "", 0},
		{"ErrNotReady", []string{"--url", answer(503)}, "", 1},
		{"ErrRedirectNotFollowed", []string{"--url", answer(302)}, "", 1},
		{"ErrNotFound", []string{"--url", strings.TrimSuffix(answer(200), "/readyz") + "/nope"}, "", 1},
		{"ErrConnectionRefused", []string{"--url", closedURL}, "", 1},
		{"PortOfHeraldAddr", nil, ":" + strings.TrimPrefix(strings.TrimSuffix(answer(200), "/readyz"), "http://127.0.0.1:"), 0},
		{"ErrBadFlag", []string{"--nope"}, "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			getenv := func(k string) string {
				if k == "HERALD_ADDR" {
					return tt.addr
				}
				return ""
			}
			err := Run(context.Background(), append([]string{"healthcheck"}, tt.args...), &stdout, &stderr, getenv)
			if tt.wantCode == 0 {
				if err != nil || !strings.HasPrefix(stdout.String(), "ready: http://127.0.0.1:") {
					t.Fatalf("err = %v, stdout %q", err, stdout.String())
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, stdout %q", stdout.String())
			}
			if got := exitCode(err); got != tt.wantCode {
				t.Fatalf("exit code = %d, want %d (err %v)", got, tt.wantCode, err)
			}
		})
	}
}

func TestReadyzURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ addr, want string }{
		{"", "http://127.0.0.1:8080/readyz"},
		{":8080", "http://127.0.0.1:8080/readyz"},
		{":9000", "http://127.0.0.1:9000/readyz"},
		{"0.0.0.0:9001", "http://127.0.0.1:9001/readyz"},
		{"[::]:9002", "http://127.0.0.1:9002/readyz"},
		{"127.0.0.1:0", "http://127.0.0.1:8080/readyz"},
		{"nonsense", "http://127.0.0.1:8080/readyz"},
	}
	for _, tt := range tests {
		if got := readyzURL(tt.addr); got != tt.want {
			t.Errorf("readyzURL(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"Plain", errors.New("boom"), 2},
		{"Help", flag.ErrHelp, 2},
		{"Asked", &exitError{code: 1, err: errors.New("not ready")}, 1},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("%s: exitCode = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// refusedAddr returns a loopback address that refuses connections: a port
// bound by a socket that does not listen, so that no other server of the
// test run gets it while the test runs (a closed listener's port may be
// the next one handed out).
func refusedAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}
