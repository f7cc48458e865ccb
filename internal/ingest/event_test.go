package ingest

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herald-dev/herald"
)

func TestParseEvent_Fixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string
		want herald.Event
	}{
		{
			name: "SentryGo",
			file: "sentry-go.envelope",
			want: herald.Event{
				ID:          "2b76c81b0555406ba3d687af12b43305",
				Timestamp:   time.Date(2024, 1, 15, 12, 0, 0, 823181000, time.UTC),
				Level:       "error",
				Platform:    "go",
				Message:     "*errors.errorString: user 42 not found",
				Title:       "*errors.errorString: user 42 not found",
				Culprit:     "example.com/shop/store in (*Store).LoadUser",
				Type:        "*errors.errorString",
				Value:       "user 42 not found",
				Environment: "production",
				Release:     "api@1.4.2",
				UserKey:     "id:42",
				Tags: tags(
					"environment", "production",
					"level", "error",
					"os", "linux",
					"os.name", "linux",
					"region", "eu-west-1",
					"release", "api@1.4.2",
					"runtime", "go go1.26.8",
					"runtime.name", "go",
					"server_name", "api-7f9c",
					"url", "https://api.example.com/users/42",
					"user", "id:42",
				),
			},
		},
		{
			name: "SentryNode",
			file: "sentry-node.envelope",
			want: herald.Event{
				ID:          "9fac2ceed9344f2bbfdd1fdacb0ed9b1",
				Timestamp:   time.Date(2024, 1, 15, 12, 0, 0, 482000000, time.UTC),
				Level:       "fatal",
				Platform:    "node",
				Message:     "TypeError: Cannot read properties of undefined (reading 'id')",
				Title:       "TypeError: Cannot read properties of undefined (reading 'id')",
				Culprit:     "utils:api in fetchUser",
				Type:        "TypeError",
				Value:       "Cannot read properties of undefined (reading 'id')",
				Environment: "production",
				Release:     "web@2.3.0",
				UserKey:     "ip:203.0.113.7",
				Tags: tags(
					"component", "router",
					"environment", "production",
					"handled", "no",
					"level", "fatal",
					"mechanism", "onuncaughtexception",
					"os", "Linux 6.5.0",
					"os.name", "Linux",
					"release", "web@2.3.0",
					"runtime", "node v20.11.0",
					"runtime.name", "node",
					"server_name", "web-1",
					"user", "ip:203.0.113.7",
				),
			},
		},
		{
			name: "SentryPython",
			file: "sentry-python.envelope",
			want: herald.Event{
				ID:          "c1d6e0f4a2b34f6e9a7d8b5c4e3f2a10",
				Timestamp:   time.Date(2024, 1, 15, 12, 0, 0, 123456000, time.UTC),
				Level:       "error",
				Platform:    "python",
				Message:     "ZeroDivisionError: division by zero",
				Title:       "ZeroDivisionError: division by zero",
				Culprit:     "/report/",
				Type:        "ZeroDivisionError",
				Value:       "division by zero",
				Environment: "staging",
				Release:     "shop@5.1.0",
				Tags: tags(
					"environment", "staging",
					"handled", "no",
					"level", "error",
					"mechanism", "django",
					"release", "shop@5.1.0",
					"runtime", "CPython 3.12.1",
					"runtime.name", "CPython",
					"server_name", "shop-1",
					"transaction", "/report/",
					"url", "http://shop.example.com/report/",
				),
			},
		},
		{
			name: "SentryCLI",
			file: "sentry-cli.envelope",
			want: herald.Event{
				ID:          "7c9f5d2e1a8b4c3d9e0f1a2b3c4d5e6f",
				Timestamp:   time.Date(2024, 1, 15, 12, 0, 0, 250000000, time.UTC),
				Level:       "info",
				Platform:    "native",
				Message:     "Deploy v1.2.3 finished with 2 warnings",
				Title:       "Deploy v1.2.3 finished with 2 warnings",
				Environment: "production",
				Release:     "cli-app@1.2.3",
				UserKey:     "username:deploy",
				Tags: tags(
					"dist", "42",
					"environment", "production",
					"level", "info",
					"os", "Linux 6.5.0",
					"os.name", "Linux",
					"release", "cli-app@1.2.3",
					"server_name", "build-01",
					"stage", "deploy",
					"user", "username:deploy",
				),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := mustParseFixture(t, tt.file)
			want := tt.want
			want.Received = received
			want.GroupHash, want.Data = got.GroupHash, got.Data
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("event mismatch\n got: %+v\nwant: %+v", *got, want)
			}
			if len(got.GroupHash) != 32 {
				t.Errorf("GroupHash = %q", got.GroupHash)
			}
			checkData(t, got)
		})
	}
}

