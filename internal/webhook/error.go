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

// errorLinkKeys are the keys ErrorData adds to the stored event.
var errorLinkKeys = []string{"project", "url", "web_url", "issue_url", "issue_id"}

// ErrorData returns the compact JSON "data" of error.created about event ev
// of issue is in project p: {"error": Event}, where Event is the stored
// event (ev.Data) followed by "project" (the numeric project id), "url" (its
// API URL), "web_url", "issue_url" and "issue_id" (a string).
//
// The stored event, a JSON object as ingest writes it, is copied as it is,
// not re-encoded or validated: this is a byte splice unless the event
// itself carries one of the added keys, which is then dropped from it. An
// event without stored data gets the fields Herald keeps in columns.
func ErrorData(p *herald.Project, is *herald.Issue, ev *herald.Event, baseURL string) []byte {
	issueID := strconv.FormatInt(is.ID, 10)
	base := strings.TrimRight(baseURL, "/")
	org := url.PathEscape(orgSlug(p))

	stored := bytes.TrimSpace(ev.Data)
	if !isObject(stored) {
		stored = fallbackEventData(ev)
	} else if hasAnyKey(stored, errorLinkKeys) {
		stored = withoutKeys(stored, errorLinkKeys)
	}

	b := make([]byte, 0, len(stored)+len(base)*3+256)
	b = append(b, `{"error":`...)
	b = append(b, stored[:len(stored)-1]...)
	if len(bytes.TrimSpace(stored[1:len(stored)-1])) > 0 {
		b = append(b, ',')
	}
	b = append(b, `"project":`...)
	b = strconv.AppendInt(b, p.ID, 10)
	b = appendKey(b, ',', "url", base+"/api/0/projects/"+org+"/"+url.PathEscape(p.Slug)+"/events/"+url.PathEscape(ev.ID)+"/")
	b = appendKey(b, ',', "web_url", base+"/organizations/"+org+"/issues/"+issueID+"/events/"+url.PathEscape(ev.ID)+"/")
	b = appendKey(b, ',', "issue_url", IssueAPIURL(baseURL, p, issueID))
	b = appendKey(b, ',', "issue_id", issueID)
	return append(b, "}}"...)
}

// isObject reports whether b looks like one JSON object.
func isObject(b []byte) bool {
	return len(b) >= 2 && b[0] == '{' && b[len(b)-1] == '}'
}

// hasAnyKey reports whether data may hold one of keys as a member name. It
// looks for the quoted key followed by a colon anywhere, so it may find
// nested members too; withoutKeys then settles it.
func hasAnyKey(data []byte, keys []string) bool {
	for _, k := range keys {
		i := 0
		for {
			j := bytes.Index(data[i:], []byte(`"`+k+`"`))
			if j < 0 {
				break
			}
			i += j + len(k) + 2
			rest := bytes.TrimLeft(data[i:], " \t\r\n")
			if len(rest) > 0 && rest[0] == ':' {
				return true
			}
		}
	}
	return false
}

// withoutKeys returns the JSON object data without its top-level members
// named by keys, other members kept in order and as they were (compacted),
// or data itself when it has none of them (hasAnyKey also finds nested
// members: a request's "url" is the common case). Data that is not a valid
// object is returned as an empty object.
func withoutKeys(data []byte, keys []string) []byte {
	if !gjson.ValidBytes(data) {
		return []byte("{}")
	}
	found := false
	if !objectMembers(data, func(key, _ gjson.Result) { found = found || slices.Contains(keys, key.Str) }) {
		return []byte("{}")
	}
	if !found {
		return data
	}
	out := make([]byte, 1, len(data))
	out[0] = '{'
	objectMembers(data, func(key, value gjson.Result) {
		if slices.Contains(keys, key.Str) {
			return
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, key.Raw...) // valid JSON: checked above
		out = append(out, ':')
		out = jsontext.AppendCompact(out, value.Raw)
	})
	return append(out, '}')
}

// fallbackEvent is the event of error.created when the stored event is
// missing: the fields Herald keeps in columns.
type fallbackEvent struct {
	EventID     string      `json:"event_id"`
	Level       string      `json:"level"`
	Platform    string      `json:"platform"`
	Message     string      `json:"message"`
	Title       string      `json:"title"`
	Culprit     string      `json:"culprit"`
	Datetime    string      `json:"datetime"`
	Environment string      `json:"environment,omitempty"`
	Release     string      `json:"release,omitempty"`
	Tags        [][2]string `json:"tags"`
}

// fallbackEventData builds an event object from ev's columns.
func fallbackEventData(ev *herald.Event) []byte {
	tags := make([][2]string, len(ev.Tags))
	for i, t := range ev.Tags {
		tags[i] = [2]string{t.Key, t.Value}
	}
	return mustEncode(fallbackEvent{
		EventID: ev.ID, Level: ev.Level, Platform: ev.Platform, Message: ev.Message, Title: ev.Title,
		Culprit: ev.Culprit, Datetime: herald.FormatTime(ev.Timestamp), Environment: ev.Environment,
		Release: ev.Release, Tags: tags,
	})
}
