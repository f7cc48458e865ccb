package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/sqlstore"
)

// Clock is a settable clock for tests.
type Clock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time, then moves it on by its step (none unless
// SetStep was called).
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now
	c.now = c.now.Add(c.step)
	return now
}

// SetStep makes every reading of the clock move it forward by d, so that
// rows written one after another get distinct, ordered times.
func (c *Clock) SetStep(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.step = d
}

// Add moves the clock forward by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Opener opens a fresh, empty store with the given options.
type Opener func(tb testing.TB, opts sqlstore.Options) *sqlstore.DB

// Fixture is a user, organization, team and project in a fresh store.
type Fixture struct {
	Store   *sqlstore.DB
	Clock   *Clock
	User    *herald.User
	Org     *herald.Organization
	Team    *herald.Team
	Project *herald.Project
}

// NewFixture opens a store and creates the fixture's rows.
func NewFixture(t testing.TB, open Opener) *Fixture {
	t.Helper()
	ctx := context.Background()
	clock := NewClock(time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC))
	s := open(t, Options(clock))
	f := &Fixture{Store: s, Clock: clock}
	f.User = &herald.User{Email: "jane@acme.example", Name: "Jane Doe"}
	must(t, s.CreateUser(ctx, f.User))
	f.Org = &herald.Organization{Slug: "acme", Name: "Acme"}
	must(t, s.CreateOrganization(ctx, f.Org, f.User.ID))
	f.Team = &herald.Team{OrganizationID: f.Org.ID, Slug: "core", Name: "Core"}
	must(t, s.CreateTeam(ctx, f.Team))
	f.Project = &herald.Project{OrganizationID: f.Org.ID, TeamID: f.Team.ID, Slug: "web", Name: "Web", Platform: "javascript"}
	must(t, s.CreateProject(ctx, f.Project))
	return f
}

// Hook creates an active hook of the fixture's project.
func (f *Fixture) Hook(t testing.TB, url string, events ...string) *herald.Hook {
	t.Helper()
	h := &herald.Hook{ProjectID: f.Project.ID, URL: url, Events: events}
	must(t, f.Store.CreateHook(context.Background(), h))
	return h
}

// Event returns an event of the fixture's project grouped by hash.
func (f *Fixture) Event(hash string) *herald.Event {
	now := f.Clock.Now()
	return &herald.Event{ID: herald.NewID(), ProjectID: f.Project.ID, Timestamp: now, Received: now, Level: "error",
		Platform: "go", Message: "boom", Title: "Error: boom", Culprit: "main in run", Type: "Error", Value: "boom",
		Tags:      []herald.Tag{{Key: "environment", Value: "production"}, {Key: "level", Value: "error"}},
		GroupHash: hash, Data: []byte(`{"event_id":"x"}`)}
}

