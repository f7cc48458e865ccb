package webhook

import (
	"github.com/herald-dev/herald"
)

// sentryAppAction is the id of the issue alert action that notifies a
// Sentry App installation.
const sentryAppAction = "sentry.rules.actions.notify_event_sentry_app.NotifyEventSentryAppAction"

// RulesFired returns the deliveries of issue alert rules firing for c's
// event: one event.alert to each of c's hooks subscribed to it, naming every
// rule in triggering_rules, and, for each rule action that targets an
// installation of installs in the project's organization, one
// event_alert.triggered to that installation, signed with its app's secret.
func (n *Notifier) RulesFired(c *EventChange, rules []*herald.AlertRule, installs map[string]*herald.Installation) []*herald.Delivery {
	if c == nil || c.Project == nil || c.Issue == nil || c.Event == nil || len(rules) == 0 {
		return nil
	}
	names := make([]string, len(rules))
	for i, r := range rules {
		names[i] = r.Name
	}
	ds := n.AlertDeliveries(c, names)
	now := n.changeTime(c.Now)
	var event []byte
	for _, r := range rules {
		sent := map[string]bool{}
		for _, a := range r.Actions {
			if a.ID() != sentryAppAction {
				continue
			}
			uuid, _ := a["sentryAppInstallationUuid"].(string)
			inst := installs[uuid]
			if inst == nil || inst.App == nil || inst.OrganizationID != c.Project.OrganizationID || inst.App.WebhookURL == "" || sent[uuid] {
				continue
			}
			sent[uuid] = true
			if event == nil {
				event = eventAlertEvent(c.Project, c.Issue, c.Event, n.BaseURL)
			}
			data := EventAlertData(event, r.Name, a["settings"])
			body := NewAppPayload(EventAlertTriggered, data, SentryActor).Body(uuid)
			ds = append(ds, appDelivery(inst, c.Project.ID, EventAlertTriggered, body, now))
		}
	}
	return ds
}

// eventAlertEvent returns the "event" object of event_alert.triggered: the
// "error" object of error.created.
func eventAlertEvent(p *herald.Project, is *herald.Issue, ev *herald.Event, baseURL string) []byte {
	data := ErrorData(p, is, ev, baseURL)
	// ErrorData is {"error":<object>}.
	return data[len(`{"error":`) : len(data)-1]
}

// eventAlertData is the data of event_alert.triggered.
type eventAlertData struct {
	Event         rawJSON     `json:"event"`
	TriggeredRule string      `json:"triggered_rule"`
	IssueAlert    *issueAlert `json:"issue_alert,omitempty"`
}

// issueAlert describes the rule to apps whose action carries settings.
type issueAlert struct {
	Title    string `json:"title"`
	Settings any    `json:"settings"`
}

// rawJSON is JSON inserted as it is.
type rawJSON []byte

// MarshalJSON returns r.
func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

// EventAlertData returns the compact JSON "data" of event_alert.triggered:
// {"event": event, "triggered_rule": rule}, where event is the error object
// of error.created, and "issue_alert" with the rule name and the action's
// settings when the action has any.
func EventAlertData(event []byte, rule string, settings any) []byte {
	d := eventAlertData{Event: rawJSON(event), TriggeredRule: rule}
	if list, ok := settings.([]any); ok && len(list) > 0 {
		d.IssueAlert = &issueAlert{Title: rule, Settings: list}
	}
	return mustEncode(d)
}
