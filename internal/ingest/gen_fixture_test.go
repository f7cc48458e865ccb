package ingest

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
)

func loadUser(id int) error {
	return errors.New("user not found")
}

func TestGenFixture(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		os.WriteFile("testdata/sentry-go.envelope", b, 0o644)
		t.Logf("%s %s %v", r.Method, r.URL, r.Header)
		w.Write([]byte(`{"id":"x"}`))
	}))
	defer srv.Close()
	c, err := sentry.NewClient(sentry.ClientOptions{Dsn: "http://3f1b2c4d5e6f40718293a4b5c6d7e8f9@" + srv.Listener.Addr().String() + "/42", Transport: sentry.NewHTTPSyncTransport(), Environment: "production", Release: "api@1.4.2", ServerName: "api-7f9c"})
	if err != nil {
		t.Fatal(err)
	}
	hub := sentry.NewHub(c, sentry.NewScope())
	hub.Scope().SetTag("region", "eu-west-1")
	hub.Scope().SetUser(sentry.User{ID: "42", Email: "jane@example.com"})
	hub.CaptureException(loadUser(42))
	hub.Flush(2 * time.Second)
}
