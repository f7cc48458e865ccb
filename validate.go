package herald

import (
	"math"
	"net/netip"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// FieldErrors are validation messages by input field, in Sentry's
// serializer form ({"field": ["message"]}). As an error its code is
// EINVALID.
type FieldErrors map[string][]string

// Add records msg against field.
func (fe FieldErrors) Add(field, msg string) { fe[field] = append(fe[field], msg) }

// Err returns fe as an error, or nil when it holds no message.
func (fe FieldErrors) Err() error {
	if len(fe) == 0 {
		return nil
	}
	return fe
}

// Error implements the error interface.
func (fe FieldErrors) Error() string {
	fields := make([]string, 0, len(fe))
	for f := range fe {
		fields = append(fields, f)
	}
	slices.Sort(fields)
	var b strings.Builder
	for i, f := range fields {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f + ": " + strings.Join(fe[f], " "))
	}
	return b.String()
}

// InvalidField returns FieldErrors naming one field.
func InvalidField(field, msg string) error { return FieldErrors{field: {msg}} }

// Validation messages, Sentry's words where Sentry has them.
//
//nolint:revive // the names say what each message is about
const (
	MsgRequired    = "This field is required."
	MsgBlank       = "This field may not be blank."
	MsgEmptyList   = "This list may not be empty."
	MsgInvalidURL  = "Enter a valid URL."
	MsgInvalidSlug = "Enter a valid slug consisting of lowercase letters, numbers, underscores or hyphens. It cannot be entirely numeric."
)

// Bounds of validated fields.
const (
	// MaxURLLength bounds a webhook URL.
	MaxURLLength = 2048
	// MaxHookEvents bounds a hook's event list.
	MaxHookEvents = 100
	// MaxSlugLength bounds a slug.
	MaxSlugLength = 50
	// MaxNameLength bounds an organization's, team's or project's name.
	MaxNameLength = 64
	// MaxTokenNameLength bounds a token's name.
	MaxTokenNameLength = 255
	// MaxScopes bounds a token's or app's scope list.
	MaxScopes = 64
)

// Messages for hook URLs that parse but are refused. They are Herald's own:
// Sentry's serializer has no such rules.
//
// A host name outside ASCII is refused rather than converted with IDNA: its
// xn-- form is the name that is resolved and sent, so what the hook shows is
// what is dialed, with no look-alike characters, and validation needs no
// IDNA tables.
const (
	MsgURLUserinfo    = "URL must not contain a username or password."
	MsgURLUnicodeHost = "Enter the host name in ASCII: an internationalized domain name in its xn-- (punycode) form."
)

