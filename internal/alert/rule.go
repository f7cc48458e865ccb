// Package alert parses, validates and evaluates alert rules: Sentry's issue
// alert rules (conditions, filters and actions, checked against each saved
// event). Everything here is pure: the store supplies the counts that
// frequency conditions compare.
package alert

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/herald-dev/herald"
)

// Condition kinds, by Sentry's ids.
const (
	FirstSeen           = "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"
	Regression          = "sentry.rules.conditions.regression_event.RegressionEventCondition"
	Reappeared          = "sentry.rules.conditions.reappeared_event.ReappearedEventCondition"
	EveryEvent          = "sentry.rules.conditions.every_event.EveryEventCondition"
	EventFrequency      = "sentry.rules.conditions.event_frequency.EventFrequencyCondition"
	UniqueUserFrequency = "sentry.rules.conditions.event_frequency.EventUniqueUserFrequencyCondition"
)

// Filter kinds, by Sentry's ids.
const (
	LevelFilter            = "sentry.rules.filters.level.LevelFilter"
	TaggedEventFilter      = "sentry.rules.filters.tagged_event.TaggedEventFilter"
	IssueOccurrencesFilter = "sentry.rules.filters.issue_occurrences.IssueOccurrencesFilter"
	AgeComparisonFilter    = "sentry.rules.filters.age_comparison.AgeComparisonFilter"
)

// Action kinds, by Sentry's ids. NotifyEventAction and
// NotifyEventServiceAction send nothing beyond the event.alert every firing
// rule sends to the project's Service Hooks; SentryAppAction also sends
// event_alert.triggered to one installation.
const (
	NotifyEventAction        = "sentry.rules.actions.notify_event.NotifyEventAction"
	NotifyEventServiceAction = "sentry.rules.actions.notify_event_service.NotifyEventServiceAction"
	SentryAppAction          = "sentry.rules.actions.notify_event_sentry_app.NotifyEventSentryAppAction"
)

// Bounds of a rule, as Sentry's serializer has them.
const (
	DefaultFrequency = 30
	MinFrequency     = 5
	MaxFrequency     = 60 * 24 * 30
	MaxNameLength    = 256
	maxItems         = 100
)

// Intervals are the windows frequency conditions may count over.
var Intervals = map[string]time.Duration{
	"1m":  time.Minute,
	"5m":  5 * time.Minute,
	"15m": 15 * time.Minute,
	"1h":  time.Hour,
	"1d":  24 * time.Hour,
	"1w":  7 * 24 * time.Hour,
	"30d": 30 * 24 * time.Hour,
}

// LevelNumbers are Sentry's numeric levels, as the level filter names them.
var LevelNumbers = map[string]int{"debug": 10, "info": 20, "warning": 30, "error": 40, "fatal": 50}

// ageUnits are the units of the age comparison filter.
var ageUnits = map[string]time.Duration{
	"minute": time.Minute,
	"hour":   time.Hour,
	"day":    24 * time.Hour,
	"week":   7 * 24 * time.Hour,
}

// FieldError is a validation failure of one field of a rule, phrased for
// the API's {"field": ["message"]} answers.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// fieldErr returns a FieldError.
func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// condition is a compiled condition.
type condition struct {
	kind     string
	value    int64
	interval time.Duration
}

// filter is a compiled filter.
type filter struct {
	kind  string
	match string
	level int
	key   string
	value string
	count int64
	older bool
	age   time.Duration
}

// Rule is a validated issue alert rule ready to evaluate.
type Rule struct {
	*herald.AlertRule
	conditions []condition
	filters    []filter
	// Installations are the uuids of the installations the rule's
	// NotifyEventSentryAppAction actions target.
	Installations []string
}

