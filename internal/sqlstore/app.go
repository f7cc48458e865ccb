package sqlstore

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/herald-dev/herald"
)

// proxyUserDomain is the email domain of the users Sentry Apps' tokens
// belong to.
const proxyUserDomain = "proxy-user.herald.invalid"

// maxAppRequests bounds an app's request log.
const maxAppRequests = 100

const appColumns = `a.id, a.uuid, a.slug, a.name, a.author, a.overview, a.status, a.org_id, a.webhook_url, a.redirect_url,
	a.is_alertable, a.verify_install, a.scopes, a.events, a.webhook_headers, a.client_id, a.client_secret, a.proxy_user_id, a.date_created,
	a.date_updated, ` + orgColumns

const appFrom = ` FROM sentry_apps a JOIN organizations o ON o.id = a.org_id `

func scanApp(row interface{ Scan(...any) error }, extra ...any) (*herald.SentryApp, error) {
	a := &herald.SentryApp{Owner: &herald.Organization{}}
	var scopes, events, headers string
	var created, updated, orgCreated int64
	dest := []any{&a.ID, &a.UUID, &a.Slug, &a.Name, &a.Author, &a.Overview, &a.Status, &a.OrganizationID, &a.WebhookURL, &a.RedirectURL,
		&a.IsAlertable, &a.VerifyInstall, &scopes, &events, &headers, &a.ClientID, &a.ClientSecret, &a.ProxyUserID, &created, &updated,
		&a.Owner.ID, &a.Owner.Slug, &a.Owner.Name, &orgCreated}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	var err error
	if a.WebhookHeaders, err = parseHeaders(headers); err != nil {
		return nil, err
	}
	a.Scopes, a.Events = splitList(scopes), splitList(events)
	a.DateCreated, a.DateUpdated, a.Owner.DateCreated = fromTS(created), fromTS(updated), fromTS(orgCreated)
	return a, nil
}

// CreateApp inserts app with its proxy user; an internal app is installed
// on its organization with a first token.
func (s *DB) CreateApp(ctx context.Context, app *herald.SentryApp) (*herald.Installation, *herald.Token, error) {
	if app.Slug == "" || app.OrganizationID == 0 {
		return nil, nil, herald.Errorf(herald.EINVALID, "an app needs a slug and an organization")
	}
	if err := app.Validate(); err != nil {
		return nil, nil, err
	}
	if app.Status == "" {
		app.Status = herald.AppUnpublished
	}
	app.UUID = herald.NewUUID()
	app.ClientID, app.ClientSecret = herald.NewSecret(), herald.NewSecret()
	app.Scopes, app.Events = sortedUnique(app.Scopes), sortedUnique(app.Events)
	app.WebhookHeaders, _ = herald.CleanWebhookHeaders(app.WebhookHeaders)
	now := s.clock.Now().UTC()
	app.DateCreated, app.DateUpdated = now, now
	var inst *herald.Installation
	var tok *herald.Token
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		proxy := &herald.User{Email: app.UUID + "@" + proxyUserDomain, Name: app.Name}
		if err := s.createUser(ctx, tx, proxy); err != nil {
			return err
		}
		app.ProxyUserID = proxy.ID
		err := s.queryRow(ctx, tx, `INSERT INTO sentry_apps (uuid, slug, name, author, overview, status, org_id, webhook_url, redirect_url,
			is_alertable, verify_install, scopes, events, client_id, client_secret, proxy_user_id, date_created, date_updated, webhook_headers)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, $18) RETURNING id`,
			app.UUID, app.Slug, app.Name, app.Author, app.Overview, app.Status, app.OrganizationID, app.WebhookURL, app.RedirectURL,
			app.IsAlertable, app.VerifyInstall, joinList(app.Scopes), joinList(app.Events), app.ClientID, app.ClientSecret,
			app.ProxyUserID, ts(now), joinHeaders(app.WebhookHeaders)).Scan(&app.ID)
		if err != nil && s.dialect.IsUniqueViolation(err) {
			return herald.Errorf(herald.ECONFLICT, "an app with the slug %q already exists", app.Slug)
		} else if err != nil {
			return fmt.Errorf("insert app: %w", err)
		}
		owner := &herald.Organization{}
		if err := scanOrg(s.queryRow(ctx, tx, `SELECT `+orgColumns+` FROM organizations o WHERE o.id = $1`, app.OrganizationID), owner); err != nil {
			return notFound(err, "organization")
		}
		app.Owner = owner
		if !app.IsInternal() {
			return nil
		}
		inst = &herald.Installation{AppID: app.ID, OrganizationID: app.OrganizationID, Status: herald.InstallationInstalled, App: app, Organization: owner}
		if err := s.insertInstallation(ctx, tx, inst, app.ProxyUserID, now); err != nil {
			return err
		}
		tok, err = s.createAppToken(ctx, tx, app, inst.ID, nil, "")
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return inst, tok, nil
}

