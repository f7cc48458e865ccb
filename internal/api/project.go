package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/herald-dev/herald"
)

// Bounds of project fields.
const (
	maxProjectNameLength = 50
	maxPlatformLength    = 64
	maxFeatures          = 100
	maxFeatureLength     = 64
	maxKeyNameLength     = 64
)

// projectJSON is Sentry's detailed project serializer, reduced to what
// Herald has. sentry-cli reads id, slug, name and team.name.
type projectJSON struct {
	ID           string            `json:"id"`
	Slug         string            `json:"slug"`
	Name         string            `json:"name"`
	Platform     *string           `json:"platform"`
	DateCreated  string            `json:"dateCreated"`
	IsBookmarked bool              `json:"isBookmarked"`
	IsMember     bool              `json:"isMember"`
	HasAccess    bool              `json:"hasAccess"`
	IsPublic     bool              `json:"isPublic"`
	Features     []string          `json:"features"`
	FirstEvent   *string           `json:"firstEvent"`
	Status       string            `json:"status"`
	Color        string            `json:"color"`
	Avatar       avatarJSON        `json:"avatar"`
	Team         *teamRefJSON      `json:"team"`
	Teams        []*teamRefJSON    `json:"teams"`
	Organization *organizationJSON `json:"organization"`
}

func (s *Server) newProjectJSON(r *http.Request, p *herald.Project) *projectJSON {
	out := &projectJSON{
		ID:          strconv.FormatInt(p.ID, 10),
		Slug:        p.Slug,
		Name:        p.Name,
		Platform:    nullString(p.Platform),
		DateCreated: herald.FormatTime(p.DateCreated),
		IsMember:    true,
		HasAccess:   true,
		Features:    nonNil(p.Features),
		Status:      "active",
		Color:       projectColor(p.Slug),
		Avatar:      letterAvatar,
		Teams:       []*teamRefJSON{},
	}
	if p.Team != nil {
		out.Team = &teamRefJSON{ID: strconv.FormatInt(p.Team.ID, 10), Slug: p.Team.Slug, Name: p.Team.Name}
		out.Teams = append(out.Teams, out.Team)
	}
	if p.Organization != nil {
		out.Organization = s.newOrganizationJSON(r, p.Organization)
	}
	return out
}

// projectColor is a stable color for a project's letter avatar, picked from
// its slug as Sentry does.
func projectColor(slug string) string {
	colors := []string{"#4674ca", "#315cac", "#57be8c", "#3fa372", "#f9a66d", "#ec5e44", "#e63717", "#f868bc", "#6c5fc7", "#4e3fb4", "#57b1be", "#847a8c"}
	var h uint32
	for i := 0; i < len(slug); i++ {
		h = h*31 + uint32(slug[i])
	}
	return colors[h%uint32(len(colors))]
}

// withTeam fills in p's team from teams when the store did not load it.
func withTeam(p *herald.Project, teams map[int64]*herald.Team) {
	if p.Team == nil {
		p.Team = teams[p.TeamID]
	}
}

// teamsByID loads an organization's teams by id.
func (s *Server) teamsByID(ctx context.Context, orgID int64) (map[int64]*herald.Team, error) {
	teams, err := s.store.FindTeams(ctx, orgID)
	if err != nil {
		return nil, err
	}
	m := make(map[int64]*herald.Team, len(teams))
	for _, t := range teams {
		m[t.ID] = t
	}
	return m, nil
}

