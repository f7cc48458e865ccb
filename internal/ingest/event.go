package ingest

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/herald-dev/herald"
)

// Field bounds. Longer values are cut, never refused.
const (
	maxTagKey      = 200
	maxTagValue    = 200
	maxTags        = 200
	maxMessage     = 8 << 10
	maxTitle       = 200
	maxCulprit     = 200
	maxType        = 200
	maxValue       = 1024
	maxEnvironment = 64
	maxRelease     = 200
	maxExceptions  = 64
	maxDataKeys    = 200
	maxFutureSkew  = time.Minute
	maxPastSkew    = 30 * 24 * time.Hour
	unlabeledTitle = "<unlabeled event>"
)

// ParseEvent parses one event as an SDK sends it (the body of a store
// request or the payload of an envelope's event item) and normalizes it.
// received is when Herald accepted the event: it becomes Received, and the
// Timestamp when the event has none or one more than a minute ahead of it or
// more than 30 days behind. ProjectID and IssueID are left for the caller.
// Bad input gets an EINVALID error that says what is wrong.
func ParseEvent(payload []byte, received time.Time) (*herald.Event, error) {
	return parseEvent(payload, "", received)
}

// parseEvent is ParseEvent with the id to use when the event has none (the
// envelope header's).
func parseEvent(payload []byte, fallbackID string, received time.Time) (*herald.Event, error) {
	received = received.UTC().Truncate(time.Microsecond)
	ev, err := decodeEvent(payload, received)
	if err != nil {
		return nil, err
	}
	if ev.id == "" {
		ev.id = fallbackID
	}
	if ev.id == "" {
		ev.id = herald.NewID()
	}
	e := &herald.Event{
		ID:          ev.id,
		Timestamp:   ev.timestamp,
		Received:    received,
		Level:       ev.level,
		Platform:    ev.platform,
		Message:     ev.message(),
		Title:       ev.title(),
		Culprit:     ev.culprit(),
		Environment: ev.environment,
		Release:     ev.release,
		Tags:        ev.allTags(),
		UserKey:     ev.userKey(),
	}
	if ex := ev.lastException(); ex != nil {
		e.Type = clean(string(ex.Type), maxType)
		e.Value = clean(string(ex.Value), maxValue)
	}
	if e.Message == "" {
		// Sentry sends "" for an event without a log message; the
		// reference payloads show the title, which is what a reader wants.
		e.Message = e.Title
	}
	e.GroupHash = ev.groupHash(e.Title)
	e.Data = ev.appendData(make([]byte, 0, len(payload)+1024), e)
	return e, nil
}

// sdkEvent holds what Herald reads of an SDK event.
type sdkEvent struct {
	// fields are the event's top-level keys as sent.
	fields map[string]json.RawMessage

	id          string
	timestamp   time.Time
	level       string
	platform    string
	formatted   string // the log message as formatted
	template    string // the log message template, "" when not sent
	logentry    bool   // fields["logentry"] is an object kept as sent
	exceptions  []sdkException
	excRaw      []json.RawMessage
	explicit    string // the culprit field
	transaction string
	environment string
	release     string
	dist        string
	serverName  string
	url         string
	sdkTags     []herald.Tag
	user        sdkUser
	fingerprint []text
	contexts    sdkContexts
}

// sdkException is one value of an event's exception list.
type sdkException struct {
	Type       text            `json:"type"`
	Value      text            `json:"value"`
	Stacktrace json.RawMessage `json:"stacktrace"`
	Mechanism  *struct {
		Type    text `json:"type"`
		Handled flag `json:"handled"`
	} `json:"mechanism"`

	frames []sdkFrame
}

// sdkFrame is one stack frame, oldest first in its list.
type sdkFrame struct {
	Filename text `json:"filename"`
	AbsPath  text `json:"abs_path"`
	Module   text `json:"module"`
	Function text `json:"function"`
	InApp    flag `json:"in_app"`
}

// sdkUser is the user interface of an event.
type sdkUser struct {
	ID        text `json:"id"`
	Username  text `json:"username"`
	Email     text `json:"email"`
	IPAddress text `json:"ip_address"`
}

// sdkContexts holds the contexts Sentry turns into tags.
type sdkContexts struct {
	Browser *nameVersion `json:"browser"`
	OS      *nameVersion `json:"os"`
	Runtime *nameVersion `json:"runtime"`
}

type nameVersion struct {
	Name    text `json:"name"`
	Version text `json:"version"`
}

