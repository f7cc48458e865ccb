package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/delivery"
	"github.com/herald-dev/herald/internal/webhook"
	"github.com/herald-dev/herald/sentryhook/sentryhooktest"
)

// Bounds of herald trigger.
const (
	maxTriggerPayload  = 20 << 20
	maxTriggerResponse = 64 << 10
)

// The samples' story (the payload fixtures'): organization acme, project
// web, issue 1170, event 9fac2c…, the acme-pager app installed as
// a8e5d37a-…, Jane Doe acting on the issue.
const (
	sampleBaseURL      = "https://herald.example.com"
	sampleInstallation = "a8e5d37a-696c-4c54-aac1-4a51b40ce7d9"
	sampleAlertRule    = "New production errors"
	sampleTitle        = "TypeError: Cannot read properties of undefined (reading 'id')"
)

// sampleUser is who acts on the samples' issue.
var sampleUser = &herald.User{ID: 1, Name: "Jane Doe", Email: "jane@acme.example"}

// userEvents are the events a person causes; Herald itself causes the
// others.
var userEvents = []string{
	webhook.IssueResolved, webhook.IssueIgnored, webhook.IssueAssigned,
	webhook.CommentCreated, webhook.CommentUpdated, webhook.CommentDeleted,
	webhook.InstallationCreated, webhook.InstallationDeleted,
}

// triggerConfig is what herald trigger is told.
type triggerConfig struct {
	Event   string
	URL     string
	Secret  string
	Payload string
	Timeout time.Duration
	DryRun  bool
}

// Validate names the first field that is wrong.
func (c triggerConfig) Validate() error {
	switch {
	case c.Event == "":
		return fmt.Errorf("trigger: name an event: %s", strings.Join(webhook.Events(), ", "))
	case !webhook.ValidEvent(c.Event):
		return fmt.Errorf("trigger: unknown event %q; events: %s", c.Event, strings.Join(webhook.Events(), ", "))
	case c.Secret == "":
		return errors.New("secret: must not be empty")
	case c.Timeout <= 0:
		return errors.New("timeout: must be positive")
	}
	if c.DryRun && c.URL == "" {
		return nil
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url: must be an absolute http(s) URL, got %q", c.URL)
	}
	return nil
}

// triggerSummary is the help text of herald trigger.
func triggerSummary() string {
	return `Sends one sample delivery of <event> to --url, signed with --secret, with
exactly the headers and body encoding Herald uses, and prints the response.
It exits with an error when the answer is not 2xx. The sample tells the
story of the payload fixtures (issue WEB-1 in project web of organization
acme); --payload sends a body of your own instead.

This is a development tool: it sends to any address, loopback and private
ones included, without Herald's SSRF guard, and does not follow redirects.

Events:` + wrapList(webhook.Events(), 76)
}

// wrapList joins items with ", " into indented lines of at most width
// characters.
func wrapList(items []string, width int) string {
	var b strings.Builder
	line := 0
	for i, item := range items {
		if i < len(items)-1 {
			item += ","
		}
		if line == 0 || line+1+len(item) > width {
			b.WriteString("\n ")
			line = 1
		}
		b.WriteString(" " + item)
		line += 1 + len(item)
	}
	return b.String()
}

// runTrigger runs herald trigger <event> [flags]; the event may also follow
// the flags.
func runTrigger(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg := triggerConfig{Timeout: 10 * time.Second}
	fs := newFlagSet("trigger <event>", triggerSummary(), stderr)
	fs.StringVar(&cfg.URL, "url", cfg.URL, "URL to send the delivery to")
	fs.StringVar(&cfg.Secret, "secret", cfg.Secret, "secret to sign with: the hook's secret, or the app's client secret")
	fs.StringVar(&cfg.Payload, "payload", cfg.Payload, "file holding the JSON body to send instead of the sample")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "how long to wait for the answer")
	fs.BoolVar(&cfg.DryRun, "dry-run", cfg.DryRun, "print the request instead of sending it")
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cfg.Event, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if rest := fs.Args(); len(rest) > 0 {
		if cfg.Event != "" || len(rest) > 1 {
			return fmt.Errorf("trigger: unexpected argument %q", rest[len(rest)-1])
		}
		cfg.Event = rest[0]
	}
	if err := cfg.Validate(); err != nil {
		return err
	}

	var body []byte
	if cfg.Payload != "" {
		b, err := readPayloadFile(cfg.Payload)
		if err != nil {
			return err
		}
		body = b
	} else {
		b, err := sampleBody(cfg.Event)
		if err != nil {
			return err
		}
		body = b
	}
	d := triggerDelivery(cfg.Event, cfg.Secret, body, time.Now())
	header := delivery.Headers(d)
	printRequest(stdout, http.MethodPost, cfg.URL, header, body)
	if cfg.DryRun {
		return nil
	}
	return sendDelivery(ctx, stdout, cfg, header, body)
}

// triggerDelivery returns a new delivery of event with body, signed with
// secret, as Herald would make it: a Service Hook delivery to a random hook
// id, or a Sentry App delivery to the samples' installation.
func triggerDelivery(event, secret string, body []byte, now time.Time) *herald.Delivery {
	d := &herald.Delivery{
		ID:        herald.NewID(),
		Event:     event,
		Body:      body,
		Signature: webhook.Sign(secret, body),
		Timestamp: now.Unix(),
	}
	if webhook.ValidHookEvent(event) {
		d.DestinationKind = herald.DestinationHook
		d.DestinationID = herald.NewID()
	} else {
		d.DestinationKind = herald.DestinationApp
		d.DestinationID = sampleInstallation
		d.Resource = webhook.Resource(event)
	}
	return d
}

