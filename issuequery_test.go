package herald_test

import (
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
		want  herald.IssueQuery
		err   bool
	}{
		{"Empty", "", herald.IssueQuery{}, false},
		{"Unresolved", "is:unresolved", herald.IssueQuery{Statuses: []string{"unresolved"}}, false},
		{"MutedIsIgnored", "is:muted", herald.IssueQuery{Statuses: []string{"ignored"}}, false},
		{"ArchivedIsIgnored", "is:archived is:resolved", herald.IssueQuery{Statuses: []string{"ignored", "resolved"}}, false},
		{"Assigned", "is:assigned", herald.IssueQuery{Assigned: &yes}, false},
		{"Unassigned", "is:unassigned", herald.IssueQuery{Assigned: &no}, false},
		{"Me", "assigned:me", herald.IssueQuery{Me: true}, false},
		{"Text", "TypeError  fetchUser", herald.IssueQuery{Text: "TypeError fetchUser"}, false},
		{"TextWithColonLast", "http: x", herald.IssueQuery{Text: "http: x"}, false},
		{"Mixed", "is:unresolved boom", herald.IssueQuery{Statuses: []string{"unresolved"}, Text: "boom"}, false},
		{"ErrStatus", "is:snoozed", herald.IssueQuery{}, true},
		{"ErrAssigned", "assigned:bob", herald.IssueQuery{}, true},
		{"ErrTag", "browser:chrome", herald.IssueQuery{}, true},
		{"ErrTooLong", strings.Repeat("a", herald.MaxIssueQueryLength+1), herald.IssueQuery{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := herald.ParseIssueQuery(tt.query)
			if tt.err {
				if herald.ErrorCode(err) != herald.EINVALID {
					t.Fatalf("error = %v, want EINVALID", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Statuses, tt.want.Statuses) || got.Text != tt.want.Text || got.Me != tt.want.Me ||
				(got.Assigned == nil) != (tt.want.Assigned == nil) || (got.Assigned != nil && *got.Assigned != *tt.want.Assigned) {
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
		got, err := herald.ParseIssueQuery(q)
		if err != nil {
			if herald.ErrorCode(err) != herald.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		for _, s := range got.Statuses {
			if s != herald.IssueResolved && s != herald.IssueIgnored && s != herald.IssueUnresolved {
				t.Fatalf("status %q", s)
			}
		}
	})
}