// Compile validates r, fills its defaults (match modes, frequency) and
// returns it ready to evaluate. A bad rule gives a *FieldError.
func Compile(r *herald.AlertRule) (*Rule, error) {
	r.Name = strings.TrimSpace(r.Name)
	switch {
	case r.Name == "":
		return nil, fieldErr("name", "This field may not be blank.")
	case len(r.Name) > MaxNameLength:
		return nil, fieldErr("name", "Ensure this field has no more than %d characters.", MaxNameLength)
	}
	var err error
	if r.ActionMatch, err = matchMode("actionMatch", r.ActionMatch); err != nil {
		return nil, err
	}
	if r.FilterMatch, err = matchMode("filterMatch", r.FilterMatch); err != nil {
		return nil, err
	}
	if r.Frequency == 0 {
		r.Frequency = DefaultFrequency
	}
	if r.Frequency < MinFrequency || r.Frequency > MaxFrequency {
		return nil, fieldErr("frequency", "Ensure this value is between %d and %d minutes.", MinFrequency, MaxFrequency)
	}
	if len(r.Conditions) == 0 {
		return nil, fieldErr("conditions", "This list may not be empty.")
	}
	if len(r.Actions) == 0 {
		return nil, fieldErr("actions", "You must add an action for this alert to fire.")
	}
	for field, n := range map[string]int{"conditions": len(r.Conditions), "filters": len(r.Filters), "actions": len(r.Actions)} {
		if n > maxItems {
			return nil, fieldErr(field, "Ensure this field has no more than %d elements.", maxItems)
		}
	}
	out := &Rule{AlertRule: r}
	for i, it := range r.Conditions {
		c, err := compileCondition(it)
		if err != nil {
			return nil, fieldErr("conditions", "Condition %d: %s", i+1, err)
		}
		out.conditions = append(out.conditions, c)
	}
	for i, it := range r.Filters {
		f, err := compileFilter(it)
		if err != nil {
			return nil, fieldErr("filters", "Filter %d: %s", i+1, err)
		}
		out.filters = append(out.filters, f)
	}
	for i, it := range r.Actions {
		switch it.ID() {
		case NotifyEventAction, NotifyEventServiceAction:
		case SentryAppAction:
			uuid, _ := it["sentryAppInstallationUuid"].(string)
			if uuid == "" {
				return nil, fieldErr("actions", "Action %d: sentryAppInstallationUuid is required.", i+1)
			}
			if !slices.Contains(out.Installations, uuid) {
				out.Installations = append(out.Installations, uuid)
			}
		default:
			return nil, fieldErr("actions", "Action %d: %s", i+1, unknownKind(it))
		}
	}
	return out, nil
}

// matchMode validates a match mode, "all" when empty.
func matchMode(field, m string) (string, error) {
	switch m {
	case "":
		return herald.MatchAll, nil
	case herald.MatchAll, herald.MatchAny, herald.MatchNone:
		return m, nil
	}
	return "", fieldErr(field, "%q is not a valid choice.", m)
}

// unknownKind phrases an item of unknown or missing id.
func unknownKind(it herald.RuleItem) string {
	if it.ID() == "" {
		return "id is required."
	}
	return fmt.Sprintf("%q is not a supported id.", it.ID())
}

// compileCondition validates one condition.
func compileCondition(it herald.RuleItem) (condition, error) {
	c := condition{kind: it.ID()}
	switch c.kind {
	case FirstSeen, Regression, EveryEvent:
		return c, nil
	case Reappeared:
		// Sentry's reappearance is an ignored issue un-ignored by its
		// ignore condition; Herald's ignores have none, so the condition
		// could never pass. It is refused rather than kept silently dead.
		return c, fmt.Errorf("the reappeared condition is not supported: Herald never un-ignores an issue by itself, so it could not fire")
	case EventFrequency, UniqueUserFrequency:
		v, err := intOption(it, "value")
		if err != nil {
			return c, err
		}
		if v < 0 {
			return c, fmt.Errorf("value must be at least 0")
		}
		if ct, ok := it["comparisonType"].(string); ok && ct != "" && ct != "count" {
			return c, fmt.Errorf("comparisonType %q is not supported; use \"count\"", ct)
		}
		iv, _ := it["interval"].(string)
		d, ok := Intervals[iv]
		if !ok {
			return c, fmt.Errorf("interval %q is not one of 1m, 5m, 15m, 1h, 1d, 1w, 30d", iv)
		}
		c.value, c.interval = v, d
		return c, nil
	}
	return c, fmt.Errorf("%s", unknownKind(it))
}