// insertInstallation writes inst and makes the app's proxy user a member of
// the installing organization.
func (s *DB) insertInstallation(ctx context.Context, tx *sql.Tx, inst *herald.Installation, proxyUserID int64, now time.Time) error {
	inst.UUID = herald.NewUUID()
	inst.DateCreated, inst.DateUpdated = now, now
	var expires int64
	if inst.Code != "" {
		expires = ts(now.Add(herald.GrantLifetime))
	}
	err := s.queryRow(ctx, tx, `INSERT INTO app_installations (uuid, app_id, org_id, status, grant_code, grant_expires_at, date_created, date_updated)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id`,
		inst.UUID, inst.AppID, inst.OrganizationID, inst.Status, inst.Code, expires, ts(now)).Scan(&inst.ID)
	if err != nil && s.dialect.IsUniqueViolation(err) {
		return herald.Errorf(herald.ECONFLICT, "the app is already installed on this organization")
	} else if err != nil {
		return fmt.Errorf("insert installation: %w", err)
	}
	if _, err := s.exec(ctx, tx, `INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'member') ON CONFLICT (org_id, user_id) DO NOTHING`,
		inst.OrganizationID, proxyUserID); err != nil {
		return fmt.Errorf("add app member: %w", err)
	}
	return nil
}

// createAppToken creates a token of app's proxy user for an installation,
// with the app's scopes, recording the hash of refresh (if any) with it.
func (s *DB) createAppToken(ctx context.Context, tx *sql.Tx, app *herald.SentryApp, installationID int64, expires *time.Time, refresh string) (*herald.Token, error) {
	t := &herald.Token{UserID: app.ProxyUserID, Name: app.Name, Scopes: slices.Clone(app.Scopes), ExpiresAt: expires}
	if err := s.createToken(ctx, tx, t); err != nil {
		return nil, err
	}
	hash := ""
	if refresh != "" {
		hash = HashToken(refresh)
	}
	if _, err := s.exec(ctx, tx, `INSERT INTO app_tokens (token_id, app_id, installation_id, refresh_hash) VALUES ($1, $2, $3, $4)`,
		t.ID, app.ID, installationID, hash); err != nil {
		return nil, fmt.Errorf("insert app token: %w", err)
	}
	return t, nil
}

// FindAppBySlug returns the app with its owner, or ENOTFOUND.
func (s *DB) FindAppBySlug(ctx context.Context, slug string) (*herald.SentryApp, error) {
	a, err := scanApp(s.queryRow(ctx, nil, `SELECT `+appColumns+appFrom+`WHERE a.slug = $1`, slug))
	if err != nil {
		return nil, notFound(err, "sentry app")
	}
	return a, nil
}

// FindAppByProxyUser returns the app whose tokens belong to userID.
func (s *DB) FindAppByProxyUser(ctx context.Context, userID int64) (*herald.SentryApp, error) {
	a, err := scanApp(s.queryRow(ctx, nil, `SELECT `+appColumns+appFrom+`WHERE a.proxy_user_id = $1`, userID))
	if err != nil {
		return nil, notFound(err, "sentry app")
	}
	return a, nil
}

