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

// TestServiceHookBodyGolden builds the bodies of the story's event, stored
// as the error.created fixture shows it, and compares them with the
// reference payloads: the same values, the same key order, and the same
// bytes once the fixture is compacted.
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
			ev := storyEvent()
			ev.Data = storedEvent(t)
			got := webhook.ServiceHookBody(storyProject(), storyIssue(), ev, storyBaseURL, tt.rules)

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
// the event's keys, independently of fixtures: the seed's keys in the
// seed's order, the legacy webhooks plugin's project_slug after
// project_name and its logger and level last; in the event, the seed's keys,
// then "id", then the stored event's other members in their order.
func TestServiceHookBodyKeyOrder(t *testing.T) {
	t.Parallel()
	ev := storyEvent()
	ev.Data = []byte(`{"zeta":1,"event_id":"x","alpha":{"id":2},"tags":[],"id":"sdk","title":"T","level":"fatal","datetime":"d","platform":"p"}`)
	got := keyPaths(t, webhook.ServiceHookBody(storyProject(), storyIssue(), ev, storyBaseURL, nil))
	want := []string{
		"id", "project", "project_name", "project_slug", "culprit", "url", "message", "triggering_rules", "event",
		"event.event_id", "event.level", "event.tags", "event.platform", "event.datetime", "event.id",
		"event.zeta", "event.alpha", "event.alpha.id", "event.title",
		"logger", "level",
	}
	if !slices.Equal(got, want) {
		t.Errorf("keys = %v, want %v", got, want)
	}
}

// TestServiceHookBodyLegacyPluginKeys reads the body as a receiver of
// Sentry's legacy webhooks plugin does (matrix-sentry-webhooks reads level
// and project_slug; others read logger and the event's id): every key it
// reads is there, with the plugin's meaning.
func TestServiceHookBodyLegacyPluginKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		data       []byte
		tags       []herald.Tag
		wantLogger string
		// whole is set when the event has what receivers show of it.
		whole bool
	}{
		{"StoredEvent", nil, nil, "", true},
		{"NoStoredEvent", []byte{}, nil, "", true},
		{"SDKLogger", []byte(`{"logger":"app.api","message":"m"}`), nil, "app.api", false},
		{"LoggerTagWins", []byte(`{"logger":"app.api"}`), []herald.Tag{{Key: "logger", Value: "root"}}, "root", false},
		{"LoggerNotString", []byte(`{"logger":null}`), nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := storyEvent()
			ev.Data = tt.data
			if tt.data == nil {
				ev.Data = storedEvent(t)
			}
			if tt.tags != nil {
				ev.Tags = tt.tags
			}
			body := webhook.ServiceHookBody(storyProject(), storyIssue(), ev, storyBaseURL, nil)
			var got map[string]any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"level", "project_slug", "logger", "id", "project", "project_name", "culprit", "message", "url", "triggering_rules", "event"} {
				if _, ok := got[k]; !ok {
					t.Errorf("body lacks %q: %s", k, body)
				}
			}
			event, _ := got["event"].(map[string]any)
			if got["level"] != "error" || got["project_slug"] != "web" || got["logger"] != tt.wantLogger ||
				event["id"] != ev.ID || event["event_id"] != ev.ID {
				t.Errorf("level %v, project_slug %v, logger %v (want %q), event.id %v, event.event_id %v",
					got["level"], got["project_slug"], got["logger"], tt.wantLogger, event["id"], event["event_id"])
			}
			// The plugin sends the whole event: what a receiver shows of it.
			for _, k := range []string{"title", "message", "environment", "release", "culprit"} {
				if _, ok := event[k]; !ok && tt.whole {
					t.Errorf("event lacks %q: %s", k, body)
				}
			}
		})
	}
}

