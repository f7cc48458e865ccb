package web

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/herald-dev/herald"
)

// formErrors turns a validation error into messages by field, for a form
// shown again; other errors are returned as they are.
func formErrors(err error) (herald.FieldErrors, error) {
	var fe herald.FieldErrors
	if errors.As(err, &fe) {
		return fe, nil
	}
	if code := herald.ErrorCode(err); code == herald.EINVALID || code == herald.ECONFLICT {
		return herald.FieldErrors{"": {herald.ErrorMessage(err)}}, nil
	}
	return nil, err
}

// orgsPage is the data of the list of organizations.
type orgsPage struct {
	Errors herald.FieldErrors
	Name   string
}

// handleOrganizations lists the person's organizations and creates one,
// of which they become the owner.
func (s *Server) handleOrganizations(w http.ResponseWriter, r *http.Request, v *visit) error {
	data := &orgsPage{}
	if r.Method == http.MethodPost {
		data.Name = strings.TrimSpace(r.PostFormValue("name"))
		org := &herald.Organization{Name: data.Name, Slug: herald.Slugify(data.Name)}
		err := s.store.CreateOrganization(r.Context(), org, v.user.ID)
		if err == nil {
			s.redirect(w, r, "/settings/"+org.Slug+"/", "Organization "+org.Name+" created.")
			return nil
		}
		if data.Errors, err = formErrors(err); err != nil {
			return err
		}
		s.render(w, r, v, http.StatusBadRequest, "organizations", data)
		return nil
	}
	s.render(w, r, v, http.StatusOK, "organizations", data)
	return nil
}

// orgSettingsPage is the data of an organization's settings: its projects
// and teams.
type orgSettingsPage struct {
	Projects []*herald.Project
	Teams    []*herald.Team
	Errors   herald.FieldErrors
	Name     string
}

// handleOrgSettings shows Settings: the organization's projects by name,
// each leading to its settings, and links to Members and Developer
// Settings. A POST creates a project (in a team created on the way when
// the organization has none).
func (s *Server) handleOrgSettings(w http.ResponseWriter, r *http.Request, v *visit) error {
	org, err := s.organization(r, v)
	if err != nil {
		return err
	}
	ctx := r.Context()
	data := &orgSettingsPage{}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		if err := v.require("project:write"); err != nil {
			return err
		}
		data.Name = strings.TrimSpace(r.PostFormValue("name"))
		p, err := s.createProject(ctx, org, data.Name, r.PostFormValue("team"))
		if err == nil {
			s.redirect(w, r, "/settings/"+org.Slug+"/projects/"+p.Slug+"/", "Project "+p.Name+" created.")
			return nil
		}
		if data.Errors, err = formErrors(err); err != nil {
			return err
		}
		status = http.StatusBadRequest
	}
	if data.Projects, err = s.allProjects(ctx, org.ID); err != nil {
		return err
	}
	if data.Teams, err = s.store.FindTeams(ctx, org.ID); err != nil {
		return err
	}
	s.render(w, r, v, status, "settings", data)
	return nil
}

