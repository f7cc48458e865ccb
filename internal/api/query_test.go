package api

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/herald-dev/herald"
)

func TestParseIssueQuery(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	tests := []struct {
		name  string
		query string
		want  issueQuery
		err   bool
	}{
		{"Empty", "", issueQuery{}, false},
		{"Unresolved", "is:unresolved", issueQuery{statuses: []string{"unresolved"}}, false},
		{"MutedIsIgnored", "is:muted", issueQuery{statuses: []string{"ignored"}}, false},
		{"ArchivedIsIgnored", "is:archived is:resolved", issueQuery{statuses: []string{"ignored", "resolved"}}, false},
		{"Assigned", "is:assigned", issueQuery{assigned: &yes}, false},
		{"Unassigned", "is:unassigned", issueQuery{assigned: &no}, false},
		{"Me", "assigned:me", issueQuery{me: true}, false},
		{"Text", "TypeError  fetchUser", issueQuery{text: "TypeError fetchUser"}, false},
		{"TextWithColonLast", "http: x", issueQuery{text: "http: x"}, false},
		{"Mixed", "is:unresolved boom", issueQuery{statuses: []string{"unresolved"}, text: "boom"}, false},
		{"ErrStatus", "is:snoozed", issueQuery{}, true},
		{"ErrAssigned", "assigned:bob", issueQuery{}, true},
		{"ErrTag", "browser:chrome", issueQuery{}, true},
		{"ErrTooLong", strings.Repeat("a", maxIssueQueryLength+1), issueQuery{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseIssueQuery(tt.query)
			if tt.err {
				if herald.ErrorCode(err) != herald.EINVALID {
					t.Fatalf("error = %v, want EINVALID", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.statuses, tt.want.statuses) || got.text != tt.want.text || got.me != tt.want.me ||
				(got.assigned == nil) != (tt.want.assigned == nil) || (got.assigned != nil && *got.assigned != *tt.want.assigned) {
				t.Fatalf("parse = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseIssueQuery(f *testing.F) {
	for _, q := range []string{"is:unresolved", "is:muted boom", "assigned:me", "a:b:c", ":", "is:", "\x00 is:resolved"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		got, err := parseIssueQuery(q)
		if err != nil {
			if herald.ErrorCode(err) != herald.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		for _, s := range got.statuses {
			if s != herald.IssueResolved && s != herald.IssueIgnored && s != herald.IssueUnresolved {
				t.Fatalf("status %q", s)
			}
		}
	})
}

// FuzzAppInput feeds arbitrary bodies to app validation: it must never
// panic, and what it accepts must respect Sentry's rules.
func FuzzAppInput(f *testing.F) {
	f.Add([]byte(`{"name":"Pager","author":"Acme","webhookUrl":"https://p.example/h","events":["issue"],"scopes":["event:read"]}`), false)
	f.Add([]byte(`{"name":"Bot","events":["comment"],"scopes":["event:read"]}`), true)
	f.Add([]byte(`{"name":"x","webhookUrl":"ftp://x","events":["deploy"],"scopes":["root:all"]}`), false)
	tok := &herald.Token{Scopes: herald.Scopes}
	f.Fuzz(func(t *testing.T, body []byte, internal bool) {
		var in appInput
		if json.Unmarshal(body, &in) != nil {
			return
		}
		cur := &herald.SentryApp{Status: herald.AppUnpublished}
		if internal {
			cur.Status = herald.AppInternal
		}
		upd, err := in.validate(cur, true, &auth{token: tok})
		if err != nil {
			return
		}
		if upd.Name == nil || *upd.Name == "" || len([]rune(*upd.Name)) > herald.MaxAppNameLength || herald.Slugify(*upd.Name) == "" {
			t.Fatalf("accepted name %v", upd.Name)
		}
		scopes := []string{}
		if upd.Scopes != nil {
			scopes = *upd.Scopes
		}
		if upd.Events != nil {
			for _, e := range *upd.Events {
				if need, ok := herald.AppEventScopes[e]; !ok || !slices.Contains(scopes, need) {
					t.Fatalf("accepted event %q with scopes %v", e, scopes)
				}
			}
		}
		if !internal && (upd.WebhookURL == nil || *upd.WebhookURL == "" || upd.Author == nil || *upd.Author == "") {
			t.Fatalf("accepted a public app without webhookUrl or author: %s", body)
		}
		if upd.WebhookURL != nil && *upd.WebhookURL != "" && herald.URLProblem(*upd.WebhookURL) != "" {
			t.Fatalf("accepted webhookUrl %q", *upd.WebhookURL)
		}
	})
}
