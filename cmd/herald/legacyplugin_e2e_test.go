package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
)

// legacyPluginView is what a receiver of Sentry's legacy webhooks plugin
// reads of a body (matrix-sentry-webhooks reads level and project_slug;
// others the logger and the event's id and title).
type legacyPluginView struct {
	ProjectSlug string
	Level       string
	Logger      string
	EventID     string
	Title       string
	Exception   string
	SDK         string
}

// readLegacyPluginBody reads body the way such a receiver does, by key, and
// fails where it would crash: on a key it reads that is missing.
func readLegacyPluginBody(body []byte) (legacyPluginView, error) {
	var v legacyPluginView
	var data map[string]any
	if err := json.Unmarshal(body, &data); err != nil {
		return v, err
	}
	str := func(m map[string]any, key string) (string, error) {
		x, ok := m[key]
		if !ok {
			return "", fmt.Errorf("no %q", key)
		}
		s, _ := x.(string) // the plugin sends null for a missing logger
		return s, nil
	}
	var err error
	for key, dst := range map[string]*string{"project_slug": &v.ProjectSlug, "level": &v.Level, "logger": &v.Logger} {
		if *dst, err = str(data, key); err != nil {
			return v, err
		}
	}
	event, ok := data["event"].(map[string]any)
	if !ok {
		return v, errors.New(`no "event" object`)
	}
	if v.EventID, err = str(event, "id"); err != nil {
		return v, err
	}
	if v.Title, err = str(event, "title"); err != nil {
		return v, err
	}
	if exc, ok := event["exception"].(map[string]any); ok {
		if values, ok := exc["values"].([]any); ok && len(values) > 0 {
			last, _ := values[len(values)-1].(map[string]any)
			v.Exception, _ = last["value"].(string)
		}
	}
	if sdk, ok := event["sdk"].(map[string]any); ok {
		v.SDK, _ = sdk["name"].(string)
	}
	return v, nil
}

// TestLegacyPluginReceiver: an event.created delivery of an event the
// official Go SDK sends carries what a receiver of Sentry's legacy webhooks
// plugin reads: project_slug, level, logger and the stored event with its
// id, title, exception and SDK.
func TestLegacyPluginReceiver(t *testing.T) {
	t.Parallel()
	srv := MustStart(t, testConfig(t, sqliteBackend))
	p := setUp(t, srv)
	rc := newReceiver(t, nil)
	h := createHook(t, srv, rc.URL+"/plugin", "event.created")
	rc.setSecret(h.Secret)

	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Transport: sentry.NewHTTPSyncTransport(), Environment: "production"})
	if err != nil {
		t.Fatal(err)
	}
	eventID := sentry.NewHub(client, sentry.NewScope()).CaptureException(errors.New("plugin receivers read this"))
	if eventID == nil {
		t.Fatal("SDK did not send the event")
	}
	client.Flush(5 * time.Second)

	d := rc.wait(t, 1, 15*time.Second)[0]
	if !d.Verified {
		t.Fatalf("signature %q does not verify", d.Signature)
	}
	v, err := readLegacyPluginBody(d.Body)
	if err != nil {
		t.Fatalf("a legacy plugin receiver fails on the body: %v\n%s", err, d.Body)
	}
	if v.ProjectSlug != "web" || v.Level != "error" || v.Logger != "" || v.EventID != string(*eventID) ||
		v.Title == "" || v.Exception != "plugin receivers read this" || v.SDK != "sentry.go" {
		t.Fatalf("read %+v from %s", v, d.Body)
	}
}
