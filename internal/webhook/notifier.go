package webhook

import (
	"time"

	"github.com/herald-dev/herald"
)

// Notifier builds the Service Hook and Sentry App deliveries of changes. It
// does no I/O: the service calls it inside the transaction that writes the
// change.
type Notifier struct {
	// BaseURL is the public URL of the Herald server, the root of the web
	// URLs in payloads, such as "https://herald.example.com".
	BaseURL string
	// Clock tells the time when a change carries none; nil means
	// herald.SystemClock.
	Clock herald.Clock
}

// EventSaved returns one event.created delivery per active hook of c that
// subscribes to event.created. All of them carry the same body, built once;
// each is signed with its hook's secret. A project without the servicehooks
// feature gets none, and so does a change missing its project, issue or event.
//
// It also returns the Sentry App deliveries of the change to c's
// installations: error.created to those subscribed to errors, and to those
// subscribed to issues issue.created when the event opened its issue, or
// issue.unresolved when it regressed it (both with Herald as the actor).
func (n *Notifier) EventSaved(c *EventChange) []*herald.Delivery {
	ds := n.hookDeliveries(c, EventCreated, nil)
	if c == nil || len(c.Installations) == 0 || c.Project == nil || c.Issue == nil || c.Event == nil {
		return ds
	}
	now := n.changeTime(c.Now)
	if c.IssueCreated || c.IssueRegressed {
		event := IssueCreated
		if !c.IssueCreated {
			event = IssueUnresolved
		}
		ds = n.appDeliveries(ds, c.Installations, event, c.Project, func() []byte {
			return IssueData(event, c.Project, c.Issue, n.BaseURL)
		}, SentryActor, now)
	}
	return n.appDeliveries(ds, c.Installations, ErrorCreated, c.Project, func() []byte {
		return ErrorData(c.Project, c.Issue, c.Event, n.BaseURL)
	}, SentryActor, now)
}

// AlertDeliveries returns one event.alert delivery per active hook of c that
// subscribes to event.alert, for the alert rules named by rules that fired on
// c's event. Deliveries share one body, as in EventSaved.
func (n *Notifier) AlertDeliveries(c *EventChange, rules []string) []*herald.Delivery {
	return n.hookDeliveries(c, EventAlert, rules)
}

// hookDeliveries builds the deliveries of a Service Hook event to the hooks
// of c that subscribe to it.
func (n *Notifier) hookDeliveries(c *EventChange, event string, rules []string) []*herald.Delivery {
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
			// The hooks given are the project's active ones.
			URL:               h.URL,
			DestinationActive: h.Status == herald.HookActive,
		})
		ds = append(ds, &all[len(all)-1])
	}
	return ds
}

// IssueChanged returns the delivery of c.Event (issue.resolved, .ignored,
// .unresolved or .assigned) to each of c's installations subscribed to
// issues.
func (n *Notifier) IssueChanged(c *IssueChange) []*herald.Delivery {
	if c == nil || c.Project == nil || c.Issue == nil || Resource(c.Event) != ResourceIssue {
		return nil
	}
	return n.appDeliveries(nil, c.Installations, c.Event, c.Project, func() []byte {
		return IssueData(c.Event, c.Project, c.Issue, n.BaseURL)
	}, ActorOf(c.Actor), n.changeTime(c.Now))
}

// CommentChanged returns the delivery of c.Event (comment.created, .updated
// or .deleted) to each of c's installations subscribed to comments.
func (n *Notifier) CommentChanged(c *CommentChange) []*herald.Delivery {
	if c == nil || c.Project == nil || c.Comment == nil || Resource(c.Event) != ResourceComment {
		return nil
	}
	return n.appDeliveries(nil, c.Installations, c.Event, c.Project, func() []byte {
		return CommentData(c.Project, c.Comment)
	}, ActorOf(c.Actor), n.changeTime(c.Now))
}

// InstallationChanged returns the delivery of c.Event (installation.created
// or .deleted) to the installation itself, whatever resources its app
// subscribes to, as Sentry sends them, provided the app has a webhook URL.
func (n *Notifier) InstallationChanged(c *InstallationChange) []*herald.Delivery {
	if c == nil {
		return nil
	}
	inst := c.Installation
	if inst == nil || inst.App == nil || inst.Organization == nil || inst.App.WebhookURL == "" ||
		Resource(c.Event) != ResourceInstallation {
		return nil
	}
	body := NewAppPayload(c.Event, InstallationData(inst), ActorOf(c.Actor)).Body(inst.UUID)
	return []*herald.Delivery{appDelivery(inst, 0, c.Event, body, n.changeTime(c.Now))}
}

// appDelivery is the delivery of event to an installation, with its body
// signed with the app's client secret; projectID is 0 for events of the
// organization.
func appDelivery(inst *herald.Installation, projectID int64, event string, body []byte, now time.Time) *herald.Delivery {
	return &herald.Delivery{
		ID:              herald.NewTimeID(now),
		DestinationKind: herald.DestinationApp,
		DestinationID:   inst.UUID,
		ProjectID:       projectID,
		OrganizationID:  inst.OrganizationID,
		Event:           event,
		Resource:        Resource(event),
		Body:            body,
		Signature:       Sign(inst.App.ClientSecret, body),
		Timestamp:       now.Unix(),
		Status:          herald.DeliveryPending,
		NextAttemptAt:   now,
		CreatedAt:       now,
		UpdatedAt:       now,
	}
}

// appDeliveries appends to ds one delivery of event to each installation
// whose app subscribes to the event's resource. Each delivery has its
// destination's URL, state and headers, from the installation and its
// App, which the caller loads whole (as the store's installation queries
// do). The data is built (by
// data) once, only when some installation subscribes; each installation's
// body is spliced around it and signed with its app's client secret.
func (n *Notifier) appDeliveries(ds []*herald.Delivery, installs []*herald.Installation, event string, p *herald.Project,
	data func() []byte, actor Actor, now time.Time) []*herald.Delivery {
	resource := Resource(event)
	var payload *AppPayload
	for _, inst := range installs {
		if inst == nil || inst.App == nil || inst.OrganizationID != p.OrganizationID || !inst.App.Subscribes(resource) {
			continue
		}
		if payload == nil {
			payload = NewAppPayload(event, data(), actor)
		}
		d := appDelivery(inst, p.ID, event, payload.Body(inst.UUID), now)
		// The installations given are installed and their apps loaded
		// whole: the delivery can be handed to a dispatcher as it is
		// written, as a Service Hook's is.
		d.URL, d.DestinationActive, d.AppHeaders = inst.App.WebhookURL, inst.Status == herald.InstallationInstalled, inst.App.WebhookHeaders
		ds = append(ds, d)
	}
	return ds
}

// changeTime returns now, or the clock's time when now is zero.
func (n *Notifier) changeTime(now time.Time) time.Time {
	if now.IsZero() {
		return n.now()
	}
	return now
}

// now returns the Notifier's clock time.
func (n *Notifier) now() time.Time {
	if n.Clock == nil {
		return herald.SystemClock.Now()
	}
	return n.Clock.Now()
}