// FindApps lists apps ordered by slug.
func (s *DB) FindApps(ctx context.Context, f herald.SentryAppFilter) ([]*herald.SentryApp, error) {
	rows, err := s.query(ctx, nil, `SELECT `+appColumns+appFrom+`WHERE (($1 = 0 OR a.org_id = $1)
		AND ($2 = 0 OR a.org_id IN (SELECT org_id FROM org_members WHERE user_id = $2)) OR ($4 AND a.status = $5))
		AND ($3 = '' OR a.status = $3)
		ORDER BY a.slug LIMIT 1000`, f.OrganizationID, f.MemberUserID, f.Status, f.OrPublished, herald.AppPublished)
	if err != nil {
		return nil, fmt.Errorf("find apps: %w", err)
	}
	defer rows.Close()
	var out []*herald.SentryApp
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, fmt.Errorf("scan app: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// findAppByID loads an app in tx.
func (s *DB) findAppByID(ctx context.Context, tx *sql.Tx, id int64) (*herald.SentryApp, error) {
	a, err := scanApp(s.queryRow(ctx, tx, `SELECT `+appColumns+appFrom+`WHERE a.id = $1`, id))
	if err != nil {
		return nil, notFound(err, "sentry app")
	}
	return a, nil
}

// UpdateApp applies upd and returns the app. A change of scopes applies to
// the app's existing tokens too.
func (s *DB) UpdateApp(ctx context.Context, id int64, upd herald.SentryAppUpdate) (*herald.SentryApp, error) {
	var a *herald.SentryApp
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if a, err = s.findAppByID(ctx, tx, id); err != nil {
			return err
		}
		if upd.Status != nil && (a.IsInternal() || (*upd.Status != herald.AppPublished && *upd.Status != herald.AppUnpublished)) {
			return herald.Errorf(herald.EINVALID, "an internal integration cannot be published, and a public one is %s or %s",
				herald.AppPublished, herald.AppUnpublished)
		}
		a.Apply(upd)
		a.Events, a.Scopes = sortedUnique(a.Events), sortedUnique(a.Scopes)
		if err := a.Validate(); err != nil {
			return err
		}
		a.WebhookHeaders, _ = herald.CleanWebhookHeaders(a.WebhookHeaders)
		if upd.Scopes != nil {
			for _, sc := range a.Scopes {
				if !herald.ValidScope(sc) {
					return herald.Errorf(herald.EINVALID, "invalid scope %q", sc)
				}
			}
			if _, err := s.exec(ctx, tx, `UPDATE tokens SET scopes = $1 WHERE user_id = $2`, joinList(a.Scopes), a.ProxyUserID); err != nil {
				return fmt.Errorf("update app token scopes: %w", err)
			}
		}
		a.DateUpdated = s.clock.Now().UTC()
		_, err = s.exec(ctx, tx, `UPDATE sentry_apps SET name = $1, author = $2, overview = $3, webhook_url = $4, redirect_url = $5,
			is_alertable = $6, verify_install = $7, scopes = $8, events = $9, date_updated = $10, status = $11, webhook_headers = $12
			WHERE id = $13`,
			a.Name, a.Author, a.Overview, a.WebhookURL, a.RedirectURL, a.IsAlertable, a.VerifyInstall,
			joinList(a.Scopes), joinList(a.Events), ts(a.DateUpdated), a.Status, joinHeaders(a.WebhookHeaders), a.ID)
		if err != nil {
			return fmt.Errorf("update app: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// DeleteApp removes the app with its installations, tokens and proxy user,
// and queues its deliveries for PurgeDestinations.
func (s *DB) DeleteApp(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		a, err := s.findAppByID(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.queuePurges(ctx, tx, `SELECT $1, uuid FROM app_installations WHERE app_id = $2`, herald.DestinationApp, id); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `DELETE FROM sentry_apps WHERE id = $1`, id); err != nil {
			return fmt.Errorf("delete app: %w", err)
		}
		if _, err := s.exec(ctx, tx, `DELETE FROM users WHERE id = $1`, a.ProxyUserID); err != nil {
			return fmt.Errorf("delete app user: %w", err)
		}
		return nil
	})
}

// RotateAppSecret gives the app a new client secret. Deliveries already
// created keep the signature they were created with.
func (s *DB) RotateAppSecret(ctx context.Context, id int64) (*herald.SentryApp, error) {
	var a *herald.SentryApp
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if a, err = s.findAppByID(ctx, tx, id); err != nil {
			return err
		}
		a.ClientSecret, a.DateUpdated = herald.NewSecret(), s.clock.Now().UTC()
		if _, err := s.exec(ctx, tx, `UPDATE sentry_apps SET client_secret = $1, date_updated = $2 WHERE id = $3`,
			a.ClientSecret, ts(a.DateUpdated), id); err != nil {
			return fmt.Errorf("rotate app secret: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// CreateAppToken adds a token to an internal app's installation.
func (s *DB) CreateAppToken(ctx context.Context, appID int64) (*herald.Token, error) {
	var tok *herald.Token
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		a, err := s.findAppByID(ctx, tx, appID)
		if err != nil {
			return err
		}
		if !a.IsInternal() {
			return herald.Errorf(herald.EINVALID, "only internal integrations have API tokens")
		}
		var instID int64
		err = s.queryRow(ctx, tx, `SELECT id FROM app_installations WHERE app_id = $1 AND org_id = $2 AND status <> $3`,
			a.ID, a.OrganizationID, herald.InstallationDeleted).Scan(&instID)
		if err != nil {
			return notFound(err, "installation")
		}
		tok, err = s.createAppToken(ctx, tx, a, instID, nil, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	return tok, nil
}

// FindAppTokens lists an app's tokens, newest first, without values.
func (s *DB) FindAppTokens(ctx context.Context, appID int64) ([]*herald.Token, error) {
	rows, err := s.query(ctx, nil, `SELECT t.id, t.user_id, t.name, t.last_chars, t.scopes, t.date_created, t.expires_at
		FROM tokens t JOIN app_tokens x ON x.token_id = t.id WHERE x.app_id = $1 ORDER BY t.id DESC`, appID)
	if err != nil {
		return nil, fmt.Errorf("find app tokens: %w", err)
	}
	defer rows.Close()
	var out []*herald.Token
	for rows.Next() {
		t := &herald.Token{}
		var scopes string
		var created int64
		var expires sql.NullInt64
		if err := rows.Scan(&t.ID, &t.UserID, &t.Name, &t.LastChars, &scopes, &created, &expires); err != nil {
			return nil, fmt.Errorf("scan token: %w", err)
		}
		t.Scopes, t.DateCreated, t.ExpiresAt = splitList(scopes), fromTS(created), fromTSPtr(expires)
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteAppToken removes one of an app's tokens.
func (s *DB) DeleteAppToken(ctx context.Context, appID, tokenID int64) error {
	res, err := s.exec(ctx, nil, `DELETE FROM tokens WHERE id = $1 AND id IN (SELECT token_id FROM app_tokens WHERE app_id = $2)`, tokenID, appID)
	if err != nil {
		return fmt.Errorf("delete app token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return herald.Errorf(herald.ENOTFOUND, "token not found")
	}
	return nil
}

const installationFrom = ` FROM app_installations i JOIN organizations io ON io.id = i.org_id
	JOIN sentry_apps a ON a.id = i.app_id JOIN organizations o ON o.id = a.org_id `

// scanInstallation reads an installation with its organization and app;
// the grant code is kept only while it may be exchanged at now.
func scanInstallation(row interface{ Scan(...any) error }, now time.Time) (*herald.Installation, error) {
	inst := &herald.Installation{Organization: &herald.Organization{}}
	o := inst.Organization
	var expires, created, updated, orgCreated int64
	app, err := scanApp(row, &inst.ID, &inst.UUID, &inst.AppID, &inst.OrganizationID, &inst.Status, &inst.Code, &expires, &created, &updated,
		&o.ID, &o.Slug, &o.Name, &orgCreated)
	if err != nil {
		return nil, err
	}
	inst.App = app
	inst.DateCreated, inst.DateUpdated, o.DateCreated = fromTS(created), fromTS(updated), fromTS(orgCreated)
	if inst.Code != "" && ts(now) >= expires {
		inst.Code = ""
	}
	return inst, nil
}

// installationQuery is installationColumns reordered for scanInstallation,
// which reads the app's columns first.
const installationQuery = `SELECT ` + appColumns + `, i.id, i.uuid, i.app_id, i.org_id, i.status, i.grant_code, i.grant_expires_at,
	i.date_created, i.date_updated, io.id, io.slug, io.name, io.date_created` + installationFrom

// findInstallation loads a live installation by uuid in tx.
func (s *DB) findInstallation(ctx context.Context, tx *sql.Tx, uuid string) (*herald.Installation, error) {
	inst, err := scanInstallation(s.queryRow(ctx, tx, installationQuery+`WHERE i.uuid = $1 AND i.status <> $2`, uuid, herald.InstallationDeleted), s.clock.Now())
	if err != nil {
		return nil, notFound(err, "installation")
	}
	return inst, nil
}

// App loads an app with its owner, or ENOTFOUND.
func (t *Tx) App(ctx context.Context, id int64) (*herald.SentryApp, error) {
	return t.s.findAppByID(ctx, t.tx, id)
}

// AppOrgParams names the installations of apps on an organization.
type AppOrgParams struct {
	OrganizationID int64
	AppIDs         []int64
}

// InstallationRef names the installation of an app on an organization.
type InstallationRef struct {
	AppID, OrganizationID int64
}

// LiveInstallation returns the live installation ref names, with its App
// and Organization, or ENOTFOUND.
func (t *Tx) LiveInstallation(ctx context.Context, ref InstallationRef) (*herald.Installation, error) {
	inst, err := scanInstallation(t.s.queryRow(ctx, t.tx, installationQuery+`WHERE i.app_id = $1 AND i.org_id = $2 AND i.status <> $3`,
		ref.AppID, ref.OrganizationID, herald.InstallationDeleted), t.s.clock.Now())
	if err != nil {
		return nil, notFound(err, "installation")
	}
	return inst, nil
}

// Organization loads an organization, or ENOTFOUND.
func (t *Tx) Organization(ctx context.Context, id int64) (*herald.Organization, error) {
	org := &herald.Organization{}
	if err := scanOrg(t.s.queryRow(ctx, t.tx, `SELECT `+orgColumns+` FROM organizations o WHERE o.id = $1`, id), org); err != nil {
		return nil, notFound(err, "organization")
	}
	return org, nil
}

// InsertInstallation writes inst (its AppID, OrganizationID, Status and
// grant Code) with a new uuid, and makes the app's user a member of the
// installing organization; ECONFLICT when the app is installed there.
func (t *Tx) InsertInstallation(ctx context.Context, inst *herald.Installation, app *herald.SentryApp) error {
	return t.s.insertInstallation(ctx, t.tx, inst, app.ProxyUserID, t.s.clock.Now().UTC())
}

// Installation loads a live installation by uuid, with its App and
// Organization, or ENOTFOUND.
func (t *Tx) Installation(ctx context.Context, uuid string) (*herald.Installation, error) {
	return t.s.findInstallation(ctx, t.tx, uuid)
}

// Uninstall revokes the installation's tokens, removes the app's user from
// the organization and marks the installation deleted.
func (t *Tx) Uninstall(ctx context.Context, inst *herald.Installation) error {
	s, tx := t.s, t.tx
	if _, err := s.exec(ctx, tx, `DELETE FROM tokens WHERE id IN (SELECT token_id FROM app_tokens WHERE installation_id = $1)`, inst.ID); err != nil {
		return fmt.Errorf("revoke installation tokens: %w", err)
	}
	if _, err := s.exec(ctx, tx, `DELETE FROM org_members WHERE org_id = $1 AND user_id = $2`, inst.OrganizationID, inst.App.ProxyUserID); err != nil {
		return fmt.Errorf("remove app member: %w", err)
	}
	if _, err := s.exec(ctx, tx, `UPDATE app_installations SET status = $1, grant_code = '', date_updated = $2 WHERE id = $3`,
		herald.InstallationDeleted, ts(s.clock.Now()), inst.ID); err != nil {
		return fmt.Errorf("delete installation: %w", err)
	}
	return nil
}

// FindInstallationByUUID returns a live installation with its app and
// organization.
func (s *DB) FindInstallationByUUID(ctx context.Context, uuid string) (*herald.Installation, error) {
	return s.findInstallation(ctx, nil, uuid)
}

// FindInstallations lists an organization's live installations in order of
// creation.
func (s *DB) FindInstallations(ctx context.Context, orgID int64) ([]*herald.Installation, error) {
	rows, err := s.query(ctx, nil, installationQuery+`WHERE i.org_id = $1 AND i.status <> $2 ORDER BY i.id`, orgID, herald.InstallationDeleted)
	if err != nil {
		return nil, fmt.Errorf("find installations: %w", err)
	}
	defer rows.Close()
	now := s.clock.Now()
	var out []*herald.Installation
	for rows.Next() {
		inst, err := scanInstallation(rows, now)
		if err != nil {
			return nil, fmt.Errorf("scan installation: %w", err)
		}
		out = append(out, inst)
	}
	return out, rows.Err()
}

// VerifyInstallation marks a live installation installed.
func (s *DB) VerifyInstallation(ctx context.Context, uuid string) (*herald.Installation, error) {
	var inst *herald.Installation
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if inst, err = s.findInstallation(ctx, tx, uuid); err != nil {
			return err
		}
		if inst.Status == herald.InstallationInstalled {
			return nil
		}
		inst.Status, inst.DateUpdated = herald.InstallationInstalled, s.clock.Now().UTC()
		if _, err := s.exec(ctx, tx, `UPDATE app_installations SET status = $1, date_updated = $2 WHERE id = $3`,
			inst.Status, ts(inst.DateUpdated), inst.ID); err != nil {
			return fmt.Errorf("verify installation: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return inst, nil
}

// ExchangeGrant trades an installation's grant code for a token and a
// refresh token.
func (s *DB) ExchangeGrant(ctx context.Context, uuid, code string) (*herald.AppAuthorization, error) {
	var out *herald.AppAuthorization
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var instID, appID, expires int64
		var stored string
		err := s.queryRow(ctx, tx, `SELECT id, app_id, grant_code, grant_expires_at FROM app_installations WHERE uuid = $1 AND status <> $2`,
			uuid, herald.InstallationDeleted).Scan(&instID, &appID, &stored, &expires)
		if err != nil {
			return notFound(err, "installation")
		}
		if stored == "" || subtle.ConstantTimeCompare([]byte(stored), []byte(code)) != 1 {
			return herald.Errorf(herald.EINVALID, "Invalid grant")
		}
		now := s.clock.Now().UTC()
		if ts(now) >= expires {
			return herald.Errorf(herald.EINVALID, "Grant has already expired.")
		}
		if _, err := s.exec(ctx, tx, `UPDATE app_installations SET grant_code = '', grant_expires_at = 0 WHERE id = $1`, instID); err != nil {
			return fmt.Errorf("use grant: %w", err)
		}
		out, err = s.issueAppToken(ctx, tx, appID, instID, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// issueAppToken creates an expiring token and its refresh token for an
// installation of the app.
func (s *DB) issueAppToken(ctx context.Context, tx *sql.Tx, appID, installationID int64, now time.Time) (*herald.AppAuthorization, error) {
	app, err := s.findAppByID(ctx, tx, appID)
	if err != nil {
		return nil, err
	}
	expires := now.Add(herald.AppTokenLifetime)
	refresh := herald.NewSecret()
	tok, err := s.createAppToken(ctx, tx, app, installationID, &expires, refresh)
	if err != nil {
		return nil, err
	}
	return &herald.AppAuthorization{Token: tok, RefreshToken: refresh}, nil
}

// RefreshAppToken trades a refresh token for a new token pair.
func (s *DB) RefreshAppToken(ctx context.Context, uuid, refreshToken string) (*herald.AppAuthorization, error) {
	var out *herald.AppAuthorization
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var tokenID, appID, instID int64
		err := s.queryRow(ctx, tx, `SELECT x.token_id, x.app_id, x.installation_id FROM app_tokens x JOIN app_installations i ON i.id = x.installation_id
			WHERE x.refresh_hash = $1 AND i.uuid = $2 AND i.status <> $3`, HashToken(refreshToken), uuid, herald.InstallationDeleted).
			Scan(&tokenID, &appID, &instID)
		if errors.Is(err, sql.ErrNoRows) || refreshToken == "" {
			return herald.Errorf(herald.EINVALID, "Invalid refresh token")
		} else if err != nil {
			return fmt.Errorf("find refresh token: %w", err)
		}
		if _, err := s.exec(ctx, tx, `DELETE FROM tokens WHERE id = $1`, tokenID); err != nil {
			return fmt.Errorf("revoke token: %w", err)
		}
		out, err = s.issueAppToken(ctx, tx, appID, instID, s.clock.Now().UTC())
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FindAppRequests returns the latest attempts to deliver to the app's
// installations, at most f.PerEvent per event type and in all, newest
// first.
func (s *DB) FindAppRequests(ctx context.Context, appID int64, f herald.AppRequestFilter) ([]*herald.AppRequest, error) {
	per := f.PerEvent
	if per <= 0 || per > maxAppRequests {
		per = maxAppRequests
	}
	errorsOnly := 0
	if f.ErrorsOnly {
		errorsOnly = 1
	}
	rows, err := s.query(ctx, nil, `SELECT `+deliveryColumns+`, body, a_id, a_number, a_url, a_status, a_duration, a_response, a_error, a_created,
		a_hook_error, a_hook_project, io_id, io_slug, io_name, io_created FROM (
			SELECT `+deliverySelect+`, at.id AS a_id, at.number AS a_number, at.url AS a_url, at.status_code AS a_status,
				at.duration_us AS a_duration, at.response_body AS a_response, at.error AS a_error, at.created_at AS a_created,
				at.hook_error_id AS a_hook_error, at.hook_project_id AS a_hook_project,
				io.id AS io_id, io.slug AS io_slug, io.name AS io_name, io.date_created AS io_created,
				ROW_NUMBER() OVER (PARTITION BY d.event ORDER BY at.created_at DESC, at.id DESC) AS rn
			FROM app_installations i JOIN organizations io ON io.id = i.org_id
			JOIN deliveries d ON d.destination_kind = $1 AND d.destination_id = i.uuid
			JOIN delivery_bodies b ON b.id = `+bodyKey+`
			JOIN attempts at ON at.delivery_id = d.id
			WHERE i.app_id = $2 AND d.created_at >= $3 AND ($4 = '' OR d.event = $4) AND ($5 = 0 OR i.org_id = $5)
				AND ($6 = 0 OR at.status_code < 200 OR at.status_code >= 300)
		) x WHERE rn <= $7 ORDER BY a_created DESC, a_id DESC LIMIT $7`,
		herald.DestinationApp, appID, ts(f.Since), f.EventType, f.OrganizationID, errorsOnly, per)
	if err != nil {
		return nil, fmt.Errorf("find app requests: %w", err)
	}
	defer rows.Close()
	var out []*herald.AppRequest
	for rows.Next() {
		at, org := &herald.Attempt{}, &herald.Organization{}
		var dur, created, orgCreated int64
		d, err := scanDelivery(rows, &at.ID, &at.Number, &at.URL, &at.StatusCode, &dur, &at.ResponseBody, &at.Error, &created,
			&at.HookErrorID, &at.HookProjectID, &org.ID, &org.Slug, &org.Name, &orgCreated)
		if err != nil {
			return nil, fmt.Errorf("scan app request: %w", err)
		}
		at.DeliveryID, at.Duration, at.CreatedAt = d.ID, time.Duration(dur)*time.Microsecond, fromTS(created)
		org.DateCreated = fromTS(orgCreated)
		out = append(out, &herald.AppRequest{Delivery: d, Attempt: at, Organization: org})
	}
	return out, rows.Err()
}

// installationAppColumns are what a delivery to an installation needs of
// it and of its app, read by scanInstallationApp from installationAppFrom.
const installationAppColumns = `i.id, i.uuid, i.app_id, i.org_id, a.uuid, a.slug, a.name, a.status, a.webhook_url, a.events, a.client_secret, a.proxy_user_id,
	a.webhook_headers`

// installationAppFrom selects the installed installations whose app has a
// webhook URL: those a webhook can go to.
const installationAppFrom = ` FROM app_installations i JOIN sentry_apps a ON a.id = i.app_id
	WHERE i.status = '` + herald.InstallationInstalled + `' AND a.webhook_url <> '' `

// installationApps loads the installations a webhook can go to that cond
// (a condition on i and a, after AND) selects, each with its App (without
// its owner), in order of creation.
func (t *Tx) installationApps(ctx context.Context, cond string, args ...any) ([]*herald.Installation, error) {
	rows, err := t.s.query(ctx, t.tx, `SELECT `+installationAppColumns+installationAppFrom+`AND `+cond+` ORDER BY i.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("load installations: %w", err)
	}
	defer rows.Close()
	var out []*herald.Installation
	for rows.Next() {
		inst := &herald.Installation{Status: herald.InstallationInstalled, App: &herald.SentryApp{}}
		a := inst.App
		var events, headers string
		if err := rows.Scan(&inst.ID, &inst.UUID, &inst.AppID, &inst.OrganizationID, &a.UUID, &a.Slug, &a.Name, &a.Status,
			&a.WebhookURL, &events, &a.ClientSecret, &a.ProxyUserID, &headers); err != nil {
			return nil, fmt.Errorf("scan installation: %w", err)
		}
		a.ID, a.Events = inst.AppID, splitList(events)
		if a.WebhookHeaders, err = parseHeaders(headers); err != nil {
			return nil, err
		}
		out = append(out, inst)
	}
	return out, rows.Err()
}

// OrgInstallations loads the installations of organizations a webhook can
// go to, by organization, each with its App: one query.
func (t *Tx) OrgInstallations(ctx context.Context, orgIDs []int64) (map[int64][]*herald.Installation, error) {
	return byID(ctx, t, "installations", orgIDs, func(ids []int64) (map[int64][]*herald.Installation, error) {
		list, err := t.installationApps(ctx, `i.org_id `+t.s.inInt(1), jsonList(nonNilList(ids)))
		if err != nil {
			return nil, err
		}
		out := map[int64][]*herald.Installation{}
		for _, inst := range list {
			out[inst.OrganizationID] = append(out[inst.OrganizationID], inst)
		}
		return out, nil
	})
}

// InstallationsByUUID loads the installations with those uuids a webhook
// can go to, each with its App, by uuid.
func (t *Tx) InstallationsByUUID(ctx context.Context, uuids []string) (map[string]*herald.Installation, error) {
	out := map[string]*herald.Installation{}
	if len(uuids) == 0 {
		return out, nil
	}
	list, err := t.installationApps(ctx, `i.uuid `+t.s.inText(1), jsonList(uuids))
	if err != nil {
		return nil, err
	}
	for _, inst := range list {
		out[inst.UUID] = inst
	}
	return out, nil
}

// AppInstallations loads the installations on the organization of the
// apps that a webhook can go to, each with its App.
func (t *Tx) AppInstallations(ctx context.Context, p AppOrgParams) ([]*herald.Installation, error) {
	if len(p.AppIDs) == 0 {
		return nil, nil
	}
	return t.installationApps(ctx, `i.org_id = $1 AND i.app_id `+t.s.inInt(2), p.OrganizationID, jsonList(p.AppIDs))
}

// appDestination is what FindDeliveriesToSend reads of an app delivery's
// destination: the joins of its installation and app, its URL (NULL for
// other deliveries), its state, 'active' when it may be sent, and its
// webhook headers (empty for other deliveries). An installation takes its
// installation.* deliveries whatever its state, and the others while it is
// installed.
const (
	appDestinationJoin = ` LEFT JOIN app_installations ai ON d.destination_kind = '` + herald.DestinationApp + `' AND ai.uuid = d.destination_id
		LEFT JOIN sentry_apps sa ON sa.id = ai.app_id `
	appDestinationURL     = `NULLIF(sa.webhook_url, '')`
	appDestinationHeaders = `COALESCE(sa.webhook_headers, '')`
	appDestinationStatus  = `CASE WHEN sa.webhook_url <> '' AND (ai.status = '` + herald.InstallationInstalled + `' OR d.resource = '` +
		herald.ResourceInstallation + `') THEN '` + herald.HookActive + `' END`
)

// headerJSON is how an app's webhook header is stored, in a JSON list.
type headerJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// joinHeaders stores an app's webhook headers as a JSON list.
func joinHeaders(hs []herald.WebhookHeader) string {
	out := make([]headerJSON, 0, len(hs))
	for _, h := range hs {
		out = append(out, headerJSON(h))
	}
	b, _ := json.Marshal(out) // strings only: it cannot fail
	return string(b)
}

// parseHeaders reads an app's webhook headers stored by joinHeaders; ""
// (no app) and "[]" are none.
func parseHeaders(s string) ([]herald.WebhookHeader, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var in []headerJSON
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, fmt.Errorf("read webhook headers: %w", err)
	}
	out := make([]herald.WebhookHeader, 0, len(in))
	for _, h := range in {
		out = append(out, herald.WebhookHeader(h))
	}
	return out, nil
}
