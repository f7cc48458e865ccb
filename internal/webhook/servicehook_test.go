package webhook_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/webhook"
)

// TestServiceHookBodyGolden builds the bodies of the story's event and
// compares them with the reference payloads: the same bytes once the fixture
// is compacted, the same values, and the same key order.
func TestServiceHookBodyGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fixture string
		rules   []string
	}{
		{"EventCreated", "event.created.json", nil},
		{"EventAlert", "event.alert.json", []string{"New production errors"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := readFixture(t, tt.fixture)
			got := webhook.ServiceHookBody(storyProject(), storyIssue(), storyEvent(), storyBaseURL, tt.rules)

			if !reflect.DeepEqual(decode(t, got), decode(t, want)) {
				t.Errorf("values differ\n got: %s\nwant: %s", got, want)
			}
			if g, w := keyPaths(t, got), keyPaths(t, want); !slices.Equal(g, w) {
				t.Errorf("key order differs\n got: %v\nwant: %v", g, w)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("bytes differ\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

// TestServiceHookBodyKeyOrder checks the order of the top-level keys and of
// the event's keys against the seed's example, independently of fixtures.
func TestServiceHookBodyKeyOrder(t *testing.T) {
	t.Parallel()
	got := keyPaths(t, webhook.ServiceHookBody(storyProject(), storyIssue(), storyEvent(), storyBaseURL, nil))
	want := []string{
		"id", "project", "project_name", "culprit", "url", "message", "triggering_rules", "event",
		"event.event_id", "event.level", "event.tags", "event.platform", "event.datetime",
	}
	if !slices.Equal(got, want) {
		t.Errorf("keys = %v, want %v", got, want)
	}
}

func TestServiceHookBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(p *herald.Project, is *herald.Issue, ev *herald.Event)
		baseURL string
		rules   []string
		// check inspects the raw body and its decoded form.
		check func(t *testing.T, body []byte, v map[string]any)
	}{
		{
			name: "Compact",
			check: func(t *testing.T, body []byte, v map[string]any) {
				var buf bytes.Buffer
				if err := json.Compact(&buf, body); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(buf.Bytes(), body) {
					t.Errorf("body has insignificant whitespace: %s", body)
				}
				if bytes.HasSuffix(body, []byte("\n")) {
					t.Error("body ends in a newline")
				}
			},
		},
		{
			name: "HTMLNotEscaped",
			edit: func(p *herald.Project, is *herald.Issue, ev *herald.Event) {
				ev.Message = `<script>alert("x")</script> & more`
				ev.Tags = []herald.Tag{{Key: "url", Value: "https://a.example/?a=1&b=<2>"}}
			},
			check: func(t *testing.T, body []byte, v map[string]any) {
				for _, s := range []string{`"message":"<script>alert(\"x\")</script> & more"`, `"https://a.example/?a=1&b=<2>"`} {
					if !bytes.Contains(body, []byte(s)) {
						t.Errorf("body lacks %s: %s", s, body)
					}
				}
				if bytes.Contains(body, []byte(`\u003c`)) || bytes.Contains(body, []byte(`\u0026`)) {
					t.Errorf("body escapes HTML: %s", body)
				}
			},
		},
		{
			name: "NoTags",
			edit: func(p *herald.Project, is *herald.Issue, ev *herald.Event) { ev.Tags = nil },
			check: func(t *testing.T, body []byte, v map[string]any) {
				if !bytes.Contains(body, []byte(`"tags":[]`)) {
					t.Errorf("body lacks \"tags\":[]: %s", body)
				}
			},
		},
		{
			name:  "NilTriggeringRules",
			rules: nil,
			check: func(t *testing.T, body []byte, v map[string]any) {
				if !bytes.Contains(body, []byte(`"triggering_rules":[]`)) {
					t.Errorf("body lacks \"triggering_rules\":[]: %s", body)
				}
			},
		},
		{
			name:  "EmptyTriggeringRules",
			rules: []string{},
			check: func(t *testing.T, body []byte, v map[string]any) {
				if !bytes.Contains(body, []byte(`"triggering_rules":[]`)) {
					t.Errorf("body lacks \"triggering_rules\":[]: %s", body)
				}
			},
		},
		{
			name:  "TwoTriggeringRules",
			rules: []string{"A", "B & C"},
			check: func(t *testing.T, body []byte, v map[string]any) {
				if !bytes.Contains(body, []byte(`"triggering_rules":["A","B & C"]`)) {
					t.Errorf("body lacks the rules in order: %s", body)
				}
			},
		},
		{
			name: "MessageFallsBackToTitle",
			edit: func(p *herald.Project, is *herald.Issue, ev *herald.Event) {
				ev.Message = ""
				ev.Title = "ValueError: bad"
			},
			check: func(t *testing.T, body []byte, v map[string]any) {
				if got := v["message"]; got != "ValueError: bad" {
					t.Errorf("message = %q, want the event title", got)
				}
			},
		},
		{
			name: "MessageFallsBackToIssueTitle",
			edit: func(p *herald.Project, is *herald.Issue, ev *herald.Event) {
				ev.Message, ev.Title = "", ""
				is.Title = "Issue title"
			},
			check: func(t *testing.T, body []byte, v map[string]any) {
				if got := v["message"]; got != "Issue title" {
					t.Errorf("message = %q, want the issue title", got)
				}
			},
		},
		{
			name: "MessageWinsOverTitle",
			edit: func(p *herald.Project, is *herald.Issue, ev *herald.Event) {
				ev.Message = "log line"
				ev.Title = "title"
			},
			check: func(t *testing.T, body []byte, v map[string]any) {
				if got := v["message"]; got != "log line" {
					t.Errorf("message = %q, want the event message", got)
				}
			},
		},
		{
			name: "CulpritFallsBackToEvent",
			edit: func(p *herald.Project, is *herald.Issue, ev *herald.Event) {
				is.Culprit = ""
				ev.Culprit = "main.go in run"
			},
			check: func(t *testing.T, body []byte, v map[string]any) {
				if got := v["culprit"]; got != "main.go in run" {
					t.Errorf("culprit = %q, want the event's", got)
				}
			},
		},
		{
			name:    "BaseURLTrailingSlash",
			baseURL: "https://herald.example.com/",
			check: func(t *testing.T, body []byte, v map[string]any) {
				if got := v["url"]; got != "https://herald.example.com/organizations/acme/issues/1170/" {
					t.Errorf("url = %q", got)
				}
			},
		},
		{
			name: "OrganizationNotLoaded",
			edit: func(p *herald.Project, is *herald.Issue, ev *herald.Event) {
				p.Organization = nil
				p.OrganizationID = 9
			},
			check: func(t *testing.T, body []byte, v map[string]any) {
				if got := v["url"]; got != "https://herald.example.com/organizations/9/issues/1170/" {
					t.Errorf("url = %q", got)
				}
			},
		},
		{
			name: "DatetimeInUTCMicroseconds",
			edit: func(p *herald.Project, is *herald.Issue, ev *herald.Event) {
				ev.Timestamp = storyTime.Add(1234567 * 1000).In(fixedZone)
			},
			check: func(t *testing.T, body []byte, v map[string]any) {
				ev := v["event"].(map[string]any)
				if got := ev["datetime"]; got != "2024-01-15T12:00:01.234567Z" {
					t.Errorf("datetime = %q", got)
				}
			},
		},
		{
			name: "InvalidUTF8",
			edit: func(p *herald.Project, is *herald.Issue, ev *herald.Event) {
				ev.Message = "bad \xff byte"
			},
			check: func(t *testing.T, body []byte, v map[string]any) {
				if !utf8.Valid(body) {
					t.Errorf("body is not valid UTF-8: %q", body)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, is, ev := storyProject(), storyIssue(), storyEvent()
			if tt.edit != nil {
				tt.edit(p, is, ev)
			}
			baseURL := tt.baseURL
			if baseURL == "" {
				baseURL = storyBaseURL
			}
			body := webhook.ServiceHookBody(p, is, ev, baseURL, tt.rules)
			var v map[string]any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, body)
			}
			tt.check(t, body, v)
		})
	}
}

// FuzzServiceHookBody checks that any message, tag and rule gives one valid,
// compact JSON object that carries the strings back unchanged.
func FuzzServiceHookBody(f *testing.F) {
	f.Add("plain", "environment", "production", "rule")
	f.Add(`<>&"\`, "k\x00", "\u2028\u2029", "")
	f.Add("", "", "", "New production errors")
	f.Add("\xff\xfe", "é", "✓", "a\nb")
	f.Fuzz(func(t *testing.T, message, key, value, rule string) {
		p, is, ev := storyProject(), storyIssue(), storyEvent()
		ev.Message = message
		ev.Tags = []herald.Tag{{Key: key, Value: value}}
		body := webhook.ServiceHookBody(p, is, ev, storyBaseURL, []string{rule})

		var buf bytes.Buffer
		if err := json.Compact(&buf, body); err != nil {
			t.Fatalf("body is not JSON: %v: %q", err, body)
		}
		if !bytes.Equal(buf.Bytes(), body) {
			t.Fatalf("body is not compact: %q", body)
		}
		var got struct {
			Message         string                    `json:"message"`
			TriggeringRules []string                  `json:"triggering_rules"`
			Event           struct{ Tags [][]string } `json:"event"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("decode: %v", err)
		}
		wantMessage := message
		if wantMessage == "" {
			wantMessage = ev.Title
		}
		if utf8.ValidString(wantMessage) && got.Message != wantMessage {
			t.Errorf("message = %q, want %q", got.Message, wantMessage)
		}
		if len(got.TriggeringRules) != 1 || (utf8.ValidString(rule) && got.TriggeringRules[0] != rule) {
			t.Errorf("triggering_rules = %q, want [%q]", got.TriggeringRules, rule)
		}
		if len(got.Event.Tags) != 1 || len(got.Event.Tags[0]) != 2 {
			t.Fatalf("tags = %q, want one pair", got.Event.Tags)
		}
		if utf8.ValidString(key+value) && (got.Event.Tags[0][0] != key || got.Event.Tags[0][1] != value) {
			t.Errorf("tags = %q, want [[%q %q]]", got.Event.Tags, key, value)
		}
		if strings.Contains(string(body), `\u003c`) {
			t.Errorf("body escapes HTML: %q", body)
		}
	})
}

func BenchmarkServiceHookBody(b *testing.B) {
	p, is, ev := storyProject(), storyIssue(), storyEvent()
	rules := []string{"New production errors"}
	b.ReportAllocs()
	for b.Loop() {
		webhook.ServiceHookBody(p, is, ev, storyBaseURL, rules)
	}
}
