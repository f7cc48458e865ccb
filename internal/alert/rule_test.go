package alert

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/herald-dev/herald"
)

var now = time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC)

// rule returns a valid rule with the given conditions and filters and a
// legacy notify action.
func rule(conds []herald.RuleItem, filters ...herald.RuleItem) *herald.AlertRule {
	return &herald.AlertRule{Name: "r", Conditions: conds, Filters: filters,
		Actions: []herald.RuleItem{{"id": NotifyEventAction}}}
}

func mustCompile(t *testing.T, r *herald.AlertRule) *Rule {
	t.Helper()
	c, err := Compile(r)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return c
}

// input returns an event of level error with tags, in an issue seen 10
// times, first seen an hour ago.
func input() *Input {
	return &Input{
		Event: &herald.Event{Level: "error", Environment: "production", Release: "v1.2.3",
			Tags: []herald.Tag{{Key: "browser", Value: "Chrome 120"}, {Key: "Server_Name", Value: "web-1"}}},
		Issue: &herald.Issue{Count: 10, FirstSeen: now.Add(-time.Hour)},
		Now:   now,
		Events: func(d time.Duration) int64 {
			return map[time.Duration]int64{time.Minute: 3, time.Hour: 50}[d]
		},
		Users: func(d time.Duration) int64 {
			return map[time.Duration]int64{time.Minute: 1, time.Hour: 7}[d]
		},
	}
}

