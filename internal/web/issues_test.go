package web_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/ingest"
	"github.com/herald-dev/herald/internal/storetest"
)

// crashPayload is an SDK error event with everything an event's page
// shows: an exception with in-app and library frames, tags, user,
// request, contexts, breadcrumbs and extra data.
const crashPayload = `{"platform":"python","level":"error","environment":"production","release":"shop@1.2.3",
 "exception":{"values":[{"type":"KeyError","value":"missing id","module":"builtins","mechanism":{"type":"generic","handled":false},
  "stacktrace":{"frames":[
   {"filename":"django/core/handlers.py","function":"get_response","lineno":47,"in_app":false},
   {"filename":"shop/views.py","function":"checkout","lineno":12,"colno":5,"in_app":true,
    "pre_context":["def checkout(request):"],"context_line":"    order = orders[request.GET[\"id\"]]","post_context":["    return order"],
    "vars":{"cart":"<Cart 3 items>"}}]}}]},
 "tags":{"customer":"acme-corp"},
 "user":{"id":"42","email":"buyer@example.com","ip_address":"203.0.113.9"},
 "request":{"method":"POST","url":"https://shop.example/checkout","query_string":"id=7&coupon=SPRING","headers":{"User-Agent":"curl/8.5"}},
 "contexts":{"os":{"type":"os","name":"Linux","version":"6.1"}},
 "breadcrumbs":{"values":[{"timestamp":1705320000,"category":"http","message":"GET /cart"}]},
 "extra":{"cart_size":3}}`

