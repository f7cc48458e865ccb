package api_test

import (
	"testing"

	"github.com/herald-dev/herald/internal/webhook"
)

// TestHookTestEvent sends a test event through the API: it is in the
// hook's delivery log, signed with its secret; a disabled hook gets 400
// and a token without project:write 403.
func TestHookTestEvent(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	const hooks = "/api/0/projects/acme/web/hooks/"
	var h hookBody
	ts.must(t, 201, "POST", hooks, map[string]any{"url": "https://example.com/h", "events": []string{"event.created"}}).JSON(t, &h)
	hook := hooks + h.ID + "/"

	_, reader := ts.member(t, "reader@acme.example", "project:read")
	tests := []struct {
		name       string
		token      string
		before     func(t *testing.T)
		wantStatus int
	}{
		{name: "OK", token: superToken, wantStatus: 202},
		{name: "ErrReadOnly", token: reader, wantStatus: 403},
		{name: "ErrDisabled", token: superToken, before: func(t *testing.T) {
			ts.must(t, 200, "PUT", hook, map[string]any{"status": "disabled"})
		}, wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before(t)
			}
			res := ts.do(t, "POST", hook+"test/", tt.token, nil)
			if res.Status != tt.wantStatus {
				t.Fatalf("status %d %s, want %d", res.Status, res.Body, tt.wantStatus)
			}
			if tt.wantStatus != 202 {
				return
			}
			var d deliveryBody
			res.JSON(t, &d)
			if d.Event != "event.created" || d.Status != "pending" || d.RequestID != d.ID {
				t.Fatalf("delivery %+v", d)
			}
			var list []deliveryBody
			ts.must(t, 200, "GET", hook+"deliveries/", nil).JSON(t, &list)
			if len(list) != 1 || list[0].ID != d.ID {
				t.Fatalf("delivery log %+v", list)
			}
			stored, err := ts.Store.FindDeliveryByID(t.Context(), d.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.Signature != webhook.Sign(*h.Secret, stored.Body) {
				t.Fatal("test delivery not signed with the hook's secret")
			}
		})
	}
}
