package web_test

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/webhook"
)

// hooksPath is the Service Hooks page of the fixture's project.
const hooksPath = "/settings/acme/projects/web/hooks/"

// hookReceiverURL returns the URL of a loopback receiver. The web tests run no
// dispatcher, so nothing is sent to it: tests read the store's deliveries.
func hookReceiverURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	return srv.URL + "/sentry-hook"
}

// projectHook returns the fixture project's only hook.
func (e *env) projectHook(t *testing.T) *herald.Hook {
	t.Helper()
	hooks, _, err := e.Store.FindHooks(context.Background(), herald.HookFilter{ProjectID: e.Project.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(hooks) != 1 {
		t.Fatalf("project has %d hooks, want 1", len(hooks))
	}
	return hooks[0]
}

// hookPagePath is the path of a hook's page.
func hookPagePath(h *herald.Hook) string { return hooksPath + h.ID + "/" }

// completeHookDeliveries records one attempt of each delivery answered with status
// (200 delivers it; anything else fails it for good).
func (e *env) completeHookDeliveries(t *testing.T, ds []*herald.Delivery, status int, response string) {
	t.Helper()
	var outcomes []*herald.Outcome
	for _, d := range ds {
		outcomes = append(outcomes, &herald.Outcome{DeliveryID: d.ID, Delivered: status == http.StatusOK,
			Attempt: &herald.Attempt{URL: "http://127.0.0.1:1/sentry-hook", StatusCode: status, Duration: 42 * time.Millisecond, ResponseBody: response}})
	}
	if err := e.Store.CompleteDeliveries(context.Background(), outcomes); err != nil {
		t.Fatal(err)
	}
}

func TestHookCreate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		form   url.Values
		status int
		// want are texts of the answer; wantHook whether a hook is made,
		// with wantEvents.
		want       []string
		wantHook   bool
		wantEvents string
	}{
		{name: "OK", form: url.Values{"events": {"event.created", "event.alert"}}, status: http.StatusCreated,
			want: []string{"Hook created", "shown this once", "event.alert", "event.created"}, wantHook: true, wantEvents: "event.alert,event.created"},
		// No event ticked is a hook sent nothing, as the API and Sentry
		// allow.
		{name: "OKNoEvents", form: url.Values{}, status: http.StatusCreated,
			want: []string{"Hook created", "shown this once"}, wantHook: true, wantEvents: ""},
		{name: "ErrInvalidURL", form: url.Values{"url": {"ftp://example.com/x"}, "events": {"event.created"}}, status: http.StatusBadRequest,
			want: []string{"Enter a valid URL.", `value="ftp://example.com/x"`, `id="hook-url-error"`}},
		{name: "ErrBlankURL", form: url.Values{"url": {"  "}, "events": {"event.created"}}, status: http.StatusBadRequest,
			want: []string{"This field may not be blank."}},
		{name: "ErrUserinfo", form: url.Values{"url": {"https://user:pw@example.com/h"}, "events": {"event.created"}}, status: http.StatusBadRequest,
			want: []string{`class="error"`}},
		{name: "ErrUnknownEvent", form: url.Values{"events": {"issue"}}, status: http.StatusBadRequest,
			want: []string{"Invalid event name: issue"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			b := e.signIn(t, e.User.Email)
			if _, ok := tt.form["url"]; !ok {
				tt.form.Set("url", hookReceiverURL(t))
			}
			form := b.get(hooksPath + "new/")
			form.mustContain(t, `name="url"`, `<label for="hook-url">`, `value="event.created"`, `value="event.alert"`, ">Save</button>")

			res := b.post(hooksPath+"new/", tt.form)
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d:\n%s", res.Status, tt.status, res.Body)
			}
			res.mustContain(t, tt.want...)
			hooks, _, err := e.Store.FindHooks(context.Background(), herald.HookFilter{ProjectID: e.Project.ID})
			if err != nil {
				t.Fatal(err)
			}
			if !tt.wantHook {
				if len(hooks) != 0 {
					t.Fatalf("invalid form made %d hooks", len(hooks))
				}
				return
			}
			h := e.projectHook(t)
			if h.URL != tt.form.Get("url") || strings.Join(h.Events, ",") != tt.wantEvents || h.Status != herald.HookActive {
				t.Fatalf("hook %+v", h)
			}
			res.mustContain(t, `value="`+h.Secret+`"`, `data-copy="hook-secret"`, hookPagePath(h))

			// The secret is shown once: not on the hook's page, nor in
			// the list.
			page := b.get(hookPagePath(h))
			if page.Status != http.StatusOK || strings.Contains(page.Body, h.Secret) {
				t.Fatalf("hook page: status %d, shows the secret: %v", page.Status, strings.Contains(page.Body, h.Secret))
			}
			list := b.get(hooksPath)
			list.mustContain(t, `href="`+hookPagePath(h)+`"`, h.URL+"</a>", `badge ok">active`, "Add a new hook")
			if tt.wantEvents != "" {
				list.mustContain(t, "<code>event.created</code>")
			}
			if strings.Contains(list.Body, h.Secret) {
				t.Fatal("the list shows the secret")
			}
		})
	}
}

func TestHookRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.person(t, "member@acme.example", herald.RoleMember)
	e.person(t, "admin@acme.example", herald.RoleAdmin)
	stranger := e.person(t, "owner@globex.example", "")
	if err := e.Store.CreateOrganization(ctx, &herald.Organization{Name: "Globex", Slug: "globex"}, stranger.ID); err != nil {
		t.Fatal(err)
	}
	h := e.Hook(t, hookReceiverURL(t), herald.HookEventCreated)
	d := e.Deliveries(t, h, 1)[0]
	member := e.signIn(t, "member@acme.example")
	admin := e.signIn(t, "admin@acme.example")
	outsider := e.signIn(t, "owner@globex.example")
	hook := hookPagePath(h)

	posts := []struct {
		name string
		path string
		form url.Values
	}{
		{"Create", hooksPath + "new/", url.Values{"url": {"https://example.com/x"}, "events": {"event.created"}}},
		{"Edit", hook, url.Values{"url": {"https://example.com/x"}, "events": {"event.created"}}},
		{"Disable", hook + "status/", url.Values{"status": {"disabled"}}},
		{"Rotate", hook + "rotate-secret/", url.Values{}},
		{"SendTestEvent", hook + "test/", url.Values{}},
		{"Redeliver", hook + "deliveries/" + d.ID + "/redeliver/", url.Values{}},
		{"Recover", hook + "deliveries/recover/", url.Values{"since": {"2024-01-01T00:00"}}},
		{"Delete", hook + "delete/", url.Values{}},
	}

	t.Run("MemberReads", func(t *testing.T) {
		list := member.get(hooksPath)
		list.mustContain(t, h.URL)
		page := member.get(hook)
		page.mustContain(t, h.URL, "delivery-"+d.ID, "Delivery log")
		for _, label := range []string{"Add a new hook", "Send Test Event", "Redeliver</button>", "Delete</button>", "Save Changes", "Rotate Secret", "Recover</button>"} {
			if strings.Contains(list.Body+page.Body, label) {
				t.Errorf("a member is offered %q", label)
			}
		}
		if res := member.get(hooksPath + "new/"); res.Status != http.StatusForbidden {
			t.Errorf("a member opens the new hook form: status %d", res.Status)
		}
	})
	for _, p := range posts {
		t.Run("ErrMember"+p.name, func(t *testing.T) {
			if res := member.post(p.path, maps.Clone(p.form)); res.Status != http.StatusForbidden {
				t.Fatalf("status %d, want 403", res.Status)
			}
		})
		t.Run("ErrOtherOrganization"+p.name, func(t *testing.T) {
			res := outsider.post(p.path, maps.Clone(p.form))
			if res.Status != http.StatusNotFound || strings.Contains(res.Body, h.URL) {
				t.Fatalf("status %d, want 404", res.Status)
			}
		})
	}
	t.Run("ErrOtherOrganizationReads", func(t *testing.T) {
		for _, path := range []string{hooksPath, hooksPath + "new/", hook} {
			if res := outsider.get(path); res.Status != http.StatusNotFound || strings.Contains(res.Body, h.URL) {
				t.Errorf("GET %s: status %d, want 404", path, res.Status)
			}
		}
	})
	t.Run("NothingChanged", func(t *testing.T) {
		got, err := e.Store.FindHookByID(ctx, e.Project.ID, h.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.URL != h.URL || got.Status != herald.HookActive || got.Secret != h.Secret {
			t.Fatalf("hook changed by refused posts: %+v", got)
		}
		if ds := e.DeliveriesTo(t, herald.DestinationHook, h.ID); len(ds) != 1 {
			t.Fatalf("%d deliveries after refused posts", len(ds))
		}
	})
	t.Run("AdminWrites", func(t *testing.T) {
		page := admin.get(hook)
		page.mustContain(t, "Send Test Event", "Redeliver</button>", "Save Changes")
		admin.get(hooksPath).mustContain(t, "Add a new hook")
		if res := admin.post(hook+"test/", url.Values{}); res.Status != http.StatusSeeOther {
			t.Fatalf("admin sends a test event: status %d", res.Status)
		}
	})
	t.Run("ErrUnknownHook", func(t *testing.T) {
		for _, path := range []string{hooksPath + "0123456789abcdef0123456789abcdef/", hooksPath + "x%20y/"} {
			if res := admin.get(path); res.Status != http.StatusNotFound {
				t.Errorf("GET %s: status %d", path, res.Status)
			}
		}
		if res := admin.post(hook+"deliveries/nope/redeliver/", url.Values{}); res.Status != http.StatusNotFound {
			t.Errorf("redeliver unknown delivery: status %d", res.Status)
		}
	})
	t.Run("ErrNoFeature", func(t *testing.T) {
		if _, err := e.Store.UpdateProject(ctx, e.Project.ID, herald.ProjectUpdate{Features: &[]string{}}); err != nil {
			t.Fatal(err)
		}
		res := admin.get(hooksPath)
		if res.Status != http.StatusForbidden {
			t.Fatalf("status %d", res.Status)
		}
		res.mustContain(t, "Service Hooks are not enabled for this project.")
	})
}

func TestHookCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.signIn(t, e.User.Email)
	h := e.Hook(t, hookReceiverURL(t), herald.HookEventCreated)
	for _, p := range []struct{ name, path string }{
		{"Create", hooksPath + "new/"},
		{"SendTestEvent", hookPagePath(h) + "test/"},
		{"Delete", hookPagePath(h) + "delete/"},
	} {
		t.Run(p.name, func(t *testing.T) {
			for _, token := range []string{"", "forged"} {
				res := b.post(p.path, url.Values{"csrf_token": {token}, "url": {"https://example.com/x"}, "events": {"event.created"}})
				if res.Status != http.StatusForbidden {
					t.Fatalf("token %q: status %d, want 403", token, res.Status)
				}
			}
		})
	}
	if _, err := e.Store.FindHookByID(context.Background(), e.Project.ID, h.ID); err != nil {
		t.Fatalf("hook gone after refused delete: %v", err)
	}
	if ds := e.DeliveriesTo(t, herald.DestinationHook, h.ID); len(ds) != 0 {
		t.Fatalf("refused test event queued %d deliveries", len(ds))
	}
	if h := e.projectHook(t); h.URL == "https://example.com/x" {
		t.Fatal("refused create made a hook")
	}
}

// TestHookActions goes through a hook's page: Send Test Event, the
// delivery log, Redeliver, recover, edit, disable and enable, rotate and
// delete.
func TestHookActions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	b := e.signIn(t, e.User.Email)
	h := e.Hook(t, hookReceiverURL(t), herald.HookEventCreated)
	hook := hookPagePath(h)

	var sent *herald.Delivery
	t.Run("SendTestEvent", func(t *testing.T) {
		res := b.post(hook+"test/", url.Values{})
		if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Location, hook+"#delivery-") {
			t.Fatalf("status %d location %q", res.Status, res.Location)
		}
		ds := e.DeliveriesTo(t, herald.DestinationHook, h.ID)
		if len(ds) != 1 || ds[0].Event != herald.HookEventCreated || ds[0].Status != herald.DeliveryPending {
			t.Fatalf("deliveries %+v", ds)
		}
		sent = ds[0]
		if sent.Signature != webhook.Sign(h.Secret, sent.Body) {
			t.Fatal("test delivery not signed with the hook's secret")
		}
		page := b.get(hook)
		page.mustContain(t, "Test event sent", `<details class="delivery" id="delivery-`+sent.ID+`"`, "<code>event.created</code>",
			`badge warn">pending`, "0 attempts", "Request-ID", sent.ID, "X-ServiceHook-GUID", "X-ServiceHook-Signature</dt><dd><span class=\"muted\">HMAC-SHA256", "Redeliver</button>", `data-live="3"`)
		if strings.Contains(page.Body, sent.Signature) || strings.Contains(page.Body, h.Secret) {
			t.Fatal("the delivery log shows the signature or the secret")
		}
	})
	t.Run("AttemptsShown", func(t *testing.T) {
		e.completeHookDeliveries(t, []*herald.Delivery{sent}, http.StatusInternalServerError, "upstream <broke>")
		page := b.get(hook)
		page.mustContain(t, `badge bad">failed`, "1 attempt<", "Attempt 1", "HTTP 500", "42 ms", "upstream &lt;broke&gt;")
	})
	t.Run("Redeliver", func(t *testing.T) {
		res := b.post(hook+"deliveries/"+sent.ID+"/redeliver/", url.Values{})
		if res.Status != http.StatusSeeOther || res.Location != hook+"#delivery-"+sent.ID {
			t.Fatalf("status %d location %q", res.Status, res.Location)
		}
		ds := e.DeliveriesTo(t, herald.DestinationHook, h.ID)
		if len(ds) != 1 {
			t.Fatalf("%d deliveries after redeliver, want the same one", len(ds))
		}
		d := ds[0]
		if d.ID != sent.ID || string(d.Body) != string(sent.Body) || d.Signature != sent.Signature || d.Timestamp != sent.Timestamp ||
			d.Status != herald.DeliveryPending || !d.NextAttemptAt.Equal(e.Clock.Now()) {
			t.Fatalf("redelivered %+v, sent %+v", d, sent)
		}
		b.get(hook).mustContain(t, "Delivery "+sent.ID+" is queued again.")
	})
	t.Run("Recover", func(t *testing.T) {
		e.completeHookDeliveries(t, []*herald.Delivery{sent}, http.StatusBadGateway, "")
		res := b.post(hook+"deliveries/recover/", url.Values{"since": {e.Clock.Now().Add(-time.Hour).Format("2006-01-02T15:04")}})
		if res.Status != http.StatusSeeOther {
			t.Fatalf("status %d", res.Status)
		}
		b.get(hook).mustContain(t, "1 failed delivery since")
		if d := e.DeliveriesTo(t, herald.DestinationHook, h.ID)[0]; d.Status != herald.DeliveryPending {
			t.Fatalf("recovered delivery is %s", d.Status)
		}
		bad := b.post(hook+"deliveries/recover/", url.Values{"since": {"yesterday"}})
		if bad.Status != http.StatusBadRequest {
			t.Fatalf("bad since: status %d", bad.Status)
		}
		bad.mustContain(t, "Datetime has wrong format.", `value="yesterday"`)
	})
	t.Run("Edit", func(t *testing.T) {
		target := hookReceiverURL(t)
		res := b.post(hook, url.Values{"url": {target}, "events": {"event.alert"}})
		if res.Status != http.StatusSeeOther {
			t.Fatalf("status %d", res.Status)
		}
		got := e.projectHook(t)
		if got.URL != target || strings.Join(got.Events, ",") != "event.alert" {
			t.Fatalf("hook %+v", got)
		}
		// Unticking every event is saved: the hook is sent nothing.
		if res := b.post(hook, url.Values{"url": {target}}); res.Status != http.StatusSeeOther {
			t.Fatalf("no events: status %d", res.Status)
		}
		if got := e.projectHook(t); len(got.Events) != 0 {
			t.Fatalf("events = %v", got.Events)
		}
		if res := b.post(hook, url.Values{"url": {target}, "events": {"event.alert"}}); res.Status != http.StatusSeeOther {
			t.Fatalf("status %d", res.Status)
		}
		bad := b.post(hook, url.Values{"url": {"not a url"}, "events": {"event.alert"}})
		if bad.Status != http.StatusBadRequest {
			t.Fatalf("bad url: status %d", bad.Status)
		}
		bad.mustContain(t, "Enter a valid URL.", `value="not a url"`)
		if e.projectHook(t).URL != target {
			t.Fatal("a refused edit changed the hook")
		}
	})
	t.Run("DisableEnable", func(t *testing.T) {
		if res := b.post(hook+"status/", url.Values{"status": {"disabled"}}); res.Status != http.StatusSeeOther {
			t.Fatalf("disable: status %d", res.Status)
		}
		if got := e.projectHook(t); got.Status != herald.HookDisabled {
			t.Fatalf("status %s", got.Status)
		}
		page := b.get(hook)
		page.mustContain(t, `class="banner bad"`, "This hook is disabled", "disabled by a user", ">Enable</button>")
		if strings.Contains(page.Body, "Send Test Event") {
			t.Fatal("a disabled hook offers Send Test Event")
		}
		b.get(hooksPath).mustContain(t, `badge bad">disabled`)
		res := b.post(hook+"test/", url.Values{})
		if res.Status != http.StatusBadRequest {
			t.Fatalf("test event to a disabled hook: status %d", res.Status)
		}
		res.mustContain(t, "This hook is disabled")
		if res := b.post(hook+"status/", url.Values{"status": {"paused"}}); res.Status != http.StatusBadRequest {
			t.Fatalf("unknown status: %d", res.Status)
		}
		if res := b.post(hook+"status/", url.Values{"status": {"active"}}); res.Status != http.StatusSeeOther {
			t.Fatalf("enable: status %d", res.Status)
		}
		if got := e.projectHook(t); got.Status != herald.HookActive || got.DisabledReason != "" {
			t.Fatalf("hook %+v", got)
		}
		if strings.Contains(b.get(hook).Body, "This hook is disabled") {
			t.Fatal("banner shown for an enabled hook")
		}
	})
	t.Run("Rotate", func(t *testing.T) {
		res := b.post(hook+"rotate-secret/", url.Values{})
		if res.Status != http.StatusOK {
			t.Fatalf("status %d", res.Status)
		}
		got := e.hookByID(t, h.ID)
		if got.Secret == h.Secret {
			t.Fatal("secret not rotated")
		}
		res.mustContain(t, "New secret", `value="`+got.Secret+`"`)
		if strings.Contains(b.get(hook).Body, got.Secret) {
			t.Fatal("the new secret is shown again")
		}
	})
	t.Run("Delete", func(t *testing.T) {
		res := b.post(hook+"delete/", url.Values{})
		if res.Status != http.StatusSeeOther || res.Location != hooksPath {
			t.Fatalf("status %d location %q", res.Status, res.Location)
		}
		if _, err := e.Store.FindHookByID(ctx, e.Project.ID, h.ID); herald.ErrorCode(err) != herald.ENOTFOUND {
			t.Fatalf("hook still there: %v", err)
		}
		list := b.get(hooksPath)
		list.mustContain(t, "Hook deleted.")
		if strings.Contains(list.Body, h.ID) {
			t.Fatal("the list shows the deleted hook")
		}
		if res := b.get(hook); res.Status != http.StatusNotFound {
			t.Fatalf("deleted hook's page: status %d", res.Status)
		}
		// The deliveries go with the next purge (the leader's job, every
		// minute).
		if ds := e.DeliveriesTo(t, herald.DestinationHook, h.ID); len(ds) == 0 {
			t.Fatal("the deleted hook's deliveries went before the purge")
		}
		if _, err := e.Store.PurgeDestinations(ctx); err != nil {
			t.Fatal(err)
		}
		if ds := e.DeliveriesTo(t, herald.DestinationHook, h.ID); len(ds) != 0 {
			t.Fatalf("%d deliveries of the deleted hook remain", len(ds))
		}
	})
}