// checkData checks that an event's Data is compact JSON carrying its
// normalized fields.
func checkData(t *testing.T, e *herald.Event) {
	t.Helper()
	var compact bytes.Buffer
	if err := json.Compact(&compact, e.Data); err != nil {
		t.Fatalf("Data is not JSON: %v\n%s", err, e.Data)
	}
	if !bytes.Equal(compact.Bytes(), e.Data) {
		t.Errorf("Data is not compact:\n%s", e.Data)
	}
	d := dataOf(t, e)
	for key, want := range map[string]any{
		"event_id": e.ID,
		"level":    e.Level,
		"platform": e.Platform,
		"title":    e.Title,
		"culprit":  e.Culprit,
		"message":  e.Message,
		"datetime": herald.FormatTime(e.Timestamp),
	} {
		if d[key] != want {
			t.Errorf("Data[%q] = %#v, want %#v", key, d[key], want)
		}
	}
	if ts, ok := d["timestamp"].(float64); !ok || time.UnixMicro(int64(ts*1e6+0.5)).UTC().Sub(e.Timestamp).Abs() > time.Microsecond {
		t.Errorf("Data timestamp = %v, want %v", d["timestamp"], e.Timestamp)
	}
	rawTags, _ := d["tags"].([]any)
	if len(rawTags) != len(e.Tags) {
		t.Fatalf("Data has %d tags, want %d", len(rawTags), len(e.Tags))
	}
	for i, rt := range rawTags {
		pair, _ := rt.([]any)
		if len(pair) != 2 || pair[0] != e.Tags[i].Key || pair[1] != e.Tags[i].Value {
			t.Errorf("Data tag %d = %v, want %v", i, rt, e.Tags[i])
		}
	}
	if e.Type != "" {
		ex, _ := d["exception"].(map[string]any)
		if _, ok := ex["values"].([]any); !ok {
			t.Errorf("Data exception = %v, want {values: [...]}", d["exception"])
		}
		meta, _ := d["metadata"].(map[string]any)
		if meta["type"] != e.Type || meta["value"] != e.Value {
			t.Errorf("Data metadata = %v", d["metadata"])
		}
	}
}

