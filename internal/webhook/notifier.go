package webhook

import (
	"time"

	"github.com/herald-dev/herald"
)

// Notifier builds the Service Hook deliveries of saved events. It does no
// I/O, so stores can call it inside the transaction that saves the events.
type Notifier struct {
	// BaseURL is the public URL of the Herald server, the root of the web
	// URLs in payloads, such as "https://herald.example.com".
	BaseURL string
	// Clock tells the time when a change carries none; nil means
	// herald.SystemClock.
	Clock herald.Clock
}

var _ herald.Notifier = (*Notifier)(nil)

// EventSaved returns one event.created delivery per active hook of c that
// subscribes to event.created. All of them carry the same body, built once;
// each is signed with its hook's secret. A project without the servicehooks
// feature gets none, and so does a change missing its project, issue or event.
func (n *Notifier) EventSaved(c *herald.EventChange) []*herald.Delivery {
	return n.hookDeliveries(c, EventCreated, nil)
}

// AlertDeliveries returns one event.alert delivery per active hook of c that
// subscribes to event.alert, for the alert rules named by rules that fired on
// c's event. Deliveries share one body, as in EventSaved.
func (n *Notifier) AlertDeliveries(c *herald.EventChange, rules []string) []*herald.Delivery {
	return n.hookDeliveries(c, EventAlert, rules)
}

// hookDeliveries builds the deliveries of a Service Hook event to the hooks
// of c that subscribe to it.
func (n *Notifier) hookDeliveries(c *herald.EventChange, event string, rules []string) []*herald.Delivery {
	if c == nil || c.Project == nil || c.Issue == nil || c.Event == nil {
		return nil
	}
	if !c.Project.HasFeature(herald.FeatureServiceHooks) {
		return nil
	}
	count := 0
	for _, h := range c.Hooks {
		if h != nil && h.Subscribes(event) {
			count++
		}
	}
	if count == 0 {
		return nil
	}

	now := c.Now
	if now.IsZero() {
		now = n.now()
	}
	body := ServiceHookBody(c.Project, c.Issue, c.Event, n.BaseURL, rules)

	// One allocation for all deliveries: an event may fan out to many hooks.
	all := make([]herald.Delivery, 0, count)
	ds := make([]*herald.Delivery, 0, count)
	for _, h := range c.Hooks {
		if h == nil || !h.Subscribes(event) {
			continue
		}
		all = append(all, herald.Delivery{
			ID:              herald.NewTimeID(now),
			DestinationKind: herald.DestinationHook,
			DestinationID:   h.ID,
			ProjectID:       c.Project.ID,
			OrganizationID:  c.Project.OrganizationID,
			Event:           event,
			Body:            body,
			Signature:       Sign(h.Secret, body),
			Timestamp:       now.Unix(),
			Status:          herald.DeliveryPending,
			NextAttemptAt:   now,
			CreatedAt:       now,
			UpdatedAt:       now,
		})
		ds = append(ds, &all[len(all)-1])
	}
	return ds
}

// now returns the Notifier's clock time.
func (n *Notifier) now() time.Time {
	if n.Clock == nil {
		return herald.SystemClock.Now()
	}
	return n.Clock.Now()
}