// logMessage is the object form of message and logentry.
type logMessage struct {
	Formatted text            `json:"formatted"`
	Message   text            `json:"message"`
	Params    json.RawMessage `json:"params"`
}

// text is a JSON scalar read as a string: a string as it is, a number or a
// boolean as spelled, anything else (null, objects, arrays) as "". SDKs
// disagree on such types (user ids, tag values), and Herald takes them all.
type text string

// UnmarshalJSON implements json.Unmarshaler.
func (t *text) UnmarshalJSON(b []byte) error {
	switch b[0] {
	case '"':
		if bytes.IndexByte(b, '\\') < 0 {
			*t = text(b[1 : len(b)-1])
			return nil
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text(s)
	case 'n', '{', '[':
		*t = ""
	default:
		*t = text(b)
	}
	return nil
}

// flag is a JSON boolean that may be absent or of another type (unset).
type flag int8

const (
	flagUnset flag = iota
	flagTrue
	flagFalse
)

// UnmarshalJSON implements json.Unmarshaler.
func (f *flag) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true":
		*f = flagTrue
	case "false":
		*f = flagFalse
	default:
		*f = flagUnset
	}
	return nil
}

// decodeEvent decodes an SDK event. Fields of an unexpected type are
// ignored, as Sentry does; only a payload that is not a JSON object or an
// event_id that is not an id is refused.
func decodeEvent(payload []byte, received time.Time) (*sdkEvent, error) {
	payload = sanitize(bytes.TrimSpace(payload))
	if len(payload) == 0 {
		return nil, herald.Errorf(herald.EINVALID, "invalid event: empty")
	}
	if payload[0] != '{' {
		return nil, herald.Errorf(herald.EINVALID, "invalid event: not a JSON object")
	}
	ev := &sdkEvent{}
	if err := json.Unmarshal(payload, &ev.fields); err != nil {
		return nil, herald.Errorf(herald.EINVALID, "invalid event: %s", jsonError(err))
	}
	f := ev.fields

	if raw := f["event_id"]; !isNull(raw) {
		s, ok, _ := stringValue(raw)
		if !ok {
			return nil, herald.Errorf(herald.EINVALID, "invalid event: event_id must be a string")
		}
		if s != "" {
			if ev.id, ok = normalizeID(s); !ok {
				return nil, herald.Errorf(herald.EINVALID, "invalid event: event_id %s is not a UUID", quoteTrunc(s))
			}
		}
	}
	ev.timestamp = eventTime(f["timestamp"], received)
	ev.level = normalizeLevel(string(textOf(f["level"])))
	ev.platform = normalizePlatform(string(textOf(f["platform"])))
	ev.decodeMessage()
	ev.decodeExceptions()
	ev.explicit = clean(string(textOf(f["culprit"])), maxCulprit)
	ev.transaction = clean(string(textOf(f["transaction"])), maxCulprit)
	ev.environment = clean(string(textOf(f["environment"])), maxEnvironment)
	ev.release = clean(string(textOf(f["release"])), maxRelease)
	ev.dist = clean(string(textOf(f["dist"])), maxEnvironment)
	ev.serverName = string(textOf(f["server_name"]))
	if raw := f["user"]; len(raw) > 0 && raw[0] == '{' {
		_ = json.Unmarshal(raw, &ev.user)
	}
	if raw := f["request"]; len(raw) > 0 && raw[0] == '{' {
		var req struct {
			URL text `json:"url"`
		}
		_ = json.Unmarshal(raw, &req)
		ev.url = string(req.URL)
	}
	if raw := f["contexts"]; len(raw) > 0 && raw[0] == '{' {
		if json.Unmarshal(raw, &ev.contexts) != nil {
			ev.contexts = sdkContexts{}
		}
	}
	if raw := f["fingerprint"]; len(raw) > 0 && raw[0] == '[' {
		if json.Unmarshal(raw, &ev.fingerprint) != nil {
			ev.fingerprint = nil
		}
	}
	ev.decodeTags()
	return ev, nil
}

// sanitize makes b valid UTF-8 and removes escaped NUL characters, which
// databases refuse in text, replacing both with U+FFFD.
func sanitize(b []byte) []byte {
	if !utf8.Valid(b) {
		b = bytes.ToValidUTF8(b, []byte("\uFFFD"))
	}
	if bytes.Contains(b, []byte(`\u0000`)) {
		b = bytes.ReplaceAll(b, []byte(`\u0000`), []byte(`\ufffd`))
	}
	return b
}

// textOf decodes a scalar raw value as text ("" for anything else).
func textOf(raw json.RawMessage) text {
	var t text
	if len(raw) > 0 {
		_ = t.UnmarshalJSON(raw)
	}
	return t
}

