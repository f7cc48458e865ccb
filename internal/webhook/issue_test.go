package webhook_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/webhook"
)

// storyUnhandledIssue returns the fixtures' issue as the story has it: its
// events come from window.onerror, which reports them as unhandled.
func storyUnhandledIssue() *herald.Issue {
	is := storyIssue()
	is.Unhandled = true
	return is
}

// issueGoldenCase is one issue.* body compared with a fixture: the fixture
// of event, with patch applied to its parsed value.
type issueGoldenCase struct {
	name  string
	event string
	actor webhook.Actor
	edit  func(is *herald.Issue)
	patch func(body map[string]any)
}

// issueOf returns data.issue of a parsed body.
func issueOf(body map[string]any) map[string]any {
	return body["data"].(map[string]any)["issue"].(map[string]any)
}

// setResolution patches a parsed issue.resolved body to a resolution.
func setResolution(resolutionType string, details map[string]any) func(body map[string]any) {
	return func(body map[string]any) {
		body["data"].(map[string]any)["resolution_type"] = resolutionType
		issueOf(body)["statusDetails"] = details
	}
}

func TestIssueBodiesGolden(t *testing.T) {
	t.Parallel()
	at := func(h, m int) time.Time { return time.Date(2024, 1, 15, h, m, 0, 0, time.UTC) }
	resolved := func(r *herald.Resolution) func(is *herald.Issue) {
		return func(is *herald.Issue) {
			is.Status, is.Substatus, is.Resolution = herald.IssueResolved, "", r
			is.LastSeen, is.Count, is.UserCount, is.NumComments, is.AssignedTo = at(12, 28), 24, 5, 1, janeAssignee()
		}
	}
	tests := []issueGoldenCase{
		{"Created", webhook.IssueCreated, webhook.SentryActor, func(is *herald.Issue) {}, nil},
		{"Assigned", webhook.IssueAssigned, webhook.UserActor(storyJane), func(is *herald.Issue) {
			is.LastSeen, is.Count, is.UserCount, is.NumComments, is.AssignedTo = at(12, 14), 12, 3, 1, janeAssignee()
		}, nil},
		{"ResolvedNow", webhook.IssueResolved, webhook.UserActor(storyJane), resolved(nil), nil},
		{"ResolvedNowExplicit", webhook.IssueResolved, webhook.UserActor(storyJane), resolved(&herald.Resolution{Type: herald.ResolvedNow}), nil},
		{"ResolvedInNextRelease", webhook.IssueResolved, webhook.UserActor(storyJane),
			resolved(&herald.Resolution{Type: herald.ResolvedInNextRelease}),
			setResolution("in_next_release", map[string]any{"inNextRelease": true})},
		{"ResolvedInRelease", webhook.IssueResolved, webhook.UserActor(storyJane),
			resolved(&herald.Resolution{Type: herald.ResolvedInRelease, Release: "v1.2.4"}),
			setResolution("in_release", map[string]any{"inRelease": "v1.2.4"})},
		{"ResolvedInCommit", webhook.IssueResolved, webhook.UserActor(storyJane),
			resolved(&herald.Resolution{Type: herald.ResolvedInCommit, Commit: "a1b2c3d4", Repository: "acme/web"}),
			setResolution("in_commit", map[string]any{"inCommit": map[string]any{"id": "a1b2c3d4", "repository": map[string]any{"name": "acme/web"}}})},
		{"Unresolved", webhook.IssueUnresolved, webhook.SentryActor, func(is *herald.Issue) {
			is.Substatus = herald.SubstatusRegressed
			is.LastSeen, is.Count, is.UserCount, is.NumComments, is.AssignedTo = at(13, 0), 25, 5, 1, janeAssignee()
		}, nil},
		{"UnresolvedKeepsNoResolution", webhook.IssueUnresolved, webhook.SentryActor, func(is *herald.Issue) {
			// A resolution left on an issue that is no longer resolved
			// says nothing.
			is.Substatus, is.Resolution = herald.SubstatusRegressed, &herald.Resolution{Type: herald.ResolvedInNextRelease}
			is.LastSeen, is.Count, is.UserCount, is.NumComments, is.AssignedTo = at(13, 0), 25, 5, 1, janeAssignee()
		}, nil},
		{"Ignored", webhook.IssueIgnored, webhook.UserActor(storyJane), func(is *herald.Issue) {
			is.Status, is.Substatus = herald.IssueIgnored, herald.SubstatusUntilEscalating
			is.LastSeen, is.Count, is.UserCount, is.NumComments, is.AssignedTo = at(13, 0), 25, 5, 1, janeAssignee()
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			is := storyUnhandledIssue()
			tt.edit(is)
			got := webhook.NewAppPayload(tt.event, webhook.IssueData(tt.event, storyProject(), is, storyBaseURL), tt.actor).Body(storyInstallation)
			fixture := withoutFilename(readFixture(t, tt.event+".json"))
			want := decode(t, fixture).(map[string]any)
			if tt.patch != nil {
				tt.patch(want)
			}
			if g := decode(t, got); !reflect.DeepEqual(g, want) {
				wantJSON, _ := json.Marshal(want)
				t.Errorf("body =\n%s\nwant (any key order)\n%s", got, wantJSON)
			}
			// Keys come in the fixture's order (Sentry's, where it
			// matters: resolution_type and assignee before the issue);
			// statusDetails' keys are the patch's.
			paths := slices.DeleteFunc(keyPaths(t, got), func(p string) bool { return strings.HasPrefix(p, "data.issue.statusDetails.") })
			if g, w := paths, keyPaths(t, fixture); !slices.Equal(g, w) {
				t.Errorf("key order =\n%v\nwant\n%v", g, w)
			}
		})
	}
}

func TestIssueDataSentryFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(p *herald.Project, is *herald.Issue)
		want map[string]any
	}{
		{"CountIsAString", func(p *herald.Project, is *herald.Issue) { is.Count, is.UserCount = 1234567, 89 },
			map[string]any{"count": "1234567", "userCount": float64(89)}},
		{"ErrorType", func(p *herald.Project, is *herald.Issue) {},
			map[string]any{"issueType": "error", "issueCategory": "error", "priority": "high", "priorityLockedAt": nil}},
		{"MessageIssueIsAnErrorType", func(p *herald.Project, is *herald.Issue) { is.Type, is.Value, is.Level = "", "", "info" },
			map[string]any{"type": "default", "issueType": "error", "issueCategory": "error", "priority": "low"}},
		{"Handled", func(p *herald.Project, is *herald.Issue) { is.Unhandled = false }, map[string]any{"isUnhandled": false}},
		{"Unhandled", func(p *herald.Project, is *herald.Issue) { is.Unhandled = true }, map[string]any{"isUnhandled": true}},
		{"ProjectPlatform", func(p *herald.Project, is *herald.Issue) {},
			map[string]any{"project": map[string]any{"id": "2", "name": "Web", "slug": "web", "platform": "javascript"}}},
		{"ProjectWithoutPlatform", func(p *herald.Project, is *herald.Issue) { p.Platform = "" },
			map[string]any{"project": map[string]any{"id": "2", "name": "Web", "slug": "web", "platform": nil}, "platform": "javascript"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, is := storyProject(), storyIssue()
			tt.edit(p, is)
			var data struct {
				Issue map[string]any `json:"issue"`
			}
			if err := json.Unmarshal(webhook.IssueData(webhook.IssueCreated, p, is, storyBaseURL), &data); err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.want {
				if !reflect.DeepEqual(data.Issue[k], v) {
					t.Errorf("issue.%s = %#v, want %#v", k, data.Issue[k], v)
				}
			}
		})
	}
}

func TestIssuePriority(t *testing.T) {
	t.Parallel()
	tests := []struct{ level, want string }{
		{"debug", "low"},
		{"info", "low"},
		{"warning", "medium"},
		{"error", "high"},
		{"fatal", "high"},
		{"", "medium"},
		{"sample", "medium"},
	}
	for _, tt := range tests {
		if got := webhook.IssuePriority(tt.level); got != tt.want {
			t.Errorf("IssuePriority(%q) = %q, want %q", tt.level, got, tt.want)
		}
	}
}

