package api_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/herald-dev/herald"
	"github.com/herald-dev/herald/internal/api"
)

// linkRE matches one link of Sentry's Link header.
var linkRE = regexp.MustCompile(`<([^>]*)>; rel="([^"]*)"; results="([^"]*)"; cursor="([^"]*)"`)

// link is one parsed link of a Link header.
type link struct {
	URL, Rel, Results, Cursor string
}

// parseLinks parses a Link header as sentry-cli does: by rel.
func parseLinks(t *testing.T, header string) map[string]link {
	t.Helper()
	out := map[string]link{}
	for _, m := range linkRE.FindAllStringSubmatch(header, -1) {
		out[m[2]] = link{URL: m[1], Rel: m[2], Results: m[3], Cursor: m[4]}
	}
	if len(out) != 2 {
		t.Fatalf("Link %q does not have a previous and a next link", header)
	}
	return out
}

func TestPagination(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	want := []string{"alpha", "bravo", "charlie"}
	for _, slug := range want {
		ts.must(t, 201, "POST", "/api/0/organizations/", map[string]string{"name": strings.ToUpper(slug)})
	}
	t.Run("FollowNextURL", func(t *testing.T) {
		var got []string
		url := "/api/0/organizations/?per_page=1"
		for range 10 {
			res := ts.must(t, 200, "GET", url, nil)
			var page []struct {
				Slug string `json:"slug"`
			}
			res.JSON(t, &page)
			for _, o := range page {
				got = append(got, o.Slug)
			}
			links := parseLinks(t, res.Header.Get("Link"))
			prev, next := links["previous"], links["next"]
			if prev.Results != "false" || prev.Cursor != "0:0:1" {
				t.Fatalf("previous = %+v", prev)
			}
			if !strings.HasPrefix(next.URL, ts.BaseURL+"/api/0/organizations/?per_page=1&cursor=") || !strings.HasSuffix(next.URL, "cursor="+next.Cursor) {
				t.Fatalf("next URL = %q", next.URL)
			}
			if next.Results == "false" {
				break
			}
			url = next.URL
		}
		if !slices.Equal(got, want) {
			t.Fatalf("organizations = %v, want %v", got, want)
		}
	})
	t.Run("FollowCursorAttribute", func(t *testing.T) {
		// sentry-cli sends the cursor attribute back as ?cursor=.
		var got []string
		cursor := ""
		for range 10 {
			res := ts.must(t, 200, "GET", "/api/0/organizations/?per_page=2&cursor="+cursor, nil)
			var page []struct {
				Slug string `json:"slug"`
			}
			res.JSON(t, &page)
			for _, o := range page {
				got = append(got, o.Slug)
			}
			next := parseLinks(t, res.Header.Get("Link"))["next"]
			if next.Results != "true" {
				break
			}
			cursor = next.Cursor
		}
		if !slices.Equal(got, want) {
			t.Fatalf("organizations = %v, want %v", got, want)
		}
	})
	t.Run("NoQuery", func(t *testing.T) {
		res := ts.must(t, 200, "GET", "/api/0/organizations/", nil)
		next := parseLinks(t, res.Header.Get("Link"))["next"]
		if next.URL != ts.BaseURL+"/api/0/organizations/?&cursor=0:0:0" || next.Results != "false" {
			t.Fatalf("next = %+v", next)
		}
	})
	t.Run("PreviousCursorIsFirstPage", func(t *testing.T) {
		var page []struct {
			Slug string `json:"slug"`
		}
		ts.must(t, 200, "GET", "/api/0/organizations/?per_page=1&cursor=0:0:1", nil).JSON(t, &page)
		if len(page) != 1 || page[0].Slug != "alpha" {
			t.Fatalf("page = %+v", page)
		}
	})
}

