package bench

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// metricOneIssueRate names the metric of the mixed scenario that holds
// the throughput it is compared with.
const metricOneIssueRate = "one-issue throughput deliveries/s, same run"

// mixedSettle is how long the mixed scenario keeps counting after the
// deliveries it expects have arrived, so that extra ones are seen too.
const mixedSettle = 300 * time.Millisecond

// mixed: MixedEvents events as fast as they are accepted, over MixedIssues
// recurring issues with every MixedNewEvery-th event opening a new issue of
// its own, to a project with a Service Hook on event.created and
// event.alert, an issue alert rule that notifies it of each new issue, and
// an internal Sentry App subscribed to issue and error. Every delivery is
// counted by kind against what the events sent must cause.
func (b *bench) mixed(ctx context.Context, r *Result) error {
	e, err := b.open(ctx, b.label(ScenarioMixed), nil)
	if err != nil {
		return err
	}
	defer func() { _ = e.close() }()
	e.spread = spread{issues: b.opts.MixedIssues, newEvery: b.opts.MixedNewEvery}
	rc, err := e.receiver(false)
	if err != nil {
		return err
	}
	b.progress.set("setting up a hook, an alert rule and a Sentry App")
	if err := e.hook(ctx, rc, 0, hookEventCreated, hookEventAlert); err != nil {
		return err
	}
	if err := e.api.createNewIssueRule(ctx, e.proj); err != nil {
		return err
	}
	app, err := e.api.createInternalApp(ctx, e.proj, rc.AppURL(0))
	if err != nil {
		return err
	}
	rc.AddAppSecret(0, app.ClientSecret)

	events := b.opts.MixedEvents
	nCeil := max(b.opts.CeilingRequests, events)
	ceil, err := e.ceiling(ctx, rc, nCeil)
	if err != nil {
		return err
	}
	p := e.plan(events)
	m := e.meter()
	b.progress.set("sending")
	sr := e.load.send(ctx, p.ids, b.opts.Concurrency)
	issues := p.issues(sr.accepts)
	want := mixedExpected(sr.accepted, issues)
	werr := e.wait(ctx, rc, sum(want))
	r.Server = m.stop(r)
	if werr == nil {
		select {
		case <-ctx.Done():
		case <-time.After(mixedSettle):
		}
	}
	rec := rc.snapshot()
	record(r, e.load, sr, rec, p.index, 0)
	r.Expected = sum(want)
	e.setRatio(ctx, r, rc, ceil, nCeil)

	var eventsPerSec float64
	if r.Seconds > 0 {
		eventsPerSec = float64(sr.accepted) / r.Seconds
	}
	if r.CeilingPerSec > 0 {
		r.Ratio = eventsPerSec / r.CeilingPerSec
	}
	r.metric("events delivered/s (events over the time to the last delivery)", eventsPerSec, "events/s")
	r.metric("issues the accepted events open (distinct fingerprints)", float64(issues), "issues")
	got := rec.kinds()
	for _, k := range mixedKinds {
		r.metric(fmt.Sprintf("%s deliveries received / expected", k), float64(got[k]), fmt.Sprintf("of %d", want[k]))
	}

	r.Target = fmt.Sprintf("events/s ≥ %s × the one-issue throughput's deliveries/s, same run", factor(targetMixed))
	ok := complete(r) && noDuplicates(r) && exactKinds(r, want, got)
	if rec.appChecked == 0 && got[kindErrorCreated]+got[kindIssueCreated] > 0 {
		r.note("no Sentry App signature was checked")
		ok = false
	}
	switch {
	case b.oneIssueRate > 0:
		r.metric(metricOneIssueRate, b.oneIssueRate, "deliveries/s")
		r.Measured = eventsPerSec / b.oneIssueRate
		r.Pass = ok && r.Measured >= targetMixed
	default:
		// A target not measured is not met: --check must not pass it.
		r.note("no one-issue throughput scenario completed earlier in this run: events/s not compared, the target not measured (run --scenario throughput,mixed)")
		r.Pass = false
	}
	return werr
}

// mixedKinds are the kinds of delivery the mixed scenario causes.
var mixedKinds = []string{kindEventCreated, kindEventAlert, kindErrorCreated, kindIssueCreated}

// mixedExpected is how many deliveries of each kind the mixed scenario's
// accepted events cause when they open issues issues: every event an
// event.created (Service Hook) and an error.created (Sentry App), every new
// issue an event.alert (the rule, to the Service Hook) and an
// issue.created (Sentry App).
func mixedExpected(accepted, issues int) map[string]int {
	return map[string]int{
		kindEventCreated: accepted,
		kindErrorCreated: accepted,
		kindEventAlert:   issues,
		kindIssueCreated: issues,
	}
}

// sum adds the counts of m.
func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// exactKinds reports whether got has exactly as many deliveries of each
// kind as want, and none of another kind, noting every difference.
func exactKinds(r *Result, want, got map[string]int) bool {
	ok := true
	kinds := make([]string, 0, len(want)+len(got))
	for k := range want {
		kinds = append(kinds, k)
	}
	for k := range got {
		if _, known := want[k]; !known {
			kinds = append(kinds, k)
		}
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		switch w, g := want[k], got[k]; {
		case g < w:
			r.note("%s: %d of %d deliveries missing", k, w-g, w)
			ok = false
		case g > w:
			r.note("%s: %d deliveries more than the %d expected", k, g-w, w)
			ok = false
		}
	}
	return ok
}
