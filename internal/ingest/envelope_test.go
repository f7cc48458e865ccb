package ingest

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/jsontext"
)

func TestParseEnvelope(t *testing.T) {
	t.Parallel()
	type item struct{ typ, payload string }
	tests := []struct {
		name    string
		body    string
		eventID string
		dsn     string
		sentAt  time.Time
		items   []item
	}{
		{
			name:    "LengthAndNewline",
			body:    "{\"event_id\":\"9fac2ceed9344f2bbfdd1fdacb0ed9b1\",\"dsn\":\"https://k@h/1\",\"sent_at\":\"2024-01-15T12:00:00.5Z\"}\n{\"type\":\"event\",\"length\":7}\n{\"a\":1}\n",
			eventID: "9fac2ceed9344f2bbfdd1fdacb0ed9b1",
			dsn:     "https://k@h/1",
			sentAt:  time.Date(2024, 1, 15, 12, 0, 0, 5e8, time.UTC),
			items:   []item{{"event", `{"a":1}`}},
		},
		{
			name:  "NoLength",
			body:  "{}\n{\"type\":\"event\"}\n{\"a\":1}\n{\"type\":\"session\"}\n{\"s\":2}",
			items: []item{{"event", `{"a":1}`}, {"session", `{"s":2}`}},
		},
		{
			name:  "LengthCoversNewlines",
			body:  "{}\n{\"type\":\"event\",\"length\":12}\n{\n  \"a\": 1\n}\n{\"type\":\"attachment\",\"length\":3,\"filename\":\"a.txt\"}\n\x00\x01\n\n",
			items: []item{{"event", "{\n  \"a\": 1\n}"}, {"attachment", "\x00\x01\n"}},
		},
		{
			name:  "LengthAtEndWithoutNewline",
			body:  "{}\n{\"type\":\"event\",\"length\":2}\n{}",
			items: []item{{"event", "{}"}},
		},
		{
			name:  "ZeroLength",
			body:  "{}\n{\"type\":\"attachment\",\"length\":0}\n\n{\"type\":\"event\"}\n{}\n",
			items: []item{{"attachment", ""}, {"event", "{}"}},
		},
		{
			name:    "DashedEventID",
			body:    "{\"event_id\":\"7C9F5D2E-1A8B-4C3D-9E0F-1A2B3C4D5E6F\"}\n",
			eventID: "7c9f5d2e1a8b4c3d9e0f1a2b3c4d5e6f",
		},
		{
			name:  "CRLF",
			body:  "{}\r\n{\"type\":\"event\"}\r\n{\"a\":1}\r\n",
			items: []item{{"event", `{"a":1}`}},
		},
		{
			name: "HeaderOnlyNoNewline",
			body: `{"sent_at":"not a time"}`,
		},
		{
			name:  "UnknownItemTypes",
			body:  "{}\n{\"type\":\"client_report\"}\n{}\n{\"type\":\"check_in\",\"length\":2}\n{}\n{\"type\":\"profile\"}\n{}\n",
			items: []item{{"client_report", "{}"}, {"check_in", "{}"}, {"profile", "{}"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, err := ParseEnvelope([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if env.EventID != tt.eventID || env.DSN != tt.dsn || !env.SentAt.Equal(tt.sentAt) {
				t.Errorf("header = %q %q %v, want %q %q %v", env.EventID, env.DSN, env.SentAt, tt.eventID, tt.dsn, tt.sentAt)
			}
			if len(env.Items) != len(tt.items) {
				t.Fatalf("got %d items, want %d", len(env.Items), len(tt.items))
			}
			for i, it := range env.Items {
				if it.Type != tt.items[i].typ || string(it.Payload) != tt.items[i].payload {
					t.Errorf("item %d = %q %q, want %q %q", i+1, it.Type, it.Payload, tt.items[i].typ, tt.items[i].payload)
				}
			}
		})
	}
}

func TestParseEnvelope_Fixtures(t *testing.T) {
	t.Parallel()
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env, err := ParseEnvelope(mustReadFile(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if len(env.EventID) != 32 || len(env.Items) == 0 || env.Items[0].Type != "event" {
				t.Fatalf("envelope = %+v", env)
			}
		})
	}
}

func TestParseEnvelope_Invalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		code string
		want string
	}{
		{"Empty", "", herald.EINVALID, "invalid envelope header: empty"},
		{"BlankHeader", "\n{\"type\":\"event\"}\n{}", herald.EINVALID, "invalid envelope header: empty"},
		{"HeaderNotJSON", "hello\n", herald.EINVALID, "invalid envelope header: not a JSON object"},
		{"HeaderArray", "[]\n", herald.EINVALID, "invalid envelope header: not a JSON object"},
		{"HeaderBroken", "{\"event_id\":}\n", herald.EINVALID, "invalid envelope header: invalid character '}' looking for beginning of value at offset 13"},
		{"EventIDNotUUID", "{\"event_id\":\"abc\"}\n", herald.EINVALID, `invalid envelope header: event_id "abc" is not a UUID`},
		{"EventIDNumber", "{\"event_id\":1}\n", herald.EINVALID, "invalid envelope header: event_id must be a string"},
		{"DSNNumber", "{\"dsn\":1}\n", herald.EINVALID, "invalid envelope header: dsn must be a string"},
		{"ItemHeaderNotJSON", "{}\nevent\n{}", herald.EINVALID, "item 1: invalid item header: not a JSON object"},
		{"ItemWithoutType", "{}\n{\"length\":2}\n{}", herald.EINVALID, "item 1: item header has no type"},
		{"ItemTypeNumber", "{}\n{\"type\":3}\n{}", herald.EINVALID, "item 1: item header has no type"},
		{"LengthNegative", "{}\n{\"type\":\"event\",\"length\":-1}\n{}", herald.EINVALID, "item 1: length -1 is not a non-negative integer"},
		{"LengthFloat", "{}\n{\"type\":\"event\",\"length\":1.5}\n{}", herald.EINVALID, "item 1: length 1.5 is not a non-negative integer"},
		{"LengthString", "{}\n{\"type\":\"event\",\"length\":\"2\"}\n{}", herald.EINVALID, `item 1: length "2" is not a non-negative integer`},
		{"LengthTooLong", "{}\n{\"type\":\"session\"}\n{}\n{\"type\":\"event\",\"length\":500}\n{}\n", herald.EINVALID, "item 2: length 500 exceeds remaining body (3 bytes)"},
		{"LengthHuge", "{}\n{\"type\":\"event\",\"length\":99999999999999999999}\n{}", herald.EINVALID, "item 1: length 99999999999999999999 is not a non-negative integer"},
		{"LengthWrong", "{}\n{\"type\":\"event\",\"length\":1}\n{}\n", herald.EINVALID, "item 1: payload of length 1 is not followed by a newline"},
		{"HeaderTooLarge", `{"x":"` + strings.Repeat("x", MaxEnvelopeHeaderSize) + "\"}\n", herald.ETOOLARGE, "envelope header exceeds the limit of 64 KB"},
		{"TooManyItems", "{}\n" + strings.Repeat("{\"type\":\"x\"}\n{}\n", MaxEnvelopeItems+1), herald.ETOOLARGE, "envelope has more than 1000 items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseEnvelope([]byte(tt.body))
			wantCode(t, err, tt.code)
			if got := herald.ErrorMessage(err); got != tt.want {
				t.Errorf("message = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzParseEnvelope checks that ParseEnvelope never panics, fails only with
// client errors, returns items that lie within the body, and that an
// envelope it accepts, written again with explicit lengths, parses back to
// the same header and items.
func FuzzParseEnvelope(f *testing.F) {
	for _, name := range fixtures {
		f.Add(mustReadFile(f, name))
	}
	f.Add([]byte("{}\n{\"type\":\"event\",\"length\":2}\n{}\n{\"type\":\"x\"}\n"))
	f.Add([]byte("{\"event_id\":\"7c9f5d2e-1a8b-4c3d-9e0f-1a2b3c4d5e6f\"}\r\n\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := ParseEnvelope(body)
		if err != nil {
			if code := herald.ErrorCode(err); code != herald.EINVALID && code != herald.ETOOLARGE {
				t.Fatalf("error code %q: %v", code, err)
			}
			return
		}
		if env.EventID != "" {
			if id, ok := normalizeID(env.EventID); !ok || id != env.EventID {
				t.Fatalf("EventID = %q", env.EventID)
			}
		}
		if len(env.Items) > MaxEnvelopeItems {
			t.Fatalf("%d items", len(env.Items))
		}
		for _, it := range env.Items {
			if it.Type == "" || len(it.Payload) > len(body) || len(it.Payload) > 0 && !bytes.Contains(body, it.Payload) {
				t.Fatalf("item %+v not in body", it)
			}
			if it.Type == "event" {
				// Whatever the payload, normalizing it must not panic.
				if _, err := parseEvent(it.Payload, env.EventID, received); err != nil && herald.ErrorCode(err) != herald.EINVALID {
					t.Fatalf("parseEvent: %v", err)
				}
			}
		}

		if !utf8.ValidString(env.DSN) {
			return // written again, it would read U+FFFD
		}
		b := []byte(`{"event_id":`)
		b = jsontext.AppendString(b, env.EventID)
		b = jsontext.AppendString(append(b, `,"dsn":`...), env.DSN)
		b = append(b, "}\n"...)
		for _, it := range env.Items {
			if !utf8.ValidString(it.Type) {
				return
			}
			b = jsontext.AppendString(append(b, `{"type":`...), it.Type)
			b = strconv.AppendInt(append(b, `,"length":`...), int64(len(it.Payload)), 10)
			b = append(append(append(b, "}\n"...), it.Payload...), '\n')
		}
		again, err := ParseEnvelope(b)
		if err != nil {
			t.Fatalf("written again, does not parse: %v\n%q", err, b)
		}
		if again.EventID != env.EventID || again.DSN != env.DSN || len(again.Items) != len(env.Items) {
			t.Fatalf("written again, parses to %+v, want %+v", again, env)
		}
		for i, it := range again.Items {
			if it.Type != env.Items[i].Type || !bytes.Equal(it.Payload, env.Items[i].Payload) {
				t.Fatalf("item %d written again parses to %+v, want %+v", i+1, it, env.Items[i])
			}
		}
	})
}

func BenchmarkParseEnvelope(b *testing.B) {
	for _, name := range fixtures {
		body := mustReadFile(b, name)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				env, err := ParseEnvelope(body)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := parseEvent(env.Items[0].Payload, env.EventID, received); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