func TestEventUnhandled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data string
		tags []herald.Tag
		want bool
	}{
		{"HandledFalse", `{"exception":{"values":[{"type":"E","mechanism":{"type":"onerror","handled":false}}]}}`, nil, true},
		{"HandledTrue", `{"exception":{"values":[{"type":"E","mechanism":{"type":"generic","handled":true}}]}}`, nil, false},
		{"AnyInChain", `{"exception":{"values":[{"type":"Cause","mechanism":{"handled":false}},{"type":"E","mechanism":{"handled":true}}]}}`, nil, true},
		{"NoMechanism", `{"exception":{"values":[{"type":"E"}]}}`, nil, false},
		{"HandledNull", `{"exception":{"values":[{"type":"E","mechanism":{"handled":null}}]}}`, nil, false},
		{"Message", `{"message":"disk full"}`, nil, false},
		// The data decides when it is there; the tag stands in only
		// without it.
		{"DataOverTag", `{"exception":{"values":[{"type":"E"}]}}`, []herald.Tag{{Key: "handled", Value: "no"}}, false},
		{"TagNo", ``, []herald.Tag{{Key: "handled", Value: "no"}}, true},
		{"TagYes", ``, []herald.Tag{{Key: "handled", Value: "yes"}}, false},
		{"NotJSON", `{`, []herald.Tag{{Key: "handled", Value: "no"}}, true},
		{"Nothing", ``, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := &herald.Event{Data: []byte(tt.data), Tags: tt.tags}
			if got := webhook.EventUnhandled(e); got != tt.want {
				t.Errorf("EventUnhandled = %v, want %v", got, tt.want)
			}
		})
	}
	if webhook.EventUnhandled(nil) {
		t.Error("EventUnhandled(nil) = true")
	}
}

// TestNotifierIssueUnhandled: issue.created and the issue.unresolved of a
// regression send the issue's isUnhandled as the service left it (from the
// issue's latest event, stored), whatever the event at hand says.
func TestNotifierIssueUnhandled(t *testing.T) {
	t.Parallel()
	n := &webhook.Notifier{BaseURL: storyBaseURL}
	installs := []*herald.Installation{newInstall("issues", 1, "issue")}
	tests := []struct {
		name      string
		created   bool
		data      string
		unhandled bool
		want      bool
	}{
		{"CreatedUnhandled", true, `{"exception":{"values":[{"type":"E","mechanism":{"handled":false}}]}}`, true, true},
		{"CreatedHandled", true, `{"exception":{"values":[{"type":"E","mechanism":{"handled":true}}]}}`, false, false},
		{"RegressedHandled", false, `{"exception":{"values":[{"type":"E","mechanism":{"handled":true}}]}}`, false, false},
		{"RegressedUnhandled", false, `{"exception":{"values":[{"type":"E","mechanism":{"handled":false}}]}}`, true, true},
		{"IssueUnhandled", false, `{"message":"x"}`, true, true},
		// The issue decides: the service sets it from the group's
		// latest event before the notifier is called.
		{"IssueHandledEventNot", true, `{"exception":{"values":[{"type":"E","mechanism":{"handled":false}}]}}`, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			is, ev := storyIssue(), storyEvent()
			is.Unhandled = tt.unhandled
			ev.Data = []byte(tt.data)
			ds := n.EventSaved(&webhook.EventChange{Project: storyProject(), Event: ev, Issue: is,
				IssueCreated: tt.created, IssueRegressed: !tt.created, Installations: installs, Now: storyTime})
			if len(ds) != 1 || !strings.HasPrefix(ds[0].Event, "issue.") {
				t.Fatalf("deliveries = %+v", ds)
			}
			var body struct {
				Data struct {
					Issue struct {
						IsUnhandled bool `json:"isUnhandled"`
					} `json:"issue"`
				} `json:"data"`
			}
			if err := json.Unmarshal(ds[0].Body, &body); err != nil {
				t.Fatal(err)
			}
			if body.Data.Issue.IsUnhandled != tt.want {
				t.Errorf("isUnhandled = %v, want %v: %s", body.Data.Issue.IsUnhandled, tt.want, ds[0].Body)
			}
			if is.Unhandled != tt.unhandled {
				t.Error("EventSaved changed the issue it was given")
			}
		})
	}
}
