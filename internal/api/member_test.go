package api_test

import (
	"strconv"
	"testing"

	"github.com/herald-dev/herald"
)

func TestMembers(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	all := herald.Scopes
	_, ownerTok := ts.memberAs(t, "owner@acme.example", herald.RoleOwner, all...)
	_, managerTok := ts.memberAs(t, "manager@acme.example", herald.RoleManager, all...)
	_, memberTok := ts.memberAs(t, "member@acme.example", herald.RoleMember, all...)
	newbie, _ := ts.userToken(t, "newbie@acme.example")
	id := strconv.FormatInt(newbie.ID, 10)
	const members = "/api/0/organizations/acme/members/"

	var list []struct {
		ID      string `json:"id"`
		Email   string `json:"email"`
		OrgRole string `json:"orgRole"`
	}
	res := ts.do(t, "GET", members, memberTok, nil)
	if res.Status != 200 {
		t.Fatalf("GET members as a member = %d %s", res.Status, res.Body)
	}
	res.JSON(t, &list)
	roles := map[string]string{}
	for _, m := range list {
		roles[m.Email] = m.OrgRole
	}
	if roles["member@acme.example"] != "member" || roles["manager@acme.example"] != "manager" || roles["owner@acme.example"] != "owner" {
		t.Fatalf("members = %s", res.Body)
	}

	for _, tc := range []struct {
		name   string
		method string
		path   string
		token  string
		body   any
		want   int
	}{
		{"ErrMemberCannotAdd", "POST", members, memberTok, map[string]any{"email": "newbie@acme.example"}, 403},
		{"ErrUnknownEmail", "POST", members, managerTok, map[string]any{"email": "ghost@acme.example"}, 400},
		{"ErrNoEmail", "POST", members, managerTok, map[string]any{}, 400},
		{"ErrBadRole", "POST", members, managerTok, map[string]any{"email": "newbie@acme.example", "orgRole": "emperor"}, 400},
		{"ErrManagerCannotGrantOwner", "POST", members, managerTok, map[string]any{"email": "newbie@acme.example", "orgRole": "owner"}, 403},
		{"ManagerAddsAdmin", "POST", members, managerTok, map[string]any{"email": "newbie@acme.example", "orgRole": "admin"}, 201},
		{"ErrAlreadyMember", "POST", members, managerTok, map[string]any{"email": "newbie@acme.example"}, 409},
		{"GetMember", "GET", members + id + "/", memberTok, nil, 200},
		{"ErrMemberCannotChangeRole", "PUT", members + id + "/", memberTok, map[string]any{"orgRole": "member"}, 403},
		{"ManagerChangesRole", "PUT", members + id + "/", managerTok, map[string]any{"orgRole": "member"}, 200},
		{"ErrMemberCannotRemove", "DELETE", members + id + "/", memberTok, nil, 403},
		{"ManagerRemoves", "DELETE", members + id + "/", managerTok, nil, 204},
		{"ErrGone", "GET", members + id + "/", memberTok, nil, 404},
	} {
		res := ts.do(t, tc.method, tc.path, tc.token, tc.body)
		if res.Status != tc.want {
			t.Fatalf("%s: %s %s = %d %s, want %d", tc.name, tc.method, tc.path, res.Status, res.Body, tc.want)
		}
	}

	// The last owner (the superuser who created acme is one) stays: the
	// owners demote each other until one is left.
	var owners []string
	res = ts.do(t, "GET", members, ownerTok, nil)
	res.JSON(t, &list)
	for _, m := range list {
		if m.OrgRole == "owner" && m.Email != "owner@acme.example" {
			owners = append(owners, m.ID)
		}
	}
	for _, o := range owners {
		ts.must(t, 200, "PUT", members+o+"/", map[string]any{"orgRole": "member"})
	}
	res = ts.do(t, "GET", members, ownerTok, nil)
	res.JSON(t, &list)
	var last string
	for _, m := range list {
		if m.OrgRole == "owner" {
			last = m.ID
		}
	}
	if res := ts.do(t, "PUT", members+last+"/", ownerTok, map[string]any{"orgRole": "admin"}); res.Status != 400 {
		t.Fatalf("demoting the last owner = %d %s, want 400", res.Status, res.Body)
	}
	if res := ts.do(t, "DELETE", members+last+"/", ownerTok, nil); res.Status != 400 {
		t.Fatalf("removing the last owner = %d %s, want 400", res.Status, res.Body)
	}
}

// TestRoleLimitsToken checks that a person's token does no more in an
// organization than their role there allows, whatever its scopes.
func TestRoleLimitsToken(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	ts.fixture(t)
	_, memberTok := ts.memberAs(t, "member@acme.example", herald.RoleMember, herald.Scopes...)
	_, adminTok := ts.memberAs(t, "admin@acme.example", herald.RoleAdmin, herald.Scopes...)
	hook := map[string]any{"url": "https://hooks.example/x", "events": []string{"event.created"}}
	const hooks = "/api/0/projects/acme/web/hooks/"
	if res := ts.do(t, "POST", hooks, memberTok, hook); res.Status != 403 {
		t.Fatalf("a member adds a hook = %d %s, want 403", res.Status, res.Body)
	}
	if res := ts.do(t, "GET", hooks, memberTok, nil); res.Status != 200 {
		t.Fatalf("a member lists hooks = %d %s, want 200", res.Status, res.Body)
	}
	if res := ts.do(t, "POST", hooks, adminTok, hook); res.Status != 201 {
		t.Fatalf("an admin adds a hook = %d %s, want 201", res.Status, res.Body)
	}
	if res := ts.do(t, "DELETE", "/api/0/projects/acme/web/", memberTok, nil); res.Status != 403 {
		t.Fatalf("a member deletes a project = %d %s, want 403", res.Status, res.Body)
	}
	if res := ts.do(t, "GET", "/api/0/projects/acme/web/", memberTok, nil); res.Status != 200 {
		t.Fatalf("the project after a member's refused delete = %d %s", res.Status, res.Body)
	}
}
