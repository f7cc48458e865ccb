package herald_test

import (
	"strings"
	"testing"

	"github.com/herald-dev/herald"
)

func TestHasScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		have []string
		want string
		ok   bool
	}{
		{"Same", []string{"project:read"}, "project:read", true},
		{"WriteGrantsRead", []string{"project:write"}, "project:read", true},
		{"AdminGrantsWrite", []string{"event:admin"}, "event:write", true},
		{"ReadDoesNotGrantWrite", []string{"project:read"}, "project:write", false},
		{"OtherResource", []string{"project:admin"}, "event:read", false},
		{"OrgReadDoesNotGrantIntegrations", []string{"org:read"}, "org:integrations", false},
		{"IntegrationsGrantsItself", []string{"org:integrations"}, "org:integrations", true},
		{"IntegrationsGrantsNothingElse", []string{"org:integrations"}, "org:read", false},
		{"OrgWriteGrantsIntegrations", []string{"org:write"}, "org:integrations", true},
		{"OrgAdminGrantsIntegrations", []string{"org:admin"}, "org:integrations", true},
		{"ReleasesOnlyByItself", []string{"project:admin"}, "project:releases", false},
		{"AlertsWriteGrantsRead", []string{"alerts:write"}, "alerts:read", true},
		{"None", nil, "org:read", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok := &herald.Token{Scopes: tt.have}
			if got := tok.HasScope(tt.want); got != tt.ok {
				t.Errorf("%v HasScope(%q) = %v, want %v", tt.have, tt.want, got, tt.ok)
			}
		})
	}
}

// TestScopeGrantsKnown checks that the hierarchy names only known scopes
// and never grants a scope of another resource.
func TestScopeGrantsKnown(t *testing.T) {
	t.Parallel()
	for s, granted := range herald.ScopeGrants {
		if !herald.ValidScope(s) {
			t.Errorf("unknown scope %q", s)
		}
		for _, g := range granted {
			if !herald.ValidScope(g) {
				t.Errorf("%s grants unknown scope %q", s, g)
			}
			res, _, _ := strings.Cut(s, ":")
			if gres, _, _ := strings.Cut(g, ":"); gres != res {
				t.Errorf("%s grants %s of another resource", s, g)
			}
		}
	}
}
