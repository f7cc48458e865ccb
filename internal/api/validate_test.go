package api

import (
	"encoding/json"
	"net/url"
	"slices"
	"testing"

	"github.com/herald-dev/herald"
)

// FuzzHookInput feeds arbitrary bodies to hook validation: it must never
// panic, and what it accepts must be a usable hook (whose events, possibly
// none, are known, sorted and unique).
func FuzzHookInput(f *testing.F) {
	f.Add([]byte(`{"url":"https://example.com/sentry-hook","events":["event.alert","event.created"]}`))
	f.Add([]byte(`{"url":"http://[::1]:8080/h","events":["event.created","event.created"]}`))
	f.Add([]byte(`{"url":"https://example.com/h","events":["event.nope"]}`))
	f.Add([]byte(`{"url":"javascript:alert(1)","events":[]}`))
	f.Add([]byte(`{"status":"disabled","isActive":true}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var in hookInput
		if json.Unmarshal(body, &in) != nil {
			return
		}
		for _, create := range []bool{true, false} {
			upd, err := in.validate(create)
			if err != nil {
				continue
			}
			if create && (upd.URL == nil || upd.Events == nil) {
				t.Fatalf("create accepted %s without url or events", body)
			}
			if upd.URL != nil {
				u, err := url.Parse(*upd.URL)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || len(*upd.URL) > herald.MaxURLLength {
					t.Fatalf("accepted url %q", *upd.URL)
				}
			}
			if upd.Events != nil {
				events := *upd.Events
				// An empty list is valid (a hook subscribed to nothing).
				if !slices.IsSorted(events) || len(slices.Compact(slices.Clone(events))) != len(events) {
					t.Fatalf("accepted events %q", events)
				}
				for _, e := range events {
					if !slices.Contains(herald.HookEvents, e) {
						t.Fatalf("accepted event %q", e)
					}
				}
			}
			if upd.Status != nil && *upd.Status != herald.HookActive && *upd.Status != herald.HookDisabled {
				t.Fatalf("accepted status %q", *upd.Status)
			}
		}
	})
}

// FuzzSlugify checks that a derived slug is valid whenever it is accepted.
func FuzzSlugify(f *testing.F) {
	for _, s := range []string{"Acme Corp, Inc.", "123", "  --  ", "Ünïcödé Org", "a_b-c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		slug := herald.Slugify(name)
		if len(slug) > herald.MaxSlugLength {
			t.Fatalf("herald.Slugify(%q) = %q, longer than %d", name, slug, herald.MaxSlugLength)
		}
		if slug == "" || isNumeric(slug) {
			return
		}
		if msg := herald.SlugProblem(slug); msg != "" {
			t.Fatalf("herald.Slugify(%q) = %q, which is invalid: %s", name, slug, msg)
		}
	})
}

func TestSlugify(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"Simple", "Acme", "acme"},
		{"Punctuation", "Acme Corp, Inc.", "acme-corp-inc"},
		{"NonASCII", "Café Zürich", "caf-z-rich"},
		{"Empty", "!!!", ""},
		{"Long", "abcdefghij abcdefghij abcdefghij abcdefghij abcdefghij", "abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdef"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := herald.Slugify(tt.in); got != tt.want {
				t.Fatalf("herald.Slugify(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCursorLink(t *testing.T) {
	tests := []struct {
		name, base, rel, cursor string
		results                 bool
		want                    string
	}{
		{"Sentry", "http://h/api/0/organizations/?", "next", "1420837533:0:0", true,
			`<http://h/api/0/organizations/?&cursor=1420837533:0:0>; rel="next"; results="true"; cursor="1420837533:0:0"`},
		{"EscapesURL", "http://h/x/?per_page=1", "next", "a b&c", false,
			`<http://h/x/?per_page=1&cursor=a+b%26c>; rel="next"; results="false"; cursor="a b&c"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cursorLink(tt.base, tt.rel, tt.cursor, tt.results); got != tt.want {
				t.Fatalf("cursorLink = %s\nwant %s", got, tt.want)
			}
		})
	}
}
