package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/herald-dev/herald"
)

// CreateOrganization inserts org with owner as its first member.
func (s *DB) CreateOrganization(ctx context.Context, org *herald.Organization, ownerID int64) error {
	if err := org.Validate(); err != nil {
		return err
	}
	org.DateCreated = s.clock.Now().UTC()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		err := s.queryRow(ctx, tx, `INSERT INTO organizations (slug, name, date_created) VALUES ($1, $2, $3) RETURNING id`,
			org.Slug, org.Name, ts(org.DateCreated)).Scan(&org.ID)
		if err != nil && s.dialect.IsUniqueViolation(err) {
			return herald.Errorf(herald.ECONFLICT, "An organization with this slug already exists.")
		} else if err != nil {
			return fmt.Errorf("insert organization: %w", err)
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO org_members (org_id, user_id, role, date_created) VALUES ($1, $2, 'owner', $3)`, org.ID, ownerID, ts(org.DateCreated)); err != nil {
			return fmt.Errorf("insert member: %w", err)
		}
		return nil
	})
}

const orgColumns = `o.id, o.slug, o.name, o.date_created`

func scanOrg(row interface{ Scan(...any) error }, o *herald.Organization) error {
	var created int64
	if err := row.Scan(&o.ID, &o.Slug, &o.Name, &created); err != nil {
		return err
	}
	o.DateCreated = fromTS(created)
	return nil
}

// FindOrganizationBySlug returns the organization or ENOTFOUND.
func (s *DB) FindOrganizationBySlug(ctx context.Context, slug string) (*herald.Organization, error) {
	o := &herald.Organization{}
	if err := scanOrg(s.queryRow(ctx, nil, `SELECT `+orgColumns+` FROM organizations o WHERE o.slug = $1`, slug), o); err != nil {
		return nil, notFound(err, "organization")
	}
	return o, nil
}

// FindOrganizations lists the organizations userID belongs to (every one
// when userID is 0), ordered by id.
func (s *DB) FindOrganizations(ctx context.Context, userID int64, page herald.Page) ([]*herald.Organization, string, error) {
	after, err := cursorInt(page.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(page)
	q := `SELECT ` + orgColumns + ` FROM organizations o WHERE o.id > $1 AND ($2 = 0 OR o.id IN (SELECT org_id FROM org_members WHERE user_id = $2)) ORDER BY o.id LIMIT $3`
	rows, err := s.query(ctx, nil, q, after, userID, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("find organizations: %w", err)
	}
	defer rows.Close()
	var out []*herald.Organization
	for rows.Next() {
		o := &herald.Organization{}
		if err := scanOrg(rows, o); err != nil {
			return nil, "", fmt.Errorf("scan organization: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	return trimPage(out, limit, func(o *herald.Organization) string { return strconv.FormatInt(o.ID, 10) })
}

// trimPage cuts a page fetched with limit+1 rows and returns the cursor of
// the next page ("" when this is the last).
func trimPage[T any](items []T, limit int, key func(T) string) ([]T, string, error) {
	if len(items) <= limit {
		return items, "", nil
	}
	items = items[:limit]
	return items, key(items[limit-1]), nil
}

// IsMember reports whether the user belongs to the organization.
func (s *DB) IsMember(ctx context.Context, orgID, userID int64) (bool, error) {
	var n int
	if err := s.queryRow(ctx, nil, `SELECT COUNT(*) FROM org_members WHERE org_id = $1 AND user_id = $2`, orgID, userID).Scan(&n); err != nil {
		return false, fmt.Errorf("find member: %w", err)
	}
	return n > 0, nil
}

// CreateTeam inserts a team into its organization.
func (s *DB) CreateTeam(ctx context.Context, t *herald.Team) error {
	if err := t.Validate(); err != nil {
		return err
	}
	t.DateCreated = s.clock.Now().UTC()
	err := s.queryRow(ctx, nil, `INSERT INTO teams (org_id, slug, name, date_created) VALUES ($1, $2, $3, $4) RETURNING id`,
		t.OrganizationID, t.Slug, t.Name, ts(t.DateCreated)).Scan(&t.ID)
	if err != nil && s.dialect.IsUniqueViolation(err) {
		return herald.Errorf(herald.ECONFLICT, "A team with this slug already exists.")
	} else if err != nil {
		return fmt.Errorf("insert team: %w", err)
	}
	return nil
}

const teamColumns = `t.id, t.org_id, t.slug, t.name, t.date_created`

func scanTeam(row interface{ Scan(...any) error }, t *herald.Team) error {
	var created int64
	if err := row.Scan(&t.ID, &t.OrganizationID, &t.Slug, &t.Name, &created); err != nil {
		return err
	}
	t.DateCreated = fromTS(created)
	return nil
}

// FindTeamBySlug returns the team or ENOTFOUND.
func (s *DB) FindTeamBySlug(ctx context.Context, orgID int64, slug string) (*herald.Team, error) {
	t := &herald.Team{}
	if err := scanTeam(s.queryRow(ctx, nil, `SELECT `+teamColumns+` FROM teams t WHERE t.org_id = $1 AND t.slug = $2`, orgID, slug), t); err != nil {
		return nil, notFound(err, "team")
	}
	return t, nil
}

// FindTeams lists an organization's teams ordered by slug.
func (s *DB) FindTeams(ctx context.Context, orgID int64) ([]*herald.Team, error) {
	rows, err := s.query(ctx, nil, `SELECT `+teamColumns+` FROM teams t WHERE t.org_id = $1 ORDER BY t.slug`, orgID)
	if err != nil {
		return nil, fmt.Errorf("find teams: %w", err)
	}
	defer rows.Close()
	var out []*herald.Team
	for rows.Next() {
		t := &herald.Team{}
		if err := scanTeam(rows, t); err != nil {
			return nil, fmt.Errorf("scan team: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// CreateProject inserts p and its first DSN key.
func (s *DB) CreateProject(ctx context.Context, p *herald.Project) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if p.Features == nil {
		p.Features = append([]string(nil), herald.DefaultProjectFeatures...)
	}
	p.DateCreated = s.clock.Now().UTC()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		err := s.queryRow(ctx, tx, `INSERT INTO projects (org_id, team_id, slug, name, platform, features, date_created)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			p.OrganizationID, p.TeamID, p.Slug, p.Name, p.Platform, joinList(p.Features), ts(p.DateCreated)).Scan(&p.ID)
		if err != nil && s.dialect.IsUniqueViolation(err) {
			return herald.Errorf(herald.ECONFLICT, "A project with this slug already exists.")
		} else if err != nil {
			return fmt.Errorf("insert project: %w", err)
		}
		return s.createProjectKey(ctx, tx, &herald.ProjectKey{ProjectID: p.ID, Label: "Default"})
	})
}

