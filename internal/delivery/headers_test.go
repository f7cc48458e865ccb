package delivery

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald"
)

// appHeaders are the webhook headers of the test app.
var appHeaders = []herald.WebhookHeader{{Key: "X-Api-Key", Value: "k-123"}, {Key: "Authorization", Value: "Bearer receiver-token"}}

// TestHeadersAppHeaders checks that an app delivery carries its app's
// webhook headers besides Herald's, that Herald's own win over any of the
// same name, and that a Service Hook delivery never carries them.
func TestHeadersAppHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		kind    string
		headers []herald.WebhookHeader
		want    map[string]string
		absent  []string
	}{
		{"App", herald.DestinationApp, appHeaders, map[string]string{
			"X-Api-Key": "k-123", "Authorization": "Bearer receiver-token",
			"Content-Type": "application/json", "Sentry-Hook-Signature": "sig", "Request-ID": "id",
		}, nil},
		{"HeraldWins", herald.DestinationApp, []herald.WebhookHeader{{Key: "Content-Type", Value: "text/plain"},
			{Key: "Sentry-Hook-Signature", Value: "forged"}, {Key: "X-Tenant", Value: "acme"}}, map[string]string{
			"Content-Type": "application/json", "Sentry-Hook-Signature": "sig", "X-Tenant": "acme",
		}, nil},
		{"HookNever", herald.DestinationHook, appHeaders, map[string]string{"X-ServiceHook-Signature": "sig"},
			[]string{"X-Api-Key", "Authorization"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := Headers(&herald.Delivery{ID: "id", DestinationKind: tt.kind, DestinationID: "dest", Resource: "issue",
				Signature: "sig", Timestamp: 1705320000, AppHeaders: tt.headers})
			for k, v := range tt.want {
				if got := h.Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := h[k]; ok {
					t.Errorf("%s sent: %q", k, h.Values(k))
				}
			}
		})
	}
}

// TestSendAnswerHeaders checks that an attempt keeps the Sentry-Hook-Error
// and Sentry-Hook-Project headers of the answer, as text of bounded
// length, whatever its status.
func TestSendAnswerHeaders(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 100)
	tests := []struct {
		name        string
		status      int
		header      http.Header
		wantError   string
		wantProject string
	}{
		{"Error500", 500, http.Header{"Sentry-Hook-Error": {"d5111da2c28645c5889d072017e3445d"}, "Sentry-Hook-Project": {"1"}},
			"d5111da2c28645c5889d072017e3445d", "1"},
		{"Final400", 400, http.Header{"Sentry-Hook-Error": {" abc "}, "Sentry-Hook-Project": {"42"}}, "abc", "42"},
		{"OK200", 200, http.Header{"Sentry-Hook-Error": {"abc"}}, "abc", ""},
		{"Absent", 500, http.Header{}, "", ""},
		{"FirstValue", 500, http.Header{"Sentry-Hook-Project": {"7", "8"}}, "", "7"},
		{"Bounded", 500, http.Header{"Sentry-Hook-Error": {long}}, strings.Repeat("é", maxAnswerHeaderBytes/2), ""},
		{"InvalidUTF8", 500, http.Header{"Sentry-Hook-Error": {"a\xffb"}}, "a\uFFFDb", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
				for k, vs := range tt.header {
					for _, v := range vs {
						w.Header().Add(k, v)
					}
				}
				w.WriteHeader(tt.status)
			})
			a, _ := newTestSender(t, 5*time.Second).Send(t.Context(), newDelivery(herald.DestinationApp, srv.URL))
			if a.StatusCode != tt.status || a.HookErrorID != tt.wantError || a.HookProjectID != tt.wantProject {
				t.Fatalf("attempt = status %d error %q project %q, want %d %q %q",
					a.StatusCode, a.HookErrorID, a.HookProjectID, tt.status, tt.wantError, tt.wantProject)
			}
		})
	}
}

// TestDispatchAppHeaders checks a Sentry App delivery end to end through
// the dispatcher: the receiver gets the app's webhook headers with
// Herald's, and the outcome recorded in the store keeps the
// Sentry-Hook-Error and Sentry-Hook-Project headers of its answer.
func TestDispatchAppHeaders(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	p := startDispatcher(t, store, 5*time.Second)
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fails" {
			w.Header().Set("Sentry-Hook-Error", "d5111da2c28645c5889d072017e3445d")
			w.Header().Set("Sentry-Hook-Project", "1")
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	ok := newDelivery(herald.DestinationApp, rec.URL+"/ok")
	fails := newDelivery(herald.DestinationApp, rec.URL+"/fails")
	fails.DestinationID = "b9f6e48b-7a7d-4d65-bbd2-5b62c51df8ea"
	for _, d := range []*herald.Delivery{ok, fails} {
		d.AppHeaders = appHeaders
	}
	p.Dispatch(store.claim(testNode, store.clock.Now().Add(p.Lease()), ok, fails))
	store.waitOutcomes(t, ok.ID, fails.ID)

	for _, d := range []*herald.Delivery{ok, fails} {
		reqs := rec.byID(d.ID)
		if len(reqs) == 0 {
			t.Fatalf("delivery %s not sent", d.ID)
		}
		for _, h := range appHeaders {
			if got := reqs[0].header.Values(h.Key); len(got) != 1 || got[0] != h.Value {
				t.Errorf("%s: %s = %q, want %q", reqs[0].path, h.Key, got, h.Value)
			}
		}
		if got := reqs[0].header.Get("Sentry-Hook-Signature"); got != d.Signature {
			t.Errorf("%s: signature = %q", reqs[0].path, got)
		}
	}
	if a := store.outcomesOf(ok.ID)[0].Attempt; a == nil || a.StatusCode != 200 || a.HookErrorID != "" || a.HookProjectID != "" {
		t.Errorf("ok attempt = %+v", a)
	}
	a := store.outcomesOf(fails.ID)[0].Attempt
	if a == nil || a.StatusCode != 500 || a.HookErrorID != "d5111da2c28645c5889d072017e3445d" || a.HookProjectID != "1" {
		t.Errorf("failed attempt = %+v", a)
	}
}
