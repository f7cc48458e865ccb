package main

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/storetest"
)

// deliveryJSON is a delivery as the API shows it, with its attempts.
type deliveryJSON struct {
	ID             string  `json:"id"`
	Status         string  `json:"status"`
	Attempts       int     `json:"attempts"`
	NextAttemptAt  *string `json:"nextAttemptAt"`
	LastStatusCode *int    `json:"lastStatusCode"`
	LastError      *string `json:"lastError"`
	AttemptsLog    []struct {
		Number       int     `json:"number"`
		StatusCode   *int    `json:"statusCode"`
		ResponseBody *string `json:"responseBody"`
		Error        *string `json:"error"`
	} `json:"attemptsLog"`
}

// TestFinal4xx drives a hook whose receiver rejects what it gets, on both
// stores: a 400 fails the delivery after one attempt, with the answer in its
// log, and leaves the hook active; a redelivery by hand is sent and
// delivered; a receiver rejecting everything for --disable-after gets its
// hook disabled, final 4xx counting as failures as every other does.
func TestFinal4xx(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{sqliteBackend, postgresBackend} {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, b)
			clock := storetest.NewClock(time.Now().UTC())
			cfg.clock = clock
			srv := MustStart(t, cfg)
			p := setUp(t, srv)
			var answer atomic.Int32
			answer.Store(http.StatusBadRequest)
			const rejection = `{"detail":"unhandled event"}`
			rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
				code := int(answer.Load())
				w.WriteHeader(code)
				if code != http.StatusOK {
					_, _ = io.WriteString(w, rejection)
				}
			})
			h := createHook(t, srv, rc.URL, "event.created")
			rc.setSecret(h.Secret)
			base := "/api/0/projects/acme/web/hooks/" + h.ID + "/deliveries/"

			mustStatus(t, 200, storeEvent(t, srv, p, herald.NewID(), "rejected"))
			// Failed is final: nothing claims a failed delivery, so once it
			// is recorded no retry can follow.
			list := waitDeliveries(t, srv, base, herald.DeliveryFailed, 1)
			path := base + list[0].ID + "/"
			var d deliveryJSON
			mustStatus(t, 200, call(t, srv.URL, "GET", path, nil, &d))
			if d.Attempts != 1 || d.NextAttemptAt != nil || d.LastStatusCode == nil || *d.LastStatusCode != 400 ||
				d.LastError == nil || !strings.Contains(*d.LastError, "not retried") {
				t.Fatalf("delivery = %+v", d)
			}
			if len(d.AttemptsLog) != 1 || d.AttemptsLog[0].StatusCode == nil || *d.AttemptsLog[0].StatusCode != 400 ||
				d.AttemptsLog[0].ResponseBody == nil || *d.AttemptsLog[0].ResponseBody != rejection {
				t.Fatalf("attempts = %+v", d.AttemptsLog)
			}
			if got := rc.wait(t, 1, time.Second); len(got) != 1 || !got[0].Verified {
				t.Fatalf("receiver got %d requests, want 1 signed", len(got))
			}
			var hk hook
			mustStatus(t, 200, call(t, srv.URL, "GET", "/api/0/projects/acme/web/hooks/"+h.ID+"/", nil, &hk))
			if hk.Status != herald.HookActive {
				t.Fatalf("hook is %q after one rejected delivery", hk.Status)
			}

			// Redelivered by hand, to a receiver that now accepts it.
			answer.Store(http.StatusOK)
			mustStatus(t, 202, call(t, srv.URL, "POST", path+"redeliver/", nil, nil))
			waitDelivered(t, srv, strings.TrimSuffix(path, "/"))
			mustStatus(t, 200, call(t, srv.URL, "GET", path, nil, &d))
			if d.Attempts != 2 || len(d.AttemptsLog) != 2 || *d.AttemptsLog[1].StatusCode != 200 {
				t.Fatalf("after redelivery = %+v", d)
			}
			got := rc.wait(t, 2, 15*time.Second)
			if string(got[1].Body) != string(got[0].Body) || got[1].Signature != got[0].Signature ||
				got[1].Header.Get("Request-ID") != list[0].ID || got[0].Header.Get("Request-ID") != list[0].ID {
				t.Fatal("the redelivery differs from the first attempt")
			}

			// Everything rejected for --disable-after: the hook is disabled.
			answer.Store(http.StatusUnauthorized)
			mustStatus(t, 200, storeEvent(t, srv, p, herald.NewID(), "wrong secret"))
			waitDeliveries(t, srv, base, herald.DeliveryFailed, 1)
			clock.Add(cfg.DisableAfter + time.Minute)
			mustStatus(t, 200, storeEvent(t, srv, p, herald.NewID(), "still the wrong secret"))
			waitDeliveries(t, srv, base, herald.DeliveryFailed, 2)
			mustStatus(t, 200, call(t, srv.URL, "GET", "/api/0/projects/acme/web/hooks/"+h.ID+"/", nil, &hk))
			if hk.Status != herald.HookDisabled {
				t.Fatalf("hook is %q after every delivery was rejected for %s", hk.Status, cfg.DisableAfter)
			}
			if n := len(rc.wait(t, 4, time.Second)); n != 4 {
				t.Fatalf("receiver got %d requests, want 4", n)
			}
		})
	}
}

// waitDeliveries waits until the hook's deliveries at base include n with
// status, and returns them.
func waitDeliveries(t *testing.T, srv *Server, base, status string, n int) []deliveryJSON {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var list []deliveryJSON
		mustStatus(t, 200, call(t, srv.URL, "GET", base+"?status="+status, nil, &list))
		if len(list) >= n {
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries %s, want %d", len(list), status, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
