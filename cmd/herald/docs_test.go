package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/herald-dev/herald"
)

// TestConfigReference fails when docs/configuration.md is not what
// `herald docs config` generates from the flag definitions.
func TestConfigReference(t *testing.T) {
	t.Parallel()
	want, err := configReference(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(want, "\n")
		i := 0
		for i < len(gl) && i < len(wl) && gl[i] == wl[i] {
			i++
		}
		line := func(l []string) string {
			if i < len(l) {
				return l[i]
			}
			return "(end of file)"
		}
		t.Fatalf("docs/configuration.md is out of date: run `go run ./cmd/herald docs config > docs/configuration.md`\n"+
			"first difference, line %d:\n  file:      %s\n  generated: %s", i+1, line(gl), line(wl))
	}
}

// usageCommands returns the commands the usage text lists.
func usageCommands(t *testing.T) []string {
	t.Helper()
	_, list, ok := strings.Cut(usage, "Commands:\n")
	if !ok {
		t.Fatal("usage has no Commands: section")
	}
	list, _, _ = strings.Cut(list, "\n\n")
	var cmds []string
	for _, l := range strings.Split(list, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			cmds = append(cmds, f[0])
		}
	}
	return cmds
}

// TestConfigReferenceCommands: every command the usage lists is in the
// reference, docs (which has no flags) aside, and every one of them runs
// with -h.
func TestConfigReferenceCommands(t *testing.T) {
	t.Parallel()
	for _, cmd := range usageCommands(t) {
		if cmd == "docs" {
			continue
		}
		if !slices.ContainsFunc(docCommands, func(c docCommand) bool { return c.args[0] == cmd }) {
			t.Errorf("command %s is not in docCommands: the configuration reference leaves it out", cmd)
		}
	}
	for _, c := range docCommands {
		if _, flags, err := commandFlags(context.Background(), c); err != nil || len(flags) == 0 {
			t.Errorf("%s: %d flags, %v", c.name, len(flags), err)
		}
	}
	// Every serve flag is in one of the groups written for it.
	_, flags, err := commandFlags(context.Background(), docCommands[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flags {
		if !slices.ContainsFunc(docCommands[0].groups, func(g flagGroup) bool { return slices.Contains(g.flags, f.name) }) {
			t.Errorf("serve's --%s is in no group of docCommands: it is listed under Other", f.name)
		}
	}
}

// operatorDocs are the docs whose commands, flags and metrics
// TestDocsNameRealThings checks.
var operatorDocs = []string{"operations.md", "monitoring.md", "receivers.md", "prometheus-rules.yaml"}

// serverMetrics returns the names of the metrics a running server exports.
func serverMetrics(t *testing.T) map[string]bool {
	t.Helper()
	srv := MustStart(t, testConfig(t, sqliteBackend))
	// A request first: the request counter has no series before one.
	if resp, err := http.Get(srv.URL + "/healthz"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			names[f[2]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

var (
	codeSpan    = regexp.MustCompile("`([^`\n]+)`")
	heraldCmd   = regexp.MustCompile(`\bherald ([a-z][a-z-]*)\b(.*)`)
	metricName  = regexp.MustCompile(`\bherald_[a-z_]*[a-z]\b`)
	cmdEnd      = regexp.MustCompile(`\s(\||&&|&|;|>|#)(\s|$)`)
	flagPattern = regexp.MustCompile(`^--[a-z][a-z-]*`)
)

// codeTexts returns the code in a Markdown document: each inline code
// span outside fenced blocks, and each line of the fenced blocks. A YAML
// file is code throughout.
func codeTexts(doc, name string) []string {
	if strings.HasSuffix(name, ".yaml") {
		return slices.DeleteFunc(strings.Split(doc, "\n"), func(l string) bool { return strings.HasPrefix(strings.TrimSpace(l), "#") })
	}
	var out []string
	fenced := false
	for _, l := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			out = append(out, l)
			continue
		}
		for _, m := range codeSpan.FindAllStringSubmatch(l, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// TestDocsNameRealThings checks the operator docs and the alerting rules
// against the code: each `herald <command>` they show is a command and
// its flags are that command's, each flag they name is some command's,
// and each metric they name is one a server exports.
func TestDocsNameRealThings(t *testing.T) {
	t.Parallel()
	flagsOf := map[string]map[string]bool{} // "token create" → its flags
	anyFlag := map[string]bool{}
	for _, c := range docCommands {
		_, flags, err := commandFlags(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		flagsOf[c.name] = map[string]bool{}
		for _, f := range flags {
			flagsOf[c.name]["--"+f.name] = true
			anyFlag["--"+f.name] = true
		}
	}
	commands := usageCommands(t)
	exported := serverMetrics(t)
	for _, name := range operatorDocs {
		raw, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metricName.FindAllString(string(raw), -1) {
			base := m
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(m, suffix); ok && exported[b] {
					base = b
				}
			}
			if !exported[base] {
				t.Errorf("%s names the metric %s, which no server exports", name, m)
			}
		}
		for _, code := range codeTexts(string(raw), name) {
			if f := flagPattern.FindString(code); f != "" && !anyFlag[f] {
				t.Errorf("%s names the flag %s (in %q), which no command has", name, f, code)
			}
			for _, m := range heraldCmd.FindAllStringSubmatch(code, -1) {
				if !slices.Contains(commands, m[1]) {
					t.Errorf("%s runs herald %s (in %q), which is no command", name, m[1], code)
					continue
				}
				rest := m[2]
				if loc := cmdEnd.FindStringIndex(rest); loc != nil {
					rest = rest[:loc[0]]
				}
				cmd := m[1]
				if sub := strings.Fields(rest); len(sub) > 0 && flagsOf[cmd+" "+sub[0]] != nil {
					cmd += " " + sub[0]
				}
				for _, tok := range strings.Fields(rest) {
					f := flagPattern.FindString(tok)
					if f == "" || !strings.HasPrefix(tok, "--") {
						continue
					}
					if flagsOf[cmd] == nil || !flagsOf[cmd][f] {
						t.Errorf("%s gives herald %s the flag %s (in %q), which it does not have", name, cmd, f, code)
					}
				}
			}
		}
	}
}

// TestPrometheusRules parses docs/prometheus-rules.yaml: every rule has a
// name, an expression naming a Herald metric, a severity and a summary.
// TestDocsNameRealThings checks that the metrics exist.
func TestPrometheusRules(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join(repoRoot(t), "docs", "prometheus-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var file struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("prometheus-rules.yaml: %v", err)
	}
	alerts := map[string]bool{}
	for _, g := range file.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: want a name and rules", g.Name)
		}
		for _, r := range g.Rules {
			switch {
			case r.Alert == "" || alerts[r.Alert]:
				t.Errorf("group %s: a rule without a name of its own (%q)", g.Name, r.Alert)
			case r.Expr == "" || (!metricName.MatchString(r.Expr) && !strings.Contains(r.Expr, `job="herald"`)):
				t.Errorf("%s: expression %q names no Herald metric", r.Alert, r.Expr)
			case r.Labels["severity"] != "warning" && r.Labels["severity"] != "critical":
				t.Errorf("%s: severity %q, want warning or critical", r.Alert, r.Labels["severity"])
			case r.Annotations["summary"] == "":
				t.Errorf("%s: no summary", r.Alert)
			}
			alerts[r.Alert] = true
		}
	}
	for _, want := range []string{"HeraldDeliveriesFailing", "HeraldDeliveryBacklogOld", "HeraldDestinationsDisabled"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}
}

// TestBacklogMetrics scrapes the backlog gauges on both databases: on an
// empty one, then with a delivery its receiver fails (so it waits for a
// retry an hour away) and a disabled hook.
func TestBacklogMetrics(t *testing.T) {
	t.Parallel()
	gauges := []string{"herald_deliveries_pending", "herald_deliveries_overdue_seconds", "herald_deliveries_oldest_age_seconds",
		"herald_hooks_disabled"}
	for _, b := range []backend{sqliteBackend, postgresBackend} {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, b)
			cfg.RetrySchedule = "1h"
			srv := MustStart(t, cfg)
			scrape := func() map[string]float64 {
				res, err := http.Get(srv.URL + "/metrics")
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				body, _ := io.ReadAll(res.Body)
				got := map[string]float64{}
				for _, line := range strings.Split(string(body), "\n") {
					name, value, ok := strings.Cut(line, " ")
					if ok && slices.Contains(gauges, name) {
						n, err := strconv.ParseFloat(value, 64)
						if err != nil {
							t.Fatalf("%s: %v", line, err)
						}
						got[name] = n
					}
				}
				if len(got) != len(gauges) {
					t.Fatalf("scrape has %v, want every one of %v", got, gauges)
				}
				return got
			}
			for name, n := range scrape() {
				if n != 0 {
					t.Errorf("empty database: %s = %v, want 0", name, n)
				}
			}
			p := setUp(t, srv)
			failing := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
			createHook(t, srv, failing.URL, "event.created")
			off := createHook(t, srv, failing.URL+"/off", "event.created")
			mustStatus(t, 200, call(t, srv.URL, "PUT", "/api/0/projects/acme/web/hooks/"+off.ID+"/",
				map[string]any{"url": off.URL, "events": off.Events, "status": "disabled"}, nil))
			start := time.Now()
			mustStatus(t, 200, storeEvent(t, srv, p, herald.NewID(), "monitoring"))
			failing.wait(t, 1, 30*time.Second)
			got := scrape()
			if got["herald_deliveries_pending"] != 1 || got["herald_hooks_disabled"] != 1 {
				t.Errorf("pending, disabled = %v, %v; want 1, 1", got["herald_deliveries_pending"], got["herald_hooks_disabled"])
			}
			if age := got["herald_deliveries_oldest_age_seconds"]; age < 0 || age > time.Since(start).Seconds()+1 {
				t.Errorf("oldest pending delivery is %v s old, want at most %v", age, time.Since(start).Seconds())
			}
			// Its retry is an hour away: nothing is overdue.
			if due := got["herald_deliveries_overdue_seconds"]; due != 0 {
				t.Errorf("overdue %v s, want 0", due)
			}
		})
	}
}