// createProject creates a project named name in the team with slug team,
// or in the organization's first team, creating one named after the
// organization when it has none.
func (s *Server) createProject(ctx context.Context, org *herald.Organization, name, team string) (*herald.Project, error) {
	teams, err := s.store.FindTeams(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	var t *herald.Team
	for _, x := range teams {
		if x.Slug == team || (team == "" && t == nil) {
			t = x
		}
	}
	if t == nil {
		t = &herald.Team{OrganizationID: org.ID, Name: org.Name, Slug: org.Slug}
		if err := s.store.CreateTeam(ctx, t); err != nil {
			return nil, err
		}
	}
	p := &herald.Project{OrganizationID: org.ID, TeamID: t.ID, Name: name, Slug: herald.Slugify(name)}
	if err := s.store.CreateProject(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// allProjects lists every project of an organization.
func (s *Server) allProjects(ctx context.Context, orgID int64) ([]*herald.Project, error) {
	var out []*herald.Project
	page := herald.Page{Limit: 100}
	for {
		ps, next, err := s.store.FindProjects(ctx, orgID, page)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
		if next == "" || len(out) >= 1000 {
			return out, nil
		}
		page.Cursor = next
	}
}

// keyView is a project key with its DSN.
type keyView struct {
	Key *herald.ProjectKey
	DSN string
}

// projectPage is the data of a project's settings.
type projectPage struct {
	Project *herald.Project
	Keys    []keyView
}

// handleProjectSettings shows a project's settings: its DSN with an SDK
// snippet, and links to its Service Hooks, Client Keys and alert rules.
func (s *Server) handleProjectSettings(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.projectPage(w, r, v, "project")
}

// handleProjectKeys shows a project's Client Keys (DSNs); a POST adds one.
func (s *Server) handleProjectKeys(w http.ResponseWriter, r *http.Request, v *visit) error {
	if r.Method == http.MethodPost {
		p, err := s.project(r, v)
		if err != nil {
			return err
		}
		if err := v.require("project:write"); err != nil {
			return err
		}
		k := &herald.ProjectKey{ProjectID: p.ID, Label: strings.TrimSpace(r.PostFormValue("label"))}
		if err := s.store.CreateProjectKey(r.Context(), k); err != nil {
			return err
		}
		s.redirect(w, r, r.URL.Path, "Key created.")
		return nil
	}
	return s.projectPage(w, r, v, "keys")
}

// projectPage renders a page of a project with its keys.
func (s *Server) projectPage(w http.ResponseWriter, r *http.Request, v *visit, name string) error {
	p, err := s.project(r, v)
	if err != nil {
		return err
	}
	keys, err := s.store.FindProjectKeys(r.Context(), p.ID)
	if err != nil {
		return err
	}
	data := &projectPage{Project: p}
	for _, k := range keys {
		data.Keys = append(data.Keys, keyView{Key: k, DSN: k.DSN(s.base)})
	}
	s.render(w, r, v, http.StatusOK, name, data)
	return nil
}

// membersPage is the data of an organization's members.
type membersPage struct {
	Members []*herald.Member
	Roles   []string
	Errors  herald.FieldErrors
	Email   string
}

// handleMembers lists the organization's members; a POST adds an existing
// user by email with a role, changes a role (action=role) or removes a
// member (action=remove). Nobody grants a role above their own.
func (s *Server) handleMembers(w http.ResponseWriter, r *http.Request, v *visit) error {
	org, err := s.organization(r, v)
	if err != nil {
		return err
	}
	if err := v.require("member:read"); err != nil {
		return err
	}
	ctx := r.Context()
	data := &membersPage{Roles: herald.Roles}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		err := s.changeMembers(ctx, r, v, org, data)
		if err == nil {
			s.redirect(w, r, r.URL.Path, "Members updated.")
			return nil
		}
		if data.Errors, err = formErrors(err); err != nil {
			return err
		}
		status = http.StatusBadRequest
	}
	if data.Members, err = s.store.FindMembers(ctx, org.ID); err != nil {
		return err
	}
	s.render(w, r, v, status, "members", data)
	return nil
}

// changeMembers applies a POST of the Members page.
func (s *Server) changeMembers(ctx context.Context, r *http.Request, v *visit, org *herald.Organization, data *membersPage) error {
	role := r.PostFormValue("role")
	if role != "" && !v.user.IsSuperuser && slices.Index(herald.Roles, role) > slices.Index(herald.Roles, v.role) {
		return herald.Errorf(herald.EFORBIDDEN, "You cannot give a role above your own.")
	}
	switch r.PostFormValue("action") {
	case "", "add":
		if err := v.require("member:write"); err != nil {
			return err
		}
		data.Email = strings.TrimSpace(r.PostFormValue("email"))
		u, err := s.store.FindUserByEmail(ctx, data.Email)
		if herald.ErrorCode(err) == herald.ENOTFOUND {
			return herald.InvalidField("email", "There is no user with this email: create one with `herald user create` first.")
		} else if err != nil {
			return err
		}
		return s.store.AddMember(ctx, org.ID, u.ID, role)
	case "role":
		if err := v.require("member:write"); err != nil {
			return err
		}
		id, err := strconv.ParseInt(r.PostFormValue("user"), 10, 64)
		if err != nil {
			return herald.Errorf(herald.ENOTFOUND, "not found")
		}
		if err := s.keepOwner(ctx, org.ID, id, role); err != nil {
			return err
		}
		return s.store.UpdateMember(ctx, org.ID, id, role)
	case "remove":
		if err := v.require("member:admin"); err != nil {
			return err
		}
		id, err := strconv.ParseInt(r.PostFormValue("user"), 10, 64)
		if err != nil {
			return herald.Errorf(herald.ENOTFOUND, "not found")
		}
		if err := s.keepOwner(ctx, org.ID, id, ""); err != nil {
			return err
		}
		return s.store.RemoveMember(ctx, org.ID, id)
	}
	return herald.Errorf(herald.EINVALID, "unknown action")
}

// keepOwner refuses to leave the organization without an owner: userID
// becoming role ("" for removed) must not be its last owner.
func (s *Server) keepOwner(ctx context.Context, orgID, userID int64, role string) error {
	if role == herald.RoleOwner {
		return nil
	}
	members, err := s.store.FindMembers(ctx, orgID)
	if err != nil {
		return err
	}
	owners, target := 0, false
	for _, m := range members {
		if m.Role == herald.RoleOwner {
			owners++
			target = target || m.User.ID == userID
		}
	}
	if target && owners <= 1 {
		return herald.Errorf(herald.EINVALID, "An organization needs an owner: make someone else owner first.")
	}
	return nil
}

// tokensPage is the data of the person's auth tokens.
type tokensPage struct {
	Tokens []*herald.Token
	Scopes []string
	// Created is the token just made, shown this once.
	Created *herald.Token
	Errors  herald.FieldErrors
}

// handleAuthTokens lists the person's personal tokens; a POST creates one
// (shown once) or revokes one (action=revoke).
func (s *Server) handleAuthTokens(w http.ResponseWriter, r *http.Request, v *visit) error {
	ctx := r.Context()
	data := &tokensPage{Scopes: herald.Scopes}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		switch r.PostFormValue("action") {
		case "revoke":
			id, err := strconv.ParseInt(r.PostFormValue("token"), 10, 64)
			if err != nil {
				return herald.Errorf(herald.ENOTFOUND, "not found")
			}
			if err := s.store.DeleteToken(ctx, v.user.ID, id); err != nil {
				return err
			}
			s.redirect(w, r, r.URL.Path, "Token revoked.")
			return nil
		default:
			t := &herald.Token{UserID: v.user.ID, Name: strings.TrimSpace(r.PostFormValue("name")), Scopes: r.PostForm["scopes"]}
			if len(t.Scopes) == 0 {
				data.Errors = herald.FieldErrors{"scopes": {"Choose at least one scope."}}
				status = http.StatusBadRequest
				break
			}
			err := s.store.CreateToken(ctx, t)
			if err == nil {
				data.Created = t
				break
			}
			if data.Errors, err = formErrors(err); err != nil {
				return err
			}
			status = http.StatusBadRequest
		}
	}
	tokens, err := s.store.FindTokens(ctx, v.user.ID)
	if err != nil {
		return err
	}
	data.Tokens = tokens
	s.render(w, r, v, status, "tokens", data)
	return nil
}
