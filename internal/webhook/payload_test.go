package webhook_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/webhook"
)

// The story's installation, app and user (testdata/ and its README).
const (
	storyInstallation = "a8e5d37a-696c-4c54-aac1-4a51b40ce7d9"
	storyAppUUID      = "6f1a9c3e-2b7d-4e58-9a0c-3d5b8e7f1a24"
)

var storyJane = &herald.User{ID: 1, Name: "Jane Doe", Email: "jane@acme.example"}

// janeAssignee is Jane as an issue's assignee.
func janeAssignee() *herald.Assignee {
	return &herald.Assignee{Type: herald.AssigneeUser, ID: 1, Name: "Jane Doe", Email: "jane@acme.example"}
}

// withoutFilename drops metadata.filename from a compact fixture: Herald
// keeps the type and value of an issue's exception (DESIGN.md §2.3's
// metadata{type,value}), not the file it was thrown in.
func withoutFilename(b []byte) []byte {
	return bytes.Replace(b, []byte(`"metadata":{"filename":"app/utils/api.js",`), []byte(`"metadata":{`), 1)
}

func TestCommentBodiesGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		event string
		text  string
	}{
		{webhook.CommentCreated, "Session token is gone before fetchUser runs."},
		{webhook.CommentUpdated, "Session token is gone before fetchUser runs; fix in #482."},
		{webhook.CommentDeleted, "Session token is gone before fetchUser runs; fix in #482."},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			t.Parallel()
			c := &herald.Comment{ID: 301, IssueID: 1170, UserID: 1, Text: tt.text,
				DateCreated: time.Date(2024, 1, 15, 12, 5, 0, 0, time.UTC), DateUpdated: time.Date(2024, 1, 15, 12, 20, 0, 0, time.UTC)}
			got := webhook.NewAppPayload(tt.event, webhook.CommentData(storyProject(), c), webhook.UserActor(storyJane)).Body(storyInstallation)
			if want := readFixture(t, tt.event+".json"); !bytes.Equal(got, want) {
				t.Errorf("body =\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// storyInstall returns the story's installation of acme-pager on acme.
func storyInstall(status, code string) *herald.Installation {
	return &herald.Installation{
		ID: 5, UUID: storyInstallation, AppID: 12, OrganizationID: 1, Status: status, Code: code,
		App: &herald.SentryApp{ID: 12, UUID: storyAppUUID, Slug: "acme-pager", Name: "Acme Pager",
			WebhookURL: "https://pager.example/hook", ClientSecret: "app-secret", Events: []string{"issue"}},
		Organization: &herald.Organization{ID: 1, Slug: "acme", Name: "Acme"},
	}
}

func TestInstallationBodiesGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		event string
		inst  *herald.Installation
	}{
		{webhook.InstallationCreated, storyInstall(herald.InstallationPending, "7c0f5e2a9b8d4c61a3e5f7092b4d6c8e")},
		// Installed: the grant was exchanged, so there is no code.
		{webhook.InstallationDeleted, storyInstall(herald.InstallationInstalled, "")},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			t.Parallel()
			got := webhook.NewAppPayload(tt.event, webhook.InstallationData(tt.inst), webhook.UserActor(storyJane)).Body(storyInstallation)
			want := readFixture(t, tt.event+".json")
			if !reflect.DeepEqual(decode(t, got), decode(t, want)) {
				t.Errorf("body =\n%s\nwant (any key order)\n%s", got, want)
			}
			if g, w := keyPaths(t, got), keyPaths(t, want); !slices.Equal(g, w) {
				t.Errorf("key order differs\n got: %v\nwant: %v", g, w)
			}
		})
	}
}

// TestInstallationData: the organization's id is a number, and the grant
// code is sent whenever the installation has one, whatever the event.
func TestInstallationData(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		inst     *herald.Installation
		wantCode string // "" for no "code" key
	}{
		{"PendingWithGrant", storyInstall(herald.InstallationPending, "c0de"), "c0de"},
		{"InstalledWithGrant", storyInstall(herald.InstallationInstalled, "c0de"), "c0de"},
		{"GrantExchanged", storyInstall(herald.InstallationInstalled, ""), ""},
		{"OrganizationIDFromInstallation", func() *herald.Installation {
			inst := storyInstall(herald.InstallationInstalled, "")
			inst.Organization = &herald.Organization{Slug: "acme"}
			return inst
		}(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := webhook.InstallationData(tt.inst)
			var got struct {
				Installation struct {
					Organization map[string]json.RawMessage `json:"organization"`
					Code         *string                    `json:"code"`
				} `json:"installation"`
			}
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			if id := string(got.Installation.Organization["id"]); id != "1" {
				t.Errorf("organization.id = %s, want the number 1: %s", id, data)
			}
			switch code := got.Installation.Code; {
			case tt.wantCode == "" && code != nil:
				t.Errorf("code = %q, want none: %s", *code, data)
			case tt.wantCode != "" && (code == nil || *code != tt.wantCode):
				t.Errorf("data = %s, want code %q", data, tt.wantCode)
			}
		})
	}
}

