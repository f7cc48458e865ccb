package herald

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// Organization is a tenant, addressed by its slug.
type Organization struct {
	ID          int64
	Slug        string
	Name        string
	DateCreated time.Time
}

// Team is a group of members in an organization; teams own projects.
type Team struct {
	ID             int64
	OrganizationID int64
	Slug           string
	Name           string
	DateCreated    time.Time
}

// FeatureServiceHooks is the project feature that enables Service Hooks.
const FeatureServiceHooks = "servicehooks"

// DefaultProjectFeatures is the feature list a new project gets.
var DefaultProjectFeatures = []string{FeatureServiceHooks}

// Project belongs to an organization and receives events through its keys.
type Project struct {
	ID             int64
	OrganizationID int64
	TeamID         int64
	Slug           string
	Name           string
	Platform       string
	Features       []string
	DateCreated    time.Time

	// Organization and Team are loaded by the Find methods.
	Organization *Organization
	Team         *Team
}

// HasFeature reports whether the project has feature f enabled.
func (p *Project) HasFeature(f string) bool {
	for _, x := range p.Features {
		if x == f {
			return true
		}
	}
	return false
}

// ProjectKey is a DSN key of a project.
type ProjectKey struct {
	ID          int64
	ProjectID   int64
	Label       string
	Public      string
	Secret      string
	IsActive    bool
	DateCreated time.Time
}

// ProjectUpdate holds the fields an update may change; nil means unchanged.
type ProjectUpdate struct {
	Name     *string
	Slug     *string
	Platform *string
	Features *[]string
}

// Page selects a page of a list: items after Cursor (an opaque string from a
// previous page's NextCursor), at most Limit of them.
type Page struct {
	Cursor string
	Limit  int
}

// OrganizationService manages organizations, their members and teams.
type OrganizationService interface {
	// CreateOrganization inserts org with owner as its first member.
	CreateOrganization(ctx context.Context, org *Organization, ownerID int64) error
	// FindOrganizationBySlug returns the organization or ENOTFOUND.
	FindOrganizationBySlug(ctx context.Context, slug string) (*Organization, error)
	// FindOrganizations lists the organizations userID belongs to (all of
	// them when userID is 0), ordered by id, with the cursor of the next page.
	FindOrganizations(ctx context.Context, userID int64, page Page) ([]*Organization, string, error)
	// IsMember reports whether the user belongs to the organization.
	IsMember(ctx context.Context, orgID, userID int64) (bool, error)
	// CreateTeam inserts a team into its organization.
	CreateTeam(ctx context.Context, t *Team) error
	// FindTeamBySlug returns the team or ENOTFOUND.
	FindTeamBySlug(ctx context.Context, orgID int64, slug string) (*Team, error)
	// FindTeams lists an organization's teams ordered by slug.
	FindTeams(ctx context.Context, orgID int64) ([]*Team, error)
}

// ProjectService manages projects and their DSN keys.
type ProjectService interface {
	// CreateProject inserts p (Features defaulted when nil) and a first key.
	CreateProject(ctx context.Context, p *Project) error
	// FindProjectByID returns the project with its organization, or ENOTFOUND.
	FindProjectByID(ctx context.Context, id int64) (*Project, error)
	// FindProjectBySlug returns the project with its organization and team.
	FindProjectBySlug(ctx context.Context, orgID int64, slug string) (*Project, error)
	// FindProjects lists an organization's projects ordered by id.
	FindProjects(ctx context.Context, orgID int64, page Page) ([]*Project, string, error)
	// UpdateProject applies upd and returns the project.
	UpdateProject(ctx context.Context, id int64, upd ProjectUpdate) (*Project, error)
	// DeleteProject removes the project with its keys, hooks, events and issues.
	DeleteProject(ctx context.Context, id int64) error
	// CreateProjectKey inserts a key with fresh public and secret parts.
	CreateProjectKey(ctx context.Context, k *ProjectKey) error
	// FindProjectKeys lists a project's keys.
	FindProjectKeys(ctx context.Context, projectID int64) ([]*ProjectKey, error)
	// FindProjectKey returns the active key with that public part for the
	// project, or ENOTFOUND.
	FindProjectKey(ctx context.Context, projectID int64, public string) (*ProjectKey, error)
}

// DSN is the key's public DSN for a server whose public URL is base
// ("https://herald.example.com", perhaps with a path prefix): what SDKs
// are configured with, "https://<public key>@herald.example.com/<project>".
func (k *ProjectKey) DSN(base string) string {
	scheme, rest, ok := strings.Cut(strings.TrimSuffix(base, "/"), "://")
	if !ok {
		return ""
	}
	return scheme + "://" + k.Public + "@" + rest + "/" + strconv.FormatInt(k.ProjectID, 10)
}
