package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald"
)

func TestResult(t *testing.T) {
	next := time.Unix(1700000000, 0)
	for _, c := range []struct {
		name string
		o    herald.Outcome
		want string
	}{
		{"Delivered", herald.Outcome{Attempt: &herald.Attempt{StatusCode: 200}, Delivered: true}, ResultDelivered},
		{"Retrying", herald.Outcome{Attempt: &herald.Attempt{StatusCode: 503}, NextAttemptAt: next}, ResultRetrying},
		{"FailedAfterLastAttempt", herald.Outcome{Attempt: &herald.Attempt{StatusCode: 500}}, ResultFailed},
		{"FailedDestinationGone", herald.Outcome{}, ResultFailed},
		{"PutOff", herald.Outcome{NextAttemptAt: next}, ResultPutOff},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Result(&c.o); got != c.want {
				t.Fatalf("Result = %q, want %q", got, c.want)
			}
		})
	}
}

func TestHandler(t *testing.T) {
	m := New()
	m.EventsAccepted(3)
	m.EventsAccepted(2)
	m.IngestCommitted(3, 2*time.Millisecond)
	m.IngestCommitted(40, 30*time.Millisecond)
	m.OutcomesRecorded([]*herald.Outcome{
		{Attempt: &herald.Attempt{StatusCode: 200, Duration: 20 * time.Millisecond}, Delivered: true},
		{Attempt: &herald.Attempt{StatusCode: 503, Duration: 3 * time.Second}, NextAttemptAt: time.Now()},
		{NextAttemptAt: time.Now()},
	})
	m.Gauge("herald_test_gauge", "A test gauge.", func() float64 { return 7 })
	app := m.Instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) }))
	app.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/api/0/organizations/", nil))

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		"herald_ingest_events_total 5\n",
		"herald_ingest_commit_duration_seconds_count 2\n",
		"herald_ingest_commit_duration_seconds_sum 0.032\n",
		`herald_ingest_commit_duration_seconds_bucket{le="0.0025"} 1` + "\n",
		"herald_ingest_commit_events_sum 43\n",
		`herald_ingest_commit_events_bucket{le="4"} 1` + "\n",
		`herald_ingest_commit_events_bucket{le="64"} 2` + "\n",
		`herald_delivery_outcomes_total{result="delivered"} 1` + "\n",
		`herald_delivery_outcomes_total{result="retrying"} 1` + "\n",
		`herald_delivery_outcomes_total{result="put_off"} 1` + "\n",
		`herald_delivery_outcomes_total{result="failed"} 0` + "\n",
		"herald_delivery_attempt_duration_seconds_count 2\n",
		`herald_delivery_attempt_duration_seconds_bucket{le="0.025"} 1` + "\n",
		`herald_delivery_attempt_duration_seconds_bucket{le="5"} 2` + "\n",
		`herald_http_requests_total{code="201",method="post"} 1` + "\n",
		"herald_test_gauge 7\n",
		"go_goroutines ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics have no %q", strings.TrimSpace(want))
		}
	}
}

func TestWatchBacklog(t *testing.T) {
	now := time.Unix(1700000000, 0)
	scrape := func(t *testing.T, b Backlog, err error) string {
		t.Helper()
		m := New()
		m.WatchBacklog(func(context.Context) (Backlog, error) { return b, err }, func() time.Time { return now })
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		return rec.Body.String()
	}
	tests := []struct {
		name string
		b    Backlog
		err  error
		want []string
		not  []string
	}{
		{"Overdue", Backlog{Pending: 7, OldestDue: now.Add(-90 * time.Second), OldestCreated: now.Add(-time.Hour), DisabledHooks: 2}, nil,
			[]string{"herald_deliveries_pending 7\n", "herald_deliveries_overdue_seconds 90\n", "herald_deliveries_oldest_age_seconds 3600\n",
				"herald_hooks_disabled 2\n"}, nil},
		{"NonePending", Backlog{}, nil,
			[]string{"herald_deliveries_pending 0\n", "herald_deliveries_overdue_seconds 0\n", "herald_deliveries_oldest_age_seconds 0\n",
				"herald_hooks_disabled 0\n"}, nil},
		{"DueLater", Backlog{Pending: 1, OldestDue: now.Add(time.Minute)}, nil, []string{"herald_deliveries_overdue_seconds 0\n"}, nil},
		{"ReadFails", Backlog{Pending: 3}, errors.New("database down"), nil,
			[]string{"herald_deliveries_pending", "herald_deliveries_overdue_seconds", "herald_deliveries_oldest_age_seconds", "herald_hooks_disabled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := scrape(t, tt.b, tt.err)
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("scrape lacks %q", w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(body, n+" ") {
					t.Errorf("scrape has %q", n)
				}
			}
		})
	}
}
