package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/herald-dev/herald"
)

// maxNameLength bounds the names of organizations, teams and projects.
const maxNameLength = herald.MaxNameLength

// organizationJSON is Sentry's organization serializer (the summary form its
// list and detail routes share).
type organizationJSON struct {
	ID                         string     `json:"id"`
	Slug                       string     `json:"slug"`
	Status                     statusJSON `json:"status"`
	Name                       string     `json:"name"`
	DateCreated                string     `json:"dateCreated"`
	IsEarlyAdopter             bool       `json:"isEarlyAdopter"`
	Require2FA                 bool       `json:"require2FA"`
	RequireEmailVerification   bool       `json:"requireEmailVerification"`
	Avatar                     avatarJSON `json:"avatar"`
	Features                   []string   `json:"features"`
	Links                      orgLinks   `json:"links"`
	HasAuthProvider            bool       `json:"hasAuthProvider"`
	AllowMemberInvite          bool       `json:"allowMemberInvite"`
	AllowMemberProjectCreation bool       `json:"allowMemberProjectCreation"`
	AllowSuperuserAccess       bool       `json:"allowSuperuserAccess"`
}

type statusJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type orgLinks struct {
	OrganizationURL string `json:"organizationUrl"`
	RegionURL       string `json:"regionUrl"`
}

func (s *Server) newOrganizationJSON(r *http.Request, o *herald.Organization) *organizationJSON {
	base := s.absoluteURL(r, "")
	return &organizationJSON{
		ID:                         strconv.FormatInt(o.ID, 10),
		Slug:                       o.Slug,
		Status:                     statusJSON{ID: "active", Name: "active"},
		Name:                       o.Name,
		DateCreated:                herald.FormatTime(o.DateCreated),
		Avatar:                     letterAvatar,
		Features:                   []string{},
		Links:                      orgLinks{OrganizationURL: base, RegionURL: base},
		AllowMemberInvite:          true,
		AllowMemberProjectCreation: true,
		AllowSuperuserAccess:       true,
	}
}