// saveEvent parses an SDK event and saves it in project p through the
// ChangeService, as ingest does.
func (e *env) saveEvent(t *testing.T, p *herald.Project, payload string) *herald.Event {
	t.Helper()
	ev, err := ingest.ParseEvent([]byte(payload), e.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	ev.ProjectID = p.ID
	if err := e.Changes.SaveEvents(context.Background(), []*herald.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if ev.IssueID == 0 {
		t.Fatal("the event joined no issue")
	}
	return ev
}

// issue reads an issue of acme from the store.
func (e *env) issue(t *testing.T, id int64) *herald.Issue {
	t.Helper()
	is, err := e.Store.FindIssue(context.Background(), e.Org.ID, strconv.FormatInt(id, 10))
	if err != nil {
		t.Fatal(err)
	}
	return is
}

// newWebhooks returns the events of the deliveries to inst that are not
// among before, sorted (deliveries written at one instant have no order).
func (e *env) newWebhooks(t *testing.T, inst *herald.Installation, before []*herald.Delivery) string {
	t.Helper()
	seen := map[string]bool{}
	for _, d := range before {
		seen[d.ID] = true
	}
	var events []string
	for _, d := range e.DeliveriesTo(t, herald.DestinationApp, inst.UUID) {
		if !seen[d.ID] {
			events = append(events, d.Event)
		}
	}
	slices.Sort(events)
	return strings.Join(events, ",")
}

// issuePath is the page of an issue of acme.
func issuePath(id int64) string {
	return "/organizations/acme/issues/" + strconv.FormatInt(id, 10) + "/"
}

// issueLinks matches the links of the issue list to issues.
var issueLinks = regexp.MustCompile(`<a href="/organizations/acme/issues/(\d+)/">`)

// listedIssues returns the ids of the issues a list page links to, in
// order.
func listedIssues(p *page) []int64 {
	var ids []int64
	for _, m := range issueLinks.FindAllStringSubmatch(p.Body, -1) {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		ids = append(ids, id)
	}
	return ids
}

func TestIssueList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	crash := e.saveEvent(t, e.Project, crashPayload)
	e.Clock.Add(time.Minute)
	disk := e.saveEvent(t, e.Project, `{"message":"disk full","level":"warning"}`)
	e.Clock.Add(time.Minute)
	gone := e.saveEvent(t, e.Project, `{"message":"cache gone","level":"info"}`)
	resolved := herald.IssueResolved
	if _, err := e.Changes.UpdateIssues(context.Background(), herald.IssueSelection{ProjectID: e.Project.ID, IDs: []int64{gone.IssueID}},
		herald.IssueUpdate{Status: &resolved}, herald.Actor{User: e.User}); err != nil {
		t.Fatal(err)
	}
	b := e.signIn(t, e.User.Email)

	cases := []struct {
		name   string
		query  string
		status int
		want   []int64
		texts  []string
	}{
		{"DefaultUnresolved", "", http.StatusOK, []int64{disk.IssueID, crash.IssueID},
			[]string{"KeyError", html.EscapeString(crash.Culprit), "disk full", "unresolved", "warning", "Web"}},
		{"Resolved", "?status=resolved", http.StatusOK, []int64{gone.IssueID}, []string{"cache gone", "resolved", `<option value="resolved" selected>Resolved</option>`}},
		{"All", "?status=all", http.StatusOK, []int64{gone.IssueID, disk.IssueID, crash.IssueID}, nil},
		{"Text", "?query=keyerror", http.StatusOK, []int64{crash.IssueID}, nil},
		{"IsWinsOverStatus", "?status=unresolved&query=" + url.QueryEscape("is:resolved cache"), http.StatusOK, []int64{gone.IssueID}, nil},
		{"AssignedToMe", "?query=" + url.QueryEscape("assigned:me"), http.StatusOK, nil, []string{"No issues match"}},
		{"ProjectSlug", "?project=web&status=all", http.StatusOK, []int64{gone.IssueID, disk.IssueID, crash.IssueID}, nil},
		{"ProjectID", "?project=" + strconv.FormatInt(e.Project.ID, 10), http.StatusOK, []int64{disk.IssueID, crash.IssueID}, nil},
		{"ErrBadQuery", "?query=" + url.QueryEscape("is:sleeping"), http.StatusBadRequest, nil,
			[]string{"Invalid value for is: &#34;sleeping&#34;", `value="is:sleeping"`}},
		{"ErrUnsupportedTerm", "?query=" + url.QueryEscape("browser:firefox"), http.StatusBadRequest, nil, []string{"Unsupported search term"}},
		{"ErrBadStatus", "?status=snoozed", http.StatusBadRequest, nil, []string{"Invalid status"}},
		{"ErrUnknownProject", "?project=nope", http.StatusBadRequest, nil, []string{"There is no project &#34;nope&#34;"}},
		{"ErrBadCursor", "?cursor=%21%21", http.StatusBadRequest, nil, []string{"Invalid cursor"}},
		{"ErrBadLimit", "?limit=1000", http.StatusBadRequest, nil, []string{"Invalid limit"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := b.get("/organizations/acme/issues/" + c.query)
			if res.Status != c.status {
				t.Fatalf("status %d, want %d:\n%s", res.Status, c.status, res.Body)
			}
			if got := listedIssues(res); !slices.Equal(got, c.want) {
				t.Fatalf("issues %v, want %v", got, c.want)
			}
			res.mustContain(t, c.texts...)
		})
	}
}

// nextLink matches the list's link to its next page.
var nextLink = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)

// TestIssueListPages walks the pages of a list that merges the issues of
// two projects: every issue shows once, most recently seen first.
func TestIssueListPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := &herald.Project{OrganizationID: e.Org.ID, TeamID: e.Team.ID, Slug: "api", Name: "API"}
	if err := e.Store.CreateProject(context.Background(), api); err != nil {
		t.Fatal(err)
	}
	var want []int64
	for i, p := range []*herald.Project{e.Project, api, api, e.Project, e.Project, api, e.Project} {
		e.Clock.Add(time.Minute)
		ev := e.saveEvent(t, p, `{"message":"failure number `+strconv.Itoa(i)+`"}`)
		want = append([]int64{ev.IssueID}, want...)
	}
	b := e.signIn(t, e.User.Email)

	for _, limit := range []int{1, 2, 3, 7, 25} {
		t.Run("Limit"+strconv.Itoa(limit), func(t *testing.T) {
			var got []int64
			path := "/organizations/acme/issues/?limit=" + strconv.Itoa(limit)
			for pages := 0; path != ""; pages++ {
				if pages > len(want) {
					t.Fatalf("more pages than issues: %v", got)
				}
				res := b.get(path)
				if res.Status != http.StatusOK {
					t.Fatalf("%s: status %d:\n%s", path, res.Status, res.Body)
				}
				ids := listedIssues(res)
				if len(ids) > limit {
					t.Fatalf("%d issues on a page of %d", len(ids), limit)
				}
				got = append(got, ids...)
				path = ""
				if m := nextLink.FindStringSubmatch(res.Body); m != nil {
					path = html.UnescapeString(m[1])
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("issues %v, want %v", got, want)
			}
		})
	}
	t.Run("OneProject", func(t *testing.T) {
		res := b.get("/organizations/acme/issues/?project=api&limit=2")
		if got := listedIssues(res); !slices.Equal(got, []int64{want[1], want[4]}) {
			t.Fatalf("issues %v, want %v", got, []int64{want[1], want[4]})
		}
		m := nextLink.FindStringSubmatch(res.Body)
		if m == nil {
			t.Fatal("no next page")
		}
		res = b.get(html.UnescapeString(m[1]))
		if got := listedIssues(res); !slices.Equal(got, []int64{want[5]}) || nextLink.MatchString(res.Body) {
			t.Fatalf("second page: issues %v, want %v and no next page", got, want[5:6])
		}
	})
}

