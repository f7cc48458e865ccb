package herald

import (
	"context"
	"slices"
	"time"
)

// Sentry App statuses. An internal app is installed on its own
// organization only; an unpublished public app may be installed by its own
// organization only; a published app, which only a superuser can publish,
// by any organization.
const (
	AppInternal    = "internal"
	AppUnpublished = "unpublished"
	AppPublished   = "published"
)

// Installation statuses. A public app's installation is pending until the
// app verifies it; deleted installations are kept so that the
// installation.deleted delivery can still be sent.
const (
	InstallationPending   = "pending"
	InstallationInstalled = "installed"
	InstallationDeleted   = "deleted"
)

// Lifetimes of the credentials of a Sentry App installation.
const (
	// GrantLifetime is how long an installation's grant code may be
	// exchanged for a token.
	GrantLifetime = 10 * time.Minute
	// AppTokenLifetime is how long a token from a grant or a refresh lasts.
	AppTokenLifetime = 8 * time.Hour
)

// SentryApp is an organization's integration: a webhook URL, the resources
// it subscribes to, the scopes its tokens get and the client secret its
// deliveries are signed with.
type SentryApp struct {
	ID   int64
	UUID string
	// Slug names the app in routes; it is derived from the name once.
	Slug     string
	Name     string
	Author   string
	Overview string
	// Status is AppInternal, AppUnpublished or AppPublished.
	Status string
	// OrganizationID is the owner.
	OrganizationID int64
	WebhookURL     string
	RedirectURL    string
	IsAlertable    bool
	VerifyInstall  bool
	Scopes         []string
	// Events are the resources the app subscribes to ("issue", "error",
	// "comment", ...).
	Events []string
	// WebhookHeaders are extra headers sent on every delivery to the app,
	// after validation (see CleanWebhookHeaders): names in canonical form,
	// values trimmed. Sentry has no such field; it is Herald's.
	WebhookHeaders []WebhookHeader
	// ClientID and ClientSecret are 64 hex characters each; deliveries are
	// signed with the secret.
	ClientID     string
	ClientSecret string
	// ProxyUserID is the user the app's tokens belong to.
	ProxyUserID int64
	DateCreated time.Time
	DateUpdated time.Time

	// Owner is the owning organization, loaded by the Find methods.
	Owner *Organization
}

// WebhookHeader is one extra request header a Sentry App has Herald send
// with its webhooks, such as a key its receiver checks.
type WebhookHeader struct {
	Key   string
	Value string
}

// IsInternal reports whether the app is an internal integration.
func (a *SentryApp) IsInternal() bool { return a.Status == AppInternal }

// InstallableBy reports whether the organization orgID may install the
// app: its owner always (an internal app is installed at its creation), any
// organization once the app is published.
func (a *SentryApp) InstallableBy(orgID int64) bool {
	return a.OrganizationID == orgID || a.Status == AppPublished
}

// Subscribes reports whether the app has a webhook URL and subscribes to
// resource.
func (a *SentryApp) Subscribes(resource string) bool {
	return a.WebhookURL != "" && slices.Contains(a.Events, resource)
}

// SentryAppUpdate holds the fields an update may change; nil means unchanged.
type SentryAppUpdate struct {
	Name          *string
	Author        *string
	Overview      *string
	WebhookURL    *string
	RedirectURL   *string
	IsAlertable   *bool
	VerifyInstall *bool
	Scopes        *[]string
	Events        *[]string
	// WebhookHeaders replaces the app's extra webhook headers; an empty
	// list removes them.
	WebhookHeaders *[]WebhookHeader
	// Status publishes (AppPublished) or unpublishes (AppUnpublished) a
	// public app.
	Status *string
}