// URLProblem returns what is wrong with a webhook URL (a Service Hook's url,
// a Sentry App's webhookUrl or redirectUrl), or "": it must be an
// absolute http or https URL of at most 2048 characters, without userinfo
// (a fragment is allowed: it is never sent), whose port, if written, is 1
// to 65535 and whose host is an
// IPv4 address, a bracketed IPv6 address without zone, or an ASCII DNS name
// (see dnsNameValid). The Guard still checks the addresses dialed.
func URLProblem(raw string) string {
	if raw == "" {
		return MsgBlank
	}
	if len(raw) > MaxURLLength {
		return "Ensure this field has no more than 2048 characters."
	}
	if strings.ContainsFunc(raw, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
		return MsgInvalidURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Opaque != "" {
		return MsgInvalidURL
	}
	// Userinfo would be sent to the receiver (as Basic credentials) and
	// shown and logged with the URL.
	if u.User != nil {
		return MsgURLUserinfo
	}
	// url.Parse leaves only digits in the port, possibly none ("http://a:/").
	if strings.HasSuffix(u.Host, ":") {
		return MsgInvalidURL
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > math.MaxUint16 {
			return MsgInvalidURL
		}
	}
	host := u.Hostname()
	if strings.HasPrefix(u.Host, "[") {
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return MsgInvalidURL
		}
		return ""
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is4() {
		return ""
	}
	unicodeHost := false
	for _, r := range host {
		switch {
		case r < utf8.RuneSelf:
		case r == utf8.RuneError, !unicode.In(r, unicode.Letter, unicode.Mark, unicode.Digit):
			// Spaces, controls, format characters (U+200B, U+FEFF,
			// U+202E...), punctuation and symbols are in no host name.
			return MsgInvalidURL
		default:
			unicodeHost = true
		}
	}
	if unicodeHost {
		return MsgURLUnicodeHost
	}
	if !dnsNameValid(host) {
		return MsgInvalidURL
	}
	return ""
}

// dnsNameValid reports whether name is an ASCII DNS host name: labels of
// letters, digits and hyphens, 1 to 63 bytes, neither starting nor ending
// with a hyphen, 253 bytes in all, optionally ending in a dot. The last label
// must not be a number (decimal, or hexadecimal with 0x), since browsers and
// inet_aton-style resolvers read such a name as an IPv4 address in short or
// octal form ("0x7f.1", "010.0.0.1", "2130706433").
func dnsNameValid(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := range len(l) {
			switch c := l[i]; {
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-':
			default:
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	if hex, ok := strings.CutPrefix(strings.ToLower(last), "0x"); ok {
		return strings.Trim(hex, "0123456789abcdef") != ""
	}
	return strings.Trim(last, "0123456789") != ""
}

// CleanHookEvents validates a hook's event list and returns it sorted and
// without duplicates, or a message naming the first bad event. The list may
// be empty, as Sentry's ServiceHookValidator allows: such a hook is sent
// nothing.
func CleanHookEvents(events []string) ([]string, string) {
	if len(events) > MaxHookEvents {
		return nil, "Ensure this field has no more than 100 elements."
	}
	out := []string{}
	for _, e := range events {
		if !slices.Contains(HookEvents, e) {
			return nil, "Invalid event name: " + e
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out, ""
}

// SlugProblem returns what is wrong with slug, or "" when it is valid:
// 1 to 50 of [a-z0-9_-], not entirely numeric.
func SlugProblem(slug string) string {
	if slug == "" {
		return MsgBlank
	}
	if len(slug) > MaxSlugLength {
		return "Ensure this field has no more than 50 characters."
	}
	if isNumeric(slug) {
		return MsgInvalidSlug
	}
	for i := 0; i < len(slug); i++ {
		c := slug[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return MsgInvalidSlug
		}
	}
	return ""
}

// Slugify derives a slug from a name: lowercase ASCII letters, digits and
// single hyphens, at most 50 characters.
func Slugify(name string) string {
	var b strings.Builder
	hyphen := false
	for _, c := range strings.ToLower(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
			hyphen = false
		case !hyphen && b.Len() > 0:
			b.WriteByte('-')
			hyphen = true
		}
		if b.Len() >= MaxSlugLength {
			break
		}
	}
	return strings.Trim(b.String(), "-")
}

// isNumeric reports whether s is a non-empty run of ASCII digits.
func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Validate checks a hook's URL and events.
func (h *Hook) Validate() error {
	fe := FieldErrors{}
	if msg := URLProblem(h.URL); msg != "" {
		fe.Add("url", msg)
	}
	if _, msg := CleanHookEvents(h.Events); msg != "" {
		fe.Add("events", msg)
	}
	return fe.Err()
}

// validateNamed checks a name of at most MaxNameLength and a slug.
func validateNamed(name, slug string) error {
	fe := FieldErrors{}
	switch {
	case strings.TrimSpace(name) == "":
		fe.Add("name", MsgBlank)
	case len(name) > MaxNameLength:
		fe.Add("name", "Ensure this field has no more than "+strconv.Itoa(MaxNameLength)+" characters.")
	}
	if msg := SlugProblem(slug); msg != "" {
		fe.Add("slug", msg)
	}
	return fe.Err()
}

// Validate checks the organization's name and slug.
func (o *Organization) Validate() error { return validateNamed(o.Name, o.Slug) }

// Validate checks the team's name and slug.
func (t *Team) Validate() error { return validateNamed(t.Name, t.Slug) }

// Validate checks the project's name and slug.
func (p *Project) Validate() error { return validateNamed(p.Name, p.Slug) }

// Validate checks a token's scopes (known ones, at most MaxScopes) and name.
func (t *Token) Validate() error {
	fe := FieldErrors{}
	if len(t.Scopes) > MaxScopes {
		fe.Add("scopes", "Ensure this field has no more than "+strconv.Itoa(MaxScopes)+" elements.")
	}
	for _, sc := range t.Scopes {
		if !ValidScope(sc) {
			fe.Add("scopes", strconv.Quote(sc)+" is not a valid choice.")
		}
	}
	if len(t.Name) > MaxTokenNameLength {
		fe.Add("name", "Ensure this field has no more than "+strconv.Itoa(MaxTokenNameLength)+" characters.")
	}
	return fe.Err()
}

// AppEventScopes are the resources a Sentry App may subscribe to, each with
// the scope the subscription needs (Sentry's REQUIRED_EVENT_PERMISSIONS).
// Installation webhooks are always sent; alert webhooks are sent by alert
// rule actions rather than subscriptions.
var AppEventScopes = map[string]string{
	ResourceIssue:   "event:read",
	ResourceError:   "event:read",
	ResourceComment: "event:read",
}

// AppResources lists the keys of AppEventScopes in Sentry's order.
var AppResources = []string{ResourceIssue, ResourceError, ResourceComment}

// Validate checks the rules of a Sentry App that span its fields, as
// Sentry's parser does, and answers with the first broken one: each
// subscribed resource needs its scope; a public app needs a webhook URL and
// an author; an internal one needs a webhook URL when it subscribes to
// events or is alertable. Its URLs must be valid webhook URLs, and its
// webhook headers pass CleanWebhookHeaders.
func (a *SentryApp) Validate() error {
	for _, u := range []struct{ field, url string }{{"webhookUrl", a.WebhookURL}, {"redirectUrl", a.RedirectURL}} {
		if u.url != "" {
			if msg := URLProblem(u.url); msg != "" {
				return InvalidField(u.field, msg)
			}
		}
	}
	if _, msgs := CleanWebhookHeaders(a.WebhookHeaders); len(msgs) > 0 {
		return InvalidField("webhookHeaders", msgs[0])
	}
	for _, r := range AppResources {
		if slices.Contains(a.Events, r) && !slices.Contains(a.Scopes, AppEventScopes[r]) {
			return InvalidField("events", r+" webhooks require the "+AppEventScopes[r]+" permission.")
		}
	}
	if a.WebhookURL == "" {
		switch {
		case !a.IsInternal():
			return InvalidField("webhookUrl", "webhookUrl required for public integrations")
		case len(a.Events) > 0:
			return InvalidField("webhookUrl", "webhookUrl required if webhook events are enabled")
		case a.IsAlertable:
			return InvalidField("webhookUrl", "webhookUrl required if alert rule action is enabled")
		}
	}
	if !a.IsInternal() && a.Author == "" {
		return InvalidField("author", "author required for public integrations")
	}
	return nil
}

// Bounds of a Sentry App's webhook headers. With Herald's own headers they
// stay well within the 8 KiB to 16 KiB of headers common servers accept.
const (
	// MaxWebhookHeaders bounds how many headers an app may define.
	MaxWebhookHeaders = 20
	// MaxWebhookHeaderNameLength bounds a header's name, in bytes.
	MaxWebhookHeaderNameLength = 128
	// MaxWebhookHeaderValueLength bounds a header's value, in bytes.
	MaxWebhookHeaderValueLength = 1024
	// MaxWebhookHeadersSize bounds the names and values of an app's
	// headers together, in bytes.
	MaxWebhookHeadersSize = 8192
)

// hopByHopHeaders are the headers that describe one connection rather than
// the request (RFC 9110 section 7.6.1), and those that frame the request,
// which the HTTP client sets. An app may not set them.
var hopByHopHeaders = []string{"Connection", "Keep-Alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
	"Host", "Content-Length", "Expect"}

// heraldHeaders are the headers Herald sets on a delivery, and
// heraldHeaderPrefixes the beginnings of the names of the others (the
// Sentry-Hook-* and Service Hook headers, including those Herald reads in
// answers). An app may not set them: a receiver checks them. Content-Type
// and Content-Encoding describe the body Herald sends; Accept-Encoding is
// the client's, which decodes the answer.
var (
	heraldHeaders        = []string{"Content-Type", "Content-Encoding", "Accept-Encoding", "Request-ID", "User-Agent"}
	heraldHeaderPrefixes = []string{"Sentry-Hook-", "X-Sentry-Hook-", "X-ServiceHook-"}
)

// CleanWebhookHeaders validates a Sentry App's webhook headers and returns
// them with names in canonical form and values trimmed of spaces and tabs,
// or the messages of what is wrong (they name a header, never show a
// value). A name must be an HTTP token, given once, and neither a
// hop-by-hop header (Connection, Keep-Alive, Proxy-*, TE, Trailer,
// Transfer-Encoding, Upgrade, Host, Content-Length, Expect) nor one Herald
// sets (Content-Type, Content-Encoding, Accept-Encoding, Request-ID,
// User-Agent, Sentry-Hook-*, X-Sentry-Hook-*, X-ServiceHook-*); a value
// must not be blank and holds UTF-8 text without control characters other
// than tabs. Bounds: MaxWebhookHeaders headers, names of
// MaxWebhookHeaderNameLength bytes, values of MaxWebhookHeaderValueLength,
// MaxWebhookHeadersSize in all.
func CleanWebhookHeaders(hs []WebhookHeader) ([]WebhookHeader, []string) {
	var msgs []string
	if len(hs) > MaxWebhookHeaders {
		return nil, []string{"Ensure this field has no more than " + strconv.Itoa(MaxWebhookHeaders) + " elements."}
	}
	out := make([]WebhookHeader, 0, len(hs))
	size := 0
	for _, h := range hs {
		name := strings.TrimSpace(h.Key)
		if msg := headerNameProblem(name); msg != "" {
			msgs = append(msgs, msg)
			continue
		}
		name = textproto.CanonicalMIMEHeaderKey(name)
		value := strings.Trim(h.Value, " \t")
		switch {
		case value == "":
			msgs = append(msgs, name+": the value may not be blank.")
			continue
		case len(value) > MaxWebhookHeaderValueLength:
			msgs = append(msgs, name+": ensure the value has no more than "+strconv.Itoa(MaxWebhookHeaderValueLength)+" bytes.")
			continue
		case !utf8.ValidString(value) || strings.ContainsFunc(value, func(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f }):
			msgs = append(msgs, name+": the value must be text without control characters.")
			continue
		}
		if slices.ContainsFunc(out, func(o WebhookHeader) bool { return o.Key == name }) {
			msgs = append(msgs, name+" is given more than once.")
			continue
		}
		size += len(name) + len(value)
		out = append(out, WebhookHeader{Key: name, Value: value})
	}
	if size > MaxWebhookHeadersSize {
		msgs = append(msgs, "Ensure the headers hold no more than "+strconv.Itoa(MaxWebhookHeadersSize)+" bytes in all.")
	}
	if len(msgs) > 0 {
		return nil, msgs
	}
	return out, nil
}

// headerNameProblem returns what is wrong with name as the name of an app's
// webhook header, or "".
func headerNameProblem(name string) string {
	switch {
	case name == "":
		return "A header name may not be blank."
	case len(name) > MaxWebhookHeaderNameLength:
		return "Ensure each header name has no more than " + strconv.Itoa(MaxWebhookHeaderNameLength) + " characters."
	case strings.IndexFunc(name, func(r rune) bool { return !isTokenChar(r) }) >= 0:
		return "Invalid header name: " + strconv.Quote(name) + "."
	}
	if known, ok := knownHeader(name, hopByHopHeaders, []string{"Proxy-"}); ok {
		return known + " is a hop-by-hop header and cannot be set."
	}
	if known, ok := knownHeader(name, heraldHeaders, heraldHeaderPrefixes); ok {
		return known + " is set by Herald and cannot be changed."
	}
	return ""
}

// knownHeader reports whether name, in any case, is one of names or begins
// with one of prefixes, and returns it spelled as they spell it.
func knownHeader(name string, names, prefixes []string) (string, bool) {
	for _, n := range names {
		if strings.EqualFold(n, name) {
			return n, true
		}
	}
	canonical := textproto.CanonicalMIMEHeaderKey(name)
	for _, p := range prefixes {
		if len(name) >= len(p) && strings.EqualFold(name[:len(p)], p) {
			return p + canonical[len(p):], true
		}
	}
	return "", false
}

// isTokenChar reports whether r may be in an HTTP token (RFC 9110 section
// 5.6.2), such as a header name.
func isTokenChar(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return true
	}
	return strings.ContainsRune("!#$%&'*+-.^_`|~", r)
}

// Bounds of a Sentry App's fields. Its name fits its slug, which has six
// characters of its uuid appended for internal apps, in 64 characters.
const (
	MaxAppNameLength = 57
	MaxAppTextLength = 2048
	MaxAppURLLength  = 2048
)

// Validate checks an update a person asks for (from the API's body or the
// dashboard's form, as typed) against cur, the app as it is (a zero app of
// the right status for a creation, which needs a name), as Sentry's
// SentryAppParser does, and returns the update to apply: text trimmed,
// repeated scopes and events dropped, webhook headers cleaned by
// CleanWebhookHeaders (Herald's field). may tells whether the person may
// grant a scope: one they may not grant is refused unless the app has it
// already. Status is not checked here (publishing is for superusers) and
// passes through.
func (in *SentryAppUpdate) Validate(cur *SentryApp, create bool, may func(scope string) bool) (SentryAppUpdate, error) {
	upd := SentryAppUpdate{Status: in.Status}
	fe := FieldErrors{}
	if in.Name != nil || create {
		switch name := ""; {
		case in.Name == nil:
			fe.Add("name", MsgRequired)
		case strings.TrimSpace(*in.Name) == "":
			fe.Add("name", MsgBlank)
		case utf8.RuneCountInString(strings.TrimSpace(*in.Name)) > MaxAppNameLength:
			fe.Add("name", "Cannot exceed "+strconv.Itoa(MaxAppNameLength)+" characters")
		default:
			name = strings.TrimSpace(*in.Name)
			if Slugify(name) == "" {
				fe.Add("name", "Name must contain letters or digits.")
			}
			upd.Name = &name
		}
	}
	text := func(field string, v *string, dst **string) {
		if v == nil {
			return
		}
		if utf8.RuneCountInString(*v) > MaxAppTextLength {
			fe.Add(field, "Ensure this field has no more than "+strconv.Itoa(MaxAppTextLength)+" characters.")
			return
		}
		t := strings.TrimSpace(*v)
		*dst = &t
	}
	text("author", in.Author, &upd.Author)
	text("overview", in.Overview, &upd.Overview)
	link := func(field string, v *string, dst **string) {
		if v == nil {
			return
		}
		u := strings.TrimSpace(*v)
		switch {
		case u == "":
		case !strings.HasPrefix(u, "http"):
			fe.Add(field, "URL must start with http[s]://")
			return
		case len(u) > MaxAppURLLength:
			fe.Add(field, "Ensure this field has no more than "+strconv.Itoa(MaxAppURLLength)+" characters.")
			return
		case URLProblem(u) != "":
			fe.Add(field, URLProblem(u))
			return
		}
		*dst = &u
	}
	link("webhookUrl", in.WebhookURL, &upd.WebhookURL)
	link("redirectUrl", in.RedirectURL, &upd.RedirectURL)
	upd.IsAlertable, upd.VerifyInstall = in.IsAlertable, in.VerifyInstall
	if in.Scopes != nil {
		scopes := []string{}
		for _, sc := range *in.Scopes {
			switch {
			case !ValidScope(sc):
				fe.Add("scopes", sc+" not a valid scope")
			case !may(sc) && !slices.Contains(cur.Scopes, sc):
				fe.Add("scopes", "Requested permission of "+sc+" exceeds requester's permission. Please contact an administrator to make the requested change.")
			case !slices.Contains(scopes, sc):
				scopes = append(scopes, sc)
			}
		}
		if len(*in.Scopes) > MaxScopes {
			fe.Add("scopes", "Ensure this field has no more than "+strconv.Itoa(MaxScopes)+" elements.")
		}
		upd.Scopes = &scopes
	}
	if in.Events != nil {
		events := []string{}
		var bad []string
		for _, e := range *in.Events {
			if _, ok := AppEventScopes[e]; !ok {
				bad = append(bad, e)
			} else if !slices.Contains(events, e) {
				events = append(events, e)
			}
		}
		if len(bad) > 0 {
			fe.Add("events", "Invalid event subscription: "+strings.Join(bad, ", "))
		}
		upd.Events = &events
	}
	if in.WebhookHeaders != nil {
		headers, msgs := CleanWebhookHeaders(*in.WebhookHeaders)
		for _, msg := range msgs {
			fe.Add("webhookHeaders", msg)
		}
		upd.WebhookHeaders = &headers
	}
	if err := fe.Err(); err != nil {
		return upd, err
	}
	// The rules that span fields, on the app as it would be.
	next := *cur
	next.Apply(upd)
	return upd, next.Validate()
}

// ValidID reports whether s can be the id of a stored row as a path names
// it (a hook, a delivery, an issue or its short id, an event): 1 to 64
// ASCII letters, digits or hyphens. Anything else names nothing, and is
// answered 404 before any lookup.
func ValidID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && c != '-' {
			return false
		}
	}
	return true
}
