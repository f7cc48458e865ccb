package webhook_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/herald-dev/herald"
)

// storyBaseURL is the base URL of the story the fixtures in testdata/ tell.
const storyBaseURL = "https://herald.example.com"

// storyTime is when the story's event happened.
var storyTime = time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC)

// fixedZone is a zone other than UTC, for checking that times are sent in UTC.
var fixedZone = time.FixedZone("UTC+1", 3600)

// storyProject returns the fixtures' project: web (Web, javascript) of acme.
func storyProject() *herald.Project {
	return &herald.Project{
		ID:             2,
		OrganizationID: 1,
		Slug:           "web",
		Name:           "Web",
		Platform:       "javascript",
		Features:       []string{herald.FeatureServiceHooks},
		Organization:   &herald.Organization{ID: 1, Slug: "acme", Name: "Acme"},
	}
}

// storyIssue returns the fixtures' issue 1170.
func storyIssue() *herald.Issue {
	return &herald.Issue{
		ID:        1170,
		ProjectID: 2,
		ShortID:   "WEB-1",
		Title:     "TypeError: Cannot read properties of undefined (reading 'id')",
		Culprit:   "app/utils/api in fetchUser",
		Level:     "error",
		Status:    herald.IssueUnresolved,
		Substatus: "new",
		Type:      "TypeError",
		Value:     "Cannot read properties of undefined (reading 'id')",
		Platform:  "javascript",
		FirstSeen: storyTime,
		LastSeen:  storyTime,
		Count:     1,
		UserCount: 1,
	}
}

// storyEvent returns the fixtures' event 9fac2ceed9344f2bbfdd1fdacb0ed9b1.
func storyEvent() *herald.Event {
	return &herald.Event{
		ID:          "9fac2ceed9344f2bbfdd1fdacb0ed9b1",
		ProjectID:   2,
		IssueID:     1170,
		Timestamp:   storyTime,
		Received:    storyTime.Add(150 * time.Millisecond),
		Level:       "error",
		Platform:    "javascript",
		Message:     "TypeError: Cannot read properties of undefined (reading 'id')",
		Title:       "TypeError: Cannot read properties of undefined (reading 'id')",
		Culprit:     "app/utils/api in fetchUser",
		Type:        "TypeError",
		Value:       "Cannot read properties of undefined (reading 'id')",
		Environment: "production",
		Release:     "v1.2.3",
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
		UserKey:   "id:42",
		GroupHash: "0cc175b9c0f1b6a831c399e269772661",
	}
}

// readFixture returns a fixture of testdata/ as compact JSON, the form
// Herald sends it in.
func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatalf("read fixture: %v", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		tb.Fatalf("compact fixture %s: %v", name, err)
	}
	return buf.Bytes()
}

// decode returns data parsed into generic values.
func decode(tb testing.TB, data []byte) any {
	tb.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		tb.Fatalf("decode %s: %v", data, err)
	}
	return v
}

// keyPaths returns the key of every object member in data in document order,
// each prefixed by the keys of the objects it is in ("event.level"); members
// of objects in arrays get "[]" for the array.
func keyPaths(tb testing.TB, data []byte) []string {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	var paths []string
	if err := walkValue(dec, "", &paths); err != nil {
		tb.Fatalf("walk %s: %v", data, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		tb.Fatalf("walk %s: trailing data", data)
	}
	return paths
}

// walkValue reads one value from dec, appending the key paths of the objects
// in it under prefix.
func walkValue(dec *json.Decoder, prefix string, paths *[]string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return err
			}
			path := key.(string)
			if prefix != "" {
				path = prefix + "." + path
			}
			*paths = append(*paths, path)
			if err := walkValue(dec, path, paths); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
		return err
	case json.Delim('['):
		for dec.More() {
			if err := walkValue(dec, prefix+"[]", paths); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
		return err
	}
	return nil
}