// sampleBody returns the body Herald sends for event in the samples' story.
// Service Hook bodies are built from domain values, the event stored as the
// error.created sample shows it; Sentry App bodies wrap the sample data in
// the envelope, with the actor the event has.
func sampleBody(event string) ([]byte, error) {
	if webhook.ValidHookEvent(event) {
		var rules []string
		if event == webhook.EventAlert {
			rules = []string{sampleAlertRule}
		}
		p, is, ev := sampleEvent()
		data, err := sampleStoredEvent()
		if err != nil {
			return nil, err
		}
		ev.Data = data
		return webhook.ServiceHookBody(p, is, ev, sampleBaseURL, rules), nil
	}
	sample, err := sentryhooktest.Payload(event)
	if err != nil {
		return nil, fmt.Errorf("trigger: %w", err)
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(sample, &env); err != nil {
		return nil, fmt.Errorf("trigger: sample %s: %w", event, err)
	}
	actor := webhook.SentryActor
	if slices.Contains(userEvents, event) {
		actor = webhook.UserActor(sampleUser)
	}
	return webhook.AppBody(webhook.Action(event), sampleInstallation, env.Data, actor)
}

// sampleEvent returns the project, issue and event of the samples' story.
func sampleEvent() (*herald.Project, *herald.Issue, *herald.Event) {
	p := &herald.Project{ID: 2, OrganizationID: 1, Slug: "web", Name: "Web", Platform: "javascript",
		Organization: &herald.Organization{ID: 1, Slug: "acme", Name: "Acme"}}
	is := &herald.Issue{ID: 1170, ProjectID: 2, ShortID: "WEB-1", Title: sampleTitle,
		Culprit: "app/utils/api in fetchUser", Level: "error", Status: herald.IssueUnresolved}
	ev := &herald.Event{
		ID: "9fac2ceed9344f2bbfdd1fdacb0ed9b1", ProjectID: 2, IssueID: 1170,
		Timestamp: time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC),
		Level:     "error", Platform: "javascript", Message: sampleTitle, Title: sampleTitle,
		Culprit: "app/utils/api in fetchUser", Environment: "production", Release: "v1.2.3",
		Tags: []herald.Tag{
			{Key: "browser", Value: "Chrome 120.0.0"},
			{Key: "browser.name", Value: "Chrome"},
			{Key: "environment", Value: "production"},
			{Key: "handled", Value: "no"},
			{Key: "level", Value: "error"},
			{Key: "mechanism", Value: "onerror"},
			{Key: "os", Value: "Mac OS X 10.15.7"},
			{Key: "os.name", Value: "Mac OS X"},
			{Key: "release", Value: "v1.2.3"},
			{Key: "user", Value: "id:42"},
			{Key: "url", Value: "https://app.acme.example/account"},
		},
	}
	return p, is, ev
}

// sampleStoredEvent returns the samples' event as Herald stores it: the
// event of the error.created sample without the keys error.created adds to
// it, with its keys sorted as ingest writes them.
func sampleStoredEvent() ([]byte, error) {
	sample, err := sentryhooktest.Payload(webhook.ErrorCreated)
	if err != nil {
		return nil, fmt.Errorf("trigger: %w", err)
	}
	var env struct {
		Data struct {
			Error map[string]json.RawMessage `json:"error"`
		} `json:"data"`
	}
	if err := json.Unmarshal(sample, &env); err != nil {
		return nil, fmt.Errorf("trigger: sample %s: %w", webhook.ErrorCreated, err)
	}
	for _, k := range []string{"project", "url", "web_url", "issue_url", "issue_id"} {
		delete(env.Data.Error, k)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(env.Data.Error); err != nil {
		return nil, fmt.Errorf("trigger: sample %s: %w", webhook.ErrorCreated, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// readPayloadFile reads a JSON object from path and compacts it, the form
// Herald sends.
func readPayloadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTriggerPayload+1))
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	if len(b) > maxTriggerPayload {
		return nil, fmt.Errorf("payload: %s is larger than %d bytes", path, maxTriggerPayload)
	}
	if !bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		return nil, fmt.Errorf("payload: %s does not hold a JSON object", path)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, fmt.Errorf("payload: %s is not valid JSON: %w", path, err)
	}
	return buf.Bytes(), nil
}

// sendDelivery POSTs body with header to cfg.URL and prints the answer. It
// fails when there is none or it is not 2xx.
func sendDelivery(ctx context.Context, stdout io.Writer, cfg triggerConfig, header http.Header, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("trigger: %w", err)
	}
	req.Header = header
	client := &http.Client{
		Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("trigger: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxTriggerResponse))
	if err != nil {
		return fmt.Errorf("trigger: read the answer: %w", err)
	}
	fmt.Fprintf(stdout, "\n%s %s (%s)\n", resp.Proto, resp.Status, time.Since(start).Round(time.Millisecond))
	printHeader(stdout, resp.Header)
	if len(answer) > 0 {
		fmt.Fprintf(stdout, "\n%s\n", bytes.TrimRight(answer, "\n"))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("trigger: the receiver answered %s", resp.Status)
	}
	return nil
}

// printRequest prints a request as it goes on the wire.
func printRequest(w io.Writer, method, target string, h http.Header, body []byte) {
	fmt.Fprintf(w, "%s %s\n", method, target)
	printHeader(w, h)
	fmt.Fprintf(w, "\n%s\n", body)
}

// printHeader prints h one "Name: value" line each, sorted by name.
func printHeader(w io.Writer, h http.Header) {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range h[k] {
			fmt.Fprintf(w, "%s: %s\n", k, v)
		}
	}
}
