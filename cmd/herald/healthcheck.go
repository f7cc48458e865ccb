package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

const healthcheckSummary = `Asks a running server whether it is ready (GET /readyz) and exits 0 when
it answers 200, 1 otherwise: the HEALTHCHECK of the container image, which
has no curl. Without --url it asks 127.0.0.1 on the port of $HERALD_ADDR
(the variable serve reads its --addr from), else on 8080.`

// runHealthcheck runs `herald healthcheck [--url URL]`.
func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("healthcheck", healthcheckSummary, stderr)
	url := fs.String("url", "", "URL to GET (default: http://127.0.0.1:<port of $HERALD_ADDR, else 8080>/readyz)")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("healthcheck: unexpected argument %q", fs.Arg(0))
	}
	if *url == "" {
		*url = readyzURL(getenv("HERALD_ADDR"))
	}
	if err := checkReady(ctx, *url, *timeout); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("healthcheck: %w", err)}
	}
	_, err := fmt.Fprintln(stdout, "ready:", *url)
	return err
}

// readyzURL is the /readyz URL of a server listening on addr (host:port,
// as --addr takes it), asked on the loopback address: ":8080" and
// "0.0.0.0:8080" both listen there. An empty or unreadable addr means
// serve's default port, 8080.
func readyzURL(addr string) string {
	port := "8080"
	if _, p, err := net.SplitHostPort(addr); err == nil && p != "" && p != "0" {
		port = p
	}
	return "http://" + net.JoinHostPort("127.0.0.1", port) + "/readyz"
}

// checkReady GETs url, directly (no proxy, no redirect), and returns an
// error unless it answers 200 within timeout.
func checkReady(ctx context.Context, url string, timeout time.Duration) error {
	client := &http.Client{
		Timeout:       timeout,
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}

// exitError is an error that asks for a particular exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode is the exit status of a command that failed with err: the one
// an exitError asks for, else 2.
func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 2
}