// linkKeys are the keys error.created adds to the stored event.
var linkKeys = []string{"project", "url", "web_url", "issue_url", "issue_id"}

// storedEvent returns the event of the error.created fixture as Herald
// stores it: without the keys error.created adds.
func storedEvent(t *testing.T) []byte {
	t.Helper()
	var fixture struct {
		Data struct {
			Error map[string]json.RawMessage `json:"error"`
		} `json:"data"`
	}
	if err := json.Unmarshal(readFixture(t, "error.created.json"), &fixture); err != nil {
		t.Fatal(err)
	}
	for _, k := range linkKeys {
		delete(fixture.Data.Error, k)
	}
	b, err := json.Marshal(fixture.Data.Error)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestErrorBodyGolden(t *testing.T) {
	t.Parallel()
	ev := storyEvent()
	ev.Data = storedEvent(t)
	got := webhook.NewAppPayload(webhook.ErrorCreated, webhook.ErrorData(storyProject(), storyIssue(), ev, storyBaseURL), webhook.SentryActor).
		Body(storyInstallation)
	want := readFixture(t, "error.created.json")
	if !reflect.DeepEqual(decode(t, got), decode(t, want)) {
		t.Errorf("body =\n%s\nwant (any key order)\n%s", got, want)
	}
	// The envelope and the added keys come in Sentry's order; the stored
	// event's keys are sorted.
	paths := keyPaths(t, got)
	if !slices.Equal(paths[:4], []string{"action", "installation", "installation.uuid", "data"}) || paths[len(paths)-4] != "actor" {
		t.Errorf("envelope key order = %v", paths)
	}
	var tail []string
	for _, p := range paths {
		if k, ok := strings.CutPrefix(p, "data.error."); ok && !strings.Contains(k, ".") {
			tail = append(tail, k)
		}
	}
	if !slices.Equal(tail[len(tail)-5:], linkKeys) {
		t.Errorf("error keys end with %v, want %v", tail[len(tail)-5:], linkKeys)
	}
}

func TestErrorData(t *testing.T) {
	t.Parallel()
	const links = `"project":2,"url":"https://herald.example.com/api/0/projects/acme/web/events/9fac2ceed9344f2bbfdd1fdacb0ed9b1/",` +
		`"web_url":"https://herald.example.com/organizations/acme/issues/1170/events/9fac2ceed9344f2bbfdd1fdacb0ed9b1/",` +
		`"issue_url":"https://herald.example.com/api/0/organizations/acme/issues/1170/","issue_id":"1170"`
	tests := []struct {
		name string
		data string
		want string
	}{
		{"Splice", `{"event_id":"e","level":"error"}`, `{"error":{"event_id":"e","level":"error",` + links + `}}`},
		{"EmptyObject", `{}`, `{"error":{` + links + `}}`},
		{"SDKKeysReplaced", `{"a":1,"url":"http://sdk","issue_id":7,"z":{"url":"nested"}}`, `{"error":{"a":1,"z":{"url":"nested"},` + links + `}}`},
		{"NestedOnly", `{"request":{"url":"http://x"}}`, `{"error":{"request":{"url":"http://x"},` + links + `}}`},
		{"HTMLKept", `{"message":"<b>&</b>"}`, `{"error":{"message":"<b>&</b>",` + links + `}}`},
		{"Missing", ``, `{"error":{"event_id":"9fac2ceed9344f2bbfdd1fdacb0ed9b1","level":"error","platform":"javascript",` +
			`"message":"TypeError: Cannot read properties of undefined (reading 'id')","title":"TypeError: Cannot read properties of undefined (reading 'id')",` +
			`"culprit":"app/utils/api in fetchUser","datetime":"2024-01-15T12:00:00.000000Z","environment":"production","release":"v1.2.3","tags":[["k","v"]],` + links + `}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := storyEvent()
			ev.Data, ev.Tags = []byte(tt.data), []herald.Tag{{Key: "k", Value: "v"}}
			got := webhook.ErrorData(storyProject(), storyIssue(), ev, storyBaseURL+"/")
			if string(got) != tt.want {
				t.Errorf("ErrorData =\n%s\nwant\n%s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Error("not valid JSON")
			}
		})
	}
}

// TestPayloadFieldLists checks every Sentry App body against the field
// lists of DESIGN.md §2.3.
func TestPayloadFieldLists(t *testing.T) {
	t.Parallel()
	issueKeys := []string{"id", "shortId", "title", "culprit", "level", "status", "firstSeen", "lastSeen", "count",
		"project", "project.id", "project.name", "project.slug", "substatus", "metadata", "metadata.type", "metadata.value",
		"userCount", "assignedTo", "platform", "permalink", "web_url"}
	prefixed := func(prefix string, keys []string) []string {
		out := make([]string, len(keys))
		for i, k := range keys {
			out[i] = prefix + k
		}
		return out
	}
	ev := storyEvent()
	ev.Data = storedEvent(t)
	c := &herald.Comment{ID: 301, IssueID: 1170, Text: "x", DateCreated: storyTime}
	tests := []struct {
		event string
		data  []byte
		want  []string
	}{
		{webhook.IssueCreated, webhook.IssueData(webhook.IssueCreated, storyProject(), storyIssue(), storyBaseURL), prefixed("data.issue.", issueKeys)},
		{webhook.IssueResolved, webhook.IssueData(webhook.IssueResolved, storyProject(), storyIssue(), storyBaseURL),
			append(prefixed("data.issue.", issueKeys), "data.resolution_type")},
		{webhook.IssueIgnored, webhook.IssueData(webhook.IssueIgnored, storyProject(), storyIssue(), storyBaseURL), prefixed("data.issue.", issueKeys)},
		{webhook.IssueUnresolved, webhook.IssueData(webhook.IssueUnresolved, storyProject(), storyIssue(), storyBaseURL), prefixed("data.issue.", issueKeys)},
		{webhook.IssueAssigned, webhook.IssueData(webhook.IssueAssigned, storyProject(), withAssignee(storyIssue()), storyBaseURL),
			append(prefixed("data.issue.", issueKeys), "data.assignee.type", "data.assignee.id", "data.assignee.name", "data.assignee.email")},
		{webhook.ErrorCreated, webhook.ErrorData(storyProject(), storyIssue(), ev, storyBaseURL),
			prefixed("data.error.", []string{"event_id", "url", "web_url", "issue_url", "issue_id", "title", "level", "platform", "datetime", "tags", "project"})},
		{webhook.CommentCreated, webhook.CommentData(storyProject(), c),
			prefixed("data.", []string{"comment_id", "issue_id", "project_slug", "timestamp", "comment"})},
		{webhook.InstallationCreated, webhook.InstallationData(storyInstall(herald.InstallationPending, "c0de")),
			prefixed("data.installation.", []string{"app.uuid", "app.slug", "organization.slug", "organization.id", "uuid", "status", "code"})},
		{webhook.InstallationDeleted, webhook.InstallationData(storyInstall(herald.InstallationInstalled, "")),
			prefixed("data.installation.", []string{"app.uuid", "app.slug", "organization.slug", "organization.id", "uuid", "status"})},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			t.Parallel()
			body := webhook.NewAppPayload(tt.event, tt.data, webhook.SentryActor).Body(storyInstallation)
			paths := keyPaths(t, body)
			for _, k := range append([]string{"action", "installation.uuid", "data", "actor.type", "actor.id", "actor.name"}, tt.want...) {
				if !slices.Contains(paths, k) {
					t.Errorf("body lacks %s:\n%s", k, body)
				}
			}
		})
	}
}

// withAssignee returns is assigned to Jane.
func withAssignee(is *herald.Issue) *herald.Issue {
	is.AssignedTo = janeAssignee()
	return is
}

func TestIssueDataShapes(t *testing.T) {
	t.Parallel()
	t.Run("TeamAssignee", func(t *testing.T) {
		t.Parallel()
		is := storyIssue()
		is.AssignedTo = &herald.Assignee{Type: herald.AssigneeTeam, ID: 4, Name: "core", Email: "ignored@example"}
		got := string(webhook.IssueData(webhook.IssueAssigned, storyProject(), is, storyBaseURL))
		if !strings.HasPrefix(got, `{"assignee":{"type":"team","name":"core","id":4},"issue":{`) ||
			!strings.Contains(got, `"assignedTo":{"type":"team","id":"4","name":"core"}`) {
			t.Errorf("data = %s", got)
		}
	})
	t.Run("MessageIssue", func(t *testing.T) {
		t.Parallel()
		is := storyIssue()
		is.Type, is.Value, is.Title = "", "", "disk full"
		got := string(webhook.IssueData(webhook.IssueCreated, storyProject(), is, storyBaseURL))
		if !strings.Contains(got, `"type":"default","metadata":{"title":"disk full"}`) {
			t.Errorf("data = %s", got)
		}
	})
	t.Run("OrganizationNotLoaded", func(t *testing.T) {
		t.Parallel()
		p := storyProject()
		p.Organization = nil
		got := string(webhook.IssueData(webhook.IssueCreated, p, storyIssue(), storyBaseURL))
		if !strings.Contains(got, `"web_url":"https://herald.example.com/organizations/1/issues/1170/"`) {
			t.Errorf("data = %s", got)
		}
	})
}

func TestAppPayloadMatchesAppBody(t *testing.T) {
	t.Parallel()
	data := webhook.IssueData(webhook.IssueCreated, storyProject(), storyIssue(), storyBaseURL)
	actors := []webhook.Actor{webhook.SentryActor, webhook.UserActor(storyJane), webhook.AppActor(storyAppUUID, "Acme <Pager>")}
	for _, actor := range actors {
		p := webhook.NewAppPayload(webhook.IssueCreated, data, actor)
		for _, uuid := range []string{storyInstallation, "other"} {
			want, err := webhook.AppBody("created", uuid, json.RawMessage(data), actor)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Body(uuid); !bytes.Equal(got, want) {
				t.Errorf("Body(%s) =\n%s\nwant\n%s", uuid, got, want)
			}
		}
	}
}

func TestActorOf(t *testing.T) {
	t.Parallel()
	app := &herald.SentryApp{UUID: storyAppUUID, Name: "Acme Pager"}
	tests := []struct {
		name  string
		actor herald.Actor
		want  webhook.Actor
	}{
		{"Herald", herald.Actor{}, webhook.SentryActor},
		{"User", herald.Actor{User: storyJane}, webhook.Actor{Type: "user", ID: int64(1), Name: "Jane Doe"}},
		{"App", herald.Actor{User: storyJane, App: app}, webhook.Actor{Type: "application", ID: storyAppUUID, Name: "Acme Pager"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := webhook.ActorOf(tt.actor); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ActorOf = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func BenchmarkErrorCreatedFanOut(b *testing.B) {
	ev := storyEvent()
	ev.Data = readFixture(b, "error.created.json")
	var installs []*herald.Installation
	for i := 0; i < 10; i++ {
		inst := storyInstall(herald.InstallationInstalled, "")
		inst.UUID = herald.NewUUID()
		inst.App.Events = []string{"error"}
		installs = append(installs, inst)
	}
	n := &webhook.Notifier{BaseURL: storyBaseURL}
	c := &webhook.EventChange{Project: storyProject(), Event: ev, Issue: storyIssue(), Installations: installs, Now: storyTime}
	b.ReportAllocs()
	for b.Loop() {
		if len(n.EventSaved(c)) != 10 {
			b.Fatal("want 10 deliveries")
		}
	}
}

// FuzzErrorData: error.created's data never panics, and for any stored
// event that is a JSON object (what ingest stores) it is valid JSON whose
// event carries each added key once, with Herald's values.
func FuzzErrorData(f *testing.F) {
	f.Add([]byte(`{"event_id":"e","url":"x"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(` { "project" : 9 , "a":[1,{"issue_id":2}] } `))
	f.Add([]byte(`not json`))
	f.Add([]byte(`{"a":"\"url\":"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev := storyEvent()
		ev.Data = data
		got := webhook.ErrorData(storyProject(), storyIssue(), ev, storyBaseURL)
		if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && (!json.Valid(trimmed) || trimmed[0] != '{') {
			return
		}
		if !json.Valid(got) {
			t.Fatalf("ErrorData(%q) = %s, not JSON", data, got)
		}
		var out struct {
			Error map[string]json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(got, &out); err != nil {
			t.Fatal(err)
		}
		if string(out.Error["project"]) != "2" || string(out.Error["issue_id"]) != `"1170"` {
			t.Fatalf("ErrorData(%q) = %s", data, got)
		}
		count := 0
		for _, p := range keyPaths(t, got) {
			if p == "error.issue_id" {
				count++
			}
		}
		if count != 1 {
			t.Fatalf("issue_id appears %d times in %s", count, got)
		}
	})
}
