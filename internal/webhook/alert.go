package webhook

import (
	"cmp"

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
			data := EventAlertData(event, IssueAlert{ID: r.ID, Title: r.Name, SentryAppID: cmp.Or(inst.AppID, inst.App.ID), Settings: a["settings"]})
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
	Event         rawJSON    `json:"event"`
	TriggeredRule string     `json:"triggered_rule"`
	IssueAlert    issueAlert `json:"issue_alert"`
}

// IssueAlert names the issue alert rule and the action of it that sent an
// event_alert.triggered.
type IssueAlert struct {
	// ID is the rule's id and Title its name.
	ID    int64
	Title string
	// SentryAppID is the id of the app the action targets.
	SentryAppID int64
	// Settings are the action's settings as stored: a list of
	// {"name", "value"} objects, or nil.
	Settings any
}

// issueAlert is the "issue_alert" object of event_alert.triggered, keys in
// the order Sentry sends them.
type issueAlert struct {
	ID          int64  `json:"id"`
	Title       string `json:"title"`
	SentryAppID int64  `json:"sentry_app_id"`
	Settings    []any  `json:"settings"`
}

// rawJSON is JSON inserted as it is.
type rawJSON []byte

// MarshalJSON returns r.
func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

// EventAlertData returns the compact JSON "data" of event_alert.triggered:
// {"event": event, "triggered_rule": rule name, "issue_alert": {"id",
// "title", "sentry_app_id", "settings"}}, where event is the error object of
// error.created. Sentry sends "issue_alert" only to apps that offer an alert
// rule action; Herald sends it every time, so that a receiver can tell the
// rule by its id. Settings that are not a list are sent as an empty list.
func EventAlertData(event []byte, alert IssueAlert) []byte {
	settings, _ := alert.Settings.([]any)
	if settings == nil {
		settings = []any{}
	}
	return mustEncode(eventAlertData{Event: rawJSON(event), TriggeredRule: alert.Title,
		IssueAlert: issueAlert{ID: alert.ID, Title: alert.Title, SentryAppID: alert.SentryAppID, Settings: settings}})
}