// handleListProjects answers GET /api/0/organizations/{org}/projects/,
// paginated.
func (s *Server) handleListProjects(w http.ResponseWriter, r *http.Request, a *auth) error {
	org, err := s.organization(r, a)
	if err != nil {
		return err
	}
	page, err := pageFromRequest(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	projects, next, err := s.store.FindProjects(ctx, org.ID, page)
	if err != nil {
		return err
	}
	var teams map[int64]*herald.Team
	out := make([]*projectJSON, 0, len(projects))
	for _, p := range projects {
		if p.Team == nil && teams == nil {
			if teams, err = s.teamsByID(ctx, org.ID); err != nil {
				return err
			}
		}
		withTeam(p, teams)
		if p.Organization == nil {
			p.Organization = org
		}
		out = append(out, s.newProjectJSON(r, p))
	}
	s.setLinkHeader(w, r, next)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleCreateProject answers POST /api/0/teams/{org}/{team}/projects/
// {"name", "slug"?, "platform"?} with 201. The project gets the default
// features (Service Hooks among them) and a first key.
func (s *Server) handleCreateProject(w http.ResponseWriter, r *http.Request, a *auth) error {
	org, err := s.organization(r, a)
	if err != nil {
		return err
	}
	ctx := r.Context()
	team, err := s.store.FindTeamBySlug(ctx, org.ID, r.PathValue("team"))
	if err != nil {
		return err
	}
	var in struct {
		Name     *string `json:"name"`
		Slug     *string `json:"slug"`
		Platform *string `json:"platform"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	name, slug, err := nameAndSlug(in.Name, in.Slug, maxProjectNameLength)
	if err != nil {
		return err
	}
	platform := ""
	if in.Platform != nil {
		platform = *in.Platform
		if msg := platformProblem(platform); msg != "" {
			return herald.InvalidField("platform", msg)
		}
	}
	p := &herald.Project{
		OrganizationID: org.ID,
		TeamID:         team.ID,
		Name:           name,
		Slug:           slug,
		Platform:       platform,
	}
	if err := s.store.CreateProject(ctx, p); herald.ErrorCode(err) == herald.ECONFLICT {
		return herald.Errorf(herald.ECONFLICT, "A project with this slug already exists.")
	} else if err != nil {
		return err
	}
	p.Organization, p.Team = org, team
	writeJSON(w, http.StatusCreated, s.newProjectJSON(r, p))
	return nil
}

// handleGetProject answers GET /api/0/projects/{org}/{project}/.
func (s *Server) handleGetProject(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, err := s.project(r, a)
	if err != nil {
		return err
	}
	if err := s.loadTeam(r.Context(), p); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.newProjectJSON(r, p))
	return nil
}

// loadTeam fills in p's team when the store did not.
func (s *Server) loadTeam(ctx context.Context, p *herald.Project) error {
	if p.Team != nil {
		return nil
	}
	teams, err := s.teamsByID(ctx, p.OrganizationID)
	if err != nil {
		return err
	}
	withTeam(p, teams)
	return nil
}

// handleUpdateProject answers PUT /api/0/projects/{org}/{project}/. It may
// change name, slug, platform and features; features replaces the whole
// list.
func (s *Server) handleUpdateProject(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, err := s.project(r, a)
	if err != nil {
		return err
	}
	var in struct {
		Name     *string   `json:"name"`
		Slug     *string   `json:"slug"`
		Platform *string   `json:"platform"`
		Features *[]string `json:"features"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	var upd herald.ProjectUpdate
	fe := herald.FieldErrors{}
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if name == "" {
			fe.Add("name", herald.MsgBlank)
		} else if len(name) > maxProjectNameLength {
			fe.Add("name", "Ensure this field has no more than 50 characters.")
		}
		upd.Name = &name
	}
	if in.Slug != nil {
		if msg := herald.SlugProblem(*in.Slug); msg != "" {
			fe.Add("slug", msg)
		}
		upd.Slug = in.Slug
	}
	if in.Platform != nil {
		if msg := platformProblem(*in.Platform); msg != "" {
			fe.Add("platform", msg)
		}
		upd.Platform = in.Platform
	}
	if in.Features != nil {
		features, msg := cleanFeatures(*in.Features)
		if msg != "" {
			fe.Add("features", msg)
		}
		upd.Features = &features
	}
	if err := fe.Err(); err != nil {
		return err
	}
	ctx := r.Context()
	updated, err := s.store.UpdateProject(ctx, p.ID, upd)
	if herald.ErrorCode(err) == herald.ECONFLICT && upd.Slug != nil {
		return herald.InvalidField("slug", "Another project ("+*upd.Slug+") is already using that slug")
	} else if err != nil {
		return err
	}
	if updated.Organization == nil {
		updated.Organization = p.Organization
	}
	if err := s.loadTeam(ctx, updated); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.newProjectJSON(r, updated))
	return nil
}

// handleDeleteProject answers DELETE /api/0/projects/{org}/{project}/ with
// 204. As in Sentry it needs project:admin.
func (s *Server) handleDeleteProject(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, err := s.project(r, a)
	if err != nil {
		return err
	}
	if err := s.store.DeleteProject(r.Context(), p.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// platformProblem returns what is wrong with a platform name, or "".
func platformProblem(platform string) string {
	if len(platform) > maxPlatformLength {
		return "Ensure this field has no more than 64 characters."
	}
	for i := 0; i < len(platform); i++ {
		c := platform[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' && c != '.' {
			return "Invalid platform"
		}
	}
	return ""
}

// cleanFeatures validates a project's feature list and returns it sorted
// without duplicates, or a message saying what is wrong.
func cleanFeatures(in []string) ([]string, string) {
	if len(in) > maxFeatures {
		return nil, "Ensure this field has no more than 100 elements."
	}
	seen := map[string]bool{}
	out := []string{}
	for _, f := range in {
		if f == "" || len(f) > maxFeatureLength || strings.ContainsFunc(f, func(c rune) bool {
			return (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' && c != ':'
		}) {
			return nil, "Invalid feature name: " + strconv.Quote(f)
		}
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return sortStrings(out), ""
}

// keyJSON is Sentry's project key serializer.
type keyJSON struct {
	ID                      string         `json:"id"`
	Name                    string         `json:"name"`
	Label                   string         `json:"label"`
	Public                  string         `json:"public"`
	Secret                  string         `json:"secret"`
	ProjectID               int64          `json:"projectId"`
	IsActive                bool           `json:"isActive"`
	RateLimit               any            `json:"rateLimit"`
	DSN                     dsnJSON        `json:"dsn"`
	BrowserSDKVersion       string         `json:"browserSdkVersion"`
	BrowserSDK              browserSDKJSON `json:"browserSdk"`
	DateCreated             string         `json:"dateCreated"`
	DynamicSDKLoaderOptions loaderJSON     `json:"dynamicSdkLoaderOptions"`
}

type dsnJSON struct {
	Secret   string  `json:"secret"`
	Public   string  `json:"public"`
	CSP      string  `json:"csp"`
	Security string  `json:"security"`
	Minidump string  `json:"minidump"`
	NEL      string  `json:"nel"`
	Unreal   string  `json:"unreal"`
	CDN      *string `json:"cdn"`
	Crons    string  `json:"crons"`
}

type browserSDKJSON struct {
	Choices [][]string `json:"choices"`
}

type loaderJSON struct {
	HasReplay      bool `json:"hasReplay"`
	HasPerformance bool `json:"hasPerformance"`
	HasDebug       bool `json:"hasDebug"`
}

// newKeyJSON builds a key's JSON with its DSNs on Herald's public URL:
// scheme://public[:secret]@host[:port][/prefix]/projectId.
func (s *Server) newKeyJSON(r *http.Request, k *herald.ProjectKey) *keyJSON {
	scheme, host, prefix := "http", r.Host, ""
	if s.baseURL != nil {
		scheme, host, prefix = s.baseURL.Scheme, s.baseURL.Host, s.baseURL.Path
	} else if r.TLS != nil {
		scheme = "https"
	}
	pid := strconv.FormatInt(k.ProjectID, 10)
	endpoint := scheme + "://" + host + prefix
	name := k.Label
	if name == "" {
		name = k.Public
		if len(name) > 14 {
			name = name[:14]
		}
	}
	userinfo := k.Public
	if k.Secret != "" {
		userinfo += ":" + k.Secret
	}
	return &keyJSON{
		ID:        k.Public,
		Name:      name,
		Label:     name,
		Public:    k.Public,
		Secret:    k.Secret,
		ProjectID: k.ProjectID,
		IsActive:  k.IsActive,
		DSN: dsnJSON{
			Secret:   scheme + "://" + userinfo + "@" + host + prefix + "/" + pid,
			Public:   scheme + "://" + k.Public + "@" + host + prefix + "/" + pid,
			CSP:      endpoint + "/api/" + pid + "/csp-report/?sentry_key=" + k.Public,
			Security: endpoint + "/api/" + pid + "/security/?sentry_key=" + k.Public,
			Minidump: endpoint + "/api/" + pid + "/minidump/?sentry_key=" + k.Public,
			NEL:      endpoint + "/api/" + pid + "/nel/?sentry_key=" + k.Public,
			Unreal:   endpoint + "/api/" + pid + "/unreal/" + k.Public + "/",
			Crons:    endpoint + "/api/" + pid + "/cron/___MONITOR_SLUG___/" + k.Public + "/",
		},
		BrowserSDKVersion: "latest",
		BrowserSDK:        browserSDKJSON{Choices: [][]string{{"latest", "latest"}}},
		DateCreated:       herald.FormatTime(k.DateCreated),
	}
}

// handleListKeys answers GET /api/0/projects/{org}/{project}/keys/.
func (s *Server) handleListKeys(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, err := s.project(r, a)
	if err != nil {
		return err
	}
	keys, err := s.store.FindProjectKeys(r.Context(), p.ID)
	if err != nil {
		return err
	}
	out := make([]*keyJSON, 0, len(keys))
	for _, k := range keys {
		out = append(out, s.newKeyJSON(r, k))
	}
	s.setLinkHeader(w, r, "")
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleCreateKey answers POST /api/0/projects/{org}/{project}/keys/
// {"name"?} with 201 and the new key.
func (s *Server) handleCreateKey(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, err := s.project(r, a)
	if err != nil {
		return err
	}
	var in struct {
		Name *string `json:"name"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	k := &herald.ProjectKey{ProjectID: p.ID, IsActive: true}
	if in.Name != nil {
		k.Label = strings.TrimSpace(*in.Name)
		if len(k.Label) > maxKeyNameLength {
			return herald.InvalidField("name", "Ensure this field has no more than 64 characters.")
		}
	}
	if err := s.store.CreateProjectKey(r.Context(), k); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.newKeyJSON(r, k))
	return nil
}
