package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/herald-dev/herald"
)

// testPeople checks passwords, sign-in lockout, sessions and memberships.
func testPeople(t *testing.T, open Opener) {
	ctx := context.Background()
	f := NewFixture(t, open)
	s := f.Store

	t.Run("PasswordAndLogin", func(t *testing.T) {
		must(t, s.SetPassword(ctx, f.User.ID, "hash-1"))
		u, err := s.FindLogin(ctx, "JANE@acme.example")
		must(t, err)
		if u.ID != f.User.ID || u.PasswordHash != "hash-1" || !u.LockedUntil.IsZero() {
			t.Fatalf("FindLogin = %+v", u)
		}
		wantCode(t, s.SetPassword(ctx, 999999, "x"), herald.ENOTFOUND)
		_, err = s.FindLogin(ctx, "nobody@acme.example")
		wantCode(t, err, herald.ENOTFOUND)
		// The hash is never in what other lookups return.
		other, err := s.FindUserByEmail(ctx, f.User.Email)
		must(t, err)
		if other.PasswordHash != "" {
			t.Fatal("FindUserByEmail returned the password hash")
		}
	})

	t.Run("Lockout", func(t *testing.T) {
		u := &herald.User{Email: "locked@acme.example"}
		must(t, s.CreateUser(ctx, u))
		now := f.Clock.Now()
		for i := range herald.MaxLoginFailures {
			got, err := s.FindLogin(ctx, u.Email)
			must(t, err)
			if !got.LockedUntil.IsZero() {
				t.Fatalf("locked after %d failures", i)
			}
			must(t, s.RecordLogin(ctx, u.ID, false, now))
		}
		got, err := s.FindLogin(ctx, u.Email)
		must(t, err)
		if want := now.Add(herald.LoginLockout); !got.LockedUntil.Equal(want) {
			t.Fatalf("LockedUntil = %v, want %v", got.LockedUntil, want)
		}
		// A success (after the lock) clears the count and the lock, and so
		// does a new password.
		must(t, s.RecordLogin(ctx, u.ID, true, now.Add(time.Hour)))
		got, err = s.FindLogin(ctx, u.Email)
		must(t, err)
		if !got.LockedUntil.IsZero() {
			t.Fatalf("still locked after a success: %v", got.LockedUntil)
		}
		must(t, s.RecordLogin(ctx, u.ID, false, now))
		for range herald.MaxLoginFailures {
			must(t, s.RecordLogin(ctx, u.ID, false, now))
		}
		must(t, s.SetPassword(ctx, u.ID, "new"))
		got, err = s.FindLogin(ctx, u.Email)
		must(t, err)
		if !got.LockedUntil.IsZero() {
			t.Fatal("a new password left the account locked")
		}
	})

	t.Run("Sessions", func(t *testing.T) {
		now := f.Clock.Now()
		a := &herald.Session{UserID: f.User.ID, ExpiresAt: now.Add(time.Hour)}
		b := &herald.Session{UserID: f.User.ID, ExpiresAt: now.Add(2 * time.Hour)}
		must(t, s.CreateSession(ctx, a))
		must(t, s.CreateSession(ctx, b))
		if a.Value == "" || a.CSRF == "" || a.Value == b.Value || a.CSRF == b.CSRF || a.Value == a.CSRF {
			t.Fatalf("session secrets: %+v %+v", a, b)
		}
		got, err := s.FindSession(ctx, a.Value)
		must(t, err)
		if got.UserID != f.User.ID || got.User.Email != f.User.Email || got.CSRF != a.CSRF || !got.ExpiresAt.Equal(a.ExpiresAt) {
			t.Fatalf("FindSession = %+v", got)
		}
		_, err = s.FindSession(ctx, "not-a-session")
		wantCode(t, err, herald.EUNAUTHORIZED)

		// Past its expiry a session is not found, and purging removes it
		// but not the other.
		n, err := s.PurgeSessions(ctx, now.Add(90*time.Minute))
		must(t, err)
		if n != 1 {
			t.Fatalf("purged %d sessions, want 1", n)
		}
		_, err = s.FindSession(ctx, a.Value)
		wantCode(t, err, herald.EUNAUTHORIZED)
		_, err = s.FindSession(ctx, b.Value)
		must(t, err)

		must(t, s.DeleteSession(ctx, b.Value))
		_, err = s.FindSession(ctx, b.Value)
		wantCode(t, err, herald.EUNAUTHORIZED)

		c := &herald.Session{UserID: f.User.ID, ExpiresAt: now.Add(time.Minute)}
		must(t, s.CreateSession(ctx, c))
		f.Clock.Add(time.Minute)
		_, err = s.FindSession(ctx, c.Value)
		wantCode(t, err, herald.EUNAUTHORIZED)
	})

	t.Run("Members", func(t *testing.T) {
		role, err := s.MemberRole(ctx, f.Org.ID, f.User.ID)
		must(t, err)
		if role != herald.RoleOwner {
			t.Fatalf("the creator's role = %q, want owner", role)
		}
		u := &herald.User{Email: "member@acme.example"}
		must(t, s.CreateUser(ctx, u))
		role, err = s.MemberRole(ctx, f.Org.ID, u.ID)
		must(t, err)
		if role != "" {
			t.Fatalf("a stranger's role = %q", role)
		}
		wantCode(t, s.AddMember(ctx, f.Org.ID, u.ID, "emperor"), herald.EINVALID)
		must(t, s.AddMember(ctx, f.Org.ID, u.ID, herald.RoleMember))
		wantCode(t, s.AddMember(ctx, f.Org.ID, u.ID, herald.RoleAdmin), herald.ECONFLICT)

		members, err := s.FindMembers(ctx, f.Org.ID)
		must(t, err)
		if len(members) != 2 || members[0].User.ID != f.User.ID || members[1].User.ID != u.ID || members[1].Role != herald.RoleMember ||
			members[1].DateCreated.IsZero() {
			t.Fatalf("FindMembers = %+v", members)
		}

		must(t, s.UpdateMember(ctx, f.Org.ID, u.ID, herald.RoleManager))
		role, err = s.MemberRole(ctx, f.Org.ID, u.ID)
		must(t, err)
		if role != herald.RoleManager {
			t.Fatalf("role after update = %q", role)
		}
		wantCode(t, s.UpdateMember(ctx, f.Org.ID, u.ID, "emperor"), herald.EINVALID)
		wantCode(t, s.UpdateMember(ctx, f.Org.ID, 999999, herald.RoleMember), herald.ENOTFOUND)

		must(t, s.RemoveMember(ctx, f.Org.ID, u.ID))
		wantCode(t, s.RemoveMember(ctx, f.Org.ID, u.ID), herald.ENOTFOUND)
		role, err = s.MemberRole(ctx, f.Org.ID, u.ID)
		must(t, err)
		if role != "" {
			t.Fatalf("role after removal = %q", role)
		}
	})
}
