package webhook

import (
	"bytes"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/jsontext"
)

// appendServiceHookHead appends the start of the body of event.created and
// event.alert deliveries, its object left open: the seed's keys in the
// seed's order, with the legacy webhooks plugin's project_slug after
// project_name. The "event" object, then the plugin's "logger" and "level",
// follow it.
func appendServiceHookHead(b []byte, p *herald.Project, is *herald.Issue, ev *herald.Event, issueID, baseURL string, triggeringRules []string) []byte {
	b = appendKey(b, '{', "id", issueID)
	b = appendKey(b, ',', "project", p.Slug)
	b = appendKey(b, ',', "project_name", p.Name)
	b = appendKey(b, ',', "project_slug", p.Slug)
	b = appendKey(b, ',', "culprit", firstNonEmpty(is.Culprit, ev.Culprit))
	b = appendKey(b, ',', "url", IssueWebURL(baseURL, p, issueID))
	b = appendKey(b, ',', "message", firstNonEmpty(ev.Message, ev.Title, is.Title))
	b = append(b, `,"triggering_rules":[`...)
	for i, r := range triggeringRules {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsontext.AppendString(b, r)
	}
	return append(b, ']')
}

// appendServiceHookEvent appends the head of the "event" object of a
// Service Hook body as a whole object: the seed's keys in the seed's
// order, then the plugin's "id". The rest of the stored event is spliced
// into it.
func appendServiceHookEvent(b []byte, ev *herald.Event) []byte {
	b = appendKey(b, '{', "event_id", ev.ID)
	b = appendKey(b, ',', "level", ev.Level)
	b = append(b, `,"tags":`...)
	b = jsontext.AppendPairs(b, ev.Tags, herald.Tag.Pair)
	b = appendKey(b, ',', "platform", ev.Platform)
	b = appendKey(b, ',', "datetime", herald.FormatTime(ev.Timestamp))
	b = appendKey(b, ',', "id", ev.ID)
	return append(b, '}')
}

// appendKey appends sep, the member name key (which needs no escaping)
// and the JSON string value.
func appendKey(b []byte, sep byte, key, value string) []byte {
	b = append(b, sep, '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return jsontext.AppendString(b, value)
}

// serviceHookEventKeys are the keys appendServiceHookEvent writes, which the
// stored event's own members of those names give way to.
var serviceHookEventKeys = []string{"event_id", "level", "tags", "platform", "datetime", "id"}

// ServiceHookBody returns the compact JSON body of a Service Hook delivery
// about event ev of issue is in project p (none may be nil). triggeringRules
// are the names of the alert rules that fired: nil for event.created, which
// sends an empty list.
//
// The body has the seed's keys in the seed's order, plus the keys of Sentry's
// legacy webhooks plugin: project_slug, logger (the event's "logger" tag,
// else the logger the SDK sent, else "") and level. Its "event" holds the
// seed's event_id, level, tags, platform and datetime, then "id" (the event
// id again, as the plugin sends it), then every other member of the stored
// event (ev.Data) in its order; an event without stored data, or whose data
// is not a JSON object, gets the fields Herald keeps in columns instead.
//
// The url is the issue's web page under baseURL; it names the organization by
// p.Organization's slug, or by p.OrganizationID when the organization is not
// loaded. The message is the event's message, or its title when the message
// is empty.
func ServiceHookBody(p *herald.Project, is *herald.Issue, ev *herald.Event, baseURL string, triggeringRules []string) []byte {
	issueID := strconv.FormatInt(is.ID, 10)
	logger, hasLoggerTag := "", false
	for _, t := range ev.Tags {
		if t.Key == "logger" {
			logger, hasLoggerTag = t.Value, true
			break
		}
	}
	eventHead := appendServiceHookEvent(nil, ev)
	// One buffer: the body's head, the event spliced into it, the tail.
	stored := bytes.TrimSpace(ev.Data)
	b := make([]byte, 0, len(eventHead)+len(stored)+len(logger)+len(ev.Level)+len(baseURL)+512)
	b = appendServiceHookHead(b, p, is, ev, issueID, baseURL, triggeringRules)
	b = append(b, `,"event":`...)
	// Stored data is checked whole once, so the members spliced from it
	// need no second look: a stored event that looked like an object but
	// is not valid JSON gives way to the columns.
	withEvent, sdkLogger, ok := b, "", false
	if gjson.ValidBytes(stored) {
		withEvent, sdkLogger, ok = appendStoredMembers(b, eventHead, stored)
	}
	if !ok {
		withEvent, sdkLogger, _ = appendStoredMembers(b, eventHead, fallbackEventData(ev))
	}
	b = withEvent
	if !hasLoggerTag {
		logger = sdkLogger
	}
	b = appendKey(b, ',', "logger", logger)
	b = appendKey(b, ',', "level", ev.Level)
	return append(b, '}')
}

// appendStoredMembers appends to dst the event object head (compact JSON)
// with the members of the stored event data added, except those named by
// serviceHookEventKeys, and returns it with the SDK's logger when data has
// a string "logger". It reports false, returning dst as it was, when data
// is not a JSON object. Values are compacted, not validated: data must be
// valid JSON.
func appendStoredMembers(dst, head, data []byte) (out []byte, logger string, ok bool) {
	out = append(dst, head[:len(head)-1]...)
	ok = objectMembers(data, func(key, value gjson.Result) {
		if slices.Contains(serviceHookEventKeys, key.Str) {
			return
		}
		if key.Str == "logger" && value.Type == gjson.String {
			logger = value.Str
		}
		out = append(out, ',')
		out = append(out, key.Raw...)
		out = append(out, ':')
		out = jsontext.AppendCompact(out, value.Raw)
	})
	if !ok {
		return dst, "", false
	}
	return append(out, '}'), logger, true
}

// objectMembers calls fn with each top-level member of the JSON object
// data, in order (key.Str unquoted, key.Raw and value.Raw as they are in
// data), and reports whether data is an object. data must be valid JSON.
func objectMembers(data []byte, fn func(key, value gjson.Result)) bool {
	r := gjson.ParseBytes(data)
	if !r.IsObject() {
		return false
	}
	r.ForEach(func(key, value gjson.Result) bool {
		fn(key, value)
		return true
	})
	return true
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