func TestParseEvent_Fields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		event string
		check func(t *testing.T, e *herald.Event)
	}{
		{"IDHex", `{"event_id":"9FAC2CEED9344F2BBFDD1FDACB0ED9B1"}`, func(t *testing.T, e *herald.Event) {
			if e.ID != "9fac2ceed9344f2bbfdd1fdacb0ed9b1" {
				t.Errorf("ID = %q", e.ID)
			}
		}},
		{"IDDashed", `{"event_id":"9fac2cee-d934-4f2b-bfdd-1fdacb0ed9b1"}`, func(t *testing.T, e *herald.Event) {
			if e.ID != "9fac2ceed9344f2bbfdd1fdacb0ed9b1" {
				t.Errorf("ID = %q", e.ID)
			}
		}},
		{"IDGenerated", `{}`, func(t *testing.T, e *herald.Event) {
			if _, ok := normalizeID(e.ID); !ok || e.ID != strings.ToLower(e.ID) {
				t.Errorf("ID = %q", e.ID)
			}
		}},
		{"TimestampRFC3339Offset", `{"timestamp":"2024-01-15T13:00:00.5+01:00"}`, func(t *testing.T, e *herald.Event) {
			if want := time.Date(2024, 1, 15, 12, 0, 0, 5e8, time.UTC); !e.Timestamp.Equal(want) || e.Timestamp.Location() != time.UTC {
				t.Errorf("Timestamp = %v, want %v", e.Timestamp, want)
			}
		}},
		{"TimestampNaive", `{"timestamp":"2024-01-15T12:00:00"}`, func(t *testing.T, e *herald.Event) {
			if want := time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC); !e.Timestamp.Equal(want) {
				t.Errorf("Timestamp = %v", e.Timestamp)
			}
		}},
		{"TimestampInt", `{"timestamp":1705320000}`, func(t *testing.T, e *herald.Event) {
			if want := time.Unix(1705320000, 0).UTC(); !e.Timestamp.Equal(want) {
				t.Errorf("Timestamp = %v", e.Timestamp)
			}
		}},
		{"TimestampFloatExact", `{"timestamp":1705320000.123456789}`, func(t *testing.T, e *herald.Event) {
			if want := time.Unix(1705320000, 123456000).UTC(); !e.Timestamp.Equal(want) {
				t.Errorf("Timestamp = %v", e.Timestamp)
			}
		}},
		{"TimestampExponent", `{"timestamp":1.7053200005e9}`, func(t *testing.T, e *herald.Event) {
			if want := time.Unix(1705320000, 5e8).UTC(); e.Timestamp.Sub(want).Abs() > time.Microsecond {
				t.Errorf("Timestamp = %v", e.Timestamp)
			}
		}},
		{"TimestampNumericString", `{"timestamp":"1705320000.25"}`, func(t *testing.T, e *herald.Event) {
			if want := time.Unix(1705320000, 25e7).UTC(); !e.Timestamp.Equal(want) {
				t.Errorf("Timestamp = %v", e.Timestamp)
			}
		}},
		{"TimestampMissing", `{}`, func(t *testing.T, e *herald.Event) {
			if !e.Timestamp.Equal(received) || !e.Received.Equal(received) {
				t.Errorf("Timestamp = %v, Received = %v", e.Timestamp, e.Received)
			}
		}},
		{"TimestampGarbage", `{"timestamp":"yesterday"}`, func(t *testing.T, e *herald.Event) {
			if !e.Timestamp.Equal(received) {
				t.Errorf("Timestamp = %v", e.Timestamp)
			}
		}},
		{"TimestampFuture", `{"timestamp":"2024-01-15T13:00:00Z"}`, func(t *testing.T, e *herald.Event) {
			if !e.Timestamp.Equal(received) {
				t.Errorf("Timestamp = %v, want received", e.Timestamp)
			}
		}},
		{"TimestampTooOld", `{"timestamp":"2023-01-15T12:00:00Z"}`, func(t *testing.T, e *herald.Event) {
			if !e.Timestamp.Equal(received) {
				t.Errorf("Timestamp = %v, want received", e.Timestamp)
			}
		}},
		{"LevelDefault", `{}`, func(t *testing.T, e *herald.Event) { wantString(t, "Level", e.Level, "error") }},
		{"LevelWarn", `{"level":"warn"}`, func(t *testing.T, e *herald.Event) { wantString(t, "Level", e.Level, "warning") }},
		{"LevelCritical", `{"level":"CRITICAL"}`, func(t *testing.T, e *herald.Event) { wantString(t, "Level", e.Level, "fatal") }},
		{"LevelLog", `{"level":"log"}`, func(t *testing.T, e *herald.Event) { wantString(t, "Level", e.Level, "info") }},
		{"LevelUnknown", `{"level":"whatever"}`, func(t *testing.T, e *herald.Event) { wantString(t, "Level", e.Level, "error") }},
		{"PlatformDefault", `{}`, func(t *testing.T, e *herald.Event) { wantString(t, "Platform", e.Platform, "other") }},
		{"PlatformInvalid", `{"platform":"<script>"}`, func(t *testing.T, e *herald.Event) { wantString(t, "Platform", e.Platform, "other") }},
		{"MessageString", `{"message":"disk full\nsecond line"}`, func(t *testing.T, e *herald.Event) {
			wantString(t, "Message", e.Message, "disk full\nsecond line")
			wantString(t, "Title", e.Title, "disk full")
		}},
		{"MessageObject", `{"message":{"formatted":"Hello world","message":"Hello %s"}}`, func(t *testing.T, e *herald.Event) {
			wantString(t, "Message", e.Message, "Hello world")
		}},
		{"LogentryFormatted", `{"logentry":{"formatted":"User 42 logged in","message":"User %s logged in"}}`, func(t *testing.T, e *herald.Event) {
			wantString(t, "Message", e.Message, "User 42 logged in")
			wantString(t, "Title", e.Title, "User 42 logged in")
		}},
		{"LogentryParams", `{"logentry":{"message":"%s of %d done (100%%)","params":["7",10]}}`, func(t *testing.T, e *herald.Event) {
			wantString(t, "Message", e.Message, "7 of 10 done (100%)")
		}},
		{"LogentryWinsOverMessage", `{"message":"old","logentry":{"message":"new"}}`, func(t *testing.T, e *herald.Event) {
			wantString(t, "Message", e.Message, "new")
		}},
		{"Unlabeled", `{}`, func(t *testing.T, e *herald.Event) {
			wantString(t, "Title", e.Title, "<unlabeled event>")
		}},
		{"TitleTruncated", `{"message":"` + strings.Repeat("é", 300) + `"}`, func(t *testing.T, e *herald.Event) {
			if len(e.Title) > maxTitle || !utf8.ValidString(e.Title) {
				t.Errorf("Title = %q (%d bytes)", e.Title, len(e.Title))
			}
		}},
		{"MessageTruncated", `{"message":"` + strings.Repeat("x", 20000) + `"}`, func(t *testing.T, e *herald.Event) {
			if len(e.Message) != maxMessage {
				t.Errorf("len(Message) = %d", len(e.Message))
			}
		}},
		{"ExceptionBareArray", `{"exception":[{"type":"ValueError","value":"bad"}]}`, func(t *testing.T, e *herald.Event) {
			wantString(t, "Title", e.Title, "ValueError: bad")
		}},
		{"ExceptionValues", `{"exception":{"values":[{"type":"ValueError","value":"bad"}]}}`, func(t *testing.T, e *herald.Event) {
			wantString(t, "Title", e.Title, "ValueError: bad")
		}},
		{"ExceptionSingleObject", `{"exception":{"type":"ValueError","value":"bad"}}`, func(t *testing.T, e *herald.Event) {
			wantString(t, "Title", e.Title, "ValueError: bad")
		}},
		{"ExceptionChainTitleFromLast", `{"exception":{"values":[{"type":"KeyError","value":"'id'"},{"type":"LookupFailed","value":"no user\nmore"}]}}`, func(t *testing.T, e *herald.Event) {
			wantString(t, "Title", e.Title, "LookupFailed: no user")
			wantString(t, "Type", e.Type, "LookupFailed")
			wantString(t, "Value", e.Value, "no user\nmore")
		}},
		{"ExceptionTypeOnly", `{"exception":[{"type":"Panic"}]}`, func(t *testing.T, e *herald.Event) {
			wantString(t, "Title", e.Title, "Panic")
		}},
		{"CulpritExplicit", `{"culprit":"app.views in index","transaction":"/x"}`, func(t *testing.T, e *herald.Event) {
			wantString(t, "Culprit", e.Culprit, "app.views in index")
		}},
		{"CulpritTransaction", `{"transaction":"GET /users/:id"}`, func(t *testing.T, e *herald.Event) {
			wantString(t, "Culprit", e.Culprit, "GET /users/:id")
		}},
		{"CulpritLastInAppFrame", `{"exception":[{"type":"E","stacktrace":{"frames":[
			{"module":"app.a","function":"outer","in_app":true},
			{"module":"app.b","function":"inner","in_app":true},
			{"module":"lib.c","function":"helper","in_app":false}]}}]}`, func(t *testing.T, e *herald.Event) {
			wantString(t, "Culprit", e.Culprit, "app.b in inner")
		}},
		{"CulpritLastFrameWhenNoneInApp", `{"exception":[{"type":"E","stacktrace":{"frames":[
			{"filename":"a.js","function":"outer"},
			{"abs_path":"/srv/b.js","function":"inner"}]}}]}`, func(t *testing.T, e *herald.Event) {
			wantString(t, "Culprit", e.Culprit, "/srv/b.js in inner")
		}},
		{"TagsObject", `{"tags":{"b":"2","a":"1","n":3,"t":true,"empty":"","obj":{}}}`, func(t *testing.T, e *herald.Event) {
			wantTags(t, e, tags("a", "1", "b", "2", "level", "error", "n", "3", "t", "true"))
		}},
		{"TagsPairs", `{"tags":[["b","2"],["a","1"],["bad"],"x",["a","3"]]}`, func(t *testing.T, e *herald.Event) {
			wantTags(t, e, tags("a", "3", "b", "2", "level", "error"))
		}},
		{"TagsDerivedReplaceSDK", `{"level":"warning","environment":"prod","release":"1.0","tags":{"level":"debug","environment":"dev","server_name":"mine"},"server_name":"theirs"}`, func(t *testing.T, e *herald.Event) {
			wantTags(t, e, tags("environment", "prod", "level", "warning", "release", "1.0", "server_name", "mine"))
		}},
		{"TagsBounded", `{"tags":{"` + strings.Repeat("k", 300) + `":"` + strings.Repeat("v", 300) + `","multi":"a\nb"}}`, func(t *testing.T, e *herald.Event) {
			wantTags(t, e, tags(strings.Repeat("k", 200), strings.Repeat("v", 200), "level", "error", "multi", "a b"))
		}},
		{"UserID", `{"user":{"id":42,"email":"a@example.com"}}`, func(t *testing.T, e *herald.Event) {
			wantString(t, "UserKey", e.UserKey, "id:42")
		}},
		{"UserEmail", `{"user":{"email":"a@example.com","ip_address":"192.0.2.1"}}`, func(t *testing.T, e *herald.Event) {
			wantString(t, "UserKey", e.UserKey, "email:a@example.com")
		}},
		{"UserAutoIP", `{"user":{"ip_address":"{{auto}}"}}`, func(t *testing.T, e *herald.Event) {
			wantString(t, "UserKey", e.UserKey, "")
		}},
		{"WrongTypesIgnored", `{"level":5,"tags":"x","user":"bob","exception":"boom","contexts":[],"fingerprint":{},"environment":{"a":1}}`, func(t *testing.T, e *herald.Event) {
			wantString(t, "Level", e.Level, "error")
			wantString(t, "Title", e.Title, "<unlabeled event>")
			wantString(t, "Environment", e.Environment, "")
		}},
		{"InvalidUTF8AndNUL", "{\"message\":\"a\xffb\\u0000c\"}", func(t *testing.T, e *herald.Event) {
			wantString(t, "Message", e.Message, "a\uFFFDb\uFFFDc")
			if !utf8.Valid(e.Data) || bytes.Contains(e.Data, []byte(`\u0000`)) {
				t.Errorf("Data = %q", e.Data)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := mustParseEvent(t, tt.event)
			tt.check(t, e)
			checkData(t, e)
		})
	}
}