// Deliveries writes n pending event.created deliveries to hook h, due now,
// each with its own body, and returns them as written.
func (f *Fixture) Deliveries(t testing.TB, h *herald.Hook, n int) []*herald.Delivery {
	t.Helper()
	now := f.Clock.Now()
	ds := make([]*herald.Delivery, n)
	for i := range ds {
		body := fmt.Appendf(nil, `{"delivery":%d}`, i)
		ds[i] = &herald.Delivery{ID: herald.NewTimeID(now), DestinationKind: herald.DestinationHook, DestinationID: h.ID,
			ProjectID: h.ProjectID, OrganizationID: f.Org.ID, Event: herald.HookEventCreated, Body: body,
			Signature: fmt.Sprintf("signature-%d", i), Timestamp: now.Unix(), Status: herald.DeliveryPending,
			NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
	}
	must(t, f.Store.InTx(context.Background(), func(tx *sqlstore.Tx) error { return tx.InsertDeliveries(context.Background(), ds) }))
	return ds
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

// Run runs the conformance suite against stores opened by open.
func Run(t *testing.T, open Opener) {
	t.Run("Auth", func(t *testing.T) { t.Parallel(); testAuth(t, open) })
	t.Run("Organizations", func(t *testing.T) { t.Parallel(); testOrganizations(t, open) })
	t.Run("Projects", func(t *testing.T) { t.Parallel(); testProjects(t, open) })
	t.Run("Hooks", func(t *testing.T) { t.Parallel(); testHooks(t, open) })
	t.Run("Ingest", func(t *testing.T) { t.Parallel(); testIngest(t, open) })
	t.Run("CompleteDeliveries", func(t *testing.T) { t.Parallel(); testCompleteDeliveries(t, open) })
	t.Run("OutcomeStates", func(t *testing.T) { t.Parallel(); testOutcomeStates(t, open) })
	t.Run("SharedBodies", func(t *testing.T) { t.Parallel(); testSharedBodies(t, open) })
	t.Run("AutoDisable", func(t *testing.T) { t.Parallel(); testAutoDisable(t, open) })
	t.Run("RedeliverRecover", func(t *testing.T) { t.Parallel(); testRedeliverRecover(t, open) })
	t.Run("Claims", func(t *testing.T) { t.Parallel(); testClaims(t, open) })
	t.Run("Backlog", func(t *testing.T) { t.Parallel(); testBacklog(t, open) })
	t.Run("DestinationPurges", func(t *testing.T) { t.Parallel(); testDestinationPurges(t, open) })
	t.Run("IssuePurges", func(t *testing.T) { t.Parallel(); testIssuePurges(t, open) })
	t.Run("IssueDeletion", func(t *testing.T) { t.Parallel(); testIssueDeletion(t, open) })
	t.Run("MetricAlertPurges", func(t *testing.T) { t.Parallel(); testMetricAlertPurges(t, open) })
	t.Run("EventRetention", func(t *testing.T) { t.Parallel(); testEventRetention(t, open) })
	t.Run("RetentionBesideIngest", func(t *testing.T) { t.Parallel(); testRetentionBesideIngest(t, open) })
	t.Run("ProjectPurges", func(t *testing.T) { t.Parallel(); testProjectPurges(t, open) })
	t.Run("AlertCountPurges", func(t *testing.T) { t.Parallel(); testAlertCountPurges(t, open) })
	t.Run("Apps", func(t *testing.T) { t.Parallel(); testApps(t, open) })
	t.Run("Installations", func(t *testing.T) { t.Parallel(); testInstallations(t, open) })
	t.Run("Issues", func(t *testing.T) { t.Parallel(); testIssues(t, open) })
	t.Run("IssueResolutions", func(t *testing.T) { t.Parallel(); testIssueResolutions(t, open) })
	t.Run("Comments", func(t *testing.T) { t.Parallel(); testComments(t, open) })
	t.Run("AppRequests", func(t *testing.T) { t.Parallel(); testAppRequests(t, open) })
	t.Run("AppHeaders", func(t *testing.T) { t.Parallel(); testAppHeaders(t, open) })
	t.Run("Rules", func(t *testing.T) { t.Parallel(); testRules(t, open) })
	t.Run("RuleFires", func(t *testing.T) { t.Parallel(); testRuleFires(t, open) })
	t.Run("Counters", func(t *testing.T) { t.Parallel(); testCounters(t, open) })
	t.Run("Validation", func(t *testing.T) { t.Parallel(); testValidation(t, open) })
	t.Run("MetricAlerts", func(t *testing.T) { t.Parallel(); testMetricAlerts(t, open) })
	t.Run("People", func(t *testing.T) { t.Parallel(); testPeople(t, open) })
	t.Run("ConfigCache", func(t *testing.T) { t.Parallel(); testConfigCache(t, open) })
}

func testAuth(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store

	t.Run("EnsureSuperuserTokenIdempotent", func(t *testing.T) {
		a, err := s.EnsureSuperuserToken(ctx, "bootstrap-token-0123456789")
		must(t, err)
		b, err := s.EnsureSuperuserToken(ctx, "bootstrap-token-0123456789")
		must(t, err)
		if a.ID != b.ID || !b.User.IsSuperuser {
			t.Fatalf("tokens differ or not superuser: %+v %+v", a, b)
		}
		if len(b.Scopes) != len(herald.Scopes) {
			t.Fatalf("scopes = %v", b.Scopes)
		}
	})
	t.Run("ErrShortBootstrapToken", func(t *testing.T) {
		_, err := s.EnsureSuperuserToken(ctx, "short")
		wantCode(t, err, herald.EINVALID)
	})
	t.Run("CreateAndFind", func(t *testing.T) {
		tok := &herald.Token{UserID: f.User.ID, Scopes: []string{"project:read"}}
		must(t, s.CreateToken(ctx, tok))
		if len(tok.Value) != 64 || tok.Hash == tok.Value {
			t.Fatalf("token value %q hash %q", tok.Value, tok.Hash)
		}
		got, err := s.FindTokenByValue(ctx, tok.Value)
		must(t, err)
		if got.User.Email != f.User.Email || !got.HasScope("project:read") || got.HasScope("project:write") || got.OrganizationID != 0 {
			t.Fatalf("token = %+v", got)
		}
		list, err := s.FindTokens(ctx, f.User.ID)
		must(t, err)
		if len(list) != 1 || list[0].Value != "" || list[0].LastChars != tok.Value[60:] {
			t.Fatalf("list = %+v", list)
		}
		must(t, s.DeleteToken(ctx, f.User.ID, tok.ID))
		_, err = s.FindTokenByValue(ctx, tok.Value)
		wantCode(t, err, herald.EUNAUTHORIZED)
	})
	t.Run("ErrInvalidScope", func(t *testing.T) {
		err := s.CreateToken(ctx, &herald.Token{UserID: f.User.ID, Scopes: []string{"root:all"}})
		wantCode(t, err, herald.EINVALID)
	})
	t.Run("ErrExpired", func(t *testing.T) {
		exp := f.Clock.Now().Add(time.Hour)
		tok := &herald.Token{UserID: f.User.ID, Scopes: []string{"org:read"}, ExpiresAt: &exp}
		must(t, s.CreateToken(ctx, tok))
		f.Clock.Add(2 * time.Hour)
		_, err := s.FindTokenByValue(ctx, tok.Value)
		wantCode(t, err, herald.EUNAUTHORIZED)
	})
	t.Run("ErrUnknownToken", func(t *testing.T) {
		_, err := s.FindTokenByValue(ctx, "nope")
		wantCode(t, err, herald.EUNAUTHORIZED)
	})
}

func testOrganizations(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	other := &herald.User{Email: "other@example.com", Name: "Other"}
	must(t, s.CreateUser(ctx, other))
	for i := 0; i < 3; i++ {
		must(t, s.CreateOrganization(ctx, &herald.Organization{Slug: fmt.Sprintf("org-%d", i), Name: "Org"}, f.User.ID))
	}
	must(t, s.CreateOrganization(ctx, &herald.Organization{Slug: "theirs", Name: "Theirs"}, other.ID))

	t.Run("ErrDuplicateSlug", func(t *testing.T) {
		wantCode(t, s.CreateOrganization(ctx, &herald.Organization{Slug: "acme", Name: "X"}, f.User.ID), herald.ECONFLICT)
	})
	t.Run("Pagination", func(t *testing.T) {
		var slugs []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
			orgs, next, err := s.FindOrganizations(ctx, f.User.ID, herald.Page{Cursor: cursor, Limit: 2})
			must(t, err)
			for _, o := range orgs {
				slugs = append(slugs, o.Slug)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if got := strings.Join(slugs, ","); got != "acme,org-0,org-1,org-2" {
			t.Fatalf("slugs = %s", got)
		}
		all, _, err := s.FindOrganizations(ctx, 0, herald.Page{})
		must(t, err)
		if len(all) != 5 {
			t.Fatalf("all orgs = %d", len(all))
		}
	})
	t.Run("Membership", func(t *testing.T) {
		ok, err := s.IsMember(ctx, f.Org.ID, f.User.ID)
		must(t, err)
		no, err := s.IsMember(ctx, f.Org.ID, other.ID)
		must(t, err)
		if !ok || no {
			t.Fatalf("member = %v, non-member = %v", ok, no)
		}
	})
	t.Run("Teams", func(t *testing.T) {
		wantCode(t, s.CreateTeam(ctx, &herald.Team{OrganizationID: f.Org.ID, Slug: "core", Name: "Dup"}), herald.ECONFLICT)
		teams, err := s.FindTeams(ctx, f.Org.ID)
		must(t, err)
		if len(teams) != 1 || teams[0].Slug != "core" {
			t.Fatalf("teams = %+v", teams)
		}
		_, err = s.FindTeamBySlug(ctx, f.Org.ID, "nope")
		wantCode(t, err, herald.ENOTFOUND)
	})
}

func testProjects(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	t.Run("DefaultsAndKey", func(t *testing.T) {
		p, err := s.FindProjectBySlug(ctx, f.Org.ID, "web")
		must(t, err)
		if !p.HasFeature(herald.FeatureServiceHooks) || p.Organization.Slug != "acme" || p.Team.Slug != "core" {
			t.Fatalf("project = %+v", p)
		}
		keys, err := s.FindProjectKeys(ctx, p.ID)
		must(t, err)
		if len(keys) != 1 || len(keys[0].Public) != 32 || !keys[0].IsActive {
			t.Fatalf("keys = %+v", keys)
		}
		k, err := s.FindProjectKey(ctx, p.ID, keys[0].Public)
		must(t, err)
		if k.ID != keys[0].ID {
			t.Fatalf("key = %+v", k)
		}
		_, err = s.FindProjectKey(ctx, p.ID+1, keys[0].Public)
		wantCode(t, err, herald.ENOTFOUND)
	})
	t.Run("UpdateFeatures", func(t *testing.T) {
		none := []string{}
		p, err := s.UpdateProject(ctx, f.Project.ID, herald.ProjectUpdate{Features: &none})
		must(t, err)
		got, err := s.FindProjectByID(ctx, p.ID)
		must(t, err)
		if got.HasFeature(herald.FeatureServiceHooks) || len(got.Features) != 0 {
			t.Fatalf("features = %v", got.Features)
		}
	})
	t.Run("ErrDuplicateSlug", func(t *testing.T) {
		err := s.CreateProject(ctx, &herald.Project{OrganizationID: f.Org.ID, TeamID: f.Team.ID, Slug: "web", Name: "Web"})
		wantCode(t, err, herald.ECONFLICT)
	})
	t.Run("Delete", func(t *testing.T) {
		p := &herald.Project{OrganizationID: f.Org.ID, TeamID: f.Team.ID, Slug: "gone", Name: "Gone"}
		must(t, s.CreateProject(ctx, p))
		must(t, s.DeleteProject(ctx, p.ID))
		_, err := s.FindProjectByID(ctx, p.ID)
		wantCode(t, err, herald.ENOTFOUND)
		wantCode(t, s.DeleteProject(ctx, p.ID), herald.ENOTFOUND)
	})
}

func testHooks(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	h := f.Hook(t, "https://example.com/a", herald.HookEventCreated, herald.HookEventAlert, herald.HookEventCreated)
	t.Run("Create", func(t *testing.T) {
		if len(h.ID) != 32 || len(h.Secret) != 64 || h.Status != herald.HookActive {
			t.Fatalf("hook = %+v", h)
		}
		if strings.Join(h.Events, ",") != "event.alert,event.created" {
			t.Fatalf("events = %v", h.Events)
		}
	})
	t.Run("UpdateAndRotate", func(t *testing.T) {
		url := "https://example.com/b"
		got, err := s.UpdateHook(ctx, f.Project.ID, h.ID, herald.HookUpdate{URL: &url})
		must(t, err)
		if got.URL != url {
			t.Fatalf("url = %s", got.URL)
		}
		rot, err := s.RotateHookSecret(ctx, f.Project.ID, h.ID)
		must(t, err)
		if rot.Secret == h.Secret || len(rot.Secret) != 64 {
			t.Fatal("secret not rotated")
		}
		bad := "paused"
		_, err = s.UpdateHook(ctx, f.Project.ID, h.ID, herald.HookUpdate{Status: &bad})
		wantCode(t, err, herald.EINVALID)
	})
	t.Run("ListPages", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			f.Clock.Add(time.Millisecond)
			f.Hook(t, fmt.Sprintf("https://example.com/%d", i), herald.HookEventCreated)
		}
		first, next, err := s.FindHooks(ctx, herald.HookFilter{ProjectID: f.Project.ID, Page: herald.Page{Limit: 2}})
		must(t, err)
		second, last, err := s.FindHooks(ctx, herald.HookFilter{ProjectID: f.Project.ID, Page: herald.Page{Limit: 2, Cursor: next}})
		must(t, err)
		if len(first) != 2 || len(second) != 1 || next == "" || last != "" || first[0].ID != h.ID {
			t.Fatalf("pages %d %d next=%q last=%q", len(first), len(second), next, last)
		}
	})
	t.Run("NoEvents", func(t *testing.T) {
		// A hook may subscribe to nothing, as in Sentry; it is active and
		// subscribed to no event, and its events can be emptied again.
		none := f.Hook(t, "https://example.com/none")
		got, err := s.FindHookByID(ctx, f.Project.ID, none.ID)
		must(t, err)
		if got.Events == nil || len(got.Events) != 0 || got.Status != herald.HookActive ||
			got.Subscribes(herald.HookEventCreated) || got.Subscribes(herald.HookEventAlert) {
			t.Fatalf("hook = %+v", got)
		}
		got, err = s.UpdateHook(ctx, f.Project.ID, h.ID, herald.HookUpdate{Events: &[]string{}})
		must(t, err)
		if len(got.Events) != 0 {
			t.Fatalf("events = %v", got.Events)
		}
		events := []string{herald.HookEventAlert, herald.HookEventCreated}
		_, err = s.UpdateHook(ctx, f.Project.ID, h.ID, herald.HookUpdate{Events: &events})
		must(t, err)
		must(t, s.DeleteHook(ctx, f.Project.ID, none.ID))
	})
	t.Run("FilterStatus", func(t *testing.T) {
		off := f.Hook(t, "https://example.com/off", herald.HookEventCreated)
		disabled := herald.HookDisabled
		_, err := s.UpdateHook(ctx, f.Project.ID, off.ID, herald.HookUpdate{Status: &disabled})
		must(t, err)
		defer func() { must(t, s.DeleteHook(ctx, f.Project.ID, off.ID)) }()
		cases := []struct {
			status string
			want   int
		}{{"", 4}, {herald.HookActive, 3}, {herald.HookDisabled, 1}, {"paused", 0}}
		for _, c := range cases {
			list, next, err := s.FindHooks(ctx, herald.HookFilter{ProjectID: f.Project.ID, Status: c.status})
			must(t, err)
			if len(list) != c.want || next != "" {
				t.Fatalf("status %q: %d hooks, want %d", c.status, len(list), c.want)
			}
			for _, x := range list {
				if c.status != "" && x.Status != c.status {
					t.Fatalf("status %q: hook %+v", c.status, x)
				}
			}
		}
		// The filter holds across pages.
		page, next, err := s.FindHooks(ctx, herald.HookFilter{ProjectID: f.Project.ID, Status: herald.HookActive, Page: herald.Page{Limit: 2}})
		must(t, err)
		rest, last, err := s.FindHooks(ctx, herald.HookFilter{ProjectID: f.Project.ID, Status: herald.HookActive, Page: herald.Page{Limit: 2, Cursor: next}})
		must(t, err)
		if len(page) != 2 || len(rest) != 1 || last != "" || rest[0].Status != herald.HookActive {
			t.Fatalf("active pages %d %d", len(page), len(rest))
		}
	})
	t.Run("ErrOtherProject", func(t *testing.T) {
		_, err := s.FindHookByID(ctx, f.Project.ID+1, h.ID)
		wantCode(t, err, herald.ENOTFOUND)
	})
	t.Run("Stats", func(t *testing.T) {
		f.Deliveries(t, h, 2)
		since := f.Clock.Now().Truncate(time.Hour).Add(-time.Hour)
		stats, err := s.HookStats(ctx, h.ID, since, since.Add(3*time.Hour), time.Hour)
		must(t, err)
		var total int64
		for _, st := range stats {
			total += st.Total
		}
		if len(stats) != 3 || total != 2 {
			t.Fatalf("stats = %+v", stats)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		must(t, s.DeleteHook(ctx, f.Project.ID, h.ID))
		wantCode(t, s.DeleteHook(ctx, f.Project.ID, h.ID), herald.ENOTFOUND)
		if _, err := s.PurgeDestinations(ctx); err != nil {
			t.Fatal(err)
		}
		list, _, err := s.FindDeliveries(ctx, herald.DeliveryFilter{DestinationKind: herald.DestinationHook, DestinationID: h.ID})
		must(t, err)
		if len(list) != 0 {
			t.Fatalf("deliveries of a deleted hook remain: %d", len(list))
		}
	})
}

func testCompleteDeliveries(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	h := f.Hook(t, "https://example.com/hook", herald.HookEventCreated)
	f.Deliveries(t, h, 4)
	list, _, err := s.FindDeliveries(ctx, herald.DeliveryFilter{DestinationKind: herald.DestinationHook, DestinationID: h.ID})
	must(t, err)
	ids := []string{list[0].ID, list[1].ID, list[2].ID, list[3].ID}
	send, err := s.FindDeliveriesToSend(ctx, ids)
	must(t, err)
	if len(send) != 4 || send[0].URL != h.URL || !send[0].DestinationActive {
		t.Fatalf("to send = %+v", send[0])
	}
	now := f.Clock.Now()
	attempt := func(code int, errText string) *herald.Attempt {
		return &herald.Attempt{URL: h.URL, StatusCode: code, Duration: 3 * time.Millisecond, Error: errText, ResponseBody: "ok"}
	}
	must(t, s.CompleteDeliveries(ctx, []*herald.Outcome{
		{DeliveryID: ids[0], Attempt: attempt(200, ""), Delivered: true},
		{DeliveryID: ids[1], Attempt: attempt(500, "non-2xx status 500"), NextAttemptAt: now.Add(5 * time.Second)},
		{DeliveryID: ids[2], Attempt: attempt(0, "timeout")},
		{DeliveryID: ids[3], NextAttemptAt: now.Add(time.Second)},
	}))
	cases := []struct {
		name     string
		id       string
		status   string
		attempts int
		lastErr  string
	}{
		{"Delivered", ids[0], herald.DeliveryDelivered, 1, ""},
		{"Retrying", ids[1], herald.DeliveryPending, 1, "non-2xx status 500"},
		{"Failed", ids[2], herald.DeliveryFailed, 1, "timeout"},
		{"DeferredWithoutAttempt", ids[3], herald.DeliveryPending, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := s.FindDeliveryByID(ctx, c.id)
			must(t, err)
			if d.Status != c.status || d.Attempts != c.attempts || d.LastError != c.lastErr {
				t.Fatalf("delivery = status %s attempts %d err %q", d.Status, d.Attempts, d.LastError)
			}
			as, err := s.FindAttempts(ctx, c.id)
			must(t, err)
			if len(as) != c.attempts {
				t.Fatalf("attempts = %d", len(as))
			}
			if c.attempts > 0 && (as[0].Number != 1 || as[0].Duration != 3*time.Millisecond) {
				t.Fatalf("attempt = %+v", as[0])
			}
		})
	}
	t.Run("DeliveredNoLongerSent", func(t *testing.T) {
		send, err := s.FindDeliveriesToSend(ctx, ids)
		must(t, err)
		if len(send) != 2 {
			t.Fatalf("pending = %d, want 2", len(send))
		}
		// Completing a delivery that is no longer pending changes nothing.
		must(t, s.CompleteDeliveries(ctx, []*herald.Outcome{{DeliveryID: ids[0], Attempt: attempt(500, "x")}}))
		d, _ := s.FindDeliveryByID(ctx, ids[0])
		if d.Status != herald.DeliveryDelivered {
			t.Fatalf("status = %s", d.Status)
		}
	})
	t.Run("SecondAttemptNumbered", func(t *testing.T) {
		must(t, s.CompleteDeliveries(ctx, []*herald.Outcome{{DeliveryID: ids[1], Attempt: attempt(200, ""), Delivered: true}}))
		as, err := s.FindAttempts(ctx, ids[1])
		must(t, err)
		if len(as) != 2 || as[1].Number != 2 {
			t.Fatalf("attempts = %+v", as)
		}
	})
}

// testOutcomeStates checks what outcomes leave of a delivery's last attempt
// and of its hook's failure run, several to a batch.
func testOutcomeStates(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	h := f.Hook(t, "https://example.com/hook", herald.HookEventCreated)
	other := f.Hook(t, "https://example.com/other", herald.HookEventCreated)
	ds := f.Deliveries(t, h, 4)
	od := f.Deliveries(t, other, 2)
	failed := func(code int, msg string) *herald.Attempt {
		return &herald.Attempt{URL: h.URL, StatusCode: code, Error: msg}
	}
	// First round: every attempt fails; h's run of failures and other's
	// start.
	first := []*herald.Outcome{
		{DeliveryID: ds[0].ID, Attempt: failed(500, "non-2xx status 500"), NextAttemptAt: f.Clock.Now().Add(time.Minute)},
		{DeliveryID: ds[1].ID, Attempt: failed(502, "non-2xx status 502"), NextAttemptAt: f.Clock.Now().Add(time.Minute)},
		{DeliveryID: ds[2].ID, Attempt: failed(503, "non-2xx status 503"), NextAttemptAt: f.Clock.Now().Add(time.Minute)},
		{DeliveryID: ds[3].ID, Attempt: failed(503, "non-2xx status 503"), NextAttemptAt: f.Clock.Now().Add(time.Minute)},
		{DeliveryID: od[0].ID, Attempt: failed(500, "non-2xx status 500"), NextAttemptAt: f.Clock.Now().Add(time.Minute)},
	}
	must(t, s.CompleteDeliveries(ctx, first))
	for _, o := range first {
		if o.Attempt.Number != 1 || o.Attempt.DeliveryID != o.DeliveryID {
			t.Fatalf("recorded attempt = %+v, want number 1 of %s", o.Attempt, o.DeliveryID)
		}
	}
	for _, hook := range []*herald.Hook{h, other} {
		got, err := s.FindHookByID(ctx, f.Project.ID, hook.ID)
		must(t, err)
		if got.FailingSince == nil || got.Status != herald.HookActive {
			t.Fatalf("hook %s after failures: failing since %v, %s", hook.URL, got.FailingSince, got.Status)
		}
	}
	// Second round: a put-off keeps the last attempt's status and error;
	// a delivery to a destination gone fails without an attempt, keeping
	// the status; a second attempt is numbered 2. For h one delivery
	// succeeds and another fails in the same batch: its run of failures
	// ends. other only fails: its run goes on, from when it began.
	f.Clock.Add(time.Hour)
	second := []*herald.Outcome{
		{DeliveryID: ds[0].ID, NextAttemptAt: f.Clock.Now().Add(time.Second)},
		{DeliveryID: ds[1].ID},
		{DeliveryID: ds[2].ID, Attempt: &herald.Attempt{URL: h.URL, StatusCode: 200}, Delivered: true},
		{DeliveryID: ds[3].ID, Attempt: failed(503, "non-2xx status 503"), NextAttemptAt: f.Clock.Now().Add(time.Minute)},
		{DeliveryID: od[0].ID, Attempt: failed(0, "timeout"), NextAttemptAt: f.Clock.Now().Add(time.Minute)},
		{DeliveryID: od[1].ID, Attempt: failed(404, "non-2xx status 404")},
	}
	must(t, s.CompleteDeliveries(ctx, second))
	tests := []struct {
		name       string
		id         string
		status     string
		attempts   int
		lastStatus int
		lastErr    string
	}{
		{"PutOffKeepsLastAttempt", ds[0].ID, herald.DeliveryPending, 1, 500, "non-2xx status 500"},
		{"FailedWithoutAttempt", ds[1].ID, herald.DeliveryFailed, 1, 502, "destination is disabled or was removed"},
		{"DeliveredOnSecond", ds[2].ID, herald.DeliveryDelivered, 2, 200, ""},
		{"RetryingOnSecond", od[0].ID, herald.DeliveryPending, 2, 0, "timeout"},
		{"FailedFinal", od[1].ID, herald.DeliveryFailed, 1, 404, "non-2xx status 404"},
	}
	for _, tt := range tests {
		d, err := s.FindDeliveryByID(ctx, tt.id)
		must(t, err)
		if d.Status != tt.status || d.Attempts != tt.attempts || d.LastStatus != tt.lastStatus || d.LastError != tt.lastErr {
			t.Errorf("%s: delivery is %s after %d attempts, last %d %q; want %s after %d, last %d %q", tt.name,
				d.Status, d.Attempts, d.LastStatus, d.LastError, tt.status, tt.attempts, tt.lastStatus, tt.lastErr)
		}
		as, err := s.FindAttempts(ctx, tt.id)
		must(t, err)
		if len(as) != tt.attempts || as[len(as)-1].Number != tt.attempts {
			t.Errorf("%s: attempts = %+v, want %d numbered in order", tt.name, as, tt.attempts)
		}
	}
	if n := second[2].Attempt.Number; n != 2 {
		t.Errorf("second attempt recorded as number %d, want 2", n)
	}
	got, err := s.FindHookByID(ctx, f.Project.ID, h.ID)
	must(t, err)
	if got.FailingSince != nil {
		t.Errorf("hook with a delivery succeeding is failing since %v", got.FailingSince)
	}
	got, err = s.FindHookByID(ctx, f.Project.ID, other.ID)
	must(t, err)
	if got.FailingSince == nil || !got.FailingSince.Equal(f.Clock.Now().Add(-time.Hour)) || got.Status != herald.HookActive {
		t.Errorf("hook failing since the first round = failing since %v, %s; want %v, active", got.FailingSince, got.Status,
			f.Clock.Now().Add(-time.Hour))
	}
	// An outcome for a delivery no longer pending changes nothing, beside
	// one that is recorded; a healthy hook's row is left as it is (its
	// configuration version with it: ingest keeps its cache).
	version := func() (n int64) {
		must(t, s.SQL().QueryRowContext(ctx, `SELECT n FROM config_version WHERE id = 1`).Scan(&n))
		return n
	}
	before := version()
	must(t, s.CompleteDeliveries(ctx, []*herald.Outcome{
		{DeliveryID: ds[2].ID, Attempt: failed(500, "late"), NextAttemptAt: f.Clock.Now().Add(time.Minute)},
		{DeliveryID: ds[0].ID, Attempt: &herald.Attempt{URL: h.URL, StatusCode: 204}, Delivered: true},
	}))
	if d, _ := s.FindDeliveryByID(ctx, ds[2].ID); d.Status != herald.DeliveryDelivered || d.Attempts != 2 {
		t.Errorf("delivered delivery after a late outcome: %s after %d attempts", d.Status, d.Attempts)
	}
	if as, _ := s.FindAttempts(ctx, ds[2].ID); len(as) != 2 {
		t.Errorf("delivered delivery has %d attempts after a late outcome, want 2", len(as))
	}
	if d, _ := s.FindDeliveryByID(ctx, ds[0].ID); d.Status != herald.DeliveryDelivered || d.Attempts != 2 || d.LastStatus != 204 {
		t.Errorf("delivery delivered beside the late outcome: %s after %d attempts, last %d", d.Status, d.Attempts, d.LastStatus)
	}
	if got, _ := s.FindHookByID(ctx, f.Project.ID, h.ID); got.FailingSince != nil {
		t.Errorf("a late failure of a delivered delivery started a failure run at %v", got.FailingSince)
	}
	if after := version(); after != before {
		t.Errorf("a delivery to a healthy hook moved the configuration version from %d to %d", before, after)
	}
	// Failing for longer than DisableAfter (72h) disables other; its run
	// still began in the first round.
	began := f.Clock.Now().Add(-time.Hour)
	f.Clock.Add(72 * time.Hour)
	must(t, s.CompleteDeliveries(ctx, []*herald.Outcome{
		{DeliveryID: od[0].ID, Attempt: failed(500, "non-2xx status 500"), NextAttemptAt: f.Clock.Now().Add(time.Minute)},
	}))
	got, err = s.FindHookByID(ctx, f.Project.ID, other.ID)
	must(t, err)
	if got.Status != herald.HookDisabled || got.FailingSince == nil || !got.FailingSince.Equal(began) {
		t.Errorf("hook failing for 73h: %s, failing since %v; want disabled, failing since %v", got.Status, got.FailingSince, began)
	}
}

func testAutoDisable(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	h := f.Hook(t, "https://example.com/hook", herald.HookEventCreated)
	fail := func() {
		t.Helper()
		f.Deliveries(t, h, 1)
		list, _, err := s.FindDeliveries(ctx, herald.DeliveryFilter{DestinationKind: herald.DestinationHook, DestinationID: h.ID, Status: herald.DeliveryPending})
		must(t, err)
		var out []*herald.Outcome
		for _, d := range list {
			out = append(out, &herald.Outcome{DeliveryID: d.ID, Attempt: &herald.Attempt{Error: "connection refused"}})
		}
		must(t, s.CompleteDeliveries(ctx, out))
	}
	fail()
	got, err := s.FindHookByID(ctx, f.Project.ID, h.ID)
	must(t, err)
	if got.FailingSince == nil || got.Status != herald.HookActive {
		t.Fatalf("after one failure: %+v", got)
	}
	f.Clock.Add(73 * time.Hour)
	fail()
	got, err = s.FindHookByID(ctx, f.Project.ID, h.ID)
	must(t, err)
	if got.Status != herald.HookDisabled || !strings.Contains(got.DisabledReason, "failed") {
		t.Fatalf("after 73h of failures: %+v", got)
	}
	// A disabled hook is not among the active ones changes are sent to;
	// re-enabling it clears the failure run.
	must(t, s.InTx(ctx, func(tx *sqlstore.Tx) error {
		active, err := tx.ActiveHooks(ctx, []int64{f.Project.ID})
		if len(active[f.Project.ID]) != 0 {
			t.Errorf("active hooks = %+v, want none", active[f.Project.ID])
		}
		return err
	}))
	active := herald.HookActive
	got, err = s.UpdateHook(ctx, f.Project.ID, h.ID, herald.HookUpdate{Status: &active})
	must(t, err)
	if got.FailingSince != nil || got.DisabledReason != "" {
		t.Fatalf("re-enabled: %+v", got)
	}
	n, err := s.RecoverDeliveries(ctx, herald.DestinationHook, h.ID, f.Clock.Now().Add(-100*time.Hour))
	must(t, err)
	if n != 2 {
		t.Fatalf("recovered %d, want 2", n)
	}
}

func testRedeliverRecover(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store
	h := f.Hook(t, "https://example.com/hook", herald.HookEventCreated)
	d := f.Deliveries(t, h, 1)[0]
	must(t, s.CompleteDeliveries(ctx, []*herald.Outcome{{DeliveryID: d.ID, Attempt: &herald.Attempt{StatusCode: 200}, Delivered: true}}))
	again, err := s.Redeliver(ctx, d.ID)
	must(t, err)
	if again.Status != herald.DeliveryPending || string(again.Body) != string(d.Body) || again.Signature != d.Signature {
		t.Fatalf("redelivered = %+v", again)
	}
	_, err = s.Redeliver(ctx, "0000")
	wantCode(t, err, herald.ENOTFOUND)
	t.Run("Purge", func(t *testing.T) {
		f.Deliveries(t, h, 1)
		f.Clock.Add(24 * time.Hour)
		n, err := s.PurgeDeliveries(ctx, f.Clock.Now())
		must(t, err)
		if n != 0 {
			t.Fatalf("purged %d pending deliveries", n)
		}
		list, _, err := s.FindDeliveries(ctx, herald.DeliveryFilter{DestinationKind: herald.DestinationHook, DestinationID: h.ID, Status: herald.DeliveryPending})
		must(t, err)
		f.Delivered(t, list...)
		n, err = s.PurgeDeliveries(ctx, f.Clock.Now().Add(-time.Hour))
		must(t, err)
		if n != 2 {
			t.Fatalf("purged %d, want the 2 finished deliveries created a day ago", n)
		}
		as, err := s.FindAttempts(ctx, d.ID)
		must(t, err)
		if len(as) != 0 {
			t.Fatalf("attempts of a purged delivery remain: %d", len(as))
		}
	})
	t.Run("ErrBadCursor", func(t *testing.T) {
		_, _, err := s.FindDeliveries(ctx, herald.DeliveryFilter{DestinationKind: herald.DestinationHook, DestinationID: h.ID, Page: herald.Page{Cursor: "zzz"}})
		wantCode(t, err, herald.EINVALID)
	})
}
