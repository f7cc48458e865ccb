package herald

import (
	"context"
	"slices"
	"strings"
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
}

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

// HasScope reports whether the token's scopes grant want. As in Sentry, a
// write or admin scope also grants the reads and writes below it
// ("project:admin" grants "project:write" and "project:read").
func (t *Token) HasScope(want string) bool {
	res, level, _ := strings.Cut(want, ":")
	for _, s := range t.Scopes {
		if s == want {
			return true
		}
		r, l, _ := strings.Cut(s, ":")
		if r == res && scopeRank(l) > 0 && scopeRank(l) >= scopeRank(level) {
			return true
		}
	}
	return false
}

func scopeRank(level string) int {
	switch level {
	case "read":
		return 1
	case "write":
		return 2
	case "admin":
		return 3
	}
	return 0
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
