package sentryhook_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/herald-dev/herald/sentryhook"
)

// parseIssue parses an issue.<action> Sentry App body with data.
func parseIssue(t *testing.T, action, data string) (*sentryhook.IssuePayload, error) {
	t.Helper()
	h := http.Header{}
	h.Set(sentryhook.HeaderResource, "issue")
	d, err := sentryhook.Parse(h, []byte(`{"action":"`+action+`","installation":{"uuid":"u"},"data":`+data+`,"actor":{"type":"application","id":"sentry","name":"Sentry"}}`))
	if err != nil {
		return nil, err
	}
	p, ok := d.Payload.(*sentryhook.IssuePayload)
	if !ok {
		t.Fatalf("Payload is %T", d.Payload)
	}
	return p, nil
}

// TestParseIssueCount: count is read from a string (what Sentry and Herald
// send) and from a number (what older Herald releases sent).
func TestParseIssueCount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		count   string
		want    int64
		wantErr string
	}{
		{"String", `"17"`, 17, ""},
		{"Number", `17`, 17, ""},
		{"StringLarge", `"9007199254740993"`, 9007199254740993, ""},
		{"NumberLarge", `9007199254740993`, 9007199254740993, ""},
		{"Null", `null`, 0, ""},
		{"EmptyString", `""`, 0, ""},
		{"Missing", ``, 0, ""},
		{"ErrWord", `"many"`, 0, `issue count: "many" is not an integer`},
		{"ErrFraction", `1.5`, 0, `issue count: 1.5 is not an integer`},
		{"ErrStringFraction", `"1.5"`, 0, `issue count: "1.5" is not an integer`},
		{"ErrBool", `true`, 0, `issue count: true is not an integer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			issue := `{"id":"1170","userCount":3}`
			if tt.count != "" {
				issue = `{"id":"1170","count":` + tt.count + `,"userCount":3}`
			}
			p, err := parseIssue(t, "created", `{"issue":`+issue+`}`)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Issue.Count != tt.want || p.Issue.UserCount != 3 || p.Issue.ID != "1170" {
				t.Fatalf("issue = %+v", p.Issue)
			}
		})
	}
}

// TestParseIssueSentryFields reads the fields Sentry's group serializer
// adds, as Sentry sends them (nulls included).
func TestParseIssueSentryFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		issue string
		check func(t *testing.T, is sentryhook.Issue)
	}{
		{"Herald", `{"count":"1","project":{"id":"2","name":"Web","slug":"web","platform":"javascript"},"issueType":"error","issueCategory":"error",` +
			`"priority":"high","priorityLockedAt":null,"isUnhandled":true}`, func(t *testing.T, is sentryhook.Issue) {
			if is.Project.Platform != "javascript" || is.IssueType != "error" || is.IssueCategory != "error" || is.Priority != "high" ||
				is.PriorityLockedAt != "" || !is.IsUnhandled || is.Count != 1 {
				t.Fatalf("issue = %+v", is)
			}
		}},
		{"Nulls", `{"count":"1","project":{"id":"2","name":"Web","slug":"web","platform":null},"priority":null,"priorityLockedAt":null}`,
			func(t *testing.T, is sentryhook.Issue) {
				if is.Project.Platform != "" || is.Priority != "" || is.IsUnhandled {
					t.Fatalf("issue = %+v", is)
				}
			}},
		{"Locked", `{"priority":"low","priorityLockedAt":"2024-01-15T12:30:00.000000Z"}`, func(t *testing.T, is sentryhook.Issue) {
			if is.Priority != "low" || is.PriorityLockedAt != "2024-01-15T12:30:00.000000Z" {
				t.Fatalf("issue = %+v", is)
			}
		}},
		{"PerformanceIssue", `{"issueType":"performance_n_plus_one_db_queries","issueCategory":"performance","type":"transaction"}`,
			func(t *testing.T, is sentryhook.Issue) {
				if is.IssueType != "performance_n_plus_one_db_queries" || is.IssueCategory != "performance" {
					t.Fatalf("issue = %+v", is)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := parseIssue(t, "created", `{"issue":`+tt.issue+`}`)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, p.Issue)
		})
	}
	t.Run("ErrUnhandledNotBool", func(t *testing.T) {
		t.Parallel()
		_, err := parseIssue(t, "created", `{"issue":{"isUnhandled":"yes"}}`)
		if err == nil || !strings.Contains(err.Error(), "isUnhandled") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestIssueDetails reads each resolution of issue.resolved: Herald's
// statusDetails and Sentry's, whose inCommit is a whole commit and which
// adds the actor.
func TestIssueDetails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		data           string
		resolutionType string
		want           sentryhook.StatusDetails
		commit         string
		repository     string
	}{
		{name: "Now", data: `{"resolution_type":"now","issue":{"status":"resolved","statusDetails":{}}}`, resolutionType: "now"},
		{name: "NoStatusDetails", data: `{"resolution_type":"now","issue":{"status":"resolved"}}`, resolutionType: "now"},
		{name: "NullStatusDetails", data: `{"resolution_type":"now","issue":{"status":"resolved","statusDetails":null}}`, resolutionType: "now"},
		{name: "InNextRelease", data: `{"resolution_type":"in_next_release","issue":{"status":"resolved","statusDetails":{"inNextRelease":true}}}`,
			resolutionType: "in_next_release", want: sentryhook.StatusDetails{InNextRelease: true}},
		{name: "InRelease", data: `{"resolution_type":"in_release","issue":{"status":"resolved","statusDetails":{"inRelease":"1.2.3"}}}`,
			resolutionType: "in_release", want: sentryhook.StatusDetails{InRelease: "1.2.3"}},
		{name: "InCommit", data: `{"resolution_type":"in_commit","issue":{"status":"resolved","statusDetails":{"inCommit":{"id":"a1b2c3d","repository":{"name":"acme/web"}}}}}`,
			resolutionType: "in_commit", commit: "a1b2c3d", repository: "acme/web"},
		{name: "SentryInReleaseWithActor", data: `{"resolution_type":"in_release","issue":{"status":"resolved","statusDetails":{"inRelease":"1.2.3",` +
			`"actor":{"id":"1","name":"Jane Doe","username":"jane","email":"jane@acme.example"}}}}`,
			resolutionType: "in_release", want: sentryhook.StatusDetails{InRelease: "1.2.3"}},
		{name: "SentryInCommit", data: `{"resolution_type":"in_commit","issue":{"status":"resolved","statusDetails":{"inCommit":{"id":"a1b2c3d",` +
			`"message":"fix fetchUser","dateCreated":"2024-01-15T12:29:00Z","repository":{"id":"4","name":"acme/web","provider":{"id":"github","name":"GitHub"}},` +
			`"author":null},"actor":{"id":"1"}}}}`,
			resolutionType: "in_commit", commit: "a1b2c3d", repository: "acme/web"},
		{name: "IgnoredWindow", data: `{"issue":{"status":"ignored","statusDetails":{"ignoreCount":100,"ignoreWindow":60}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := parseIssue(t, "resolved", tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if p.ResolutionType != tt.resolutionType {
				t.Errorf("resolution_type = %q, want %q", p.ResolutionType, tt.resolutionType)
			}
			got, err := p.Issue.Details()
			if err != nil {
				t.Fatal(err)
			}
			if tt.commit != "" {
				if got.InCommit == nil || got.InCommit.ID != tt.commit || got.InCommit.Repository.Name != tt.repository || got.InNextRelease || got.InRelease != "" {
					t.Fatalf("details = %+v (commit %+v)", got, got.InCommit)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("details = %+v, want %+v", got, tt.want)
			}
		})
	}
	t.Run("ErrNotAnObject", func(t *testing.T) {
		t.Parallel()
		is := sentryhook.Issue{StatusDetails: []byte(`"soon"`)}
		if _, err := is.Details(); err == nil || !strings.Contains(err.Error(), "statusDetails") {
			t.Fatalf("err = %v", err)
		}
	})
}
