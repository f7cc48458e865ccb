package alert

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/herald-dev/herald"
)

func f(v float64) *float64 { return &v }

func TestThresholdsNext(t *testing.T) {
	const (
		none = herald.IncidentClosed
		warn = herald.IncidentWarning
		crit = herald.IncidentCritical
	)
	above := Thresholds{Type: herald.ThresholdAbove, Critical: 100, Warning: f(50)}
	aboveResolve := Thresholds{Type: herald.ThresholdAbove, Critical: 100, Warning: f(50), Resolve: f(20)}
	aboveCritOnly := Thresholds{Type: herald.ThresholdAbove, Critical: 10}
	critOnlyResolve := Thresholds{Type: herald.ThresholdAbove, Critical: 10, Resolve: f(5)}
	below := Thresholds{Type: herald.ThresholdBelow, Critical: 5, Warning: f(10)}
	belowResolve := Thresholds{Type: herald.ThresholdBelow, Critical: 5, Warning: f(10), Resolve: f(20)}
	tests := []struct {
		name   string
		th     Thresholds
		status int
		value  float64
		want   int
	}{
		{"above: quiet stays closed", above, none, 10, none},
		{"above: at the warning threshold is not past it", above, none, 50, none},
		{"above: past warning opens warning", above, none, 51, warn},
		{"above: past critical opens critical", above, none, 150, crit},
		{"above: warning rises to critical", above, warn, 101, crit},
		{"above: critical at its threshold holds", above, crit, 100, crit},
		{"above: critical drops to warning", above, crit, 75, warn},
		{"above: critical drops below both", above, crit, 10, none},
		{"above: warning holds at its threshold", above, warn, 50, warn},
		{"above: warning resolves", above, warn, 49, none},
		{"above resolve: critical holds above the resolve threshold", aboveResolve, crit, 30, warn},
		{"above resolve: warning holds above the resolve threshold", aboveResolve, warn, 30, warn},
		{"above resolve: warning holds at the resolve threshold", aboveResolve, warn, 20, warn},
		{"above resolve: closes below the resolve threshold", aboveResolve, crit, 19, none},
		{"above resolve: quiet value does not open", aboveResolve, none, 30, none},
		{"critical only: opens critical", aboveCritOnly, none, 11, crit},
		{"critical only: resolves", aboveCritOnly, crit, 9, none},
		{"critical only: holds at the threshold", aboveCritOnly, crit, 10, crit},
		{"critical only, resolve: holds above the resolve threshold", critOnlyResolve, crit, 6, crit},
		{"critical only, resolve: closes below it", critOnlyResolve, crit, 4, none},
		{"below: busy stays closed", below, none, 50, none},
		{"below: under warning opens warning", below, none, 9, warn},
		{"below: under critical opens critical", below, none, 0, crit},
		{"below: critical recovers to warning", below, crit, 7, warn},
		{"below: critical recovers fully", below, crit, 11, none},
		{"below: warning holds at its threshold", below, warn, 10, warn},
		{"below resolve: warning holds below the resolve threshold", belowResolve, warn, 15, warn},
		{"below resolve: critical holds below the resolve threshold", belowResolve, crit, 15, warn},
		{"below resolve: closes above the resolve threshold", belowResolve, crit, 21, none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.th.Next(tt.status, tt.value); got != tt.want {
				t.Fatalf("Next(%d, %v) = %d, want %d", tt.status, tt.value, got, tt.want)
			}
		})
	}
}

