package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/herald-dev/herald"
)

// HashToken returns the stored form of a token value: hex SHA-256.
func HashToken(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

// CreateUser inserts u and sets its ID.
func (s *DB) CreateUser(ctx context.Context, u *User) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.createUser(ctx, tx, u) })
}

// User is herald.User; the alias keeps signatures short.
type User = herald.User

func (s *DB) createUser(ctx context.Context, tx *sql.Tx, u *User) error {
	if u.Email == "" {
		return herald.Errorf(herald.EINVALID, "user email is required")
	}
	u.DateJoined = s.clock.Now().UTC()
	err := s.queryRow(ctx, tx, `INSERT INTO users (email, name, is_superuser, date_joined) VALUES ($1, $2, $3, $4) RETURNING id`,
		u.Email, u.Name, u.IsSuperuser, ts(u.DateJoined)).Scan(&u.ID)
	if err != nil && s.dialect.IsUniqueViolation(err) {
		return herald.Errorf(herald.ECONFLICT, "a user with email %q already exists", u.Email)
	} else if err != nil {
		return fmt.Errorf("insert user: %w", err)
	}
	return nil
}

const userColumns = `u.id, u.email, u.name, u.is_superuser, u.date_joined`

// scanUser reads the userColumns into u, then extra.
func scanUser(row interface{ Scan(...any) error }, u *User, extra ...any) error {
	var joined int64
	if err := row.Scan(append([]any{&u.ID, &u.Email, &u.Name, &u.IsSuperuser, &joined}, extra...)...); err != nil {
		return err
	}
	u.DateJoined = fromTS(joined)
	return nil
}

// FindUserByID returns the user or ENOTFOUND.
func (s *DB) FindUserByID(ctx context.Context, id int64) (*User, error) {
	u := &User{}
	err := scanUser(s.queryRow(ctx, nil, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, id), u)
	if err != nil {
		return nil, notFound(err, "user")
	}
	return u, nil
}

// CreateToken stores a new token; see herald.AuthService.
func (s *DB) CreateToken(ctx context.Context, t *herald.Token) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.createToken(ctx, tx, t) })
}