const projectColumns = `p.id, p.org_id, p.team_id, p.slug, p.name, p.platform, p.features, p.date_created, ` +
	orgColumns + `, ` + teamColumns

// projectFrom joins a project to its organization and team; a project
// deleted and not yet purged is found by none of the queries that use it.
const projectFrom = ` FROM projects p JOIN organizations o ON o.id = p.org_id AND NOT p.deleted JOIN teams t ON t.id = p.team_id `

func scanProject(row interface{ Scan(...any) error }) (*herald.Project, error) {
	p := &herald.Project{Organization: &herald.Organization{}, Team: &herald.Team{}}
	var features string
	var created, orgCreated, teamCreated int64
	o, t := p.Organization, p.Team
	err := row.Scan(&p.ID, &p.OrganizationID, &p.TeamID, &p.Slug, &p.Name, &p.Platform, &features, &created,
		&o.ID, &o.Slug, &o.Name, &orgCreated, &t.ID, &t.OrganizationID, &t.Slug, &t.Name, &teamCreated)
	if err != nil {
		return nil, err
	}
	p.Features, p.DateCreated = splitList(features), fromTS(created)
	o.DateCreated, t.DateCreated = fromTS(orgCreated), fromTS(teamCreated)
	return p, nil
}

// FindProjectByID returns the project or ENOTFOUND.
func (s *DB) FindProjectByID(ctx context.Context, id int64) (*herald.Project, error) {
	p, err := scanProject(s.queryRow(ctx, nil, `SELECT `+projectColumns+projectFrom+`WHERE p.id = $1`, id))
	if err != nil {
		return nil, notFound(err, "project")
	}
	return p, nil
}

// FindProjectBySlug returns the project or ENOTFOUND.
func (s *DB) FindProjectBySlug(ctx context.Context, orgID int64, slug string) (*herald.Project, error) {
	p, err := scanProject(s.queryRow(ctx, nil, `SELECT `+projectColumns+projectFrom+`WHERE p.org_id = $1 AND p.slug = $2`, orgID, slug))
	if err != nil {
		return nil, notFound(err, "project")
	}
	return p, nil
}

