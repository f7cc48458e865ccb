package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/herald-dev/herald"
)

func TestSettingsRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.person(t, "member@acme.example", herald.RoleMember)
	e.person(t, "admin@acme.example", herald.RoleAdmin)
	stranger := e.person(t, "stranger@globex.example", "")
	globex := &herald.Organization{Name: "Globex", Slug: "globex"}
	if err := e.Store.CreateOrganization(ctx, globex, stranger.ID); err != nil {
		t.Fatal(err)
	}
	member := e.signIn(t, "member@acme.example")
	admin := e.signIn(t, "admin@acme.example")
	outsider := e.signIn(t, "stranger@globex.example")

	t.Run("ProjectsListedByName", func(t *testing.T) {
		res := member.get("/settings/acme/")
		if res.Status != http.StatusOK {
			t.Fatalf("status %d", res.Status)
		}
		res.mustContain(t, `href="/settings/acme/projects/web/"`, ">Web</a>")
		if strings.Contains(res.Body, "Create Project") {
			t.Fatal("a member is offered to create a project")
		}
		admin.get("/settings/acme/").mustContain(t, "Create Project")
	})
	t.Run("ErrMemberCreatesProject", func(t *testing.T) {
		if res := member.post("/settings/acme/", url.Values{"name": {"Nope"}}); res.Status != http.StatusForbidden {
			t.Fatalf("status %d", res.Status)
		}
	})
	t.Run("AdminCreatesProject", func(t *testing.T) {
		res := admin.post("/settings/acme/", url.Values{"name": {"Billing API"}})
		if res.Status != http.StatusSeeOther || res.Location != "/settings/acme/projects/billing-api/" {
			t.Fatalf("status %d location %q", res.Status, res.Location)
		}
		page := admin.get(res.Location)
		page.mustContain(t, "Project Billing API created.", "Billing API", "DSN", "Service Hooks", "sentry.Init")
		p, err := e.Store.FindProjectBySlug(ctx, e.Org.ID, "billing-api")
		if err != nil {
			t.Fatal(err)
		}
		keys, err := e.Store.FindProjectKeys(ctx, p.ID)
		if err != nil || len(keys) == 0 {
			t.Fatalf("keys %v %v", keys, err)
		}
		page.mustContain(t, keys[0].DSN(e.URL))
	})
	t.Run("ErrProjectName", func(t *testing.T) {
		res := admin.post("/settings/acme/", url.Values{"name": {""}})
		if res.Status != http.StatusBadRequest {
			t.Fatalf("status %d", res.Status)
		}
		res.mustContain(t, `class="error"`)
	})
	t.Run("ErrOtherOrganization", func(t *testing.T) {
		for _, path := range []string{"/settings/acme/", "/settings/acme/projects/web/", "/settings/acme/members/", "/settings/acme/projects/web/keys/"} {
			res := outsider.get(path)
			if res.Status != http.StatusNotFound || strings.Contains(res.Body, "Web") {
				t.Errorf("GET %s as another organization's owner: status %d", path, res.Status)
			}
		}
		if res := outsider.post("/settings/acme/", url.Values{"name": {"Intruder"}}); res.Status != http.StatusNotFound {
			t.Fatalf("post: status %d", res.Status)
		}
		if res := member.get("/settings/globex/"); res.Status != http.StatusNotFound {
			t.Fatalf("a member of acme opens globex: status %d", res.Status)
		}
		res := outsider.get("/organizations/")
		if strings.Contains(res.Body, "/settings/acme/") {
			t.Fatal("acme is listed to a stranger")
		}
	})
	t.Run("ErrMemberAddsKey", func(t *testing.T) {
		if res := member.post("/settings/acme/projects/web/keys/", url.Values{"label": {"x"}}); res.Status != http.StatusForbidden {
			t.Fatalf("status %d", res.Status)
		}
	})
}

func TestMembersPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.person(t, "manager@acme.example", herald.RoleManager)
	e.person(t, "member@acme.example", herald.RoleMember)
	newbie := e.person(t, "newbie@acme.example", "")
	owner := e.signIn(t, e.User.Email)
	manager := e.signIn(t, "manager@acme.example")
	member := e.signIn(t, "member@acme.example")

	member.get("/settings/acme/members/").mustContain(t, "manager@acme.example", "member@acme.example")
	if res := member.post("/settings/acme/members/", url.Values{"action": {"add"}, "email": {"newbie@acme.example"}, "role": {"member"}}); res.Status != http.StatusForbidden {
		t.Fatalf("a member adds a member: status %d", res.Status)
	}
	if res := manager.post("/settings/acme/members/", url.Values{"action": {"add"}, "email": {"newbie@acme.example"}, "role": {"owner"}}); res.Status != http.StatusForbidden {
		t.Fatalf("a manager grants owner: status %d", res.Status)
	}
	res := manager.post("/settings/acme/members/", url.Values{"action": {"add"}, "email": {"ghost@acme.example"}, "role": {"member"}})
	if res.Status != http.StatusBadRequest {
		t.Fatalf("unknown email: status %d", res.Status)
	}
	res.mustContain(t, "There is no user with this email")
	if res := manager.post("/settings/acme/members/", url.Values{"action": {"add"}, "email": {"newbie@acme.example"}, "role": {"admin"}}); res.Status != http.StatusSeeOther {
		t.Fatalf("add: status %d %s", res.Status, res.Body)
	}
	role, err := e.Store.MemberRole(context.Background(), e.Org.ID, newbie.ID)
	if err != nil || role != herald.RoleAdmin {
		t.Fatalf("role = %q %v", role, err)
	}
	id := strconv.FormatInt(newbie.ID, 10)
	if res := manager.post("/settings/acme/members/", url.Values{"action": {"remove"}, "user": {id}}); res.Status != http.StatusSeeOther {
		t.Fatalf("remove: status %d", res.Status)
	}
	// The organization keeps an owner.
	ownerID := strconv.FormatInt(e.User.ID, 10)
	res = owner.post("/settings/acme/members/", url.Values{"action": {"role"}, "user": {ownerID}, "role": {"member"}})
	if res.Status != http.StatusBadRequest {
		t.Fatalf("demote the last owner: status %d", res.Status)
	}
	res.mustContain(t, "An organization needs an owner")
}

func TestAuthTokensPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.signIn(t, e.User.Email)
	res := b.post("/settings/account/api/auth-tokens/", url.Values{"name": {"ci"}})
	if res.Status != http.StatusBadRequest {
		t.Fatalf("no scopes: status %d", res.Status)
	}
	res = b.post("/settings/account/api/auth-tokens/", url.Values{"name": {"ci"}, "scopes": {"project:read", "event:read"}})
	if res.Status != http.StatusOK {
		t.Fatalf("create: status %d", res.Status)
	}
	res.mustContain(t, "it will not be shown again")
	tokens, err := e.Store.FindTokens(context.Background(), e.User.ID)
	if err != nil || len(tokens) != 1 {
		t.Fatalf("tokens %v %v", tokens, err)
	}
	tok := tokens[0]
	// The value works on the API's sense of the store, and the page shows
	// it only this once.
	found, err := e.Store.FindTokenByValue(context.Background(), valueIn(t, res.Body))
	if err != nil || found.ID != tok.ID {
		t.Fatalf("the shown value is not the token: %v", err)
	}
	again := b.get("/settings/account/api/auth-tokens/")
	if strings.Contains(again.Body, valueIn(t, res.Body)) {
		t.Fatal("the token is shown again")
	}
	again.mustContain(t, "…"+tok.LastChars)

	other := e.person(t, "other@acme.example", herald.RoleMember)
	ob := e.signIn(t, other.Email)
	if res := ob.post("/settings/account/api/auth-tokens/", url.Values{"action": {"revoke"}, "token": {strconv.FormatInt(tok.ID, 10)}}); res.Status != http.StatusNotFound {
		t.Fatalf("another person revokes the token: status %d", res.Status)
	}
	if res := b.post("/settings/account/api/auth-tokens/", url.Values{"action": {"revoke"}, "token": {strconv.FormatInt(tok.ID, 10)}}); res.Status != http.StatusSeeOther {
		t.Fatalf("revoke: status %d", res.Status)
	}
	if tokens, _ := e.Store.FindTokens(context.Background(), e.User.ID); len(tokens) != 0 {
		t.Fatalf("tokens after revoke: %v", tokens)
	}
}

// valueIn returns the token value shown in the page's new-token box.
func valueIn(t *testing.T, body string) string {
	t.Helper()
	_, rest, ok := strings.Cut(body, `id="new-token" class="mono" readonly value="`)
	if !ok {
		t.Fatal("no token shown")
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}
