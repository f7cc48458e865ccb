package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/herald-dev/herald"
)

// apiClient calls Herald's /api/0/ with a bearer token.
type apiClient struct {
	base   string
	token  string
	client *http.Client
}

// call sends a JSON request and decodes a 2xx answer into out (when not
// nil). Any other answer is an error naming the status and Sentry's detail.
func (c *apiClient) call(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: encode: %w", method, path, err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e struct {
			Detail any `json:"detail"`
		}
		_ = json.Unmarshal(raw, &e)
		return fmt.Errorf("%s %s: status %d: %v", method, path, resp.StatusCode, e.Detail)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// project is a project the bench created, with its DSN's public key.
type project struct {
	ID   string
	Org  string
	Slug string
	Key  string
}

// setUp creates an organization, a team and a project with fresh slugs, so
// that a running server can be benchmarked more than once.
func (c *apiClient) setUp(ctx context.Context) (project, error) {
	suffix := herald.RandomHex(4)
	p := project{Org: "bench-" + suffix, Slug: "load"}
	if err := c.call(ctx, http.MethodPost, "/api/0/organizations/", map[string]any{"name": "Bench " + suffix, "slug": p.Org}, nil); err != nil {
		return project{}, fmt.Errorf("create organization: %w", err)
	}
	if err := c.call(ctx, http.MethodPost, "/api/0/organizations/"+p.Org+"/teams/", map[string]any{"name": "Bench", "slug": "bench"}, nil); err != nil {
		return project{}, fmt.Errorf("create team: %w", err)
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := c.call(ctx, http.MethodPost, "/api/0/teams/"+p.Org+"/bench/projects/", map[string]any{"name": "Load", "slug": p.Slug, "platform": "go"}, &created); err != nil {
		return project{}, fmt.Errorf("create project: %w", err)
	}
	p.ID = created.ID
	var keys []struct {
		Public string `json:"public"`
	}
	if err := c.call(ctx, http.MethodGet, "/api/0/projects/"+p.Org+"/"+p.Slug+"/keys/", nil, &keys); err != nil {
		return project{}, fmt.Errorf("list keys: %w", err)
	}
	if len(keys) == 0 || keys[0].Public == "" || p.ID == "" {
		return project{}, fmt.Errorf("project %s has no id or DSN key", p.Slug)
	}
	p.Key = keys[0].Public
	return p, nil
}

// hookInfo is a hook the bench created.
type hookInfo struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// createHook creates a Service Hook on events, event.created when none
// are given.
func (c *apiClient) createHook(ctx context.Context, p project, url string, events ...string) (hookInfo, error) {
	if len(events) == 0 {
		events = []string{hookEventCreated}
	}
	var h hookInfo
	err := c.call(ctx, http.MethodPost, "/api/0/projects/"+p.Org+"/"+p.Slug+"/hooks/", map[string]any{"url": url, "events": events}, &h)
	if err != nil {
		return hookInfo{}, fmt.Errorf("create hook: %w", err)
	}
	if h.ID == "" || h.Secret == "" {
		return hookInfo{}, fmt.Errorf("create hook: answer has no id or secret")
	}
	return h, nil
}

// createHooks creates n hooks on rc (URLs rc.HookURL(0..n-1)) with a few
// requests at once, registering their secrets with rc.
func (c *apiClient) createHooks(ctx context.Context, p project, rc *Receiver, n int) error {
	const parallel = 8
	errs := make(chan error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			h, err := c.createHook(ctx, p, rc.HookURL(i))
			if err != nil {
				errs <- err
				return
			}
			rc.AddSecret(h.ID, h.Secret)
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// Service Hook events, and the ids of the issue alert rule items the
// bench uses, as Sentry names them.
const (
	hookEventCreated = "event.created"
	hookEventAlert   = "event.alert"

	ruleFirstSeen      = "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"
	ruleEventFrequency = "sentry.rules.conditions.event_frequency.EventFrequencyCondition"
	ruleNotifyEvent    = "sentry.rules.actions.notify_event.NotifyEventAction"
)

// neverFrequency is an event count no issue reaches in a bench, so that an
// event frequency condition with it never passes but still has its
// counters kept.
const neverFrequency = 1_000_000

// createNewIssueRule creates an issue alert rule on p that fires for each
// new issue (first seen) or, never, for an issue seen more than
// neverFrequency times in a minute, and notifies the project's Service
// Hooks (event.alert).
func (c *apiClient) createNewIssueRule(ctx context.Context, p project) error {
	body := map[string]any{
		"name":        "Bench: new issues",
		"actionMatch": "any",
		"filterMatch": "all",
		"frequency":   30,
		"conditions": []map[string]any{
			{"id": ruleFirstSeen},
			{"id": ruleEventFrequency, "value": neverFrequency, "interval": "1m", "comparisonType": "count"},
		},
		"filters": []map[string]any{},
		"actions": []map[string]any{{"id": ruleNotifyEvent}},
	}
	var rule struct {
		ID string `json:"id"`
	}
	if err := c.call(ctx, http.MethodPost, "/api/0/projects/"+p.Org+"/"+p.Slug+"/rules/", body, &rule); err != nil {
		return fmt.Errorf("create alert rule: %w", err)
	}
	if rule.ID == "" {
		return fmt.Errorf("create alert rule: answer has no id")
	}
	return nil
}

// appInfo is a Sentry App the bench created.
type appInfo struct {
	Slug         string `json:"slug"`
	ClientSecret string `json:"clientSecret"`
}

// createInternalApp creates an internal Sentry App of p's organization
// (installed on it at once) subscribed to issue and error, whose webhooks
// go to url.
func (c *apiClient) createInternalApp(ctx context.Context, p project, url string) (appInfo, error) {
	body := map[string]any{
		"name":         "Bench " + p.Org,
		"organization": p.Org,
		"isInternal":   true,
		"webhookUrl":   url,
		"events":       []string{"issue", "error"},
		"scopes":       []string{"event:read"},
	}
	var app appInfo
	if err := c.call(ctx, http.MethodPost, "/api/0/sentry-apps/", body, &app); err != nil {
		return appInfo{}, fmt.Errorf("create sentry app: %w", err)
	}
	if app.Slug == "" || app.ClientSecret == "" || strings.Trim(app.ClientSecret, "*") == "" {
		return appInfo{}, fmt.Errorf("create sentry app: answer has no slug or readable client secret")
	}
	return app, nil
}

// storeAuth is the X-Sentry-Auth header for key.
func storeAuth(key string) string {
	return "Sentry sentry_version=7, sentry_client=herald-bench/" + herald.Version + ", sentry_key=" + strings.TrimSpace(key)
}

// outcomes reads the server's delivery outcomes so far, by result
// (delivered, retrying, failed, put_off), from GET /metrics.
func (c *apiClient) outcomes(ctx context.Context) (map[string]float64, error) {
	text, err := c.metrics(ctx)
	if err != nil {
		return nil, err
	}
	return parseOutcomes(text), nil
}

// commits reads the server's ingest commits so far from GET /metrics; ok
// is false when the server does not export them (an older build).
func (c *apiClient) commits(ctx context.Context) (st commitStats, ok bool) {
	text, err := c.metrics(ctx)
	if err != nil {
		return commitStats{}, false
	}
	return parseCommits(text)
}

// metrics returns the server's metrics in Prometheus's text format.
func (c *apiClient) metrics(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: status %d", resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", fmt.Errorf("GET /metrics: %w", err)
	}
	return string(raw), nil
}

// commitStats are a server's ingest commits: how many, the events they
// held and the seconds they took, summed.
type commitStats struct{ count, events, seconds float64 }

// since returns the commits made between earlier and c.
func (c commitStats) since(earlier commitStats) commitStats {
	return commitStats{c.count - earlier.count, c.events - earlier.events, c.seconds - earlier.seconds}
}

// parseCommits picks the sums of the ingest commit histograms out of
// Prometheus's text format; ok is false when one is missing.
func parseCommits(text string) (st commitStats, ok bool) {
	fields := map[string]*float64{
		"herald_ingest_commit_duration_seconds_count": &st.count,
		"herald_ingest_commit_duration_seconds_sum":   &st.seconds,
		"herald_ingest_commit_events_sum":             &st.events,
	}
	found := 0
	for line := range strings.Lines(text) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if dst := fields[name]; ok && dst != nil {
			if v, err := strconv.ParseFloat(value, 64); err == nil {
				*dst = v
				found++
			}
		}
	}
	return st, found == len(fields)
}

// parseOutcomes picks the samples of herald_delivery_outcomes_total out of
// Prometheus's text format, by their result label.
func parseOutcomes(text string) map[string]float64 {
	const prefix = `herald_delivery_outcomes_total{result="`
	out := map[string]float64{}
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		result, value, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			out[result] = v
		}
	}
	return out
}
