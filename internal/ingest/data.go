package ingest

import (
	"slices"
	"strconv"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/jsontext"
)

// dataKeys are the top-level keys of Data that Herald writes itself rather
// than keeping the SDK's value, sorted.
var dataKeys = []string{"culprit", "datetime", "environment", "event_id", "exception",
	"level", "logentry", "message", "metadata", "platform", "received",
	"release", "tags", "timestamp", "title", "type"}

// isDataKey reports whether k is one of dataKeys.
func isDataKey(k string) bool {
	_, ok := slices.BinarySearch(dataKeys, k)
	return ok
}

// hasDataKey reports whether the Data of e carries the key k of dataKeys.
func (ev *sdkEvent) hasDataKey(k string, e *herald.Event) bool {
	switch k {
	case "environment":
		return e.Environment != ""
	case "release":
		return e.Release != ""
	case "exception":
		return len(ev.excRaw) > 0
	case "logentry":
		// A logentry the SDK sent is kept; one is made up only to keep a
		// template that came in the message field, which Data replaces
		// with the formatted text.
		return ev.logentry || ev.template != ""
	}
	return true
}

// appendData appends the normalized event e as compact JSON with its keys
// sorted: the SDK's fields as sent (at most maxDataKeys of them), with the
// fields Herald normalizes replaced by their normalized values.
func (ev *sdkEvent) appendData(b []byte, e *herald.Event) []byte {
	// Merge the SDK's keys (sorted, bounded) with Herald's (sorted).
	keys := make([]string, 0, len(ev.fields)+len(dataKeys))
	sdkKeys := 0
	j := 0
	for _, f := range ev.fields {
		if isDataKey(f.key) || sdkKeys == maxDataKeys {
			continue
		}
		for ; j < len(dataKeys) && dataKeys[j] < f.key; j++ {
			if ev.hasDataKey(dataKeys[j], e) {
				keys = append(keys, dataKeys[j])
			}
		}
		keys = append(keys, f.key)
		sdkKeys++
	}
	for ; j < len(dataKeys); j++ {
		if ev.hasDataKey(dataKeys[j], e) {
			keys = append(keys, dataKeys[j])
		}
	}

	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsontext.AppendString(b, k)
		b = append(b, ':')
		if !isDataKey(k) {
			b = jsontext.AppendCompact(b, ev.field(k))
			continue
		}
		switch k {
		case "culprit":
			b = jsontext.AppendString(b, e.Culprit)
		case "datetime":
			b = jsontext.AppendString(b, herald.FormatTime(e.Timestamp))
		case "environment":
			b = jsontext.AppendString(b, e.Environment)
		case "event_id":
			b = jsontext.AppendString(b, e.ID)
		case "exception":
			b = append(b, `{"values":[`...)
			for j, raw := range ev.excRaw {
				if j > 0 {
					b = append(b, ',')
				}
				b = jsontext.AppendCompact(b, raw)
			}
			b = append(b, "]}"...)
		case "level":
			b = jsontext.AppendString(b, e.Level)
		case "logentry":
			if ev.logentry {
				b = jsontext.AppendCompact(b, ev.field("logentry"))
				break
			}
			b = append(b, `{"formatted":`...)
			b = jsontext.AppendString(b, ev.formatted)
			if ev.template != "" {
				b = append(b, `,"message":`...)
				b = jsontext.AppendString(b, ev.template)
			}
			b = append(b, '}')
		case "message":
			b = jsontext.AppendString(b, e.Message)
		case "metadata":
			if len(ev.exceptions) > 0 {
				b = append(b, `{"type":`...)
				b = jsontext.AppendString(b, e.Type)
				b = append(b, `,"value":`...)
				b = jsontext.AppendString(b, e.Value)
			} else {
				b = append(b, `{"title":`...)
				b = jsontext.AppendString(b, e.Title)
			}
			b = append(b, '}')
		case "platform":
			b = jsontext.AppendString(b, e.Platform)
		case "received":
			b = appendUnix(b, e.Received)
		case "release":
			b = jsontext.AppendString(b, e.Release)
		case "tags":
			b = jsontext.AppendPairs(b, e.Tags, herald.Tag.Pair)
		case "timestamp":
			b = appendUnix(b, e.Timestamp)
		case "title":
			b = jsontext.AppendString(b, e.Title)
		case "type":
			if len(ev.exceptions) > 0 {
				b = append(b, `"error"`...)
			} else {
				b = append(b, `"default"`...)
			}
		}
	}
	return append(b, '}')
}

// appendUnix appends t as unix seconds with up to six decimals, as Sentry
// writes timestamps ("1705320000.0", "1705320000.482").
func appendUnix(b []byte, t time.Time) []byte {
	sec, usec := t.Unix(), t.Nanosecond()/1000
	if sec < 0 {
		return strconv.AppendFloat(b, float64(t.UnixMicro())/1e6, 'f', -1, 64)
	}
	b = strconv.AppendInt(b, sec, 10)
	b = append(b, '.')
	if usec == 0 {
		return append(b, '0')
	}
	var digits [6]byte
	for i := 5; i >= 0; i-- {
		digits[i] = byte('0' + usec%10)
		usec /= 10
	}
	n := 6
	for digits[n-1] == '0' {
		n--
	}
	return append(b, digits[:n]...)
}
