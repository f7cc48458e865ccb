package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/herald-dev/herald"
)

// SetPassword stores the hash of a user's password; see
// herald.PeopleService.
func (s *DB) SetPassword(ctx context.Context, userID int64, hash string) error {
	res, err := s.exec(ctx, nil, `UPDATE users SET password_hash = $1, failed_logins = 0, locked_until = 0 WHERE id = $2`, hash, userID)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return herald.Errorf(herald.ENOTFOUND, "user not found")
	}
	return nil
}

// FindLogin returns the user with that email (in any case), with its
// password hash and lock, or ENOTFOUND.
func (s *DB) FindLogin(ctx context.Context, email string) (*herald.User, error) {
	u := &herald.User{}
	var locked int64
	err := scanUser(s.queryRow(ctx, nil, `SELECT `+userColumns+`, u.password_hash, u.locked_until FROM users u WHERE LOWER(u.email) = LOWER($1)`, email),
		u, &u.PasswordHash, &locked)
	if err != nil {
		return nil, notFound(err, "user")
	}
	if locked > 0 {
		u.LockedUntil = fromTS(locked)
	}
	return u, nil
}

// RecordLogin counts a failed sign-in, locking the account at
// herald.MaxLoginFailures in a row, or clears the count after a success.
func (s *DB) RecordLogin(ctx context.Context, userID int64, ok bool, now time.Time) error {
	var err error
	if ok {
		_, err = s.exec(ctx, nil, `UPDATE users SET failed_logins = 0, locked_until = 0 WHERE id = $1`, userID)
	} else {
		_, err = s.exec(ctx, nil, `UPDATE users SET failed_logins = failed_logins + 1,
			locked_until = CASE WHEN failed_logins + 1 >= $1 THEN $2 ELSE locked_until END WHERE id = $3`,
			herald.MaxLoginFailures, ts(now.Add(herald.LoginLockout)), userID)
	}
	if err != nil {
		return fmt.Errorf("record login: %w", err)
	}
	return nil
}

// CreateSession stores a new session; see herald.PeopleService.
func (s *DB) CreateSession(ctx context.Context, sess *herald.Session) error {
	sess.Value, sess.CSRF = herald.NewSecret(), herald.NewSecret()
	sess.CreatedAt = s.clock.Now().UTC()
	if _, err := s.exec(ctx, nil, `INSERT INTO sessions (hash, user_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		HashToken(sess.Value), sess.UserID, sess.CSRF, ts(sess.CreatedAt), ts(sess.ExpiresAt)); err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	return nil
}

// FindSession returns the unexpired session with that value, with its
// user, or EUNAUTHORIZED.
func (s *DB) FindSession(ctx context.Context, value string) (*herald.Session, error) {
	sess := &herald.Session{Value: value, User: &herald.User{}}
	var created, expires int64
	err := scanUser(s.queryRow(ctx, nil, `SELECT `+userColumns+`, x.user_id, x.csrf, x.created_at, x.expires_at
		FROM sessions x JOIN users u ON u.id = x.user_id WHERE x.hash = $1`, HashToken(value)),
		sess.User, &sess.UserID, &sess.CSRF, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, herald.Errorf(herald.EUNAUTHORIZED, "no such session")
	} else if err != nil {
		return nil, fmt.Errorf("find session: %w", err)
	}
	sess.CreatedAt, sess.ExpiresAt = fromTS(created), fromTS(expires)
	if !s.clock.Now().Before(sess.ExpiresAt) {
		return nil, herald.Errorf(herald.EUNAUTHORIZED, "session expired")
	}
	return sess, nil
}

// DeleteSession ends a session.
func (s *DB) DeleteSession(ctx context.Context, value string) error {
	if _, err := s.exec(ctx, nil, `DELETE FROM sessions WHERE hash = $1`, HashToken(value)); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// PurgeSessions deletes the sessions expired at now.
func (s *DB) PurgeSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.exec(ctx, nil, `DELETE FROM sessions WHERE expires_at <= $1`, ts(now))
	if err != nil {
		return 0, fmt.Errorf("purge sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// MemberRole returns the user's role in the organization, or "".
func (s *DB) MemberRole(ctx context.Context, orgID, userID int64) (string, error) {
	var role string
	err := s.queryRow(ctx, nil, `SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2`, orgID, userID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("find member: %w", err)
	}
	return role, nil
}

// FindMembers lists an organization's members (people, not the users of
// Sentry Apps), oldest first.
func (s *DB) FindMembers(ctx context.Context, orgID int64) ([]*herald.Member, error) {
	rows, err := s.query(ctx, nil, `SELECT `+userColumns+`, m.role, m.date_created FROM org_members m JOIN users u ON u.id = m.user_id
		WHERE m.org_id = $1 AND NOT EXISTS (SELECT 1 FROM sentry_apps a WHERE a.proxy_user_id = u.id) ORDER BY m.date_created, u.id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("find members: %w", err)
	}
	defer rows.Close()
	var out []*herald.Member
	for rows.Next() {
		m := &herald.Member{OrganizationID: orgID, User: &herald.User{}}
		var created int64
		if err := scanUser(rows, m.User, &m.Role, &created); err != nil {
			return nil, fmt.Errorf("scan member: %w", err)
		}
		m.DateCreated = fromTS(created)
		out = append(out, m)
	}
	return out, rows.Err()
}

// AddMember makes a user a member of an organization with role.
func (s *DB) AddMember(ctx context.Context, orgID, userID int64, role string) error {
	if !herald.ValidRole(role) {
		return herald.InvalidField("role", fmt.Sprintf("%q is not a valid choice.", role))
	}
	_, err := s.exec(ctx, nil, `INSERT INTO org_members (org_id, user_id, role, date_created) VALUES ($1, $2, $3, $4)`,
		orgID, userID, role, ts(s.clock.Now()))
	if err != nil && s.dialect.IsUniqueViolation(err) {
		return herald.Errorf(herald.ECONFLICT, "The user is already a member of the organization.")
	} else if err != nil {
		return fmt.Errorf("add member: %w", err)
	}
	return nil
}

// UpdateMember changes a member's role.
func (s *DB) UpdateMember(ctx context.Context, orgID, userID int64, role string) error {
	if !herald.ValidRole(role) {
		return herald.InvalidField("role", fmt.Sprintf("%q is not a valid choice.", role))
	}
	res, err := s.exec(ctx, nil, `UPDATE org_members SET role = $1 WHERE org_id = $2 AND user_id = $3`, role, orgID, userID)
	if err != nil {
		return fmt.Errorf("update member: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return herald.Errorf(herald.ENOTFOUND, "member not found")
	}
	return nil
}

// RemoveMember removes a member from an organization.
func (s *DB) RemoveMember(ctx context.Context, orgID, userID int64) error {
	res, err := s.exec(ctx, nil, `DELETE FROM org_members WHERE org_id = $1 AND user_id = $2`, orgID, userID)
	if err != nil {
		return fmt.Errorf("remove member: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return herald.Errorf(herald.ENOTFOUND, "member not found")
	}
	return nil
}
