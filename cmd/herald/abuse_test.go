package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-dev/herald/internal/bench"
)

// maxAbuseGrowth is how much the server's peak memory may grow under each
// abuse below: twice the default ingest budget (64 MiB), as Go's collector
// lets the heap grow to about twice what is live and the budget is what
// the bodies may hold at once, plus 48 MiB for the server's own work.
// Measured: 107 to 161 MB for 40 bombs with the project's key, under 15 MB
// for the other abuses.
const maxAbuseGrowth = 2*64<<20 + 48<<20

// gzipBomb compresses header followed by n zero bytes: about n/1000 bytes
// on the wire.
func gzipBomb(t *testing.T, header string, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(zw, header); err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for ; n > 0; n -= len(zeros) {
		if _, err := zw.Write(zeros[:min(n, len(zeros))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// memory reads the server process's memory.
func memory(t *testing.T, pid int) bench.Memory {
	t.Helper()
	m, err := bench.ReadMemory(pid)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAbuse attacks a running server process as an anonymous client would
// and measures its memory from /proc: concurrent gzip bombs (without a
// key, with a wrong one, and with the project's public DSN key, which any
// browser page shows), and stalled bodies, which are cut.
func TestAbuse(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the server as a process")
	}
	if raceDetector {
		// .ci/run runs it again without -race.
		t.Skip("the race detector multiplies the server's memory: run without -race to measure it")
	}
	addr, dir := freeAddr(t), t.TempDir()
	cmd := startProcess(t, addr, "--data-dir", dir, "--bootstrap-token", testToken, "--log-level", "error",
		"--body-idle-timeout", "2s", "--max-connections", "400")
	pid := cmd.Process.Pid
	srv := &Server{URL: "http://" + addr}
	p := setUp(t, srv)
	key := dsnKey(t, p.DSN)
	envelope := srv.URL + "/api/" + p.ID + "/envelope/"
	// Warm up: a few real events, so the baseline holds what serving takes.
	for i := range 20 {
		status, body, _ := rawCall(t, srv.URL, "POST", "/api/"+p.ID+"/store/?sentry_key="+key, "", fmt.Sprintf(`{"message":"warm %d"}`, i))
		if status != 200 {
			t.Fatalf("warm-up event: %d %s", status, body)
		}
	}
	base := memory(t, pid).RSS
	t.Logf("baseline RSS %d MB", base>>20)

	// Stalled bodies first: the peak RSS (VmHWM) then measures each abuse
	// in turn, the worst last.
	t.Run("StalledBodies", func(t *testing.T) {
		const conns = 300
		start := time.Now()
		cut := make(chan time.Duration, conns)
		for i := range conns {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			path := "/api/0/organizations/"
			if i%2 == 1 {
				path = "/api/" + p.ID + "/envelope/?sentry_key=" + key
			}
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{\"name\":",
				path, addr, testToken)
			go func() {
				// The server answers or closes the connection once the
				// body has stalled for --body-idle-timeout.
				_ = c.SetReadDeadline(time.Now().Add(90 * time.Second))
				_, _ = bufio.NewReader(c).ReadString('\n')
				_, _ = io.Copy(io.Discard, c)
				cut <- time.Since(start)
			}()
		}
		held := memory(t, pid)
		// The server still answers others meanwhile.
		if status, body, _ := rawCall(t, srv.URL, "GET", "/healthz", "", ""); status != 200 {
			t.Fatalf("/healthz while bodies stall: %d %s", status, body)
		}
		var last time.Duration
		for range conns {
			last = max(last, <-cut)
		}
		if last > 60*time.Second {
			t.Errorf("the last stalled body was cut after %s, want within 60s", last)
		}
		t.Logf("%d stalled bodies cut within %s", conns, last.Round(time.Millisecond))
		grown := held.HWM - base
		t.Logf("peak RSS grew by %d MB", grown>>20)
		if grown > maxAbuseGrowth {
			t.Errorf("%d stalled bodies raised the peak RSS by %d MB, want < %d MB", conns, grown>>20, maxAbuseGrowth>>20)
		}
	})

	const bombs, bombSize = 40, 25 << 20
	tests := []struct {
		name   string
		header string // the envelope's first line
		auth   string // X-Sentry-Auth, if any
		want   []int
	}{
		{"NoKey", "{}\n", "", []int{401}},
		{"UnknownKeyInHeader", `{"dsn":"http://0123456789abcdef0123456789abcdef@` + addr + `/` + p.ID + `"}` + "\n", "", []int{403}},
		{"HeaderLineIsTheBomb", "{", "", []int{413}},
		{"PublicKey", "{}\n", "Sentry sentry_key=" + key, []int{413, 429}},
	}
	for _, tt := range tests {
		t.Run("GzipBombs/"+tt.name, func(t *testing.T) {
			body := gzipBomb(t, tt.header, bombSize)
			statuses := make(chan int, bombs)
			var wg sync.WaitGroup
			for range bombs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := http.NewRequest("POST", envelope, bytes.NewReader(body))
					req.Header.Set("Content-Encoding", "gzip")
					req.Header.Set("Content-Type", "application/x-sentry-envelope")
					if tt.auth != "" {
						req.Header.Set("X-Sentry-Auth", tt.auth)
					}
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						statuses <- 0
						return
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					statuses <- res.StatusCode
				}()
			}
			wg.Wait()
			close(statuses)
			for s := range statuses {
				if !containsInt(tt.want, s) {
					t.Errorf("a bomb got %d, want one of %v", s, tt.want)
				}
			}
			grown := memory(t, pid).HWM - base
			t.Logf("peak RSS grew by %d MB", grown>>20)
			if grown > maxAbuseGrowth {
				t.Errorf("%d bombs of %d KB (%d MB decoded) raised the peak RSS by %d MB, want < %d MB",
					bombs, len(body)>>10, bombSize>>20, grown>>20, maxAbuseGrowth>>20)
			}
		})
	}
}

// TestConnectionLimit holds --max-connections connections with stalled
// bodies: a further client waits to be accepted until those are cut.
func TestConnectionLimit(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the server as a process")
	}
	const limit, idle = 20, 3 * time.Second
	addr := freeAddr(t)
	startProcess(t, addr, "--data-dir", t.TempDir(), "--log-level", "error", "--bootstrap-token", testToken,
		"--body-idle-timeout", idle.String(), "--max-connections", fmt.Sprint(limit))
	for range limit {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// "100 Continue" comes once a handler reads the body: proof that
		// the server accepted the connection.
		fmt.Fprintf(c, "POST /api/0/organizations/ HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
			"Expect: 100-continue\r\nContent-Length: 100\r\n\r\n", addr, testToken)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
			t.Fatalf("stalled connection: %q %v", line, err)
		}
		if _, err := io.WriteString(c, "{"); err != nil {
			t.Fatal(err)
		}
	}
	// Every connection the server may hold is held: the next client is
	// served only once the stalled bodies are cut, an idle timeout later.
	start := time.Now()
	client := &http.Client{Timeout: 30 * time.Second}
	res, err := client.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("a client beyond --max-connections: %v", err)
	}
	res.Body.Close()
	waited := time.Since(start)
	if res.StatusCode != 200 || waited < idle/2 {
		t.Fatalf("a client beyond --max-connections got %d after %s, want 200 once the stalled bodies are cut (%s)",
			res.StatusCode, waited, idle)
	}
}

func containsInt(l []int, v int) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}
