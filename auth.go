package herald

import (
	"context"
	"slices"
	"time"
)

// User is a person. Users own tokens and are the actor of comments,
// assignments and installs.
type User struct {
	ID          int64     `json:"id"`
	Email       string    `json:"email"`
	Name        string    `json:"name"`
	IsSuperuser bool      `json:"isSuperuser"`
	DateJoined  time.Time `json:"dateJoined"`

	// PasswordHash and LockedUntil are loaded by FindLogin only.
	PasswordHash string    `json:"-"`
	LockedUntil  time.Time `json:"-"`
}

// Token is a bearer credential. Only its SHA-256 hash is stored; Value is set
// only on the token returned by CreateToken.
type Token struct {
	ID     int64
	UserID int64
	Name   string
	Value  string
	Hash   string
	// LastChars is the value's last four characters, shown in listings.
	LastChars   string
	Scopes      []string
	DateCreated time.Time
	ExpiresAt   *time.Time

	// User is the token's owner, loaded by FindTokenByValue.
	User *User
	// OrganizationID is, for the token of a Sentry App installation, the
	// installing organization, the only one the token may act on; 0 for
	// other tokens. Loaded by FindTokenByValue.
	OrganizationID int64
	// AppID is, for the token of a Sentry App installation, the app; 0 for
	// a person's token. Loaded by FindTokenByValue.
	AppID int64
}

// IsApp reports whether the token is a Sentry App installation's rather
// than a person's. Such a token acts only on its installation's
// organization and cannot manage personal tokens or organizations.
func (t *Token) IsApp() bool { return t.AppID != 0 }

// Scopes are the token scopes Herald knows, Sentry's names.
var Scopes = []string{
	"org:read", "org:write", "org:admin", "org:integrations",
	"team:read", "team:write", "team:admin",
	"project:read", "project:write", "project:admin", "project:releases",
	"member:read", "member:write", "member:admin",
	"event:read", "event:write", "event:admin",
	"alerts:read", "alerts:write",
}

// ValidScope reports whether s is one of Scopes.
func ValidScope(s string) bool { return slices.Contains(Scopes, s) }

// HasScope reports whether the token's scopes grant want, by Sentry's
// scope hierarchy (ScopeGrants): "project:admin" grants "project:write" and
// "project:read"; "org:integrations" is granted only by itself, "org:write"
// and "org:admin".
func (t *Token) HasScope(want string) bool {
	for _, s := range t.Scopes {
		if s == want || slices.Contains(ScopeGrants[s], want) {
			return true
		}
	}
	return false
}

// ScopeGrants maps each scope to the scopes it grants besides itself.
// A scope missing from every list, such as "project:releases", is granted
// only by itself.
var ScopeGrants = map[string][]string{
	"org:write":     {"org:read", "org:integrations"},
	"org:admin":     {"org:read", "org:write", "org:integrations"},
	"team:write":    {"team:read"},
	"team:admin":    {"team:read", "team:write"},
	"project:write": {"project:read"},
	"project:admin": {"project:read", "project:write"},
	"member:write":  {"member:read"},
	"member:admin":  {"member:read", "member:write"},
	"event:write":   {"event:read"},
	"event:admin":   {"event:read", "event:write"},
	"alerts:write":  {"alerts:read"},
}

// AuthService manages users and tokens.
type AuthService interface {
	// CreateUser inserts u and sets its ID.
	CreateUser(ctx context.Context, u *User) error
	// FindUserByID returns the user or ENOTFOUND.
	FindUserByID(ctx context.Context, id int64) (*User, error)
	// CreateToken stores a new token for t.UserID with t.Scopes, generating
	// its value unless t.Value is set; it sets ID, Value, Hash, DateCreated.
	CreateToken(ctx context.Context, t *Token) error
	// FindTokenByValue returns the unexpired token with that value, with its
	// User, or EUNAUTHORIZED.
	FindTokenByValue(ctx context.Context, value string) (*Token, error)
	// FindTokens returns a user's tokens (without values), newest first.
	FindTokens(ctx context.Context, userID int64) ([]*Token, error)
	// DeleteToken removes one of a user's tokens.
	DeleteToken(ctx context.Context, userID, tokenID int64) error
	// EnsureSuperuserToken makes sure a superuser exists and that value is one
	// of its tokens with every scope. It is idempotent.
	EnsureSuperuserToken(ctx context.Context, value string) (*Token, error)
}
