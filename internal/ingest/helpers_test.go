package ingest

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/herald-dev/herald"
)

// received is when test events arrive, a little after the fixtures were
// sent.
var received = time.Date(2024, 1, 15, 12, 0, 1, 0, time.UTC)

// fixtures are the SDK bodies in testdata.
var fixtures = []string{
	"sentry-go.envelope",
	"sentry-node.envelope",
	"sentry-python.envelope",
	"sentry-cli.envelope",
}

// mustReadFile returns the content of a testdata file.
func mustReadFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// mustParseFixture parses the envelope in a testdata file and returns its
// first event, normalized as the handler does.
func mustParseFixture(tb testing.TB, name string) *herald.Event {
	tb.Helper()
	env, err := ParseEnvelope(mustReadFile(tb, name))
	if err != nil {
		tb.Fatalf("ParseEnvelope(%s): %v", name, err)
	}
	for _, it := range env.Items {
		if it.Type == "event" {
			e, err := parseEvent(it.Payload, env.EventID, received)
			if err != nil {
				tb.Fatalf("parseEvent(%s): %v", name, err)
			}
			return e
		}
	}
	tb.Fatalf("%s has no event item", name)
	return nil
}

// mustParseEvent parses an event given as JSON text.
func mustParseEvent(tb testing.TB, payload string) *herald.Event {
	tb.Helper()
	e, err := ParseEvent([]byte(payload), received)
	if err != nil {
		tb.Fatalf("ParseEvent(%s): %v", payload, err)
	}
	return e
}

// dataOf decodes an event's Data.
func dataOf(tb testing.TB, e *herald.Event) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Data, &m); err != nil {
		tb.Fatalf("Data is not JSON: %v\n%s", err, e.Data)
	}
	return m
}

// wantCode checks that err is a herald error with the given code.
func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := herald.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// tags builds a tag list from key, value pairs.
func tags(kv ...string) []herald.Tag {
	var t []herald.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		t = append(t, herald.Tag{Key: kv[i], Value: kv[i+1]})
	}
	return t
}

// newTextLogger returns a logger writing text to w.
func newTextLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, nil))
}
