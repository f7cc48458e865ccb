package api

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// slowPost sends the headers of a POST announcing size bytes, then writes
// the chunks of body, waiting gap before each, until the server answers;
// it returns the status line of the answer (or the read error) and how
// long the answer took to come, and (when waitClose is set) whether the
// server then closed the connection.
func slowPost(t *testing.T, addr string, size int, chunks []string, gap time.Duration, waitClose bool) (string, time.Duration, bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", size)
	answered := make(chan struct{})
	go func() {
		for _, c := range chunks {
			select {
			case <-answered:
				return
			case <-time.After(gap):
			}
			if _, err := io.WriteString(conn, c); err != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	took := time.Since(start)
	close(answered)
	if err != nil {
		return "read: " + err.Error(), took, true
	}
	if !waitClose {
		return strings.TrimSpace(line), took, false
	}
	// A connection kept open after a cut body would read what the client
	// sends next as another request.
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.Copy(io.Discard, br)
	return strings.TrimSpace(line), took, err == nil
}

func TestLimitBodyTime(t *testing.T) {
	t.Parallel()
	const idle, total = 300 * time.Millisecond, 1500 * time.Millisecond
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			// As handlers do through http.MaxBytesReader.
			r.Body.Close()
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		// The deadline is gone once the body is read: a slow handler
		// keeps its request.
		time.Sleep(2 * idle)
		if err := r.Context().Err(); err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(limitBodyTime(echo, idle, total))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()

	tests := []struct {
		name    string
		size    int
		chunks  []string
		gap     time.Duration
		want    string
		atLeast time.Duration
		atMost  time.Duration
		closed  bool
	}{
		{name: "Whole", size: 5, chunks: []string{"hello"}, want: "HTTP/1.1 204 No Content", atMost: 5 * time.Second},
		{name: "SteadyTrickle", size: 5, chunks: []string{"h", "e", "l", "l", "o"}, gap: idle / 3,
			want: "HTTP/1.1 204 No Content", atMost: 5 * time.Second},
		{name: "ErrStalled", size: 1000, chunks: []string{"only part of it"}, want: "HTTP/1.1 400 Bad Request",
			atLeast: idle, atMost: idle + 3*time.Second, closed: true},
		{name: "ErrTooSlowInAll", size: 40, chunks: strings.Split(strings.Repeat("x", 40), ""), gap: idle / 2,
			want: "HTTP/1.1 400 Bad Request", atLeast: total, atMost: total + 3*time.Second, closed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, took, closed := slowPost(t, addr, tt.size, tt.chunks, tt.gap, tt.closed)
			if got != tt.want {
				t.Errorf("answer = %q, want %q", got, tt.want)
			}
			if tt.closed && !closed {
				t.Errorf("the connection of a cut body stayed open")
			}
			if took < tt.atLeast || took > tt.atMost {
				t.Errorf("took %s, want between %s and %s", took, tt.atLeast, tt.atMost)
			}
		})
	}
}