func (s *DB) createToken(ctx context.Context, tx *sql.Tx, t *herald.Token) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if t.Value == "" {
		t.Value = herald.NewSecret()
	}
	t.Hash = HashToken(t.Value)
	t.DateCreated = s.clock.Now().UTC()
	t.LastChars = t.Value
	if len(t.LastChars) > 4 {
		t.LastChars = t.LastChars[len(t.LastChars)-4:]
	}
	err := s.queryRow(ctx, tx, `INSERT INTO tokens (user_id, name, hash, last_chars, scopes, date_created, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		t.UserID, t.Name, t.Hash, t.LastChars, joinList(t.Scopes), ts(t.DateCreated), tsPtr(t.ExpiresAt)).Scan(&t.ID)
	if err != nil && s.dialect.IsUniqueViolation(err) {
		return herald.Errorf(herald.ECONFLICT, "token already exists")
	} else if err != nil {
		return fmt.Errorf("insert token: %w", err)
	}
	return nil
}

// FindTokenByValue returns the unexpired token with that value, or
// EUNAUTHORIZED. A Sentry App's token is valid only while it is bound to a
// live installation: a token of an app's user that is not (one made before
// personal tokens were refused to apps) is refused.
func (s *DB) FindTokenByValue(ctx context.Context, value string) (*herald.Token, error) {
	t := &herald.Token{User: &User{}}
	var scopes, instStatus string
	var created, joined int64
	var expires sql.NullInt64
	var appUser bool
	err := s.queryRow(ctx, nil, `SELECT t.id, t.user_id, t.name, t.hash, t.last_chars, t.scopes, t.date_created, t.expires_at, `+userColumns+`,
		COALESCE(ai.org_id, 0), COALESCE(x.app_id, 0), COALESCE(ai.status, ''),
		EXISTS (SELECT 1 FROM sentry_apps pa WHERE pa.proxy_user_id = t.user_id)
		FROM tokens t JOIN users u ON u.id = t.user_id
		LEFT JOIN app_tokens x ON x.token_id = t.id LEFT JOIN app_installations ai ON ai.id = x.installation_id
		WHERE t.hash = $1`, HashToken(value)).
		Scan(&t.ID, &t.UserID, &t.Name, &t.Hash, &t.LastChars, &scopes, &created, &expires,
			&t.User.ID, &t.User.Email, &t.User.Name, &t.User.IsSuperuser, &joined, &t.OrganizationID, &t.AppID, &instStatus, &appUser)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, herald.Errorf(herald.EUNAUTHORIZED, "Invalid token")
	} else if err != nil {
		return nil, fmt.Errorf("find token: %w", err)
	}
	if (appUser && t.AppID == 0) || (t.AppID != 0 && (instStatus == "" || instStatus == herald.InstallationDeleted)) {
		return nil, herald.Errorf(herald.EUNAUTHORIZED, "Invalid token")
	}
	t.Scopes, t.DateCreated, t.ExpiresAt = splitList(scopes), fromTS(created), fromTSPtr(expires)
	t.User.DateJoined = fromTS(joined)
	if t.ExpiresAt != nil && !s.clock.Now().Before(*t.ExpiresAt) {
		return nil, herald.Errorf(herald.EUNAUTHORIZED, "Token expired")
	}
	return t, nil
}

// FindTokens returns a user's tokens (without values), newest first.
func (s *DB) FindTokens(ctx context.Context, userID int64) ([]*herald.Token, error) {
	rows, err := s.query(ctx, nil, `SELECT id, name, last_chars, scopes, date_created, expires_at FROM tokens WHERE user_id = $1 ORDER BY id DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("find tokens: %w", err)
	}
	defer rows.Close()
	var out []*herald.Token
	for rows.Next() {
		t := &herald.Token{UserID: userID}
		var scopes string
		var created int64
		var expires sql.NullInt64
		if err := rows.Scan(&t.ID, &t.Name, &t.LastChars, &scopes, &created, &expires); err != nil {
			return nil, fmt.Errorf("scan token: %w", err)
		}
		t.Scopes, t.DateCreated, t.ExpiresAt = splitList(scopes), fromTS(created), fromTSPtr(expires)
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteToken removes one of a user's tokens.
func (s *DB) DeleteToken(ctx context.Context, userID, tokenID int64) error {
	res, err := s.exec(ctx, nil, `DELETE FROM tokens WHERE user_id = $1 AND id = $2`, userID, tokenID)
	if err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return herald.Errorf(herald.ENOTFOUND, "token not found")
	}
	return nil
}

// EnsureSuperuserToken makes sure a superuser exists and owns a token with
// that value and every scope. Running it again changes nothing.
func (s *DB) EnsureSuperuserToken(ctx context.Context, value string) (*herald.Token, error) {
	if len(value) < 16 {
		return nil, herald.Errorf(herald.EINVALID, "bootstrap token must be at least 16 characters")
	}
	if t, err := s.FindTokenByValue(ctx, value); err == nil {
		return t, nil
	} else if herald.ErrorCode(err) != herald.EUNAUTHORIZED {
		return nil, err
	}
	var t *herald.Token
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		u := &User{}
		err := scanUser(s.queryRow(ctx, tx, `SELECT `+userColumns+` FROM users u WHERE u.is_superuser = $1 ORDER BY u.id LIMIT 1`, true), u)
		if errors.Is(err, sql.ErrNoRows) {
			u = &User{Email: "admin@herald.local", Name: "admin", IsSuperuser: true}
			if err := s.createUser(ctx, tx, u); err != nil {
				return err
			}
		} else if err != nil {
			return fmt.Errorf("find superuser: %w", err)
		}
		t = &herald.Token{UserID: u.ID, Name: "bootstrap", Value: value, Scopes: herald.Scopes, User: u}
		return s.createToken(ctx, tx, t)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}