// decodeMessage reads the log message from logentry or message, each either
// a string or an object {formatted, message}.
func (ev *sdkEvent) decodeMessage() {
	read := func(raw json.RawMessage) (formatted, template string, object bool) {
		if len(raw) == 0 {
			return "", "", false
		}
		if raw[0] == '{' {
			var m logMessage
			if json.Unmarshal(raw, &m) != nil {
				return "", "", false
			}
			formatted, template = string(m.Formatted), string(m.Message)
			if formatted == "" {
				formatted = formatMessage(template, m.Params)
			}
			return formatted, template, true
		}
		return string(textOf(raw)), "", false
	}
	formatted, template, object := read(ev.fields["logentry"])
	ev.logentry = object
	if formatted == "" && template == "" {
		formatted, template, _ = read(ev.fields["message"])
	}
	ev.formatted = truncate(formatted, maxMessage)
	ev.template = truncate(template, maxMessage)
}

// formatMessage fills the printf-style placeholders of a log message
// template (%s, %d, %i, %f, %r; %% for a percent sign) with params, a JSON
// array, in order, as Sentry does with logentry.params. Placeholders without
// a param stay as they are.
func formatMessage(template string, params json.RawMessage) string {
	var args []text
	if len(params) == 0 || params[0] != '[' || json.Unmarshal(params, &args) != nil || len(args) == 0 {
		return template
	}
	if !strings.Contains(template, "%") {
		return template
	}
	var b strings.Builder
	b.Grow(len(template))
	for i := 0; i < len(template); i++ {
		c := template[i]
		if c != '%' || i+1 == len(template) {
			b.WriteByte(c)
			continue
		}
		switch verb := template[i+1]; verb {
		case '%':
			b.WriteByte('%')
			i++
		case 's', 'd', 'i', 'f', 'r':
			if len(args) == 0 {
				b.WriteByte(c)
				continue
			}
			b.WriteString(string(args[0]))
			args = args[1:]
			i++
		default:
			b.WriteByte(c)
		}
		if b.Len() > maxMessage {
			break
		}
	}
	return b.String()
}

// decodeExceptions reads the exception list: a bare array (sentry-go), an
// object {"values": [...]} (most SDKs) or a single exception object.
func (ev *sdkEvent) decodeExceptions() {
	raw := ev.fields["exception"]
	if len(raw) == 0 {
		return
	}
	var values []json.RawMessage
	switch raw[0] {
	case '[':
		_ = json.Unmarshal(raw, &values)
	case '{':
		var w struct {
			Values json.RawMessage `json:"values"`
		}
		if json.Unmarshal(raw, &w) != nil {
			return
		}
		if len(w.Values) > 0 && w.Values[0] == '[' {
			_ = json.Unmarshal(w.Values, &values)
		} else if len(w.Values) == 0 {
			values = []json.RawMessage{raw}
		}
	}
	if len(values) > maxExceptions {
		values = values[len(values)-maxExceptions:]
	}
	for _, v := range values {
		if len(v) == 0 || v[0] != '{' {
			continue
		}
		var ex sdkException
		if json.Unmarshal(v, &ex) != nil {
			continue
		}
		if len(ex.Stacktrace) > 0 && ex.Stacktrace[0] == '{' {
			var st struct {
				Frames []sdkFrame `json:"frames"`
			}
			if json.Unmarshal(ex.Stacktrace, &st) == nil {
				ex.frames = st.Frames
			}
		}
		ex.Stacktrace = nil
		if ex.Type == "" && ex.Value == "" && len(ex.frames) == 0 {
			continue
		}
		ev.exceptions = append(ev.exceptions, ex)
		ev.excRaw = append(ev.excRaw, v)
	}
}

// decodeTags reads tags, an object or a list of [key, value] pairs.
func (ev *sdkEvent) decodeTags() {
	raw := ev.fields["tags"]
	if len(raw) == 0 {
		return
	}
	add := func(k, v text) {
		key, value := cleanTagKey(string(k)), cleanTagValue(string(v))
		if key != "" && value != "" {
			ev.sdkTags = append(ev.sdkTags, herald.Tag{Key: key, Value: value})
		}
	}
	switch raw[0] {
	case '{':
		var m map[string]text
		if json.Unmarshal(raw, &m) != nil {
			return
		}
		for k, v := range m {
			add(text(k), v)
		}
	case '[':
		var pairs []json.RawMessage
		if json.Unmarshal(raw, &pairs) != nil {
			return
		}
		for _, p := range pairs {
			var kv []text
			if len(p) > 0 && p[0] == '[' && json.Unmarshal(p, &kv) == nil && len(kv) == 2 {
				add(kv[0], kv[1])
			}
		}
	}
}

