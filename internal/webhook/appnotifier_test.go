package webhook_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/webhook"
)

// TestSeedIssueCreatedShape checks the issue.created body against the
// seed's example: every key of the example is there, in the example's
// order, with a value of the same JSON type, and the values that do not
// depend on the story are equal.
func TestSeedIssueCreatedShape(t *testing.T) {
	t.Parallel()
	p := &herald.Project{ID: 1, OrganizationID: 1, Slug: "my-project", Name: "my-project", Organization: &herald.Organization{Slug: "acme"}}
	is := storyIssue()
	is.ID, is.ShortID, is.Title = 1234567890, "MY-PROJECT-1A2B", "TypeError: Cannot read properties of undefined"
	got := webhook.NewAppPayload(webhook.IssueCreated, webhook.IssueData(webhook.IssueCreated, p, is, storyBaseURL), webhook.SentryActor).
		Body(storyInstallation)
	seed := readFixture(t, "seed.issue.created.json")

	var gotPaths []string
	for _, k := range keyPaths(t, got) {
		if slices.Contains(keyPaths(t, seed), k) {
			gotPaths = append(gotPaths, k)
		}
	}
	if want := keyPaths(t, seed); !slices.Equal(gotPaths, want) {
		t.Fatalf("seed keys in the body, in order = %v\nwant %v", gotPaths, want)
	}
	var g, w map[string]any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(seed, &w); err != nil {
		t.Fatal(err)
	}
	// The seed's issue, read back from the body: every value equal, but
	// count, a string as Sentry sends it where the seed shows a number,
	// and project, which also carries Sentry's platform.
	gi := g["data"].(map[string]any)["issue"].(map[string]any)
	wi := w["data"].(map[string]any)["issue"].(map[string]any)
	for k, v := range wi {
		got := gi[k]
		switch k {
		case "count":
			v = fmt.Sprint(v)
		case "project":
			seedKeys := map[string]any{}
			for pk := range v.(map[string]any) {
				seedKeys[pk] = got.(map[string]any)[pk]
			}
			got = seedKeys
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("issue.%s = %#v, want %#v", k, got, v)
		}
	}
	if !reflect.DeepEqual(g["actor"], w["actor"]) || !reflect.DeepEqual(g["installation"], w["installation"]) || g["action"] != w["action"] {
		t.Errorf("envelope = %s", got)
	}
}

// newInstall returns an installed installation on organization org of an
// app subscribed to resources.
func newInstall(uuid string, org int64, resources ...string) *herald.Installation {
	return &herald.Installation{UUID: uuid, OrganizationID: org, Status: herald.InstallationInstalled,
		App: &herald.SentryApp{UUID: "app-" + uuid, Name: "App " + uuid, WebhookURL: "https://apps.example/" + uuid,
			ClientSecret: "secret-of-" + uuid, Events: resources}}
}

// appEvents returns "<installation> <event>" for each app delivery of ds,
// checking the fields every app delivery shares.
func appEvents(t *testing.T, ds []*herald.Delivery, installs []*herald.Installation, now time.Time) []string {
	t.Helper()
	secrets := map[string]string{}
	for _, i := range installs {
		secrets[i.UUID] = i.App.ClientSecret
	}
	var out []string
	for _, d := range ds {
		if d.DestinationKind != herald.DestinationApp {
			continue
		}
		if d.Resource != webhook.Resource(d.Event) || d.Signature != webhook.Sign(secrets[d.DestinationID], d.Body) ||
			d.Timestamp != now.Unix() || d.Status != herald.DeliveryPending || !d.NextAttemptAt.Equal(now) || !deliveryID.MatchString(d.ID) {
			t.Errorf("delivery = %+v", d)
		}
		var env struct {
			Action       string `json:"action"`
			Installation struct {
				UUID string `json:"uuid"`
			} `json:"installation"`
			Actor webhook.Actor `json:"actor"`
		}
		if err := json.Unmarshal(d.Body, &env); err != nil {
			t.Fatal(err)
		}
		if env.Installation.UUID != d.DestinationID || env.Action != webhook.Action(d.Event) {
			t.Errorf("body %s does not match delivery %s to %s", d.Body, d.Event, d.DestinationID)
		}
		out = append(out, d.DestinationID+" "+d.Event)
	}
	return out
}