// compileFilter validates one filter.
func compileFilter(it herald.RuleItem) (filter, error) {
	f := filter{kind: it.ID()}
	switch f.kind {
	case LevelFilter:
		f.match, _ = it["match"].(string)
		if f.match != "eq" && f.match != "gte" && f.match != "lte" {
			return f, fmt.Errorf("match %q is not one of eq, gte, lte", f.match)
		}
		lv, err := intOption(it, "level")
		if err != nil {
			return f, err
		}
		if !slices.Contains([]int{10, 20, 30, 40, 50}, int(lv)) {
			return f, fmt.Errorf("level %d is not one of 10, 20, 30, 40, 50", lv)
		}
		f.level = int(lv)
	case TaggedEventFilter:
		f.key, _ = it["key"].(string)
		f.match, _ = it["match"].(string)
		f.value, _ = it["value"].(string)
		f.key = strings.ToLower(strings.TrimSpace(f.key))
		f.value = strings.ToLower(f.value)
		if f.key == "" {
			return f, fmt.Errorf("key is required")
		}
		switch f.match {
		case "is", "ns":
		case "eq", "ne", "co", "nc", "sw", "ew":
			if f.value == "" {
				return f, fmt.Errorf("value is required for match %q", f.match)
			}
		default:
			return f, fmt.Errorf("match %q is not one of eq, ne, co, nc, sw, ew, is, ns", f.match)
		}
	case IssueOccurrencesFilter:
		v, err := intOption(it, "value")
		if err != nil {
			return f, err
		}
		if v < 0 {
			return f, fmt.Errorf("value must be at least 0")
		}
		f.count = v
	case AgeComparisonFilter:
		ct, _ := it["comparison_type"].(string)
		if ct != "older" && ct != "newer" {
			return f, fmt.Errorf("comparison_type %q is not one of older, newer", ct)
		}
		v, err := intOption(it, "value")
		if err != nil {
			return f, err
		}
		if v < 0 {
			return f, fmt.Errorf("value must be at least 0")
		}
		unit, _ := it["time"].(string)
		d, ok := ageUnits[unit]
		if !ok {
			return f, fmt.Errorf("time %q is not one of minute, hour, day, week", unit)
		}
		if v > math.MaxInt64/int64(d) {
			return f, fmt.Errorf("value is too large")
		}
		f.older, f.age = ct == "older", time.Duration(v)*d
	default:
		return f, fmt.Errorf("%s", unknownKind(it))
	}
	return f, nil
}

// intOption reads an integer setting given as a JSON number or a numeric
// string, as Sentry's forms send both.
func intOption(it herald.RuleItem, key string) (int64, error) {
	switch v := it[key].(type) {
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return 0, fmt.Errorf("%s must be an integer", key)
		}
		return int64(v), nil
	case int:
		return int64(v), nil
	case int64:
		return v, nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s must be an integer", key)
		}
		return n, nil
	case nil:
		return 0, fmt.Errorf("%s is required", key)
	}
	return 0, fmt.Errorf("%s must be an integer", key)
}

// Input is what a rule is evaluated against: one saved event.
type Input struct {
	Event *herald.Event
	Issue *herald.Issue
	// FirstSeen is set when the event opened its issue, Regressed when it
	// reopened a resolved one.
	FirstSeen bool
	Regressed bool
	Now       time.Time
	// Events returns how many events the issue received in the last d,
	// and Users how many distinct users; nil counts as 0.
	Events func(d time.Duration) int64
	Users  func(d time.Duration) int64
}