func TestIssuePage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	crash := e.saveEvent(t, e.Project, crashPayload)
	is := e.issue(t, crash.IssueID)
	b := e.signIn(t, e.User.Email)

	res := b.get(issuePath(is.ID))
	if res.Status != http.StatusOK {
		t.Fatalf("status %d:\n%s", res.Status, res.Body)
	}
	res.mustContain(t, "KeyError: missing id", html.EscapeString(is.Culprit), is.ShortID, "unresolved", "error",
		"<dt>Events</dt><dd>1</dd>", "<dt>Users</dt><dd>1</dd>", "missing id",
		">Resolve</button>", ">Ignore</button>", `name="assignee"`, `name="text"`, "No comments yet.")
	if strings.Contains(res.Body, ">Unresolve</button>") {
		t.Fatal("an unresolved issue offers Unresolve")
	}
	t.Run("LatestEvent", func(t *testing.T) {
		e.Clock.Add(time.Minute)
		again := e.saveEvent(t, e.Project, strings.Replace(crashPayload, `"acme-corp"`, `"globex-corp"`, 1))
		if again.IssueID != is.ID {
			t.Fatal("the second event joined another issue")
		}
		res := b.get(issuePath(is.ID))
		res.mustContain(t, "Latest event", `href="`+issuePath(is.ID)+"events/"+again.ID+`/"`,
			`<li class="in-app">`, "<strong>checkout</strong>", "<strong>get_response</strong>",
			`<span class="key">customer</span> <span class="value">globex-corp</span>`, "buyer@example.com", "POST https://shop.example/checkout")
		if strings.Contains(res.Body, "acme-corp") {
			t.Fatal("the page shows the first event, not the latest")
		}
	})
	t.Run("ByShortID", func(t *testing.T) {
		res := b.get("/organizations/acme/issues/" + strings.ToLower(is.ShortID) + "/")
		if res.Status != http.StatusOK {
			t.Fatalf("status %d", res.Status)
		}
		res.mustContain(t, "KeyError: missing id")
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		for _, path := range []string{issuePath(is.ID + 100), "/organizations/acme/issues/WEB-ZZZ/", "/organizations/acme/issues/a%2Fb/"} {
			if res := b.get(path); res.Status != http.StatusNotFound {
				t.Fatalf("%s: status %d", path, res.Status)
			}
		}
	})
}

