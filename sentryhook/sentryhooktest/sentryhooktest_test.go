package sentryhooktest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/herald-dev/herald/sentryhook"
	"github.com/herald-dev/herald/sentryhook/sentryhooktest"
)

func TestPayload(t *testing.T) {
	t.Parallel()
	events := sentryhooktest.Events()
	if len(events) != 18 {
		t.Fatalf("%d events, want 18", len(events))
	}
	for _, event := range events {
		t.Run(event, func(t *testing.T) {
			t.Parallel()
			b, err := sentryhooktest.Payload(event)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := json.Compact(&buf, b); err != nil || !bytes.Equal(buf.Bytes(), b) {
				t.Fatalf("payload is not compact JSON: %v", err)
			}
		})
	}
	t.Run("ErrUnknown", func(t *testing.T) {
		t.Parallel()
		for _, event := range []string{"issue.archived", "", "../sentryhooktest.go", "payloads"} {
			if _, err := sentryhooktest.Payload(event); err == nil || !strings.Contains(err.Error(), "issue.created") {
				t.Fatalf("Payload(%q) err = %v, want one listing the events", event, err)
			}
		}
	})
}

func TestNewRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		event string
		want  []string
		not   []string
	}{
		{event: "event.alert", want: []string{"X-Sentry-Hook-Signature", "X-Servicehook-Signature", "X-Servicehook-Timestamp", "X-Servicehook-Guid"}, not: []string{"Sentry-Hook-Resource", "Sentry-Hook-Signature"}},
		{event: "metric_alert.open", want: []string{"Sentry-Hook-Resource", "Sentry-Hook-Timestamp", "Sentry-Hook-Signature"}, not: []string{"X-Servicehook-Signature"}},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			t.Parallel()
			body := sentryhooktest.MustPayload(tt.event)
			req := sentryhooktest.NewRequest("http://127.0.0.1:9000/hook", tt.event, "s", body)
			for _, k := range append(tt.want, "Content-Type", "Request-Id", "User-Agent") {
				if req.Header.Get(k) == "" {
					t.Errorf("no %s header", k)
				}
			}
			for _, k := range tt.not {
				if req.Header.Get(k) != "" {
					t.Errorf("unexpected %s header", k)
				}
			}
			if r := req.Header.Get("Sentry-Hook-Resource"); r != "" && r != "metric_alert" {
				t.Errorf("resource = %q", r)
			}
			got, _ := io.ReadAll(req.Body)
			if !bytes.Equal(got, body) {
				t.Fatal("body differs")
			}
			if err := sentryhook.VerifyHeader(req.Header, got, "s"); err != nil {
				t.Fatal(err)
			}
		})
	}
}
