package service_test

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/storetest"
)

func testInstallations(t *testing.T, open storetest.Opener) {
	ctx := context.Background()
	f := newFixture(t, open)
	f.Clock.SetStep(time.Millisecond)
	s := f.Store
	app := f.App(t, "pager", false, "issue")
	inst := &herald.Installation{AppID: app.ID, OrganizationID: f.Org.ID}
	created, err := f.Changes.CreateInstallation(ctx, inst, herald.Actor{User: f.User})
	must(t, err)
	t.Run("Created", func(t *testing.T) {
		if !created || inst.Status != herald.InstallationPending || len(inst.Code) != 32 || len(inst.UUID) != 36 {
			t.Fatalf("installation = %+v", inst)
		}
		ds := f.DeliveriesTo(t, herald.DestinationApp, inst.UUID)
		if storetest.DeliveryEvents(ds) != "installation.created" || ds[0].Resource != "installation" || ds[0].OrganizationID != f.Org.ID ||
			!strings.Contains(string(ds[0].Body), `"code":"`+inst.Code+`"`) || !strings.Contains(string(ds[0].Body), `"status":"pending"`) {
			t.Fatalf("deliveries = %+v", ds)
		}
		if a := actorOf(t, ds[0]); a["type"] != "user" || a["name"] != "Jane Doe" {
			t.Fatalf("actor = %v", a)
		}
		send, err := s.FindDeliveriesToSend(ctx, []string{ds[0].ID})
		must(t, err)
		if len(send) != 1 || send[0].URL != app.WebhookURL || !send[0].DestinationActive {
			t.Fatalf("a pending installation cannot be sent its installation.created: %+v", send)
		}
	})
	t.Run("Idempotent", func(t *testing.T) {
		again := &herald.Installation{AppID: app.ID, OrganizationID: f.Org.ID}
		created, err := f.Changes.CreateInstallation(ctx, again, herald.Actor{User: f.User})
		must(t, err)
		if created || again.UUID != inst.UUID || len(f.DeliveriesTo(t, herald.DestinationApp, inst.UUID)) != 1 {
			t.Fatalf("second install = %+v, created %v", again, created)
		}
	})
	t.Run("Find", func(t *testing.T) {
		got, err := s.FindInstallationByUUID(ctx, inst.UUID)
		must(t, err)
		if got.App.Slug != "pager" || got.Organization.Slug != "acme" || got.Code != inst.Code {
			t.Fatalf("installation = %+v", got)
		}
		list, err := s.FindInstallations(ctx, f.Org.ID)
		must(t, err)
		if len(list) != 1 || list[0].UUID != inst.UUID {
			t.Fatalf("installations = %+v", list)
		}
		_, err = s.FindInstallationByUUID(ctx, "nope")
		wantCode(t, err, herald.ENOTFOUND)
	})
	var auth *herald.AppAuthorization
	t.Run("ExchangeGrant", func(t *testing.T) {
		_, err := s.ExchangeGrant(ctx, inst.UUID, "wrong")
		wantCode(t, err, herald.EINVALID)
		auth, err = s.ExchangeGrant(ctx, inst.UUID, inst.Code)
		must(t, err)
		tok, err := s.FindTokenByValue(ctx, auth.Token.Value)
		must(t, err)
		if life := tok.ExpiresAt.Sub(f.Clock.Now()); tok.UserID != app.ProxyUserID || tok.OrganizationID != f.Org.ID || life > 8*time.Hour || life < 8*time.Hour-time.Second || len(auth.RefreshToken) != 64 {
			t.Fatalf("token = %+v", tok)
		}
		_, err = s.ExchangeGrant(ctx, inst.UUID, inst.Code)
		wantCode(t, err, herald.EINVALID)
		got, err := s.FindInstallationByUUID(ctx, inst.UUID)
		must(t, err)
		if got.Code != "" {
			t.Fatal("used code still shown")
		}
	})
	t.Run("RefreshToken", func(t *testing.T) {
		next, err := s.RefreshAppToken(ctx, inst.UUID, auth.RefreshToken)
		must(t, err)
		_, err = s.FindTokenByValue(ctx, auth.Token.Value)
		wantCode(t, err, herald.EUNAUTHORIZED)
		_, err = s.FindTokenByValue(ctx, next.Token.Value)
		must(t, err)
		_, err = s.RefreshAppToken(ctx, inst.UUID, auth.RefreshToken)
		wantCode(t, err, herald.EINVALID)
		auth = next
	})
	t.Run("Verify", func(t *testing.T) {
		got, err := s.VerifyInstallation(ctx, inst.UUID)
		must(t, err)
		if got.Status != herald.InstallationInstalled {
			t.Fatalf("status = %s", got.Status)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		must(t, f.Changes.DeleteInstallation(ctx, inst.UUID, herald.Actor{User: f.User}))
		ds := f.DeliveriesTo(t, herald.DestinationApp, inst.UUID)
		if storetest.DeliveryEvents(ds) != "installation.created,installation.deleted" || strings.Contains(string(ds[1].Body), `"code"`) ||
			!strings.Contains(string(ds[1].Body), `"status":"installed"`) {
			t.Fatalf("deliveries = %s", storetest.DeliveryEvents(ds))
		}
		send, err := s.FindDeliveriesToSend(ctx, []string{ds[1].ID})
		must(t, err)
		if len(send) != 1 || !send[0].DestinationActive || send[0].URL != app.WebhookURL {
			t.Fatalf("installation.deleted cannot be sent: %+v", send)
		}
		_, err = s.FindTokenByValue(ctx, auth.Token.Value)
		wantCode(t, err, herald.EUNAUTHORIZED)
		_, err = s.FindInstallationByUUID(ctx, inst.UUID)
		wantCode(t, err, herald.ENOTFOUND)
		member, err := s.IsMember(ctx, f.Org.ID, app.ProxyUserID)
		must(t, err)
		if member {
			t.Fatal("the app's user is still a member")
		}
		wantCode(t, f.Changes.DeleteInstallation(ctx, inst.UUID, herald.Actor{User: f.User}), herald.ENOTFOUND)
	})
	t.Run("Reinstall", func(t *testing.T) {
		again := &herald.Installation{AppID: app.ID, OrganizationID: f.Org.ID}
		created, err := f.Changes.CreateInstallation(ctx, again, herald.Actor{User: f.User})
		must(t, err)
		if !created || again.UUID == inst.UUID {
			t.Fatalf("reinstall = %+v", again)
		}
	})
	t.Run("ExpiredGrant", func(t *testing.T) {
		other := f.App(t, "other", false)
		i := &herald.Installation{AppID: other.ID, OrganizationID: f.Org.ID}
		_, err := f.Changes.CreateInstallation(ctx, i, herald.Actor{User: f.User})
		must(t, err)
		f.Clock.Add(11 * time.Minute)
		_, err = s.ExchangeGrant(ctx, i.UUID, i.Code)
		wantCode(t, err, herald.EINVALID)
		got, err := s.FindInstallationByUUID(ctx, i.UUID)
		must(t, err)
		if got.Code != "" {
			t.Fatal("expired code still shown")
		}
	})
	t.Run("InternalApps", func(t *testing.T) {
		internal := f.App(t, "internal-1a2b3c", true, "issue")
		theirs := &herald.Organization{Slug: "theirs", Name: "Theirs"}
		must(t, s.CreateOrganization(ctx, theirs, f.User.ID))
		_, err := f.Changes.CreateInstallation(ctx, &herald.Installation{AppID: internal.ID, OrganizationID: theirs.ID}, herald.Actor{User: f.User})
		wantCode(t, err, herald.EINVALID)
		insts, err := s.FindInstallations(ctx, f.Org.ID)
		must(t, err)
		for _, i := range insts {
			if i.AppID == internal.ID {
				wantCode(t, f.Changes.DeleteInstallation(ctx, i.UUID, herald.Actor{User: f.User}), herald.EINVALID)
				return
			}
		}
		t.Fatal("the internal app is not installed")
	})
}

func testAppDeliveries(t *testing.T, open storetest.Opener) {
	ctx := context.Background()
	f := newFixture(t, open)
	f.Clock.SetStep(time.Millisecond)
	s := f.Store
	issues := f.Install(t, f.App(t, "issues", false, "issue"))
	errs := f.Install(t, f.App(t, "errors", false, "error"))
	comments := f.Install(t, f.App(t, "comments", false, "comment"))
	pendingApp := f.App(t, "pending", false, "issue", "error")
	pending := &herald.Installation{AppID: pendingApp.ID, OrganizationID: f.Org.ID}
	_, err := f.Changes.CreateInstallation(ctx, pending, herald.Actor{User: f.User})
	must(t, err)

	// An app of another organization, installed there, subscribed to all.
	other := &herald.Organization{Slug: "globex", Name: "Globex"}
	must(t, s.CreateOrganization(ctx, other, f.User.ID))
	otherApp := &herald.SentryApp{Slug: "globex-app", Name: "Globex App", Author: "Globex", OrganizationID: other.ID, Status: herald.AppInternal,
		WebhookURL: "https://apps.example/globex", Scopes: []string{"event:read"}, Events: []string{"issue", "error", "comment"}}
	otherInst, _, err := s.CreateApp(ctx, otherApp)
	must(t, err)

	a1, a2, b := f.Event("aaaa"), f.Event("aaaa"), f.Event("bbbb")
	must(t, f.Changes.SaveEvents(ctx, []*herald.Event{a1, a2}))
	must(t, f.Changes.SaveEvents(ctx, []*herald.Event{b}))
	t.Run("SubscribedOnly", func(t *testing.T) {
		cases := []struct {
			name string
			uuid string
			want string
		}{
			{"Issues", issues.UUID, "installation.created,issue.created,issue.created"},
			{"Errors", errs.UUID, "installation.created,error.created,error.created,error.created"},
			{"Comments", comments.UUID, "installation.created"},
			{"Pending", pending.UUID, "installation.created"},
			{"OtherOrganization", otherInst.UUID, ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if got := storetest.DeliveryEvents(f.DeliveriesTo(t, herald.DestinationApp, c.uuid)); got != c.want {
					t.Fatalf("deliveries = %s, want %s", got, c.want)
				}
			})
		}
	})
	t.Run("Sendable", func(t *testing.T) {
		ds := f.DeliveriesTo(t, herald.DestinationApp, issues.UUID)
		send, err := s.FindDeliveriesToSend(ctx, []string{ds[1].ID})
		must(t, err)
		app, err := s.FindAppBySlug(ctx, "issues")
		must(t, err)
		if len(send) != 1 || send[0].URL != app.WebhookURL || !send[0].DestinationActive || send[0].Resource != "issue" ||
			send[0].ProjectID != f.Project.ID {
			t.Fatalf("to send = %+v", send)
		}
		var body struct {
			Data struct {
				Issue struct {
					ID string `json:"id"`
					// count is a string, as Sentry sends it.
					Count string `json:"count"`
				} `json:"issue"`
			} `json:"data"`
		}
		must(t, json.Unmarshal(send[0].Body, &body))
		if body.Data.Issue.ID == "" || body.Data.Issue.Count != "2" || actorOf(t, send[0])["id"] != "sentry" {
			t.Fatalf("body = %s", send[0].Body)
		}
	})
	t.Run("RegressionCarriesAssignee", func(t *testing.T) {
		assign := &herald.Assignee{Type: herald.AssigneeUser, ID: f.User.ID}
		resolved := herald.IssueResolved
		_, err := f.Changes.UpdateIssues(ctx, herald.IssueSelection{ProjectID: f.Project.ID, IDs: []int64{b.IssueID}},
			herald.IssueUpdate{Status: &resolved, AssignedTo: &assign}, herald.Actor{User: f.User})
		must(t, err)
		must(t, f.Changes.SaveEvents(ctx, []*herald.Event{f.Event("bbbb")}))
		ds := f.DeliveriesTo(t, herald.DestinationApp, issues.UUID)
		last := ds[len(ds)-1]
		if last.Event != "issue.unresolved" || actorOf(t, last)["id"] != "sentry" ||
			!strings.Contains(string(last.Body), `"substatus":"regressed"`) ||
			!strings.Contains(string(last.Body), `"assignedTo":{"type":"user","id":"`) {
			t.Fatalf("last delivery %s: %s", last.Event, last.Body)
		}
	})
	t.Run("UninstalledNotSent", func(t *testing.T) {
		ds := f.DeliveriesTo(t, herald.DestinationApp, errs.UUID)
		must(t, f.Changes.DeleteInstallation(ctx, errs.UUID, herald.Actor{User: f.User}))
		send, err := s.FindDeliveriesToSend(ctx, []string{ds[1].ID})
		must(t, err)
		if len(send) != 1 || send[0].DestinationActive {
			t.Fatalf("a delivery to an uninstalled app is sendable: %+v", send)
		}
		before := len(f.DeliveriesTo(t, herald.DestinationApp, errs.UUID))
		must(t, f.Changes.SaveEvents(ctx, []*herald.Event{f.Event("cccc")}))
		if after := len(f.DeliveriesTo(t, herald.DestinationApp, errs.UUID)); after != before {
			t.Fatalf("uninstalled app got %d new deliveries", after-before)
		}
	})
}