// TestIssueResolutionShown: an issue's page shows an Unhandled badge while
// its latest event was unhandled, and how a resolved issue was resolved.
func TestIssueResolutionShown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	crash := e.saveEvent(t, e.Project, crashPayload) // mechanism handled: false
	disk := e.saveEvent(t, e.Project, `{"message":"disk full","level":"warning"}`)
	b := e.signIn(t, e.User.Email)
	const badge = `<span class="badge bad">Unhandled</span>`
	t.Run("UnhandledBadge", func(t *testing.T) {
		b.get(issuePath(crash.IssueID)).mustContain(t, badge)
		if res := b.get(issuePath(disk.IssueID)); strings.Contains(res.Body, badge) {
			t.Fatal("a message's issue shows the Unhandled badge")
		}
	})

	str := func(s string) *string { return &s }
	tests := []struct {
		name   string
		upd    herald.IssueUpdate
		want   string
		absent bool
	}{
		{"InNextRelease", herald.IssueUpdate{Status: str(herald.IssueResolved), Resolution: &herald.Resolution{Type: herald.ResolvedInNextRelease}},
			"Resolved in the next release", false},
		{"InRelease", herald.IssueUpdate{Status: str(herald.IssueResolved), Resolution: &herald.Resolution{Type: herald.ResolvedInRelease, Release: "shop@1.2.3"}},
			"Resolved in shop@1.2.3", false},
		{"InCommit", herald.IssueUpdate{Status: str(herald.IssueResolved),
			Resolution: &herald.Resolution{Type: herald.ResolvedInCommit, Commit: "a1b2c3d4", Repository: "acme/shop"}},
			"Resolved in commit a1b2c3d4 of acme/shop", false},
		{"Unresolved", herald.IssueUpdate{Status: str(herald.IssueUnresolved)}, "Resolved in", true},
		{"Now", herald.IssueUpdate{Status: str(herald.IssueResolved)}, "Resolved in", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Changes.UpdateIssues(context.Background(), herald.IssueSelection{ProjectID: e.Project.ID, IDs: []int64{crash.IssueID}},
				tt.upd, herald.Actor{User: e.User})
			if err != nil {
				t.Fatal(err)
			}
			res := b.get(issuePath(crash.IssueID))
			if res.Status != http.StatusOK {
				t.Fatalf("status %d", res.Status)
			}
			res.mustContain(t, badge)
			if shown := strings.Contains(res.Body, tt.want); shown == tt.absent {
				t.Fatalf("%q shown: %v\n%s", tt.want, shown, res.Body)
			}
		})
	}
}

func TestEventPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	crash := e.saveEvent(t, e.Project, crashPayload)
	other := e.saveEvent(t, e.Project, `{"message":"disk full","level":"warning"}`)
	b := e.signIn(t, e.User.Email)
	path := issuePath(crash.IssueID) + "events/" + crash.ID + "/"

	res := b.get(path)
	if res.Status != http.StatusOK {
		t.Fatalf("status %d:\n%s", res.Status, res.Body)
	}
	res.mustContain(t,
		// The exception and its frames, most recent call first, the
		// in-app one highlighted with its source and variables.
		"KeyError", "missing id", "handled: no",
		`<li class="in-app">`, "shop/views.py", "<strong>checkout</strong>", "at line 12:5", "in app",
		html.EscapeString(`    order = orders[request.GET["id"]]`), "&lt;Cart 3 items&gt;",
		"django/core/handlers.py", "<strong>get_response</strong>",
		// Tags, user, request, contexts, breadcrumbs, extra.
		`<span class="key">customer</span> <span class="value">acme-corp</span>`, `<span class="key">environment</span>`,
		"buyer@example.com", "203.0.113.9",
		"POST https://shop.example/checkout", "coupon", "SPRING", "curl/8.5",
		"<h3>os</h3>", "Linux", "GET /cart", "cart_size",
		"shop@1.2.3", "production", "Back to the issue")
	if strings.Index(res.Body, "shop/views.py") > strings.Index(res.Body, "django/core/handlers.py") {
		t.Fatal("frames are not most recent call first")
	}
	t.Run("DashedID", func(t *testing.T) {
		dashed := crash.ID[:8] + "-" + crash.ID[8:12] + "-" + crash.ID[12:16] + "-" + crash.ID[16:20] + "-" + crash.ID[20:]
		if res := b.get(issuePath(crash.IssueID) + "events/" + dashed + "/"); res.Status != http.StatusOK {
			t.Fatalf("status %d", res.Status)
		}
	})
	t.Run("OtherIssueRedirects", func(t *testing.T) {
		res := b.get(issuePath(crash.IssueID) + "events/" + other.ID + "/")
		if res.Status != http.StatusFound || res.Location != issuePath(other.IssueID)+"events/"+other.ID+"/" {
			t.Fatalf("status %d location %q", res.Status, res.Location)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		for _, id := range []string{herald.NewID(), "xyz", strings.Repeat("g", 32)} {
			if res := b.get(issuePath(crash.IssueID) + "events/" + id + "/"); res.Status != http.StatusNotFound {
				t.Fatalf("event %s: status %d", id, res.Status)
			}
		}
	})
}

