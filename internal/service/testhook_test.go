package service_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/storetest"
	"github.com/herald-dev/herald/internal/webhook"
)

func TestSendTestEvent(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]storetest.Opener{"SQLite": storetest.OpenSQLite, "Postgres": storetest.OpenPostgres} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testSendTestEvent(t, open)
		})
	}
}

// testBody is what a test delivery's body says.
type testBody struct {
	ID              string   `json:"id"`
	Project         string   `json:"project"`
	URL             string   `json:"url"`
	Message         string   `json:"message"`
	TriggeringRules []string `json:"triggering_rules"`
	Event           struct {
		EventID string `json:"event_id"`
		Level   string `json:"level"`
	} `json:"event"`
}

// testSendTestEvent checks that a test delivery is built, signed, written
// and handed over like a real one, and what is refused.
func testSendTestEvent(t *testing.T, open storetest.Opener) {
	ctx := context.Background()
	tests := []struct {
		name string
		// setup returns the project and hook id to send to.
		setup     func(t *testing.T, f *fixture) (int64, string)
		wantCode  string
		wantEvent string
		wantRules []string
	}{
		{
			name: "EventCreated",
			setup: func(t *testing.T, f *fixture) (int64, string) {
				return f.Project.ID, f.Hook(t, "https://example.com/both", herald.HookEventCreated, herald.HookEventAlert).ID
			},
			wantEvent: herald.HookEventCreated, wantRules: []string{},
		},
		{
			name: "EventAlertOnly",
			setup: func(t *testing.T, f *fixture) (int64, string) {
				return f.Project.ID, f.Hook(t, "https://example.com/alerts", herald.HookEventAlert).ID
			},
			wantEvent: herald.HookEventAlert, wantRules: []string{"Herald test alert"},
		},
		{
			name: "ErrDisabled",
			setup: func(t *testing.T, f *fixture) (int64, string) {
				h := f.Hook(t, "https://example.com/off", herald.HookEventCreated)
				off := herald.HookDisabled
				_, err := f.Store.UpdateHook(ctx, f.Project.ID, h.ID, herald.HookUpdate{Status: &off})
				must(t, err)
				return f.Project.ID, h.ID
			},
			wantCode: herald.EINVALID,
		},
		{
			name: "ErrNotFound",
			setup: func(t *testing.T, f *fixture) (int64, string) {
				return f.Project.ID, "0123456789abcdef0123456789abcdef"
			},
			wantCode: herald.ENOTFOUND,
		},
		{
			name: "ErrOtherProject",
			setup: func(t *testing.T, f *fixture) (int64, string) {
				other := &herald.Project{OrganizationID: f.Org.ID, TeamID: f.Team.ID, Slug: "api", Name: "API"}
				must(t, f.Store.CreateProject(ctx, other))
				return other.ID, f.Hook(t, "https://example.com/h", herald.HookEventCreated).ID
			},
			wantCode: herald.ENOTFOUND,
		},
		{
			name: "ErrNoFeature",
			setup: func(t *testing.T, f *fixture) (int64, string) {
				h := f.Hook(t, "https://example.com/h", herald.HookEventCreated)
				_, err := f.Store.UpdateProject(ctx, f.Project.ID, herald.ProjectUpdate{Features: &[]string{}})
				must(t, err)
				return f.Project.ID, h.ID
			},
			wantCode: herald.EFORBIDDEN,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &dispatcher{}
			f := newFixture(t, open, d)
			projectID, hookID := tt.setup(t, f)
			got, err := f.Changes.SendTestEvent(ctx, projectID, hookID)
			if tt.wantCode != "" {
				wantCode(t, err, tt.wantCode)
				if ds := f.DeliveriesTo(t, herald.DestinationHook, hookID); len(ds) != 0 || len(d.take()) != 0 {
					t.Fatalf("refused test wrote %d deliveries", len(ds))
				}
				return
			}
			must(t, err)
			h, err := f.Store.FindHookByID(ctx, projectID, hookID)
			must(t, err)
			stored := f.DeliveriesTo(t, herald.DestinationHook, hookID)
			if len(stored) != 1 || stored[0].ID != got.ID || stored[0].Event != tt.wantEvent || stored[0].Status != herald.DeliveryPending {
				t.Fatalf("stored %+v, returned %+v", stored, got)
			}
			if stored[0].Signature != webhook.Sign(h.Secret, stored[0].Body) {
				t.Fatal("the test delivery is not signed with the hook's secret")
			}
			if handed := d.take(); len(handed) != 1 || handed[0].ID != got.ID || handed[0].URL != h.URL {
				t.Fatalf("handed over %+v", handed)
			}
			var body testBody
			must(t, json.Unmarshal(stored[0].Body, &body))
			if body.ID != "0" || body.Project != "web" || body.Message == "" || body.Event.Level != "info" ||
				len(body.Event.EventID) != 32 || !slices.Equal(body.TriggeringRules, tt.wantRules) {
				t.Fatalf("body %s", stored[0].Body)
			}
			// Each test is a new event: receivers that deduplicate on the
			// event id take it.
			again, err := f.Changes.SendTestEvent(ctx, projectID, hookID)
			must(t, err)
			var body2 testBody
			must(t, json.Unmarshal(again.Body, &body2))
			if again.ID == got.ID || body2.Event.EventID == body.Event.EventID {
				t.Fatalf("second test reused ids: %s %s", again.ID, body2.Event.EventID)
			}
		})
	}
}