// eventTime returns the event's timestamp: an RFC 3339 string or unix
// seconds (a number or a numeric string), in UTC to the microsecond. A
// missing or unreadable one, or one too far from received, is received.
func eventTime(raw json.RawMessage, received time.Time) time.Time {
	s := string(textOf(raw))
	if s == "" {
		return received
	}
	t, ok := parseUnix(s)
	if !ok {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
			var err error
			if t, err = time.Parse(layout, s); err == nil {
				ok = true
				break
			}
		}
	}
	if !ok {
		return received
	}
	t = t.UTC().Truncate(time.Microsecond)
	if t.After(received.Add(maxFutureSkew)) || t.Before(received.Add(-maxPastSkew)) {
		return received
	}
	return t
}

// parseUnix parses unix seconds with an optional fraction, exactly.
func parseUnix(s string) (time.Time, bool) {
	const maxSeconds = 1e11
	if strings.ContainsAny(s, "eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 || f > maxSeconds {
			return time.Time{}, false
		}
		sec := math.Floor(f)
		return time.Unix(int64(sec), int64((f-sec)*1e9)), true
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || whole[0] < '0' || whole[0] > '9' {
		return time.Time{}, false
	}
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || sec > maxSeconds {
		return time.Time{}, false
	}
	var nsec int64
	for i := range 9 {
		nsec *= 10
		if i < len(frac) {
			c := frac[i]
			if c < '0' || c > '9' {
				return time.Time{}, false
			}
			nsec += int64(c - '0')
		}
	}
	for i := 9; i < len(frac); i++ {
		if frac[i] < '0' || frac[i] > '9' {
			return time.Time{}, false
		}
	}
	return time.Unix(sec, nsec), true
}

// normalizeID returns a 32-hex or dashed UUID id as 32 lowercase hex.
func normalizeID(s string) (string, bool) {
	switch len(s) {
	case 32:
	case 36:
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return "", false
		}
		s = s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	default:
		return "", false
	}
	var b [32]byte
	for i := range 32 {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			c += 'a' - 'A'
		default:
			return "", false
		}
		b[i] = c
	}
	return string(b[:]), true
}

// normalizeLevel maps a level to one of herald.Levels, "error" by default.
func normalizeLevel(s string) string {
	switch s = strings.ToLower(strings.TrimSpace(s)); s {
	case "debug", "info", "warning", "error", "fatal":
		return s
	case "warn":
		return "warning"
	case "critical":
		return "fatal"
	case "log":
		return "info"
	case "trace":
		return "debug"
	}
	return "error"
}

// normalizePlatform returns the platform, "other" when it is missing or not
// a short lowercase token.
func normalizePlatform(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || len(s) > 64 {
		return "other"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "other"
		}
	}
	return s
}

// lastException returns the top-level exception (the last of the list), or
// nil.
func (ev *sdkEvent) lastException() *sdkException {
	if len(ev.exceptions) == 0 {
		return nil
	}
	return &ev.exceptions[len(ev.exceptions)-1]
}

// hasMessage reports whether the event carries a log message.
func (ev *sdkEvent) hasMessage() bool { return ev.formatted != "" || ev.template != "" }

// message returns the formatted log message.
func (ev *sdkEvent) message() string {
	if ev.formatted != "" {
		return ev.formatted
	}
	return ev.template
}

// title is Sentry's: "Type: value" of the top-level exception, else the
// first line of the message, else "<unlabeled event>".
func (ev *sdkEvent) title() string {
	if ex := ev.lastException(); ex != nil {
		typ, value := strings.TrimSpace(string(ex.Type)), firstLine(string(ex.Value))
		switch {
		case typ != "" && value != "":
			return clean(typ+": "+value, maxTitle)
		case typ != "":
			return clean(typ, maxTitle)
		case value != "":
			return clean(value, maxTitle)
		}
	}
	if l := firstLine(ev.message()); l != "" {
		return clean(l, maxTitle)
	}
	return unlabeledTitle
}

