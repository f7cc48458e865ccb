package alert

import (
	"fmt"
	"slices"
	"strings"

	"github.com/herald-dev/herald"
)

// Bounds of metric alert rules.
const (
	// MaxTimeWindow is the longest window, in minutes (one day).
	MaxTimeWindow = 24 * 60
	maxQueryTerms = 20
)

// Query is a parsed metric alert query: terms that must all match.
type Query []Term

// Term is one key:value term of a query; Negated terms ("!key:value")
// match events without that value.
type Term struct {
	Key     string
	Value   string
	Negated bool
}

// ParseQuery parses a query of space-separated key:value terms; values may
// be double-quoted to hold spaces. The empty query matches every event.
func ParseQuery(q string) (Query, error) {
	var out Query
	rest := strings.TrimSpace(q)
	for rest != "" {
		if len(out) == maxQueryTerms {
			return nil, fmt.Errorf("a query may have at most %d terms", maxQueryTerms)
		}
		var t Term
		if strings.HasPrefix(rest, "!") {
			t.Negated, rest = true, rest[1:]
		}
		key, after, ok := strings.Cut(rest, ":")
		if !ok || key == "" || strings.ContainsAny(key, " \t\"") {
			return nil, fmt.Errorf("%q is not a key:value term", firstWord(rest))
		}
		t.Key = key
		if strings.HasPrefix(after, `"`) {
			end := strings.Index(after[1:], `"`)
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote in %q", rest)
			}
			t.Value, rest = after[1:end+1], after[end+2:]
		} else {
			v, r, _ := strings.Cut(after, " ")
			t.Value, rest = v, r
		}
		if t.Value == "" {
			return nil, fmt.Errorf("term %q has no value", key)
		}
		if t.Key == "level" {
			if _, ok := LevelNumbers[t.Value]; !ok {
				return nil, fmt.Errorf("level %q is not one of debug, info, warning, error, fatal", t.Value)
			}
		}
		out = append(out, t)
		rest = strings.TrimSpace(rest)
	}
	return out, nil
}

// firstWord returns s up to its first space.
func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return w
}

// Matches reports whether ev matches every term. level, environment and
// release are the event's fields; other keys are tags.
func (q Query) Matches(ev *herald.Event) bool {
	for _, t := range q {
		var found bool
		switch t.Key {
		case "level":
			found = ev.Level == t.Value
		case "environment":
			found = ev.Environment == t.Value
		case "release":
			found = ev.Release == t.Value
		default:
			found = slices.ContainsFunc(ev.Tags, func(tag herald.Tag) bool { return tag.Key == t.Key && tag.Value == t.Value })
		}
		if found == t.Negated {
			return false
		}
	}
	return true
}

// Metric is a validated metric alert rule ready to count and evaluate.
type Metric struct {
	*herald.MetricAlertRule
	query    Query
	critical float64
	warning  *float64
}