// Windows returns the intervals the rule's event frequency and unique-user
// frequency conditions count over, so that the store counts only those.
func (r *Rule) Windows() (events, users []time.Duration) {
	for _, c := range r.conditions {
		switch c.kind {
		case EventFrequency:
			events = append(events, c.interval)
		case UniqueUserFrequency:
			users = append(users, c.interval)
		}
	}
	return events, users
}

// Matches reports whether the rule fires for in (frequency aside, which the
// store tracks per issue): the event's environment fits, the conditions
// pass per ActionMatch and the filters per FilterMatch.
func (r *Rule) Matches(in *Input) bool {
	if r.Environment != "" && in.Event.Environment != r.Environment {
		return false
	}
	if !combine(r.ActionMatch, len(r.conditions), func(i int) bool { return r.conditions[i].passes(in) }) {
		return false
	}
	return len(r.filters) == 0 || combine(r.FilterMatch, len(r.filters), func(i int) bool { return r.filters[i].passes(in) })
}

// combine applies a match mode to n checks.
func combine(mode string, n int, check func(int) bool) bool {
	switch mode {
	case herald.MatchAny:
		for i := range n {
			if check(i) {
				return true
			}
		}
		return false
	case herald.MatchNone:
		for i := range n {
			if check(i) {
				return false
			}
		}
		return true
	}
	for i := range n {
		if !check(i) {
			return false
		}
	}
	return true
}

// passes evaluates one condition. Frequency conditions pass when the count
// is more than the value, as Sentry's do.
func (c condition) passes(in *Input) bool {
	switch c.kind {
	case FirstSeen:
		return in.FirstSeen
	case Regression:
		return in.Regressed
	case EveryEvent:
		return true
	case EventFrequency:
		return in.Events != nil && in.Events(c.interval) > c.value
	case UniqueUserFrequency:
		return in.Users != nil && in.Users(c.interval) > c.value
	}
	return false
}

// passes evaluates one filter.
func (f filter) passes(in *Input) bool {
	switch f.kind {
	case LevelFilter:
		lv, ok := LevelNumbers[in.Event.Level]
		if !ok {
			return false
		}
		switch f.match {
		case "eq":
			return lv == f.level
		case "gte":
			return lv >= f.level
		case "lte":
			return lv <= f.level
		}
	case TaggedEventFilter:
		return f.tagPasses(in.Event)
	case IssueOccurrencesFilter:
		return in.Issue != nil && in.Issue.Count >= f.count
	case AgeComparisonFilter:
		if in.Issue == nil {
			return false
		}
		edge := in.Issue.FirstSeen.Add(f.age)
		if f.older {
			return edge.Before(in.Now)
		}
		return edge.After(in.Now)
	}
	return false
}

// tagPasses evaluates a tagged event filter over the event's tags, keys and
// values compared without case. The environment, level and release are
// tags too when the event's tags do not list them.
func (f filter) tagPasses(ev *herald.Event) bool {
	var values []string
	for _, t := range ev.Tags {
		if strings.ToLower(t.Key) == f.key {
			values = append(values, strings.ToLower(t.Value))
		}
	}
	if len(values) == 0 {
		extra := map[string]string{"environment": ev.Environment, "level": ev.Level, "release": ev.Release}
		if v := extra[f.key]; v != "" {
			values = append(values, strings.ToLower(v))
		}
	}
	some := func(fn func(string) bool) bool { return slices.ContainsFunc(values, fn) }
	switch f.match {
	case "is":
		return len(values) > 0
	case "ns":
		return len(values) == 0
	case "eq":
		return slices.Contains(values, f.value)
	case "ne":
		return !slices.Contains(values, f.value)
	case "co":
		return some(func(v string) bool { return strings.Contains(v, f.value) })
	case "nc":
		return !some(func(v string) bool { return strings.Contains(v, f.value) })
	case "sw":
		return some(func(v string) bool { return strings.HasPrefix(v, f.value) })
	case "ew":
		return some(func(v string) bool { return strings.HasSuffix(v, f.value) })
	}
	return false
}