func testIssues(t *testing.T, open storetest.Opener) {
	ctx := context.Background()
	f := newFixture(t, open)
	f.Clock.SetStep(time.Millisecond)
	s := f.Store
	inst := f.Install(t, f.App(t, "issues", false, "issue"))
	evs := []*herald.Event{f.Event("a"), f.Event("b"), f.Event("c")}
	evs[1].Title = "KeyError: 'id'"
	for _, e := range evs {
		f.Clock.Add(time.Second)
		e.Timestamp, e.Received = f.Clock.Now(), f.Clock.Now()
		must(t, f.Changes.SaveEvents(ctx, []*herald.Event{e}))
	}
	ids := []int64{evs[0].IssueID, evs[1].IssueID, evs[2].IssueID}
	jane := herald.Actor{User: f.User}
	update := func(t *testing.T, sel herald.IssueSelection, upd herald.IssueUpdate) []*herald.Issue {
		t.Helper()
		sel.ProjectID = f.Project.ID
		out, err := f.Changes.UpdateIssues(ctx, sel, upd, jane)
		must(t, err)
		return out
	}
	str := func(s string) *string { return &s }
	newEvents := func(t *testing.T, before int) string {
		t.Helper()
		ds := f.DeliveriesTo(t, herald.DestinationApp, inst.UUID)
		return storetest.DeliveryEvents(ds[before:])
	}
	count := func() int { return len(f.DeliveriesTo(t, herald.DestinationApp, inst.UUID)) }

	t.Run("Resolve", func(t *testing.T) {
		n := count()
		got := update(t, herald.IssueSelection{IDs: ids[:1]}, herald.IssueUpdate{Status: str(herald.IssueResolved)})
		if len(got) != 1 || got[0].Status != herald.IssueResolved || got[0].Substatus != "" {
			t.Fatalf("issues = %+v", got)
		}
		if e := newEvents(t, n); e != "issue.resolved" {
			t.Fatalf("deliveries = %s", e)
		}
		ds := f.DeliveriesTo(t, herald.DestinationApp, inst.UUID)
		if a := actorOf(t, ds[len(ds)-1]); a["type"] != "user" || a["name"] != "Jane Doe" ||
			!strings.Contains(string(ds[len(ds)-1].Body), `"resolution_type":"now"`) {
			t.Fatalf("body = %s", ds[len(ds)-1].Body)
		}
		n = count()
		update(t, herald.IssueSelection{IDs: ids[:1]}, herald.IssueUpdate{Status: str(herald.IssueResolved)})
		if e := newEvents(t, n); e != "" {
			t.Fatalf("resolving again sent %s", e)
		}
	})
	t.Run("IgnoreAndUnresolve", func(t *testing.T) {
		n := count()
		got := update(t, herald.IssueSelection{IDs: ids[:2]}, herald.IssueUpdate{Status: str(herald.IssueIgnored)})
		if len(got) != 2 || got[0].Substatus != herald.SubstatusUntilEscalating {
			t.Fatalf("issues = %+v", got)
		}
		got = update(t, herald.IssueSelection{IDs: ids[:1]}, herald.IssueUpdate{Status: str(herald.IssueUnresolved)})
		if got[0].Substatus != herald.SubstatusOngoing {
			t.Fatalf("substatus = %s", got[0].Substatus)
		}
		if e := newEvents(t, n); e != "issue.ignored,issue.ignored,issue.unresolved" {
			t.Fatalf("deliveries = %s", e)
		}
	})
	t.Run("BulkByStatus", func(t *testing.T) {
		n := count()
		got := update(t, herald.IssueSelection{Statuses: []string{herald.IssueUnresolved}}, herald.IssueUpdate{Status: str(herald.IssueResolved)})
		if len(got) != 2 {
			t.Fatalf("resolved %d issues, want the 2 unresolved", len(got))
		}
		if e := newEvents(t, n); e != "issue.resolved,issue.resolved" {
			t.Fatalf("deliveries = %s", e)
		}
		got = update(t, herald.IssueSelection{}, herald.IssueUpdate{Status: str(herald.IssueUnresolved)})
		if len(got) != 3 {
			t.Fatalf("unresolved %d issues, want all 3", len(got))
		}
	})
	t.Run("Assign", func(t *testing.T) {
		n := count()
		jane := &herald.Assignee{Type: herald.AssigneeUser, ID: f.User.ID, Name: "Jane Doe", Email: f.User.Email}
		got := update(t, herald.IssueSelection{IDs: ids[:1]}, herald.IssueUpdate{AssignedTo: &jane})
		if got[0].AssignedTo == nil || got[0].AssignedTo.ID != f.User.ID {
			t.Fatalf("issue = %+v", got[0])
		}
		update(t, herald.IssueSelection{IDs: ids[:1]}, herald.IssueUpdate{AssignedTo: &jane})
		team := &herald.Assignee{Type: herald.AssigneeTeam, ID: f.Team.ID}
		update(t, herald.IssueSelection{IDs: ids[:1]}, herald.IssueUpdate{AssignedTo: &team})
		found, err := s.FindIssue(ctx, f.Org.ID, strconvI(ids[0]))
		must(t, err)
		if found.AssignedTo == nil || found.AssignedTo.Type != herald.AssigneeTeam || found.AssignedTo.Name != "core" {
			t.Fatalf("assignee = %+v", found.AssignedTo)
		}
		var none *herald.Assignee
		update(t, herald.IssueSelection{IDs: ids[:1]}, herald.IssueUpdate{AssignedTo: &none})
		if e := newEvents(t, n); e != "issue.assigned,issue.assigned" {
			t.Fatalf("deliveries = %s (assigning the same user twice or unassigning must not send)", e)
		}
		found, err = s.FindIssue(ctx, f.Org.ID, strconvI(ids[0]))
		must(t, err)
		if found.AssignedTo != nil {
			t.Fatalf("still assigned: %+v", found.AssignedTo)
		}
	})
	t.Run("ErrInvalidStatus", func(t *testing.T) {
		_, err := f.Changes.UpdateIssues(ctx, herald.IssueSelection{ProjectID: f.Project.ID, IDs: ids}, herald.IssueUpdate{Status: str("snoozed")}, jane)
		wantCode(t, err, herald.EINVALID)
	})
	t.Run("ResolveInRelease", func(t *testing.T) {
		n := count()
		r := &herald.Resolution{Type: herald.ResolvedInRelease, Release: "1.2.3"}
		got := update(t, herald.IssueSelection{IDs: ids[2:]}, herald.IssueUpdate{Status: str(herald.IssueResolved), Resolution: r})
		if len(got) != 1 || got[0].Status != herald.IssueResolved || !reflect.DeepEqual(got[0].Resolution, r) {
			t.Fatalf("issues = %+v", got)
		}
		if e := newEvents(t, n); e != "issue.resolved" {
			t.Fatalf("deliveries = %s", e)
		}
		ds := f.DeliveriesTo(t, herald.DestinationApp, inst.UUID)
		if body := string(ds[len(ds)-1].Body); !strings.Contains(body, `"resolution_type":"in_release"`) ||
			!strings.Contains(body, `"statusDetails":{"inRelease":"1.2.3"}`) {
			t.Fatalf("body = %s", body)
		}
		update(t, herald.IssueSelection{IDs: ids[2:]}, herald.IssueUpdate{Status: str(herald.IssueUnresolved)})
	})
	t.Run("ErrResolution", func(t *testing.T) {
		tests := []struct {
			name string
			upd  herald.IssueUpdate
		}{
			{"WithoutStatus", herald.IssueUpdate{Resolution: &herald.Resolution{Type: herald.ResolvedInNextRelease}}},
			{"WithIgnored", herald.IssueUpdate{Status: str(herald.IssueIgnored), Resolution: &herald.Resolution{Type: herald.ResolvedInNextRelease}}},
			{"BlankRelease", herald.IssueUpdate{Status: str(herald.IssueResolved), Resolution: &herald.Resolution{Type: herald.ResolvedInRelease}}},
			{"UnknownType", herald.IssueUpdate{Status: str(herald.IssueResolved), Resolution: &herald.Resolution{Type: "with_commit"}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				n := count()
				_, err := f.Changes.UpdateIssues(ctx, herald.IssueSelection{ProjectID: f.Project.ID, IDs: ids[2:]}, tt.upd, jane)
				wantCode(t, err, herald.EINVALID)
				if e := newEvents(t, n); e != "" {
					t.Fatalf("a refused update sent %s", e)
				}
			})
		}
	})
	t.Run("FindIssue", func(t *testing.T) {
		is, err := s.FindIssue(ctx, f.Org.ID, strconvI(ids[1]))
		must(t, err)
		byShort, err := s.FindIssue(ctx, f.Org.ID, strings.ToLower(is.ShortID))
		must(t, err)
		if byShort.ID != is.ID || is.Title != "KeyError: 'id'" {
			t.Fatalf("by short id = %+v", byShort)
		}
		_, err = s.FindIssue(ctx, f.Org.ID+100, strconvI(ids[1]))
		wantCode(t, err, herald.ENOTFOUND)
	})
	t.Run("Search", func(t *testing.T) {
		yes, no := true, false
		jane := &herald.Assignee{Type: herald.AssigneeUser, ID: f.User.ID}
		update(t, herald.IssueSelection{IDs: ids[2:]}, herald.IssueUpdate{AssignedTo: &jane, Status: str(herald.IssueIgnored)})
		cases := []struct {
			name string
			q    herald.IssueSearch
			want []int64
		}{
			{"All", herald.IssueSearch{}, []int64{ids[2], ids[1], ids[0]}},
			{"Status", herald.IssueSearch{Statuses: []string{herald.IssueIgnored}}, []int64{ids[2]}},
			{"Statuses", herald.IssueSearch{Statuses: []string{herald.IssueIgnored, herald.IssueUnresolved}}, []int64{ids[2], ids[1], ids[0]}},
			{"Assigned", herald.IssueSearch{Assigned: &yes}, []int64{ids[2]}},
			{"Unassigned", herald.IssueSearch{Assigned: &no}, []int64{ids[1], ids[0]}},
			{"AssignedToMe", herald.IssueSearch{AssigneeUserID: f.User.ID}, []int64{ids[2]}},
			{"Text", herald.IssueSearch{Text: "keyerror"}, []int64{ids[1]}},
			{"TextWildcardsEscaped", herald.IssueSearch{Text: "%"}, nil},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				c.q.ProjectID = f.Project.ID
				got, _, err := s.SearchIssues(ctx, c.q)
				must(t, err)
				var gotIDs []int64
				for _, is := range got {
					gotIDs = append(gotIDs, is.ID)
				}
				if !slices.Equal(gotIDs, c.want) {
					t.Fatalf("issues = %v, want %v", gotIDs, c.want)
				}
			})
		}
		t.Run("Pages", func(t *testing.T) {
			var all []int64
			cursor := ""
			for i := 0; i < 5; i++ {
				page, next, err := s.SearchIssues(ctx, herald.IssueSearch{ProjectID: f.Project.ID, Page: herald.Page{Limit: 2, Cursor: cursor}})
				must(t, err)
				for _, is := range page {
					all = append(all, is.ID)
				}
				if next == "" {
					break
				}
				cursor = next
			}
			if !slices.Equal(all, []int64{ids[2], ids[1], ids[0]}) {
				t.Fatalf("pages = %v", all)
			}
		})
	})
	t.Run("Stats", func(t *testing.T) {
		since := f.Clock.Now().Truncate(time.Hour)
		stats, err := s.IssueStats(ctx, ids, since, since.Add(2*time.Hour), time.Hour)
		must(t, err)
		if len(stats[ids[0]]) != 2 || stats[ids[0]][0].Count != 1 || stats[ids[0]][1].Count != 0 || stats[ids[0]][0].TS != since.Unix() {
			t.Fatalf("stats = %+v", stats)
		}
	})
	t.Run("UsersAndTeams", func(t *testing.T) {
		u, err := s.FindUserByEmail(ctx, "JANE@acme.example")
		must(t, err)
		if u.ID != f.User.ID {
			t.Fatalf("user = %+v", u)
		}
		_, err = s.FindUserByEmail(ctx, "nobody@example.com")
		wantCode(t, err, herald.ENOTFOUND)
		team, err := s.FindTeamByID(ctx, f.Org.ID, f.Team.ID)
		must(t, err)
		if team.Slug != "core" {
			t.Fatalf("team = %+v", team)
		}
		_, err = s.FindTeamByID(ctx, f.Org.ID+100, f.Team.ID)
		wantCode(t, err, herald.ENOTFOUND)
	})
	t.Run("Delete", func(t *testing.T) {
		must(t, s.DeleteIssue(ctx, ids[0]))
		_, err := s.FindIssue(ctx, f.Org.ID, strconvI(ids[0]))
		wantCode(t, err, herald.ENOTFOUND)
		_, err = s.FindEventByID(ctx, f.Project.ID, evs[0].ID)
		wantCode(t, err, herald.ENOTFOUND)
		wantCode(t, s.DeleteIssue(ctx, ids[0]), herald.ENOTFOUND)
	})
}

