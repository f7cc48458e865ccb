package webhook_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/webhook"
)

// TestAppBodyGolden rebuilds the issue.created fixture's envelope around its
// data and compares it with the fixture.
func TestAppBodyGolden(t *testing.T) {
	t.Parallel()
	want := readFixture(t, "issue.created.json")
	var fixture struct {
		Action       string
		Installation struct{ UUID string }
		Data         json.RawMessage
	}
	if err := json.Unmarshal(want, &fixture); err != nil {
		t.Fatal(err)
	}

	got, err := webhook.AppBody(webhook.Action(webhook.IssueCreated), fixture.Installation.UUID, fixture.Data, webhook.SentryActor)
	if err != nil {
		t.Fatalf("AppBody: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("body =\n%s\nwant\n%s", got, want)
	}
	if g, w := keyPaths(t, got), keyPaths(t, want); !slices.Equal(g, w) {
		t.Errorf("key order differs\n got: %v\nwant: %v", g, w)
	}
}

func TestAppBody(t *testing.T) {
	t.Parallel()
	const uuid = "a8e5d37a-696c-4c54-aac1-4a51b40ce7d9"
	jane := &herald.User{ID: 1, Email: "jane@acme.example", Name: "Jane Doe"}
	tests := []struct {
		name   string
		action string
		data   any
		actor  webhook.Actor
		want   string
	}{
		{
			name:   "SentryActor",
			action: "created",
			data:   map[string]any{"issue": map[string]any{"id": "1170"}},
			actor:  webhook.SentryActor,
			want:   `{"action":"created","installation":{"uuid":"` + uuid + `"},"data":{"issue":{"id":"1170"}},"actor":{"type":"application","id":"sentry","name":"Sentry"}}`,
		},
		{
			name:   "UserActor",
			action: "resolved",
			data:   struct{ A string }{"x"},
			actor:  webhook.UserActor(jane),
			want:   `{"action":"resolved","installation":{"uuid":"` + uuid + `"},"data":{"A":"x"},"actor":{"type":"user","id":1,"name":"Jane Doe"}}`,
		},
		{
			name:   "UserActorWithoutName",
			action: "created",
			data:   struct{}{},
			actor:  webhook.UserActor(&herald.User{ID: 7, Email: "ops@acme.example"}),
			want:   `{"action":"created","installation":{"uuid":"` + uuid + `"},"data":{},"actor":{"type":"user","id":7,"name":"ops@acme.example"}}`,
		},
		{
			name:   "AppActor",
			action: "assigned",
			data:   json.RawMessage(`{ "a" : 1 }`),
			actor:  webhook.AppActor("6f1a9c3e-2b7d-4e58-9a0c-3d5b8e7f1a24", "acme-pager"),
			want:   `{"action":"assigned","installation":{"uuid":"` + uuid + `"},"data":{"a":1},"actor":{"type":"application","id":"6f1a9c3e-2b7d-4e58-9a0c-3d5b8e7f1a24","name":"acme-pager"}}`,
		},
		{
			name:   "NilData",
			action: "deleted",
			data:   nil,
			actor:  webhook.SentryActor,
			want:   `{"action":"deleted","installation":{"uuid":"` + uuid + `"},"data":{},"actor":{"type":"application","id":"sentry","name":"Sentry"}}`,
		},
		{
			name:   "HTMLNotEscaped",
			action: "created",
			data:   map[string]string{"comment": "<b>a & b</b>"},
			actor:  webhook.SentryActor,
			want:   `{"action":"created","installation":{"uuid":"` + uuid + `"},"data":{"comment":"<b>a & b</b>"},"actor":{"type":"application","id":"sentry","name":"Sentry"}}`,
		},
		{
			name:   "RawDataNotEscaped",
			action: "created",
			data:   json.RawMessage(`{"comment":"<b>&</b>"}`),
			actor:  webhook.SentryActor,
			want:   `{"action":"created","installation":{"uuid":"` + uuid + `"},"data":{"comment":"<b>&</b>"},"actor":{"type":"application","id":"sentry","name":"Sentry"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := webhook.AppBody(tt.action, uuid, tt.data, tt.actor)
			if err != nil {
				t.Fatalf("AppBody: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("body =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestAppBodyError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data any
	}{
		{"Channel", map[string]any{"c": make(chan int)}},
		{"Func", func() {}},
		{"InvalidRaw", json.RawMessage(`{"a":`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := webhook.AppBody("created", "u", tt.data, webhook.SentryActor)
			if err == nil {
				t.Fatalf("AppBody = %s, want an error", got)
			}
			if !strings.Contains(err.Error(), "encode created app body") {
				t.Errorf("error = %q, want it to name what failed", err)
			}
		})
	}
}