// TestPayloadLinks follows every link outside the API that the payloads of
// a new error carry (service hook, issue and error webhooks): each answers
// with a page.
func TestPayloadLinks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hook := e.Hook(t, "https://hooks.example/in", herald.HookEventCreated)
	inst := e.Install(t, e.App(t, "watcher", false, "issue", "error"))
	e.saveEvent(t, e.Project, crashPayload)
	deliveries := append(e.DeliveriesTo(t, herald.DestinationHook, hook.ID), e.DeliveriesTo(t, herald.DestinationApp, inst.UUID)...)
	events := strings.Split(storetest.DeliveryEvents(deliveries), ",")
	slices.Sort(events)
	if got := strings.Join(events, ","); got != "error.created,event.created,issue.created" {
		t.Fatalf("deliveries = %s", got)
	}
	links := map[string]bool{}
	for _, d := range deliveries {
		var body any
		if err := json.Unmarshal(d.Body, &body); err != nil {
			t.Fatal(err)
		}
		collectLinks(body, e.URL, links)
	}
	if len(links) < 3 {
		t.Fatalf("only %d links in the payloads: %v", len(links), links)
	}
	b := e.signIn(t, e.User.Email)
	for link := range links {
		t.Run(link, func(t *testing.T) {
			res := b.get(link)
			if res.Status != http.StatusOK {
				t.Fatalf("status %d:\n%s", res.Status, res.Body)
			}
			res.mustContain(t, "KeyError")
		})
	}
}

// collectLinks adds to links the paths of the strings of v that are URLs
// under base outside the API.
func collectLinks(v any, base string, links map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for _, x := range v {
			collectLinks(x, base, links)
		}
	case []any:
		for _, x := range v {
			collectLinks(x, base, links)
		}
	case string:
		if path, ok := strings.CutPrefix(v, base); ok && !strings.HasPrefix(path, "/api/") {
			links[path] = true
		}
	}
}

func TestIssueStatusActions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	inst := e.Install(t, e.App(t, "pager", false, "issue"))
	crash := e.saveEvent(t, e.Project, crashPayload)
	e.person(t, "bob@acme.example", herald.RoleMember)
	jane := e.signIn(t, e.User.Email)
	bob := e.signIn(t, "bob@acme.example")
	path := issuePath(crash.IssueID)

	// Each step runs on the state the one before left.
	steps := []struct {
		name    string
		who     *browser
		action  string
		status  string
		webhook string
		buttons []string
	}{
		{"Resolve", jane, "resolve", herald.IssueResolved, "issue.resolved", []string{"Ignore", "Unresolve"}},
		{"Ignore", jane, "ignore", herald.IssueIgnored, "issue.ignored", []string{"Resolve", "Unresolve"}},
		{"Unresolve", jane, "unresolve", herald.IssueUnresolved, "issue.unresolved", []string{"Resolve", "Ignore"}},
		{"MemberResolves", bob, "resolve", herald.IssueResolved, "issue.resolved", []string{"Ignore", "Unresolve"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before := e.DeliveriesTo(t, herald.DestinationApp, inst.UUID)
			res := s.who.post(path, url.Values{"action": {s.action}})
			if res.Status != http.StatusSeeOther || res.Location != path {
				t.Fatalf("status %d location %q:\n%s", res.Status, res.Location, res.Body)
			}
			if got := e.issue(t, crash.IssueID).Status; got != s.status {
				t.Fatalf("status %s, want %s", got, s.status)
			}
			if got := e.newWebhooks(t, inst, before); got != s.webhook {
				t.Fatalf("webhooks %q, want %q", got, s.webhook)
			}
			page := s.who.get(path)
			page.mustContain(t, `<span class="badge`, ">"+s.status+"</span>")
			for _, label := range []string{"Resolve", "Ignore", "Unresolve"} {
				if shown := strings.Contains(page.Body, ">"+label+"</button>"); shown != slices.Contains(s.buttons, label) {
					t.Fatalf("button %s shown: %v", label, shown)
				}
			}
		})
	}
	t.Run("ErrUnknownAction", func(t *testing.T) {
		res := jane.post(path, url.Values{"action": {"explode"}})
		if res.Status != http.StatusBadRequest {
			t.Fatalf("status %d", res.Status)
		}
		res.mustContain(t, "Unknown action.")
	})
}

