package api

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/herald-dev/herald"
)

// memberJSON is Sentry's organization member serializer. Herald has no
// invitations: a member is an existing user, and the member's id is the
// user's.
type memberJSON struct {
	ID           string      `json:"id"`
	Email        string      `json:"email"`
	Name         string      `json:"name"`
	User         *userJSON   `json:"user"`
	Role         string      `json:"role"`
	RoleName     string      `json:"roleName"`
	OrgRole      string      `json:"orgRole"`
	Pending      bool        `json:"pending"`
	Expired      bool        `json:"expired"`
	Flags        memberFlags `json:"flags"`
	DateCreated  string      `json:"dateCreated"`
	InviteStatus string      `json:"inviteStatus"`
	InviterName  *string     `json:"inviterName"`
	Teams        []string    `json:"teams"`
}

type memberFlags struct {
	SSOLinked  bool `json:"sso:linked"`
	SSOInvalid bool `json:"sso:invalid"`
}

func newMemberJSON(m *herald.Member) *memberJSON {
	name := m.User.Name
	if name == "" {
		name = m.User.Email
	}
	return &memberJSON{
		ID:           strconv.FormatInt(m.User.ID, 10),
		Email:        m.User.Email,
		Name:         name,
		User:         newUserJSON(m.User),
		Role:         m.Role,
		RoleName:     RoleName(m.Role),
		OrgRole:      m.Role,
		DateCreated:  herald.FormatTime(m.DateCreated),
		InviteStatus: "approved",
		Teams:        []string{},
	}
}

// RoleName is how Sentry shows a role: "Member", "Admin", "Manager",
// "Owner".
func RoleName(role string) string {
	if role == "" {
		return ""
	}
	return strings.ToUpper(role[:1]) + role[1:]
}

// handleListMembers answers GET /api/0/organizations/{org}/members/.
func (s *Server) handleListMembers(w http.ResponseWriter, r *http.Request, a *auth) error {
	org, err := s.organization(r, a)
	if err != nil {
		return err
	}
	members, err := s.store.FindMembers(r.Context(), org.ID)
	if err != nil {
		return err
	}
	out := make([]*memberJSON, 0, len(members))
	for _, m := range members {
		out = append(out, newMemberJSON(m))
	}
	s.setLinkHeader(w, r, "")
	writeJSON(w, http.StatusOK, out)
	return nil
}

// memberInput is the body of adding a member and changing a role; orgRole
// is Sentry's name, role its older one.
type memberInput struct {
	Email   *string `json:"email"`
	OrgRole *string `json:"orgRole"`
	Role    *string `json:"role"`
}

// role returns the role the input asks for ("member" when none), or a
// field error.
func (in *memberInput) role() (string, error) {
	role := herald.RoleMember
	switch {
	case in.OrgRole != nil:
		role = *in.OrgRole
	case in.Role != nil:
		role = *in.Role
	}
	if !herald.ValidRole(role) {
		return "", herald.InvalidField("orgRole", strconv.Quote(role)+" is not a valid choice.")
	}
	return role, nil
}

// handleAddMember answers POST /api/0/organizations/{org}/members/
// {"email", "orgRole"?}: the existing user with that email joins the
// organization with that role (member by default) and 201 answers with the
// member. Nobody grants a role above their own.
func (s *Server) handleAddMember(w http.ResponseWriter, r *http.Request, a *auth) error {
	org, err := s.organization(r, a)
	if err != nil {
		return err
	}
	var in memberInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Email == nil || strings.TrimSpace(*in.Email) == "" {
		return herald.InvalidField("email", herald.MsgRequired)
	}
	role, err := in.role()
	if err != nil {
		return err
	}
	if err := grantable(a, role); err != nil {
		return err
	}
	ctx := r.Context()
	u, err := s.store.FindUserByEmail(ctx, strings.TrimSpace(*in.Email))
	if herald.ErrorCode(err) == herald.ENOTFOUND {
		return herald.InvalidField("email", "There is no user with this email: create one with `herald user create` first.")
	} else if err != nil {
		return err
	}
	if err := s.store.AddMember(ctx, org.ID, u.ID, role); err != nil {
		return err
	}
	m, err := s.findMember(ctx, org.ID, u.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newMemberJSON(m))
	return nil
}

