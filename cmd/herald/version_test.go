package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/herald-dev/herald/internal/buildinfo"
)

func TestVersion(t *testing.T) {
	t.Parallel()
	want := buildinfo.Read()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"Text", []string{"version"}, want.String() + "\n"},
		{"Flag", []string{"--version"}, want.String() + "\n"},
		{"JSON", []string{"version", "--json"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			if err := Run(context.Background(), tt.args, &stdout, &stderr, func(string) string { return "" }); err != nil {
				t.Fatalf("Run: %v (stderr %s)", err, stderr.String())
			}
			if tt.want != "" {
				if stdout.String() != tt.want {
					t.Fatalf("stdout = %q, want %q", stdout.String(), tt.want)
				}
				return
			}
			var got buildinfo.Info
			dec := json.NewDecoder(&stdout)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("--json = %+v, want %+v", got, want)
			}
		})
	}
	t.Run("ErrUnexpectedArgument", func(t *testing.T) {
		t.Parallel()
		err := Run(context.Background(), []string{"version", "extra"}, &bytes.Buffer{}, &bytes.Buffer{}, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), `unexpected argument "extra"`) {
			t.Fatalf("err = %v", err)
		}
	})
}
