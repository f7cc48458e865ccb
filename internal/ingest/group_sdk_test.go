package ingest

import (
	"encoding/json"
	"testing"
)

// sdkEventPayload returns the event item of an SDK fixture as a generic
// value that tests can change.
func sdkEventPayload(t *testing.T, name string) map[string]any {
	t.Helper()
	env, err := ParseEnvelope(mustReadFile(t, name))
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range env.Items {
		if it.Type == "event" {
			var m map[string]any
			if err := json.Unmarshal(it.Payload, &m); err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	t.Fatalf("%s has no event", name)
	return nil
}

// exceptions returns the exception objects of an event in either form SDKs
// send (sentry-go's bare list, the others' {"values": [...]}).
func exceptions(m map[string]any) []map[string]any {
	var list []any
	switch ex := m["exception"].(type) {
	case []any:
		list = ex
	case map[string]any:
		list, _ = ex["values"].([]any)
	}
	var out []map[string]any
	for _, e := range list {
		out = append(out, e.(map[string]any))
	}
	return out
}

// hashOf groups the event m as ingest does.
func hashOf(t *testing.T, m map[string]any) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	h, err := GroupHash(b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestGroupHash_SDKEvents applies the grouping rules to the events the Go,
// JavaScript (Node) and Python SDKs really send: a second occurrence of the
// same error joins its issue even from other lines or with another message;
// another exception type or function, or a fingerprint that adds a part,
// makes a new one.
func TestGroupHash_SDKEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(m map[string]any)
		same bool
	}{
		{"SecondOccurrence", func(m map[string]any) { m["event_id"] = "0123456789abcdef0123456789abcdef" }, true},
		{"OtherLines", func(m map[string]any) {
			for _, ex := range exceptions(m) {
				for _, f := range ex["stacktrace"].(map[string]any)["frames"].([]any) {
					f.(map[string]any)["lineno"] = 9999.0
				}
			}
		}, true},
		{"OtherValue", func(m map[string]any) {
			for _, ex := range exceptions(m) {
				ex["value"] = "something else entirely"
			}
		}, true},
		{"OtherType", func(m map[string]any) {
			ex := exceptions(m)
			ex[len(ex)-1]["type"] = "OtherError"
		}, false},
		{"OtherInAppFunction", func(m map[string]any) {
			for _, ex := range exceptions(m) {
				for _, f := range ex["stacktrace"].(map[string]any)["frames"].([]any) {
					if fr := f.(map[string]any); fr["in_app"] == true {
						fr["function"] = "renamed"
					}
				}
			}
		}, false},
		{"FingerprintDefault", func(m map[string]any) { m["fingerprint"] = []any{"{{ default }}"} }, true},
		{"FingerprintDefaultPlusPart", func(m map[string]any) { m["fingerprint"] = []any{"{{ default }}", "tenant-7"} }, false},
		{"FingerprintOnly", func(m map[string]any) { m["fingerprint"] = []any{"db-down"} }, false},
		{"NoFramesGroupsByTypeAndValue", func(m map[string]any) {
			for _, ex := range exceptions(m) {
				delete(ex, "stacktrace")
			}
		}, false},
	}
	for _, sdk := range []string{"sentry-go.envelope", "sentry-node.envelope", "sentry-python.envelope"} {
		for _, tt := range tests {
			t.Run(sdk+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				base := hashOf(t, sdkEventPayload(t, sdk))
				m := sdkEventPayload(t, sdk)
				if len(exceptions(m)) == 0 {
					t.Fatalf("%s has no exception", sdk)
				}
				tt.edit(m)
				if got := hashOf(t, m); (got == base) != tt.same {
					t.Errorf("same issue = %v, want %v", got == base, tt.same)
				}
				if len(base) != 32 {
					t.Errorf("hash %q is not 32 hex", base)
				}
			})
		}
	}
	t.Run("SameFingerprintAcrossSDKs", func(t *testing.T) {
		t.Parallel()
		var hashes []string
		for _, sdk := range []string{"sentry-go.envelope", "sentry-node.envelope", "sentry-python.envelope"} {
			m := sdkEventPayload(t, sdk)
			m["fingerprint"], m["level"] = []any{"payments", "{{ level }}"}, "error"
			hashes = append(hashes, hashOf(t, m))
		}
		if hashes[0] != hashes[1] || hashes[1] != hashes[2] {
			t.Errorf("hashes = %v, want one issue", hashes)
		}
	})
}