// keyBody is a project key as the API shows it.
type keyBody struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Public    string `json:"public"`
	Secret    string `json:"secret"`
	ProjectID int64  `json:"projectId"`
	IsActive  bool   `json:"isActive"`
	DSN       struct {
		Secret string  `json:"secret"`
		Public string  `json:"public"`
		CSP    string  `json:"csp"`
		CDN    *string `json:"cdn"`
	} `json:"dsn"`
}

func TestProjectKeys(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	var project struct {
		ID string `json:"id"`
	}
	ts.must(t, 200, "GET", "/api/0/projects/acme/web/", nil).JSON(t, &project)
	host := strings.TrimPrefix(ts.BaseURL, "http://")

	var keys []keyBody
	ts.must(t, 200, "GET", "/api/0/projects/acme/web/keys/", nil).JSON(t, &keys)
	if len(keys) != 1 {
		t.Fatalf("keys = %+v", keys)
	}
	k := keys[0]
	if want := "http://" + k.Public + "@" + host + "/" + project.ID; k.DSN.Public != want {
		t.Errorf("dsn.public = %q, want %q", k.DSN.Public, want)
	}
	if want := "http://" + k.Public + ":" + k.Secret + "@" + host + "/" + project.ID; k.DSN.Secret != want {
		t.Errorf("dsn.secret = %q, want %q", k.DSN.Secret, want)
	}
	if want := ts.BaseURL + "/api/" + project.ID + "/csp-report/?sentry_key=" + k.Public; k.DSN.CSP != want {
		t.Errorf("dsn.csp = %q, want %q", k.DSN.CSP, want)
	}
	if k.ID != k.Public || !k.IsActive || k.DSN.CDN != nil || k.Name == "" {
		t.Errorf("key = %+v", k)
	}

	var created keyBody
	ts.must(t, 201, "POST", "/api/0/projects/acme/web/keys/", `{"name":"Backend"}`).JSON(t, &created)
	if created.Name != "Backend" || created.Public == k.Public || !hex32.MatchString(created.Public) {
		t.Fatalf("created key = %+v", created)
	}

	t.Run("BaseURLWithPrefix", func(t *testing.T) {
		srv, err := api.NewServer(api.Config{
			Store:   ts.Store,
			Changes: ts.Changes,
			BaseURL: "https://herald.example.com:8443/sentry/",
			Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		other := httptest.NewServer(srv.Handler())
		defer other.Close()
		o := &testServer{Server: other, Store: ts.Store}
		var keys []keyBody
		o.must(t, 200, "GET", "/api/0/projects/acme/web/keys/", nil).JSON(t, &keys)
		if want := "https://" + keys[0].Public + "@herald.example.com:8443/sentry/" + project.ID; keys[0].DSN.Public != want {
			t.Fatalf("dsn.public = %q, want %q", keys[0].DSN.Public, want)
		}
	})
}

func TestNewServerErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	tests := []struct {
		name string
		cfg  api.Config
	}{
		{"ErrNoStore", api.Config{BaseURL: "http://127.0.0.1:8080"}},
		{"ErrRelativeBaseURL", api.Config{Store: ts.Store, BaseURL: "127.0.0.1:8080"}},
		{"ErrBaseURLScheme", api.Config{Store: ts.Store, BaseURL: "ftp://example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := api.NewServer(tt.cfg); err == nil {
				t.Fatal("NewServer succeeded")
			}
		})
	}
}

// projectBody is a project as the API shows it.
type projectBody struct {
	ID       string   `json:"id"`
	Slug     string   `json:"slug"`
	Name     string   `json:"name"`
	Platform *string  `json:"platform"`
	Features []string `json:"features"`
	Status   string   `json:"status"`
	Team     *struct {
		Name string `json:"name"`
		Slug string `json:"slug"`
	} `json:"team"`
	Organization *struct {
		Slug string `json:"slug"`
	} `json:"organization"`
}