func TestParseEvent_Data(t *testing.T) {
	t.Parallel()
	e := mustParseEvent(t, `{
		"event_id": "9fac2cee-d934-4f2b-bfdd-1fdacb0ed9b1",
		"timestamp": 1705320000,
		"message": {"message": "Hello %s", "formatted": "Hello world"},
		"exception": [ {"type": "E", "value": "v"} ],
		"tags": {"a": "1"},
		"extra": { "nested": [1, 2, {"x": "y z"}] },
		"title": "ignored",
		"zzz": null
	}`)
	want := `{"culprit":"","datetime":"2024-01-15T12:00:00.000000Z","event_id":"9fac2ceed9344f2bbfdd1fdacb0ed9b1",` +
		`"exception":{"values":[{"type":"E","value":"v"}]},"extra":{"nested":[1,2,{"x":"y z"}]},"level":"error",` +
		`"logentry":{"formatted":"Hello world","message":"Hello %s"},"message":"Hello world",` +
		`"metadata":{"type":"E","value":"v"},"platform":"other","received":1705320001.0,` +
		`"tags":[["a","1"],["level","error"]],"timestamp":1705320000.0,"title":"E: v","type":"error","zzz":null}`
	if string(e.Data) != want {
		t.Errorf("Data =\n%s\nwant\n%s", e.Data, want)
	}
}