func TestNotifierEventSavedApps(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 1, 15, 12, 0, 1, 0, time.UTC)
	n := &webhook.Notifier{BaseURL: storyBaseURL}
	installs := []*herald.Installation{
		newInstall("issues", 1, "issue"),
		newInstall("errors", 1, "error"),
		newInstall("both", 1, "issue", "error", "comment"),
		newInstall("comments", 1, "comment"),
		newInstall("other-org", 2, "issue", "error"),
		nil,
	}
	noURL := newInstall("no-url", 1, "issue", "error")
	noURL.App.WebhookURL = ""
	installs = append(installs, noURL)

	tests := []struct {
		name string
		edit func(c *webhook.EventChange)
		want []string
	}{
		{"NewIssue", func(c *webhook.EventChange) {}, []string{
			"issues issue.created", "both issue.created", "errors error.created", "both error.created"}},
		{"SecondEvent", func(c *webhook.EventChange) { c.IssueCreated = false }, []string{
			"errors error.created", "both error.created"}},
		{"Regression", func(c *webhook.EventChange) { c.IssueCreated, c.IssueRegressed = false, true }, []string{
			"issues issue.unresolved", "both issue.unresolved", "errors error.created", "both error.created"}},
		{"NoInstallations", func(c *webhook.EventChange) { c.Installations = nil }, nil},
		{"ServiceHooksFeatureOff", func(c *webhook.EventChange) { c.Project.Features = nil; c.IssueCreated = false }, []string{
			"errors error.created", "both error.created"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := storyChange(now)
			c.Installations = installs
			tt.edit(c)
			ds := n.EventSaved(c)
			if got := appEvents(t, ds, installs[:5], now); !slices.Equal(got, tt.want) {
				t.Errorf("deliveries = %v, want %v", got, tt.want)
			}
			for _, d := range ds {
				if !strings.Contains(string(d.Body), `"actor":{"type":"application","id":"sentry","name":"Sentry"}`) {
					t.Errorf("actor of %s is not Sentry: %s", d.Event, d.Body)
				}
			}
		})
	}
}

func TestNotifierIssueChanged(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 1, 15, 12, 30, 0, 0, time.UTC)
	n := &webhook.Notifier{BaseURL: storyBaseURL}
	installs := []*herald.Installation{newInstall("issues", 1, "issue"), newInstall("errors", 1, "error"), newInstall("other", 2, "issue")}
	for _, event := range []string{webhook.IssueResolved, webhook.IssueIgnored, webhook.IssueUnresolved, webhook.IssueAssigned} {
		t.Run(event, func(t *testing.T) {
			t.Parallel()
			ds := n.IssueChanged(&webhook.IssueChange{Event: event, Project: storyProject(), Issue: withAssignee(storyIssue()),
				Actor: herald.Actor{User: storyJane}, Installations: installs, Now: now})
			if got := appEvents(t, ds, installs, now); !slices.Equal(got, []string{"issues " + event}) {
				t.Fatalf("deliveries = %v", got)
			}
			if !strings.HasSuffix(string(ds[0].Body), `"actor":{"type":"user","id":1,"name":"Jane Doe"}}`) {
				t.Errorf("body = %s", ds[0].Body)
			}
		})
	}
	t.Run("NotAnIssueEvent", func(t *testing.T) {
		t.Parallel()
		if ds := n.IssueChanged(&webhook.IssueChange{Event: webhook.CommentCreated, Project: storyProject(), Issue: storyIssue(), Installations: installs}); len(ds) != 0 {
			t.Fatalf("deliveries = %d", len(ds))
		}
	})
}

func TestNotifierCommentChanged(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 1, 15, 12, 5, 0, 0, time.UTC)
	n := &webhook.Notifier{BaseURL: storyBaseURL}
	installs := []*herald.Installation{newInstall("comments", 1, "comment"), newInstall("issues", 1, "issue"), newInstall("other", 2, "comment")}
	app := &herald.SentryApp{UUID: storyAppUUID, Name: "Acme Pager"}
	c := &herald.Comment{ID: 301, IssueID: 1170, Text: "hi", DateCreated: now}
	ds := n.CommentChanged(&webhook.CommentChange{Event: webhook.CommentCreated, Project: storyProject(), Comment: c,
		Actor: herald.Actor{App: app}, Installations: installs, Now: now})
	if got := appEvents(t, ds, installs, now); !slices.Equal(got, []string{"comments comment.created"}) {
		t.Fatalf("deliveries = %v", got)
	}
	if !strings.HasSuffix(string(ds[0].Body), `"actor":{"type":"application","id":"`+storyAppUUID+`","name":"Acme Pager"}}`) {
		t.Errorf("body = %s", ds[0].Body)
	}
}

func TestNotifierInstallationChanged(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC)
	n := &webhook.Notifier{BaseURL: storyBaseURL}
	tests := []struct {
		name  string
		event string
		edit  func(i *herald.Installation)
		want  int
	}{
		{"Created", webhook.InstallationCreated, func(i *herald.Installation) {}, 1},
		{"DeletedWithoutSubscription", webhook.InstallationDeleted, func(i *herald.Installation) { i.App.Events = nil }, 1},
		{"NoWebhookURL", webhook.InstallationCreated, func(i *herald.Installation) { i.App.WebhookURL = "" }, 0},
		{"NotAnInstallationEvent", webhook.IssueCreated, func(i *herald.Installation) {}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inst := storyInstall(herald.InstallationPending, "c0de")
			tt.edit(inst)
			ds := n.InstallationChanged(&webhook.InstallationChange{Event: tt.event, Installation: inst, Actor: herald.Actor{User: storyJane}, Now: now})
			if len(ds) != tt.want {
				t.Fatalf("deliveries = %d, want %d", len(ds), tt.want)
			}
			if tt.want == 1 {
				appEvents(t, ds, []*herald.Installation{inst}, now)
				if ds[0].OrganizationID != 1 || ds[0].DestinationID != storyInstallation {
					t.Errorf("delivery = %+v", ds[0])
				}
			}
		})
	}
	if ds := n.InstallationChanged(nil); ds != nil {
		t.Errorf("nil change: %v", ds)
	}
}