// handleListOrganizations answers GET /api/0/organizations/: the caller's
// organizations, paginated. A superuser sees every organization with
// ?show=all, as in Sentry. A Sentry App's token sees the organization of
// its installation only.
func (s *Server) handleListOrganizations(w http.ResponseWriter, r *http.Request, a *auth) error {
	if err := a.requireScope(); err != nil {
		return err
	}
	if a.token.IsApp() {
		org, err := s.memberOrganization(r.Context(), a, a.token.OrganizationID)
		if err != nil {
			return err
		}
		s.setLinkHeader(w, r, "")
		writeJSON(w, http.StatusOK, []*organizationJSON{s.newOrganizationJSON(r, org)})
		return nil
	}
	page, err := pageFromRequest(r)
	if err != nil {
		return err
	}
	userID := a.userID()
	if a.superuser() && r.URL.Query().Get("show") == "all" {
		userID = 0
	}
	orgs, next, err := s.store.FindOrganizations(r.Context(), userID, page)
	if err != nil {
		return err
	}
	out := make([]*organizationJSON, 0, len(orgs))
	for _, o := range orgs {
		out = append(out, s.newOrganizationJSON(r, o))
	}
	s.setLinkHeader(w, r, next)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleCreateOrganization answers POST /api/0/organizations/ {"name",
// "slug"?} with 201; the caller's user becomes its first member.
func (s *Server) handleCreateOrganization(w http.ResponseWriter, r *http.Request, a *auth) error {
	if err := a.requireScope(); err != nil {
		return err
	}
	var in struct {
		Name *string `json:"name"`
		Slug *string `json:"slug"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	name, slug, err := nameAndSlug(in.Name, in.Slug, maxNameLength)
	if err != nil {
		return err
	}
	org := &herald.Organization{Name: name, Slug: slug}
	if err := s.store.CreateOrganization(r.Context(), org, a.userID()); herald.ErrorCode(err) == herald.ECONFLICT {
		return herald.Errorf(herald.ECONFLICT, "An organization with this slug already exists.")
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.newOrganizationJSON(r, org))
	return nil
}

// handleGetOrganization answers GET /api/0/organizations/{org}/.
func (s *Server) handleGetOrganization(w http.ResponseWriter, r *http.Request, a *auth) error {
	org, err := s.organization(r, a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.newOrganizationJSON(r, org))
	return nil
}

// teamJSON is Sentry's team serializer. Herald does not track team
// membership, so memberCount is null and every organization member is
// treated as a member of its teams.
type teamJSON struct {
	ID          string          `json:"id"`
	Slug        string          `json:"slug"`
	Name        string          `json:"name"`
	DateCreated string          `json:"dateCreated"`
	IsMember    bool            `json:"isMember"`
	TeamRole    *string         `json:"teamRole"`
	Flags       map[string]bool `json:"flags"`
	Access      []string        `json:"access"`
	HasAccess   bool            `json:"hasAccess"`
	IsPending   bool            `json:"isPending"`
	MemberCount *int            `json:"memberCount"`
	Avatar      avatarJSON      `json:"avatar"`
}

func newTeamJSON(t *herald.Team, a *auth) *teamJSON {
	access := []string{}
	for _, sc := range herald.Scopes {
		if a.token.HasScope(sc) {
			access = append(access, sc)
		}
	}
	return &teamJSON{
		ID:          strconv.FormatInt(t.ID, 10),
		Slug:        t.Slug,
		Name:        t.Name,
		DateCreated: herald.FormatTime(t.DateCreated),
		IsMember:    true,
		Flags:       map[string]bool{"idp:provisioned": false},
		Access:      access,
		HasAccess:   true,
		Avatar:      letterAvatar,
	}
}

// teamRefJSON is the short team shape embedded in projects.
type teamRefJSON struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

// handleListTeams answers GET /api/0/organizations/{org}/teams/.
func (s *Server) handleListTeams(w http.ResponseWriter, r *http.Request, a *auth) error {
	org, err := s.organization(r, a)
	if err != nil {
		return err
	}
	teams, err := s.store.FindTeams(r.Context(), org.ID)
	if err != nil {
		return err
	}
	out := make([]*teamJSON, 0, len(teams))
	for _, t := range teams {
		out = append(out, newTeamJSON(t, a))
	}
	s.setLinkHeader(w, r, "")
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleCreateTeam answers POST /api/0/organizations/{org}/teams/ {"name"?,
// "slug"?} with 201. Either field may be left out: the slug is derived from
// the name and the name defaults to the slug, as in Sentry.
func (s *Server) handleCreateTeam(w http.ResponseWriter, r *http.Request, a *auth) error {
	org, err := s.organization(r, a)
	if err != nil {
		return err
	}
	var in struct {
		Name *string `json:"name"`
		Slug *string `json:"slug"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Name == nil && in.Slug != nil {
		in.Name = in.Slug
	}
	if in.Name == nil {
		return herald.InvalidField("slug", "Name or slug is required")
	}
	name, slug, err := nameAndSlug(in.Name, in.Slug, maxNameLength)
	if err != nil {
		return err
	}
	t := &herald.Team{OrganizationID: org.ID, Name: name, Slug: slug}
	if err := s.store.CreateTeam(r.Context(), t); herald.ErrorCode(err) == herald.ECONFLICT {
		return herald.Errorf(herald.ECONFLICT, "A team with this slug already exists.")
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newTeamJSON(t, a))
	return nil
}

// nameAndSlug validates a name and an optional slug, deriving the slug from
// the name when it is absent.
func nameAndSlug(name, slug *string, maxName int) (string, string, error) {
	fe := herald.FieldErrors{}
	var n, sl string
	switch {
	case name == nil:
		fe.Add("name", herald.MsgRequired)
	case strings.TrimSpace(*name) == "":
		fe.Add("name", herald.MsgBlank)
	case len(strings.TrimSpace(*name)) > maxName:
		fe.Add("name", "Ensure this field has no more than "+strconv.Itoa(maxName)+" characters.")
	default:
		n = strings.TrimSpace(*name)
	}
	switch {
	case slug != nil:
		sl = *slug
		if msg := herald.SlugProblem(sl); msg != "" {
			fe.Add("slug", msg)
		}
	case n != "":
		sl = herald.Slugify(n)
		if msg := herald.SlugProblem(sl); msg != "" {
			fe.Add("slug", msg)
		}
	}
	return n, sl, fe.Err()
}