func TestIssueAssign(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	inst := e.Install(t, e.App(t, "pager", false, "issue"))
	crash := e.saveEvent(t, e.Project, crashPayload)
	bob := e.person(t, "bob@acme.example", herald.RoleMember)
	stranger := e.person(t, "eve@elsewhere.example", "")
	jane := e.signIn(t, e.User.Email)
	path := issuePath(crash.IssueID)

	cases := []struct {
		name     string
		value    string
		status   int
		assignee string // type:name, "" for nobody
		webhook  string
		message  string
	}{
		{"Member", "user:" + strconv.FormatInt(bob.ID, 10), http.StatusSeeOther, "user:bob@acme.example", "issue.assigned", ""},
		{"Team", "team:" + strconv.FormatInt(e.Team.ID, 10), http.StatusSeeOther, "team:core", "issue.assigned", ""},
		{"Nobody", "", http.StatusSeeOther, "", "", ""},
		{"ErrNotMember", "user:" + strconv.FormatInt(stranger.ID, 10), http.StatusBadRequest, "", "", "Choose a member or a team of Acme."},
		{"ErrNoSuchTeam", "team:9999", http.StatusBadRequest, "", "", "Choose a member or a team of Acme."},
		{"ErrMalformed", "user:bob", http.StatusBadRequest, "", "", "Choose a member or a team of Acme."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.DeliveriesTo(t, herald.DestinationApp, inst.UUID)
			res := jane.post(path, url.Values{"action": {"assign"}, "assignee": {c.value}})
			if res.Status != c.status {
				t.Fatalf("status %d, want %d:\n%s", res.Status, c.status, res.Body)
			}
			if c.message != "" {
				res.mustContain(t, c.message)
			}
			got := ""
			if a := e.issue(t, crash.IssueID).AssignedTo; a != nil {
				got = a.Type + ":" + a.Name
			}
			if got != c.assignee {
				t.Fatalf("assignee %q, want %q", got, c.assignee)
			}
			if got := e.newWebhooks(t, inst, before); got != c.webhook {
				t.Fatalf("webhooks %q, want %q", got, c.webhook)
			}
		})
	}
	t.Run("PageShowsAssignee", func(t *testing.T) {
		jane.post(path, url.Values{"action": {"assign"}, "assignee": {"user:" + strconv.FormatInt(bob.ID, 10)}})
		jane.get(path).mustContain(t, "<dt>Assigned to</dt><dd>bob@acme.example</dd>",
			`<option value="user:`+strconv.FormatInt(bob.ID, 10)+`" selected>`)
	})
}

// commentID matches the id of a comment on an issue's page.
var commentID = regexp.MustCompile(`<article class="comment" id="comment-(\d+)">`)