// TestServiceHookBodyStoredEvent checks how the stored event is merged into
// the body's event: its members kept as they are after the seed's keys and
// "id", the members of those names replaced, and the columns sent when the
// stored event is missing or not a JSON object.
func TestServiceHookBodyStoredEvent(t *testing.T) {
	t.Parallel()
	const head = `{"event_id":"9fac2ceed9344f2bbfdd1fdacb0ed9b1","level":"error","tags":[["k","v"]],"platform":"javascript",` +
		`"datetime":"2024-01-15T12:00:00.000000Z","id":"9fac2ceed9344f2bbfdd1fdacb0ed9b1"`
	const columns = `,"message":"TypeError: Cannot read properties of undefined (reading 'id')",` +
		`"title":"TypeError: Cannot read properties of undefined (reading 'id')","culprit":"app/utils/api in fetchUser",` +
		`"environment":"production","release":"v1.2.3"}`
	tests := []struct {
		name string
		data string
		want string // the body's event
	}{
		{"Splice", `{"title":"T","user":{"id":"42"},"exception":{"values":[]}}`, head + `,"title":"T","user":{"id":"42"},"exception":{"values":[]}}`},
		{"EmptyObject", `{}`, head + `}`},
		{"SeedKeysReplaced", `{"event_id":"other","a":[1,"]}"],"id":7,"tags":{"x":"y"},"level":"debug","platform":"go","datetime":"x"}`, head + `,"a":[1,"]}"]}`},
		{"Whitespace", " { \"a\" : 1 ,\n\"b\":{ \"c\" : [ true , null ] } } ", head + `,"a":1,"b":{"c":[true,null]}}`},
		{"EscapedKey", `{"\u0069d":"sdk","t\"x":"\u003c"}`, head + `,"t\"x":"\u003c"}`},
		{"HTMLKept", `{"message":"<b>&</b>"}`, head + `,"message":"<b>&</b>"}`},
		{"Missing", ``, head + columns},
		{"NotObject", `[1,2]`, head + columns},
		{"Truncated", `{"a":{"b":1}`, head + columns},
		{"InvalidValue", `{"a":tru}`, head + columns},
		{"TrailingData", `{"a":1}{}`, head + columns},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := storyEvent()
			ev.Data, ev.Tags = []byte(tt.data), []herald.Tag{{Key: "k", Value: "v"}}
			body := webhook.ServiceHookBody(storyProject(), storyIssue(), ev, storyBaseURL, nil)
			var got struct {
				Event json.RawMessage `json:"event"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, body)
			}
			if string(got.Event) != tt.want {
				t.Errorf("event =\n%s\nwant\n%s", got.Event, tt.want)
			}
		})
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
		// Each on its own: two halves of one character are each invalid.
		if utf8.ValidString(key) && utf8.ValidString(value) && (got.Event.Tags[0][0] != key || got.Event.Tags[0][1] != value) {
			t.Errorf("tags = %q, want [[%q %q]]", got.Event.Tags, key, value)
		}
		if strings.Contains(string(body), `\u003c`) {
			t.Errorf("body escapes HTML: %q", body)
		}
	})
}

// FuzzServiceHookBodyStoredEvent: whatever the stored event, the body is
// one valid, compact JSON object; when the stored event is a JSON object,
// the body's event agrees with it: its members, less the seed's keys and
// "id", decode to the same values, and the seed's keys and "id" hold
// Herald's values.
func FuzzServiceHookBodyStoredEvent(f *testing.F) {
	f.Add([]byte(`{"title":"T","user":{"id":"42"}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(` { "id" : 9 , "a":[1,{"event_id":2}], "b":"}\"" } `))
	f.Add([]byte(`{"\u0069d":1,"logger":"root"}`))
	f.Add([]byte(`{"a" : "x \\\" y\\" , "b\\\\" :[ "\\" , " " ] }`))
	f.Add([]byte(`not json`))
	f.Add([]byte(`{"a":tru}`))
	f.Add([]byte(`{"a":1}{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev := storyEvent()
		ev.Data = data
		body := webhook.ServiceHookBody(storyProject(), storyIssue(), ev, storyBaseURL, nil)
		var buf bytes.Buffer
		if err := json.Compact(&buf, body); err != nil {
			t.Fatalf("body is not JSON: %v: %q", err, body)
		}
		if !bytes.Equal(buf.Bytes(), body) {
			t.Fatalf("body is not compact: %q", body)
		}
		var got struct {
			Event map[string]any `json:"event"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if got.Event["event_id"] != ev.ID || got.Event["id"] != ev.ID || got.Event["level"] != ev.Level ||
			got.Event["platform"] != ev.Platform || got.Event["datetime"] != "2024-01-15T12:00:00.000000Z" {
			t.Fatalf("event = %v", got.Event)
		}
		var stored map[string]any
		if dec := json.NewDecoder(bytes.NewReader(data)); dec.Decode(&stored) != nil || stored == nil || dec.More() ||
			!json.Valid(bytes.TrimSpace(data)) {
			return
		}
		seed := []string{"event_id", "level", "tags", "platform", "datetime", "id"}
		for _, k := range seed {
			delete(stored, k)
			delete(got.Event, k)
		}
		if !reflect.DeepEqual(got.Event, stored) {
			t.Fatalf("event = %v\nwant %v (from %q)", got.Event, stored, data)
		}
	})
}

func BenchmarkServiceHookBody(b *testing.B) {
	p, is, ev := storyProject(), storyIssue(), storyEvent()
	ev.Data = readFixture(b, "error.created.json")
	rules := []string{"New production errors"}
	b.ReportAllocs()
	for b.Loop() {
		webhook.ServiceHookBody(p, is, ev, storyBaseURL, rules)
	}
}
