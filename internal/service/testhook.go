package service

import (
	"context"
	"slices"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/sqlstore"
	"github.com/herald-dev/herald/internal/webhook"
)

// Contents of the sample event a test delivery carries.
const (
	// testEventTitle is the title and message of the sample event.
	testEventTitle = "This is a test event sent by Herald to check this Service Hook."
	// testEventCulprit is the sample event's culprit.
	testEventCulprit = "herald in send_test_event"
	// testEventRule is the triggering rule of a test event.alert.
	testEventRule = "Herald test alert"
	// testIssueID is the id of the sample event's issue: no issue has it.
	testIssueID = 0
)

// SendTestEvent writes one delivery of a sample event to a project's active
// Service Hook and returns it; see herald.ChangeService. The body is built
// and signed by the same code as a real event's: event.created, or
// event.alert (triggered by "Herald test alert") for a hook subscribed to
// alerts only. The sample event has a new id each time, an issue id of 0,
// level info and the tag environment=test; nothing else is written.
//
// A hook that is disabled is refused (EINVALID): the dispatcher would fail
// its delivery without trying it. So is a project without the servicehooks
// feature (EFORBIDDEN), as the Service Hook routes refuse it.
func (s *Service) SendTestEvent(ctx context.Context, projectID int64, hookID string) (*herald.Delivery, error) {
	// Read before the transaction: the store may have a single connection.
	h, err := s.store.FindHookByID(ctx, projectID, hookID)
	if err != nil {
		return nil, err
	}
	if h.Status != herald.HookActive {
		return nil, herald.Errorf(herald.EINVALID, "This hook is disabled: enable it to send a test event.")
	}
	var sent *herald.Delivery
	err = s.inTx(ctx, func(tx *sqlstore.Tx, out *outbox) error {
		projects, err := tx.Projects(ctx, []int64{projectID})
		if err != nil {
			return err
		}
		p := projects[projectID]
		if p == nil {
			return herald.Errorf(herald.ENOTFOUND, "project not found")
		}
		if !p.HasFeature(herald.FeatureServiceHooks) {
			return herald.Errorf(herald.EFORBIDDEN, "Service Hooks are not enabled for this project.")
		}
		hooks, err := tx.ActiveHooks(ctx, []int64{projectID})
		if err != nil {
			return err
		}
		i := slices.IndexFunc(hooks[projectID], func(x *herald.Hook) bool { return x.ID == hookID })
		if i < 0 {
			// Disabled or deleted since it was read.
			return herald.Errorf(herald.EINVALID, "This hook is disabled: enable it to send a test event.")
		}
		c := testEventChange(p, hooks[projectID][i], s.clock.Now().UTC())
		var ds []*herald.Delivery
		if c.Hooks[0].Subscribes(herald.HookEventCreated) {
			ds = s.webhooks.EventSaved(c)
		} else {
			ds = s.webhooks.AlertDeliveries(c, []string{testEventRule})
		}
		if len(ds) != 1 {
			return herald.Errorf(herald.EINVALID, "This hook subscribes to no event a test can be sent as.")
		}
		sent = ds[0]
		return s.write(ctx, tx, out, ds)
	})
	if err != nil {
		return nil, err
	}
	return sent, nil
}

// testEventChange is the change a test delivery to h is built from: a
// sample event of project p at now, in an issue that does not exist.
func testEventChange(p *herald.Project, h *herald.Hook, now time.Time) *webhook.EventChange {
	platform := p.Platform
	if platform == "" {
		platform = "other"
	}
	ev := &herald.Event{
		ID: herald.NewID(), ProjectID: p.ID, IssueID: testIssueID, Timestamp: now, Received: now,
		Level: "info", Platform: platform, Message: testEventTitle, Title: testEventTitle, Culprit: testEventCulprit,
		Tags: []herald.Tag{{Key: "environment", Value: "test"}, {Key: "level", Value: "info"}},
	}
	is := &herald.Issue{
		ID: testIssueID, ProjectID: p.ID, Title: ev.Title, Culprit: ev.Culprit, Level: ev.Level,
		Status: herald.IssueUnresolved, Platform: platform, FirstSeen: now, LastSeen: now, Count: 1,
	}
	return &webhook.EventChange{Project: p, Event: ev, Issue: is, Hooks: []*herald.Hook{h}, Now: now}
}