func TestProjects(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)

	var created projectBody
	ts.must(t, 201, "POST", "/api/0/teams/acme/core/projects/", `{"name":"Mobile App"}`).JSON(t, &created)
	if created.Slug != "mobile-app" || created.Team == nil || created.Team.Name != "Core" ||
		!slices.Contains(created.Features, "servicehooks") || created.Platform != nil || created.Organization.Slug != "acme" {
		t.Fatalf("created = %+v", created)
	}

	t.Run("GetBySlugAndID", func(t *testing.T) {
		for _, ref := range []string{"mobile-app", created.ID} {
			var got projectBody
			ts.must(t, 200, "GET", "/api/0/projects/acme/"+ref+"/", nil).JSON(t, &got)
			if got.ID != created.ID || got.Team == nil || got.Status != "active" {
				t.Fatalf("GET %s = %+v", ref, got)
			}
		}
	})
	t.Run("OrganizationByID", func(t *testing.T) {
		var org struct {
			ID   string `json:"id"`
			Slug string `json:"slug"`
		}
		ts.must(t, 200, "GET", "/api/0/organizations/acme/", nil).JSON(t, &org)
		var got projectBody
		ts.must(t, 200, "GET", "/api/0/projects/"+org.ID+"/web/", nil).JSON(t, &got)
		if got.Slug != "web" {
			t.Fatalf("GET by org id = %+v", got)
		}
	})
	t.Run("List", func(t *testing.T) {
		var got []projectBody
		res := ts.must(t, 200, "GET", "/api/0/organizations/acme/projects/", nil)
		res.JSON(t, &got)
		if len(got) != 2 || got[0].Slug != "web" || got[1].Slug != "mobile-app" || got[0].Team.Name != "Core" {
			t.Fatalf("projects = %+v", got)
		}
		if res.Header.Get("Link") == "" {
			t.Fatal("no Link header")
		}
	})
	t.Run("Update", func(t *testing.T) {
		var got projectBody
		ts.must(t, 200, "PUT", "/api/0/projects/acme/mobile-app/", `{"name":"Mobile","slug":"mobile","platform":"react-native","features":["servicehooks","servicehooks","alpha"]}`).JSON(t, &got)
		if got.Name != "Mobile" || got.Slug != "mobile" || got.Platform == nil || *got.Platform != "react-native" ||
			!slices.Equal(got.Features, []string{"alpha", "servicehooks"}) {
			t.Fatalf("updated = %+v", got)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		ts.must(t, 204, "DELETE", "/api/0/projects/acme/mobile/", nil)
		ts.must(t, 404, "GET", "/api/0/projects/acme/mobile/", nil)
	})
	t.Run("Teams", func(t *testing.T) {
		var teams []struct {
			ID       string `json:"id"`
			Slug     string `json:"slug"`
			Name     string `json:"name"`
			IsMember bool   `json:"isMember"`
		}
		ts.must(t, 200, "GET", "/api/0/organizations/acme/teams/", nil).JSON(t, &teams)
		if len(teams) != 1 || teams[0].Slug != "core" || !teams[0].IsMember {
			t.Fatalf("teams = %+v", teams)
		}
	})
}

func TestOrganizations(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	res := ts.must(t, 201, "POST", "/api/0/organizations/", `{"name":"Acme Corp, Inc."}`)
	jsonHas := func(t *testing.T, body []byte) map[string]any {
		t.Helper()
		var m map[string]any
		(&response{Body: body}).JSON(t, &m)
		for _, k := range []string{"id", "slug", "name", "dateCreated", "isEarlyAdopter", "require2FA", "status", "avatar", "features"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("organization lacks %q: %s", k, body)
			}
		}
		return m
	}
	org := jsonHas(t, res.Body)
	if org["slug"] != "acme-corp-inc" || org["isEarlyAdopter"] != false || org["require2FA"] != false {
		t.Fatalf("organization = %s", res.Body)
	}
	jsonHas(t, ts.must(t, 200, "GET", "/api/0/organizations/acme-corp-inc/", nil).Body)
	var list []map[string]any
	ts.must(t, 200, "GET", "/api/0/organizations/", nil).JSON(t, &list)
	if len(list) != 1 || list[0]["slug"] != "acme-corp-inc" {
		t.Fatalf("organizations = %+v", list)
	}

	t.Run("MembersOnly", func(t *testing.T) {
		_, token := ts.userToken(t, "stranger@example.com", "org:read")
		res := ts.do(t, "GET", "/api/0/organizations/", token, nil)
		if res.Status != 200 {
			t.Fatalf("status = %d", res.Status)
		}
		jsonEqual(t, res.Body, `[]`)
	})
}