// Apply sets the fields upd changes.
func (a *SentryApp) Apply(upd SentryAppUpdate) {
	for _, f := range []struct {
		dst *string
		v   *string
	}{{&a.Name, upd.Name}, {&a.Author, upd.Author}, {&a.Overview, upd.Overview}, {&a.WebhookURL, upd.WebhookURL},
		{&a.RedirectURL, upd.RedirectURL}, {&a.Status, upd.Status}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	if upd.IsAlertable != nil {
		a.IsAlertable = *upd.IsAlertable
	}
	if upd.VerifyInstall != nil {
		a.VerifyInstall = *upd.VerifyInstall
	}
	if upd.Scopes != nil {
		a.Scopes = *upd.Scopes
	}
	if upd.Events != nil {
		a.Events = *upd.Events
	}
	if upd.WebhookHeaders != nil {
		a.WebhookHeaders = *upd.WebhookHeaders
	}
}

// SentryAppFilter selects apps.
type SentryAppFilter struct {
	// OrganizationID selects the apps an organization owns; 0 means any.
	OrganizationID int64
	// MemberUserID selects the apps of organizations the user belongs to;
	// 0 means any.
	MemberUserID int64
	// Status selects the apps with that status; "" means any.
	Status string
	// OrPublished also selects every published app, whatever the
	// organization filters say.
	OrPublished bool
}

// Installation is a Sentry App installed on an organization.
type Installation struct {
	ID             int64
	UUID           string
	AppID          int64
	OrganizationID int64
	Status         string
	// Code is the grant code the app exchanges for a token. It is set while
	// the grant is unused and unexpired, on the installation
	// CreateInstallation returns and on those the Find methods return.
	Code        string
	DateCreated time.Time
	DateUpdated time.Time

	// App and Organization are loaded by the Find methods, and App by the
	// queries that pick the installations a change is sent to.
	App          *SentryApp
	Organization *Organization
}

// AppAuthorization is a token a Sentry App got for an installation, from a
// grant code or a refresh token. RefreshToken is set only here.
type AppAuthorization struct {
	Token        *Token
	RefreshToken string
}

// AppRequest is one attempt to deliver to a Sentry App, for its request log.
type AppRequest struct {
	Delivery *Delivery
	Attempt  *Attempt
	// Organization is the installing organization.
	Organization *Organization
}

// AppRequestFilter selects entries of an app's request log.
type AppRequestFilter struct {
	// EventType selects one event, such as "issue.created"; "" means all.
	EventType string
	// ErrorsOnly selects attempts without a 2xx answer.
	ErrorsOnly bool
	// OrganizationID selects one installing organization; 0 means all.
	OrganizationID int64
	// Since bounds how far back the log goes.
	Since time.Time
	// PerEvent is how many of the latest attempts of each event are kept,
	// and the length of the whole log (default 100).
	PerEvent int
}

// Actor is who made a change: a user, a Sentry App with its own token, or,
// when both are nil, Herald itself.
type Actor struct {
	User *User
	App  *SentryApp
}

// AppService manages Sentry Apps, their installations and their tokens.
type AppService interface {
	// CreateApp inserts app with a new uuid, client id and secret and a
	// proxy user for its tokens; app.Slug must be set and free. An internal
	// app is installed on its organization at once, with a first token;
	// both are returned.
	CreateApp(ctx context.Context, app *SentryApp) (*Installation, *Token, error)
	// FindAppBySlug returns the app with its owner, or ENOTFOUND.
	FindAppBySlug(ctx context.Context, slug string) (*SentryApp, error)
	// FindAppByProxyUser returns the app whose proxy user is userID, or
	// ENOTFOUND: it tells an app's own token from a person's.
	FindAppByProxyUser(ctx context.Context, userID int64) (*SentryApp, error)
	// FindApps lists apps ordered by slug.
	FindApps(ctx context.Context, f SentryAppFilter) ([]*SentryApp, error)
	// UpdateApp applies upd and returns the app.
	UpdateApp(ctx context.Context, id int64, upd SentryAppUpdate) (*SentryApp, error)
	// DeleteApp removes the app, its installations, tokens and deliveries.
	DeleteApp(ctx context.Context, id int64) error
	// RotateAppSecret gives the app a new client secret and returns the app.
	RotateAppSecret(ctx context.Context, id int64) (*SentryApp, error)

	// CreateAppToken adds a token to an internal app's installation.
	CreateAppToken(ctx context.Context, appID int64) (*Token, error)
	// FindAppTokens lists an internal app's tokens (without values).
	FindAppTokens(ctx context.Context, appID int64) ([]*Token, error)
	// DeleteAppToken removes one of an app's tokens.
	DeleteAppToken(ctx context.Context, appID, tokenID int64) error

	// FindInstallationByUUID returns a live installation with its App and
	// Organization, or ENOTFOUND.
	FindInstallationByUUID(ctx context.Context, uuid string) (*Installation, error)
	// FindInstallations lists an organization's live installations.
	FindInstallations(ctx context.Context, orgID int64) ([]*Installation, error)
	// VerifyInstallation marks a pending installation installed.
	VerifyInstallation(ctx context.Context, uuid string) (*Installation, error)
	// ExchangeGrant trades an installation's grant code for a token
	// (AppTokenLifetime) and a refresh token; the code is used up. A wrong,
	// used or expired code is EINVALID.
	ExchangeGrant(ctx context.Context, uuid, code string) (*AppAuthorization, error)
	// RefreshAppToken trades a refresh token for a new token and refresh
	// token, revoking the old pair.
	RefreshAppToken(ctx context.Context, uuid, refreshToken string) (*AppAuthorization, error)

	// FindAppRequests returns the app's request log, newest first.
	FindAppRequests(ctx context.Context, appID int64, f AppRequestFilter) ([]*AppRequest, error)
}