// FindProjects lists an organization's projects ordered by id.
func (s *DB) FindProjects(ctx context.Context, orgID int64, page herald.Page) ([]*herald.Project, string, error) {
	after, err := cursorInt(page.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(page)
	rows, err := s.query(ctx, nil, `SELECT `+projectColumns+projectFrom+`WHERE p.org_id = $1 AND p.id > $2 ORDER BY p.id LIMIT $3`, orgID, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("find projects: %w", err)
	}
	defer rows.Close()
	var out []*herald.Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, "", fmt.Errorf("scan project: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	return trimPage(out, limit, func(p *herald.Project) string { return strconv.FormatInt(p.ID, 10) })
}

// UpdateProject applies upd and returns the project.
func (s *DB) UpdateProject(ctx context.Context, id int64, upd herald.ProjectUpdate) (*herald.Project, error) {
	p, err := s.FindProjectByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if upd.Name != nil {
		p.Name = *upd.Name
	}
	if upd.Slug != nil {
		p.Slug = *upd.Slug
	}
	if upd.Platform != nil {
		p.Platform = *upd.Platform
	}
	if upd.Features != nil {
		p.Features = append([]string{}, (*upd.Features)...)
	}
	_, err = s.exec(ctx, nil, `UPDATE projects SET name = $1, slug = $2, platform = $3, features = $4 WHERE id = $5`,
		p.Name, p.Slug, p.Platform, joinList(p.Features), id)
	if err != nil && s.dialect.IsUniqueViolation(err) {
		return nil, herald.Errorf(herald.ECONFLICT, "A project with this slug already exists.")
	} else if err != nil {
		return nil, fmt.Errorf("update project: %w", err)
	}
	return p, nil
}

// DeleteProject deletes the project: at once its keys (its DSNs stop
// taking events) and hooks (their deliveries are queued for
// PurgeDestinations), and the project is marked deleted, which hides it
// from every read and frees its slug; its issues and events, and then the
// rest of it, are left to PurgeProjects.
func (s *DB) DeleteProject(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// The slug a deleted project keeps until its purge is one no
		// project can be given ("~" is not allowed in slugs).
		res, err := s.exec(ctx, tx, `UPDATE projects SET deleted = true, slug = 'deleted~' || CAST(id AS TEXT) WHERE id = $1 AND NOT deleted`, id)
		if err != nil {
			return fmt.Errorf("delete project: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return herald.Errorf(herald.ENOTFOUND, "project not found")
		}
		if err := s.queuePurges(ctx, tx, `SELECT $1, id FROM hooks WHERE project_id = $2`, herald.DestinationHook, id); err != nil {
			return err
		}
		for _, table := range []string{"hooks", "project_keys"} {
			if _, err := s.exec(ctx, tx, `DELETE FROM `+table+` WHERE project_id = $1`, id); err != nil {
				return fmt.Errorf("delete project's %s: %w", table, err)
			}
		}
		return nil
	})
}

// CreateProjectKey inserts a key with fresh public and secret parts.
func (s *DB) CreateProjectKey(ctx context.Context, k *herald.ProjectKey) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.createProjectKey(ctx, tx, k) })
}

func (s *DB) createProjectKey(ctx context.Context, tx *sql.Tx, k *herald.ProjectKey) error {
	k.Public, k.Secret, k.IsActive = herald.NewID(), herald.NewID(), true
	if k.Label == "" {
		k.Label = "Default"
	}
	k.DateCreated = s.clock.Now().UTC()
	err := s.queryRow(ctx, tx, `INSERT INTO project_keys (project_id, label, public, secret, is_active, date_created)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, k.ProjectID, k.Label, k.Public, k.Secret, k.IsActive, ts(k.DateCreated)).Scan(&k.ID)
	if err != nil {
		return fmt.Errorf("insert project key: %w", err)
	}
	return nil
}

const keyColumns = `id, project_id, label, public, secret, is_active, date_created`

func scanKey(row interface{ Scan(...any) error }) (*herald.ProjectKey, error) {
	k := &herald.ProjectKey{}
	var created int64
	if err := row.Scan(&k.ID, &k.ProjectID, &k.Label, &k.Public, &k.Secret, &k.IsActive, &created); err != nil {
		return nil, err
	}
	k.DateCreated = fromTS(created)
	return k, nil
}

// FindProjectKeys lists a project's keys.
func (s *DB) FindProjectKeys(ctx context.Context, projectID int64) ([]*herald.ProjectKey, error) {
	rows, err := s.query(ctx, nil, `SELECT `+keyColumns+` FROM project_keys WHERE project_id = $1 ORDER BY id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("find keys: %w", err)
	}
	defer rows.Close()
	var out []*herald.ProjectKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("scan key: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// FindProjectKey returns the project's active key with that public part.
func (s *DB) FindProjectKey(ctx context.Context, projectID int64, public string) (*herald.ProjectKey, error) {
	k, err := scanKey(s.queryRow(ctx, nil, `SELECT `+keyColumns+` FROM project_keys WHERE project_id = $1 AND public = $2 AND is_active = $3`, projectID, public, true))
	if err != nil {
		return nil, notFound(err, "project key")
	}
	return k, nil
}