func TestIssueComments(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	inst := e.Install(t, e.App(t, "notes", false, "comment"))
	crash := e.saveEvent(t, e.Project, crashPayload)
	e.person(t, "bob@acme.example", herald.RoleMember)
	jane := e.signIn(t, e.User.Email)
	bob := e.signIn(t, "bob@acme.example")
	path := issuePath(crash.IssueID)
	comments := func(t *testing.T) []*herald.Comment {
		t.Helper()
		cs, err := e.Store.FindComments(context.Background(), crash.IssueID)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}

	before := e.DeliveriesTo(t, herald.DestinationApp, inst.UUID)
	res := jane.post(path, url.Values{"action": {"comment"}, "text": {"Looking into <this> now."}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("add: status %d:\n%s", res.Status, res.Body)
	}
	if got := e.newWebhooks(t, inst, before); got != "comment.created" {
		t.Fatalf("webhooks %q", got)
	}
	page := jane.get(path)
	page.mustContain(t, "Looking into &lt;this&gt; now.", "Jane Doe", "Comments (1)", ">Edit</summary>", ">Delete</button>")
	m := commentID.FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatal("no comment on the page")
	}
	id := m[1]
	if e.issue(t, crash.IssueID).NumComments != 1 {
		t.Fatal("the issue counts no comment")
	}

	t.Run("OthersCannotEditOrDelete", func(t *testing.T) {
		page := bob.get(path)
		page.mustContain(t, "Looking into &lt;this&gt; now.")
		if strings.Contains(page.Body, ">Edit</summary>") || strings.Contains(page.Body, ">Delete</button>") {
			t.Fatal("Jane's comment offers Bob to edit or delete it")
		}
		before := e.DeliveriesTo(t, herald.DestinationApp, inst.UUID)
		for _, action := range []string{"edit-comment", "delete-comment"} {
			res := bob.post(path, url.Values{"action": {action}, "comment": {id}, "text": {"hijacked"}})
			if res.Status != http.StatusNotFound {
				t.Fatalf("%s by another member: status %d", action, res.Status)
			}
		}
		if cs := comments(t); len(cs) != 1 || cs[0].Text != "Looking into <this> now." {
			t.Fatalf("comments = %+v", cs)
		}
		if got := e.newWebhooks(t, inst, before); got != "" {
			t.Fatalf("webhooks %q", got)
		}
	})
	t.Run("ErrBlank", func(t *testing.T) {
		for _, form := range []url.Values{
			{"action": {"comment"}, "text": {"  "}},
			{"action": {"edit-comment"}, "comment": {id}, "text": {""}},
		} {
			res := jane.post(path, form)
			if res.Status != http.StatusBadRequest {
				t.Fatalf("%v: status %d", form, res.Status)
			}
			res.mustContain(t, "Write something first.")
		}
	})
	t.Run("ErrTooLong", func(t *testing.T) {
		res := jane.post(path, url.Values{"action": {"comment"}, "text": {strings.Repeat("é", 10001)}})
		if res.Status != http.StatusBadRequest {
			t.Fatalf("status %d", res.Status)
		}
		res.mustContain(t, "at most 10000 characters")
	})
	t.Run("Edit", func(t *testing.T) {
		before := e.DeliveriesTo(t, herald.DestinationApp, inst.UUID)
		res := jane.post(path, url.Values{"action": {"edit-comment"}, "comment": {id}, "text": {"Fixed in the next deploy."}})
		if res.Status != http.StatusSeeOther {
			t.Fatalf("status %d:\n%s", res.Status, res.Body)
		}
		if cs := comments(t); len(cs) != 1 || cs[0].Text != "Fixed in the next deploy." {
			t.Fatalf("comments = %+v", cs)
		}
		if got := e.newWebhooks(t, inst, before); got != "comment.updated" {
			t.Fatalf("webhooks %q", got)
		}
		jane.get(path).mustContain(t, "Fixed in the next deploy.")
	})
	t.Run("Delete", func(t *testing.T) {
		before := e.DeliveriesTo(t, herald.DestinationApp, inst.UUID)
		res := jane.post(path, url.Values{"action": {"delete-comment"}, "comment": {id}})
		if res.Status != http.StatusSeeOther {
			t.Fatalf("status %d:\n%s", res.Status, res.Body)
		}
		if cs := comments(t); len(cs) != 0 {
			t.Fatalf("comments = %+v", cs)
		}
		if got := e.newWebhooks(t, inst, before); got != "comment.deleted" {
			t.Fatalf("webhooks %q", got)
		}
		jane.get(path).mustContain(t, "No comments yet.")
		if res := jane.post(path, url.Values{"action": {"delete-comment"}, "comment": {id}}); res.Status != http.StatusNotFound {
			t.Fatalf("deleting again: status %d", res.Status)
		}
	})
}