// culprit is the culprit field, else the transaction, else the location of
// the frame where the top-level exception was raised: its last in-app frame,
// or its last frame when none is in-app.
func (ev *sdkEvent) culprit() string {
	if ev.explicit != "" {
		return ev.explicit
	}
	if ev.transaction != "" {
		return ev.transaction
	}
	ex := ev.lastException()
	if ex == nil || len(ex.frames) == 0 {
		return ""
	}
	frame := &ex.frames[len(ex.frames)-1]
	for i := len(ex.frames) - 1; i >= 0; i-- {
		if ex.frames[i].InApp == flagTrue {
			frame = &ex.frames[i]
			break
		}
	}
	loc, fn := frame.location(), strings.TrimSpace(string(frame.Function))
	switch {
	case loc != "" && fn != "":
		return clean(loc+" in "+fn, maxCulprit)
	case loc != "":
		return clean(loc, maxCulprit)
	}
	return clean(fn, maxCulprit)
}

// location is where a frame's code lives: its module, else its file name,
// else its absolute path.
func (f *sdkFrame) location() string {
	for _, s := range []text{f.Module, f.Filename, f.AbsPath} {
		if s := strings.TrimSpace(string(s)); s != "" {
			return s
		}
	}
	return ""
}

// userKey identifies the event's user as Sentry's user tag does: "id:42",
// "username:jane", "email:jane@example.com" or "ip:203.0.113.7".
func (ev *sdkEvent) userKey() string {
	u := &ev.user
	for _, p := range []struct {
		prefix string
		value  text
	}{{"id:", u.ID}, {"username:", u.Username}, {"email:", u.Email}, {"ip:", u.IPAddress}} {
		if v := strings.TrimSpace(string(p.value)); v != "" && v != "{{auto}}" {
			return cleanTagValue(p.prefix + v)
		}
	}
	return ""
}

// allTags returns the SDK's tags plus those Sentry derives from the event,
// sorted by key. The event's level, environment, release, dist and user
// replace tags the SDK set with those keys; the others (server_name,
// transaction, url, mechanism, handled and the browser, os and runtime
// contexts) fill in only what the SDK did not set.
func (ev *sdkEvent) allTags() []herald.Tag {
	tags := make([]herald.Tag, 0, len(ev.sdkTags)+12)
	add := func(k, v string) {
		if v = cleanTagValue(v); v != "" {
			tags = append(tags, herald.Tag{Key: k, Value: v})
		}
	}
	add("level", ev.level)
	add("environment", ev.environment)
	add("release", ev.release)
	if ev.release != "" {
		add("dist", ev.dist)
	}
	add("user", ev.userKey())
	for i := len(ev.sdkTags) - 1; i >= 0; i-- {
		tags = append(tags, ev.sdkTags[i])
	}
	add("server_name", ev.serverName)
	add("transaction", ev.transaction)
	add("url", ev.url)
	if ex := ev.lastException(); ex != nil && ex.Mechanism != nil {
		add("mechanism", string(ex.Mechanism.Type))
		switch ex.Mechanism.Handled {
		case flagTrue:
			add("handled", "yes")
		case flagFalse:
			add("handled", "no")
		}
	}
	for _, c := range []struct {
		key string
		nv  *nameVersion
	}{{"browser", ev.contexts.Browser}, {"os", ev.contexts.OS}, {"runtime", ev.contexts.Runtime}} {
		if c.nv == nil || strings.TrimSpace(string(c.nv.Name)) == "" {
			continue
		}
		name := strings.TrimSpace(string(c.nv.Name))
		add(c.key, strings.TrimSpace(name+" "+strings.TrimSpace(string(c.nv.Version))))
		add(c.key+".name", name)
	}
	// Stable sort keeps, for each key, the first tag added: the derived
	// value that replaces, else the SDK's last, else the derived fill-in.
	slices.SortStableFunc(tags, func(a, b herald.Tag) int { return strings.Compare(a.Key, b.Key) })
	tags = slices.CompactFunc(tags, func(a, b herald.Tag) bool { return a.Key == b.Key })
	if len(tags) > maxTags {
		tags = tags[:maxTags]
	}
	return slices.Clip(tags)
}

// cleanTagKey bounds a tag key.
func cleanTagKey(s string) string { return clean(s, maxTagKey) }

// cleanTagValue bounds a tag value, which holds one line.
func cleanTagValue(s string) string {
	if strings.ContainsAny(s, "\r\n\t") {
		s = strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == '\t' {
				return ' '
			}
			return r
		}, s)
	}
	return clean(s, maxTagValue)
}

// clean trims s and cuts it to at most n bytes on a rune boundary.
func clean(s string, n int) string {
	return strings.TrimSpace(truncate(strings.TrimSpace(s), n))
}

// truncate cuts s to at most n bytes without splitting a rune.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// firstLine returns the first non-blank line of s, trimmed.
func firstLine(s string) string {
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return ""
}