// TestHookAutoDisabledBanner shows why and since when a hook the store
// disabled after failing is disabled.
func TestHookAutoDisabledBanner(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.signIn(t, e.User.Email)
	h := e.Hook(t, hookReceiverURL(t), herald.HookEventCreated)
	e.completeHookDeliveries(t, e.Deliveries(t, h, 1), http.StatusInternalServerError, "")
	e.Clock.Add(73 * time.Hour)
	e.completeHookDeliveries(t, e.Deliveries(t, h, 1), http.StatusInternalServerError, "")
	if got := e.hookByID(t, h.ID); got.Status != herald.HookDisabled {
		t.Fatalf("the store did not disable a hook failing for 73 hours: %+v", got)
	}
	page := b.get(hookPagePath(h))
	page.mustContain(t, `class="banner bad"`, "This hook is disabled", "disabled automatically", "failing since 2024-01-15 12:00 UTC", ">Enable</button>")
}

// hookByID loads one hook of the fixture's project.
func (e *env) hookByID(t *testing.T, id string) *herald.Hook {
	t.Helper()
	h, err := e.Store.FindHookByID(context.Background(), e.Project.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestHookChart counts real deliveries in the chart: per hour of the last
// 24, by outcome, older ones left out.
func TestHookChart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.signIn(t, e.User.Email)
	h := e.Hook(t, hookReceiverURL(t), herald.HookEventCreated)
	// At Jan 15 12:00: one delivery, outside the window at the end.
	e.Deliveries(t, h, 1)
	// At Jan 16 12:30: two pending.
	e.Clock.Add(24*time.Hour + 30*time.Minute)
	e.Deliveries(t, h, 2)
	// At Jan 16 14:30: two delivered, one failed.
	e.Clock.Add(2 * time.Hour)
	ds := e.Deliveries(t, h, 3)
	e.completeHookDeliveries(t, ds[:2], http.StatusOK, "ok")
	e.completeHookDeliveries(t, ds[2:], http.StatusServiceUnavailable, "")

	page := b.get(hookPagePath(h))
	page.mustContain(t,
		`<svg class="chart"`, "<title id=\"delivery-chart-title\">",
		"<title>Jan 16 12:00–13:00 UTC: 2 deliveries (2 pending)</title>",
		"<title>Jan 16 12:00–13:00 UTC: 2 pending</title>",
		"<title>Jan 16 14:00–15:00 UTC: 3 deliveries (2 delivered, 1 failed)</title>",
		"<title>Jan 16 14:00–15:00 UTC: 2 delivered</title>",
		"<title>Jan 15 15:00–16:00 UTC: 0 deliveries</title>",
		"Delivered: 2", "Failed: 1", "Pending: 2", "Not broken down: 0",
		"5 deliveries in all",
	)
	if strings.Contains(page.Body, "Jan 15 12:00–13:00") {
		t.Fatal("the chart shows an hour older than 24 hours")
	}
	if regexp.MustCompile(`\sstyle=`).MatchString(page.Body) {
		t.Fatal("the page has a style attribute, which the Content-Security-Policy refuses")
	}

	// The live log's refreshes skip the chart.
	req, err := http.NewRequest(http.MethodGet, e.URL+hookPagePath(h), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Herald-Live", "1")
	live := b.do(req)
	live.mustContain(t, `id="deliveries" data-live="3"`, "delivery-"+ds[0].ID)
	if strings.Contains(live.Body, `<svg class="chart"`) {
		t.Fatal("a live refresh draws the chart")
	}
}

// TestHookLogPages caps the log at 50 deliveries, with a link to older
// ones.
func TestHookLogPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.signIn(t, e.User.Email)
	h := e.Hook(t, hookReceiverURL(t), herald.HookEventCreated)
	var ds []*herald.Delivery
	for range 55 {
		ds = append(ds, e.Deliveries(t, h, 1)...)
		e.Clock.Add(time.Second)
	}
	first := b.get(hookPagePath(h))
	if n := strings.Count(first.Body, `<details class="delivery"`); n != 50 {
		t.Fatalf("first page lists %d deliveries, want 50", n)
	}
	first.mustContain(t, "delivery-"+ds[54].ID, "Older deliveries")
	older := regexp.MustCompile(`href="([^"]*\?cursor=[^"]*)">Older deliveries`).FindStringSubmatch(first.Body)
	if older == nil {
		t.Fatal("no link to older deliveries")
	}
	second := b.get(strings.ReplaceAll(older[1], "&amp;", "&"))
	if n := strings.Count(second.Body, `<details class="delivery"`); n != 5 {
		t.Fatalf("second page lists %d deliveries, want 5", n)
	}
	second.mustContain(t, "delivery-"+ds[0].ID, "Newest deliveries")
	if res := b.get(hookPagePath(h) + "?cursor=bogus"); res.Status != http.StatusBadRequest {
		t.Fatalf("bad cursor: status %d", res.Status)
	}
}
