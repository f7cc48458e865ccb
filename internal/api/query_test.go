package api

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/herald-dev/herald"
)

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
