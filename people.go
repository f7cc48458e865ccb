package herald

import (
	"context"
	"slices"
	"time"
)

// Roles of organization members, Sentry's. A role grants its scopes in its
// organization: what a signed-in person may do there, and the most a
// personal token of theirs may do there, whatever its own scopes.
const (
	RoleMember  = "member"
	RoleAdmin   = "admin"
	RoleManager = "manager"
	RoleOwner   = "owner"
)

// Roles lists the roles, least to most powerful.
var Roles = []string{RoleMember, RoleAdmin, RoleManager, RoleOwner}

// RoleScopes are the scopes each role grants, as Sentry's roles do: a member
// views and acts on issues and alert rules; an admin also changes projects, hooks and
// integrations; a manager also manages members and the organization's
// integrations; an owner may do everything.
var RoleScopes = map[string][]string{
	RoleMember: {"org:read", "team:read", "project:read", "project:releases", "member:read",
		"event:read", "event:write", "event:admin", "alerts:read", "alerts:write"},
	RoleAdmin: {"org:read", "org:integrations", "team:read", "team:write", "team:admin",
		"project:read", "project:write", "project:admin", "project:releases", "member:read",
		"event:read", "event:write", "event:admin", "alerts:read", "alerts:write"},
	RoleManager: {"org:read", "org:write", "org:integrations", "team:read", "team:write", "team:admin",
		"project:read", "project:write", "project:admin", "project:releases", "member:read", "member:write", "member:admin",
		"event:read", "event:write", "event:admin", "alerts:read", "alerts:write"},
	RoleOwner: Scopes,
}

// ValidRole reports whether r is one of Roles.
func ValidRole(r string) bool { return slices.Contains(Roles, r) }

// RoleHasScope reports whether role grants scope (by the scope hierarchy,
// as Token.HasScope).
func RoleHasScope(role, scope string) bool {
	return (&Token{Scopes: RoleScopes[role]}).HasScope(scope)
}

// Member is a user's membership of an organization.
type Member struct {
	OrganizationID int64
	User           *User
	Role           string
	DateCreated    time.Time
}

// Session is a signed-in person's session of the web dashboard. Value is
// set only on the session CreateSession returns: the store keeps its hash.
type Session struct {
	Value  string
	UserID int64
	// CSRF is the token every form of the session carries.
	CSRF      string
	CreatedAt time.Time
	ExpiresAt time.Time

	// User is the session's user, loaded by FindSession.
	User *User
}

// Login failures: past MaxLoginFailures failed sign-ins in a row, an
// account is locked for LoginLockout.
const (
	MaxLoginFailures = 5
	LoginLockout     = 15 * time.Minute
)

// PeopleService manages passwords, sessions and memberships.
type PeopleService interface {
	// SetPassword stores the hash of a user's password.
	SetPassword(ctx context.Context, userID int64, hash string) error
	// FindLogin returns the user with that email with its PasswordHash and
	// LockedUntil, or ENOTFOUND.
	FindLogin(ctx context.Context, email string) (*User, error)
	// RecordLogin records a sign-in attempt of the user at now: a success
	// clears the failures, a failure counts one and locks the account for
	// LoginLockout at MaxLoginFailures in a row.
	RecordLogin(ctx context.Context, userID int64, ok bool, now time.Time) error

	// CreateSession stores s (UserID, ExpiresAt) with a new Value and CSRF.
	CreateSession(ctx context.Context, s *Session) error
	// FindSession returns the unexpired session with that value, with its
	// User, or EUNAUTHORIZED.
	FindSession(ctx context.Context, value string) (*Session, error)
	// DeleteSession ends a session.
	DeleteSession(ctx context.Context, value string) error
	// PurgeSessions deletes the sessions expired at now.
	PurgeSessions(ctx context.Context, now time.Time) (int64, error)

	// MemberRole returns the user's role in the organization, or "" when
	// they are not a member.
	MemberRole(ctx context.Context, orgID, userID int64) (string, error)
	// FindMembers lists an organization's members, oldest first.
	FindMembers(ctx context.Context, orgID int64) ([]*Member, error)
	// AddMember makes the user a member with role; ECONFLICT when they are
	// one already.
	AddMember(ctx context.Context, orgID, userID int64, role string) error
	// UpdateMember changes a member's role, or ENOTFOUND.
	UpdateMember(ctx context.Context, orgID, userID int64, role string) error
	// RemoveMember removes a member, or ENOTFOUND.
	RemoveMember(ctx context.Context, orgID, userID int64) error
}