// TestIssueAccess checks who may see and change an issue: another
// organization's people get 404 on every page of acme's issues and cannot
// change one with a forged post; a post without the session's token is
// refused; nobody signed in is sent to sign in.
func TestIssueAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	crash := e.saveEvent(t, e.Project, crashPayload)
	stranger := e.person(t, "owner@globex.example", "")
	globex := &herald.Organization{Name: "Globex", Slug: "globex"}
	if err := e.Store.CreateOrganization(ctx, globex, stranger.ID); err != nil {
		t.Fatal(err)
	}
	team := &herald.Team{OrganizationID: globex.ID, Slug: "ops", Name: "Ops"}
	if err := e.Store.CreateTeam(ctx, team); err != nil {
		t.Fatal(err)
	}
	theirs := &herald.Project{OrganizationID: globex.ID, TeamID: team.ID, Slug: "site", Name: "Site"}
	if err := e.Store.CreateProject(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	theirEvent := e.saveEvent(t, theirs, `{"message":"globex secret failure"}`)
	outsider := e.signIn(t, stranger.Email)
	jane := e.signIn(t, e.User.Email)
	path := issuePath(crash.IssueID)
	eventPath := path + "events/" + crash.ID + "/"

	t.Run("OtherOrganizationGets404", func(t *testing.T) {
		for _, p := range []string{"/organizations/acme/issues/", path, eventPath} {
			res := outsider.get(p)
			if res.Status != http.StatusNotFound || strings.Contains(res.Body, "KeyError") {
				t.Fatalf("%s: status %d", p, res.Status)
			}
		}
	})
	t.Run("ForgedPostFromNonMember", func(t *testing.T) {
		outsider.get("/organizations/globex/issues/")
		for _, form := range []url.Values{
			{"action": {"resolve"}},
			{"action": {"assign"}, "assignee": {"user:" + strconv.FormatInt(stranger.ID, 10)}},
			{"action": {"comment"}, "text": {"spam"}},
		} {
			if res := outsider.post(path, form); res.Status != http.StatusNotFound {
				t.Fatalf("%v: status %d", form, res.Status)
			}
		}
		is := e.issue(t, crash.IssueID)
		if is.Status != herald.IssueUnresolved || is.AssignedTo != nil || is.NumComments != 0 {
			t.Fatalf("issue changed: %+v", is)
		}
	})
	t.Run("AnotherOrganizationsIssueUnderAcme", func(t *testing.T) {
		if res := jane.get(issuePath(theirEvent.IssueID)); res.Status != http.StatusNotFound {
			t.Fatalf("status %d", res.Status)
		}
		res := outsider.get("/organizations/globex/issues/" + strconv.FormatInt(theirEvent.IssueID, 10) + "/")
		if res.Status != http.StatusOK {
			t.Fatalf("their own issue: status %d", res.Status)
		}
		res.mustContain(t, "globex secret failure")
	})
	t.Run("ErrNoCSRFToken", func(t *testing.T) {
		res := jane.post(path, url.Values{"action": {"resolve"}, "csrf_token": {"forged"}})
		if res.Status != http.StatusForbidden {
			t.Fatalf("status %d", res.Status)
		}
		if e.issue(t, crash.IssueID).Status != herald.IssueUnresolved {
			t.Fatal("resolved without the token")
		}
	})
	t.Run("SignedOut", func(t *testing.T) {
		res := e.newBrowser(t).get(eventPath)
		if res.Status != http.StatusFound || !strings.HasPrefix(res.Location, "/auth/login/?next=") || strings.Contains(res.Body, "KeyError") {
			t.Fatalf("status %d location %q", res.Status, res.Location)
		}
	})
	t.Run("OrganizationByID", func(t *testing.T) {
		res := jane.get("/organizations/" + strconv.FormatInt(e.Org.ID, 10) + "/issues/" + strconv.FormatInt(crash.IssueID, 10) + "/?x=1")
		if res.Status != http.StatusFound || res.Location != path+"?x=1" {
			t.Fatalf("status %d location %q", res.Status, res.Location)
		}
		if res := outsider.get("/organizations/" + strconv.FormatInt(e.Org.ID, 10) + "/issues/"); res.Status != http.StatusNotFound {
			t.Fatalf("another organization by id: status %d", res.Status)
		}
	})
}