func TestParseEvent_Invalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		want    string
	}{
		{"Empty", ``, "invalid event: empty"},
		{"NotObject", `[1,2]`, "invalid event: not a JSON object"},
		{"Null", `null`, "invalid event: not a JSON object"},
		{"Truncated", `{"message":"x"`, "invalid event: unexpected end of JSON input at offset 14"},
		{"Syntax", `{"message" "x"}`, "invalid event: invalid character '\"' after object key at offset 12"},
		{"BadID", `{"event_id":"not-an-id"}`, `invalid event: event_id "not-an-id" is not a UUID`},
		{"IDNumber", `{"event_id":12}`, "invalid event: event_id must be a string"},
		{"IDShortHex", `{"event_id":"9fac2ceed9344f2b"}`, `invalid event: event_id "9fac2ceed9344f2b" is not a UUID`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseEvent([]byte(tt.payload), received)
			wantCode(t, err, herald.EINVALID)
			if got := herald.ErrorMessage(err); got != tt.want {
				t.Errorf("message = %q, want %q", got, tt.want)
			}
		})
	}
}

func wantString(t *testing.T, field, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", field, got, want)
	}
}

func wantTags(t *testing.T, e *herald.Event, want []herald.Tag) {
	t.Helper()
	if !reflect.DeepEqual(e.Tags, want) {
		t.Errorf("Tags = %v, want %v", e.Tags, want)
	}
}