// CompileMetric validates a metric alert rule: aggregate, query, window,
// threshold type, triggers (one critical, at most one warning, ordered by
// the threshold type) and resolve threshold. A bad rule gives a
// *FieldError.
func CompileMetric(r *herald.MetricAlertRule) (*Metric, error) {
	r.Name = strings.TrimSpace(r.Name)
	switch {
	case r.Name == "":
		return nil, fieldErr("name", "This field may not be blank.")
	case len(r.Name) > MaxNameLength:
		return nil, fieldErr("name", "Ensure this field has no more than %d characters.", MaxNameLength)
	case r.Aggregate != herald.AggregateCount && r.Aggregate != herald.AggregateUniqueUsers:
		return nil, fieldErr("aggregate", "Only count() and count_unique(user) are supported.")
	case r.TimeWindow < 1 || r.TimeWindow > MaxTimeWindow:
		return nil, fieldErr("timeWindow", "Ensure this value is between 1 and %d minutes.", MaxTimeWindow)
	case r.ThresholdType != herald.ThresholdAbove && r.ThresholdType != herald.ThresholdBelow:
		return nil, fieldErr("thresholdType", "Must be 0 (above) or 1 (below).")
	case len(r.ProjectIDs) == 0:
		return nil, fieldErr("projects", "This list may not be empty.")
	}
	q, err := ParseQuery(r.Query)
	if err != nil {
		return nil, fieldErr("query", "%s", err)
	}
	m := &Metric{MetricAlertRule: r, query: q}
	var seenCritical bool
	for _, t := range r.Triggers {
		switch t.Label {
		case herald.TriggerCritical:
			if seenCritical {
				return nil, fieldErr("triggers", "Only one critical trigger is allowed.")
			}
			seenCritical, m.critical = true, t.AlertThreshold
		case herald.TriggerWarning:
			if m.warning != nil {
				return nil, fieldErr("triggers", "Only one warning trigger is allowed.")
			}
			w := t.AlertThreshold
			m.warning = &w
		default:
			return nil, fieldErr("triggers", "Trigger label %q must be critical or warning.", t.Label)
		}
		for _, a := range t.Actions {
			if a.Type != "sentry_app" || a.SentryAppID == 0 {
				return nil, fieldErr("triggers", "Only sentry_app actions with a sentryAppId are supported.")
			}
		}
	}
	if !seenCritical {
		return nil, fieldErr("triggers", "Must have a critical trigger.")
	}
	above := r.ThresholdType == herald.ThresholdAbove
	if m.warning != nil && (above && *m.warning >= m.critical || !above && *m.warning <= m.critical) {
		return nil, fieldErr("triggers", "The critical threshold must be %s the warning threshold.", map[bool]string{true: "above", false: "below"}[above])
	}
	if res := r.ResolveThreshold; res != nil {
		lowest := m.critical
		if m.warning != nil {
			lowest = *m.warning
		}
		if above && *res >= lowest || !above && *res <= lowest {
			return nil, fieldErr("resolveThreshold", "The resolve threshold must be %s every alert threshold.",
				map[bool]string{true: "below", false: "above"}[above])
		}
	}
	return m, nil
}

// Counts reports whether ev is one of the events the rule counts: of one
// of its projects, its environment, and matching its query.
func (m *Metric) Counts(ev *herald.Event) bool {
	if !slices.Contains(m.ProjectIDs, ev.ProjectID) || (m.Environment != "" && ev.Environment != m.Environment) {
		return false
	}
	return m.query.Matches(ev)
}

// Thresholds are the levels a metric value is compared with.
type Thresholds struct {
	// Type is herald.ThresholdAbove or herald.ThresholdBelow.
	Type     int
	Critical float64
	// Warning and Resolve are optional; without Resolve each level holds
	// until the value crosses back over its own threshold.
	Warning *float64
	Resolve *float64
}

// Thresholds returns the rule's thresholds.
func (m *Metric) Thresholds() Thresholds {
	return Thresholds{Type: m.ThresholdType, Critical: m.critical, Warning: m.warning, Resolve: m.ResolveThreshold}
}

// fires reports whether v is past threshold: above it (strictly) for
// ThresholdAbove, below it for ThresholdBelow.
func (th Thresholds) fires(v, threshold float64) bool {
	if th.Type == herald.ThresholdBelow {
		return v < threshold
	}
	return v > threshold
}

// crossed reports whether v is back past threshold: below it for
// ThresholdAbove, above it for ThresholdBelow.
func (th Thresholds) crossed(v, threshold float64) bool {
	if th.Type == herald.ThresholdBelow {
		return v > threshold
	}
	return v < threshold
}

// Next returns the status an incident moves to when the value is v and it
// is now at status: herald.IncidentCritical, herald.IncidentWarning, or
// herald.IncidentClosed for no open incident (the status given when none
// is open). A level fires when v is past its threshold. The lowest level
// (warning, or critical without a warning trigger) holds until v crosses
// the resolve threshold (its own threshold when there is none), and the
// incident then closes; critical above a warning trigger steps down to
// warning once v crosses back over the critical threshold.
func (th Thresholds) Next(status int, v float64) int {
	resolve := func(own float64) float64 {
		if th.Resolve != nil {
			return *th.Resolve
		}
		return own
	}
	critHold := resolve(th.Critical)
	if th.Warning != nil {
		critHold = th.Critical
	}
	if th.fires(v, th.Critical) || status == herald.IncidentCritical && !th.crossed(v, critHold) {
		return herald.IncidentCritical
	}
	if w := th.Warning; w != nil {
		if th.fires(v, *w) || status >= herald.IncidentWarning && !th.crossed(v, resolve(*w)) {
			return herald.IncidentWarning
		}
	}
	return herald.IncidentClosed
}
