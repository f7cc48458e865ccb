package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/herald-dev/herald"
)

// issueDeliveries returns the issue.* deliveries made to the installation
// of the internal app of acme owned by appOwner, by id.
func (ts *testServer) issueDeliveries(t *testing.T, appOwner int64) map[string]*herald.Delivery {
	t.Helper()
	ctx := context.Background()
	insts, err := ts.Store.FindInstallations(ctx, appOwner)
	if err != nil || len(insts) != 1 {
		t.Fatalf("installations = %v, %v", insts, err)
	}
	ds, _, err := ts.Store.FindDeliveries(ctx, herald.DeliveryFilter{DestinationKind: herald.DestinationApp, DestinationID: insts[0].UUID,
		Page: herald.Page{Limit: 100}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*herald.Delivery{}
	for _, d := range ds {
		if strings.HasPrefix(d.Event, "issue.") {
			out[d.ID] = d
		}
	}
	return out
}

func TestIssueSentryFields(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	payload := `{"platform":"javascript","user":{"id":"1"},"exception":{"values":[{"type":"TypeError","value":"x","mechanism":{"type":"onerror","handled":false}}]}}`
	e := ts.storeEvent(t, payload)
	for range 11 {
		ts.storeEvent(t, payload)
	}
	warning := ts.storeEvent(t, `{"message":"disk almost full","level":"warning"}`)
	info := ts.storeEvent(t, `{"message":"deployed","level":"info"}`)
	tests := []struct {
		name  string
		issue int64
		want  map[string]any
	}{
		{"ErrorIssue", e.IssueID, map[string]any{
			"count": "12", "userCount": float64(1), "status": "unresolved", "statusDetails": map[string]any{}, "substatus": "new",
			"issueType": "error", "issueCategory": "error", "priority": "high", "priorityLockedAt": nil, "isUnhandled": true,
			"type": "error", "platform": "javascript",
			"project": map[string]any{"id": fmt.Sprint(warning.ProjectID), "name": "Web", "slug": "web", "platform": "javascript"},
		}},
		{"WarningIssue", warning.IssueID, map[string]any{"count": "1", "userCount": float64(0), "type": "default", "issueType": "error", "priority": "medium",
			"isUnhandled": false}},
		{"InfoIssue", info.IssueID, map[string]any{"priority": "low"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got map[string]any
			ts.must(t, 200, "GET", fmt.Sprintf("/api/0/organizations/acme/issues/%d/", tt.issue), nil).JSON(t, &got)
			for k, v := range tt.want {
				if !reflect.DeepEqual(got[k], v) {
					t.Errorf("%s = %#v, want %#v", k, got[k], v)
				}
			}
		})
	}
	t.Run("ListCountIsAString", func(t *testing.T) {
		var got []map[string]any
		ts.must(t, 200, "GET", "/api/0/projects/acme/web/issues/?statsPeriod=", nil).JSON(t, &got)
		if len(got) != 3 {
			t.Fatalf("issues = %d", len(got))
		}
		for _, is := range got {
			if want := is["id"] == fmt.Sprint(e.IssueID); is["isUnhandled"] != want {
				t.Errorf("issue %v: isUnhandled = %#v, want %v", is["id"], is["isUnhandled"], want)
			}
			if _, ok := is["count"].(string); !ok {
				t.Errorf("count = %#v, want a string", is["count"])
			}
			if _, ok := is["userCount"].(float64); !ok {
				t.Errorf("userCount = %#v, want a number", is["userCount"])
			}
		}
	})
	t.Run("UpdateAnswerCountIsAString", func(t *testing.T) {
		var got map[string]any
		ts.must(t, 200, "PUT", fmt.Sprintf("/api/0/organizations/acme/issues/%d/", e.IssueID), `{"status":"ignored"}`).JSON(t, &got)
		if got["count"] != "12" || got["status"] != "ignored" {
			t.Fatalf("answer = %v", got)
		}
	})
}

// TestIssueResolutions: each way of resolving, through the issue's route
// and the bulk route, answers with Sentry's statusDetails and sends
// issue.resolved with the matching resolution_type.
func TestIssueResolutions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	app := ts.createApp(t, "Issues", true, "issue")
	e := ts.storeEvent(t, `{"message":"boom"}`)
	issue := fmt.Sprintf("/api/0/organizations/acme/issues/%d/", e.IssueID)
	bulk := fmt.Sprintf("/api/0/projects/acme/web/issues/?id=%d", e.IssueID)
	tests := []struct {
		name           string
		body           string
		resolutionType string
		details        string
	}{
		{"Now", `{"status":"resolved"}`, "now", `{}`},
		{"EmptyDetails", `{"status":"resolved","statusDetails":{}}`, "now", `{}`},
		{"NullDetails", `{"status":"resolved","statusDetails":null}`, "now", `{}`},
		{"InNextReleaseFalse", `{"status":"resolved","statusDetails":{"inNextRelease":false}}`, "now", `{}`},
		{"InNextRelease", `{"status":"resolved","statusDetails":{"inNextRelease":true}}`, "in_next_release", `{"inNextRelease":true}`},
		{"ResolvedInNextReleaseStatus", `{"status":"resolvedInNextRelease"}`, "in_next_release", `{"inNextRelease":true}`},
		{"ResolvedInNextReleaseBoth", `{"status":"resolvedInNextRelease","statusDetails":{"inNextRelease":true}}`, "in_next_release", `{"inNextRelease":true}`},
		{"InRelease", `{"status":"resolved","statusDetails":{"inRelease":"1.2.3"}}`, "in_release", `{"inRelease":"1.2.3"}`},
		{"InCommit", `{"status":"resolved","statusDetails":{"inCommit":{"commit":"a1b2c3d","repository":"acme/web"}}}`, "in_commit",
			`{"inCommit":{"id":"a1b2c3d","repository":{"name":"acme/web"}}}`},
	}
	for _, route := range []string{"Issue", "Bulk"} {
		for _, tt := range tests {
			t.Run(route+"/"+tt.name, func(t *testing.T) {
				ts.must(t, 200, "PUT", issue, `{"status":"unresolved"}`)
				before := ts.issueDeliveries(t, app.Owner.ID)
				var answer map[string]json.RawMessage
				if route == "Issue" {
					ts.must(t, 200, "PUT", issue, tt.body).JSON(t, &answer)
					if string(answer["count"]) != `"1"` {
						t.Errorf("count = %s", answer["count"])
					}
				} else {
					ts.must(t, 200, "PUT", bulk, tt.body).JSON(t, &answer)
				}
				if string(answer["status"]) != `"resolved"` {
					t.Errorf("status = %s", answer["status"])
				}
				jsonEqual(t, answer["statusDetails"], tt.details)

				// The resolution is stored: a later GET of the issue, and
				// the list, show it.
				var got map[string]json.RawMessage
				ts.must(t, 200, "GET", issue, nil).JSON(t, &got)
				if string(got["status"]) != `"resolved"` {
					t.Errorf("GET status = %s", got["status"])
				}
				jsonEqual(t, got["statusDetails"], tt.details)
				var list []map[string]json.RawMessage
				ts.must(t, 200, "GET", "/api/0/projects/acme/web/issues/?query=is:resolved&statsPeriod=", nil).JSON(t, &list)
				if len(list) != 1 {
					t.Fatalf("resolved issues = %d", len(list))
				}
				jsonEqual(t, list[0]["statusDetails"], tt.details)

				var added []*herald.Delivery
				for id, d := range ts.issueDeliveries(t, app.Owner.ID) {
					if before[id] == nil {
						added = append(added, d)
					}
				}
				if len(added) != 1 || added[0].Event != "issue.resolved" {
					t.Fatalf("new deliveries = %v", added)
				}
				var body struct {
					Data struct {
						ResolutionType string `json:"resolution_type"`
						Issue          struct {
							StatusDetails json.RawMessage `json:"statusDetails"`
							Count         string          `json:"count"`
						} `json:"issue"`
					} `json:"data"`
				}
				if err := json.Unmarshal(added[0].Body, &body); err != nil {
					t.Fatal(err)
				}
				if body.Data.ResolutionType != tt.resolutionType || body.Data.Issue.Count != "1" {
					t.Errorf("resolution_type = %q, count = %q; want %q, \"1\"", body.Data.ResolutionType, body.Data.Issue.Count, tt.resolutionType)
				}
				jsonEqual(t, body.Data.Issue.StatusDetails, tt.details)
			})
		}
	}
	t.Run("IgnoreWithStatusDetails", func(t *testing.T) {
		res := ts.must(t, 200, "PUT", bulk, `{"status":"ignored","statusDetails":{"ignoreDuration":30}}`)
		jsonEqual(t, res.Body, `{"status":"ignored","substatus":"archived_until_condition_met","statusDetails":{}}`)
	})
	t.Run("UnresolveClears", func(t *testing.T) {
		ts.must(t, 200, "PUT", issue, `{"status":"resolved","statusDetails":{"inRelease":"1.2.3"}}`)
		ts.must(t, 200, "PUT", bulk, `{"status":"unresolved"}`)
		var got map[string]json.RawMessage
		ts.must(t, 200, "GET", issue, nil).JSON(t, &got)
		jsonEqual(t, got["statusDetails"], `{}`)
		// Resolved now afterwards: still nothing.
		ts.must(t, 200, "PUT", issue, `{"status":"resolved"}`)
		ts.must(t, 200, "GET", issue, nil).JSON(t, &got)
		jsonEqual(t, got["statusDetails"], `{}`)
	})
}

func TestIssueResolutionErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	e := ts.storeEvent(t, `{"message":"boom"}`)
	issue := fmt.Sprintf("/api/0/organizations/acme/issues/%d/", e.IssueID)
	bulk := fmt.Sprintf("/api/0/projects/acme/web/issues/?id=%d", e.IssueID)
	long := strings.Repeat("v", herald.MaxReleaseLength+1)
	tests := []struct {
		name, body, want string
	}{
		{"NotAnObject", `{"status":"resolved","statusDetails":"soon"}`,
			`{"statusDetails":["Expected a dictionary of items but got type \"string\"."]}`},
		{"InNextReleaseNotBool", `{"status":"resolved","statusDetails":{"inNextRelease":"yes"}}`,
			`{"statusDetails.inNextRelease":["Must be a valid boolean."]}`},
		{"InReleaseNotString", `{"status":"resolved","statusDetails":{"inRelease":5}}`,
			`{"statusDetails.inRelease":["Not a valid string."]}`},
		{"InReleaseBlank", `{"status":"resolved","statusDetails":{"inRelease":" "}}`,
			`{"statusDetails.inRelease":["This field may not be blank."]}`},
		{"InReleaseTooLong", `{"status":"resolved","statusDetails":{"inRelease":"` + long + `"}}`,
			`{"statusDetails.inRelease":["Ensure this field has no more than 250 characters."]}`},
		{"InReleaseControl", `{"status":"resolved","statusDetails":{"inRelease":"1.0\n"}}`,
			`{"statusDetails.inRelease":["Must not contain control characters."]}`},
		{"InReleaseLatest", `{"status":"resolved","statusDetails":{"inRelease":"latest"}}`,
			`{"statusDetails.inRelease":["Herald does not track releases: give the version instead of \"latest\"."]}`},
		{"InCommitEmpty", `{"status":"resolved","statusDetails":{"inCommit":{}}}`,
			`{"statusDetails.inCommit.commit":["This field is required."],"statusDetails.inCommit.repository":["This field is required."]}`},
		{"InCommitNoRepository", `{"status":"resolved","statusDetails":{"inCommit":{"commit":"a1b2c3d"}}}`,
			`{"statusDetails.inCommit.repository":["This field is required."]}`},
		{"InCommitBlank", `{"status":"resolved","statusDetails":{"inCommit":{"commit":"","repository":"acme/web"}}}`,
			`{"statusDetails.inCommit.commit":["This field may not be blank."]}`},
		{"InCommitNotObject", `{"status":"resolved","statusDetails":{"inCommit":"a1b2c3d"}}`,
			`{"statusDetails.inCommit":["Expected a dictionary of items but got type \"string\"."]}`},
		{"TwoResolutions", `{"status":"resolved","statusDetails":{"inNextRelease":true,"inRelease":"1.2.3"}}`,
			`{"statusDetails":["Give one of inNextRelease, inRelease and inCommit."]}`},
		{"NextReleaseStatusAndRelease", `{"status":"resolvedInNextRelease","statusDetails":{"inRelease":"1.2.3"}}`,
			`{"statusDetails":["Give one of inNextRelease, inRelease and inCommit."]}`},
		{"UpcomingRelease", `{"status":"resolved","statusDetails":{"inUpcomingRelease":true}}`,
			`{"statusDetails.inUpcomingRelease":["Your organization does not have access to this feature."]}`},
		{"ResolutionWithIgnored", `{"status":"ignored","statusDetails":{"inRelease":"1.2.3"}}`,
			`{"statusDetails":["inNextRelease, inRelease and inCommit go with status \"resolved\"."]}`},
		{"ResolutionWithoutStatus", `{"statusDetails":{"inNextRelease":true}}`,
			`{"statusDetails":["inNextRelease, inRelease and inCommit go with status \"resolved\"."]}`},
	}
	for _, route := range []struct{ name, path string }{{"Issue", issue}, {"Bulk", bulk}} {
		for _, tt := range tests {
			t.Run(route.name+"/"+tt.name, func(t *testing.T) {
				res := ts.do(t, "PUT", route.path, superToken, tt.body)
				if res.Status != 400 {
					t.Fatalf("status = %d %s", res.Status, res.Body)
				}
				jsonEqual(t, res.Body, tt.want)
			})
		}
	}
	var got map[string]any
	ts.must(t, 200, "GET", issue, nil).JSON(t, &got)
	if got["status"] != "unresolved" {
		t.Fatalf("a refused update changed the issue: %v", got["status"])
	}
}
