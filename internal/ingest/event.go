package ingest

import (
	"bytes"
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
		UserKey:     ev.userKeyText,
	}
	if ex := ev.lastException(); ex != nil {
		e.Type = clean(ex.Type, maxType)
		e.Value = clean(ex.Value, maxValue)
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

// sdkEvent holds what Herald reads of an SDK event. Raw values alias the
// payload.
type sdkEvent struct {
	// fields are the event's top-level members as sent, sorted by key,
	// each key once (the last one sent wins).
	fields []member

	id          string
	timestamp   time.Time
	level       string
	platform    string
	formatted   string // the log message as formatted
	template    string // the log message template, "" when not sent
	logentry    bool   // the logentry field is an object, kept as sent
	exceptions  []sdkException
	excRaw      [][]byte // the exceptions as sent
	explicit    string   // the culprit field
	transaction string
	environment string
	release     string
	dist        string
	serverName  string
	url         string
	sdkTags     []herald.Tag
	userKeyText string
	fingerprint []string
	contexts    [3]nameVersion // browser, os, runtime
}

// member is one member of a JSON object.
type member struct {
	key   string
	value []byte
}

// sdkException is one value of an event's exception list.
type sdkException struct {
	Type      string
	Value     string
	mechanism string
	handled   flag
	frames    []sdkFrame
}

// sdkFrame is one stack frame, oldest first in its list.
type sdkFrame struct {
	Filename string
	AbsPath  string
	Module   string
	Function string
	InApp    flag
}

// nameVersion is a context Sentry turns into tags.
type nameVersion struct {
	name    string
	version string
}

// contextTags are the contexts that become tags, in sdkEvent.contexts order.
var contextTags = [3]string{"browser", "os", "runtime"}

// flag is a JSON boolean that may be absent or of another type (unset).
type flag int8

const (
	flagUnset flag = iota
	flagTrue
	flagFalse
)

// flagOf reads a raw JSON value as a flag.
func flagOf(raw []byte) flag {
	switch string(raw) {
	case "true":
		return flagTrue
	case "false":
		return flagFalse
	}
	return flagUnset
}

// decodeEvent decodes an SDK event. Fields of an unexpected type are
// ignored, as Sentry does; only a payload that is not a JSON object or an
// event_id that is not an id is refused.
func decodeEvent(payload []byte, received time.Time) (*sdkEvent, error) {
	payload = sanitize(bytes.TrimSpace(payload))
	if len(payload) == 0 {
		return nil, herald.Errorf(herald.EINVALID, "invalid event: empty")
	}
	if err := checkObject(payload); err != nil {
		return nil, herald.Errorf(herald.EINVALID, "invalid event: %s", err)
	}
	ev := &sdkEvent{fields: sortedMembers(payload)}

	if raw := ev.field("event_id"); len(raw) > 0 && raw[0] != 'n' {
		if raw[0] != '"' {
			return nil, herald.Errorf(herald.EINVALID, "invalid event: event_id must be a string")
		}
		if s := unquote(raw); s != "" {
			var ok bool
			if ev.id, ok = normalizeID(s); !ok {
				return nil, herald.Errorf(herald.EINVALID, "invalid event: event_id %s is not a UUID", quoteTrunc(s))
			}
		}
	}
	ev.timestamp = eventTime(ev.field("timestamp"), received)
	ev.level = normalizeLevel(textOf(ev.field("level")))
	ev.platform = normalizePlatform(textOf(ev.field("platform")))
	ev.decodeMessage()
	ev.decodeExceptions()
	ev.explicit = clean(textOf(ev.field("culprit")), maxCulprit)
	ev.transaction = clean(textOf(ev.field("transaction")), maxCulprit)
	ev.environment = clean(textOf(ev.field("environment")), maxEnvironment)
	ev.release = clean(textOf(ev.field("release")), maxRelease)
	ev.dist = clean(textOf(ev.field("dist")), maxEnvironment)
	ev.serverName = textOf(ev.field("server_name"))
	ev.userKeyText = userKey(ev.field("user"))
	for k, v := range members(ev.field("request")) {
		if string(k) == "url" {
			ev.url = textOf(v)
		}
	}
	for k, v := range members(ev.field("contexts")) {
		for i, name := range contextTags {
			if string(k) != name {
				continue
			}
			var nv nameVersion
			for k2, v2 := range members(v) {
				switch string(k2) {
				case "name":
					nv.name = strings.TrimSpace(textOf(v2))
				case "version":
					nv.version = strings.TrimSpace(textOf(v2))
				}
			}
			ev.contexts[i] = nv
		}
	}
	if fp := ev.field("fingerprint"); isArray(fp) {
		ev.fingerprint = []string{}
		for v := range elements(fp) {
			ev.fingerprint = append(ev.fingerprint, textOf(v))
		}
	}
	ev.decodeTags()
	return ev, nil
}

// sortedMembers returns the members of a valid JSON object sorted by key,
// each key once: the last one, as encoding/json decodes duplicates.
func sortedMembers(obj []byte) []member {
	ms := make([]member, 0, 32)
	for k, v := range members(obj) {
		ms = append(ms, member{internKey(k), v})
	}
	cmp := func(a, b member) int { return strings.Compare(a.key, b.key) }
	slices.SortFunc(ms, cmp)
	dup := false
	for i := 1; i < len(ms) && !dup; i++ {
		dup = ms[i].key == ms[i-1].key
	}
	if !dup {
		return ms
	}
	// Rare: sort again from the sent order, stably, and keep the last.
	ms = ms[:0]
	for k, v := range members(obj) {
		ms = append(ms, member{internKey(k), v})
	}
	slices.SortStableFunc(ms, cmp)
	for i := len(ms) - 1; i > 0; i-- {
		if ms[i].key == ms[i-1].key {
			ms = slices.Delete(ms, i-1, i)
		}
	}
	return ms
}

// knownKeys are top-level event keys SDKs send, kept as strings to spare an
// allocation per key.
var knownKeys = map[string]string{}

func init() {
	for _, k := range []string{"breadcrumbs", "contexts", "culprit", "debug_meta", "dist",
		"environment", "event_id", "exception", "extra", "fingerprint", "level",
		"logentry", "logger", "message", "modules", "platform", "release",
		"request", "sdk", "server_name", "tags", "threads", "timestamp",
		"transaction", "transaction_info", "type", "user"} {
		knownKeys[k] = k
	}
}

// internKey returns a raw key of members as a string.
func internKey(k []byte) string {
	if s, ok := knownKeys[string(k)]; ok {
		return s
	}
	return unquoteKey(k)
}

// field returns the raw value of a top-level field, nil when absent.
func (ev *sdkEvent) field(key string) []byte {
	i, ok := slices.BinarySearchFunc(ev.fields, key, func(m member, k string) int { return strings.Compare(m.key, k) })
	if !ok {
		return nil
	}
	return ev.fields[i].value
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

// decodeMessage reads the log message from logentry or message, each either
// a string or an object {formatted, message, params}.
func (ev *sdkEvent) decodeMessage() {
	read := func(raw []byte) (formatted, template string, object bool) {
		if !isObject(raw) {
			return textOf(raw), "", false
		}
		var params []byte
		for k, v := range members(raw) {
			switch string(k) {
			case "formatted":
				formatted = textOf(v)
			case "message":
				template = textOf(v)
			case "params":
				params = v
			}
		}
		if formatted == "" {
			formatted = formatMessage(template, params)
		}
		return formatted, template, true
	}
	formatted, template, object := read(ev.field("logentry"))
	ev.logentry = object
	if formatted == "" && template == "" {
		formatted, template, _ = read(ev.field("message"))
	}
	ev.formatted = truncate(formatted, maxMessage)
	ev.template = truncate(template, maxMessage)
}

// formatMessage fills the printf-style placeholders of a log message
// template (%s, %d, %i, %f, %r; %% for a percent sign) with params, a JSON
// array, in order, as Sentry does with logentry.params. Placeholders without
// a param stay as they are.
func formatMessage(template string, params []byte) string {
	if !isArray(params) || !strings.Contains(template, "%") {
		return template
	}
	var args []string
	for v := range elements(params) {
		args = append(args, textOf(v))
	}
	if len(args) == 0 {
		return template
	}
	var b strings.Builder
	b.Grow(len(template))
	for i := 0; i < len(template) && b.Len() <= maxMessage; i++ {
		c := template[i]
		if c != '%' || i+1 == len(template) {
			b.WriteByte(c)
			continue
		}
		switch template[i+1] {
		case '%':
			b.WriteByte('%')
			i++
		case 's', 'd', 'i', 'f', 'r':
			if len(args) == 0 {
				b.WriteByte(c)
				continue
			}
			b.WriteString(args[0])
			args = args[1:]
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// decodeExceptions reads the exception list: a bare array (sentry-go), an
// object {"values": [...]} (most SDKs) or a single exception object.
func (ev *sdkEvent) decodeExceptions() {
	raw := ev.field("exception")
	if isObject(raw) {
		var values []byte
		for k, v := range members(raw) {
			if string(k) == "values" {
				values = v
			}
		}
		if values == nil {
			ev.addException(raw)
			return
		}
		raw = values
	}
	var values [][]byte
	for v := range elements(raw) {
		values = append(values, v)
	}
	if len(values) > maxExceptions {
		values = values[len(values)-maxExceptions:]
	}
	for _, v := range values {
		ev.addException(v)
	}
}

// addException decodes one exception object, if it says anything.
func (ev *sdkEvent) addException(raw []byte) {
	if !isObject(raw) {
		return
	}
	var ex sdkException
	for k, v := range members(raw) {
		switch string(k) {
		case "type":
			ex.Type = textOf(v)
		case "value":
			ex.Value = textOf(v)
		case "mechanism":
			for k2, v2 := range members(v) {
				switch string(k2) {
				case "type":
					ex.mechanism = textOf(v2)
				case "handled":
					ex.handled = flagOf(v2)
				}
			}
		case "stacktrace":
			for k2, v2 := range members(v) {
				if string(k2) != "frames" {
					continue
				}
				ex.frames = ex.frames[:0]
				for f := range elements(v2) {
					if isObject(f) {
						ex.frames = append(ex.frames, decodeFrame(f))
					}
				}
			}
		}
	}
	if ex.Type == "" && ex.Value == "" && len(ex.frames) == 0 {
		return
	}
	ev.exceptions = append(ev.exceptions, ex)
	ev.excRaw = append(ev.excRaw, raw)
}

// decodeFrame decodes a stack frame object.
func decodeFrame(raw []byte) sdkFrame {
	var f sdkFrame
	for k, v := range members(raw) {
		switch string(k) {
		case "filename":
			f.Filename = textOf(v)
		case "abs_path":
			f.AbsPath = textOf(v)
		case "module":
			f.Module = textOf(v)
		case "function":
			f.Function = textOf(v)
		case "in_app":
			f.InApp = flagOf(v)
		}
	}
	return f
}

// decodeTags reads tags, an object or a list of [key, value] pairs.
func (ev *sdkEvent) decodeTags() {
	add := func(k, v string) {
		if k, v = cleanTagKey(k), cleanTagValue(v); k != "" && v != "" {
			ev.sdkTags = append(ev.sdkTags, herald.Tag{Key: k, Value: v})
		}
	}
	raw := ev.field("tags")
	for k, v := range members(raw) {
		add(unquoteKey(k), textOf(v))
	}
	for pair := range elements(raw) {
		var kv [2]string
		n := 0
		for v := range elements(pair) {
			if n < 2 {
				kv[n] = textOf(v)
			}
			n++
		}
		if n == 2 {
			add(kv[0], kv[1])
		}
	}
}

// eventTime returns the event's timestamp: an RFC 3339 string or unix
// seconds (a number or a numeric string), in UTC to the microsecond. A
// missing or unreadable one, or one too far from received, is received.
func eventTime(raw []byte, received time.Time) time.Time {
	s := textOf(raw)
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
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
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
		typ, value := strings.TrimSpace(ex.Type), firstLine(ex.Value)
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
	loc, fn := frame.location(), strings.TrimSpace(frame.Function)
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
	for _, s := range []string{f.Module, f.Filename, f.AbsPath} {
		if s := strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}

// userKey identifies the user of an event's user object as Sentry's user
// tag does: "id:42", "username:jane", "email:jane@example.com" or
// "ip:203.0.113.7", the first the object has. An ip_address of "{{auto}}"
// (the client's address, which browser SDKs ask for) does not count.
func userKey(user []byte) string {
	var id, username, email, ip string
	for k, v := range members(user) {
		switch string(k) {
		case "id":
			id = strings.TrimSpace(textOf(v))
		case "username":
			username = strings.TrimSpace(textOf(v))
		case "email":
			email = strings.TrimSpace(textOf(v))
		case "ip_address":
			ip = strings.TrimSpace(textOf(v))
		}
	}
	switch {
	case id != "":
		return cleanTagValue("id:" + id)
	case username != "":
		return cleanTagValue("username:" + username)
	case email != "":
		return cleanTagValue("email:" + email)
	case ip != "" && ip != "{{auto}}":
		return cleanTagValue("ip:" + ip)
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
	add("user", ev.userKeyText)
	for i := len(ev.sdkTags) - 1; i >= 0; i-- {
		tags = append(tags, ev.sdkTags[i])
	}
	add("server_name", ev.serverName)
	add("transaction", ev.transaction)
	add("url", ev.url)
	if ex := ev.lastException(); ex != nil {
		add("mechanism", ex.mechanism)
		switch ex.handled {
		case flagTrue:
			add("handled", "yes")
		case flagFalse:
			add("handled", "no")
		}
	}
	for i, c := range ev.contexts {
		if c.name != "" {
			add(contextTags[i], strings.TrimSpace(c.name+" "+c.version))
			add(contextTags[i]+".name", c.name)
		}
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