func TestConditions(t *testing.T) {
	tests := []struct {
		name  string
		cond  herald.RuleItem
		setup func(in *Input)
		want  bool
	}{
		{"first seen, new issue", herald.RuleItem{"id": FirstSeen}, func(in *Input) { in.FirstSeen = true }, true},
		{"first seen, old issue", herald.RuleItem{"id": FirstSeen}, nil, false},
		{"regression, regressed", herald.RuleItem{"id": Regression}, func(in *Input) { in.Regressed = true }, true},
		{"regression, not regressed", herald.RuleItem{"id": Regression}, func(in *Input) { in.FirstSeen = true }, false},
		{"every event", herald.RuleItem{"id": EveryEvent}, nil, true},
		{"event frequency above", herald.RuleItem{"id": EventFrequency, "value": 2, "interval": "1m"}, nil, true},
		{"event frequency equal is not more", herald.RuleItem{"id": EventFrequency, "value": 3, "interval": "1m"}, nil, false},
		{"event frequency string value", herald.RuleItem{"id": EventFrequency, "value": "49", "interval": "1h"}, nil, true},
		{"event frequency other window", herald.RuleItem{"id": EventFrequency, "value": 50, "interval": "1h"}, nil, false},
		{"event frequency without counts", herald.RuleItem{"id": EventFrequency, "value": 0, "interval": "1m"}, func(in *Input) { in.Events = nil }, false},
		{"unique users above", herald.RuleItem{"id": UniqueUserFrequency, "value": 6, "interval": "1h"}, nil, true},
		{"unique users below", herald.RuleItem{"id": UniqueUserFrequency, "value": 1, "interval": "1m"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustCompile(t, rule([]herald.RuleItem{tt.cond}))
			in := input()
			if tt.setup != nil {
				tt.setup(in)
			}
			if got := r.Matches(in); got != tt.want {
				t.Fatalf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFilters(t *testing.T) {
	level := func(match string, lv any) herald.RuleItem {
		return herald.RuleItem{"id": LevelFilter, "match": match, "level": lv}
	}
	tag := func(key, match, value string) herald.RuleItem {
		return herald.RuleItem{"id": TaggedEventFilter, "key": key, "match": match, "value": value}
	}
	age := func(ct string, v int, unit string) herald.RuleItem {
		return herald.RuleItem{"id": AgeComparisonFilter, "comparison_type": ct, "value": v, "time": unit}
	}
	tests := []struct {
		name   string
		filter herald.RuleItem
		want   bool
	}{
		{"level eq error", level("eq", "40"), true},
		{"level eq warning", level("eq", "30"), false},
		{"level gte warning", level("gte", 30), true},
		{"level gte fatal", level("gte", 50), false},
		{"level lte error", level("lte", "40"), true},
		{"level lte info", level("lte", "20"), false},
		{"tag eq", tag("browser", "eq", "chrome 120"), true},
		{"tag eq other value", tag("browser", "eq", "firefox"), false},
		{"tag key any case", tag("server_name", "eq", "web-1"), true},
		{"tag ne", tag("browser", "ne", "firefox"), true},
		{"tag ne same", tag("browser", "ne", "Chrome 120"), false},
		{"tag co", tag("browser", "co", "rome"), true},
		{"tag co missing", tag("browser", "co", "fox"), false},
		{"tag nc", tag("browser", "nc", "fox"), true},
		{"tag nc present", tag("browser", "nc", "chrome"), false},
		{"tag sw", tag("browser", "sw", "chr"), true},
		{"tag sw not", tag("browser", "sw", "120"), false},
		{"tag ew", tag("browser", "ew", "120"), true},
		{"tag ew not", tag("browser", "ew", "chr"), false},
		{"tag is", tag("browser", "is", ""), true},
		{"tag is missing", tag("os", "is", ""), false},
		{"tag ns", tag("os", "ns", ""), true},
		{"tag ns present", tag("browser", "ns", ""), false},
		{"tag environment from the event", tag("environment", "eq", "production"), true},
		{"tag release from the event", tag("release", "sw", "v1"), true},
		{"occurrences reached", herald.RuleItem{"id": IssueOccurrencesFilter, "value": 10}, true},
		{"occurrences not reached", herald.RuleItem{"id": IssueOccurrencesFilter, "value": "11"}, false},
		{"age older than 30 minutes", age("older", 30, "minute"), true},
		{"age older than 2 hours", age("older", 2, "hour"), false},
		{"age newer than 1 day", age("newer", 1, "day"), true},
		{"age newer than 30 minutes", age("newer", 30, "minute"), false},
		{"age newer than 1 week", age("newer", 1, "week"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustCompile(t, rule([]herald.RuleItem{{"id": EveryEvent}}, tt.filter))
			if got := r.Matches(input()); got != tt.want {
				t.Fatalf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMatchModes(t *testing.T) {
	yes, no := herald.RuleItem{"id": EveryEvent}, herald.RuleItem{"id": FirstSeen}
	fyes := herald.RuleItem{"id": LevelFilter, "match": "gte", "level": "40"}
	fno := herald.RuleItem{"id": LevelFilter, "match": "eq", "level": "10"}
	tests := []struct {
		name                     string
		actionMatch, filterMatch string
		conds, filters           []herald.RuleItem
		env                      string
		want                     bool
	}{
		{"all pass", "all", "", []herald.RuleItem{yes, yes}, nil, "", true},
		{"all, one fails", "all", "", []herald.RuleItem{yes, no}, nil, "", false},
		{"any, one passes", "any", "", []herald.RuleItem{no, yes}, nil, "", true},
		{"any, none pass", "any", "", []herald.RuleItem{no, no}, nil, "", false},
		{"none, none pass", "none", "", []herald.RuleItem{no}, nil, "", true},
		{"none, one passes", "none", "", []herald.RuleItem{no, yes}, nil, "", false},
		{"filters all, one fails", "all", "all", []herald.RuleItem{yes}, []herald.RuleItem{fyes, fno}, "", false},
		{"filters any, one passes", "all", "any", []herald.RuleItem{yes}, []herald.RuleItem{fno, fyes}, "", true},
		{"filters none, one passes", "all", "none", []herald.RuleItem{yes}, []herald.RuleItem{fno, fyes}, "", false},
		{"environment matches", "all", "", []herald.RuleItem{yes}, nil, "production", true},
		{"environment differs", "all", "", []herald.RuleItem{yes}, nil, "staging", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rule(tt.conds, tt.filters...)
			r.ActionMatch, r.FilterMatch, r.Environment = tt.actionMatch, tt.filterMatch, tt.env
			if got := mustCompile(t, r).Matches(input()); got != tt.want {
				t.Fatalf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCompileRejects(t *testing.T) {
	ok := []herald.RuleItem{{"id": EveryEvent}}
	act := []herald.RuleItem{{"id": NotifyEventAction}}
	tests := []struct {
		name  string
		rule  herald.AlertRule
		field string
	}{
		{"blank name", herald.AlertRule{Name: " ", Conditions: ok, Actions: act}, "name"},
		{"bad actionMatch", herald.AlertRule{Name: "r", ActionMatch: "some", Conditions: ok, Actions: act}, "actionMatch"},
		{"bad filterMatch", herald.AlertRule{Name: "r", FilterMatch: "x", Conditions: ok, Actions: act}, "filterMatch"},
		{"frequency too small", herald.AlertRule{Name: "r", Frequency: 1, Conditions: ok, Actions: act}, "frequency"},
		{"no conditions", herald.AlertRule{Name: "r", Actions: act}, "conditions"},
		{"no actions", herald.AlertRule{Name: "r", Conditions: ok}, "actions"},
		{"unknown condition", herald.AlertRule{Name: "r", Conditions: []herald.RuleItem{{"id": "x"}}, Actions: act}, "conditions"},
		{"condition without id", herald.AlertRule{Name: "r", Conditions: []herald.RuleItem{{}}, Actions: act}, "conditions"},
		{"reappeared", herald.AlertRule{Name: "r", Conditions: []herald.RuleItem{{"id": Reappeared}}, Actions: act}, "conditions"},
		{"bad interval", herald.AlertRule{Name: "r", Conditions: []herald.RuleItem{{"id": EventFrequency, "value": 1, "interval": "2m"}}, Actions: act}, "conditions"},
		{"fractional value", herald.AlertRule{Name: "r", Conditions: []herald.RuleItem{{"id": EventFrequency, "value": 1.5, "interval": "1m"}}, Actions: act}, "conditions"},
		{"percent comparison", herald.AlertRule{Name: "r", Conditions: []herald.RuleItem{{"id": EventFrequency, "value": 1, "interval": "1m", "comparisonType": "percent"}}, Actions: act}, "conditions"},
		{"bad level", herald.AlertRule{Name: "r", Conditions: ok, Filters: []herald.RuleItem{{"id": LevelFilter, "match": "eq", "level": "45"}}, Actions: act}, "filters"},
		{"bad level match", herald.AlertRule{Name: "r", Conditions: ok, Filters: []herald.RuleItem{{"id": LevelFilter, "match": "gt", "level": "40"}}, Actions: act}, "filters"},
		{"tag without key", herald.AlertRule{Name: "r", Conditions: ok, Filters: []herald.RuleItem{{"id": TaggedEventFilter, "match": "eq", "value": "a"}}, Actions: act}, "filters"},
		{"tag bad match", herald.AlertRule{Name: "r", Conditions: ok, Filters: []herald.RuleItem{{"id": TaggedEventFilter, "key": "a", "match": "re", "value": "a"}}, Actions: act}, "filters"},
		{"tag eq without value", herald.AlertRule{Name: "r", Conditions: ok, Filters: []herald.RuleItem{{"id": TaggedEventFilter, "key": "a", "match": "eq"}}, Actions: act}, "filters"},
		{"age bad unit", herald.AlertRule{Name: "r", Conditions: ok, Filters: []herald.RuleItem{{"id": AgeComparisonFilter, "comparison_type": "older", "value": 1, "time": "year"}}, Actions: act}, "filters"},
		{"age bad comparison", herald.AlertRule{Name: "r", Conditions: ok, Filters: []herald.RuleItem{{"id": AgeComparisonFilter, "comparison_type": "same", "value": 1, "time": "day"}}, Actions: act}, "filters"},
		{"occurrences negative", herald.AlertRule{Name: "r", Conditions: ok, Filters: []herald.RuleItem{{"id": IssueOccurrencesFilter, "value": -1}}, Actions: act}, "filters"},
		{"app action without uuid", herald.AlertRule{Name: "r", Conditions: ok, Actions: []herald.RuleItem{{"id": SentryAppAction}}}, "actions"},
		{"unknown action", herald.AlertRule{Name: "r", Conditions: ok, Actions: []herald.RuleItem{{"id": "mail"}}}, "actions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(&tt.rule)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || fe.Message == "" {
				t.Fatalf("err = %v, want a %s error", err, tt.field)
			}
		})
	}
}

func TestCompileDefaultsAndInstallations(t *testing.T) {
	r := &herald.AlertRule{Name: " New errors ", Conditions: []herald.RuleItem{{"id": FirstSeen}},
		Actions: []herald.RuleItem{{"id": SentryAppAction, "sentryAppInstallationUuid": "u1"}, {"id": SentryAppAction, "sentryAppInstallationUuid": "u1"}}}
	c := mustCompile(t, r)
	if r.Name != "New errors" || r.ActionMatch != "all" || r.FilterMatch != "all" || r.Frequency != DefaultFrequency {
		t.Fatalf("defaults = %+v", r)
	}
	if len(c.Installations) != 1 || c.Installations[0] != "u1" {
		t.Fatalf("installations = %v", c.Installations)
	}
	ev, us := mustCompile(t, rule([]herald.RuleItem{{"id": EventFrequency, "value": 1, "interval": "5m"},
		{"id": UniqueUserFrequency, "value": 1, "interval": "1h"}})).Windows()
	if len(ev) != 1 || ev[0] != 5*time.Minute || len(us) != 1 || us[0] != time.Hour {
		t.Fatalf("windows = %v %v", ev, us)
	}
}

// FuzzCompile: any JSON rule body compiles or gives a FieldError, and a
// compiled rule evaluates without panicking.
func FuzzCompile(f *testing.F) {
	f.Add(`{"name":"r","conditions":[{"id":"` + EventFrequency + `","value":"3","interval":"1h"}],"actions":[{"id":"` + NotifyEventAction + `"}]}`)
	f.Add(`{"name":"r","actionMatch":"any","conditions":[{"id":"` + FirstSeen + `"}],"filters":[{"id":"` + TaggedEventFilter + `","key":"a","match":"co","value":"b"}],"actions":[{"id":"` + SentryAppAction + `","sentryAppInstallationUuid":"u"}]}`)
	f.Add(`{"name":"r","conditions":[{"id":"` + EveryEvent + `"}],"filters":[{"id":"` + AgeComparisonFilter + `","comparison_type":"older","value":1e300,"time":"week"}],"actions":[{}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		var in struct {
			Name        string
			ActionMatch string
			FilterMatch string
			Frequency   int
			Conditions  []herald.RuleItem
			Filters     []herald.RuleItem
			Actions     []herald.RuleItem
		}
		if json.Unmarshal([]byte(body), &in) != nil {
			return
		}
		r := &herald.AlertRule{Name: in.Name, ActionMatch: in.ActionMatch, FilterMatch: in.FilterMatch, Frequency: in.Frequency,
			Conditions: in.Conditions, Filters: in.Filters, Actions: in.Actions}
		c, err := Compile(r)
		var fe *FieldError
		if err != nil && !errors.As(err, &fe) {
			t.Fatalf("error %v is not a FieldError", err)
		}
		if c != nil {
			c.Matches(input())
		}
	})
}