// FuzzNormalize checks that any payload either fails with EINVALID or gives
// an event within bounds, whose Data parses back to the same event.
func FuzzNormalize(f *testing.F) {
	for _, name := range fixtures {
		env, err := ParseEnvelope(mustReadFile(f, name))
		if err != nil {
			f.Fatal(err)
		}
		for _, it := range env.Items {
			f.Add(it.Payload)
		}
	}
	f.Add(mustReadFile(f, "store-go.json"))
	for _, s := range []string{`{}`, `{"exception":{"type":"E"}}`, `{"tags":[["a","b"]]}`, `{"fingerprint":["{{ default }}","x"],"message":"m"}`,
		`{"logentry":"x","message":{"message":"t %s"},"level":"warn","timestamp":"1e9"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		e, err := ParseEvent(payload, received)
		if err != nil {
			if code := herald.ErrorCode(err); code != herald.EINVALID {
				t.Fatalf("error code %q: %v", code, err)
			}
			return
		}
		if _, ok := normalizeID(e.ID); !ok || len(e.ID) != 32 || strings.ToLower(e.ID) != e.ID {
			t.Fatalf("ID = %q", e.ID)
		}
		if len(e.GroupHash) != 32 {
			t.Fatalf("GroupHash = %q", e.GroupHash)
		}
		if e.Timestamp.Location() != time.UTC || e.Timestamp.After(received.Add(maxFutureSkew)) || e.Timestamp.Before(received.Add(-maxPastSkew)) {
			t.Fatalf("Timestamp = %v", e.Timestamp)
		}
		found := false
		for _, l := range herald.Levels {
			found = found || l == e.Level
		}
		if !found || e.Platform == "" || e.Title == "" || len(e.Title) > maxTitle || len(e.Culprit) > maxCulprit || len(e.Message) > maxMessage {
			t.Fatalf("bad fields: %+v", e)
		}
		for i, tag := range e.Tags {
			if tag.Key == "" || tag.Value == "" || len(tag.Key) > maxTagKey || len(tag.Value) > maxTagValue || i > 0 && e.Tags[i-1].Key >= tag.Key {
				t.Fatalf("bad tags: %v", e.Tags)
			}
		}
		for _, s := range []string{e.Message, e.Title, e.Culprit, e.Type, e.Value, e.Environment, e.Release, e.UserKey, string(e.Data)} {
			if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
				t.Fatalf("invalid text %q", s)
			}
		}
		if !json.Valid(e.Data) {
			t.Fatalf("Data is not JSON: %s", e.Data)
		}
		again, err := ParseEvent(e.Data, received)
		if err != nil {
			t.Fatalf("Data does not parse: %v\n%s", err, e.Data)
		}
		if again.ID != e.ID || again.GroupHash != e.GroupHash || again.Title != e.Title || again.Culprit != e.Culprit ||
			again.Message != e.Message || again.Level != e.Level || !again.Timestamp.Equal(e.Timestamp) ||
			again.UserKey != e.UserKey || !reflect.DeepEqual(again.Tags, e.Tags) || !bytes.Equal(again.Data, e.Data) {
			t.Fatalf("Data does not parse back to the event:\n got %+v\nwant %+v", again, e)
		}
		if h, err := GroupHash(e.Data); err != nil || h != e.GroupHash {
			t.Fatalf("GroupHash(Data) = %q, %v; want %q", h, err, e.GroupHash)
		}
	})
}
