package service_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/service"
	"github.com/herald-dev/herald/internal/storetest"
	"github.com/herald-dev/herald/internal/webhook"
)

// baseURL is the public URL of the payloads the suite builds.
const baseURL = "https://herald.example.com"

func TestSQLite(t *testing.T) {
	t.Parallel()
	run(t, storetest.OpenSQLite)
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	run(t, storetest.OpenPostgres)
}

// run runs the service's suite over stores opened by open: what each change
// causes, with the payloads of its deliveries.
func run(t *testing.T, open storetest.Opener) {
	t.Run("SaveEvents", func(t *testing.T) { t.Parallel(); testSaveEvents(t, open) })
	t.Run("ConfigChanges", func(t *testing.T) { t.Parallel(); testConfigChanges(t, open) })
	t.Run("Handoff", func(t *testing.T) { t.Parallel(); testHandoff(t, open) })
	t.Run("Installations", func(t *testing.T) { t.Parallel(); testInstallations(t, open) })
	t.Run("AppDeliveries", func(t *testing.T) { t.Parallel(); testAppDeliveries(t, open) })
	t.Run("Issues", func(t *testing.T) { t.Parallel(); testIssues(t, open) })
	t.Run("Resolutions", func(t *testing.T) { t.Parallel(); testResolutions(t, open) })
	t.Run("Comments", func(t *testing.T) { t.Parallel(); testComments(t, open) })
	t.Run("RuleEvaluation", func(t *testing.T) { t.Parallel(); testRuleEvaluation(t, open) })
	t.Run("RuleWindows", func(t *testing.T) { t.Parallel(); testRuleWindows(t, open) })
	t.Run("MetricAlerts", func(t *testing.T) { t.Parallel(); testMetricAlerts(t, open) })
	t.Run("MetricWindows", func(t *testing.T) { t.Parallel(); testMetricWindows(t, open) })
}

// fixture is a store fixture with a service over it.
type fixture struct {
	*storetest.Fixture
	Changes *service.Service
}

// newFixture opens a store with the fixture's rows and a service over it
// without a dispatcher (or with d).
func newFixture(t testing.TB, open storetest.Opener, d ...service.Dispatcher) *fixture {
	t.Helper()
	f := &fixture{Fixture: storetest.NewFixture(t, open)}
	cfg := service.Config{Store: f.Store, Webhooks: &webhook.Notifier{BaseURL: baseURL, Clock: f.Clock}, Clock: f.Clock}
	if len(d) > 0 {
		cfg.Dispatcher = d[0]
	}
	svc, err := service.New(cfg)
	must(t, err)
	f.Changes = svc
	return f
}

// Install installs app on the fixture's organization through the service
// (installation.created is sent) and verifies the installation.
func (f *fixture) Install(t testing.TB, app *herald.SentryApp) *herald.Installation {
	t.Helper()
	ctx := context.Background()
	inst := &herald.Installation{AppID: app.ID, OrganizationID: f.Org.ID}
	if _, err := f.Changes.CreateInstallation(ctx, inst, herald.Actor{User: f.User}); err != nil {
		t.Fatal(err)
	}
	inst, err := f.Store.VerifyInstallation(ctx, inst.UUID)
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := herald.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// actorOf returns the actor object of an app delivery's body.
func actorOf(t testing.TB, d *herald.Delivery) map[string]any {
	t.Helper()
	var body struct {
		Actor map[string]any `json:"actor"`
	}
	must(t, json.Unmarshal(d.Body, &body))
	return body.Actor
}

// dispatcher records what the service hands over after commit; it puts off
// deliveries to URLs ending in "/busy" by 30s.
type dispatcher struct {
	mu  sync.Mutex
	got []*herald.Delivery
}

func (d *dispatcher) Node() string         { return "node-a" }
func (d *dispatcher) Lease() time.Duration { return time.Minute }

func (d *dispatcher) Dispatch(ds []*herald.Delivery) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, ds...)
}

func (d *dispatcher) Defer(del *herald.Delivery) time.Duration {
	if strings.HasSuffix(del.URL, "/busy") {
		return 30 * time.Second
	}
	return 0
}

func (d *dispatcher) take() []*herald.Delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	got := d.got
	d.got = nil
	return got
}