func testComments(t *testing.T, open storetest.Opener) {
	ctx := context.Background()
	f := newFixture(t, open)
	f.Clock.SetStep(time.Millisecond)
	s := f.Store
	inst := f.Install(t, f.App(t, "notes", false, "comment"))
	issueOnly := f.Install(t, f.App(t, "issues", false, "issue"))
	e := f.Event("a")
	must(t, f.Changes.SaveEvents(ctx, []*herald.Event{e}))
	jane := herald.Actor{User: f.User}
	c := &herald.Comment{IssueID: e.IssueID, UserID: f.User.ID, Text: "first"}
	must(t, f.Changes.CreateComment(ctx, c, jane))
	other := &herald.User{Email: "bob@acme.example", Name: "Bob"}
	must(t, s.CreateUser(ctx, other))

	t.Run("Create", func(t *testing.T) {
		if c.ID == 0 || c.User == nil || c.User.Name != "Jane Doe" {
			t.Fatalf("comment = %+v", c)
		}
		is, err := s.FindIssue(ctx, f.Org.ID, strconvI(e.IssueID))
		must(t, err)
		if is.NumComments != 1 {
			t.Fatalf("numComments = %d", is.NumComments)
		}
	})
	t.Run("UpdateByAuthorOnly", func(t *testing.T) {
		_, err := f.Changes.UpdateComment(ctx, e.IssueID, c.ID, other.ID, "hijacked", herald.Actor{User: other})
		wantCode(t, err, herald.ENOTFOUND)
		f.Clock.Add(time.Minute)
		got, err := f.Changes.UpdateComment(ctx, e.IssueID, c.ID, f.User.ID, "second", jane)
		must(t, err)
		if got.Text != "second" || !got.DateUpdated.After(got.DateCreated) {
			t.Fatalf("comment = %+v", got)
		}
		_, err = f.Changes.UpdateComment(ctx, e.IssueID, c.ID, f.User.ID, "", jane)
		wantCode(t, err, herald.EINVALID)
	})
	t.Run("List", func(t *testing.T) {
		list, err := s.FindComments(ctx, e.IssueID)
		must(t, err)
		if len(list) != 1 || list[0].Text != "second" {
			t.Fatalf("comments = %+v", list)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		wantCode(t, f.Changes.DeleteComment(ctx, e.IssueID, c.ID, other.ID, herald.Actor{User: other}), herald.ENOTFOUND)
		must(t, f.Changes.DeleteComment(ctx, e.IssueID, c.ID, f.User.ID, jane))
		wantCode(t, f.Changes.DeleteComment(ctx, e.IssueID, c.ID, f.User.ID, jane), herald.ENOTFOUND)
		is, err := s.FindIssue(ctx, f.Org.ID, strconvI(e.IssueID))
		must(t, err)
		if is.NumComments != 0 {
			t.Fatalf("numComments = %d", is.NumComments)
		}
	})
	t.Run("Deliveries", func(t *testing.T) {
		ds := f.DeliveriesTo(t, herald.DestinationApp, inst.UUID)
		if got := storetest.DeliveryEvents(ds); got != "installation.created,comment.created,comment.updated,comment.deleted" {
			t.Fatalf("deliveries = %s", got)
		}
		for _, d := range ds[1:] {
			var body struct {
				Data struct {
					CommentID   int64  `json:"comment_id"`
					IssueID     int64  `json:"issue_id"`
					ProjectSlug string `json:"project_slug"`
					Timestamp   string `json:"timestamp"`
				} `json:"data"`
			}
			must(t, json.Unmarshal(d.Body, &body))
			if body.Data.CommentID != c.ID || body.Data.IssueID != e.IssueID || body.Data.ProjectSlug != "web" ||
				body.Data.Timestamp != herald.FormatTime(c.DateCreated) || actorOf(t, d)["name"] != "Jane Doe" {
				t.Fatalf("%s body = %s", d.Event, d.Body)
			}
		}
		if !strings.Contains(string(ds[3].Body), `"comment":"second"`) {
			t.Fatalf("comment.deleted lacks the last text: %s", ds[3].Body)
		}
		if got := storetest.DeliveryEvents(f.DeliveriesTo(t, herald.DestinationApp, issueOnly.UUID)); got != "installation.created,issue.created" {
			t.Fatalf("an app not subscribed to comments got %s", got)
		}
	})
	t.Run("ErrUnknownIssue", func(t *testing.T) {
		err := f.Changes.CreateComment(ctx, &herald.Comment{IssueID: 999999, UserID: f.User.ID, Text: "x"}, jane)
		wantCode(t, err, herald.ENOTFOUND)
	})
}

func strconvI(id int64) string { return strconv.FormatInt(id, 10) }