func TestTokens(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	var created struct {
		ID                  string   `json:"id"`
		Token               string   `json:"token"`
		Name                string   `json:"name"`
		Scopes              []string `json:"scopes"`
		TokenLastCharacters string   `json:"tokenLastCharacters"`
	}
	ts.must(t, 201, "POST", "/api/0/api-tokens/", `{"scopes":["project:read","org:read"],"name":"ci"}`).JSON(t, &created)
	if created.Token == "" || created.Name != "ci" || len(created.Scopes) != 2 || !strings.HasSuffix(created.Token, created.TokenLastCharacters) {
		t.Fatalf("created = %+v", created)
	}

	var info struct {
		Auth struct {
			Scopes []string `json:"scopes"`
		} `json:"auth"`
	}
	res := ts.do(t, "GET", "/api/0/", created.Token, nil)
	res.JSON(t, &info)
	if len(info.Auth.Scopes) != 2 {
		t.Fatalf("index with new token = %s", res.Body)
	}

	var list []map[string]any
	ts.must(t, 200, "GET", "/api/0/api-tokens/", nil).JSON(t, &list)
	if len(list) < 2 {
		t.Fatalf("tokens = %+v", list)
	}
	for _, tok := range list {
		if _, ok := tok["token"]; ok {
			t.Fatalf("list shows a token value: %+v", tok)
		}
		if tok["application"] != nil {
			t.Fatalf("application = %v", tok["application"])
		}
	}

	ts.must(t, 204, "DELETE", "/api/0/api-tokens/", map[string]string{"tokenId": created.ID})
	if res := ts.do(t, "GET", "/api/0/", created.Token, nil); res.Status != 401 {
		t.Fatalf("deleted token: status %d", res.Status)
	}
	ts.must(t, 404, "DELETE", "/api/0/api-tokens/", map[string]string{"tokenId": created.ID})
}

// syncBuffer is a buffer that server goroutines and the test may share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// brokenStore fails the way a store with a bug or a lost database would.
type brokenStore struct {
	herald.Store
}

func (brokenStore) FindOrganizations(context.Context, int64, herald.Page) ([]*herald.Organization, string, error) {
	return nil, "", errors.New("query organizations: disk I/O error at /var/lib/herald")
}

func (brokenStore) FindTeams(context.Context, int64) ([]*herald.Team, error) {
	panic("teams exploded")
}

func TestInternalErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	logs := &syncBuffer{}
	srv, err := api.NewServer(api.Config{
		Store:   brokenStore{ts.Store},
		Changes: ts.Changes,
		Logger:  slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	broken := httptest.NewServer(srv.Handler())
	defer broken.Close()
	o := &testServer{Server: broken, Store: ts.Store}
	tests := []struct {
		name string
		path string
		log  string
	}{
		{"StoreError", "/api/0/organizations/", "disk I/O error"},
		{"Panic", "/api/0/organizations/acme/teams/", "teams exploded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := o.do(t, "GET", tt.path, superToken, nil)
			if res.Status != 500 {
				t.Fatalf("status = %d %s", res.Status, res.Body)
			}
			jsonEqual(t, res.Body, `{"detail":"Internal error."}`)
			if !strings.Contains(logs.String(), tt.log) {
				t.Fatalf("log lacks %q:\n%s", tt.log, logs.String())
			}
		})
	}
}