// grantable checks that the caller may give role: a superuser any, a
// person one no higher than their own.
func grantable(a *auth, role string) error {
	if a.role != "" && slices.Index(herald.Roles, role) > slices.Index(herald.Roles, a.role) {
		return herald.Errorf(herald.EFORBIDDEN, "You do not have permission to set that role.")
	}
	return nil
}

// findMember returns one member of an organization, or ENOTFOUND.
func (s *Server) findMember(ctx context.Context, orgID, userID int64) (*herald.Member, error) {
	members, err := s.store.FindMembers(ctx, orgID)
	if err != nil {
		return nil, err
	}
	for _, m := range members {
		if m.User.ID == userID {
			return m, nil
		}
	}
	return nil, herald.Errorf(herald.ENOTFOUND, msgNotFound)
}

// orgMember loads the organization and the member named by {member_id}.
func (s *Server) orgMember(r *http.Request, a *auth) (*herald.Organization, *herald.Member, error) {
	org, err := s.organization(r, a)
	if err != nil {
		return nil, nil, err
	}
	id, err := pathID(r, "member_id")
	if err != nil {
		return nil, nil, err
	}
	m, err := s.findMember(r.Context(), org.ID, id)
	if err != nil {
		return nil, nil, err
	}
	return org, m, nil
}

// handleGetMember answers GET /api/0/organizations/{org}/members/{member_id}/.
func (s *Server) handleGetMember(w http.ResponseWriter, r *http.Request, a *auth) error {
	_, m, err := s.orgMember(r, a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newMemberJSON(m))
	return nil
}

// handleUpdateMember answers PUT /api/0/organizations/{org}/members/{member_id}/
// {"orgRole"}: nobody grants a role above their own, or changes the role
// of someone above them, and the last owner stays an owner.
func (s *Server) handleUpdateMember(w http.ResponseWriter, r *http.Request, a *auth) error {
	org, m, err := s.orgMember(r, a)
	if err != nil {
		return err
	}
	var in memberInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	role, err := in.role()
	if err != nil {
		return err
	}
	if err := grantable(a, role); err != nil {
		return err
	}
	if err := grantable(a, m.Role); err != nil {
		return err
	}
	ctx := r.Context()
	if m.Role == herald.RoleOwner && role != herald.RoleOwner {
		if err := s.keepAnOwner(ctx, org.ID); err != nil {
			return err
		}
	}
	if err := s.store.UpdateMember(ctx, org.ID, m.User.ID, role); err != nil {
		return err
	}
	m.Role = role
	writeJSON(w, http.StatusOK, newMemberJSON(m))
	return nil
}

// handleRemoveMember answers DELETE /api/0/organizations/{org}/members/{member_id}/
// with 204; the last owner cannot be removed.
func (s *Server) handleRemoveMember(w http.ResponseWriter, r *http.Request, a *auth) error {
	org, m, err := s.orgMember(r, a)
	if err != nil {
		return err
	}
	if err := grantable(a, m.Role); err != nil {
		return err
	}
	ctx := r.Context()
	if m.Role == herald.RoleOwner {
		if err := s.keepAnOwner(ctx, org.ID); err != nil {
			return err
		}
	}
	if err := s.store.RemoveMember(ctx, org.ID, m.User.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// keepAnOwner refuses a change that would leave the organization without
// an owner.
func (s *Server) keepAnOwner(ctx context.Context, orgID int64) error {
	members, err := s.store.FindMembers(ctx, orgID)
	if err != nil {
		return err
	}
	owners := 0
	for _, m := range members {
		if m.Role == herald.RoleOwner {
			owners++
		}
	}
	if owners <= 1 {
		return herald.Errorf(herald.EINVALID, "An organization needs an owner: make someone else owner first.")
	}
	return nil
}
