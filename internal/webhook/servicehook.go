package webhook

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/herald-dev/herald"
)

// serviceHookBody is the body of event.created and event.alert deliveries.
// Its fields are the seed's keys in the seed's order.
type serviceHookBody struct {
	ID              string           `json:"id"`
	Project         string           `json:"project"`
	ProjectName     string           `json:"project_name"`
	Culprit         string           `json:"culprit"`
	URL             string           `json:"url"`
	Message         string           `json:"message"`
	TriggeringRules []string         `json:"triggering_rules"`
	Event           serviceHookEvent `json:"event"`
}

// serviceHookEvent is the "event" object of a Service Hook body.
type serviceHookEvent struct {
	EventID  string      `json:"event_id"`
	Level    string      `json:"level"`
	Tags     [][2]string `json:"tags"`
	Platform string      `json:"platform"`
	Datetime string      `json:"datetime"`
}

// ServiceHookBody returns the compact JSON body of a Service Hook delivery
// about event ev of issue is in project p (none may be nil). triggeringRules
// are the names of the alert rules that fired: nil for event.created, which
// sends an empty list.
//
// The url is the issue's web page under baseURL; it names the organization by
// p.Organization's slug, or by p.OrganizationID when the organization is not
// loaded. The message is the event's message, or its title when the message
// is empty.
func ServiceHookBody(p *herald.Project, is *herald.Issue, ev *herald.Event, baseURL string, triggeringRules []string) []byte {
	issueID := strconv.FormatInt(is.ID, 10)
	if triggeringRules == nil {
		triggeringRules = []string{}
	}
	tags := make([][2]string, len(ev.Tags))
	for i, t := range ev.Tags {
		tags[i] = [2]string{t.Key, t.Value}
	}
	body := serviceHookBody{
		ID:              issueID,
		Project:         p.Slug,
		ProjectName:     p.Name,
		Culprit:         firstNonEmpty(is.Culprit, ev.Culprit),
		URL:             IssueWebURL(baseURL, p, issueID),
		Message:         firstNonEmpty(ev.Message, ev.Title, is.Title),
		TriggeringRules: triggeringRules,
		Event: serviceHookEvent{
			EventID:  ev.ID,
			Level:    ev.Level,
			Tags:     tags,
			Platform: ev.Platform,
			Datetime: herald.FormatTime(ev.Timestamp),
		},
	}
	b, err := encode(body)
	if err != nil {
		// Only strings and lists of strings are encoded; this cannot fail.
		panic("webhook: encode service hook body: " + err.Error())
	}
	return b
}

// IssueWebURL returns the web page of an issue of project p under baseURL:
// <baseURL>/organizations/<org slug>/issues/<issue id>/. The organization is
// named by p.Organization's slug, or by p.OrganizationID when it is not
// loaded.
func IssueWebURL(baseURL string, p *herald.Project, issueID string) string {
	org := strconv.FormatInt(p.OrganizationID, 10)
	if p.Organization != nil && p.Organization.Slug != "" {
		org = p.Organization.Slug
	}
	return strings.TrimRight(baseURL, "/") + "/organizations/" + url.PathEscape(org) + "/issues/" + url.PathEscape(issueID) + "/"
}

// firstNonEmpty returns the first of ss that is not empty.
func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