func TestParseQueryAndMatch(t *testing.T) {
	ev := &herald.Event{Level: "error", Environment: "production", Release: "v1",
		Tags: []herald.Tag{{Key: "browser", Value: "Chrome 120"}, {Key: "area", Value: "checkout"}}}
	tests := []struct {
		query string
		want  bool
	}{
		{"", true},
		{"level:error", true},
		{"level:warning", false},
		{"environment:production level:error", true},
		{"environment:staging", false},
		{"release:v1", true},
		{"area:checkout", true},
		{`browser:"Chrome 120"`, true},
		{"browser:Chrome", false},
		{"!area:checkout", false},
		{"!area:search", true},
		{"missing:tag", false},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, err := ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			if got := q.Matches(ev); got != tt.want {
				t.Fatalf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"level", "level:loud", `browser:"Chrome`, "area:", ":x"} {
		t.Run("rejects "+bad, func(t *testing.T) {
			if _, err := ParseQuery(bad); err == nil {
				t.Fatalf("ParseQuery(%q) succeeded", bad)
			}
		})
	}
}

// formatQuery writes q back as a query string: terms separated by a space,
// each [!]key:value with the value quoted unless it holds a quote. ParseQuery
// gives a value holding a quote only from an unquoted term, so such a value
// holds no space and, in the last term, ends in no space either.
func formatQuery(q Query) string {
	terms := make([]string, len(q))
	for i, t := range q {
		v := t.Value
		if !strings.Contains(v, `"`) {
			v = `"` + v + `"`
		}
		if t.Negated {
			terms[i] = "!"
		}
		terms[i] += t.Key + ":" + v
	}
	return strings.Join(terms, " ")
}

// FuzzParseQuery checks that every query ParseQuery accepts is made of
// well-formed terms, reads back the same from formatQuery, and matches an
// event exactly when each of its terms does.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"", "level:error", `a:"b c" !d:e`, "!", `x:"`, `!!a:b`, `a:"b"c:d`, "a:x\"\t b:c",
		`level:"fatal" environment:production release:v1`, "k:\tv", "a:b\tc:d", `browser:"Chrome 120"`,
	} {
		f.Add(s)
	}
	events := []*herald.Event{
		{Level: "error", Tags: []herald.Tag{{Key: "a", Value: "b"}}},
		{Level: "fatal", Environment: "production", Release: "v1", Tags: []herald.Tag{{Key: "browser", Value: "Chrome 120"}}},
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuery(s)
		if err != nil {
			return
		}
		if len(q) > maxQueryTerms {
			t.Fatalf("ParseQuery(%q) gave %d terms, more than %d", s, len(q), maxQueryTerms)
		}
		for _, term := range q {
			if term.Key == "" || term.Value == "" || strings.ContainsAny(term.Key, " \t\":") {
				t.Fatalf("ParseQuery(%q) gave the malformed term %+v", s, term)
			}
		}
		text := formatQuery(q)
		again, err := ParseQuery(text)
		if err != nil {
			t.Fatalf("ParseQuery(%q) = %+v, but its form %q does not parse: %v", s, q, text, err)
		}
		if !slices.Equal(again, q) {
			t.Fatalf("ParseQuery(%q) = %+v, but its form %q parses as %+v", s, q, text, again)
		}
		// An event holding the values of the query's own terms, so that
		// terms are checked against an event they match, not only ones
		// they miss.
		own := &herald.Event{}
		for _, term := range q {
			switch term.Key {
			case "level":
				own.Level = term.Value
			case "environment":
				own.Environment = term.Value
			case "release":
				own.Release = term.Value
			default:
				own.Tags = append(own.Tags, herald.Tag{Key: term.Key, Value: term.Value})
			}
		}
		for _, ev := range append(slices.Clip(events), own) {
			all := true
			for _, term := range q {
				one := (Query{term}).Matches(ev)
				if term.Negated {
					plain := term
					plain.Negated = false
					if (Query{plain}).Matches(ev) == one {
						t.Fatalf("term %+v and its negation both match %+v, or neither", term, ev)
					}
				}
				all = all && one
			}
			if got := q.Matches(ev); got != all {
				t.Fatalf("ParseQuery(%q).Matches(%+v) = %v, want %v (every term)", s, ev, got, all)
			}
		}
	})
}

func TestCompileMetric(t *testing.T) {
	valid := func() *herald.MetricAlertRule {
		return &herald.MetricAlertRule{Name: "Spike", Aggregate: herald.AggregateCount, Query: "level:error", ProjectIDs: []int64{1},
			TimeWindow: 10, Triggers: []*herald.MetricTrigger{
				{Label: herald.TriggerCritical, AlertThreshold: 100, Actions: []*herald.MetricTriggerAction{{Type: "sentry_app", SentryAppID: 3}}},
				{Label: herald.TriggerWarning, AlertThreshold: 50}}}
	}
	if _, err := CompileMetric(valid()); err != nil {
		t.Fatalf("valid rule: %v", err)
	}
	tests := []struct {
		name   string
		change func(r *herald.MetricAlertRule)
		field  string
	}{
		{"blank name", func(r *herald.MetricAlertRule) { r.Name = "" }, "name"},
		{"aggregate", func(r *herald.MetricAlertRule) { r.Aggregate = "p95(transaction.duration)" }, "aggregate"},
		{"window", func(r *herald.MetricAlertRule) { r.TimeWindow = 0 }, "timeWindow"},
		{"threshold type", func(r *herald.MetricAlertRule) { r.ThresholdType = 2 }, "thresholdType"},
		{"no projects", func(r *herald.MetricAlertRule) { r.ProjectIDs = nil }, "projects"},
		{"query", func(r *herald.MetricAlertRule) { r.Query = "level:loud" }, "query"},
		{"no critical", func(r *herald.MetricAlertRule) { r.Triggers = r.Triggers[1:] }, "triggers"},
		{"bad label", func(r *herald.MetricAlertRule) { r.Triggers[1].Label = "info" }, "triggers"},
		{"warning above critical", func(r *herald.MetricAlertRule) { r.Triggers[1].AlertThreshold = 150 }, "triggers"},
		{"below: warning under critical", func(r *herald.MetricAlertRule) { r.ThresholdType = herald.ThresholdBelow }, "triggers"},
		{"resolve above warning", func(r *herald.MetricAlertRule) { r.ResolveThreshold = f(60) }, "resolveThreshold"},
		{"bad action", func(r *herald.MetricAlertRule) { r.Triggers[0].Actions[0].Type = "email" }, "triggers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid()
			tt.change(r)
			_, err := CompileMetric(r)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("err = %v, want a %s error", err, tt.field)
			}
		})
	}
}

func TestMetricCounts(t *testing.T) {
	m, err := CompileMetric(&herald.MetricAlertRule{Name: "m", Aggregate: herald.AggregateCount, Query: "level:error", Environment: "production",
		ProjectIDs: []int64{1, 2}, TimeWindow: 5, Triggers: []*herald.MetricTrigger{{Label: herald.TriggerCritical, AlertThreshold: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ev   herald.Event
		want bool
	}{
		{"matches", herald.Event{ProjectID: 2, Level: "error", Environment: "production"}, true},
		{"other project", herald.Event{ProjectID: 3, Level: "error", Environment: "production"}, false},
		{"other environment", herald.Event{ProjectID: 1, Level: "error", Environment: "staging"}, false},
		{"other level", herald.Event{ProjectID: 1, Level: "info", Environment: "production"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := m.Counts(&tt.ev); got != tt.want {
				t.Fatalf("Counts = %v, want %v", got, tt.want)
			}
		})
	}
}
