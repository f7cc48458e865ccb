package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, rep Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// WriteMarkdown writes where the bench ran, a summary table of the
// results, one row per scenario, then a table of each scenario's figures.
func WriteMarkdown(w io.Writer, rep Report) error {
	var b strings.Builder
	results := rep.Results
	m := rep.Machine
	built := rep.Built
	if built == "" {
		built = "unknown"
	}
	// The first part is the line `herald version` prints.
	fmt.Fprintf(&b, "herald %s (commit %s, built %s, %s); %d CPUs (%s), %s memory\n\n",
		rep.Version, rep.Revision, built, m.GoVersion, m.CPUs, m.Model, formatBytes(m.MemoryBytes))
	if rep.Command != "" {
		fmt.Fprintf(&b, "`%s`\n\n", rep.Command)
	}
	b.WriteString("| scenario | db | events accepted/s | deliveries/s | raw ceiling req/s | ratio | latency p50 / p95 / p99 ms | server peak RSS | server CPU | Herald CPU µs/event | PostgreSQL CPU µs/event | target | measured | result |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			scenarioLabel(r), r.Database, accepted(r), num(r.DeliveriesPerSec), num(r.CeilingPerSec),
			ratio(r.Ratio), latencies(r.Latency), peakRSS(r.Server), cpu(r.Server),
			serverPerEvent(r), databasePerEvent(r), r.Target, measured(r), verdict(r))
	}
	writeRounds(&b, results)
	for _, r := range results {
		fmt.Fprintf(&b, "\n### %s (%s)\n\n", scenarioLabel(r), r.Database)
		b.WriteString("| figure | value |\n|---|---:|\n")
		row := func(name, value string) { fmt.Fprintf(&b, "| %s | %s |\n", name, value) }
		row("events sent / accepted / failed", fmt.Sprintf("%d / %d / %d", r.Events, r.Accepted, r.Failed))
		row("retried posts", fmt.Sprint(r.Retries))
		row("deliveries received / expected", fmt.Sprintf("%d / %d", r.Deliveries, r.Expected))
		row("duplicate deliveries", fmt.Sprint(r.Duplicates))
		row("signatures checked / bad", fmt.Sprintf("%d / %d", r.Signatures, r.BadSignatures))
		row("measured window", fmt.Sprintf("%.2f s", r.Seconds))
		row("events accepted/s", accepted(r))
		row("deliveries/s", num(r.DeliveriesPerSec))
		row("raw ceiling (plain POSTs/s)", num(r.CeilingPerSec))
		row("ratio to raw ceiling", ratio(r.Ratio))
		row("latency p50 / p95 / p99 / max", latencies(r.Latency)+fmt.Sprintf(" / %.1f ms", r.Latency.Max))
		row("server peak RSS (sampled) / VmHWM", peakRSS(r.Server)+" / "+hwm(r.Server))
		row("server CPU", cpu(r.Server))
		row("Herald CPU per accepted event", perEventRow(serverPerEvent(r)))
		row("PostgreSQL CPU per accepted event (all its clients)", perEventRow(databasePerEvent(r)))
		row("bench process CPU (load generator + receiver)", fmt.Sprintf("%.0f%%", r.BenchCPUPercent))
		row("bench CPU per accepted event", perEventRow(micros(r.BenchCPUPerEvent)))
		row("machine CPU per accepted event, all processes", perEventRow(micros(r.MachineCPUPerEvent)))
		row("raw ceiling: machine CPU per plain POST", perEventRow(micros(r.CeilingCPUPerPost)))
		if r.DatabaseCPUPercent > 0 {
			row("PostgreSQL processes CPU (all its clients)", fmt.Sprintf("%.0f%%", r.DatabaseCPUPercent))
		}
		row(fmt.Sprintf("machine CPU busy, all processes (%d%% = every core)", 100*rep.Machine.CPUs), fmt.Sprintf("%.0f%%", r.MachineCPUPercent))
		for _, m := range r.Metrics {
			row(m.Name, fmt.Sprintf("%s %s", num(m.Value), m.Unit))
		}
		row("machine CPU busy before the scenario, bench idle", fmt.Sprintf("%.0f%%", r.BackgroundCPUPercent))
		row("target", r.Target)
		row("result", verdict(r)+" ("+measured(r)+")")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "\n- %s", n)
		}
		if r.Error != "" {
			fmt.Fprintf(&b, "\n- error: %s", r.Error)
		}
		if len(r.Notes) > 0 || r.Error != "" {
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// scenarioLabel names r's scenario, with its round and build when the run
// had several.
func scenarioLabel(r Result) string {
	if r.Round == 0 {
		return r.Scenario
	}
	return fmt.Sprintf("%s, round %d, %s", r.Scenario, r.Round, r.Build)
}

// writeRounds writes, for a run of several rounds or builds, a table of
// each scenario's figures per build: the measured figure of every round
// and the medians of the completed ones.
func writeRounds(b *strings.Builder, results []Result) {
	type key struct{ scenario, database, build string }
	var keys []key
	groups := map[key][]Result{}
	for _, r := range results {
		if r.Round == 0 {
			continue
		}
		k := key{r.Scenario, r.Database, r.Build}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	if len(keys) == 0 {
		return
	}
	b.WriteString("\n### Medians of the rounds\n\n")
	b.WriteString("| scenario | db | build | measured, each round | measured, median | deliveries/s, median | Herald CPU µs/event, median | PostgreSQL CPU µs/event, median |\n")
	b.WriteString("|---|---|---|---|---:|---:|---:|---:|\n")
	for _, k := range keys {
		var each []string
		var done []Result
		for _, r := range groups[k] {
			if r.Error != "" {
				each = append(each, "error")
				continue
			}
			each = append(each, measured(r))
			done = append(done, r)
		}
		med := func(f func(Result) float64) float64 {
			vs := make([]float64, len(done))
			for i, r := range done {
				vs[i] = f(r)
			}
			return median(vs)
		}
		middle, rate, herald, pg := "n/a", "n/a", "n/a", "n/a"
		if len(done) > 0 {
			m := done[0]
			m.Measured = med(func(r Result) float64 { return r.Measured })
			middle = measured(m)
			rate = num(med(func(r Result) float64 { return r.DeliveriesPerSec }))
			herald = micros(med(func(r Result) float64 { return r.ServerCPUPerEvent }))
			if k.database == Postgres {
				pg = micros(med(func(r Result) float64 { return r.DatabaseCPUPerEvent }))
			}
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n",
			k.scenario, k.database, k.build, strings.Join(each, " / "), middle, rate, herald, pg)
	}
}

// median is the middle of vs (the mean of the two middle ones when their
// number is even); 0 for none. It sorts vs.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

// num formats a rate or a figure: no decimals from 100 up, else up to 3
// significant decimals.
func num(v float64) string {
	switch {
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return fmt.Sprintf("%.0f", v)
	case v >= 100 || v <= -100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1 || v <= -1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// accepted formats the accept rate, which fan-out does not measure (its
// events are sent one at a time).
func accepted(r Result) string {
	if r.Scenario == ScenarioFanout {
		return "n/a"
	}
	return num(r.AcceptedPerSec)
}

func ratio(v float64) string { return fmt.Sprintf("%.2f", v) }

func latencies(l Latency) string {
	if l.Count == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f / %.1f / %.1f", l.P50, l.P95, l.P99)
}

func peakRSS(u *Usage) string {
	if u == nil {
		return "n/a"
	}
	return formatBytes(u.PeakRSSBytes)
}

func hwm(u *Usage) string {
	if u == nil {
		return "n/a"
	}
	return formatBytes(u.HWMBytes)
}

func cpu(u *Usage) string {
	if u == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.1f s (%.0f%%)", u.CPUSeconds, u.CPUPercent)
}

// serverPerEvent formats the server's CPU per accepted event in µs; n/a
// when the server was not measured or accepted nothing.
func serverPerEvent(r Result) string {
	if r.Server == nil || r.Accepted == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f", r.ServerCPUPerEvent)
}

// databasePerEvent formats the PostgreSQL processes' CPU per accepted
// event in µs; n/a on SQLite, on a target, or when nothing was accepted.
func databasePerEvent(r Result) string {
	if r.Database != Postgres || r.Accepted == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f", r.DatabaseCPUPerEvent)
}

// micros formats a CPU time in µs; n/a when it was not measured.
func micros(v float64) string {
	if v <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f", v)
}

// perEventRow adds the unit to a figure of serverPerEvent or
// databasePerEvent.
func perEventRow(v string) string {
	if v == "n/a" {
		return v
	}
	return v + " µs"
}

// measured formats the figure compared with the target.
func measured(r Result) string {
	switch r.Scenario {
	case ScenarioRelay, ScenarioThroughput, ScenarioNewIssues:
		return fmt.Sprintf("%.2f ×", r.Measured)
	case ScenarioMixed:
		if !slices.ContainsFunc(r.Metrics, func(m Metric) bool { return m.Name == metricOneIssueRate }) {
			return "n/a (no throughput)"
		}
		return fmt.Sprintf("%.2f × throughput", r.Measured)
	case ScenarioLatency:
		return fmt.Sprintf("p99 %.1f ms", r.Measured)
	case ScenarioFanout:
		return fmt.Sprintf("%.3f s", r.Measured)
	case ScenarioIsolation:
		return fmt.Sprintf("%.2f ×", r.Measured)
	case ScenarioBacklog:
		return fmt.Sprintf("%.1f MiB", r.Measured)
	}
	return num(r.Measured)
}

func verdict(r Result) string {
	switch {
	case r.Error != "":
		return "ERROR"
	case r.Pass && r.Scenario == ScenarioRelay:
		return "reference"
	case r.Pass:
		return "pass"
	default:
		return "FAIL"
	}
}
